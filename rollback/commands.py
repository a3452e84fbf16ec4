"""``deploy``, ``rollback`` and ``releases``: the orchestration, over a :class:`StackPort` and boto3.

Order of every release command: read (outputs, audit trail, config, history) -> decide and run all
checks -> refuse with every reason, or write the audit intent -> act (set config, ``up``) ->
verify -> write the audit outcome. Nothing changes before all checks pass. When ``up`` fails
before the engine ran (lock taken, CLI error), the previous config is restored, so the stack file
never claims a release that never ran; once the engine ran, the config stays at what it ran with.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from components.contract import (
    AUDIT_TABLE_NAME,
    CLUSTER_NAME,
    CODEDEPLOY_APPLICATION,
    CODEDEPLOY_GROUP,
    CONFIRM_PROD,
    DB_CLUSTER_IDENTIFIER,
    DEPLOY_STRATEGY,
    EXIT_FAILED,
    EXIT_OK,
    IMAGE_TAG_KEY,
    NAMESPACE,
    RELEASE_KEY,
    RELEASE_KIND_PATH,
    REPOSITORY_NAME,
    SCHEMA_VERSION_KEY,
    SERVICE_NAME,
    TIER_KEY,
    AuditRecord,
    Operation,
    Outcome,
    ReleaseKind,
    Strategy,
)
from components.poll import poll
from components.settings import IMAGE_TAG_RE, WEBHOOK_URL_KEY
from rollback import aws as awsapi
from rollback import notify
from rollback.audit import (
    Audit,
    DynamoAudit,
    Handle,
    NoAudit,
    describe,
    new_handle,
    now_utc,
    stamp,
    unfinished,
    who_and_trigger,
)
from rollback.checks import (
    Check,
    auto_decision,
    check_confirmation,
    check_differs,
    check_image,
    check_lock,
    check_schema,
    check_target,
    choose_target,
    rollback_in_progress,
    schema_raises,
    tier_of,
)
from rollback.errors import (
    BadInputError,
    DeplightError,
    LockHolder,
    StackLockedError,
)
from rollback.migrate import (
    MigrationPlan,
    check_restore_point,
    plan_migration,
    read_migrate_command,
    run_migration,
)
from rollback.port import StackPort
from rollback.progress import Progress
from rollback.releases import (
    ReleaseLog,
    build_log,
    fetch_history,
    normalise,
    parse_schema_version,
)
from rollback.verify import Verification, verify_release

log = logging.getLogger("deplight.release")

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{7,63}$")
"""A release API request id (``release_api.handler.REQUEST_ID_RE``)."""


@dataclass
class Env:
    """Time, injectable so tests and benchmarks do not wait."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = now_utc


