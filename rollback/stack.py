"""The one adapter over ``pulumi.automation``: the only module of Deplight that imports it.

:class:`PulumiStack` selects a stack of this project (a ``LocalWorkspace`` whose work dir is the
project directory; the backend and the secrets provider come from the user's environment, exactly
as for the ``pulumi`` CLI), reads and writes plain config, runs ``up`` with the policy pack and its
per-stack config, ``preview``, ``refresh``, reads history, outputs and lock holders, and cancels.
The Automation API's exceptions become :mod:`rollback.errors` with a message that says what to do.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pulumi import automation as auto

from rollback.errors import (
    DeplightError,
    EngineError,
    LockHolder,
    StackLockedError,
    UnknownStackError,
    lock_holder_from_json,
    parse_lock_error,
)
from rollback.port import EventHandler, PreviewLike, SummaryLike, UpLike

log = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent.parent
"""The project (``Pulumi.yaml``) this checkout deploys."""
DIY_DEFAULT_ORG = "organization"
"""Self-managed backends file project-scoped stacks under this organization name."""


def _stderr_of(exc: BaseException) -> str:
    """The CLI's stderr inside a ``CommandError`` (its text is ``code/stdout/stderr``)."""
    text = str(exc)
    return text.split("\n stderr: ", 1)[1] if "\n stderr: " in text else text


def _error_summary(exc: BaseException, limit: int = 6) -> str:
    """The ``error:`` lines of a failed CLI run, or its last lines when there are none."""
    text = str(exc)
    lines = [ln.strip().removeprefix("stderr: ").removeprefix("stdout: ")
             for ln in text.splitlines() if ln.strip()]  # fmt: skip
    errors = [ln for ln in lines if "error:" in ln.lower()]
    chosen = errors or [ln for ln in lines if not ln.startswith(("code:", "stdout:", "stderr:"))]
    return " | ".join(chosen[-limit:]) or text.strip()


class PulumiStack:
    """A selected stack (``auto.Stack``, or a test fake with the same methods) behind
    :class:`~rollback.port.StackPort`."""

    def __init__(self, stack: Any, *, work_dir: Path = PROJECT_DIR,
                 policy_dir: Path | None = None) -> None:  # fmt: skip
        self._stack = stack
        self.name: str = stack.name
        self.work_dir = work_dir
        self.policy_dir = policy_dir if policy_dir is not None else work_dir / "policies"

    @classmethod
    def select(cls, stack_name: str, work_dir: Path = PROJECT_DIR) -> PulumiStack:
        """Selects an existing stack of the project in ``work_dir``."""
        if shutil.which("pulumi") is None:
            raise DeplightError(
                "the pulumi CLI is not on PATH; install it (https://www.pulumi.com/docs/install/) "
                "and log in to the stack's backend (pulumi login ...)"
            )
        try:
            stack = auto.select_stack(stack_name=stack_name, work_dir=str(work_dir))
        except auto.CommandError as exc:
            raise cls._translate_for(stack_name, "stack select", exc) from exc
        return cls(stack, work_dir=work_dir)

    # -- errors -----------------------------------------------------------------------------

    @staticmethod
    def _translate_for(stack: str, action: str, exc: Exception) -> DeplightError:
        if isinstance(exc, auto.ConcurrentUpdateError):
            stderr = _stderr_of(exc)
            return StackLockedError(stack, parse_lock_error(stderr), detail=_error_summary(exc, 1))
        if isinstance(exc, auto.StackNotFoundError):
            return UnknownStackError(
                f"no stack named {stack!r} in the current backend: check PULUMI_BACKEND_URL / "
                f"`pulumi login`, or create it with `pulumi stack init {stack}`"
            )
        return EngineError(f"pulumi {action} failed: {_error_summary(exc)}", output=str(exc))

    def _translate(self, action: str, exc: Exception) -> DeplightError:
        return self._translate_for(self.name, action, exc)

    # -- config -----------------------------------------------------------------------------

    def get_config(self, key: str, *, path: bool = False) -> str | None:
        try:
            value = self._stack.get_config(key, path=path)
        except auto.CommandError as exc:
            text = str(exc)
            if "configuration key" in text and "not found" in text:
                return None
            raise self._translate("config get", exc) from exc
        return str(value.value)

    def set_config(self, key: str, value: str, *, path: bool = False) -> None:
        try:
            self._stack.set_config(key, auto.ConfigValue(value=value, secret=False), path=path)
        except auto.CommandError as exc:
            raise self._translate("config set", exc) from exc

    def set_int_config(self, key: str, value: int) -> None:
        """``pulumi config set --type int``: the SDK's ``set_config`` takes no type, and ``--path``
        keeps a top-level value a string, so the stack file would say ``"12"``."""
        ws = self._stack.workspace
        env = {**({"PULUMI_HOME": ws.pulumi_home} if getattr(ws, "pulumi_home", None) else {}),
               **(ws.env_vars or {})}  # fmt: skip
        args = ["config", "set", key, "--type", "int", "--plaintext", "--stack", self.name,
                "--", str(value)]  # fmt: skip
        try:
            ws.pulumi_command.run(args, ws.work_dir, env)
        except auto.CommandError as exc:
            if "unknown flag: --type" not in str(exc):
                raise self._translate("config set", exc) from exc
            log.warning("this pulumi CLI has no `config set --type`: %s is stored as a string", key)
            self.set_config(key, str(value))

    def remove_config(self, key: str, *, path: bool = False) -> None:
        try:
            self._stack.remove_config(key, path=path)
        except auto.CommandError as exc:
            raise self._translate("config rm", exc) from exc

    # -- engine operations ------------------------------------------------------------------

    def policy_args(self) -> dict[str, list[str] | None]:
        """``--policy-pack policies`` and, when present, ``--policy-pack-config
        policies/config/<stack>.json`` (mandatory in prod, advisory where dev relaxes rules)."""
        if not (self.policy_dir / "PulumiPolicy.yaml").exists():
            log.warning("no policy pack at %s: running without policies", self.policy_dir)
            return {"policy_packs": None, "policy_pack_configs": None}
        config = self.policy_dir / "config" / f"{self.name.rsplit('/', 1)[-1]}.json"
        return {
            "policy_packs": [str(self.policy_dir)],
            "policy_pack_configs": [str(config)] if config.exists() else None,
        }

    def up(self, *, message: str, on_event: EventHandler | None = None) -> UpLike:
        try:
            result: UpLike = self._stack.up(
                message=message, on_event=on_event, on_output=_debug_output, show_secrets=False,
                color="never",
                **self.policy_args(),
            )  # fmt: skip
        except auto.CommandError as exc:
            raise self._translate("up", exc) from exc
        return result

    def preview(
        self, *, expect_no_changes: bool = False, refresh: bool = False,
        on_event: EventHandler | None = None,
    ) -> PreviewLike:  # fmt: skip
        try:
            result: PreviewLike = self._stack.preview(
                expect_no_changes=expect_no_changes,
                refresh=refresh,
                on_event=on_event,
                on_output=_debug_output,
                color="never",
            )
        except auto.CommandError as exc:
            raise self._translate("preview", exc) from exc
        return result

    def refresh(self, *, on_event: EventHandler | None = None) -> None:
        try:
            self._stack.refresh(
                on_event=on_event, on_output=_debug_output, show_secrets=False, color="never"
            )
        except auto.CommandError as exc:
            raise self._translate("refresh", exc) from exc

    def history(self, *, page_size: int, page: int) -> list[SummaryLike]:
        # Without page_size the CLI returns only its default page (10 entries): always page.
        try:
            entries: list[SummaryLike] = self._stack.history(
                page_size=page_size, page=page, show_secrets=False
            )
        except auto.CommandError as exc:
            raise self._translate("stack history", exc) from exc
        return entries

    def outputs(self) -> dict[str, Any]:
        try:
            return {key: out.value for key, out in self._stack.outputs().items()}
        except auto.CommandError as exc:
            raise self._translate("stack output", exc) from exc

    def cancel(self) -> None:
        # On self-managed backends this only deletes the lock files; it stops no process.
        try:
            self._stack.cancel()
        except auto.CommandError as exc:
            raise self._translate("cancel", exc) from exc

    # -- locks --------------------------------------------------------------------------------

    def lock_holders(self) -> list[LockHolder]:
        workspace = self._stack.workspace
        try:
            url = workspace.who_am_i().url or ""
        except auto.CommandError as exc:
            log.debug("pulumi whoami failed, lock holders unknown: %s", exc)
            return []
        project = workspace.project_settings().name
        names = lock_dirs(self.name, project)
        if url.startswith("file://"):
            return read_file_locks(url, names)
        if url.startswith("s3://"):
            from rollback.aws import state_bucket_client

            return read_s3_locks(state_bucket_client(url), url, names)
        # Pulumi Cloud (and others) report a running update on the stack summary.
        short = self.name.rsplit("/", 1)[-1]
        for summary in workspace.list_stacks():
            if summary.name.rsplit("/", 1)[-1] == short and summary.update_in_progress:
                return [
                    LockHolder(who="an update in progress (reported by the backend)", where=url)
                ]
        return []


