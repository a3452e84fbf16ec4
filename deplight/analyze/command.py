"""``deplight analyze PATH``: what a service checkout needs from Deplight, with the evidence.

Exit codes: 0 ok; 1 failed (the model call failed, the Dockerfile could not be written or
would overwrite a file); 2 bad input (PATH, --model, --stack, cache options). With ``--json``
exactly one JSON document is printed, errors included.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.contract import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from deplight.analyze.report import Report

MARKER = "<!-- deplight-analyze -->"
"""First line of the Markdown report: the PR workflow finds its earlier comment by it."""


class BadInputError(Exception):
    """Input the command cannot work with; exit 2."""


class _JsonErrorParser(argparse.ArgumentParser):
    """Usage errors come out as one JSON document when ``--json`` is among the arguments."""

    _json = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._json = args is not None and "--json" in args
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and self._json:
            self.error("unrecognized arguments: " + " ".join(extras))
        return parsed, extras

    def error(self, message: str) -> Any:
        if self._json:
            print(json.dumps({"ok": False, "exit_code": EXIT_BAD_INPUT,
                              "error": f"deplight analyze: {message}"}, indent=2))  # fmt: skip
            sys.exit(EXIT_BAD_INPUT)
        super().error(message)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # add_parser builds the subcommand's parser with the action's parser class; this one
    # subcommand gets the JSON-aware class, the others keep theirs.
    previous = sub._parser_class
    sub._parser_class = _JsonErrorParser
    try:
        p = sub.add_parser(
            "analyze",
            help="detect a service's stack, port, health endpoint and size; suggest settings and "
            "write a Dockerfile",
            description="Reads a checkout of a service and reports, with the file and line each "
            "answer rests on: language and version, framework, dependencies and lock file, build "
            "and start commands, port, health endpoint and a Fargate cpu/memory size. Prints the "
            "deplight:service block for Pulumi.<env>.yaml (validated by the program's settings "
            "parser). Deterministic rules; --model asks Amazon Bedrock only about what the rules "
            "left undecided. Results are cached by the hash of the files read. Exit 0 ok, "
            "1 failed, 2 bad input.",
        )
    finally:
        sub._parser_class = previous
    p.add_argument("path", metavar="PATH", help="the service checkout (a directory)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print one JSON document")
    fmt.add_argument("--markdown", action="store_true",
                     help="print Markdown (the pull-request comment)")  # fmt: skip
    p.add_argument("--write", action="store_true",
                   help="write PATH/Dockerfile and PATH/.dockerignore")  # fmt: skip
    p.add_argument("--force", action="store_true", help="with --write: replace existing files")
    p.add_argument("--stack", action="append", default=[], metavar="STACK",
                   help="compare with the committed deplight:service of Pulumi.STACK.yaml "
                   "(repeatable)")  # fmt: skip
    p.add_argument("--all-stacks", action="store_true",
                   help="compare with every Pulumi.*.yaml in the project directory")  # fmt: skip
    p.add_argument("--project-dir", help="the Pulumi project holding the stack files "
                   "(default: as for the other commands)")  # fmt: skip
    p.add_argument("--model", metavar="bedrock:MODEL_ID",
                   help="ask this Amazon Bedrock model about what the rules leave undecided "
                   "(off by default; sends the files the rules read to Bedrock)")  # fmt: skip
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    cache.add_argument("--cache-dir", help="cache directory (default: $XDG_CACHE_HOME/deplight/"
                       "analyze or ~/.cache/deplight/analyze)")  # fmt: skip
    cache.add_argument("--cache-table", metavar="TABLE",
                       help="cache in this DynamoDB table instead: the stack's audit table "
                       "(output audit_table_name)")  # fmt: skip
    p.set_defaults(func=run)


@dataclass
class Outcome:
    path: str
    exit_code: int = EXIT_OK
    error: str | None = None
    report: Report | None = None
    block: str | None = None
    comparisons: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)
    files_read: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.exit_code == EXIT_OK,
            "exit_code": self.exit_code,
            "error": self.error,
            "report": self.report.to_dict() if self.report else None,
            "settings_block": self.block,
            "comparisons": self.comparisons,
            "written": self.written,
            "cache": self.cache,
            "files_read": self.files_read,
            "seconds": round(self.seconds, 6),
        }


def _service_dir(value: str) -> Path:
    path = Path(value)
    if not path.exists():
        raise BadInputError(f"PATH {value}: no such file or directory")
    if not path.is_dir():
        raise BadInputError(f"PATH {value}: not a directory (expected a checkout of the service)")
    return path.resolve()


def _region() -> str:
    import boto3

    region: str | None = boto3.session.Session().region_name
    if not region:
        raise BadInputError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)")
    return region


def _cache(args: argparse.Namespace) -> Any:
    from deplight.analyze.cache import DynamoCache, LocalCache, default_cache_dir

    if args.no_cache:
        return None
    if args.cache_table:
        from rollback.aws import Aws

        try:
            return DynamoCache(Aws(_region()).client("dynamodb"), args.cache_table)
        except BadInputError as exc:
            raise BadInputError(f"--cache-table: {exc}") from None
    if args.cache_dir:
        directory = Path(args.cache_dir)
        if directory.exists() and not directory.is_dir():
            raise BadInputError(f"--cache-dir {args.cache_dir}: not a directory")
        return LocalCache(directory)
    return LocalCache(default_cache_dir())


def _model(args: argparse.Namespace) -> Any:
    if not args.model:
        return None
    from deplight.analyze.model import BedrockAssist, parse_model_spec
    from rollback.aws import Aws

    try:
        model_id = parse_model_spec(args.model)
    except ValueError as exc:
        raise BadInputError(str(exc)) from None
    try:
        client = Aws(_region()).client("bedrock-runtime")
    except BadInputError as exc:
        raise BadInputError(f"--model: {exc}") from None
    return BedrockAssist(model_id, client)


def _stack_configs(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Each compared stack's committed config, read and validated before anything else runs."""
    if not args.stack and not args.all_stacks:
        return {}
    from components.settings import SettingsError
    from deplight.cli_common import project_dir
    from deplight.harness import StackFileError, read_stack_config, settings_for

    try:
        root = project_dir(args.project_dir)
        stacks = list(args.stack)
        if args.all_stacks:
            stacks += sorted(p.name[len("Pulumi."):-len(".yaml")] for p in
                             root.glob("Pulumi.*.yaml"))  # fmt: skip
            if not stacks:
                raise StackFileError(f"--all-stacks: no Pulumi.*.yaml in {root}")
        configs = {}
        for stack in dict.fromkeys(stacks):
            config = read_stack_config(stack, root)
            settings_for(stack, config)
            configs[stack] = config
    except StackFileError as exc:
        raise BadInputError(str(exc)) from None
    except SettingsError as exc:
        raise BadInputError(
            f"invalid configuration for stack {stack}: " + "; ".join(exc.errors)
        ) from None
    return configs


