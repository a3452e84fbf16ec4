"""``deplight deploy``, ``deplight rollback`` and ``deplight releases``: argument parsing and output.

Progress goes to stderr (logging); the final line, or the ``--json`` document, goes to stdout.
Exit codes: 0 ok or nothing to do, 1 failed or refused, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from components.contract import CONFIRM_PROD, EXIT_FAILED, EXIT_OK
from components.settings import IMAGE_TAG_RE
from deplight.cli_common import add_project_dir_argument, project_dir
from rollback.errors import BadInputError, DeplightError

log = logging.getLogger("deplight.release")

EPILOG_DEPLOY = """\
examples:
  deplight deploy --stack dev --image-tag 3f2a9c1
  deplight deploy --stack prod --image-tag 3f2a9c1e --schema-version 13 --json

The first release of a new stack: `pulumi up` once without image_tag (creates the ECR repository
and everything but the service), push the image, then deploy. --skip-image-check is for a stack
whose repository output does not exist yet; verification still checks what the service runs.

Migrations: when --schema-version rises above the stack's schema_version and the stack config has
deplight:deploy.migrate_command, the command runs first, once, as a one-off ECS task with the new
image in the service's subnets and security group (production: after a snapshot of the Aurora
cluster named after the release). Its logs stream here; only exit code 0 releases. Otherwise the
deploy fails with the exit code and the last log lines, and the config is not changed.
"""

EPILOG_ROLLBACK = f"""\
examples:
  deplight rollback --stack dev --reason "5xx after 4b5c6d7"
  deplight rollback --stack prod --to 3f2a9c1 --confirm {CONFIRM_PROD} --reason "bad migration"
  deplight rollback --stack prod --auto --yes          # CI, after a failed deploy
  deplight rollback --stack prod --dry-run             # show target, path and checks only

Checks (all run before anything changes; a refusal lists every failing one): the target
succeeded before in this stack; it is not the current image_tag; its image is still in ECR; no
release since the target raised schema_version; stacks whose deplight:tier is production need
--confirm {CONFIRM_PROD} or --yes; no other update holds the stack's lock, unless that update is
releasing a deployment the fast path stops (and is not itself a rollback; never with --auto). With
--allow-schema-downgrade across a migration, a production stack's pre-migration snapshot must
exist; the check prints how to restore it (it is never restored automatically).

