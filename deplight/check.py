"""``deplight check``: the policy pack over a stack's resources, offline, as the CLI would run it.

The program runs under mocks (:mod:`deplight.harness`); then the pack is started exactly as
``pulumi preview --policy-pack policies`` starts it (``policies/__main__.py`` prints its gRPC port)
and receives ``Configure`` (the stack's ``policies/config/<stack>.json``), one ``Analyze`` per
resource (its inputs) and one ``AnalyzeStack`` (every resource's outputs) over the analyzer
protocol. So what passes ``check`` passes ``pulumi preview --policy-pack``: same pack, same
protocol, same property names. :func:`evaluate_in_process` runs the same policies without gRPC;
a test proves both give the same violations.
"""

from __future__ import annotations

import argparse
import json
import logging
import select
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

import grpc
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

import policies
from components.contract import EXIT_FAILED, EXIT_OK
from deplight.cli_common import add_stack_arguments, project_dir
from deplight.harness import ProgramRun, Registered, StackFileError
from policies.rules.stack_keys import STACK_FILE

POLICIES_DIR = Path(policies.__file__).resolve().parent
"""The policy pack this package ships (``PulumiPolicy.yaml``, ``__main__.py``, ``rules/``)."""
log = logging.getLogger(__name__)


def policies_dir_of(project_dir: Path) -> Path:
    """The project's own pack (``policies/`` with a ``__main__.py``: this repository's pack, or the
    wiring ``deplight init`` writes), else the installed one."""
    own = project_dir / "policies"
    return own if (own / "__main__.py").is_file() else POLICIES_DIR


LEVELS = {"advisory": 0, "mandatory": 1, "disabled": 2, "remediate": 3}
LEVEL_NAMES = {v: k for k, v in LEVELS.items()}
STARTUP_TIMEOUT_S = 60


@dataclass(frozen=True)
class Violation:
    """One policy violation, attributed to a resource."""

    policy: str
    level: str
    message: str
    resource: str
    type: str
    urn: str


def load_policy_config(
    stack: str, policies_dir: Path = POLICIES_DIR
) -> tuple[dict[str, Any], Path | None]:
    """The stack's policy config (``{policy: level | {enforcementLevel, ...}}``); empty = strictest."""
    path = policies_dir / "config" / f"{stack}.json"
    if not path.is_file():
        return {}, None
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise StackFileError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise StackFileError(f"{path}: expected an object of policy name -> config, found {doc!r}")
    return doc, path


def split_config(entry: Any) -> tuple[str | None, dict[str, Any]]:
    """``"advisory"`` or ``{"enforcementLevel": ..., **properties}`` -> (level, properties)."""
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, Mapping):
        props = {k: v for k, v in entry.items() if k != "enforcementLevel"}
        return entry.get("enforcementLevel"), props
    return None, {}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(_jsonable(dict(value)), struct_pb2.Struct())


@contextmanager
def analyzer(policies_dir: Path = POLICIES_DIR) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """Starts the pack as the Pulumi CLI does and yields a gRPC stub to it."""
    # -u as the Pulumi CLI runs packs: the pack prints its port with a plain print(), which a
    # block-buffered pipe would hold back forever when PYTHONUNBUFFERED is not set.
    proc = subprocess.Popen(
        [sys.executable, "-u", str(policies_dir / "__main__.py")],
        cwd=policies_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], STARTUP_TIMEOUT_S)
        line = proc.stdout.readline().decode().strip() if ready else ""
        log.debug("policy pack %s: analyzer on port %s", policies_dir, line)
        if not line.isdigit():
            err = proc.stderr.read().decode() if proc.stderr and proc.poll() is not None else ""
            raise RuntimeError(f"the policy pack did not start (printed {line!r}): {err}")
        channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(channel).result(timeout=STARTUP_TIMEOUT_S)
        try:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
        finally:
            channel.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def evaluate_grpc(run: ProgramRun, config: Mapping[str, Any],
                  policies_dir: Path = POLICIES_DIR) -> list[Violation]:  # fmt: skip
    """Every violation the pack reports for ``run``, over the analyzer protocol."""
    with analyzer(policies_dir) as stub:
        configure(stub, config)
        return analyze(stub, run)


def configure(stub: analyzer_pb2_grpc.AnalyzerStub, config: Mapping[str, Any]) -> None:
    """Sends a stack's policy config (``policies/config/<stack>.json``) to a running pack."""
    policy_config = {}
    for name, entry in config.items():
        level, props = split_config(entry)
        policy_config[name] = analyzer_pb2.PolicyConfig(
            enforcementLevel=cast(
                "analyzer_pb2.EnforcementLevel.ValueType",
                LEVELS[level] if level else LEVELS["mandatory"],
            ),
            properties=_struct(props),
        )
    if policy_config:
        stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=policy_config))