def execute(args: argparse.Namespace) -> Outcome:
    """Everything but printing."""
    from components.settings import SettingsError
    from deplight.analyze.cache import CacheError
    from deplight.analyze.dockerfile import DockerfileError, WriteRefusedError, render, write
    from deplight.analyze.engine import analyze
    from deplight.analyze.stack import compare, merged_settings, settings_block, validate_block
    from deplight.harness import settings_for

    out = Outcome(path=args.path)
    try:
        root = _service_dir(args.path)
        if args.force and not args.write:
            raise BadInputError("--force only applies with --write")
        configs = _stack_configs(args)
        cache = _cache(args)
        model = _model(args)
    except BadInputError as exc:
        out.exit_code, out.error = EXIT_BAD_INPUT, str(exc)
        return out

    try:
        analysis = analyze(root, cache=cache, model=model)
    except CacheError as exc:
        out.exit_code, out.error = EXIT_BAD_INPUT, str(exc)
        return out
    report = out.report = analysis.report
    out.cache = {"backend": cache.description if cache else None, "hit": analysis.cache_hit,
                 "key": analysis.cache_key}  # fmt: skip
    out.files_read, out.seconds = analysis.files_read, analysis.seconds
    if analysis.model_error:
        out.exit_code, out.error = EXIT_FAILED, f"--model: {analysis.model_error}"

    out.block = settings_block(report)
    if out.block:
        try:
            validate_block(out.block)
        except SettingsError as exc:  # the rules suggested something the program refuses
            out.exit_code = EXIT_FAILED
            out.error = "suggested settings are invalid: " + "; ".join(exc.errors)
            out.block = None
    for stack, config in configs.items():
        committed = settings_for(stack, config).service
        items = [m.to_dict() for m in compare(report, committed)]
        if out.block:
            try:
                merged_settings(stack, config, out.block)
            except SettingsError as exc:
                items.append({"key": "service", "committed": None, "suggested": None,
                              "severity": "error", "why": "the stack with the suggested block "
                              "merged in is invalid: " + "; ".join(exc.errors)})  # fmt: skip
        out.comparisons[stack] = items

    if args.write and out.exit_code == EXIT_OK:
        try:
            files = render(report)
            out.written = [p.name for p in write(root, files, force=args.force)]
        except (DockerfileError, WriteRefusedError) as exc:
            out.exit_code, out.error = EXIT_FAILED, str(exc)
        except OSError as exc:
            out.exit_code, out.error = EXIT_FAILED, f"--write: cannot write into {root}: {exc}"
    return out


def run(args: argparse.Namespace) -> int:
    from deplight.analyze.render import render_markdown, render_text

    out = execute(args)
    if args.json:
        print(json.dumps(out.to_dict(), indent=2))
    elif out.report is None:
        print(f"deplight analyze: {out.error}", file=sys.stderr)
    else:
        print(render_markdown(out) if args.markdown else render_text(out))
        if out.error:
            print(f"deplight analyze: {out.error}", file=sys.stderr)
    return out.exit_code