Fast path: when the stack's CodeDeploy group has a deployment in progress or in its blue
termination wait (strategy ecs_bluegreen: an ECS service deployment shifting or baking), it is
stopped with rollback through AWS, which needs no stack lock: traffic is back on blue in seconds.
This works while `deplight deploy` still holds the lock waiting for that deployment: its `up`
then fails, the rollback waits (--lock-timeout) for the lock to clear, never removing it, and
then sets image_tag to the target and runs `up` so state and config agree. Otherwise image_tag
is set to the target and `up` runs with release.kind=rollback (all traffic shifts at once).
"""

EPILOG_RELEASES = """\
The release log comes from the stack's update history (every update records the config it ran
with); audit records that started but have no outcome are listed at the end.
"""


def select_stack(stack: str, project_dir: Path) -> Any:
    """The adapter for ``stack`` (a seam the CLI tests replace)."""
    from rollback.stack import PulumiStack

    return PulumiStack.select(stack, work_dir=project_dir)


def make_aws(stack: Any) -> Any:
    from components.contract import REGION_KEY
    from rollback.aws import Aws

    return Aws(stack.get_config(REGION_KEY))


def preflight(args: argparse.Namespace) -> Path:
    """The checks that need nothing but the arguments and the project directory, run before
    anything looks for the pulumi CLI, a backend or AWS, so bad input is always exit 2 first.
    Returns the project directory."""
    from deplight.project import StackFileError, stack_file

    sha = "a git commit SHA of 7-40 lowercase hex characters"
    problems = []
    for flag, value in (("--image-tag", getattr(args, "image_tag", None)),
                        ("--to", getattr(args, "to", None))):  # fmt: skip
        if value is not None and not IMAGE_TAG_RE.fullmatch(value):
            problems.append(f"{flag}: expected {sha}, found {value!r}")
    confirm = getattr(args, "confirm", None)
    if confirm is not None and confirm != CONFIRM_PROD:
        problems.append(f"--confirm: expected {CONFIRM_PROD}, found {confirm!r}")
    schema = getattr(args, "schema_version", None)
    if schema is not None and schema < 0:
        problems.append(f"--schema-version: expected a non-negative integer, found {schema}")
    try:
        root = project_dir(args.project_dir)
        stack_file(args.stack, root)
    except StackFileError as exc:
        problems.append(str(exc))
    if problems:
        raise BadInputError("; ".join(problems))
    return root


def _run(args: argparse.Namespace, action: Callable[[Any, Any], Any],
         render: Callable[[Any], str] | None = None) -> int:  # fmt: skip
    """Selects the stack, runs ``action(stack, aws)``, prints the result, returns the exit code."""
    try:
        stack = select_stack(args.stack, preflight(args))
        result = action(stack, make_aws(stack))
    except DeplightError as exc:
        return _fail(args, str(exc), exc.exit_code)
    except (ClientError, BotoCoreError) as exc:
        return _fail(args, f"AWS error: {exc}", EXIT_FAILED)
    if isinstance(result, dict):  # releases, status
        if render is None:
            from rollback.commands import render_releases

            render = render_releases
        print(json.dumps(result, indent=2, default=str) if args.json else render(result))
        return EXIT_OK
    print(json.dumps(result.to_dict(), indent=2, default=str) if args.json else result.summary)
    return int(result.exit_code)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"command": args.command, "stack": args.stack, "status": "error",
                          "exit_code": code, "error": message}, indent=2))  # fmt: skip
    print(f"deplight {args.command}: {message}", file=sys.stderr)
    return code


def _deploy(args: argparse.Namespace) -> int:
    from rollback.commands import DeployOptions, deploy

    opts = DeployOptions(
        image_tag=args.image_tag, schema_version=args.schema_version,
        skip_image_check=args.skip_image_check, reason=args.reason,
        cancel_stale=args.cancel_stale, verify_timeout_s=args.verify_timeout,
        migrate_timeout_s=args.migrate_timeout,
    )  # fmt: skip
    return _run(args, lambda stack, aws: deploy(stack, aws, opts))


def _rollback(args: argparse.Namespace) -> int:
    from rollback.commands import RollbackOptions, rollback

    opts = RollbackOptions(
        to=args.to, reason=args.reason, auto=args.auto, confirm=args.confirm, yes=args.yes,
        allow_schema_downgrade=args.allow_schema_downgrade, cancel_stale=args.cancel_stale,
        dry_run=args.dry_run, verify_timeout_s=args.verify_timeout,
        codedeploy_timeout_s=args.codedeploy_timeout, lock_timeout_s=args.lock_timeout,
        request_id=args.request_id,
    )  # fmt: skip
    return _run(args, lambda stack, aws: rollback(stack, aws, opts))


def _releases(args: argparse.Namespace) -> int:
    from rollback.commands import releases_report

    return _run(args, releases_report)


def _status(args: argparse.Namespace) -> int:
    from rollback.status import render_status, status_report

    return _run(args, status_report, render_status)


def _common(p: argparse.ArgumentParser, *, release: bool) -> None:
    p.add_argument("--stack", required=True, metavar="ENV", help="stack (environment) name")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    add_project_dir_argument(p)
    if release:
        p.add_argument(
            "--reason",
            metavar="TEXT",
            help="why (part of a rollback's update message); recorded in the audit table",
        )
        p.add_argument("--cancel-stale", action="store_true",
                       help="cancel the stack's lock first: only when the process holding it is "
                       "gone (a killed CI job); it does not stop a running update. Ignored by "
                       "rollback while the stack has a deployment in progress: that lock is live")  # fmt: skip
        p.add_argument("--verify-timeout", type=float, default=300.0, metavar="SECONDS",
                       help="how long verification waits for ECS and target health (default 300)")  # fmt: skip


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=96)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    dep = sub.add_parser(
        "deploy", formatter_class=fmt, epilog=EPILOG_DEPLOY,
        help="release an image: set image_tag and run `up` with the policy pack, then verify",
        description=_wrap("Deploys the image tagged SHA to a stack: checks that the image is in the "
        "stack's ECR repository and that no update holds the lock, records an audit intent, sets "
        "deplight:image_tag (and schema_version) with release.kind=deploy, runs `pulumi up` with "
        "the policy pack and the message 'deploy: SHA', then verifies that ECS runs it, every "
        "target is healthy and a preview that first refreshes from AWS shows no changes. Exit 0 "
        "ok, 1 failed/refused, 2 bad input."),
    )  # fmt: skip
    _common(dep, release=True)
    dep.add_argument("--image-tag", required=True, metavar="SHA",
                     help="git commit SHA the image is tagged with (7-40 lowercase hex)")  # fmt: skip
    dep.add_argument("--schema-version", type=int, metavar="N",
                     help="DB migration level this release needs (default: keep the current)")  # fmt: skip
    dep.add_argument("--skip-image-check", action="store_true",
                     help="do not look the image up in ECR (bootstrap release; see below)")  # fmt: skip
    dep.add_argument("--migrate-timeout", type=float, default=1800.0, metavar="SECONDS",
                     help="how long the migration task may run before it is stopped (default 1800)")  # fmt: skip
    dep.set_defaults(func=_deploy)

    rb = sub.add_parser(
        "rollback", formatter_class=fmt, epilog=EPILOG_ROLLBACK,
        help="return a stack to a known-good release, with safety checks and an audit record",
        description=_wrap("Rolls a stack back to --to TAG, or to the newest known-good release (a "
        "succeeded update in the stack's history) that is not the current image_tag, runs "
        "`up` with the message 'rollback: FROM -> TO (REASON)', verifies, and records who, when, "
        "from, to, why, path and outcome in the audit table. Exit 0 ok or nothing to do, 1 "
        "failed or refused, 2 bad input."),
    )  # fmt: skip
    _common(rb, release=True)
    rb.add_argument("--to", metavar="TAG", help="image tag to return to (must have succeeded in "
                    "this stack; default: the newest known-good before the current)")  # fmt: skip
    rb.add_argument("--auto", action="store_true",
                    help="CI after a failed deploy: act only if the last update's own message "
                    "says 'deploy: SHA' and it failed (or failed its verification) and was not yet "
                    "handled; never roll back a rollback; exit 0 with 'nothing to do because ...' "
                    "otherwise")  # fmt: skip
    rb.add_argument("--confirm", metavar=CONFIRM_PROD,
                    help=f"required when deplight:tier is production: the exact text {CONFIRM_PROD}")  # fmt: skip
    rb.add_argument("--yes", action="store_true",
                    help="confirm without the text (CI with an automatic trigger)")  # fmt: skip
    rb.add_argument("--allow-schema-downgrade", action="store_true",
                    help="allow a target older than a schema_version raise (only when the "
                    "migrations since are backward compatible)")  # fmt: skip
    rb.add_argument("--dry-run", action="store_true",
                    help="resolve the target, pick the path and run the checks; change nothing "
                    "and record nothing")  # fmt: skip
    rb.add_argument("--codedeploy-timeout", type=float, default=1800.0, metavar="SECONDS",
                    help="fast path: how long to wait for CodeDeploy's (or ECS's) rollback "
                    "(default 1800)")  # fmt: skip
    rb.add_argument("--lock-timeout", type=float, default=600.0, metavar="SECONDS",
                    help="fast path: how long to wait, once the deployment is stopped, for the "
                    "update holding the stack's lock to end before the config is reverted "
                    "(default 600)")  # fmt: skip
    rb.add_argument("--request-id", metavar="ID",
                    help="the release API request this rollback carries out (rollback.yml passes "
                    "it); recorded in the audit record so the API can show the outcome")  # fmt: skip
    rb.set_defaults(func=_rollback)

    rel = sub.add_parser(
        "releases", formatter_class=fmt, epilog=EPILOG_RELEASES,
        help="show the release log: every update, the current and the known-good releases",
        description=_wrap("Prints the stack's release log from its update history, newest first: "
        "kind (deploy, rollback, other), image tag, schema version, result and duration, the "
        "current release and the known-good tags; then audit records that started and have no "
        "outcome."),
    )  # fmt: skip
    _common(rel, release=False)
    rel.set_defaults(func=_releases)

    st = sub.add_parser(
        "status", formatter_class=fmt,
        help="show what serves a stack now: image, tasks, target health, traffic, alarms",
        description=_wrap("Reads the stack's outputs, then AWS: the image and task definition the "
        "service runs, running/desired tasks, target health per target group, the production "
        "listener's traffic split, the deployment in progress (CodeDeploy, ECS blue/green or a "
        "rolling update) and the alarms in ALARM. Read-only. Exit 0 ok, 1 failed, 2 bad input."),
    )  # fmt: skip
    _common(st, release=False)
    st.set_defaults(func=_status)
