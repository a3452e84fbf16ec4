"""The ref -> stack mapping the deploy and auto-rollback workflows call."""

from __future__ import annotations

from pathlib import Path

import pytest

from deplight.ci import committed_stacks, environment_for_ref, main
from tests.conftest import ROOT

WITH_STAGING = {"dev", "staging", "prod"}
WITHOUT_STAGING = {"dev", "prod"}


@pytest.mark.parametrize(
    ("ref", "with_staging", "without_staging"),
    [
        ("refs/heads/feature/login", "dev", "dev"),
        ("feature/login", "dev", "dev"),
        ("refs/heads/feature/", None, None),
        ("refs/heads/release/1.2", "staging", None),
        ("release/1.2", "staging", None),
        ("refs/heads/main", "prod", "prod"),
        ("main", "prod", "prod"),
        ("refs/tags/v1.2.3", "prod", "prod"),
        ("v1.2.3", "prod", "prod"),
        ("refs/tags/v1.2", None, None),
        ("refs/tags/v1.2.3-rc1", None, None),
        ("refs/tags/latest", None, None),
        ("refs/heads/develop", None, None),
        ("refs/heads/mainline", None, None),
        ("refs/heads/hotfix/feature/x", None, None),
        ("refs/pull/7/merge", None, None),
    ],
)
def test_mapping(ref: str, with_staging: str | None, without_staging: str | None) -> None:
    assert environment_for_ref(ref, WITH_STAGING) == with_staging
    assert environment_for_ref(ref, WITHOUT_STAGING) == without_staging


def test_committed_stacks_are_read_from_the_stack_files() -> None:
    assert {"dev", "prod"} <= committed_stacks(ROOT)


def test_cli_prints_and_writes_github_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    for name in ("dev", "prod"):
        (tmp_path / f"Pulumi.{name}.yaml").write_text("config: {}\n")
    out = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    assert main(["env-for-ref", "--ref", "refs/heads/release/2.0", "--project-dir",
                 str(tmp_path), "--github-output"]) == 0  # fmt: skip
    assert capsys.readouterr().out == "\n"
    assert out.read_text() == "stack=\n", "no staging stack: release/* deploys nowhere"
    (tmp_path / "Pulumi.staging.yaml").write_text("config: {}\n")
    main(["env-for-ref", "--ref", "refs/heads/release/2.0", "--project-dir", str(tmp_path),
          "--github-output"])  # fmt: skip
    assert out.read_text().splitlines()[-1] == "stack=staging"
