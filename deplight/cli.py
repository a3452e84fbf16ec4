"""The ``deplight`` command: what ``pulumi`` itself does not do.

Exit codes: 0 ok (or nothing to do), 1 failed or refused, 2 bad input.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn, cast

from components.contract import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from components.settings import SettingsError
from deplight.cli_common import add_stack_arguments, error_document, project_dir
from deplight.project import StackFileError
from rollback.cli import register as register_release_commands

OWN_LOGGERS = ("deplight", "rollback", "components", "policies")
"""Loggers whose debug lines ``-v`` shows; everyone else's (asyncio, botocore, grpc) stay quiet."""

log = logging.getLogger("deplight.cli")


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 2 as usual; with ``--json`` anywhere they also print a JSON document."""

    json_wanted = False

    def error(self, message: str) -> NoReturn:
        if _Parser.json_wanted:
            command = self.prog.split()[1] if len(self.prog.split()) > 1 else None
            print(error_document(command, None, message, EXIT_BAD_INPUT))
        super().error(message)


def _plan(args: argparse.Namespace) -> int:
    from deplight.harness import run_program
    from deplight.plan import render_json, render_text

    run = run_program(args.stack, project_dir=project_dir(args.project_dir))
    if args.json:
        print(render_json(run, run.warnings))
    else:
        print(render_text(run, run.warnings, show_documents=args.show_documents))
    return EXIT_OK


def register_plan(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = sub.add_parser(
        "plan",
        help="show the resources a `pulumi up` of a stack would create (offline, no credentials)",
        description="Runs the real program under Pulumi mocks with the stack's committed config "
        "(Pulumi.STACK.yaml) and prints the resource tree with what decides behaviour (images and "
        "health checks, listener actions, role trust and permissions, security-group rules) and "
        "a count per type. No cloud call is made. Exit 2 when the stack configuration is invalid.",
    )
    add_stack_arguments(plan)
    plan.add_argument("--json", action="store_true",
                      help="print JSON instead of a tree (documents always whole)")  # fmt: skip
    plan.add_argument("--show-documents", action="store_true",
                      help="print IAM policies, container definitions and other documents whole "
                      "under their resource")  # fmt: skip
    plan.set_defaults(func=_plan)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="deplight",
        description="Offline plan and policy check, deploy, rollback and release history for "
        "Deplight stacks.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    # The registrars only take the ArgumentParser each add_parser() returns (a _Parser here).
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND"),
    )
    # Each subcommand module registers its own parser and handler (func(args) -> exit code).
    register_plan(sub)
    from deplight import check, init

    check.register(sub)
    register_release_commands(sub)
    from deplight.analyze import command as analyze

    analyze.register(sub)
    init.register(sub)
    from deplight import dashboard

    dashboard.register(sub)
    for subparser in sub.choices.values():
        # -v also after the subcommand; SUPPRESS keeps a -v given before it.
        subparser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                               help="debug logging (Deplight's own) on stderr")  # fmt: skip
    return parser


def configure_logging(verbose: bool) -> None:
    """Messages only, on stderr; ``-v`` lowers Deplight's own loggers to DEBUG, not the root
    (whose DEBUG is asyncio's and gRPC's noise)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.set_name("deplight")
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "deplight"] + [handler]
    root.setLevel(logging.WARNING)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _Parser.json_wanted = "--json" in argv
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    as_json = bool(getattr(args, "json", False))
    stack = getattr(args, "stack", None)

    def fail(message: str, code: int, errors: Sequence[str] = ()) -> int:
        if as_json:
            print(error_document(args.command, stack, message, code, errors))
        print(f"deplight {args.command}: {message}", file=sys.stderr)
        for err in errors:
            print(f"  - {err}", file=sys.stderr)
        return code

    try:
        return int(args.func(args))
    except SettingsError as exc:
        return fail(f"invalid configuration for stack {stack}:", EXIT_BAD_INPUT, exc.errors)
    except StackFileError as exc:
        return fail(str(exc), EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_FAILED)
    except Exception as exc:  # a bug or an environment problem: one line, the traceback on -v
        log.debug("traceback:", exc_info=True)
        hint = "" if args.verbose else " (run with -v for the traceback)"
        return fail(f"unexpected error: {type(exc).__name__}: {exc}{hint}", EXIT_FAILED)


if __name__ == "__main__":
    sys.exit(main())
