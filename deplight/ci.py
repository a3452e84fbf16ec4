"""The decisions the workflows take, here so they are tested.

Which stack a git ref deploys to: ``feature/*`` -> dev, ``release/*`` -> staging (only where
``Pulumi.staging.yaml`` exists), ``main`` and ``v<major>.<minor>.<patch>`` tags -> prod, anything
else -> no deploy. Which stack a failed deploy run released, for the automatic rollback: what the
run itself recorded in its ``deplight-deploy`` artifact, never a guess from its branch (a manual
run deploys the stack it was given, whatever the branch).

    python -m deplight.ci env-for-ref --ref "$GITHUB_REF" [--project-dir .] [--github-output]
    python -m deplight.ci deploy-record --stack "$STACK" --sha "$GITHUB_SHA" \
        --run-id "$GITHUB_RUN_ID" --out deplight-deploy
    python -m deplight.ci stack-from-artifact --dir deplight-deploy --run-id "$RUN_ID" \
        [--project-dir .] [--github-output]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Collection, Sequence
from pathlib import Path

# The standard library and the contract only (it imports nothing else): the deciding jobs run
# this with the runner's python, before anything is installed.
from components.contract import EXIT_FAILED, EXIT_OK

RELEASE_TAG = re.compile(r"^v\d+\.\d+\.\d+$")
DEPLOY_ARTIFACT = "deplight-deploy"
"""The artifact deploy.yml uploads just before it releases, naming the stack it releases."""
DEPLOY_RECORD = "deploy.json"


def committed_stacks(project_dir: Path) -> set[str]:
    return {p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml")}


def environment_for_ref(ref: str, stacks: Collection[str]) -> str | None:
    """The stack a push of ``ref`` deploys to, or ``None``.

    Accepts full refs (``refs/heads/main``, ``refs/tags/v1.2.3``) and the short names a
    ``workflow_run`` event carries (``main``, ``feature/x``, ``v1.2.3``).
    """
    if ref.startswith("refs/tags/"):
        tag, branch = ref.removeprefix("refs/tags/"), None
    elif ref.startswith("refs/heads/"):
        tag, branch = None, ref.removeprefix("refs/heads/")
    elif RELEASE_TAG.match(ref):
        tag, branch = ref, None
    else:
        tag, branch = None, ref
    if tag is not None:
        wanted = "prod" if RELEASE_TAG.match(tag) else None
    elif branch == "main":
        wanted = "prod"
    elif branch and branch.startswith("feature/") and len(branch) > len("feature/"):
        wanted = "dev"
    elif branch and branch.startswith("release/") and len(branch) > len("release/"):
        wanted = "staging"
    else:
        wanted = None
    return wanted if wanted in stacks else None


def write_deploy_record(out_dir: Path, *, stack: str, sha: str, run_id: str) -> Path:
    """What a deploy run releases, written before it releases (the ``deplight-deploy`` artifact)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / DEPLOY_RECORD
    path.write_text(json.dumps({"stack": stack, "sha": sha, "run_id": str(run_id)}) + "\n")
    return path


def stack_from_artifact(artifact_dir: Path, run_id: str,
                        stacks: Collection[str]) -> tuple[str | None, str]:  # fmt: skip
    """The stack the failed deploy run ``run_id`` released, from its ``deplight-deploy`` artifact
    downloaded into ``artifact_dir``, and a sentence saying so; ``(None, why)`` when there is
    nothing to roll back or the artifact cannot be trusted."""
    path = artifact_dir / DEPLOY_RECORD
    if not path.is_file():
        return None, (
            f"run {run_id} uploaded no {DEPLOY_ARTIFACT} artifact ({path} is missing): it failed "
            "before it started a release, so there is nothing to roll back"
        )
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return None, f"{DEPLOY_ARTIFACT} of run {run_id}: {path} is not readable JSON ({exc})"
    if not isinstance(record, dict):
        return None, f"{DEPLOY_ARTIFACT} of run {run_id}: expected a JSON object, found {record!r}"
    stack, written_by = record.get("stack"), str(record.get("run_id"))
    if written_by != str(run_id):
        return None, (
            f"{DEPLOY_ARTIFACT} of run {run_id}: written by run {written_by}, not by the failed "
            "run: not trusted"
        )
    if not isinstance(stack, str) or stack not in stacks:
        return None, (
            f"{DEPLOY_ARTIFACT} of run {run_id}: stack {stack!r} is not one of this repository's "
            f"stacks ({', '.join(sorted(stacks)) or 'none'})"
        )
    return stack, f"run {run_id} released {record.get('sha') or '?'} to stack {stack}"


def _github_output(stack: str) -> None:
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
            out.write(f"stack={stack}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deplight.ci", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    env = sub.add_parser("env-for-ref", help="print the stack a ref deploys to (nothing if none)")
    env.add_argument("--ref", required=True, help="GITHUB_REF or a branch/tag name")
    env.add_argument("--project-dir", default=".", help="where the Pulumi.<stack>.yaml files are")
    env.add_argument("--github-output", action="store_true",
                     help="also append stack=<name> to $GITHUB_OUTPUT")  # fmt: skip
    rec = sub.add_parser("deploy-record",
                         help=f"write the {DEPLOY_ARTIFACT} record of the stack a run releases")  # fmt: skip
    rec.add_argument("--stack", required=True)
    rec.add_argument("--sha", required=True)
    rec.add_argument("--run-id", required=True)
    rec.add_argument("--out", required=True, help="directory to upload as the artifact")
    art = sub.add_parser(
        "stack-from-artifact",
        help=f"print the stack a failed deploy run released, from its {DEPLOY_ARTIFACT} artifact "
        "(nothing if none)",
    )  # fmt: skip
    art.add_argument("--dir", required=True, help="where the artifact was downloaded")
    art.add_argument("--run-id", required=True, help="the failed run's id")
    art.add_argument("--project-dir", default=".", help="where the Pulumi.<stack>.yaml files are")
    art.add_argument("--github-output", action="store_true",
                     help="also append stack=<name> to $GITHUB_OUTPUT")  # fmt: skip
    args = parser.parse_args(argv)
    if args.command == "deploy-record":
        print(write_deploy_record(Path(args.out), stack=args.stack, sha=args.sha,
                                  run_id=args.run_id))  # fmt: skip
        return EXIT_OK
    if args.command == "stack-from-artifact":
        found, why = stack_from_artifact(
            Path(args.dir), args.run_id, committed_stacks(Path(args.project_dir))
        )
        print(f"auto-rollback: {why}" if found else f"auto-rollback: nothing to do: {why}",
              file=sys.stderr)  # fmt: skip
        print(found or "")
        if args.github_output:
            _github_output(found or "")
        # No artifact: the run released nothing (exit 0). An artifact that cannot be trusted is
        # an anomaly worth a failed job (exit 1); either way nothing is rolled back.
        untrusted = found is None and (Path(args.dir) / DEPLOY_RECORD).is_file()
        return EXIT_FAILED if untrusted else EXIT_OK
    stack = environment_for_ref(args.ref, committed_stacks(Path(args.project_dir))) or ""
    print(stack)
    if args.github_output:
        _github_output(stack)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
