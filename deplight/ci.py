"""Which stack a git ref deploys to: the one mapping the workflows call, so it is tested.

``feature/*`` -> dev, ``release/*`` -> staging (only where ``Pulumi.staging.yaml`` exists),
``main`` and ``v<major>.<minor>.<patch>`` tags -> prod, anything else -> no deploy.

    python -m deplight.ci env-for-ref --ref "$GITHUB_REF" [--project-dir .] [--github-output]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Collection, Sequence
from pathlib import Path

RELEASE_TAG = re.compile(r"^v\d+\.\d+\.\d+$")


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deplight.ci", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    env = sub.add_parser("env-for-ref", help="print the stack a ref deploys to (nothing if none)")
    env.add_argument("--ref", required=True, help="GITHUB_REF or a branch/tag name")
    env.add_argument("--project-dir", default=".", help="where the Pulumi.<stack>.yaml files are")
    env.add_argument("--github-output", action="store_true",
                     help="also append stack=<name> to $GITHUB_OUTPUT")  # fmt: skip
    args = parser.parse_args(argv)
    stack = environment_for_ref(args.ref, committed_stacks(Path(args.project_dir))) or ""
    print(stack)
    if args.github_output and os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
            out.write(f"stack={stack}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