@dataclass
class Result:
    """What a command did; rendered as the final stdout line or as ``--json``."""

    command: str
    stack: str
    status: str
    """``succeeded``, ``failed``, ``refused``, ``nothing-to-do`` or ``dry-run``."""
    summary: str
    exit_code: int
    from_tag: str | None = None
    to_tag: str | None = None
    path: str | None = None
    reason: str | None = None
    release_id: str | None = None
    update_id: str | None = None
    checks: list[Check] = field(default_factory=list)
    verification: Verification | None = None
    error: str | None = None
    config: str | None = None
    """What happened to the stack config on failure (kept at the target, or restored)."""
    duration_s: float | None = None
    migration: dict[str, Any] | None = None
    """deploy: what the migration step did (snapshot, task, exit code, last log lines)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "stack": self.stack,
            "status": self.status,
            "exit_code": self.exit_code,
            "summary": self.summary,
            "from": self.from_tag,
            "to": self.to_tag,
            "path": self.path,
            "reason": self.reason,
            "release_id": self.release_id,
            "update_id": self.update_id,
            "checks": [c.to_dict() for c in self.checks],
            "verification": self.verification.to_dict() if self.verification else None,
            "error": self.error,
            "config": self.config,
            "duration_s": self.duration_s,
            "migration": self.migration,
        }


# -- release config -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseConfig:
    """The three config values a release sets: ``image_tag``, ``schema_version``,
    ``release.kind``."""

    image_tag: str | None
    schema_version: int | None
    release_kind: str | None


def read_release_config(stack: StackPort) -> ReleaseConfig:
    return ReleaseConfig(
        image_tag=stack.get_config(IMAGE_TAG_KEY),
        schema_version=parse_schema_version(stack.get_config(SCHEMA_VERSION_KEY)),
        release_kind=stack.get_config(RELEASE_KIND_PATH, path=True),
    )


def write_release_config(stack: StackPort, now: ReleaseConfig, want: ReleaseConfig) -> None:
    """Changes only the values that differ. ``image_tag`` stays a string (a SHA may be all
    digits); ``schema_version`` is stored as an integer (``--type int``)."""
    if want.image_tag != now.image_tag:
        if want.image_tag is None:
            stack.remove_config(IMAGE_TAG_KEY)
        else:
            stack.set_config(IMAGE_TAG_KEY, want.image_tag)
    if want.schema_version != now.schema_version:
        if want.schema_version is None:
            stack.remove_config(SCHEMA_VERSION_KEY)
        else:
            stack.set_int_config(SCHEMA_VERSION_KEY, want.schema_version)
    if want.release_kind != now.release_kind:
        if want.release_kind is None:
            stack.remove_config(RELEASE_KEY)
        else:
            stack.set_config(RELEASE_KIND_PATH, want.release_kind, path=True)


# -- shared steps ---------------------------------------------------------------------------------


def open_audit(aws: awsapi.Aws, outputs: Mapping[str, Any], stack: str) -> Audit:
    table = outputs.get(AUDIT_TABLE_NAME)
    if not table:
        return NoAudit(f"the stack has no {AUDIT_TABLE_NAME} output yet")
    return DynamoAudit(aws.client("dynamodb"), str(table), stack)


def announcing(audit: Audit, stack: StackPort, aws: awsapi.Aws,
               outputs: Mapping[str, Any]) -> Audit:  # fmt: skip
    """``audit``, and every record it writes announced (:mod:`rollback.notify`): to the alert
    topic when the stack has a Chatbot channel on it, and to the Slack webhook of the stack secret
    ``deplight:notifications_webhook_url`` when set. Without either, ``audit`` unchanged."""
    import os

    try:
        webhook = stack.get_config(f"{NAMESPACE}:{WEBHOOK_URL_KEY}")
    except DeplightError as exc:
        log.warning("notify: cannot read %s:%s, no webhook: %s", NAMESPACE, WEBHOOK_URL_KEY, exc)
        webhook = None
    try:
        sinks = notify.sinks_for(outputs, aws, webhook)
    except ValueError as exc:  # a webhook URL that is not https: say so, never echo it
        log.warning("notify: %s; no webhook", exc)
        sinks = notify.sinks_for(outputs, aws, None)
    if not sinks:
        return audit
    _, _, run_url = who_and_trigger(False)
    context = notify.LinkContext(
        outputs=dict(outputs),
        region=aws.region,
        repository=os.environ.get("GITHUB_REPOSITORY"),
        server=os.environ.get("GITHUB_SERVER_URL", "https://github.com"),
        run_url=run_url,
    )
    return notify.NotifyingAudit(audit, notify.Notifier(sinks), context)


def warn_unfinished(records: list[dict[str, Any]]) -> None:
    for record in unfinished(records):
        log.warning(
            "audit: an earlier release started and has no outcome (the command died?): %s. "
            "Check what runs (deplight releases, the ECS console) before trusting the stack.",
            describe(record),
        )


def failed_verifications(records: list[dict[str, Any]]) -> set[str]:
    """Updates that Pulumi reports succeeded but whose verification failed (audit outcomes)."""
    return {
        str(r["update_id"]) for r in records
        if r.get("result") == Outcome.FAILED and r.get("update_id")
        and str(r.get("error", "")).startswith("verification failed")
    }  # fmt: skip


def read_log(stack: StackPort, records: list[dict[str, Any]]) -> ReleaseLog:
    return build_log(fetch_history(stack), failed_verifications(records))


@dataclass
class Run:
    """The outcome of set-config + ``up`` + verification."""

    ok: bool
    refused: bool = False
    update_id: str | None = None
    update_version: int | None = None
    engine_ran: bool = False
    config: str | None = None
    verification: Verification | None = None
    error: str | None = None


def _recorded_update(
    stack: StackPort, message: str, since: datetime
) -> tuple[str, int | None] | None:
    """The history entry of *our* failed ``up``, if the engine got far enough to record one."""
    try:
        newest = stack.history(page_size=1, page=1)
    except DeplightError:
        return None
    if not newest:
        return None
    entry = normalise(newest[0])
    if entry.message == message and entry.started >= since - timedelta(seconds=5):
        return entry.id, entry.version
    return None


def restore_config(stack: StackPort, before: ReleaseConfig, why: str) -> str:
    """Puts the release config back; says what happened, also when that fails."""
    try:
        write_release_config(stack, read_release_config(stack), before)
    except DeplightError as exc:
        log.error("config NOT restored: %s", exc)
        return f"NOT restored ({exc}): check image_tag, schema_version and release.kind"
    return f"restored to {before.image_tag}: {why}"


def release(stack: StackPort, aws: awsapi.Aws, *, before: ReleaseConfig, after: ReleaseConfig,
            message: str, label: str, verify_timeout_s: float, poll_s: float, env: Env) -> Run:  # fmt: skip
    try:
        write_release_config(stack, before, after)
    except DeplightError as exc:
        config = restore_config(stack, before, "the engine never ran")
        return Run(ok=False, error=f"could not set the config: {exc}", config=config)
    progress = Progress(label)
    since = env.now()
    try:
        up = stack.up(message=message, on_event=progress)
    except DeplightError as exc:
        recorded = _recorded_update(stack, message, since)
        ran = progress.engine_started or recorded is not None
        if ran:
            config = f"left at {after.image_tag}: the engine ran with it"
        else:
            config = restore_config(stack, before, "the engine never ran")
        log.error("%s: %s (config %s)", label, exc, config)
        return Run(
            ok=False, refused=isinstance(exc, StackLockedError) and not ran,
            update_id=recorded[0] if recorded else None,
            update_version=recorded[1] if recorded else None,
            engine_ran=ran, config=config, error=str(exc),
        )  # fmt: skip
    update = normalise(up.summary)
    outputs = {k: getattr(v, "value", v) for k, v in (up.outputs or {}).items()}
    try:
        verification = verify_release(
            stack, aws, outputs, after.image_tag or "", timeout_s=verify_timeout_s,
            poll_s=poll_s, sleep=env.sleep, clock=env.clock,
        )  # fmt: skip
    except (ClientError, BotoCoreError) as exc:
        verification = Verification(False, [], [f"AWS error while verifying: {exc}"])
    error = (
        None if verification.ok else "verification failed: " + "; ".join(verification.differences)
    )
    return Run(
        ok=verification.ok, update_id=update.id, update_version=update.version, engine_ran=True,
        verification=verification, error=error,
    )  # fmt: skip


def _outcome_of(run: Run) -> Outcome:
    return Outcome.SUCCEEDED if run.ok else (Outcome.REFUSED if run.refused else Outcome.FAILED)


def _outcome(run: Run, *, env: Env, started: datetime, path: str | None = None) -> AuditRecord:
    return {
        "result": _outcome_of(run),
        "error": run.error,
        "finished_at": stamp(env.now()),
        "duration_s": round((env.now() - started).total_seconds(), 3),
        "update_id": run.update_id,
        "update_version": run.update_version,
        "config": run.config,
        "verification": run.verification.differences or run.verification.verified
        if run.verification else None,
        "path": path,
    }  # fmt: skip


def record_refusal(audit: Audit, handle: Handle, record: AuditRecord, error: str,
                   duration_s: float) -> None:  # fmt: skip
    """A refusal changed nothing: one complete record; failing to write it must not hide why."""
    try:
        audit.complete(handle, {**record, "result": Outcome.REFUSED, "error": error,
                                "duration_s": duration_s})  # fmt: skip
    except DeplightError as exc:
        log.error("audit: refusal NOT recorded: %s", exc)


def _finish(audit: Audit, handle: Handle, outcome: AuditRecord) -> None:
    try:
        audit.finish(handle, outcome)
    except DeplightError as exc:
        log.error("audit: outcome NOT recorded (the record shows 'started, no outcome'): %s", exc)


def _elapsed(env: Env, started: datetime) -> float:
    return round((env.now() - started).total_seconds(), 3)


def _fmt_duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


# -- rollback -------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class RollbackOptions:
    to: str | None = None
    reason: str | None = None
    auto: bool = False
    confirm: str | None = None
    yes: bool = False
    allow_schema_downgrade: bool = False
    cancel_stale: bool = False
    dry_run: bool = False
    verify_timeout_s: float = 300.0
    codedeploy_timeout_s: float = 1800.0
    lock_timeout_s: float = 600.0
    """Fast path: how long to wait for the update holding the stack's lock to end."""
    poll_s: float = 10.0
    request_id: str | None = None
    """The release API's request this rollback carries out (recorded, so the API can follow it)."""


