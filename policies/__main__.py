"""The Deplight policy pack: `pulumi preview --policy-pack policies`.

Only builds the PolicyPack (constructing it starts the analyzer server). The rules live in
``rules/``; this directory is put on ``sys.path`` so they import the same way here (the CLI runs
this file from ``policies/``) and from the repository root (``policies.rules``).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pulumi_policy import EnforcementLevel, PolicyPack

# mypy reads this package as policies.rules; the bare name resolves only at run time (sys.path above)
from rules.pack import ALL_POLICIES, PACK_NAME  # type: ignore[import-not-found]

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=ALL_POLICIES,
)
