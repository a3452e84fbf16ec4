"""Ruby: Rails, from the Gemfile and its lock, config/puma.rb and config/routes.rb."""

from __future__ import annotations

import re

from deplight.analyze import sizing
from deplight.analyze.common import (
    DEFAULT,
    SERVER_CONFIG,
    START_COMMAND,
    Ports,
    command_port,
    dockerfile_votes,
    explicit_start,
    parse_dockerfile,
    pick_health,
    version_from_image,
)
from deplight.analyze.report import Evidence, Report, found, unknown
from deplight.analyze.workspace import Workspace, evidence

NATIVE_LIBS = {
    "pg": ("libpq-dev", "libpq5"),
    "mysql2": ("default-libmysqlclient-dev", "libmariadb3"),
}
"""Gems that link a system library: (Debian build package, Debian runtime package)."""
_FETCH = r"ENV\.fetch\(\s*[\"']{var}[\"']\s*(?:,\s*(\d+))?\s*\)\s*(?:\{{\s*(\d+)\s*\}})?"
_PUMA_PORT = re.compile(r"^\s*port\s+(?:" + _FETCH.format(var="PORT") + r"|(\d+))")
_PUMA_BIND = re.compile(r"^\s*bind\s+[\"']tcp://[^:\"']*:(\d+)")
_PUMA_WORKERS = re.compile(r"^\s*workers\s+(?:" + _FETCH.format(var="WEB_CONCURRENCY") + r"|(\d+))")
_ROUTE = re.compile(r"^\s*get\s+[\"'](/?[^\"']+)[\"']")


def _first_int(m: re.Match[str]) -> int | None:
    return next((int(g) for g in m.groups() if g), None)


def _lock_platforms(ws: Workspace) -> set[str]:
    platforms: set[str] = set()
    inside = False
    for line in ws.lines("Gemfile.lock"):
        if line.strip() == "PLATFORMS":
            inside = True
        elif inside and line.startswith("  ") and line.strip():
            platforms.add(line.strip())
        elif inside:
            break
    return platforms