def active_codedeploy(aws: awsapi.Aws, outputs: Mapping[str, Any]) -> awsapi.DeploymentState | None:
    """The stack's CodeDeploy deployment that can still be stopped (fast path), if any."""
    app, group = outputs.get(CODEDEPLOY_APPLICATION), outputs.get(CODEDEPLOY_GROUP)
    if (
        not app
        or not group
        or outputs.get(DEPLOY_STRATEGY, Strategy.CODEDEPLOY) != Strategy.CODEDEPLOY
    ):
        return None
    try:
        return awsapi.active_deployment(aws.client("codedeploy"), str(app), str(group))
    except (ClientError, BotoCoreError) as exc:
        log.warning("fast path unavailable, cannot list CodeDeploy deployments: %s", exc)
        return None


def active_ecs_bluegreen(
    aws: awsapi.Aws, outputs: Mapping[str, Any]
) -> awsapi.EcsDeploymentState | None:
    """Strategy ecs_bluegreen: the service deployment still shifting or baking, if any."""
    cluster, service = outputs.get(CLUSTER_NAME), outputs.get(SERVICE_NAME)
    if outputs.get(DEPLOY_STRATEGY) != Strategy.ECS_BLUEGREEN or not cluster or not service:
        return None
    try:
        return awsapi.active_service_deployment(aws.client("ecs"), str(cluster), str(service))
    except (ClientError, BotoCoreError) as exc:
        log.warning("fast path unavailable, cannot list ECS service deployments: %s", exc)
        return None


