"""The release API's Lambda handler: the release log, the deployment in progress, and rollback
requests that dispatch the ``rollback.yml`` workflow.

Deployed as its own zip by :mod:`components.release_api`, so it runs on the Lambda Python runtime
alone: the standard library and the runtime's boto3, nothing from ``components/`` or
``rollback/``. What it shares with them (the audit table's key layout, the confirmation text) is
duplicated in :mod:`release_api.contract` and tested for agreement.
"""
