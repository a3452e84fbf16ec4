"""A random token generated once and kept in the stack state as a Pulumi secret.

The cache's AUTH token needs a value that is random, stable across ``pulumi up`` runs (a new value
every run would rotate the token at every release) and never printed. ``pulumi_random`` is the
usual tool but is not a dependency of this project, and ``aws.secretsmanager.get_random_password``
is an invoke, not a resource: it returns a new value on every run. So this small dynamic resource
does what ``random.RandomPassword`` does: ``create`` draws the token from :mod:`secrets`, the
engine stores it (encrypted, ``additional_secret_outputs``), and only a change of ``length`` or
``rotation`` replaces it. Rotate by raising ``rotation`` (or ``pulumi up --replace`` on the URN).

The provider imports nothing from ``pulumi_aws``: the dynamic provider host unpickles it alone.
"""

from __future__ import annotations

import secrets
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
"""URL-safe characters: ElastiCache AUTH tokens refuse spaces, ``@``, ``"`` and ``/``."""


def new_token(length: int) -> str:
    """``length`` characters from :data:`TOKEN_ALPHABET`, from the OS's CSPRNG."""
    if not 16 <= length <= 128:
        raise ValueError(f"token length: expected 16-128 characters, found {length}")
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(length))


class TokenProvider(ResourceProvider):
    """Draws the token on create; any change of the inputs replaces it, nothing else does."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        token = new_token(int(props["length"]))
        return CreateResult(
            id_=secrets.token_hex(8),
            outs={"length": props["length"], "rotation": props["rotation"], "result": token},
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("length", "rotation") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=False)


class AuthToken(Resource, module="data", name="AuthToken"):
    """A random token (``result``, a Pulumi secret) that stays the same until replaced."""

    result: pulumi.Output[str]

    def __init__(self, name: str, *, length: int = 64, rotation: int = 0,
                 opts: pulumi.ResourceOptions | None = None) -> None:  # fmt: skip
        super().__init__(
            TokenProvider(),
            name,
            {"length": length, "rotation": rotation, "result": None},
            pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(additional_secret_outputs=["result"])
            ),
        )
