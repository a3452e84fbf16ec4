"""Rules shared by every language: existing Dockerfiles and Procfiles, start commands, ports,
health routes.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from deplight.analyze.report import Evidence, Finding, Report, found, unknown
from deplight.analyze.workspace import Workspace, evidence

# Port votes: the command the container runs beats the server's config file, which beats what
# the code passes to listen(), which beats what an image declares, which beats a framework default.
START_COMMAND, SERVER_CONFIG, IMAGE_ENV, CODE, EXPOSE, DEFAULT = 60, 50, 40, 30, 20, 10

HEALTH_WORDS = (
    "health",
    "healthz",
    "healthcheck",
    "health-check",
    "_health",
    "livez",
    "readyz",
    "liveness",
    "readiness",
    "live",
    "ready",
    "ping",
    "up",
    "status",
)
"""Last path segments that name a health endpoint, best first."""
_HEALTH_RE = re.compile(r"^/(?:[^?#]*/)?(" + "|".join(map(re.escape, HEALTH_WORDS)) + r")/?$")


def health_rank(path: str) -> int | None:
    """Rank of ``path`` as a health endpoint (lower is better), or None if it is not one."""
    m = _HEALTH_RE.match(path)
    return HEALTH_WORDS.index(m.group(1)) if m else None


def pick_health(routes: Sequence[tuple[str, Evidence | tuple[Evidence, ...]]], how: str,
                report: Report) -> Finding:  # fmt: skip
    """The best health route among ``routes`` (path, evidence: one line, or every line the path
    is assembled from), or an undecided finding. Every health-like route found goes to
    ``report.details["health_routes"]``."""
    ranked = [(health_rank(p), i, p, ev) for i, (p, ev) in enumerate(routes)]
    ranked = [r for r in ranked if r[0] is not None]
    if ranked:
        report.details["health_routes"] = sorted({r[2] for r in ranked})
    if not ranked:
        return unknown(f"no health endpoint found ({how}); add one that answers 200 without "
                       "calling dependencies, e.g. GET /health")  # fmt: skip
    _, _, path, ev = min(ranked, key=lambda r: (r[0], r[1]))
    return found(path, f"route {path} ({how})", *(ev if isinstance(ev, tuple) else (ev,)))


def join_route(*parts: str) -> str:
    """``join_route("api", "/health/")`` -> ``/api/health/`` (slashes normalised, trailing kept)."""
    segs = [p.strip("/") for p in parts if p and p.strip("/")]
    trailing = bool(parts) and parts[-1].endswith("/") and len(parts[-1].strip("/")) > 0
    return "/" + "/".join(segs) + ("/" if trailing else "")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    evidence: Evidence


@dataclass
class Dockerfile:
    """The parts of an existing Dockerfile the rules use (its last stage)."""

    path: str
    base_images: list[tuple[str, Evidence]] = field(default_factory=list)
    exposes: list[tuple[int, Evidence]] = field(default_factory=list)
    env: dict[str, tuple[str, Evidence]] = field(default_factory=dict)
    command: tuple[list[str], Evidence] | None = None


def parse_dockerfile(ws: Workspace, rel: str = "Dockerfile") -> Dockerfile | None:
    if not ws.exists(rel):
        return None
    out = Dockerfile(rel)
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for no, line in enumerate(ws.lines(rel), start=1):
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            start = no
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        joined = " ".join(pending)
        pending = []
        keyword, _, args = joined.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(),
                                        evidence(rel, start, joined)))  # fmt: skip
    entrypoint: tuple[list[str], Evidence] | None = None
    for ins in instructions:
        if ins.keyword == "FROM":
            image = ins.args.split()[0] if ins.args else ""
            out.base_images.append((image, ins.evidence))
            out.exposes, out.env, out.command, entrypoint = [], {}, None, None  # a new stage
        elif ins.keyword == "EXPOSE":
            for token in ins.args.split():
                port = token.split("/")[0]
                if port.isdigit():
                    out.exposes.append((int(port), ins.evidence))
        elif ins.keyword == "ENV":
            for key, value in _env_pairs(ins.args):
                out.env[key] = (value, ins.evidence)
        elif ins.keyword in ("CMD", "ENTRYPOINT"):
            argv = _exec_or_shell(ins.args)
            if ins.keyword == "ENTRYPOINT":
                entrypoint = (argv, ins.evidence)
                out.command = entrypoint
            elif entrypoint:
                out.command = (entrypoint[0] + argv, ins.evidence)
            else:
                out.command = (argv, ins.evidence)
    return out


def _env_pairs(args: str) -> list[tuple[str, str]]:
    try:
        tokens = shlex.split(args)
    except ValueError:
        return []
    if tokens and "=" not in tokens[0]:
        return [(tokens[0], " ".join(tokens[1:]))]  # legacy `ENV KEY value`
    return [tuple(t.split("=", 1)) for t in tokens if "=" in t]  # type: ignore[misc]


def _exec_or_shell(args: str) -> list[str]:
    if args.startswith("["):
        try:
            value = json.loads(args)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return value
        except json.JSONDecodeError:
            pass
    return split_command(args)


def split_command(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def procfile_web(ws: Workspace) -> tuple[list[str], Evidence] | None:
    """The ``web:`` process of a Procfile."""
    hit = ws.find("Procfile", r"^web:\s*(.+)$")
    if not hit:
        return None
    m, ev = hit
    return split_command(m.group(1).strip()), ev


def strip_wrappers(argv: list[str]) -> list[str]:
    """``sh -c "exec gunicorn ..."``, ``bundle exec``, ``VAR=x cmd`` -> the server's own argv."""
    argv = list(argv)
    if len(argv) >= 3 and argv[0] in ("sh", "/bin/sh", "bash", "/bin/bash") and argv[1] == "-c":
        argv = split_command(argv[2])
    while argv and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", argv[0]):
        argv = argv[1:]
    while argv and argv[0] in ("exec", "bundle", "poetry", "pipenv", "uv") and len(argv) > 1:
        argv = argv[2:] if argv[1] in ("exec", "run") else argv[1:]
    return argv


