"""Node.js: Express, NestJS and Next.js, from package.json, its lock file, the ``listen()`` call,
Nest controllers and Next.js file-system routes."""

from __future__ import annotations

import json
import re
from typing import Any

from deplight.analyze import sizing
from deplight.analyze.common import (
    CODE,
    DEFAULT,
    START_COMMAND,
    Ports,
    command_port,
    dockerfile_votes,
    explicit_start,
    join_route,
    major_minor,
    parse_dockerfile,
    pick_health,
    split_command,
    version_from_image,
)
from deplight.analyze.report import Evidence, Report, found, unknown
from deplight.analyze.workspace import Workspace, evidence

FRAMEWORKS = (("next", "nextjs"), ("@nestjs/core", "nestjs"), ("express", "express"))
LOCKS = (("package-lock.json", "npm"), ("npm-shrinkwrap.json", "npm"), ("yarn.lock", "yarn"),
         ("pnpm-lock.yaml", "pnpm"))  # fmt: skip
LTS = {"argon": "4", "boron": "6", "carbon": "8", "dubnium": "10", "erbium": "12",
       "fermium": "14", "gallium": "16", "hydrogen": "18", "iron": "20", "jod": "22"}  # fmt: skip
SOURCES = (".js", ".mjs", ".cjs", ".ts")
ENTRY_CANDIDATES = ("server.js", "index.js", "app.js", "src/server.js", "src/index.js",
                    "src/app.js", "src/main.js")  # fmt: skip

_ENV_PORT = (
    r"(?:Number\(|parseInt\(|\+)?\s*process\.env\.PORT\s*\)?\s*(?:\|\||\?\?)\s*[\"']?(\d{2,5})"
)
_LISTEN_NUM = re.compile(r"\.listen\(\s*(\d{2,5})\b")
_LISTEN_ENV = re.compile(r"\.listen\(\s*" + _ENV_PORT)
_LISTEN_IDENT = re.compile(r"\.listen\(\s*([A-Za-z_$][\w$]*)\s*[,)]")
_SET_PORT = re.compile(r"\.set\(\s*[\"']port[\"']\s*,\s*(?:" + _ENV_PORT + r"|[\"']?(\d{2,5}))")
_EXPRESS_ROUTE = re.compile(r"\.(?:get|all|head|use)\(\s*[\"'`](/[^\"'`]*)[\"'`]")
_NEST_CONTROLLER = re.compile(r"@Controller\(\s*(?:[\"'`]([^\"'`]*)[\"'`])?\s*\)")
_NEST_GET = re.compile(r"@(?:Get|Head|All)\(\s*(?:[\"'`]([^\"'`]*)[\"'`])?\s*\)")
_NEXT_APP_ROUTE = re.compile(r"^(?:src/)?app/(.*?)/?route\.(?:ts|js|mjs)$")
_NEXT_PAGES_API = re.compile(r"^(?:src/)?pages/(api/.*?)(?:/index)?\.(?:ts|js|mjs)$")


def _dep_line(ws: Workspace, name: str) -> Evidence:
    hit = ws.find("package.json", rf"\"{re.escape(name)}\"\s*:")
    return hit[1] if hit else evidence("package.json", None, "file present")


def _node_script(command: str) -> str | None:
    """``node dist/main`` (or ``NODE_ENV=production node --enable-source-maps x.js``) -> the
    script; None when the script is not a plain ``node`` call."""
    argv = split_command(command)
    while argv and re.fullmatch(r"[A-Za-z_]\w*=\S*", argv[0]):
        argv = argv[1:]
    if not argv or argv[0] != "node":
        return None
    return next((a for a in argv[1:] if not a.startswith("-")), None)


def _version(ws: Workspace, pkg: dict[str, Any], df: Any) -> tuple[str, str, Evidence] | None:
    for rel in (".nvmrc", ".node-version"):
        hit = ws.find(rel, r"^\s*(\S+)")
        if hit:
            raw = hit[0].group(1)
            lts = LTS.get(raw.removeprefix("lts/").lower())
            version = lts or major_minor(raw)
            if version:
                return version.split(".")[0], rel, hit[1]
    engines = (pkg.get("engines") or {}).get("node")
    if isinstance(engines, str):
        m = re.search(r"(\d+)", engines)
        hit = ws.find("package.json", r"\"node\"\s*:")
        if m and hit:
            return m.group(1), "the lowest major version engines.node allows", hit[1]
    image = version_from_image(df, "node")
    if image:
        return image[0].split(".")[0], "the existing Dockerfile's base image", image[1]
    return None


