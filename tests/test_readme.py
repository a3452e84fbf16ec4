"""The README's promises: its first command fails at once on an old Python, and works on 3.11+."""

from __future__ import annotations

import glob
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README, flags=re.DOTALL)


def version_guard() -> list[str]:
    """The first step of the README's first command, as argv (``python3 -c '...'``)."""
    first = bash_blocks()[0].strip().split(" && ")[0]
    argv = shlex.split(first)
    assert argv[:2] == ["python3", "-c"], first
    return argv


def old_pythons() -> list[str]:
    """Interpreters older than 3.11 on this machine (pyenv keeps several), verified by running."""
    found = []
    for path in sorted(glob.glob(str(Path.home() / ".pyenv/versions/*/bin/python"))):
        probe = subprocess.run([path, "-c", "import sys; print(sys.version_info[:2] < (3, 11))"],
                               capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        if probe.stdout.strip() == "True":
            found.append(path)
    return found


def test_the_first_command_starts_with_the_version_guard_and_then_sets_up() -> None:
    steps = bash_blocks()[0].strip().split(" && ")
    assert steps[0].startswith("python3 -c ")
    assert steps[1:] == ["python3 -m venv .venv", ".venv/bin/pip install -e '.[test]'",
                         ".venv/bin/deplight plan", ".venv/bin/deplight check"]  # fmt: skip


def test_the_guard_passes_on_this_python() -> None:
    argv = version_guard()
    result = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True,
                            timeout=30, check=False)  # fmt: skip
    assert result.returncode == 0 and result.stderr == ""


def test_the_guard_fails_at_once_on_a_simulated_old_python() -> None:
    code = version_guard()[2]
    simulated = f"import sys; sys.version_info = (3, 10, 13); sys.version = '3.10.13 (x)'\n{code}"
    result = subprocess.run([sys.executable, "-c", simulated], capture_output=True, text=True,
                            timeout=30, check=False)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == "Deplight needs Python 3.11+, this python3 is 3.10.13"


@pytest.mark.parametrize("python", old_pythons() or [None])
def test_the_guard_fails_at_once_on_a_real_old_python(python: str | None) -> None:
    if python is None:
        pytest.skip("no Python older than 3.11 on this machine (pyenv versions)")
    result = subprocess.run([python, *version_guard()[1:]], capture_output=True, text=True,
                            timeout=30, check=False)  # fmt: skip
    assert result.returncode == 1 and "Deplight needs Python 3.11+" in result.stderr


def test_the_package_declares_the_same_minimum() -> None:
    assert 'requires-python = ">=3.11"' in (ROOT / "pyproject.toml").read_text()