def analyze(stub: analyzer_pb2_grpc.AnalyzerStub, run: ProgramRun) -> list[Violation]:
    """One ``Analyze`` per resource and one ``AnalyzeStack`` for ``run``, on a configured pack."""
    custom = [r for r in run.resources if r.custom]
    by_urn = {r.urn: r for r in custom}
    out: list[Violation] = []

    def collect(diags: Sequence[Any], default: Registered | None) -> None:
        for d in diags:
            res = by_urn.get(d.urn) or default
            out.append(Violation(
                policy=d.policyName, level=LEVEL_NAMES.get(d.enforcementLevel, "advisory"),
                message=d.message, resource=res.name if res else "(stack)",
                type=res.type if res else "pulumi:pulumi:Stack", urn=res.urn if res else "",
            ))  # fmt: skip

    for r in custom:
        response = stub.Analyze(analyzer_pb2.AnalyzeRequest(
            type=r.type, properties=_struct(r.inputs), urn=r.urn, name=r.name,
        ))  # fmt: skip
        collect(response.diagnostics, r)
    response = stub.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[
        analyzer_pb2.AnalyzerResource(type=r.type, properties=_struct(r.outputs), urn=r.urn,
                                      name=r.name, parent=r.parent)
        for r in custom
    ]))  # fmt: skip
    collect(response.diagnostics, None)
    return out


def evaluate_in_process(run: ProgramRun, config: Mapping[str, Any]) -> list[Violation]:
    """The same policies called directly (no analyzer process): for tests and benchmarks."""
    from pulumi_policy import (
        EnforcementLevel,
        PolicyCustomTimeouts,
        PolicyResource,
        PolicyResourceOptions,
        ResourceValidationArgs,
        ResourceValidationPolicy,
        StackValidationArgs,
        StackValidationPolicy,
    )

    from policies.rules.pack import ALL_POLICIES

    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    custom = [r for r in run.resources if r.custom]
    out: list[Violation] = []
    for policy in ALL_POLICIES:
        level, props = split_config(config.get(policy.name))
        level = level or (policy.enforcement_level or EnforcementLevel.MANDATORY).value
        if level == "disabled":
            continue
        cfg = props or None
        if isinstance(policy, ResourceValidationPolicy):
            for r in custom:
                found: list[str] = []
                args = ResourceValidationArgs(r.type, _jsonable(dict(r.inputs)), r.urn, r.name,
                                              opts, None, cfg)  # fmt: skip
                policy.validate(args, lambda m, _u=None, f=found: f.append(m))  # type: ignore[misc]
                out += [Violation(policy.name, level, m, r.name, r.type, r.urn) for m in found]
        elif isinstance(policy, StackValidationPolicy):
            resources = [PolicyResource(r.type, _jsonable(dict(r.outputs)), r.urn, r.name, opts,
                                        None, None, [], {}) for r in custom]  # fmt: skip
            reported: list[tuple[str, str | None]] = []

            def report(
                m: str, u: str | None = None, rep: list[tuple[str, str | None]] = reported
            ) -> None:
                rep.append((m, u))

            policy.validate(StackValidationArgs(resources, cfg), report)
            by_urn = {r.urn: r for r in custom}
            for m, u in reported:
                res = by_urn.get(u or "")
                out.append(Violation(policy.name, level, m, res.name if res else "(stack)",
                                     res.type if res else "pulumi:pulumi:Stack",
                                     res.urn if res else ""))  # fmt: skip
    return out


def render_text(stack: str, violations: Sequence[Violation], config_path: Path | None,
                resource_count: int) -> str:  # fmt: skip
    lines = [f"Policy check of stack {stack}: {resource_count} resources, "
             f"config {config_path.name if config_path else 'none (strictest)'}"]  # fmt: skip
    by_resource: dict[tuple[str, str], list[Violation]] = {}
    for v in violations:
        by_resource.setdefault((v.resource, v.type), []).append(v)
    for (name, type_), items in sorted(by_resource.items()):
        lines.append(f"  {name} ({type_})")
        for v in sorted(items, key=lambda x: (x.level != "mandatory", x.policy)):
            # the pack prefixes each message with the policy's description line
            lines.append(f"    [{v.level}] {v.policy}: {v.message.splitlines()[-1]}")
    mandatory = sum(v.level == "mandatory" for v in violations)
    advisory = len(violations) - mandatory
    verdict = "FAILED" if mandatory else "passed"
    lines.append(f"{verdict}: {mandatory} mandatory, {advisory} advisory violation(s)")
    return "\n".join(lines)


def _check(args: argparse.Namespace) -> int:
    from deplight.harness import run_program

    root = project_dir(args.project_dir)
    run = run_program(args.stack, project_dir=root)
    config, path = load_policy_config(args.stack, root / "policies")
    stack_file = f"Pulumi.{args.stack}.yaml"
    violations = [replace(v, message=v.message.replace(STACK_FILE, stack_file))
                  for v in evaluate_grpc(run, config, policies_dir_of(root))]  # fmt: skip
    mandatory = sum(v.level == "mandatory" for v in violations)
    if args.json:
        print(json.dumps({
            "stack": args.stack, "config": str(path) if path else None,
            "resources": sum(1 for r in run.resources if r.custom),
            "mandatory": mandatory, "advisory": len(violations) - mandatory,
            "passed": mandatory == 0, "violations": [asdict(v) for v in violations],
        }, indent=2))  # fmt: skip
    else:
        print(render_text(args.stack, violations, path, sum(1 for r in run.resources if r.custom)))
    return EXIT_FAILED if mandatory else EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = sub.add_parser(
        "check",
        help="run the policy pack over a stack's resources (offline, no credentials)",
        description="Runs the program under mocks, then the policy pack (policies/) over every "
        "resource through the same analyzer protocol `pulumi preview --policy-pack` uses, with "
        "policies/config/STACK.json. Exit 1 on a mandatory violation, 0 otherwise, 2 on bad "
        "configuration.",
    )
    add_stack_arguments(check)
    check.add_argument("--json", action="store_true", help="print JSON")
    check.set_defaults(func=_check)
