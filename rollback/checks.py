"""Rollback decisions and safety checks: pure functions over the release log, each with a reason.

All checks run before anything changes, and all of them run (no short-circuit) so a refusal lists
every reason at once. Whether a stack needs the prod confirmation is data: its ``deplight:tier``
(``production``, also the project default in ``Pulumi.yaml``), never its name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.contract import CONFIRM_PROD, NO_OUTCOME, Operation, Outcome, Tier
from rollback.audit import describe
from rollback.errors import LockHolder
from rollback.releases import DEPLOY_PREFIX, Kind, ReleaseLog, Update, UpdateResult, iso


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    reason: str

    def line(self) -> str:
        return f"{'ok     ' if self.ok else 'REFUSED'} {self.name}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "reason": self.reason}


def tier_of(raw: str | None) -> Tier:
    """The stack's tier; missing or unknown counts as production (the safe side, and the
    project-wide default)."""
    try:
        return Tier(raw) if raw else Tier.PRODUCTION
    except ValueError:
        return Tier.PRODUCTION


def choose_target(log: ReleaseLog, current_tag: str | None,
                  requested: str | None) -> tuple[Update | None, str]:  # fmt: skip
    """The release to roll back to: ``requested`` if it ever succeeded, otherwise the newest
    known-good release that is not the current tag and that no later rollback moved away from."""
    if requested:
        found = log.last_success(requested)
        return found, ("requested with --to" if found else f"{requested} was requested with --to")
    abandoned: list[str] = []
    for u in log.updates:
        if not log.is_good(u):
            continue
        if u.tag != current_tag and u.tag not in abandoned:
            skipped = f" (skipping {', '.join(abandoned)}: rolled back from)" if abandoned else ""
            return u, f"newest known-good release before {current_tag}{skipped}"
        if u.rolled_back_from and u.rolled_back_from not in abandoned:
            abandoned.append(u.rolled_back_from)
    return None, f"no known-good release other than {current_tag}"


def check_target(log: ReleaseLog, target: Update | None, requested: str | None,
                 current_tag: str | None) -> Check:  # fmt: skip
    if target is not None:
        return Check(
            "target-succeeded", True,
            f"{target.tag} succeeded in this stack at {iso(target.started)} ({target.message!r})",
        )  # fmt: skip
    good = ", ".join(u.tag or "?" for u in log.known_good[:5]) or "none"
    if requested:
        return Check(
            "target-succeeded", False,
            f"{requested} never succeeded as a whole-stack update in this stack's history "
            f"(known-good, newest first: {good})",
        )  # fmt: skip
    return Check(
        "target-succeeded", False,
        f"no known-good release other than the current one ({current_tag}) in the history "
        f"(known-good: {good})",
    )  # fmt: skip


def check_differs(current_tag: str | None, target_tag: str | None) -> Check:
    if target_tag is None:
        return Check("differs-from-current", False, "no target")
    if target_tag == current_tag:
        return Check(
            "differs-from-current", False,
            f"{target_tag} is already the stack's image_tag: nothing to roll back to",
        )  # fmt: skip
    return Check("differs-from-current", True, f"{current_tag} -> {target_tag}")


def check_image(found: tuple[bool, str] | None, tag: str | None) -> Check:
    """``found`` is :func:`rollback.aws.image_exists`'s answer, ``None`` when it could not ask."""
    if tag is None:
        return Check("image-in-ecr", False, "no target image to look for")
    if found is None:
        return Check(
            "image-in-ecr", False,
            "the stack has no repository_name output, so the image cannot be checked",
        )  # fmt: skip
    return Check("image-in-ecr", found[0], found[1])


def schema_raises(log: ReleaseLog, target: Update, current_schema: int | None,
                  ) -> list[tuple[int, str]]:  # fmt: skip
    """``(schema_version, where)`` of every release attempt after ``target`` (and the current
    config) that needs a newer schema than the target: the migrations a rollback would cross."""
    wanted = target.schema_version
    later = [(u.schema_version, f"{u.kind.value} {u.tag} at {iso(u.started)}")
             for u in log.releases_after(target) if u.schema_version is not None]  # fmt: skip
    if current_schema is not None:
        later.append((current_schema, "the current stack config"))
    return [(v, where) for v, where in later if wanted is None or v > wanted]


def check_schema(log: ReleaseLog, target: Update | None, current_schema: int | None,
                 allow_downgrade: bool) -> Check:  # fmt: skip
    """No release attempt after the target (nor the current config) needs a newer schema than the
    target: the database may already be migrated past what the target understands."""
    if target is None:
        return Check("schema-version", False, "no target")
    wanted = target.schema_version
    raised = schema_raises(log, target, current_schema)
    if not raised:
        return Check(
            "schema-version", True,
            f"no schema_version above {wanted} since {target.tag}" if wanted is not None
            else f"schema_version is not tracked for {target.tag} or later releases",
        )  # fmt: skip
    top, where = max(raised, key=lambda r: r[0])
    text = (
        f"schema_version rose from {wanted if wanted is not None else 'untracked'} "
        f"({target.tag}) to {top} ({where}): the database may be migrated past what "
        f"{target.tag} understands"
    )
    if allow_downgrade:
        return Check("schema-version", True, f"{text}; overridden by --allow-schema-downgrade")
    return Check(
        "schema-version", False,
        f"{text}. Pass --allow-schema-downgrade only if those migrations are backward compatible",
    )  # fmt: skip