def active_deployment(aws: awsapi.Aws, outputs: Mapping[str, Any]) -> Any:
    """The in-flight deployment the fast path can stop, whichever strategy runs the stack."""
    return active_codedeploy(aws, outputs) or active_ecs_bluegreen(aws, outputs)


def fast_path(aws: awsapi.Aws, active: Any, opts: RollbackOptions,
              env: Env) -> tuple[bool, str]:  # fmt: skip
    """Stops the deployment with automatic rollback and waits until traffic is back on blue:
    CodeDeploy's ``StopDeployment(autoRollbackEnabled)`` or ECS's ``StopServiceDeployment(ROLLBACK)``.
    ``(False, why)`` when the deployment completed first (then only the slow path is left);
    raises when CodeDeploy's (or ECS's) rollback fails."""
    # The two strategies' functions take their own client and state types; both are called alike.
    stop: Callable[[Any, str], tuple[bool, str]]
    wait: Callable[..., tuple[bool, str]]
    if isinstance(active, awsapi.EcsDeploymentState):
        client, ref = aws.client("ecs"), active.arn
        stop, wait = awsapi.stop_service_deployment, awsapi.wait_for_service_rollback
    else:
        client, ref = aws.client("codedeploy"), active.id
        stop, wait = awsapi.stop_with_rollback, awsapi.wait_for_rollback
    log.info("fast path: %s", active.describe())
    stopped, text = stop(client, ref)
    if not stopped:
        log.warning("fast path: %s; continuing on the slow path", text)
        return False, text
    log.info("fast path: %s", text)
    ok, text = wait(
        client, ref, timeout_s=opts.codedeploy_timeout_s, poll_s=opts.poll_s,
        report=lambda s: log.info("fast path: %s", s.describe()), sleep=env.sleep, clock=env.clock,
    )  # fmt: skip
    if not ok:
        raise DeplightError(f"fast path: {text}")
    log.info("fast path: %s", text)
    return True, text


AUTO_KEEPS_RUNNING = (
    "--auto never stops a release in progress: the failed deploy it handles has already ended, "
    "so the lock belongs to another update"
)


def wait_for_unlock(stack: StackPort, label: str, *, deadline: float, poll_s: float,
                    env: Env) -> list[LockHolder]:  # fmt: skip
    """Polls the stack's lock holders until there are none (returns ``[]``) or ``deadline`` (on
    ``env.clock``) passes (returns the holders). Only waits: never removes a lock."""
    since = env.clock()

    def waiting(holders: list[LockHolder]) -> None:
        log.info("%s: waiting for the update holding the lock to end (%s waited, %s left): %s",
                 label, _fmt_duration(env.clock() - since), _fmt_duration(deadline - env.clock()),
                 "; ".join(h.describe() for h in holders))  # fmt: skip

    polled = poll(stack.lock_holders, until=lambda holders: not holders, deadline=deadline,
                  interval_s=poll_s, clock=env.clock, sleep=env.sleep, on_wait=waiting)  # fmt: skip
    if not polled.done:
        log.error("%s: still locked after %s by %s", label, _fmt_duration(env.clock() - since),
                  "; ".join(h.describe() for h in polled.answer))  # fmt: skip
        return polled.answer
    if env.clock() > since:
        log.info("%s: the lock is free after %s", label, _fmt_duration(env.clock() - since))
    return []


