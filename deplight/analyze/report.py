"""What ``deplight analyze`` found about a service, each answer with the evidence it rests on.

A :class:`Finding` is one answer (language, port, ...). ``source`` says who decided it: ``"rules"``
(deterministic rules over the checkout), ``"model"`` (Bedrock, only where the rules could not
tell) or ``None`` (nobody could tell; ``reason`` says what was missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1
RULES, MODEL = "rules", "model"

# The questions, in report order. "resources" is {"cpu": int, "memory": int}; "start" is an
# exec-form command (list of strings); "dependencies" is {"manager": str, "lock_file": str|None}.
FIELDS = (
    "language",
    "version",
    "framework",
    "dependencies",
    "build",
    "start",
    "port",
    "health_check_path",
    "resources",
)

LANGUAGES = ("python", "node", "go", "java", "ruby", "dotnet")
FRAMEWORKS = {
    "python": ("flask", "fastapi", "django"),
    "node": ("express", "nestjs", "nextjs"),
    "go": ("net/http", "gin"),
    "java": ("spring-boot",),
    "ruby": ("rails",),
    "dotnet": ("aspnetcore",),
}


@dataclass(frozen=True)
class Evidence:
    """A line of a file (``line`` from 1; ``None`` when the file's existence is the evidence)."""

    file: str
    line: int | None
    text: str

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "text": self.text}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evidence:
        return cls(d["file"], d.get("line"), d.get("text", ""))


@dataclass(frozen=True)
class Finding:
    """One answer and why."""

    value: Any = None
    reason: str = ""
    evidence: tuple[Evidence, ...] = ()
    source: str | None = RULES

    @property
    def decided(self) -> bool:
        return self.source is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "source": self.source,
            "reason": self.reason,
            "evidence": [e.to_dict() for e in self.evidence],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        return cls(
            value=d.get("value"),
            reason=d.get("reason", ""),
            evidence=tuple(Evidence.from_dict(e) for e in d.get("evidence", [])),
            source=d.get("source"),
        )


def unknown(reason: str, *evidence: Evidence) -> Finding:
    """Nobody could tell: the value is missing and ``reason`` says what was looked for."""
    return Finding(None, reason, tuple(evidence), source=None)


def found(value: Any, reason: str, *evidence: Evidence) -> Finding:
    return Finding(value, reason, tuple(evidence), source=RULES)


@dataclass
class Report:
    """Every answer, plus what the Dockerfile needs beyond them (``details``) and notes."""

    findings: dict[str, Finding] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    """Facts only the Dockerfile needs (app module, artifact, main package, ...)."""
    notes: list[str] = field(default_factory=list)
    """Warnings and conflicts the user should read (unpinned requirements, two ports, ...)."""

    def __getitem__(self, name: str) -> Finding:
        return self.findings.get(name) or unknown("not analysed")

    def value(self, name: str) -> Any:
        return self[name].value

    @property
    def undecided(self) -> list[str]:
        return [f for f in FIELDS if not self[f].decided]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "findings": {f: self[f].to_dict() for f in FIELDS},
            "undecided": self.undecided,
            "details": dict(sorted(self.details.items())),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        if d.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"report schema {d.get('schema')!r}, expected {SCHEMA_VERSION}")
        return cls(
            findings={k: Finding.from_dict(v) for k, v in d["findings"].items()},
            details=dict(d.get("details", {})),
            notes=list(d.get("notes", [])),
        )
