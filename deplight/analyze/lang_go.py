"""Go: net/http and gin, from go.mod, the ``main`` package and its ``ListenAndServe``/``Run``."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from deplight.analyze import sizing
from deplight.analyze.common import (
    CODE,
    DEFAULT,
    START_COMMAND,
    Ports,
    command_port,
    dockerfile_votes,
    explicit_start,
    parse_dockerfile,
    pick_health,
)
from deplight.analyze.report import Evidence, Report, found, unknown
from deplight.analyze.workspace import Workspace, evidence

_LISTEN = re.compile(r"ListenAndServe(?:TLS)?\(\s*\"[^\":]*:(\d{2,5})\"")
_RUN = re.compile(r"\.Run\(\s*\"[^\":]*:(\d{2,5})\"\s*\)")
_RUN_DEFAULT = re.compile(r"\.Run\(\s*\)")
_ADDR = re.compile(r"\bAddr\s*:\s*\"[^\":]*:(\d{2,5})\"")
_PORT_VAR = re.compile(r"\b(?:[pP]ort|[aA]ddr(?:ess)?|PORT|ADDR)\s*:?=\s*\":?(\d{2,5})\"")
_ROUTE = re.compile(
    r"\.(?:HandleFunc|Handle|GET|HEAD|Any|Get|Head)\(\s*\"(?:(?:GET|HEAD)\s+)?(/[^\"]*)\""
)


def analyze(ws: Workspace) -> Report | None:
    if not ws.exists("go.mod"):
        return None
    report = Report()
    f = report.findings
    f["language"] = found("go", "Go module file", evidence("go.mod", None, "file present"))
    df = parse_dockerfile(ws)
    hit = ws.find("go.mod", r"^go\s+(\d+\.\d+)")
    f["version"] = (
        found(hit[0].group(1), "go.mod go directive", hit[1])
        if hit
        else unknown("go.mod has no go directive")
    )
    if ws.exists("go.sum"):
        f["dependencies"] = found({"manager": "go", "lock_file": "go.sum"},
                                  "Go modules with go.sum checksums",
                                  evidence("go.sum", None, "file present"))  # fmt: skip
    else:
        if ws.find("go.mod", r"^require\b"):
            report.notes.append("go.mod requires modules but there is no go.sum: run `go mod tidy` "
                                "and commit go.sum")  # fmt: skip
        f["dependencies"] = found({"manager": "go", "lock_file": None},
                                  "go.mod without go.sum (no third-party modules, or not tidied)",
                                  evidence("go.mod", None, "file present"))  # fmt: skip

    sources = [s for s in ws.sources(".go", limit=400) if not s.endswith("_test.go")]
    main_hits: dict[str, Evidence] = {}
    for rel in sources:
        hit = ws.find(rel, r"^package\s+main\b")
        if hit:
            main_hits.setdefault(str(PurePosixPath(rel).parent), hit[1])
    mains = sorted(main_hits)
    gin = ws.find("go.mod", r"github\.com/gin-gonic/gin\s+v")
    server_hit = ws.find_in(sources, r"ListenAndServe(?:TLS)?\(|\.Serve\(")
    if gin:
        f["framework"] = found("gin", "gin in go.mod", gin[1])
    elif server_hit:
        f["framework"] = found("net/http", "net/http server in the code", server_hit[1])
    else:
        f["framework"] = unknown("no gin in go.mod and no http.ListenAndServe in the code")

    if len(mains) == 1:
        pkg = "." if mains[0] == "." else f"./{mains[0]}"
        report.details["main_package"] = pkg
        f["build"] = found(f'CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/server {pkg}',
                           "the one main package", main_hits[mains[0]])  # fmt: skip
    else:
        f["build"] = unknown("no main package" if not mains else
                             "several main packages: " + ", ".join(mains))  # fmt: skip
    if f["framework"].value is None:
        for name in ("start", "port", "health_check_path", "resources"):
            f[name] = unknown("the web framework is unknown")
        return report

    main_files = [s for s in sources if str(PurePosixPath(s).parent) in mains]
    ports = Ports()
    declared = explicit_start(ws, df)
    if declared:
        port, _ = command_port(declared[0])
        if port:
            ports.add(port, START_COMMAND, declared[2], declared[1])
    getenv = ws.find_in(main_files + sources, r"os\.Getenv\(\s*\"PORT\"\s*\)")
    if getenv:
        report.details["port_env"] = "PORT"
    for rx, why in ((_LISTEN, "ListenAndServe"), (_RUN, "gin Run"), (_ADDR, "http.Server Addr")):
        hit = ws.find_in(main_files + sources, rx)
        if hit:
            ports.add(int(hit[0].group(1)), CODE, f"{why} address", hit[1])
            break
    else:
        hit = ws.find_in(main_files + sources, _PORT_VAR)
        if hit and getenv:
            ports.add(int(hit[0].group(1)), CODE, f"$PORT, else {hit[0].group(1)}", getenv[1],
                      hit[1])  # fmt: skip
        elif hit:
            ports.add(int(hit[0].group(1)), CODE, "the address variable the server binds", hit[1])
        if gin and ws.find_in(main_files, _RUN_DEFAULT):
            ports.add(8080, DEFAULT, "gin's default port (Run() without an address)")
    dockerfile_votes(df, ports, report.details.get("port_env"))
    f["port"] = ports.decide(report, "no listen address found in the code")

    if declared:
        f["start"] = found(declared[0], declared[2], declared[1])
    elif "main_package" in report.details:
        f["start"] = found(["/app/server"], "the binary built from the main package",
                           *f["build"].evidence)  # fmt: skip
    else:
        f["start"] = unknown(f["build"].reason)
    routes = [(m.group(1), ev) for m, ev in ws.search_in(sources, _ROUTE)]
    f["health_check_path"] = pick_health(routes, f"{f['framework'].value} handlers", report)
    resources, reason = sizing.for_processes(f["framework"].value, 1, "one Go binary")
    f["resources"] = found(resources, reason, f["framework"].evidence[0])
    return report