def release_when_unlocked(stack: StackPort, aws: awsapi.Aws, *, after: ReleaseConfig,
                          message: str, label: str, opts: RollbackOptions, env: Env) -> Run:  # fmt: skip
    """After the fast path: waits (up to ``opts.lock_timeout_s``) until no update holds the lock,
    then sets the config and runs ``up``. When ``up`` still finds the lock taken before its engine
    runs (``ConcurrentUpdateError``: a backend whose lock holders we cannot list, or a lock taken
    again in between), :func:`release` puts the config back and this waits again, within the same
    bound. Never removes a lock; on timeout nothing has been written."""
    deadline = env.clock() + opts.lock_timeout_s

    def attempt() -> Run:
        holders = wait_for_unlock(stack, label, deadline=deadline, poll_s=opts.poll_s, env=env)
        before = read_release_config(stack)  # the update that just ended may have changed it
        if holders:
            who = "; ".join(h.describe() for h in holders)
            return Run(
                ok=False,
                error=f"the stack is still locked by {who} after waiting "
                f"{_fmt_duration(opts.lock_timeout_s)} (--lock-timeout): image_tag was not "
                "reverted and `up` did not run. Rerun deplight rollback once that update has "
                "ended; use --cancel-stale only if its process is gone",
                config=f"unchanged ({before.image_tag}): nothing was written",
            )  # fmt: skip
        return release(
            stack, aws, before=before, after=after, message=message, label=label,
            verify_timeout_s=opts.verify_timeout_s, poll_s=opts.poll_s, env=env,
        )  # fmt: skip

    return poll(
        attempt, until=lambda run: not run.refused, deadline=deadline, interval_s=opts.poll_s,
        clock=env.clock, sleep=env.sleep,
        on_wait=lambda run: log.info("%s: `up` found the stack locked (%s); waiting again",
                                     label, run.error),
    ).answer  # fmt: skip


