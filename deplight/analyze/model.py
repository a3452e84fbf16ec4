"""Optional model assistance (``--model bedrock:<model-id>``): Amazon Bedrock is asked only about
what the rules left undecided, through the Converse API with a tool whose JSON schema is the
answer's shape. Every field of the answer is validated; a field the rules decided is never
replaced, and an answer whose evidence does not exist in the checkout is rejected.
"""

from __future__ import annotations

import json
import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from components.settings import FARGATE_SIZES
from deplight.analyze.engine import ModelError
from deplight.analyze.report import FIELDS, FRAMEWORKS, LANGUAGES, MODEL, Evidence, Finding, Report
from deplight.analyze.workspace import Workspace, evidence

MODEL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,2047}$")
TOOL_NAME = "report_service_facts"
ASKABLE = ("language", "version", "framework", "build", "start", "port", "health_check_path",
           "resources")  # fmt: skip
"""What a model may answer; ``dependencies`` (the lock file) is never guessed."""
MAX_FILE_CHARS = 6_000
MAX_CONTEXT_CHARS = 60_000
MAX_LISTING = 400
MAX_TOP_LEVEL_FILES = 10

SYSTEM_PROMPT = (
    "You analyse the checkout of one HTTP service that will run as a container on AWS ECS "
    "Fargate. Answer only the fields you are asked, by calling the tool once. Every answer must "
    "cite evidence: a file from the listing and the 1-based line that shows it. Answer null when "
    "the files do not tell; do not guess."
)


def parse_model_spec(spec: str) -> str:
    """``bedrock:<model-id>`` -> the model id; ValueError naming what is wrong otherwise."""
    provider, sep, model_id = spec.partition(":")
    if provider != "bedrock" or not sep:
        raise ValueError(f"--model: expected bedrock:<model-id>, found {spec!r}")
    if not MODEL_ID_RE.fullmatch(model_id):
        raise ValueError(f"--model: {model_id!r} is not a Bedrock model id or ARN "
                         "(e.g. bedrock:anthropic.claude-3-5-sonnet-20240620-v1:0)")  # fmt: skip
    return model_id


def _value_schema(field: str, report: Report) -> dict[str, Any]:
    language = report.value("language")
    frameworks = (list(FRAMEWORKS[language]) if language in FRAMEWORKS else
                  sorted({f for fws in FRAMEWORKS.values() for f in fws}))  # fmt: skip
    schemas: dict[str, dict[str, Any]] = {
        "language": {"type": ["string", "null"], "enum": [*LANGUAGES, None]},
        "version": {"type": ["string", "null"], "pattern": r"^\d+(\.\d+)?$"},
        "framework": {"type": ["string", "null"], "enum": [*frameworks, None]},
        "build": {"type": ["string", "null"], "minLength": 1, "maxLength": 300},
        "start": {
            "type": ["array", "null"],
            "items": {"type": "string", "minLength": 1, "maxLength": 200},
            "minItems": 1,
            "maxItems": 30,
        },  # fmt: skip
        "port": {"type": ["integer", "null"], "minimum": 1, "maximum": 65535},
        "health_check_path": {"type": ["string", "null"], "pattern": r"^/[^\s?#]{0,200}$"},
        "resources": {
            "type": ["object", "null"],
            "properties": {
                "cpu": {"type": "integer", "enum": list(FARGATE_SIZES)},
                "memory": {"type": "integer", "minimum": 512},
            },  # fmt: skip
            "required": ["cpu", "memory"],
            "additionalProperties": False,
        },
    }
    return schemas[field]