def _debug_output(line: str) -> None:
    log.debug("%s", line.rstrip())


def lock_dirs(stack: str, project: str) -> list[str]:
    """Lock directories of a stack in a self-managed backend, project-scoped layout first."""
    parts = stack.split("/")
    if len(parts) == 3:
        return [f".pulumi/locks/{stack}"]
    return [f".pulumi/locks/{DIY_DEFAULT_ORG}/{project}/{parts[-1]}", f".pulumi/locks/{parts[-1]}"]


def file_backend_root(url: str) -> Path:
    """``file:///abs``, ``file://~`` (``pulumi login --local``) or ``file://~/dir`` -> a path."""
    rest = url.removeprefix("file://").split("?", 1)[0]
    return Path(rest).expanduser()


def read_file_locks(url: str, dirs: list[str]) -> list[LockHolder]:
    """Lock files of a ``file://`` backend."""
    root = file_backend_root(url)
    holders = []
    for rel in dirs:
        for lock in sorted((root / rel).glob("*.json")):
            try:
                content = json.loads(lock.read_text())
            except (OSError, ValueError):
                content = {}
            holders.append(lock_holder_from_json(f"file://{lock}", content))
    return holders


def read_s3_locks(s3: Any, url: str, dirs: list[str]) -> list[LockHolder]:
    """Lock objects of an ``s3://bucket/prefix`` backend."""
    parsed = urlparse(url)
    bucket, prefix = parsed.netloc, parsed.path.strip("/")
    holders = []
    for rel in dirs:
        key_prefix = f"{prefix}/{rel}/" if prefix else f"{rel}/"
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=key_prefix)
        for obj in listing.get("Contents", []):
            if not obj["Key"].endswith(".json"):
                continue
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            try:
                content = json.loads(body)
            except ValueError:
                content = {}
            holders.append(lock_holder_from_json(f"s3://{bucket}/{obj['Key']}", content))
    return holders
