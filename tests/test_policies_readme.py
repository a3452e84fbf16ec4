"""policies/README.md lists every rule of the pack with the level each committed stack gives it."""

from __future__ import annotations

import re

from deplight.check import load_policy_config, split_config
from policies.rules.pack import ALL_POLICIES
from tests.conftest import ROOT

ROW = re.compile(r"^\| `([a-z0-9-]+)` \| (.+?) \| (.+?) \| (.+?) \| (.+?) \| (.+?) \|$")


def level(stack: str, policy: str) -> str:
    """What the stack's config makes of a policy, as the table writes it."""
    entry = load_policy_config(stack)[0].get(policy)
    found, props = split_config(entry)
    text = found or "mandatory"
    if props:
        text += " (" + ", ".join(f"{k} {v}" for k, v in props.items()) + ")"
    return text


def test_readme_table_has_every_rule_once_with_each_stacks_level() -> None:
    rows = [m.groups() for line in (ROOT / "policies" / "README.md").read_text().splitlines()
            if (m := ROW.match(line))]  # fmt: skip
    names = [r[0] for r in rows]
    assert sorted(names) == sorted(p.name for p in ALL_POLICIES)
    assert len(names) == len(set(names))
    for name, _what, dev, staging, prod, ids in rows:
        assert (dev, staging, prod) == (level("dev", name), level("staging", name),
                                        level("prod", name)), name  # fmt: skip
        assert ids.strip(), name
