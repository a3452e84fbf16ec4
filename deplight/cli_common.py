"""What every ``deplight`` subcommand shares: the ``--stack``/``--project-dir`` arguments, the
project lookup and the JSON error document.

A leaf: it imports no subcommand, so ``deplight.cli`` (which registers them all), ``deplight.check``,
``rollback.cli`` and ``deplight.dashboard`` import it at the top instead of importing each other
late (``deplight.analyze`` imports it where it needs it).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deplight.project import find_project

DEFAULT_STACK = "dev"
"""The stack ``plan`` and ``check`` work on without ``--stack``."""
PROJECT_DIR_HELP = (
    "the Pulumi project directory (default: the nearest directory, from here up, with a "
    "Pulumi.yaml or an infra/Pulumi.yaml)"
)


def project_dir(value: str | None) -> Path:
    """The Deplight project to work on (see :func:`deplight.project.find_project`)."""
    return find_project(value)


def add_project_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project-dir", metavar="DIR", default=None, help=PROJECT_DIR_HELP)


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stack`` (default :data:`DEFAULT_STACK`) and ``--project-dir``, for the offline commands."""
    parser.add_argument(
        "--stack", default=DEFAULT_STACK, help=f"stack name (default: {DEFAULT_STACK})"
    )
    add_project_dir_argument(parser)


def error_document(command: str | None, stack: str | None, message: str, code: int,
                   errors: Sequence[str] = ()) -> str:  # fmt: skip
    """The one JSON document ``--json`` prints when a command fails before it has a result."""
    doc: dict[str, Any] = {"command": command, "stack": stack, "status": "error",
                           "exit_code": code, "error": message}  # fmt: skip
    if errors:
        doc["errors"] = list(errors)
    return json.dumps(doc, indent=2)