def rollback(
    stack: StackPort, aws: awsapi.Aws, opts: RollbackOptions, env: Env | None = None
) -> Result:
    env = env or Env()
    started = env.now()
    name = stack.name
    if opts.to is not None and not IMAGE_TAG_RE.fullmatch(opts.to):
        raise BadInputError(
            f"--to: expected a git commit SHA of 7-40 lowercase hex characters, found {opts.to!r}"
        )
    if opts.confirm is not None and opts.confirm != CONFIRM_PROD:
        raise BadInputError(f"--confirm: expected {CONFIRM_PROD}, found {opts.confirm!r}")
    if opts.request_id is not None and not REQUEST_ID_RE.fullmatch(opts.request_id):
        raise BadInputError("--request-id: expected 8-64 letters, digits, '.', '_' or '-', "
                            f"found {opts.request_id!r}")  # fmt: skip

    outputs = stack.outputs()
    audit = announcing(open_audit(aws, outputs, name), stack, aws, outputs)
    records = audit.records()
    warn_unfinished(records)
    cfg = read_release_config(stack)
    tier = tier_of(stack.get_config(TIER_KEY))
    history = read_log(stack, records)
    current = cfg.image_tag or (history.latest.tag if history.latest else None)
    who, trigger, run_url = who_and_trigger(opts.auto)

    handles = None
    if opts.auto:
        latest = history.latest
        related = [
            r
            for r in records
            if latest and latest.id in (r.get("update_id"), r.get("handles_update"))
        ]
        decision = auto_decision(history, related)
        if not decision.act:
            return Result(
                "rollback", name, "nothing-to-do", f"rollback {name}: nothing to do because "
                f"{decision.reason}", EXIT_OK, from_tag=current, duration_s=_elapsed(env, started),
            )  # fmt: skip
        handles = decision.failed.id if decision.failed else None
        reason = opts.reason or f"automatic: {decision.reason}"
    else:
        reason = opts.reason or f"manual rollback by {who}"

    target, why = choose_target(history, current, opts.to)
    target_tag = target.tag if target else opts.to
    log.info("rollback %s: target %s (%s)", name, target_tag, why)
    holders = stack.lock_holders()
    active = active_deployment(aws, outputs)  # read-only: decides the path
    keep_running = (
        AUTO_KEEPS_RUNNING if opts.auto else rollback_in_progress(history, records)
    ) if holders and active is not None else None  # fmt: skip
    repo = outputs.get(REPOSITORY_NAME)
    found = (
        awsapi.image_exists(aws.client("ecr"), str(repo), target_tag)
        if repo and target_tag
        else None
    )
    checks = [
        check_target(history, target, opts.to, current),
        check_differs(current, target_tag),
        check_image(found, target_tag),
        check_schema(history, target, cfg.schema_version, opts.allow_schema_downgrade),
        check_confirmation(tier, opts.confirm, opts.yes),
        check_lock(
            holders,
            opts.cancel_stale,
            deployment=active.describe() if active else None,
            wait_s=opts.lock_timeout_s,
            keep_running=keep_running,
        ),  # fmt: skip
    ]
    if (
        opts.allow_schema_downgrade
        and target
        and schema_raises(history, target, cfg.schema_version)
    ):
        # Crossing a migration back: the database state the target understands must be
        # restorable (the pre-migration snapshot). Looked up, reported, never restored here.
        cluster = outputs.get(DB_CLUSTER_IDENTIFIER)
        checks.append(check_restore_point(
            aws.client("rds") if cluster else None, cluster=str(cluster) if cluster else None,
            tier=tier, target_tag=str(target.tag), target_schema=target.schema_version,
        ))  # fmt: skip
    for check in checks:
        log.info("check %s", check.line())
    refused = [c for c in checks if not c.ok]
    path = "fast" if active else "slow"
    handle = new_handle(name, Operation.ROLLBACK, started)
    to_schema = target.schema_version if target else None
    record: AuditRecord = {
        "operation": Operation.ROLLBACK, "who": who, "trigger": trigger, "ci_run": run_url,
        "started_at": stamp(started), "from_tag": current, "to_tag": target_tag,
        "from_schema": cfg.schema_version, "to_schema": to_schema,
        "reason": reason, "path": path, "handles_update": handles, "tier": tier.value,
        "checks": [c.line() for c in checks], "request_id": opts.request_id,
    }  # fmt: skip
    result = Result(
        "rollback", name, "", "", EXIT_FAILED, from_tag=current, to_tag=target_tag, path=path,
        reason=reason, release_id=handle.release_id, checks=checks,
    )  # fmt: skip
    if refused:
        result.status, result.error = (
            Outcome.REFUSED,
            "; ".join(f"{c.name}: {c.reason}" for c in refused),
        )
        result.duration_s = _elapsed(env, started)
        if opts.dry_run:  # a dry run records nothing, also when it would be refused
            result.summary = (
                f"rollback {name}: would be refused (dry run: nothing recorded): {result.error}"
            )
            return result
        record_refusal(audit, handle, record, result.error, result.duration_s)
        result.summary = f"rollback {name}: refused: {result.error}"
        return result
    if opts.dry_run:
        result.status, result.exit_code = "dry-run", EXIT_OK
        result.summary = (f"rollback {name}: would roll back {current} -> {target_tag} on the "
                          f"{path} path (dry run: nothing changed, nothing recorded)")  # fmt: skip
        return result

    audit.begin(handle, record)
    message = f"rollback: {current} -> {target_tag} ({reason})"
    label = f"rollback {name}"
    after = ReleaseConfig(target_tag, to_schema, ReleaseKind.ROLLBACK)
    on_blue: str | None = None  # what the fast path did, once traffic is back on blue
    try:
        if holders and active is not None:
            if opts.cancel_stale:
                log.warning("%s: --cancel-stale ignored: the lock belongs to the update releasing "
                            "%s, a live lock is never removed", label, active.id)  # fmt: skip
        elif opts.cancel_stale and holders:
            log.warning("cancelling the stale lock of %s", "; ".join(h.describe() for h in holders))
            stack.cancel()
        if active is None:
            run = release(
                stack, aws, before=cfg, after=after, message=message, label=label,
                verify_timeout_s=opts.verify_timeout_s, poll_s=opts.poll_s, env=env,
            )  # fmt: skip
        else:
            stopped, text = fast_path(aws, active, opts, env)
            if stopped:
                on_blue = text
            else:
                path = result.path = "slow"
            # The `up` that released the stopped deployment fails through the release resource
            # and then lets go of the lock: wait for that, then make state and config agree.
            run = release_when_unlocked(stack, aws, after=after, message=message, label=label,
                                        opts=opts, env=env)  # fmt: skip
    except DeplightError as exc:
        run = Run(ok=False, error=str(exc), config=f"unchanged ({current})")
    if on_blue is not None and not run.ok and not run.engine_ran:
        # Stopping the deployment changed what serves: a failure, never a refusal. (Once the
        # engine ran, its own release moved traffic again, so the note would no longer hold.)
        run.refused = False
        run.error = (f"{run.error} (traffic is already back on the task set that served before "
                     f"the stopped release: {on_blue})")  # fmt: skip
    _finish(audit, handle, _outcome(run, env=env, started=started, path=path))
    return _result_from_run(result, run, env, started, f"{current} -> {target_tag} ({path} path)")


def _result_from_run(result: Result, run: Run, env: Env, started: datetime, what: str) -> Result:
    result.duration_s = _elapsed(env, started)
    result.update_id, result.verification, result.error = run.update_id, run.verification, run.error
    result.config = run.config
    took = _fmt_duration(result.duration_s)
    if run.ok:
        result.status, result.exit_code = Outcome.SUCCEEDED, EXIT_OK
        result.summary = f"{result.command} {result.stack}: {what} succeeded and verified in {took}"
    else:
        result.status = _outcome_of(run)
        config = f"; config {run.config}" if run.config else ""
        result.summary = (
            f"{result.command} {result.stack}: {what} {result.status.upper()}: {run.error}{config}"
        )
    return result