def answer_schema(fields: list[str], report: Report) -> dict[str, Any]:
    """The tool's input schema: one object per asked field with value, reason and evidence."""
    item: dict[str, Any] = {
        "type": "object",
        "properties": {
            "reason": {"type": "string", "maxLength": 500},
            "evidence": {
                "type": "array",
                "maxItems": 5,
                "items": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string"},
                        "line": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "required": ["file"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["value", "reason", "evidence"],
        "additionalProperties": False,
    }
    props = {}
    for field in fields:
        props[field] = {**item, "properties": {"value": _value_schema(field, report),
                                               **item["properties"]}}  # fmt: skip
    return {"type": "object", "properties": props, "required": list(fields),
            "additionalProperties": False}  # fmt: skip


def build_prompt(report: Report, ws: Workspace, fields: list[str]) -> str:
    """What the rules decided (authoritative), the listing, and the files the rules read plus a
    few top-level files, each cut to ``MAX_FILE_CHARS``."""
    for rel in [f for f in ws.files if "/" not in f][:MAX_TOP_LEVEL_FILES]:
        ws.read(rel)  # read through the workspace so the cache key covers them
    decided = {f: report.value(f) for f in FIELDS if report[f].decided}
    parts = [
        "Fields to answer: " + ", ".join(fields) + ".",
        "Already decided by deterministic rules (do not contradict): "
        + json.dumps(decided, sort_keys=True),
        "Files in the checkout:\n"
        + "\n".join(ws.files[:MAX_LISTING])
        + ("\n..." if len(ws.files) > MAX_LISTING else ""),
    ]
    budget = MAX_CONTEXT_CHARS
    for rel in sorted(ws.read_hashes):
        lines = (ws.read(rel) or "").splitlines()
        numbered = "\n".join(f"{i}: {line}" for i, line in enumerate(lines, start=1))
        chunk = f"--- {rel} (numbered lines)\n{numbered[:MAX_FILE_CHARS]}"
        if len(chunk) > budget:
            break
        budget -= len(chunk)
        parts.append(chunk)
    return "\n\n".join(parts)


def build_request(model_id: str, report: Report, ws: Workspace, fields: list[str]
                  ) -> dict[str, Any]:  # fmt: skip
    return {
        "modelId": model_id,
        "system": [{"text": SYSTEM_PROMPT}],
        "messages": [{"role": "user", "content": [{"text": build_prompt(report, ws, fields)}]}],
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": TOOL_NAME,
                        "description": "Report the requested facts about the service, with evidence.",
                        "inputSchema": {"json": answer_schema(fields, report)},
                    }
                }
            ],
            "toolChoice": {"tool": {"name": TOOL_NAME}},
        },  # fmt: skip
        "inferenceConfig": {"maxTokens": 2000, "temperature": 0.0},
    }


def tool_input(response: dict[str, Any]) -> dict[str, Any]:
    """The input of the model's ``report_service_facts`` call in a Converse response."""
    content = (((response or {}).get("output") or {}).get("message") or {}).get("content") or []
    for block in content:
        use = block.get("toolUse") if isinstance(block, dict) else None
        if use and use.get("name") == TOOL_NAME:
            if not isinstance(use.get("input"), dict):
                raise ModelError(f"the {TOOL_NAME} call's input is not an object")
            tool_input: dict[str, Any] = use["input"]
            return tool_input
    raise ModelError(f"the model did not call {TOOL_NAME} (stopReason "
                     f"{(response or {}).get('stopReason')!r})")  # fmt: skip