def _listen_port(ws: Workspace, files: list[str]) -> tuple[int, bool, list[Evidence]] | None:
    """(port, read from $PORT first?, evidence) of the first ``listen()`` found in ``files``."""
    for rel in files:
        text = ws.read(rel) or ""
        if ".listen(" not in text:
            continue
        for rx in (_LISTEN_ENV, _LISTEN_NUM):
            hit = ws.find(rel, rx)
            if hit:
                return int(hit[0].group(1)), rx is _LISTEN_ENV, [hit[1]]
        listen = ws.find(rel, _LISTEN_IDENT)
        if listen:
            ident = listen[0].group(1)
            assign = ws.find(rel, rf"\b{re.escape(ident)}\s*=\s*" + _ENV_PORT)
            if assign:
                return int(assign[0].group(1)), True, [assign[1], listen[1]]
            assign = ws.find(rel, rf"\b{re.escape(ident)}\s*=\s*[\"']?(\d{{2,5}})\b")
            if assign:
                return int(assign[0].group(1)), False, [assign[1], listen[1]]
            setting = ws.find(rel, _SET_PORT)
            if setting:
                port = setting[0].group(1) or setting[0].group(2)
                return int(port), setting[0].group(1) is not None, [setting[1], listen[1]]
    return None


def _nest_routes(ws: Workspace, sources: list[str]) -> list[tuple[str, tuple[Evidence, ...]]]:
    """Controller path + method path (+ the global prefix), each part with its line."""
    prefix = ""
    prefix_ev: tuple[Evidence, ...] = ()
    main = ws.find_in(sources, r"setGlobalPrefix\(\s*[\"'`]([^\"'`]+)[\"'`]")
    if main:
        prefix, prefix_ev = main[0].group(1), (main[1],)
    routes: list[tuple[str, tuple[Evidence, ...]]] = []
    for rel in sources:
        text = ws.read(rel) or ""
        if "@Controller(" not in text:
            continue
        ctrl = ws.find(rel, _NEST_CONTROLLER)
        if not ctrl:
            continue
        for m, ev in ws.search(rel, _NEST_GET):
            path = join_route(prefix, ctrl[0].group(1) or "", m.group(1) or "")
            routes.append((path, (*prefix_ev, ctrl[1], ev)))
    return routes


def _next_routes(ws: Workspace) -> list[tuple[str, Evidence]]:
    routes = []
    for rel in ws.files:
        m = _NEXT_APP_ROUTE.match(rel)
        if m:
            segs = [s for s in m.group(1).split("/") if s and not s.startswith("(")]
            hit = ws.find(rel, r"export\s+(?:async\s+)?function\s+GET\b")
            if hit:
                routes.append((join_route(*segs), hit[1]))
            continue
        m = _NEXT_PAGES_API.match(rel)
        if m:
            routes.append((join_route(m.group(1)), evidence(rel, None, "API route file")))
    return routes


