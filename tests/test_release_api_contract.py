"""The release API's Lambda package stands alone, and its copies of shared names agree with the
originals in ``components.contract`` (the two patterns and the stamp: with their sources in
``components.settings`` and ``rollback/``)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta, timezone

from components import contract as source
from components.settings import IMAGE_TAG_RE
from release_api import contract, handler
from rollback import audit, commands
from tests.conftest import ROOT, imported


def test_shared_names_agree_with_their_sources() -> None:
    assert (contract.AUDIT_HASH_KEY, contract.AUDIT_RANGE_KEY, contract.AUDIT_RELEASE_ID) == (
        source.AUDIT_HASH_KEY,
        source.AUDIT_RANGE_KEY,
        source.AUDIT_RELEASE_ID,
    )
    assert contract.CONFIRM_PROD == source.CONFIRM_PROD
    assert contract.ENDPOINT_ENV == source.ENDPOINT_ENV
    assert contract.NO_OUTCOME == source.NO_OUTCOME
    assert contract.PRODUCTION_TIER == source.Tier.PRODUCTION.value
    assert contract.RELEASE_OPERATIONS == (source.Operation.DEPLOY, source.Operation.ROLLBACK)
    assert contract.REQUEST_OPERATION == source.Operation.ROLLBACK_REQUEST
    assert handler.IMAGE_TAG_RE.pattern == IMAGE_TAG_RE.pattern
    assert handler.REQUEST_ID_RE.pattern == commands.REQUEST_ID_RE.pattern
    for when in (datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
                 datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))):  # fmt: skip
        assert contract.stamp(when) == audit.stamp(when)


def test_the_component_routes_what_the_handler_answers() -> None:
    """API Gateway gets a route behind the authorizer for each data route the handler has (the
    page's routes come from release_api.site itself): a route missing on either side is a 404 or
    a dead route in the cloud."""
    from components import release_api as component

    assert set(component.ROUTES) == set(handler.ROUTES)


def test_the_lambda_package_imports_only_the_runtime() -> None:
    """The zip holds release_api/ alone: the standard library, boto3/botocore (in the Lambda
    runtime) and itself, nothing from components/, rollback/ or a third-party package."""
    allowed = set(sys.stdlib_module_names) | {"boto3", "botocore", "release_api"}
    files = sorted((ROOT / "release_api").glob("*.py"))
    assert len(files) >= 6
    for path in files:
        for _, name in imported(path):
            assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