_ENV_REF = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::?-(\d+))?\}?$")


def _port_value(value: str) -> tuple[int | None, str | None]:
    """``"8000"`` -> (8000, None); ``"$PORT"`` -> (None, "PORT"); ``"${PORT:-8000}"`` -> (8000, "PORT")."""
    value = value[value.index("$") :] if "$" in value else value.rsplit(":", 1)[-1]
    if value.isdigit():
        return int(value), None
    m = _ENV_REF.match(value)
    if m:
        return (int(m.group(2)) if m.group(2) else None), m.group(1)
    return None, None


def command_port(argv: list[str]) -> tuple[int | None, str | None]:
    """The port a server command line binds: ``--bind host:N``, ``-b :N``, ``--port N``, ``-p N``,
    ``runserver host:N``, ``--urls http://+:N``. Returns (port, env var it comes from)."""
    flags = {"--bind", "-b", "--port", "-p", "--urls", "--listen"}
    for i, tok in enumerate(argv):
        name, eq, inline = tok.partition("=")
        if name in flags:
            value = inline if eq else (argv[i + 1] if i + 1 < len(argv) else "")
            if name == "-b" and value.startswith(("tcp://", "unix:")):
                value = value.split("://", 1)[-1]
            port, env = _port_value(value.rstrip("/"))
            if port or env:
                return port, env
    if "runserver" in argv:
        rest = argv[argv.index("runserver") + 1 :]
        for tok in rest:
            if not tok.startswith("-"):
                return _port_value(tok)
    return None, None


def command_workers(argv: list[str]) -> int | None:
    for i, tok in enumerate(argv):
        name, eq, inline = tok.partition("=")
        if name in ("--workers", "-w"):
            value = inline if eq else (argv[i + 1] if i + 1 < len(argv) else "")
            if value.isdigit():
                return int(value)
    return None


@dataclass(frozen=True)
class Vote:
    port: int
    priority: int
    reason: str
    evidence: tuple[Evidence, ...]


class Ports:
    """Collects what each source says about the listening port and picks the strongest."""

    def __init__(self) -> None:
        self.votes: list[Vote] = []

    def add(self, port: int | None, priority: int, reason: str, *ev: Evidence) -> None:
        if port is not None and 1 <= port <= 65535:
            self.votes.append(Vote(port, priority, reason, ev))

    def decide(self, report: Report, missing: str) -> Finding:
        if not self.votes:
            return unknown(missing)
        best = max(self.votes, key=lambda v: v.priority)
        for other in self.votes:
            if other.port != best.port and other.priority > DEFAULT:
                where = ", ".join(e.where() for e in other.evidence) or "convention"
                report.notes.append(
                    f"port conflict: {other.reason} ({where}) says {other.port}, but "
                    f"{best.reason} says {best.port}; {best.port} is what the server binds"
                )
        return found(best.port, best.reason, *best.evidence)


def dockerfile_votes(df: Dockerfile | None, ports: Ports, reads_env: str | None) -> None:
    """EXPOSE, and ``ENV <var>=N`` when the app reads that variable."""
    if not df:
        return
    for port, ev in df.exposes:
        ports.add(port, EXPOSE, "the existing Dockerfile's EXPOSE", ev)
    if reads_env and reads_env in df.env:
        value, ev = df.env[reads_env]
        if value.isdigit():
            ports.add(int(value), IMAGE_ENV, f"the existing Dockerfile sets {reads_env}", ev)


def version_from_image(df: Dockerfile | None, image: str) -> tuple[str, Evidence] | None:
    """``FROM python:3.11-slim AS build`` -> ("3.11", evidence) for ``image="python"``."""
    if not df:
        return None
    for ref, ev in df.base_images:
        name, _, tag = ref.partition(":")
        if name.rsplit("/", 1)[-1] == image:
            m = re.match(r"(\d+(?:\.\d+)?)", tag)
            if m:
                return m.group(1), ev
    return None


def explicit_start(ws: Workspace, df: Dockerfile | None) -> tuple[list[str], Evidence, str] | None:
    """The start command the project already declares: Procfile ``web:``, else the Dockerfile's."""
    web = procfile_web(ws)
    if web:
        return web[0], web[1], "the Procfile's web process"
    if df and df.command:
        return df.command[0], df.command[1], "the existing Dockerfile's command"
    return None


def major_minor(version: str) -> str | None:
    m = re.match(r"v?(\d+)(?:\.(\d+))?", version.strip())
    if not m:
        return None
    return f"{m.group(1)}.{m.group(2)}" if m.group(2) is not None else m.group(1)
