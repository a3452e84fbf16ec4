"""Times `deplight analyze` over the fixture services: cold (rules run, result stored) and cached
(the stored result found by re-hashing the files the analysis read). Target: cached < 50 ms.

In-process figures are the analysis itself; the last column is a whole `deplight analyze --json`
in a fresh process with a warm cache (interpreter start and imports included), once per service.
Usage: python benchmarks/analyze.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deplight.analyze.cache import LocalCache  # noqa: E402
from deplight.analyze.engine import analyze  # noqa: E402

SERVICES = ROOT / "tests" / "fixtures" / "services"
TARGET_MS = 50.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(f"deplight analyze, median of {args.runs} runs per service (ms)")
    print(f"{'service':<20} {'cold':>8} {'cached':>8} {'process':>9}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for service in sorted(p for p in SERVICES.iterdir() if p.is_dir()):
            cold, warm = [], []
            for i in range(args.runs):
                cache = LocalCache(Path(tmp) / f"{service.name}-{i}")  # empty: a cold run
                start = time.perf_counter()
                first = analyze(service, cache=cache)
                cold.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                again = analyze(service, cache=cache)
                warm.append((time.perf_counter() - start) * 1000)
                assert not first.cache_hit and again.cache_hit, service.name
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "deplight.cli", "analyze", str(service), "--json",
                            "--cache-dir", str(Path(tmp) / f"{service.name}-0")],
                           cwd=ROOT, stdout=subprocess.DEVNULL, check=True)  # fmt: skip
            process = (time.perf_counter() - start) * 1000
            cached = statistics.median(warm)
            worst = max(worst, cached)
            print(f"{service.name:<20} {statistics.median(cold):>8.2f} {cached:>8.2f} "
                  f"{process:>9.0f}")  # fmt: skip
    verdict = "met" if worst < TARGET_MS else "MISSED"
    print(f"slowest cached analysis: {worst:.2f} ms (target < {TARGET_MS:.0f} ms: {verdict})")
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
