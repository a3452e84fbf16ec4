"""GitHub deployments and the PR comment, for the workflows: best effort, bounded, tested.

The deploy and rollback workflows record each release as a GitHub *deployment* of the stack's
environment and move it through ``in_progress`` to ``success`` or ``failure`` (with the service
URL and the run's log URL), so the repository's environments page shows every environment's
history; when automatic rollback undoes a failed deploy, the failed deployment gets a last status
that says so. The PR workflow keeps one comment per PR, found by a hidden marker and edited in
place.

None of this may fail or slow a release: every call has bounded retries (:mod:`rollback.notify`),
and a failure prints a GitHub Actions warning and exits 0.

    python -m deplight.github deployment-start --environment prod --ref "$GITHUB_SHA" \\
        --description "deploy 3f2a9c1" [--github-output]
    python -m deplight.github deployment-status --id 42 --state success \\
        --environment-url https://... --log-url https://... --description "..."
    python -m deplight.github pr-comment --pr 7 --marker deplight-check --body-file check.md

Environment: ``GITHUB_TOKEN``, ``GITHUB_REPOSITORY``, ``GITHUB_API_URL`` (set by Actions).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from components.contract import EXIT_OK
from rollback.notify import DeliveryError, Policy, with_retries

STATES = ("in_progress", "queued", "success", "failure", "error", "inactive")
"""Deployment status states GitHub accepts."""
DESCRIPTION_MAX = 140  # GitHub rejects longer deployment status descriptions


class GitHub:
    """The few REST calls Deplight makes, over urllib (no third-party client)."""

    def __init__(self, token: str, repository: str, api_url: str = "https://api.github.com",
                 policy: Policy | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
        if not token:
            raise ValueError("GITHUB_TOKEN: expected a token, found nothing")
        if repository.count("/") != 1:
            raise ValueError(f"GITHUB_REPOSITORY: expected owner/name, found {repository!r}")
        self.token, self.repository = token, repository
        self.api_url = api_url.rstrip("/")
        self.policy = policy or Policy(attempts=3, timeout_s=10.0, backoff_s=1.0, deadline_s=30.0)
        self.sleep = sleep

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        url = f"{self.api_url}/repos/{self.repository}{path}"
        data = json.dumps(body).encode() if body is not None else None
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "deplight",
        }
        if data is not None:
            headers["Content-Type"] = "application/json"

        def attempt(timeout_s: float) -> Any:
            request = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=timeout_s) as response:
                    raw = response.read()
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")[:200]
                retry = exc.code == 429 or exc.code >= 500
                raise DeliveryError(
                    f"{method} {path}: HTTP {exc.code} {detail}", retry=retry
                ) from None
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise DeliveryError(
                    f"{method} {path}: unreachable ({reason})", retry=True
                ) from None
            return json.loads(raw) if raw else None

        return with_retries(attempt, self.policy, self.sleep)

    def create_deployment(self, *, ref: str, environment: str, description: str,
                          production: bool) -> int:  # fmt: skip
        """A deployment of ``ref`` to ``environment``; no status checks required (the workflow
        already ran them), never auto-merged."""
        answer = self._call("POST", "/deployments", {
            "ref": ref, "environment": environment, "description": description[:DESCRIPTION_MAX],
            "auto_merge": False, "required_contexts": [], "production_environment": production,
            "transient_environment": False,
        })  # fmt: skip
        return int(answer["id"])

    def set_status(self, deployment_id: int, *, state: str, description: str,
                   environment_url: str | None = None, log_url: str | None = None) -> None:  # fmt: skip
        if state not in STATES:
            raise ValueError(f"--state: expected one of {', '.join(STATES)}, found {state!r}")
        body: dict[str, Any] = {"state": state, "description": description[:DESCRIPTION_MAX],
                                "auto_inactive": state == "success"}  # fmt: skip
        if environment_url:
            body["environment_url"] = environment_url
        if log_url:
            body["log_url"] = log_url
        self._call("POST", f"/deployments/{deployment_id}/statuses", body)

    def upsert_comment(self, pr: int, marker: str, body: str) -> str:
        """Edits the PR's comment that carries ``marker``, or posts it; returns its URL."""
        tag = f"<!-- {marker} -->"
        text = f"{tag}\n{body}"
        page = 1
        while True:
            comments = self._call("GET", f"/issues/{pr}/comments?per_page=100&page={page}") or []
            for comment in comments:
                if tag in str(comment.get("body", "")):
                    edited = self._call("PATCH", f"/issues/comments/{comment['id']}",
                                        {"body": text})  # fmt: skip
                    return str(edited.get("html_url", ""))
            if len(comments) < 100:
                break
            page += 1
        posted = self._call("POST", f"/issues/{pr}/comments", {"body": text})
        return str(posted.get("html_url", ""))


def _client() -> GitHub:
    return GitHub(
        os.environ.get("GITHUB_TOKEN", ""),
        os.environ.get("GITHUB_REPOSITORY", ""),
        os.environ.get("GITHUB_API_URL", "https://api.github.com"),
    )


def _warn(message: str) -> None:
    # An Actions annotation: visible on the run, does not fail the step.
    print(f"::warning title=deplight github::{message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deplight.github", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("deployment-start", help="create a deployment, set it in_progress")
    start.add_argument("--environment", required=True)
    start.add_argument("--ref", required=True)
    start.add_argument("--description", default="")
    start.add_argument("--production", action="store_true",
                       help="the environment is a production one (production tier)")  # fmt: skip
    start.add_argument("--log-url")
    start.add_argument("--github-output", action="store_true",
                       help="also append deployment_id=<id> to $GITHUB_OUTPUT")  # fmt: skip
    status = sub.add_parser("deployment-status", help="add a status to a deployment")
    status.add_argument("--id", required=True, type=int)
    status.add_argument("--state", required=True, choices=STATES)
    status.add_argument("--description", default="")
    status.add_argument("--environment-url")
    status.add_argument("--log-url")
    comment = sub.add_parser("pr-comment", help="create or edit the PR comment with a marker")
    comment.add_argument("--pr", required=True, type=int)
    comment.add_argument("--marker", required=True)
    comment.add_argument("--body-file", required=True)
    args = parser.parse_args(argv)

    try:
        gh = _client()
        if args.command == "deployment-start":
            dep = gh.create_deployment(ref=args.ref, environment=args.environment,
                                       description=args.description,
                                       production=args.production)  # fmt: skip
            gh.set_status(dep, state="in_progress", description=args.description,
                          log_url=args.log_url)  # fmt: skip
            print(dep)
            if args.github_output and os.environ.get("GITHUB_OUTPUT"):
                with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
                    out.write(f"deployment_id={dep}\n")
        elif args.command == "deployment-status":
            gh.set_status(args.id, state=args.state, description=args.description,
                          environment_url=args.environment_url, log_url=args.log_url)  # fmt: skip
        else:
            with open(args.body_file, encoding="utf-8") as f:
                body = f.read()
            print(gh.upsert_comment(args.pr, args.marker, body))
    except (DeliveryError, ValueError, OSError, KeyError) as exc:
        _warn(f"{args.command}: {exc}")
    return EXIT_OK  # best effort: a failure is a warning, never a failed job


if __name__ == "__main__":
    sys.exit(main())
