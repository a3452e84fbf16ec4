"""Shared test harness.

``set_mocks`` is configured by :func:`deplight.harness.run_program` for each program run (one
place, not at import time in several files). Component tests that build a single component use
the ``pulumi_mocks`` fixture, which installs :class:`deplight.mocks.RealisticMocks` the same way.
AWS credentials are dummies: no test may reach AWS. Every boto3 path is tested against the one
moto server of the session (``moto_endpoint``, HTTP on 127.0.0.1), reset per test by
``aws_endpoint``.
"""

from __future__ import annotations

import ast
import os
import shutil
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from moto.server import ThreadedMotoServer
from pulumi.runtime import settings as pulumi_settings

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from components.contract import ENDPOINT_ENV  # noqa: E402
from deplight.harness import ProgramRun, run_program  # noqa: E402
from deplight.mocks import RealisticMocks  # noqa: E402

COMMITTED_STACKS = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and no profile: a stray boto3 call can never reach a real account."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server on 127.0.0.1 (a free port), one for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_endpoint(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean moto server for this test; every Deplight boto3 client points at it.

    The run also looks local to the release commands: ``GITHUB_ACTOR`` is octocat and the CI
    variables are unset, so audit records do not depend on where the tests run.
    """
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    monkeypatch.setenv(ENDPOINT_ENV, moto_endpoint)
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    for var in ("GITHUB_ACTIONS", "CI", "GITHUB_RUN_ID"):
        monkeypatch.delenv(var, raising=False)
    return moto_endpoint


@pytest.fixture
def pulumi_mocks() -> RealisticMocks:
    """Installs fresh realistic mocks for a test that constructs components directly."""
    mocks = RealisticMocks()
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="deplight", stack="test", preview=False)
    return mocks


_RUNS: dict[str, ProgramRun] = {}


def imported(path: Path) -> list[tuple[int, str]]:
    """``(line, name)`` of every absolute import in ``path``, at the top or inside a function:
    ``import a.b`` gives ``a.b``; ``from a import b`` gives ``a`` and ``a.b``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def program_run(stack: str) -> ProgramRun:
    """The committed stack's program run, computed once per session (runs are deterministic)."""
    if stack not in _RUNS:
        _RUNS[stack] = run_program(stack)
    return _RUNS[stack]


def check_changed_program(tmp_path: Path, team_code: str, component: str) -> Any:
    """``deplight check --stack prod`` (a subprocess, as a user runs it) on a copy of this project
    whose ``__main__.py`` keeps ``run()``'s ``component`` (``network``, ``service``, ``data``) and
    adds ``team_code`` after it, the way a team adds its own resources. No AWS credentials."""
    import subprocess

    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("components", "policies"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "__main__.py").write_text(
        "import pulumi\nimport pulumi_aws as aws\nfrom deplight.program import run\n\n"
        f"{component} = run().{component}\n{team_code}"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "deplight.cli", "check", "--stack", "prod", "--project-dir",
         str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
        check=False,
    )  # fmt: skip