def analyze(ws: Workspace) -> Report | None:
    if not ws.exists("package.json"):
        return None
    report = Report()
    f = report.findings
    f["language"] = found(
        "node", "Node.js package manifest", evidence("package.json", None, "file present")
    )
    try:
        pkg = json.loads(ws.read("package.json") or "")
        if not isinstance(pkg, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        report.notes.append(f"package.json is not a JSON object ({exc})")
        pkg = {}
    df = parse_dockerfile(ws)
    deps = pkg.get("dependencies") or {}
    scripts = pkg.get("scripts") or {}

    version = _version(ws, pkg, df)
    f["version"] = (found(version[0], version[1], version[2]) if version else
                    unknown("no .nvmrc, .node-version, engines.node or base image"))  # fmt: skip

    lock = next(((rel, pm) for rel, pm in LOCKS if ws.exists(rel)), None)
    declared_pm = str(pkg.get("packageManager") or "")
    if lock:
        manager = {"manager": lock[1], "lock_file": lock[0]}
        if declared_pm:
            manager["package_manager"] = declared_pm
        f["dependencies"] = found(manager, f"{lock[1]} lock file",
                                  evidence(lock[0], None, "file present"))  # fmt: skip
        if lock[1] == "yarn" and ws.exists(".yarnrc.yml"):
            report.details["yarn_berry"] = True
    else:
        f["dependencies"] = found({"manager": "npm", "lock_file": None},
                                  "package.json without a lock file",
                                  evidence("package.json", None, "file present"))  # fmt: skip
        report.notes.append("no package-lock.json, yarn.lock or pnpm-lock.yaml: installs are not "
                            "reproducible; commit the lock file")  # fmt: skip
    pm = f["dependencies"].value["manager"]
    run = {"npm": "npm run", "yarn": "yarn", "pnpm": "pnpm"}[pm]

    framework = next((fw for dep, fw in FRAMEWORKS if dep in deps), None)
    if framework is None:
        f["framework"] = unknown("no next, @nestjs/core or express in dependencies")
    else:
        dep = next(d for d, fw in FRAMEWORKS if fw == framework)
        f["framework"] = found(framework, f"{dep} in dependencies", _dep_line(ws, dep))

    if "build" in scripts:
        f["build"] = found(f"{run} build", "package.json scripts.build", _dep_line(ws, "build"))
        report.details["build_script"] = True
    else:
        f["build"] = found(None, "no build script: the sources run as they are")
    if framework is None:
        for name in ("start", "port", "health_check_path", "resources"):
            f[name] = unknown("the web framework is unknown")
        return report

    sources = [
        s
        for s in ws.sources(*SOURCES)
        if not re.search(r"(^|/)(test|tests|__tests__)/|\.(spec|test)\.", s)
    ]
    declared = explicit_start(ws, df)
    ports = Ports()
    start: tuple[list[str], Evidence, str] | None = None
    entry: str | None = None
    if declared:
        start = declared
        port, _ = command_port(declared[0])
        if port:
            ports.add(port, START_COMMAND, declared[2], declared[1])
        entry = next((a for a in declared[0][1:] if a.endswith(SOURCES)), None)
    if framework == "nextjs":
        script = str(scripts.get("start", ""))
        port, _ = command_port(split_command(script))
        if port:
            ports.add(port, START_COMMAND, "package.json scripts.start", _dep_line(ws, "start"))
        ports.add(3000, DEFAULT, "Next.js's default port (next start)")
        if not start and ports.votes:
            p = max(ports.votes, key=lambda v: v.priority).port
            start = (["node_modules/.bin/next", "start", "-p", str(p)], _dep_line(ws, "start"),
                     "next start (package.json scripts.start)")  # fmt: skip
    else:
        candidates = ["start:prod", "start"] if framework == "nestjs" else ["start"]
        for name in candidates:
            node_file = _node_script(str(scripts.get(name, "")))
            if node_file:
                if not start:
                    start = (
                        ["node", node_file],
                        _dep_line(ws, name),
                        f"package.json scripts.{name}",
                    )
                entry = entry or node_file
                break
        if not entry and isinstance(pkg.get("main"), str):
            entry = pkg["main"]
            if not start:
                start = (["node", entry], _dep_line(ws, "main"), "package.json main")
        if not entry:
            entry = ws.first(*ENTRY_CANDIDATES)
            if entry and not start:
                start = (["node", entry], evidence(entry, None, "file present"),
                         "conventional entry file")  # fmt: skip
        # A built entry (dist/main) is compiled from src/main.ts: read the source for listen().
        order = []
        if entry:
            stem = re.sub(r"^(dist|build|out)/", "", entry)
            stem = re.sub(r"\.(js|mjs|cjs)$", "", stem)
            order = [
                s for s in sources if re.sub(r"\.(js|mjs|cjs|ts)$", "", s) in (stem, f"src/{stem}")
            ]
        listen = _listen_port(ws, order + [s for s in sources if s not in order])
        if listen:
            port, from_env, evs = listen
            why = f"listen() binds $PORT, else {port}" if from_env else f"listen() binds {port}"
            ports.add(port, CODE, why, *evs)
            if from_env:
                report.details["port_env"] = "PORT"
    if framework == "nextjs":
        report.details["port_env"] = "PORT"
        config = ws.first("next.config.js", "next.config.mjs", "next.config.ts")
        if config:
            report.details["next_config"] = config
        report.details["next_public"] = any(f.startswith("public/") for f in ws.files)
    dockerfile_votes(df, ports, report.details.get("port_env"))
    f["port"] = ports.decide(report, "no listen() call with a port found")
    if start:
        f["start"] = found(start[0], start[2], start[1])
    else:
        f["start"] = unknown("no start script, main entry or conventional entry file")
    if entry:
        report.details["entry"] = entry

    if framework == "nestjs":
        f["health_check_path"] = pick_health(_nest_routes(ws, sources), "Nest controllers", report)
    elif framework == "nextjs":
        f["health_check_path"] = pick_health(_next_routes(ws), "Next.js route files", report)
    else:
        routes = [(m.group(1), ev) for m, ev in ws.search_in(sources, _EXPRESS_ROUTE)]
        f["health_check_path"] = pick_health(routes, "Express routes", report)

    resources, reason = sizing.for_processes(framework, 1, "one Node.js process")
    f["resources"] = found(resources, reason, f["framework"].evidence[0])
    return report
