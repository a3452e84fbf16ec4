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
    assert steps[1:] == ["python3 -m venv .venv", ".venv/bin/pip install -r requirements/lock.txt",
                         ".venv/bin/pip install --no-deps -e .",
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


# -- the configuration table and the settings agree ------------------------------------------------


def config_table() -> list[list[str]]:
    """The README's configuration table rows: key, type, development, production, meaning."""
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    # a `\|` inside a cell is a literal bar, not a column separator
    return [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in rows]


def split_keys(cell: str) -> list[str]:
    """``service.cpu` / `service.memory``, ``service.desired_count`, `min_count``: full keys."""
    names = re.findall(r"`([^`]+)`", cell)
    section = names[0].rsplit(".", 1)[0] if "." in names[0] else ""
    return [n if "." in n or not section else f"{section}.{n}" for n in names]


def split_values(cell: str, count: int) -> list[str]:
    cell = cell.replace("`", "").strip()
    if count == 1 or not cell:
        return [cell] * count
    parts = re.split(r"\s*/\s*|,\s+", cell)
    assert len(parts) == count, (cell, count)
    return parts


def settings_keys() -> set[str]:
    from components import settings as s

    sections = {"service": s.ServiceSettings, "network": s.NetworkSettings,
                "deploy": s.DeploySettings, "ingress": s.IngressSettings,
                "observability": s.ObservabilitySettings, "github": s.GithubSettings,
                "notifications": s.NotificationSettings,
                "release_api": s.ReleaseApiSettings}  # fmt: skip
    keys = {f"{name}.{f}" for name, cls in sections.items() for f in cls.__dataclass_fields__}
    data = {"postgres": s.PostgresSettings, "cache": s.CacheSettings}
    keys |= {f"data.{name}.{f}" for name, cls in data.items() for f in cls.__dataclass_fields__}
    keys |= {"data.kms_key_arn"}
    return keys | {"tier", "image_tag", "schema_version", "release.kind", s.WEBHOOK_URL_KEY}


def shown(value: object) -> str:
    """A setting's value as the table writes it."""
    import enum

    from components.settings import HealthCheckSettings

    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, HealthCheckSettings):
        return value.type.value
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(map(str, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    return str(value)


def effective(tier: str, key: str) -> str:
    from components.settings import parse_settings

    settings = parse_settings("<stack>", {"tier": tier, "github": {
        "repository": "example-org/example-service", "oidc_provider": "create"}})  # fmt: skip
    if key == "release.kind":
        return shown(settings.release_kind)
    if key in ("github.repository", "github.oidc_provider"):
        return "required"  # no default: the stand-ins above only let the rest parse
    if key == "notifications_webhook_url":
        return ""  # a stack secret the release commands read; the program never holds it
    obj: object = settings
    for part in key.split("."):
        obj = getattr(obj, part)
    return shown(obj)


def test_the_configuration_table_lists_every_setting_once() -> None:
    keys = [k for row in config_table() for k in split_keys(row[0])]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    assert set(keys) == settings_keys(), (
        f"missing from the README: {sorted(settings_keys() - set(keys))}; "
        f"not settings: {sorted(set(keys) - settings_keys())}"
    )


def test_the_configuration_table_shows_the_real_defaults() -> None:
    wrong = []
    for key_cell, _type, dev_cell, prod_cell, _meaning in config_table():
        keys = split_keys(key_cell)
        if keys == ["tier"]:
            assert (dev_cell, prod_cell.strip("`")) == ("", "production"), "unset tier = production"
            continue
        dev = split_values(dev_cell, len(keys))
        prod = dev if prod_cell == "same" else split_values(prod_cell, len(keys))
        for key, dev_value, prod_value in zip(keys, dev, prod, strict=True):
            for tier, documented in (("development", dev_value), ("production", prod_value)):
                if documented != (actual := effective(tier, key)):
                    wrong.append(f"{key} ({tier}): README says {documented!r}, settings {actual!r}")
    assert wrong == []


def test_the_configuration_table_names_every_choice_of_a_closed_setting() -> None:
    from components.contract import Strategy
    from components.settings import HealthCheckType, NatStrategy, TrafficShift

    types = {k: row[1] for row in config_table() for k in split_keys(row[0])}
    for key, enum_cls in (("deploy.strategy", Strategy), ("deploy.traffic", TrafficShift),
                          ("network.nat", NatStrategy), ("service.health_check", HealthCheckType)):  # fmt: skip
        for member in enum_cls:
            assert f"`{member.value}`" in types[key] or member.value in types[key], (key, member)
