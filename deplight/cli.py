"""The ``deplight`` command: what ``pulumi`` itself does not do.

Exit codes: 0 ok (or nothing to do), 1 failed or refused, 2 bad input.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from components.settings import SettingsError
from deplight.harness import PROJECT_DIR, StackFileError
from rollback.cli import register as register_release_commands

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
DEFAULT_STACK = "dev"


def project_dir(value: str | None) -> Path:
    """The Pulumi project to work on: ``--project-dir``, else the current directory when it holds
    a ``Pulumi.yaml``, else the project this package was installed from."""
    if value:
        path = Path(value).resolve()
        if not (path / "Pulumi.yaml").is_file():
            raise StackFileError(f"--project-dir {value}: no Pulumi.yaml there")
        return path
    if (Path.cwd() / "Pulumi.yaml").is_file():
        return Path.cwd()
    return PROJECT_DIR


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stack`` and ``--project-dir``, shared by every subcommand."""
    parser.add_argument("--stack", default=DEFAULT_STACK, help="stack name (default: dev)")
    parser.add_argument(
        "--project-dir",
        help="the Pulumi project directory (default: the current directory if it has a "
        "Pulumi.yaml, else the installed Deplight project)",
    )


def _plan(args: argparse.Namespace) -> int:
    from deplight.harness import run_program
    from deplight.plan import render_json, render_text

    run = run_program(args.stack, project_dir=project_dir(args.project_dir))
    print(render_json(run, run.warnings) if args.json else render_text(run, run.warnings))
    return EXIT_OK


def register_plan(sub: argparse._SubParsersAction) -> None:
    plan = sub.add_parser(
        "plan",
        help="show the resources a `pulumi up` of a stack would create (offline, no credentials)",
        description="Runs the real program under Pulumi mocks with the stack's committed config "
        "(Pulumi.STACK.yaml) and prints the resource tree and a count per type. No cloud call "
        "is made. Exit 2 when the stack configuration is invalid.",
    )
    add_stack_arguments(plan)
    plan.add_argument("--json", action="store_true", help="print JSON instead of a tree")
    plan.set_defaults(func=_plan)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deplight",
        description="Offline plan and policy check, deploy, rollback and release history for "
        "Deplight stacks.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Each subcommand module registers its own parser and handler (func(args) -> exit code).
    register_plan(sub)
    from deplight import check

    check.register(sub)
    register_release_commands(sub)
    from deplight.analyze import command as analyze

    analyze.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"deplight {args.command}: invalid configuration for stack {args.stack}:",
              file=sys.stderr)  # fmt: skip
        for err in exc.errors:
            print(f"  - {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except StackFileError as exc:
        print(f"deplight {args.command}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
