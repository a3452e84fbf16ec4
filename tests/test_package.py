"""Deplight as a package: the wheel, installed (not editable) in a fresh virtual environment, gives
the CLI and importable components and policy pack; `deplight init` + `plan` + `check` work in an
empty application directory, the repository root still works, an unrelated directory gets one line.

The fresh environment gets Deplight only from the wheel. Its third-party dependencies (pulumi,
pulumi-aws, boto3, ...) come from this test environment's site-packages through a ``.pth`` line,
because installing them again would take minutes; a ``.pth`` line adds the directory without
processing the ``.pth`` files inside it, so this checkout's editable install stays invisible.
"""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def run(argv: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "PYTHON", "VIRTUAL_ENV"))}  # fmt: skip
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel built from this repository; returns its bin/ directory."""
    tmp = tmp_path_factory.mktemp("package")
    # Built from a clean copy: an in-tree build/ directory would carry stale modules along.
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"))  # fmt: skip
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"),
                 str(source)], cwd=tmp)  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "dist").glob("deplight-*.whl")
    venv = tmp / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    done = run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                "--no-deps", str(wheel)], cwd=tmp)  # fmt: skip
    assert done.returncode == 0, done.stderr
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                  cwd=tmp).stdout.strip()  # fmt: skip
    (Path(purelib) / "deplight-test-deps.pth").write_text(site.getsitepackages()[0] + "\n")
    return venv / "bin"


def test_the_wheel_installs_the_cli_components_and_the_policy_pack(installed: Path,
                                                                   tmp_path: Path) -> None:  # fmt: skip
    probe = run([str(installed / "python"), "-c",
                 "import deplight, components.network, policies.rules.pack, rollback.commands\n"
                 "from pathlib import Path\n"
                 "pack = Path(policies.rules.pack.__file__).parent.parent\n"
                 "print(deplight.__file__)\n"
                 "print(all((pack / f).is_file() for f in ('PulumiPolicy.yaml', 'config/prod.json')))"],
                cwd=tmp_path)  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    location, pack_data = probe.stdout.split()
    assert location.startswith(str(installed.parent)), "imported from the wheel, not the checkout"
    assert pack_data == "True"
    assert run([str(installed / "deplight"), "--help"], cwd=tmp_path).returncode == 0


def test_init_plan_and_check_in_an_empty_application_directory(installed: Path,
                                                               tmp_path: Path) -> None:  # fmt: skip
    app = tmp_path / "billing-api"
    app.mkdir()
    deplight = str(installed / "deplight")
    init = run([deplight, "init", "--repository", "example-org/billing-api", "--region",
                "eu-west-1"], cwd=app)  # fmt: skip
    assert init.returncode == 0, init.stderr
    assert (app / "infra" / "__main__.py").read_text().count("\n") <= 4
    plan = run([deplight, "plan"], cwd=app)
    assert plan.returncode == 0, plan.stderr
    assert "* deplight:ecs:Service  billing-api-dev" in plan.stdout
    check = run([deplight, "check", "--stack", "dev"], cwd=app / "infra")
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.splitlines()[-1].startswith("passed: 0 mandatory")


def test_the_repository_root_still_works_with_the_installed_package(installed: Path) -> None:
    plan = run([str(installed / "deplight"), "plan", "--stack", "prod"], cwd=ROOT)
    assert plan.returncode == 0, plan.stderr
    assert "* deplight:deploy:BlueGreen  web-prod" in plan.stdout
    check = run([str(installed / "deplight"), "check", "--stack", "prod"], cwd=ROOT)
    assert check.returncode == 0, check.stdout + check.stderr


def test_an_unrelated_directory_is_one_line_with_the_installed_package(installed: Path,
                                                                       tmp_path: Path) -> None:  # fmt: skip
    result = run([str(installed / "deplight"), "check"], cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "no Pulumi project found" in result.stderr


def test_what_the_template_workflows_run_is_in_the_installed_package(installed: Path,
                                                                     tmp_path: Path) -> None:  # fmt: skip
    """Every `python -m <module> <command>` and `deplight <command>` the workflows `deplight init`
    writes call exists in the wheel (deplight.ci and deplight.github included), not only here."""
    app = tmp_path / "app"
    app.mkdir()
    init = run([str(installed / "deplight"), "init", "--repository", "example-org/billing-api",
                "--region", "eu-west-1"], cwd=app)  # fmt: skip
    assert init.returncode == 0, init.stderr
    text = "\n".join(p.read_text() for p in (app / ".github" / "workflows").glob("*.yml"))
    calls = set(re.findall(r"\.venv/bin/python -m ([\w.]+) ([\w-]+)", text))
    calls |= {
        ("deplight.cli", command) for command in re.findall(r"\.venv/bin/deplight (\w+)", text)
    }
    assert {("deplight.ci", "deploy-record"), ("deplight.ci", "stack-from-artifact"),
            ("deplight.github", "deployment-start"), ("deplight.github", "deployment-status"),
            ("deplight.cli", "rollback")} <= calls  # fmt: skip
    probe = run([str(installed / "python"), "-c",
                 "import contextlib, importlib, io\n"
                 "for module, command in " + repr(sorted(calls)) + ":\n"
                 "    m = importlib.import_module(module)\n"
                 "    with contextlib.redirect_stdout(io.StringIO()):\n"
                 "        try:\n"
                 "            code = m.main([command, '--help'])\n"
                 "        except SystemExit as exc:\n"
                 "            code = exc.code\n"
                 "    print(module, command, code, m.__file__)"], cwd=tmp_path)  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    lines = probe.stdout.splitlines()
    assert len(lines) == len(calls), probe.stdout
    for line in lines:
        module, command, code, location = line.split()
        assert code == "0", f"{module} {command}: not a command of the installed package"
        assert location.startswith(str(installed.parent)), f"{module} came from {location}"
