"""Shared test harness.

``set_mocks`` is configured by :func:`deplight.harness.run_program` for each program run (one
place, not at import time in several files). Component tests that build a single component use
the ``pulumi_mocks`` fixture, which installs :class:`deplight.mocks.RealisticMocks` the same way.
AWS credentials are dummies: no test may reach AWS.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pulumi
import pytest
from pulumi.runtime import settings as pulumi_settings

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

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


@pytest.fixture
def pulumi_mocks() -> RealisticMocks:
    """Installs fresh realistic mocks for a test that constructs components directly."""
    mocks = RealisticMocks()
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="deplight", stack="test", preview=False)
    return mocks


_RUNS: dict[str, ProgramRun] = {}


def program_run(stack: str) -> ProgramRun:
    """The committed stack's program run, computed once per session (runs are deterministic)."""
    if stack not in _RUNS:
        _RUNS[stack] = run_program(stack)
    return _RUNS[stack]