def analyze(ws: Workspace) -> Report | None:
    if not ws.exists("Gemfile"):
        return None
    report = Report()
    f = report.findings
    f["language"] = found("ruby", "Bundler Gemfile", evidence("Gemfile", None, "file present"))
    df = parse_dockerfile(ws)

    version: tuple[str, str, Evidence] | None = None
    for rel, rx, why in (
        (".ruby-version", r"^\s*(?:ruby-)?(\d+\.\d+)", ".ruby-version"),
        ("Gemfile", r"^\s*ruby\s+[\"'](\d+\.\d+)", "Gemfile ruby directive"),
        ("Gemfile.lock", r"^\s+ruby\s+(\d+\.\d+)", "Gemfile.lock RUBY VERSION"),
    ):
        hit = ws.find(rel, rx)
        if hit:
            version = (hit[0].group(1), why, hit[1])
            break
    image = version_from_image(df, "ruby")
    if not version and image:
        version = (image[0], "the existing Dockerfile's base image", image[1])
    f["version"] = found(*version) if version else unknown("no .ruby-version or ruby directive")

    if ws.exists("Gemfile.lock"):
        f["dependencies"] = found(
            {"manager": "bundler", "lock_file": "Gemfile.lock"},
            "Bundler lock file",
            evidence("Gemfile.lock", None, "file present"),
        )
        platforms = _lock_platforms(ws)
        if platforms and not platforms & {"ruby", "x86_64-linux", "aarch64-linux", "x86_64-linux-gnu",
                                          "aarch64-linux-gnu"}:  # fmt: skip
            report.notes.append(
                "Gemfile.lock lists no Linux platform (" + ", ".join(sorted(platforms)) + "): run "
                "`bundle lock --add-platform x86_64-linux` (or aarch64-linux) so the image can install it"
            )
    else:
        f["dependencies"] = found({"manager": "bundler", "lock_file": None}, "Gemfile without a lock",
                                  evidence("Gemfile", None, "file present"))  # fmt: skip
        report.notes.append("no Gemfile.lock: installs are not reproducible; commit it")

    native = [gem for gem in NATIVE_LIBS if ws.find("Gemfile.lock", rf"^\s{{4}}{gem}\s\(")]
    if native:
        report.details["native_gems"] = native
    rails = ws.find("Gemfile", r"^\s*gem\s+[\"']rails[\"']")
    if not rails:
        f["framework"] = unknown("no rails gem in the Gemfile")
        for name in ("build", "start", "port", "health_check_path", "resources"):
            f[name] = unknown("the web framework is unknown")
        return report
    app = ws.find("config/application.rb", r"<\s*Rails::Application")
    f["framework"] = found(
        "rails", "rails in the Gemfile", *[e for e in (rails[1], app[1] if app else None) if e]
    )

    assets = ws.find("Gemfile.lock", r"^\s{4}(propshaft|sprockets-rails)\s") or ws.find(
        "Gemfile", r"^\s*gem\s+[\"'](propshaft|sprockets-rails)[\"']"
    )
    if assets:
        f["build"] = found("bin/rails assets:precompile", f"{assets[0].group(1)} serves compiled "
                           "assets", assets[1])  # fmt: skip
        report.details["assets"] = True
    else:
        f["build"] = found(None, "no asset pipeline gem (propshaft, sprockets-rails): nothing to "
                           "compile beyond native gem extensions")  # fmt: skip

    ports = Ports()
    declared = explicit_start(ws, df)
    if declared:
        port, _ = command_port(declared[0])
        if port:
            ports.add(port, START_COMMAND, declared[2], declared[1])
    puma = "config/puma.rb" if ws.exists("config/puma.rb") else None
    workers: tuple[int, Evidence] | None = None
    if puma:
        for port_rx in (_PUMA_PORT, _PUMA_BIND):
            hit = ws.find(puma, port_rx)
            if hit and _first_int(hit[0]):
                ports.add(_first_int(hit[0]), SERVER_CONFIG, "config/puma.rb port", hit[1])
                if "PORT" in hit[1].text:
                    report.details["port_env"] = "PORT"
                break
        hit = ws.find(puma, _PUMA_WORKERS)
        if hit and _first_int(hit[0]):
            workers = (_first_int(hit[0]) or 1, hit[1])
    ports.add(3000, DEFAULT, "Rails' default port (puma)")
    dockerfile_votes(df, ports, report.details.get("port_env"))
    f["port"] = ports.decide(report, "no port")

    if declared:
        f["start"] = found(declared[0], declared[2], declared[1])
    elif puma:
        f["start"] = found(["bundle", "exec", "puma", "-C", puma], "puma with config/puma.rb",
                           evidence(puma, None, "file present"))  # fmt: skip
    else:
        f["start"] = found(
            ["bundle", "exec", "rails", "server", "-b", "0.0.0.0", "-p", str(f["port"].value)],
            "rails server (convention)",
            rails[1],
        )

    report.notes.append(
        "Rails in production needs SECRET_KEY_BASE (or RAILS_MASTER_KEY): pass it "
        "as a secret (deplight:service.secrets), never as a plain variable"
    )
    routes = [("/" + m.group(1).lstrip("/"), ev) for m, ev in ws.search("config/routes.rb", _ROUTE)]
    f["health_check_path"] = pick_health(routes, "config/routes.rb", report)

    # Puma in cluster mode runs a master plus N workers; the master is small but counts.
    n = workers[0] if workers else 1
    why = f"puma workers {n} ({workers[1].where()})" if workers else "puma in single mode"
    resources, reason = sizing.for_processes("rails", n, why)
    f["resources"] = found(resources, reason, workers[1] if workers else rails[1])
    return report