# -- deploy ---------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class DeployOptions:
    image_tag: str
    schema_version: int | None = None
    skip_image_check: bool = False
    reason: str | None = None
    cancel_stale: bool = False
    verify_timeout_s: float = 300.0
    poll_s: float = 10.0
    migrate_timeout_s: float = 1800.0
    """How long the one-off migration task may run before it is stopped."""
    snapshot_timeout_s: float = 3600.0
    """How long to wait for the pre-migration cluster snapshot to become available."""


def deploy(
    stack: StackPort, aws: awsapi.Aws, opts: DeployOptions, env: Env | None = None
) -> Result:
    env = env or Env()
    started = env.now()
    name, tag = stack.name, opts.image_tag
    if not IMAGE_TAG_RE.fullmatch(tag):
        raise BadInputError(
            f"--image-tag: expected a git commit SHA of 7-40 lowercase hex characters, found {tag!r}"
        )
    if opts.schema_version is not None and opts.schema_version < 0:
        raise BadInputError(
            f"--schema-version: expected a non-negative integer, found {opts.schema_version}"
        )
    if opts.migrate_timeout_s <= 0:
        raise BadInputError(
            f"--migrate-timeout: expected a positive number of seconds, found {opts.migrate_timeout_s:g}"
        )

    outputs = stack.outputs()
    audit = announcing(open_audit(aws, outputs, name), stack, aws, outputs)
    warn_unfinished(audit.records())
    cfg = read_release_config(stack)
    who, trigger, run_url = who_and_trigger(False)
    holders = stack.lock_holders()
    repo = outputs.get(REPOSITORY_NAME)
    if opts.skip_image_check:
        image = Check("image-in-ecr", True, "not checked (--skip-image-check); verification still "
                      "checks what the service runs")  # fmt: skip
    elif not repo:
        image = Check(
            "image-in-ecr", False,
            f"the stack has no {REPOSITORY_NAME} output yet, so the image cannot be checked. "
            "Bootstrap: run `pulumi up` once without image_tag (it creates the repository), push "
            "the image, then deploy; or pass --skip-image-check",
        )  # fmt: skip
    else:
        image = check_image(awsapi.image_exists(aws.client("ecr"), str(repo), tag), tag)
    schema = opts.schema_version if opts.schema_version is not None else cfg.schema_version
    migration: MigrationPlan | None = None
    migration_checks: list[Check] = []
    if schema is not None and (cfg.schema_version is None or schema > cfg.schema_version):
        migration, migration_checks = plan_migration(
            outputs=outputs, tier=tier_of(stack.get_config(TIER_KEY)),
            command=read_migrate_command(stack), from_schema=cfg.schema_version,
            to_schema=schema, tag=tag,
        )  # fmt: skip
    checks = [image, check_lock(holders, opts.cancel_stale), *migration_checks]
    for check in checks:
        log.info("check %s", check.line())
    handle = new_handle(name, Operation.DEPLOY, started)
    reason = opts.reason or f"deploy by {who}"
    record: AuditRecord = {
        "operation": Operation.DEPLOY, "who": who, "trigger": trigger, "ci_run": run_url,
        "started_at": stamp(started), "from_tag": cfg.image_tag, "to_tag": tag,
        "from_schema": cfg.schema_version, "to_schema": schema, "reason": reason, "path": "deploy",
        "checks": [c.line() for c in checks],
    }  # fmt: skip
    result = Result("deploy", name, "", "", EXIT_FAILED, from_tag=cfg.image_tag, to_tag=tag,
                    path="deploy", reason=reason, release_id=handle.release_id, checks=checks)  # fmt: skip
    refused = [c for c in checks if not c.ok]
    if refused:
        result.status, result.error = (
            Outcome.REFUSED,
            "; ".join(f"{c.name}: {c.reason}" for c in refused),
        )
        record_refusal(audit, handle, record, result.error, _elapsed(env, started))
        result.summary = f"deploy {name}: refused: {result.error}"
        result.duration_s = _elapsed(env, started)
        return result

    audit.begin(handle, record)
    try:
        if opts.cancel_stale and holders:
            log.warning("cancelling the stale lock of %s", "; ".join(h.describe() for h in holders))
            stack.cancel()
        if migration is not None:
            migrated = run_migration(
                aws, migration, release_id=handle.release_id, tag=tag,
                timeout_s=opts.migrate_timeout_s, snapshot_timeout_s=opts.snapshot_timeout_s,
                poll_s=opts.poll_s, sleep=env.sleep, clock=env.clock,
            )  # fmt: skip
            result.migration = migrated.to_dict()
            if not migrated.ok:  # nothing released: the config never changed
                run = Run(ok=False, error=f"migration failed: {migrated.describe()}",
                          config=f"unchanged ({cfg.image_tag}, schema_version "
                          f"{cfg.schema_version})")  # fmt: skip
                _finish(audit, handle, {**_outcome(run, env=env, started=started),
                                        "migration": result.migration})  # fmt: skip
                return _result_from_run(result, run, env, started,
                                        f"{cfg.image_tag or '(none)'} -> {tag}")  # fmt: skip
        run = release(
            stack, aws, before=cfg, after=ReleaseConfig(tag, schema, ReleaseKind.DEPLOY),
            message=f"deploy: {tag}", label=f"deploy {name}",
            verify_timeout_s=opts.verify_timeout_s, poll_s=opts.poll_s, env=env,
        )  # fmt: skip
    except DeplightError as exc:
        run = Run(ok=False, error=str(exc), config=f"unchanged ({cfg.image_tag})")
    outcome = _outcome(run, env=env, started=started)
    if result.migration is not None:
        outcome["migration"] = result.migration
    if isinstance(getattr(audit, "inner", audit), NoAudit) and run.engine_ran:
        # Bootstrap: the table exists only now; record the whole release in one item.
        table = stack.outputs().get(AUDIT_TABLE_NAME)
        if table:
            created = DynamoAudit(aws.client("dynamodb"), str(table), name)
            if isinstance(audit, notify.NotifyingAudit):
                audit.inner = created  # written there, then announced
            else:
                audit = created
            audit.complete(handle, {**record, **outcome})
    else:
        _finish(audit, handle, outcome)
    return _result_from_run(result, run, env, started, f"{cfg.image_tag or '(none)'} -> {tag}")


