"""Times `deplight plan` per committed stack: median wall time and peak memory over N runs.

Each run is a fresh process (what a user or CI pays), so import time is included.
Usage: python benchmarks/plan.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    stacks = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))
    print(f"deplight plan, {args.runs} runs per stack, fresh process each")
    for stack in stacks:
        times, peaks = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "deplight.cli", "plan", "--stack", stack],
                cwd=ROOT, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            # wait4 gives this child's own rusage: ru_maxrss is its peak RSS in KiB on Linux
            _, status, usage = os.wait4(proc.pid, 0)
            times.append(time.perf_counter() - start)
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"deplight plan --stack {stack} failed")
            peaks.append(usage.ru_maxrss)
        print(
            f"  {stack:8s} median {statistics.median(times):6.2f} s  "
            f"min {min(times):6.2f} s  max {max(times):6.2f} s  "
            f"peak RSS {max(peaks) / 1024:7.1f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
