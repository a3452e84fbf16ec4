#!/usr/bin/env bash
# Mutation testing of rollback/checks.py and policies/rules/ (configured in pyproject.toml,
# [tool.mutmut]). Not part of CI: it runs the fast tests that cover those files once per mutant,
# which takes minutes. Needs the development environment (the README's setup command).
#
#   tools/mutation.sh                  a fresh run; prints the score and every surviving mutant
#   JOBS=4 TIME_LIMIT=1800 tools/mutation.sh
#
# Then `.venv/bin/mutmut show <name>` prints a survivor's diff. A survivor is a change no test
# notices: add the test that kills it, or delete the code if it is dead.
set -euo pipefail
cd "$(dirname "$0")/.."

MUTMUT_VERSION=3.8.1
JOBS=${JOBS:-2}
TIME_LIMIT=${TIME_LIMIT:-3600}   # seconds; the run stops there and reports what it has

if [ ! -x .venv/bin/python ]; then
    echo "no .venv: run the README's setup command first" >&2
    exit 2
fi
if [ "$(.venv/bin/python -m pip show mutmut 2>/dev/null | sed -n 's/^Version: //p')" != "$MUTMUT_VERSION" ]; then
    .venv/bin/pip install --quiet "mutmut==$MUTMUT_VERSION"
fi

rm -rf mutants   # mutmut caches results in mutants/: start from the current sources
mkdir mutants
status=0
timeout "$TIME_LIMIT" .venv/bin/mutmut run --max-children "$JOBS" >mutants/run.log 2>&1 || status=$?
if [ "$status" -eq 124 ]; then
    echo "stopped after ${TIME_LIMIT} s: the figures below cover the mutants run so far" >&2
elif [ "$status" -ne 0 ]; then
    tail -n 20 mutants/run.log >&2
    exit "$status"
fi
.venv/bin/mutmut export-cicd-stats >/dev/null
.venv/bin/python - <<'PY'
import json

s = json.load(open("mutants/mutmut-cicd-stats.json"))
caught = s["killed"] + s["timeout"]
run = caught + s["survived"] + s["no_tests"] + s["suspicious"] + s["segfault"]
print(f"mutants: {s['total']}  killed: {s['killed']}  timeout: {s['timeout']}  "
      f"survived: {s['survived']}  no tests: {s['no_tests']}  suspicious: {s['suspicious']}  "
      f"skipped: {s['skipped']}  not run: {s['total'] - s['skipped'] - run}")
print(f"mutation score: {caught}/{run} = {100 * caught / run:.1f}% of the mutants run" if run else
      "mutation score: no mutant was run")
reached = caught + s["survived"]
print(f"of the mutants a selected test reaches: {caught}/{reached} = {100 * caught / reached:.1f}%"
      if reached else "no mutant is reached by a selected test")
PY
echo "not killed (.venv/bin/mutmut show <name> for the diff):"
.venv/bin/mutmut results | grep -v ': not checked$' || true