def check_confirmation(tier: Tier, confirm: str | None, yes: bool) -> Check:
    if tier is not Tier.PRODUCTION:
        return Check("confirmation", True, f"tier {tier.value}: no confirmation needed")
    if confirm == CONFIRM_PROD:
        return Check("confirmation", True, f"confirmed with --confirm {CONFIRM_PROD}")
    if yes:
        return Check("confirmation", True, "confirmed with --yes")
    return Check(
        "confirmation", False,
        f"tier production: pass --confirm {CONFIRM_PROD} (or --yes from CI)",
    )  # fmt: skip


def rollback_in_progress(log: ReleaseLog, records: Sequence[Mapping[str, Any]]) -> str | None:
    """Why the update that holds the lock looks like a deplight rollback, or ``None``: the newest
    audit record is a rollback without an outcome (a later deploy would have written a newer
    one), or the backend lists an in-progress update whose message is a rollback's."""
    newest = records[0] if records else None
    if (
        newest is not None
        and "result" not in newest
        and newest.get("operation") == Operation.ROLLBACK
    ):
        return f"the newest audit record is a rollback without an outcome ({describe(newest)})"
    latest = log.latest
    if (
        latest is not None
        and latest.result == UpdateResult.IN_PROGRESS
        and (latest.recorded_kind is Kind.ROLLBACK)
    ):
        return f"update {latest.id} ({latest.message!r}) is a rollback in progress"
    return None


def check_lock(holders: Sequence[LockHolder], cancel_stale: bool, *,
               deployment: str | None = None, wait_s: float = 0,
               keep_running: str | None = None) -> Check:  # fmt: skip
    """``deployment`` describes a CodeDeploy (or ECS) deployment of this stack that is in
    progress: then the lock belongs to the update releasing it, and a rollback does not need the
    lock to stop it. The lock is live, so it is waited for, never cancelled. ``keep_running``
    says why that deployment must not be stopped (it is itself a rollback, or this is ``--auto``):
    then the lock is refused as any other, also with ``--cancel-stale``."""
    if not holders:
        return Check("no-update-running", True, "the stack is not locked")
    who = "; ".join(h.describe() for h in holders)
    if deployment and keep_running:
        return Check(
            "no-update-running", False,
            f"locked by {who} while {deployment} is in progress, and it is not stopped because "
            f"{keep_running}. Wait for that update to end",
        )  # fmt: skip
    if deployment:
        return Check(
            "no-update-running", True,
            f"locked by {who} while {deployment} is in progress: the fast path stops that "
            f"deployment through AWS (no lock needed), then waits up to {wait_s:g} s for the "
            "update holding the lock to end before it reverts the config; the lock is never "
            "removed",
        )  # fmt: skip
    if cancel_stale:
        return Check(
            "no-update-running", True, f"stale lock of {who} will be cancelled (--cancel-stale)"
        )
    return Check(
        "no-update-running", False,
        f"locked by {who}. Wait for it; if that process is gone, rerun with --cancel-stale",
    )  # fmt: skip


@dataclass(frozen=True)
class AutoDecision:
    act: bool
    reason: str
    failed: Update | None = None


HANDLED_RESULTS = (None, Outcome.SUCCEEDED, Outcome.FAILED)
"""Audit outcomes that mean an automatic rollback acted (``None``: started, no outcome)."""


def auto_decision(log: ReleaseLog, records: Sequence[Mapping[str, Any]]) -> AutoDecision:
    """Whether ``rollback --auto`` (CI, after a failed deploy) should act. ``records`` are the audit
    records that mention the latest update (as its ``update_id`` or ``handles_update``).

    It acts only on a failed deplight deploy, and judges that by what the update records itself
    (its message, :attr:`~rollback.releases.Update.recorded_kind`), never by the
    ``deplight:release.kind`` config: that outlives the release that set it, so a failed
    ``pulumi up`` run by hand would otherwise count as a failed deploy."""
    latest = log.latest
    if latest is None:
        return AutoDecision(False, "the stack has no update in its history")
    what = f"the last update ({latest.id}, {latest.message!r}, {latest.result})"
    kind = latest.recorded_kind
    if kind is Kind.ROLLBACK:
        return AutoDecision(False, f"{what} was itself a rollback; a rollback is never rolled back")
    if latest.result == UpdateResult.IN_PROGRESS:
        return AutoDecision(False, f"{what} is still running")
    verification_failed = any(
        r.get("update_id") == latest.id and r.get("operation") == Operation.DEPLOY
        and r.get("result") == Outcome.FAILED for r in records
    )  # fmt: skip
    if latest.result == UpdateResult.SUCCEEDED and not verification_failed:
        return AutoDecision(False, f"{what} succeeded and was not found failing verification")
    if kind is not Kind.DEPLOY:
        return AutoDecision(
            False,
            f"{what} was not a deplight deploy (its message does not start with "
            f"'{DEPLOY_PREFIX}'); roll back by hand if the image is at fault",
        )
    for r in records:
        if r.get("handles_update") == latest.id and r.get("result") in HANDLED_RESULTS:
            outcome = r.get("result") or NO_OUTCOME
            return AutoDecision(
                False,
                f"failed update {latest.id} was already handled by {r.get('release_id')} "
                f"({outcome}, {r.get('started_at')})",
            )
    why = "failed verification" if latest.result == UpdateResult.SUCCEEDED else latest.result
    return AutoDecision(True, f"deploy {latest.tag} {why} (update {latest.id})", latest)
