"""The seam between the release logic and Pulumi: what the rest of ``rollback/`` may ask a stack.

:class:`rollback.stack.PulumiStack` implements :class:`StackPort` over ``pulumi.automation``; tests
drive the same adapter over a fake ``Stack`` that returns the SDK's own dataclasses
(``UpdateSummary``, ``ConfigValue``, ``UpResult``, ``PreviewResult``, ``OutputValue``). The shapes
below are the attributes of those dataclasses that Deplight reads, nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from rollback.errors import LockHolder

EventHandler = Callable[[Any], None]
"""Receives each ``pulumi.automation.EngineEvent`` of a running operation."""


class ConfigLike(Protocol):
    value: str
    secret: bool


class SummaryLike(Protocol):
    """``pulumi.automation.UpdateSummary``: one entry of the stack's update history."""

    kind: str
    start_time: datetime
    end_time: datetime | None
    message: str
    environment: Mapping[str, str]
    config: Mapping[str, ConfigLike]
    result: str
    version: int | None


class UpLike(Protocol):
    """``pulumi.automation.UpResult``: ``outputs`` maps names to ``OutputValue``."""

    summary: SummaryLike
    outputs: Mapping[str, Any]


class PreviewLike(Protocol):
    change_summary: Mapping[Any, int]


class StackPort(Protocol):
    """One selected stack of this project."""

    name: str

    def get_config(self, key: str, *, path: bool = False) -> str | None:
        """A plain config value, or ``None`` when the key is not set."""
        ...

    def set_config(self, key: str, value: str, *, path: bool = False) -> None: ...

    def set_int_config(self, key: str, value: int) -> None:
        """Stores an integer as an integer in the stack file."""
        ...

    def remove_config(self, key: str, *, path: bool = False) -> None: ...

    def up(self, *, message: str, on_event: EventHandler | None = None) -> UpLike:
        """``pulumi up`` with the policy pack attached; raises :class:`~rollback.errors.DeplightError`."""
        ...

    def preview(
        self, *, expect_no_changes: bool = False, refresh: bool = False,
        on_event: EventHandler | None = None,
    ) -> PreviewLike:  # fmt: skip
        """``pulumi preview``; with ``refresh`` the engine first reads every resource in the
        state back from the cloud, so changes made outside Pulumi show as changes."""
        ...

    def refresh(self, *, on_event: EventHandler | None = None) -> None: ...

    def history(self, *, page_size: int, page: int) -> list[SummaryLike]:
        """One page (from 1) of the update history, newest first; empty past the end."""
        ...

    def outputs(self) -> dict[str, Any]:
        """Stack outputs as plain values."""
        ...

    def cancel(self) -> None: ...

    def lock_holders(self) -> list[LockHolder]:
        """Who holds the update lock right now (empty when nobody does, as far as we can see)."""
        ...
