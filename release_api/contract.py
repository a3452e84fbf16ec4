"""Copies of the names in ``components.contract`` that the handler needs, duplicated on purpose.

The Lambda zip holds this package only, so it cannot import ``components.contract``;
``tests/test_release_api_contract.py`` fails when a copy here drifts from its source.
"""

from __future__ import annotations

from datetime import UTC, datetime

# The audit table's key layout.
AUDIT_HASH_KEY = "stack"
AUDIT_RANGE_KEY = "sk"
"""``<UTC ISO-8601 start time>#<release id>``: sorts by time, unique per release."""
AUDIT_RELEASE_ID = "release_id"

# The text a production rollback must be confirmed with.
CONFIRM_PROD = "ROLLBACK-PROD"

# One endpoint for every AWS client (a moto or LocalStack server in tests).
ENDPOINT_ENV = "DEPLIGHT_AWS_ENDPOINT_URL"

# An intent record that never got an outcome.
NO_OUTCOME = "started, no outcome"

# Tier.PRODUCTION: the tier whose rollbacks need confirmation and the group.
PRODUCTION_TIER = "production"

RELEASE_OPERATIONS = ("deploy", "rollback")
"""``operation`` of the records ``deplight deploy`` and ``deplight rollback`` write (Operation)."""
REQUEST_OPERATION = "rollback-request"
"""``operation`` of the records this API writes (never a release itself)."""


def stamp(when: datetime) -> str:
    """Fixed-width UTC ISO-8601, as ``rollback.audit.stamp`` writes ``started_at`` and ``sk``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