# -- releases -------------------------------------------------------------------------------------


def releases_report(stack: StackPort, aws: awsapi.Aws) -> dict[str, Any]:
    return read_releases(stack, aws)[1]


def read_releases(stack: StackPort, aws: awsapi.Aws) -> tuple[ReleaseLog, dict[str, Any]]:
    """The release log and ``deplight releases``' report of it, from one read of the stack's
    history and audit table."""
    audit = open_audit(aws, stack.outputs(), stack.name)
    records = audit.records()
    history = read_log(stack, records)
    current, latest = history.current, history.latest
    return history, {
        "stack": stack.name,
        "current": current.to_dict() if current else None,
        "latest": latest.to_dict() if latest else None,
        "known_good": [u.tag for u in history.known_good],
        "updates": [
            {
                **u.to_dict(),
                "known_good": history.is_good(u),
                "failed_verification": u.id in history.distrusted,
            }
            for u in history.updates
        ],  # fmt: skip
        "unfinished": unfinished(records),
        "audit": records,
        "audit_note": getattr(audit, "why", None),
    }


def render_releases(report: Mapping[str, Any]) -> str:
    lines = [f"Releases of stack {report['stack']} (newest first; * known-good, > current)"]
    current_id = (report["current"] or {}).get("id")
    shown: set[str] = set()
    for u in report["updates"]:
        tag = u["image_tag"] or "-"
        first_good = u["known_good"] and tag not in shown
        if u["known_good"]:
            shown.add(tag)
        mark = ">" if u["id"] == current_id else ("*" if first_good else " ")
        kind = u["kind"] if u["operation"] == "update" else u["operation"]
        notes = list(u["notes"])
        if u["partial_flags"]:
            notes.insert(0, "partial (--" + ", --".join(u["partial_flags"]) + "): not a release")
        if u["failed_verification"]:
            notes.insert(0, "failed verification (audit): not known-good")
        dur = _fmt_duration(u["duration_s"]) if u["duration_s"] is not None else "-"
        schema = "-" if u["schema_version"] is None else str(u["schema_version"])
        lines.append(
            f"{mark} {u['started']}  {kind:<9} {tag:<12} schema {schema:<4} {u['result']:<10} "
            f"{dur:>7}  {u['message']}" + (f"  [{'; '.join(notes)}]" if notes else "")
        )
    if not report["updates"]:
        lines.append("  (no updates in the history)")
    lines.append("Known-good: " + (", ".join(report["known_good"]) or "none"))
    if report.get("audit_note"):
        lines.append(f"Audit trail: not available ({report['audit_note']})")
    elif report["unfinished"]:
        lines.append(
            "Audit records started, no outcome (a command died between intent and outcome):"
        )
        lines.extend(f"  ! {describe(r)}" for r in report["unfinished"])
    else:
        lines.append(f"Audit trail: {len(report['audit'])} record(s), none without an outcome")
    return "\n".join(lines)
