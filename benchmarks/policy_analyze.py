"""Per-resource cost of the policy pack's Analyze call (target: under 5 ms per resource).

Starts the pack as the Pulumi CLI does, then sends every resource of the prod program to
``Analyze`` over gRPC several times and prints the median and p95 per call, plus the cost of the
pure rules in process (no gRPC).
Usage: python benchmarks/policy_analyze.py [--rounds 20] [--stack prod]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pulumi.runtime.proto import analyzer_pb2  # noqa: E402

from deplight.check import _struct, analyzer, evaluate_in_process, load_policy_config  # noqa: E402
from deplight.harness import run_program  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--stack", default="prod")
    args = parser.parse_args()
    run = run_program(args.stack)
    custom = [r for r in run.resources if r.custom]
    requests = [analyzer_pb2.AnalyzeRequest(type=r.type, properties=_struct(r.inputs), urn=r.urn,
                                            name=r.name) for r in custom]  # fmt: skip
    per_call: list[float] = []
    with analyzer() as stub:
        for request in requests:  # warm-up
            stub.Analyze(request)
        for _ in range(args.rounds):
            for request in requests:
                start = time.perf_counter()
                stub.Analyze(request)
                per_call.append((time.perf_counter() - start) * 1000)
    per_call.sort()
    config, _ = load_policy_config(args.stack)
    start = time.perf_counter()
    for _ in range(args.rounds):
        evaluate_in_process(run, config)
    in_process = (time.perf_counter() - start) * 1000 / args.rounds / len(custom)
    print(f"stack {args.stack}: {len(custom)} resources x {args.rounds} rounds over gRPC")
    print(f"  Analyze per resource: median {statistics.median(per_call):.2f} ms, "
          f"p95 {per_call[int(len(per_call) * 0.95)]:.2f} ms, max {per_call[-1]:.2f} ms "
          "(target < 5 ms)")  # fmt: skip
    print(f"  all rules in process (incl. stack rules): {in_process:.3f} ms per resource")
    return 0


if __name__ == "__main__":
    sys.exit(main())
