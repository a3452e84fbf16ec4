"""Guards on the project as a whole: locked installs, one gate, no pulumi-awsx.

- The lock (requirements/lock.txt, with the [test] extra) and the deploy lock
  (requirements/deploy.txt) pin, with hashes, versions that satisfy pyproject.toml, and agree.
- .ci/run, the workflows and the README install from those locks, and .ci/run runs exactly the
  README's test command.
- No pulumi-awsx: its classes are remote components that a Node.js plugin expands, so under the
  mocks of ``deplight plan``/``deplight check`` one would register as a single opaque resource
  with no children and ``None`` outputs, hiding its subnets and security groups from the plan and
  from the policy pack (README "Why not pulumi-awsx").
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import COMMITTED_STACKS, ROOT, imported, program_run

LOCK = ROOT / "requirements" / "lock.txt"
DEPLOY_LOCK = ROOT / "requirements" / "deploy.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
SKIP_DIRS = {".venv", "mutants", "build", "__pycache__", ".git"}


def pins(path: Path) -> dict[str, set[str]]:
    """Package -> pinned versions (two where the universal lock forks on a marker)."""
    found: dict[str, set[str]] = {}
    for line in path.read_text().splitlines():
        if m := PIN.match(line):
            found.setdefault(canonicalize_name(m[1]), set()).add(m[2])
    return found


def hashes_per_pin(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    current = ""
    for line in path.read_text().splitlines():
        if m := PIN.match(line):
            current = f"{canonicalize_name(m[1])}=={m[2]}"
            counts[current] = 0
        elif line.strip().startswith("--hash=sha256:") and current:
            counts[current] += 1
    return counts


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def source_files() -> list[Path]:
    return [p for p in ROOT.rglob("*.py")
            if not SKIP_DIRS.intersection(p.relative_to(ROOT).parts)]  # fmt: skip


# --- the locks -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lock", "extras"), [(LOCK, ("test",)), (DEPLOY_LOCK, ())], ids=["lock", "deploy"]
)
def test_every_declared_dependency_is_pinned_within_its_range(lock: Path,
                                                              extras: tuple[str, ...]) -> None:  # fmt: skip
    declared = list(project()["dependencies"])
    for extra in extras:
        declared += project()["optional-dependencies"][extra]
    pinned = pins(lock)
    for spec in map(Requirement, declared):
        versions = pinned.get(canonicalize_name(spec.name))
        assert versions, f"{lock.name}: {spec.name} is not pinned: run tools/lock.sh"
        for version in versions:
            assert spec.specifier.contains(version, prereleases=True), (
                f"{lock.name}: {spec.name}=={version} is outside {spec}: run tools/lock.sh"
            )


@pytest.mark.parametrize("lock", [LOCK, DEPLOY_LOCK], ids=["lock", "deploy"])
def test_every_pin_carries_hashes(lock: Path) -> None:
    counts = hashes_per_pin(lock)
    assert counts
    assert not [pin for pin, n in counts.items() if n == 0], f"{lock.name}: pins without hashes"


def test_deploy_lock_is_the_lock_without_the_test_tools() -> None:
    deploy, full = pins(DEPLOY_LOCK), pins(LOCK)
    for name, versions in deploy.items():
        assert versions == full.get(name), (
            f"{name}: deploy.txt {versions} != lock.txt {full.get(name)}"
        )
    for tool in ("pytest", "moto", "hypothesis", "ruff", "check-jsonschema"):
        assert tool in full and tool not in deploy, tool


# --- where the locks are used --------------------------------------------------------------------
def workflow_installs() -> dict[tuple[str, str], str]:
    """(workflow, job) -> the command of its Install step."""
    found = {}
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        for job_name, job in yaml.safe_load(path.read_text())["jobs"].items():
            for step in job.get("steps", []):
                if "pip install" in step.get("run", ""):
                    found[(path.name, job_name)] = step["run"].strip()
    return found


def test_workflows_install_from_the_locks_then_the_project_without_resolving() -> None:
    installs = workflow_installs()
    assert installs
    for (workflow, job), command in installs.items():
        lock = "lock" if (workflow, job) == ("pr.yml", "test-and-check") else "deploy"
        assert command == (
            f"python -m venv .venv && .venv/bin/pip install -r requirements/{lock}.txt"
            " && .venv/bin/pip install --no-deps -e ."
        ), (workflow, job)


def test_the_pr_tests_run_with_the_pulumi_cli() -> None:
    job = yaml.safe_load((ROOT / ".github/workflows/pr.yml").read_text())["jobs"]["test-and-check"]
    names = [s.get("uses", "").split("@")[0] or s.get("name", "") for s in job["steps"]]
    assert names.index("pulumi/actions") < names.index("Tests"), names


def readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)[:2]


def test_ci_gate_installs_like_the_readme_and_runs_its_test_command() -> None:
    setup, test = readme_commands()
    gate = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "pip install -r requirements/lock.txt" in setup
    assert "pip install --no-deps -e ." in setup
    assert ".venv/bin/pip install --quiet -r requirements/lock.txt" in gate
    assert ".venv/bin/pip install --quiet --no-deps -e ." in gate
    assert test.strip() in gate, (test, gate)


# --- no pulumi-awsx ------------------------------------------------------------------------------
def test_no_source_file_imports_pulumi_awsx() -> None:
    offenders = []
    files = source_files()
    assert ROOT / "__main__.py" in files and ROOT / "components" / "network.py" in files
    for path in files:
        offenders += [f"{path.relative_to(ROOT)}:{line}"
                      for line, name in imported(path) if name.split(".")[0] == "pulumi_awsx"]  # fmt: skip
    assert not offenders, offenders


def test_pulumi_awsx_is_not_a_dependency() -> None:
    declared = [*project()["dependencies"],
                *(d for ds in project()["optional-dependencies"].values() for d in ds)]  # fmt: skip
    assert "pulumi-awsx" not in {canonicalize_name(Requirement(d).name) for d in declared}
    assert "pulumi-awsx" not in pins(LOCK)


@pytest.mark.parametrize("stack", COMMITTED_STACKS)
def test_no_awsx_resource_is_registered(stack: str) -> None:
    types = {r.type for r in program_run(stack).resources}
    assert "deplight:network:Network" in types and "aws:ec2/vpc:Vpc" in types
    assert not [t for t in types if t.startswith("awsx:")], sorted(types)
