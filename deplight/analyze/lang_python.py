"""Python: Flask, FastAPI and Django, from requirements.txt / pyproject.toml / Pipfile, the
application object in the code, gunicorn/uvicorn settings and Django's settings module."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from deplight.analyze import sizing
from deplight.analyze.common import (
    CODE,
    DEFAULT,
    SERVER_CONFIG,
    START_COMMAND,
    Ports,
    command_port,
    command_workers,
    dockerfile_votes,
    explicit_start,
    join_route,
    parse_dockerfile,
    pick_health,
    strip_wrappers,
    version_from_image,
)
from deplight.analyze.report import Evidence, Report, found, unknown
from deplight.analyze.workspace import Workspace, evidence

MANIFESTS = ("requirements.txt", "pyproject.toml", "Pipfile", "setup.py", "manage.py")
FRAMEWORKS = ("django", "fastapi", "flask")  # a Django project may also list flask; Django wins
DEFAULT_PORTS = {"gunicorn": 8000, "uvicorn": 8000, "flask": 5000, "runserver": 8000}

_REQ = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;]*)")
_APP = re.compile(r"^(\w+)\s*(?::\s*[\w.]+\s*)?=\s*(Flask|FastAPI)\(")
_FACTORY = re.compile(r"^def\s+(create_app|make_app)\s*\(")
_ROUTE = re.compile(r"@\w+(?:\.\w+)*\.(?:get|route|api_route|head)\(\s*[\"'](/[^\"']*)[\"']")
_DJANGO_PATH = re.compile(
    r"\b(?:path|re_path)\(\s*r?[\"']\^?([^\"'$]*)\$?[\"']\s*,\s*(include\(\s*[\"']([\w.]+)[\"'])?"
)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Dep:
    name: str
    spec: str
    extras: str
    evidence: Evidence

    @property
    def pinned(self) -> bool:
        return self.spec.startswith("==") and "*" not in self.spec


def requirements(ws: Workspace, rel: str, depth: int = 0) -> dict[str, Dep]:
    deps: dict[str, Dep] = {}
    for no, line in enumerate(ws.lines(rel), start=1):
        text = line.split(" #", 1)[0].strip().rstrip("\\").strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith(("-r ", "--requirement ")) and depth < 2:
            include = str(PurePosixPath(rel).parent / text.split(None, 1)[1].strip())
            include = include.removeprefix("./")
            deps.update(requirements(ws, include, depth + 1))
            continue
        if text.startswith("-"):
            continue
        m = _REQ.match(text)
        if m:
            name = normalize(m.group(1))
            deps[name] = Dep(name, m.group(3).strip(), m.group(2) or "", evidence(rel, no, line))
    return deps


def _line_of(ws: Workspace, rel: str, name: str) -> Evidence:
    rx = re.compile(rf"^\s*[\"']?{re.escape(name)}[\"']?\s*[=\[<>!~;]|[\"']{re.escape(name)}\b",
                    re.IGNORECASE)  # fmt: skip
    hit = ws.find(rel, rx)
    return hit[1] if hit else evidence(rel, None, "file present")


def pyproject(ws: Workspace, report: Report) -> tuple[dict[str, Dep], dict[str, Any]]:
    text = ws.read("pyproject.toml")
    if text is None:
        return {}, {}
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        report.notes.append(
            f"pyproject.toml is not valid TOML ({exc}); its dependencies are ignored"
        )
        return {}, {}
    deps: dict[str, Dep] = {}
    for spec in doc.get("project", {}).get("dependencies", []) or []:
        m = _REQ.match(spec) if isinstance(spec, str) else None
        if m:
            name = normalize(m.group(1))
            deps[name] = Dep(name, m.group(3).strip(), m.group(2) or "",
                             _line_of(ws, "pyproject.toml", m.group(1)))  # fmt: skip
    poetry = doc.get("tool", {}).get("poetry", {}).get("dependencies", {}) or {}
    for raw_name, spec in poetry.items():
        if raw_name.lower() == "python":
            continue
        version = spec.get("version", "") if isinstance(spec, dict) else str(spec)
        extras = ",".join(spec.get("extras", [])) if isinstance(spec, dict) else ""
        name = normalize(raw_name)
        deps[name] = Dep(name, version, f"[{extras}]" if extras else "",
                         _line_of(ws, "pyproject.toml", raw_name))  # fmt: skip
    return deps, doc


def pipfile(ws: Workspace) -> dict[str, Dep]:
    text = ws.read("Pipfile")
    if text is None:
        return {}
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}
    return {normalize(n): Dep(normalize(n), str(v), "", _line_of(ws, "Pipfile", n))
            for n, v in (doc.get("packages") or {}).items()}  # fmt: skip


def _version(ws: Workspace, doc: dict[str, Any], df: Any) -> tuple[str, str, Evidence] | None:
    hit = ws.find(".python-version", r"^\s*(\d+\.\d+)")
    if hit:
        return hit[0].group(1), ".python-version", hit[1]
    hit = ws.find("runtime.txt", r"python-(\d+\.\d+)")
    if hit:
        return hit[0].group(1), "runtime.txt", hit[1]
    hit = ws.find("pyproject.toml", r"^\s*requires-python\s*=\s*[\"'][^\d\"']*(\d+\.\d+)")
    if hit:
        return hit[0].group(1), "the lowest version requires-python allows", hit[1]
    if doc.get("tool", {}).get("poetry", {}).get("dependencies", {}).get("python"):
        hit = ws.find("pyproject.toml", r"^\s*python\s*=\s*[\"'][^\d\"']*(\d+\.\d+)")
        if hit:
            return hit[0].group(1), "the lowest version Poetry's python constraint allows", hit[1]
    hit = ws.find("Pipfile", r"python_version\s*=\s*[\"'](\d+\.\d+)")
    if hit:
        return hit[0].group(1), "Pipfile python_version", hit[1]
    image = version_from_image(df, "python")
    if image:
        return image[0], "the existing Dockerfile's base image", image[1]
    return None


def _module(rel: str) -> str:
    path = rel[:-3]
    if path.endswith("/__init__"):
        path = path[: -len("/__init__")]
    return path.replace("/", ".")


def _find_app(ws: Workspace, sources: list[str], kind: str) -> tuple[str, Evidence] | None:
    """``module:variable`` of the Flask/FastAPI application object (or Flask factory call)."""
    cls = {"flask": "Flask", "fastapi": "FastAPI"}[kind]
    for rel in sources:
        text = ws.read(rel) or ""
        if f"{cls}(" not in text:
            continue
        for m, ev in ws.search(rel, _APP):
            if m.group(2) == cls:
                return f"{_module(rel)}:{m.group(1)}", ev
        if kind == "flask":
            hit = ws.find(rel, _FACTORY)
            if hit:
                return f"{_module(rel)}:{hit[0].group(1)}()", hit[1]
    return None


def _django(ws: Workspace) -> dict[str, Any]:
    """Settings module, WSGI application and root URLconf, each with evidence."""
    out: dict[str, Any] = {}
    hit = ws.find("manage.py", r"DJANGO_SETTINGS_MODULE[\"']\s*,\s*[\"']([\w.]+)[\"']")
    if not hit:
        return out
    out["settings"] = (hit[0].group(1), hit[1])
    settings_file = hit[0].group(1).replace(".", "/") + ".py"
    wsgi = ws.find(settings_file, r"^WSGI_APPLICATION\s*=\s*[\"']([\w.]+)\.(\w+)[\"']")
    if wsgi:
        out["wsgi"] = (f"{wsgi[0].group(1)}:{wsgi[0].group(2)}", wsgi[1])
    urls = ws.find(settings_file, r"^ROOT_URLCONF\s*=\s*[\"']([\w.]+)[\"']")
    if urls:
        out["urls"] = (urls[0].group(1).replace(".", "/") + ".py", urls[1])
    return out


def _django_routes(ws: Workspace, rel: str, prefix: str = "", via: tuple[Evidence, ...] = (),
                   depth: int = 0) -> list[tuple[str, tuple[Evidence, ...]]]:  # fmt: skip
    """Every path of a URLconf, following ``include()``; the evidence is the chain of lines."""
    routes = []
    for m, ev in ws.search(rel, _DJANGO_PATH):
        path = join_route(prefix, m.group(1))
        if m.group(3) and depth < 3:
            child = m.group(3).replace(".", "/") + ".py"
            routes.extend(_django_routes(ws, child, path, (*via, ev), depth + 1))
        else:
            routes.append((path, (*via, ev)))
    return routes


def analyze(ws: Workspace) -> Report | None:
    present = [m for m in MANIFESTS if ws.exists(m)]
    if not present:
        return None
    report = Report()
    f = report.findings
    f["language"] = found("python", "Python manifest " + ", ".join(present),
                          evidence(present[0], None, "file present"))  # fmt: skip
    df = parse_dockerfile(ws)

    deps = requirements(ws, "requirements.txt")
    project_deps, doc = pyproject(ws, report)
    deps = {**pipfile(ws), **project_deps, **deps}

    version = _version(ws, doc, df)
    f["version"] = (
        found(version[0], version[1], version[2])
        if version
        else unknown("no .python-version, runtime.txt, requires-python or base image")
    )

    # Dependencies and how they lock.
    if ws.exists("poetry.lock") and doc.get("tool", {}).get("poetry"):
        f["dependencies"] = found({"manager": "poetry", "lock_file": "poetry.lock"},
                                  "Poetry project with a committed lock file",
                                  evidence("poetry.lock", None, "file present"))  # fmt: skip
    elif ws.exists("uv.lock"):
        f["dependencies"] = found({"manager": "uv", "lock_file": "uv.lock"}, "uv lock file",
                                  evidence("uv.lock", None, "file present"))  # fmt: skip
    elif ws.exists("Pipfile.lock"):
        f["dependencies"] = found(
            {"manager": "pipenv", "lock_file": "Pipfile.lock"},
            "Pipenv lock file",
            evidence("Pipfile.lock", None, "file present"),
        )
    elif ws.exists("requirements.txt"):
        req = requirements(ws, "requirements.txt")
        loose = sorted(d.name for d in req.values() if not d.pinned)
        if loose:
            report.notes.append(
                "requirements.txt does not pin " + ", ".join(loose) + " with ==: installs are not "
                "reproducible (pip-compile or `pip freeze` would pin them)"
            )
        f["dependencies"] = found(
            {"manager": "pip", "lock_file": None if loose else "requirements.txt"},
            "requirements.txt" + (" (not fully pinned)" if loose else ", every requirement pinned"),
            evidence("requirements.txt", None, "file present"),
        )
    else:
        f["dependencies"] = unknown("no requirements.txt, poetry.lock, uv.lock or Pipfile.lock")

    framework = next((fw for fw in FRAMEWORKS if fw in deps), None)
    sources = [s for s in ws.sources(".py") if not re.search(r"(^|/)(tests?|migrations)/", s)]
    if framework is None:
        for kind in ("fastapi", "flask"):
            if _find_app(ws, sources, kind):
                framework = kind
                report.notes.append(f"{kind} is used in the code but not listed as a dependency")
                break
    if framework is None:
        f["framework"] = unknown("no Django, FastAPI or Flask in the dependencies or the code")
        f["build"] = found(None, "interpreted: no build step")
        for name in ("start", "port", "health_check_path", "resources"):
            f[name] = unknown("the web framework is unknown")
        return report

    fw_ev: list[Evidence] = [deps[framework].evidence] if framework in deps else []
    app: tuple[str, Evidence] | None = None
    django: dict[str, Any] = {}
    if framework == "django":
        django = _django(ws)
        fw_ev += [v[1] for k, v in django.items() if k in ("settings", "wsgi")]
        if "wsgi" in django:
            app = django["wsgi"]
    else:
        app = _find_app(ws, sources, framework)
        if app:
            fw_ev.append(app[1])
    f["framework"] = found(framework, f"{framework} " + ("in the dependencies" if framework in deps
                           else "application object in the code"), *fw_ev)  # fmt: skip
    f["build"] = found(None, "interpreted: no build step")
    if app:
        report.details["app"] = app[0]

    # Start command: what the project declares, else the framework's production convention.
    declared = explicit_start(ws, df)
    ports = Ports()
    workers: tuple[int, Evidence | None, str] | None = None
    server = None
    if declared:
        argv, ev, why = declared
        core = strip_wrappers(argv)
        server = PurePosixPath(core[0]).name if core else None
        if server in ("python", "python3") and "runserver" in core:
            server = "runserver"
        port, env = command_port(core)
        if port:
            ports.add(port, START_COMMAND, why, ev)
        elif env:
            report.details["port_env"] = env
        n = command_workers(core)
        if n:
            workers = (n, ev, f"{server} --workers {n}")
        f["start"] = found(argv, why, ev)
    else:
        if framework == "django":
            server = "gunicorn" if "gunicorn" in deps else "runserver"
        elif framework == "fastapi":
            standard = framework in deps and "standard" in deps[framework].extras
            server = "uvicorn" if "uvicorn" in deps or standard else None
        else:
            server = "gunicorn" if "gunicorn" in deps else "flask"
        if server in ("runserver", "flask"):
            report.notes.append(
                f"no production server in the dependencies: {framework}'s development server "
                "is used; add gunicorn"
            )

    if server == "gunicorn" and ws.exists("gunicorn.conf.py"):
        hit = ws.find("gunicorn.conf.py", r"^bind\s*=\s*\[?\s*[\"'][^\"']*:(\d+)[\"']")
        if hit:
            ports.add(int(hit[0].group(1)), SERVER_CONFIG, "gunicorn.conf.py bind", hit[1])
        hit = ws.find("gunicorn.conf.py", r"^workers\s*=\s*(\d+)\s*$")
        if hit and not workers:
            workers = (
                int(hit[0].group(1)),
                hit[1],
                f"gunicorn.conf.py workers = {hit[0].group(1)}",
            )
    if server in ("python", "python3") and declared:
        script = next((a for a in strip_wrappers(declared[0])[1:] if a.endswith(".py")), None)
        if script:
            hit = ws.find(
                script, r"\.run\(.*\bport\s*=\s*(?:int\([^)]*?(\d{2,5})[^)]*\)|(\d{2,5}))"
            )
            if hit:
                ports.add(int(hit[0].group(1) or hit[0].group(2)), CODE, f"{script} run(port=...)",
                          hit[1])  # fmt: skip
            elif framework == "flask":
                ports.add(DEFAULT_PORTS["flask"], DEFAULT, "Flask's default port")
    if server in DEFAULT_PORTS:
        ports.add(DEFAULT_PORTS[server], DEFAULT, f"{server}'s default port")
    dockerfile_votes(df, ports, report.details.get("port_env"))
    f["port"] = ports.decide(report, f"no port found for {server or 'an unknown server'}")

    if not declared:
        port = f["port"].value
        if server is None or app is None or port is None:
            missing = ("an ASGI server (uvicorn) in the dependencies" if server is None else
                       "the application object" if app is None else "the port")  # fmt: skip
            f["start"] = unknown(f"cannot build a start command: no {missing}")
        else:
            target = app[0]
            argv = {
                "gunicorn": ["gunicorn", "--bind", f"0.0.0.0:{port}", target],
                "uvicorn": ["uvicorn", target, "--host", "0.0.0.0", "--port", str(port)],
                "flask": [
                    "flask",
                    "--app",
                    target,
                    "run",
                    "--host",
                    "0.0.0.0",
                    "--port",
                    str(port),
                ],
                "runserver": ["python", "manage.py", "runserver", f"0.0.0.0:{port}"],
            }[server]
            start_ev = [deps[server].evidence] if server in deps else fw_ev[:1]
            f["start"] = found(argv, f"{framework} served by {server} (convention)",
                               *start_ev, app[1])  # fmt: skip

    # Health endpoint.
    if framework == "django":
        urls = django.get("urls")
        routes = _django_routes(ws, urls[0]) if urls else []
        f["health_check_path"] = pick_health(
            routes, "Django URLconf " + (urls[0] if urls else "not found"), report
        )
    else:
        decorated = [(m.group(1), ev) for m, ev in ws.search_in(sources, _ROUTE)]
        f["health_check_path"] = pick_health(decorated, f"{framework} route decorators", report)

    n, worker_ev, why = workers or (1, None, f"one {server or 'server'} process")
    resources, reason = sizing.for_processes(framework, n, why)
    f["resources"] = found(resources, reason, *([worker_ev] if worker_ev else fw_ev[:1]))
    return report
