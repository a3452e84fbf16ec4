#!/usr/bin/env bash
# Re-locks the dependency set. Run after changing a dependency in pyproject.toml, and to upgrade.
#
#   tools/lock.sh                          keep every pin that still satisfies pyproject.toml
#   tools/lock.sh --upgrade                newest versions pyproject.toml allows
#   tools/lock.sh --upgrade-package boto3  move one package (and what it needs)
#
# Writes two hash-pinned files, resolved for Python 3.11+ on every platform (--universal):
#   requirements/lock.txt    the project's dependencies plus the [test] extra: developers, .ci/run,
#                            the PR tests
#   requirements/deploy.txt  the project's dependencies only, at the same versions (constrained by
#                            lock.txt): the workflows that hold AWS credentials install no test tools
# Review the diff and run the tests (bash .ci/run) before committing both files.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
if command -v uv >/dev/null && [ "$(uv --version | cut -d' ' -f2)" = "$UV_VERSION" ]; then
    uv=uv
else
    # A throwaway environment with the pinned uv, so every re-lock resolves the same way.
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    python3 -m venv "$tmp/venv"
    "$tmp/venv/bin/pip" install --quiet "uv==$UV_VERSION"
    uv="$tmp/venv/bin/uv"
fi

common=(--universal --python-version 3.11 --generate-hashes --quiet
        --custom-compile-command "tools/lock.sh")
"$uv" pip compile pyproject.toml --extra test "${common[@]}" -o requirements/lock.txt "$@"
"$uv" pip compile pyproject.toml "${common[@]}" -c requirements/lock.txt -o requirements/deploy.txt
echo "wrote requirements/lock.txt ($(grep -c '==' requirements/lock.txt) pins) and" \
     "requirements/deploy.txt ($(grep -c '==' requirements/deploy.txt) pins)"