def _check_value(field: str, value: Any, report: Report) -> tuple[Any, str | None]:
    """(normalised value, None) or (None, what is wrong)."""

    def bad(expected: str) -> tuple[Any, str]:
        return None, f"expected {expected}, found {value!r}"

    if field == "language":
        return (value, None) if value in LANGUAGES else bad("one of " + ", ".join(LANGUAGES))
    if field == "version":
        ok = bool(isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value))
        return (value, None) if ok else bad("a version such as 3.12 or 21")
    if field == "framework":
        language = report.value("language")
        allowed = FRAMEWORKS.get(language, ())
        if language is None:
            return None, "no language is known to check the framework against"
        return (value, None) if value in allowed else bad(f"a {language} framework "
                                                          f"({', '.join(allowed)})")  # fmt: skip
    if field == "build":
        ok = isinstance(value, str) and 0 < len(value) <= 300 and "\n" not in value
        return (value, None) if ok else bad("a one-line build command")
    if field == "start":
        ok = (
            isinstance(value, list)
            and 0 < len(value) <= 30
            and all(isinstance(a, str) and 0 < len(a) <= 200 and "\n" not in a for a in value)
        )
        return (list(value), None) if ok else bad("a command as a list of 1-30 arguments")
    if field == "port":
        ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535
        return (value, None) if ok else bad("a port in 1-65535")
    if field == "health_check_path":
        ok = bool(isinstance(value, str) and re.fullmatch(r"/[^\s?#]{0,200}", value))
        return (value, None) if ok else bad("an HTTP path starting with /")
    if field == "resources":
        if not isinstance(value, dict) or set(value) != {"cpu", "memory"}:
            return bad("{cpu, memory}")
        cpu, memory = value["cpu"], value["memory"]
        if cpu not in FARGATE_SIZES or memory not in FARGATE_SIZES[cpu]:
            return bad("a cpu/memory pair Fargate accepts")
        return {"cpu": cpu, "memory": memory}, None
    return None, "not a field the model may answer"


def _check_evidence(items: Any, ws: Workspace) -> tuple[tuple[Evidence, ...], str | None]:
    if not isinstance(items, list):
        return (), f"evidence must be a list, found {items!r}"
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("file"), str):
            return (), f"evidence entry {item!r} has no file"
        rel, line = item["file"].removeprefix("./"), item.get("line")
        if not ws.exists(rel):
            return (), f"evidence file {rel!r} is not in the checkout"
        if line is None:
            out.append(evidence(rel, None, "file present"))
            continue
        lines = ws.lines(rel)
        if isinstance(line, bool) or not isinstance(line, int) or not 1 <= line <= len(lines):
            return (), f"evidence line {line!r} is not a line of {rel} (1-{len(lines)})"
        out.append(evidence(rel, line, lines[line - 1]))  # the file's text, not the model's
    return tuple(out), None


def apply_answer(report: Report, ws: Workspace, asked: list[str], answer: dict[str, Any]) -> None:
    """Merges the valid answers for ``asked`` fields into ``report`` (source ``model``); notes
    every rejected or ignored one."""
    for key in sorted(set(answer) - set(asked)):
        report.notes.append(
            f"model answer for {key} ignored: "
            + ("the rules decided it" if key in FIELDS else "not a field")
        )
    for field in [f for f in FIELDS if f in asked]:  # language before framework
        item = answer.get(field)
        if not isinstance(item, dict):
            if item is not None:
                report.notes.append(f"model answer for {field} rejected: not an object")
            continue
        if item.get("value") is None:
            continue  # the model cannot tell either
        value, problem = _check_value(field, item["value"], report)
        evs: tuple[Evidence, ...] = ()
        if problem is None:
            evs, problem = _check_evidence(item.get("evidence", []), ws)
        if problem is None and not evs and field != "resources":
            problem = "no evidence"
        reason = item.get("reason")
        if problem is None and not isinstance(reason, str):
            problem = "no reason"
        if problem or not isinstance(reason, str):  # a non-string reason has set the problem
            report.notes.append(f"model answer for {field} rejected: {problem}")
            continue
        report.findings[field] = Finding(value, f"model: {reason.strip()[:500]}", evs, MODEL)


class BedrockAssist:
    """Asks a Bedrock model, through ``client`` (a boto3 ``bedrock-runtime`` client)."""

    def __init__(self, model_id: str, client: Any) -> None:
        self.model_id = model_id
        self.client = client

    def fill(self, report: Report, ws: Workspace) -> None:
        fields = [f for f in report.undecided if f in ASKABLE]
        if not fields:
            return
        request = build_request(self.model_id, report, ws, fields)
        try:
            response = self.client.converse(**request)
        except (ClientError, BotoCoreError) as exc:
            raise ModelError(f"Bedrock Converse with {self.model_id}: {exc}") from exc
        apply_answer(report, ws, fields, tool_input(response))
