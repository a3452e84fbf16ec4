""".NET: ASP.NET Core, from the web project (``Sdk="Microsoft.NET.Sdk.Web"``), its target
framework and lock file, Kestrel settings and the mapped endpoints."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from deplight.analyze import sizing
from deplight.analyze.common import (
    CODE,
    DEFAULT,
    IMAGE_ENV,
    SERVER_CONFIG,
    Ports,
    dockerfile_votes,
    explicit_start,
    parse_dockerfile,
    pick_health,
)
from deplight.analyze.report import Report, found, unknown
from deplight.analyze.workspace import Workspace, evidence

_URL_PORT = r"https?://[^:\"';]+:(\d{2,5})"
_CODE_PORT = re.compile(r"(?:UseUrls|\.Run|\.Urls\.Add)\(\s*\"" + _URL_PORT)
_LISTEN_PORT = re.compile(r"\.Listen(?:Any|Local)IP\(\s*(\d{2,5})\s*\)")
_ROUTE = re.compile(r"\.(?:MapHealthChecks|MapGet)\(\s*\"(/[^\"]*)\"")


def analyze(ws: Workspace) -> Report | None:
    # At the root, one level down, or src/<name>/ (the dotnet new layouts).
    projects = [f for f in ws.files if f.endswith(".csproj") and f.count("/") <= 2]
    if not projects:
        return None
    report = Report()
    f = report.findings
    f["language"] = found("dotnet", "C# project file", evidence(projects[0], None, "file present"))
    df = parse_dockerfile(ws)
    web = [(p, hit[1]) for p in projects
           if (hit := ws.find(p, r"Sdk=\"Microsoft\.NET\.Sdk\.Web\""))]  # fmt: skip
    project = web[0][0] if len(web) == 1 else projects[0] if len(projects) == 1 else None

    tfm = ws.find(project, r"<TargetFramework>net(\d+\.\d+)</TargetFramework>") if project else None
    f["version"] = (found(tfm[0].group(1), f"{project} TargetFramework", tfm[1]) if tfm else
                    unknown("no single project with a netX.Y TargetFramework"))  # fmt: skip

    if project:
        lock = str(PurePosixPath(project).parent / "packages.lock.json").removeprefix("./")
        if ws.exists(lock):
            f["dependencies"] = found({"manager": "nuget", "lock_file": lock},
                                      "NuGet lock file (restore --locked-mode)",
                                      evidence(lock, None, "file present"))  # fmt: skip
        else:
            f["dependencies"] = found({"manager": "nuget", "lock_file": None},
                                      "PackageReference versions without packages.lock.json",
                                      evidence(project, None, "file present"))  # fmt: skip
            report.notes.append(f"no packages.lock.json next to {project}: set "
                                "<RestorePackagesWithLockFile>true</RestorePackagesWithLockFile> "
                                "and commit the lock for reproducible restores")  # fmt: skip
    else:
        f["dependencies"] = unknown("several projects and no single web project")

    if len(web) != 1:
        f["framework"] = unknown(
            "no ASP.NET Core web project"
            if not web
            else "several web projects: " + ", ".join(p for p, _ in web)
        )
        for name in ("build", "start", "port", "health_check_path", "resources"):
            f[name] = unknown("the web project is unknown")
        return report
    f["framework"] = found("aspnetcore", f"{project} uses the Web SDK", web[0][1])
    assert project is not None
    assembly_hit = ws.find(project, r"<AssemblyName>([^<]+)</AssemblyName>")
    assembly = assembly_hit[0].group(1) if assembly_hit else PurePosixPath(project).stem
    report.details["project"] = project
    report.details["assembly"] = assembly
    f["build"] = found(f"dotnet publish {project} -c Release -o /out", "the web project",
                       web[0][1])  # fmt: skip

    project_dir = str(PurePosixPath(project).parent)
    sources = [s for s in ws.sources(".cs", limit=400)
               if project_dir == "." or s.startswith(project_dir + "/")]  # fmt: skip
    ports = Ports()
    for rx in (_CODE_PORT, _LISTEN_PORT):
        hit = ws.find_in(sources, rx)
        if hit:
            ports.add(int(hit[0].group(1)), CODE, "the URL the code binds", hit[1])
            break
    settings = str(PurePosixPath(project_dir) / "appsettings.json").removeprefix("./")
    hit = ws.find(settings, r"\"Url\"\s*:\s*\"" + _URL_PORT)
    if hit:
        ports.add(int(hit[0].group(1)), SERVER_CONFIG, f"Kestrel endpoint in {settings}", hit[1])
    if df:
        for var in ("ASPNETCORE_HTTP_PORTS", "ASPNETCORE_URLS", "HTTP_PORTS"):
            if var in df.env:
                m = re.search(r"(\d{2,5})\s*$", df.env[var][0].split(";")[0])
                if m:
                    ports.add(int(m.group(1)), IMAGE_ENV, f"the existing Dockerfile sets {var}",
                              df.env[var][1])  # fmt: skip
    dockerfile_votes(df, ports, None)
    major = int(tfm[0].group(1).split(".")[0]) if tfm else 8
    ports.add(8080 if major >= 8 else 80, DEFAULT,
              f"the ASP.NET Core {major} image's default (ASPNETCORE_HTTP_PORTS)" if major >= 8
              else f"the ASP.NET Core {major} image's default (ASPNETCORE_URLS)",
              *([tfm[1]] if tfm else []))  # fmt: skip
    f["port"] = ports.decide(report, "no port")

    declared = explicit_start(ws, df)
    if declared:
        f["start"] = found(declared[0], declared[2], declared[1])
    else:
        f["start"] = found(["dotnet", f"{assembly}.dll"], "the published assembly", web[0][1])
    routes = [(m.group(1), ev) for m, ev in ws.search_in(sources, _ROUTE)]
    f["health_check_path"] = pick_health(routes, "MapHealthChecks/MapGet endpoints", report)
    resources, reason = sizing.for_processes("aspnetcore", 1, "one ASP.NET Core process")
    f["resources"] = found(resources, reason, web[0][1])
    return report
