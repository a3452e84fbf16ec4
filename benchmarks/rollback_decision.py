"""Times the rollback decision: history -> release log -> target -> all safety checks.

A synthetic history of 1,000 updates (deploys, failed deploys, rollbacks, refreshes, a targeted
update, schema bumps) is read page by page through the same code as ``deplight rollback
--dry-run``; AWS (ECR image lookup, CodeDeploy listing, the DynamoDB audit trail) is answered by a
moto server over HTTP on 127.0.0.1. Prints the median wall time per decision (target: < 1 s).

Usage: python benchmarks/rollback_decision.py [--updates 1000] [--runs 20]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import socket
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402
from pulumi.automation import UpdateSummary  # noqa: E402

from components import contract as out  # noqa: E402
from rollback.aws import Aws  # noqa: E402
from rollback.commands import RollbackOptions, rollback  # noqa: E402
from rollback.errors import LockHolder  # noqa: E402

REGION = "us-east-1"


def sha(i: int) -> str:
    return hashlib.sha1(str(i).encode()).hexdigest()[:7]


def synthetic_history(n: int) -> list[UpdateSummary]:
    """``n`` updates, newest first, as ``Stack.history()`` returns them."""
    t0 = datetime(2023, 1, 1)
    entries = []
    schema, current = 1, sha(0)
    for i in range(n):
        start = t0 + timedelta(hours=6 * i)
        kind, result, env = "update", "succeeded", {"exec.kind": "auto.local"}
        if i % 10 == 9:
            kind, message = "refresh", ""
        elif i % 25 == 24:
            message, result = f"deploy: {sha(i)}", "failed"
        elif i % 40 == 39:
            message = f"rollback: {current} -> {sha(i - 3)} (bench)"
            current = sha(i - 3)
        elif i % 97 == 96:
            message, env = f"deploy: {sha(i)}", {"pulumi.flag.target": "set"}
        else:
            message, current = f"deploy: {sha(i)}", sha(i)
        if i % 100 == 0:
            schema += 1
        tag = current if message.startswith("rollback") or kind == "refresh" else sha(i)
        config = {
            "aws:region": {"value": REGION, "secret": False},
            "deplight:tier": {"value": "production", "secret": False},
            "deplight:image_tag": {"value": tag, "secret": False},
            "deplight:schema_version": {"value": str(schema), "secret": False},
            "deplight:release": {"value": json.dumps({"kind": "deploy"}), "secret": False},
            "deplight:token": {"secret": True},
        }
        entries.append(UpdateSummary(
            kind=kind, start_time=start, message=message, environment=env, config=config,
            result=result, end_time=start + timedelta(minutes=4), version=0,
        ))  # fmt: skip
    return entries[::-1]


class BenchStack:
    """A :class:`rollback.port.StackPort` with a fixed history; a dry run needs nothing more."""

    name = "prod"

    def __init__(self, entries: list[UpdateSummary], outputs: dict[str, Any]) -> None:
        self.entries = entries
        self._outputs = outputs
        newest = entries[0].config
        self.config = {k: v.value for k, v in newest.items() if not v.secret}
        self.config["deplight:release.kind"] = "deploy"

    def history(self, *, page_size: int, page: int) -> list[UpdateSummary]:
        return self.entries[(page - 1) * page_size : page * page_size]

    def outputs(self) -> dict[str, Any]:
        return dict(self._outputs)

    def get_config(self, key: str, *, path: bool = False) -> str | None:
        return self.config.get(key)

    def lock_holders(self) -> list[LockHolder]:
        return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION=REGION)  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        entries = synthetic_history(args.updates)
        ecr = boto3.client("ecr", region_name=REGION, endpoint_url=endpoint)
        ecr.create_repository(repositoryName="web-prod")
        manifest = {"schemaVersion": 2,
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}  # fmt: skip
        for i in range(args.updates - 60, args.updates):
            ecr.put_image(repositoryName="web-prod", imageTag=sha(i),
                          imageManifest=json.dumps({**manifest, "config": {"digest": sha(i)}}))  # fmt: skip
        cd = boto3.client("codedeploy", region_name=REGION, endpoint_url=endpoint)
        cd.create_application(applicationName="web-prod", computePlatform="ECS")
        cd.create_deployment_group(applicationName="web-prod", deploymentGroupName="web-prod",
                                   serviceRoleArn="arn:aws:iam::123456789012:role/cd")  # fmt: skip
        ddb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
        ddb.create_table(
            TableName="web-prod-releases", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"}
                                  for k in (out.AUDIT_HASH_KEY, out.AUDIT_RANGE_KEY)],
            KeySchema=[{"AttributeName": out.AUDIT_HASH_KEY, "KeyType": "HASH"},
                       {"AttributeName": out.AUDIT_RANGE_KEY, "KeyType": "RANGE"}],
        )  # fmt: skip
        outputs = {
            out.REPOSITORY_NAME: "web-prod", out.AUDIT_TABLE_NAME: "web-prod-releases",
            out.CODEDEPLOY_APPLICATION: "web-prod", out.CODEDEPLOY_GROUP: "web-prod",
            out.DEPLOY_STRATEGY: "codedeploy",
        }  # fmt: skip
        stack = BenchStack(entries, outputs)
        aws = Aws(REGION, endpoint_url=endpoint)
        opts = RollbackOptions(dry_run=True, confirm="ROLLBACK-PROD", allow_schema_downgrade=True)
        rollback(stack, aws, opts)  # warm up: client creation, moto backends
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            result = rollback(stack, aws, opts)
            times.append(time.perf_counter() - start)
        assert result.status == "dry-run", result.summary
    finally:
        server.stop()
    median = statistics.median(times)
    print(f"rollback decision over {args.updates} updates ({len(result.checks)} checks, "
          f"AWS on moto), {args.runs} runs")  # fmt: skip
    print(f"  median {median * 1000:7.1f} ms  min {min(times) * 1000:7.1f} ms  "
          f"max {max(times) * 1000:7.1f} ms  target < 1000 ms: {'met' if median < 1 else 'MISSED'}")  # fmt: skip
    print(f"  {result.summary}")
    return 0 if median < 1 else 1


if __name__ == "__main__":
    sys.exit(main())
