"""``--write``: a Dockerfile and .dockerignore for the analysed service.

Every image: a small pinned base (slim Debian or Alpine), dependencies installed from the
project's lock file, a build stage where the stack compiles or bundles, a non-root user, ``curl``
(the ECS task definition's health check runs it inside the container) and a ``HEALTHCHECK`` that
is the task definition's own check, taken from :func:`components.ecs_service.container_definitions`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deplight.analyze.report import Report

APP_UID = 10001
DEFAULT_VERSIONS = {"python": "3.12", "node": "22", "go": "1.22", "java": "21", "ruby": "3.3",
                    "dotnet": "8.0"}  # fmt: skip
"""Used only when the project states no version; the Dockerfile says so in a comment."""
POETRY_VERSION = "1.8.3"
"""Poetry 1.x bundles ``poetry export``; 2.x moved it to a plugin."""
ALPINE_VERSION = "3.20"
FALLBACK_HEALTH_PATH = "/"
"""Probed when no health endpoint was found: the ALB accepts any 200-399 answer there."""

_PORT_REF = re.compile(r"\$\{PORT(?::?-[^}]*)?\}|\$PORT\b")
_CURL_WHY = ("# curl: the ECS task definition's health check runs it inside the container. The base\n"
             "# image tag pins the distribution release and curl follows its security updates, so\n"
             "# its package version is not pinned.\n")  # fmt: skip
_DEBIAN_USER = (f"groupadd --system --gid {APP_UID} app \\\n"
                f"    && useradd --system --uid {APP_UID} --gid app --no-create-home "
                "--shell /usr/sbin/nologin app")  # fmt: skip
_ALPINE_USER = (f"addgroup -S -g {APP_UID} app \\\n"
                f"    && adduser -S -D -H -u {APP_UID} -G app -s /sbin/nologin app")  # fmt: skip

DOCKERIGNORE_COMMON = [".git", ".github", ".deplight-cache", ".env", ".env.*", "*.pem",
                       "Dockerfile", ".dockerignore", "**/.DS_Store"]  # fmt: skip
DOCKERIGNORE = {
    "python": ["**/__pycache__", "**/*.pyc", ".venv", "venv", ".pytest_cache", ".mypy_cache",
               ".ruff_cache", ".tox", "htmlcov"],
    "node": ["node_modules", ".next", "dist", "coverage", "npm-debug.log*", ".pnpm-store"],
    "go": ["bin", "*.test", "coverage.out"],
    "java": ["target", "build", ".gradle", ".idea", "*.iml"],
    "ruby": [".bundle", "vendor/bundle", "log/*", "tmp/*", "storage/*", "node_modules",
             "public/assets", "config/master.key"],
    "dotnet": ["bin", "obj", "**/bin", "**/obj", ".vs", "*.user"],
}  # fmt: skip


class DockerfileError(Exception):
    """The report lacks what a Dockerfile needs, or the project's setup is not supported."""


@dataclass(frozen=True)
class Plan:
    """What the templates need, checked once."""

    language: str
    framework: str
    version: str
    version_stated: bool
    port: int
    health_path: str
    start: list[str]
    start_declared: bool
    dependencies: dict[str, Any]
    details: dict[str, Any]


def plan(report: Report) -> Plan:
    missing = [n for n in ("language", "framework", "port", "start") if report.value(n) is None]
    if missing:
        why = "; ".join(f"{n}: {report[n].reason}" for n in missing)
        raise DockerfileError(f"cannot write a Dockerfile: the analysis could not tell {why}")
    language = report.value("language")
    deps = report.value("dependencies") or {}
    version = report.value("version")
    start_reason = report["start"].reason
    return Plan(
        language=language,
        framework=report.value("framework"),
        version=version or DEFAULT_VERSIONS[language],
        version_stated=version is not None,
        port=int(report.value("port")),
        health_path=report.value("health_check_path") or FALLBACK_HEALTH_PATH,
        start=list(report.value("start")),
        start_declared="Procfile" in start_reason or "existing Dockerfile" in start_reason,
        dependencies=deps,
        details=dict(report.details),
    )


def task_health_check(port: int, path: str) -> dict[str, Any]:
    """The health check the stack's task definition runs for this port and path."""
    from components.ecs_service import container_definitions
    from components.settings import ServiceSettings

    settings = ServiceSettings(container_port=port, health_check_path=path)
    app = container_definitions(settings=settings, image="image", log_group="log-group",
                                region="us-east-1", tracing_name="service")[0]  # fmt: skip
    return dict(app["healthCheck"])


def _healthcheck(p: Plan) -> str:
    hc = task_health_check(p.port, p.health_path)
    kind, command = hc["command"][0], hc["command"][1]
    if kind != "CMD-SHELL":
        raise DockerfileError(f"unexpected task definition health check {hc['command']!r}")
    # CMD-SHELL in ECS is `/bin/sh -c <command>`, which is exactly this exec form.
    return (f"# The ECS task definition runs the same check (deplight:service.health_check_path).\n"
            f"HEALTHCHECK --interval={hc['interval']}s --timeout={hc['timeout']}s "
            f"--start-period={hc['startPeriod']}s --retries={hc['retries']} \\\n"
            f"    CMD {json.dumps(['/bin/sh', '-c', command])}\n")  # fmt: skip


def _cmd(argv: list[str], port: int) -> str:
    """Exec-form CMD; ``$PORT`` is resolved to the port (exec form does not expand variables)."""
    out = [_PORT_REF.sub(str(port), a) for a in argv]
    if any("$" in a for a in out):
        out = ["/bin/sh", "-c", "exec " + " ".join(out)]
    return "CMD " + json.dumps(out) + "\n"


def _debian_runtime(extra_packages: tuple[str, ...] = ()) -> str:
    packages = " ".join(("curl", *extra_packages))
    return (_CURL_WHY + "# hadolint ignore=DL3008\n"
            "RUN apt-get update \\\n"
            f"    && apt-get install -y --no-install-recommends {packages} \\\n"
            "    && rm -rf /var/lib/apt/lists/* \\\n"
            f"    && {_DEBIAN_USER}\n")  # fmt: skip


def _alpine_runtime() -> str:
    return (_CURL_WHY + "# hadolint ignore=DL3018\n"
            f"RUN apk add --no-cache curl \\\n    && {_ALPINE_USER}\n")  # fmt: skip


def _tail(p: Plan, cmd: list[str]) -> str:
    # Numeric, so that a runtime can tell it is not root without reading /etc/passwd.
    return f"USER {APP_UID}:{APP_UID}\nEXPOSE {p.port}\n" + _healthcheck(p) + _cmd(cmd, p.port)


def _header(p: Plan) -> str:
    lines = [
        "# syntax=docker/dockerfile:1",
        f"# Generated by `deplight analyze --write` for a {p.framework} service ({p.language} "
        f"{p.version}).",
        "# Review it and commit it with the service; `deplight analyze` reports the evidence.",
    ]
    if not p.version_stated:
        lines.append(f"# The project states no {p.language} version: {p.version} is a default; "
                     "pin the one you test with.")  # fmt: skip
    return "\n".join(lines) + "\n"


def _python(p: Plan) -> str:
    deps = p.dependencies
    manager, lock = deps.get("manager"), deps.get("lock_file")
    image = f"python:{p.version}-slim"
    env = ("ENV PYTHONDONTWRITEBYTECODE=1 \\\n    PYTHONUNBUFFERED=1 \\\n"
           f"    PIP_DISABLE_PIP_VERSION_CHECK=1 \\\n    PORT={p.port}\n")  # fmt: skip
    if manager == "pip" and lock == "requirements.txt":
        stage, install = "", ("COPY requirements.txt ./\n"
                              "RUN pip install --no-cache-dir -r requirements.txt\n")  # fmt: skip
    elif manager == "poetry":
        stage = (f"FROM {image} AS requirements\n"
                 f"RUN pip install --no-cache-dir poetry=={POETRY_VERSION}\n"
                 "WORKDIR /src\nCOPY pyproject.toml poetry.lock ./\n"
                 "# Fails if poetry.lock is out of date with pyproject.toml.\n"
                 "RUN poetry export --only main --format requirements.txt "
                 "--output requirements.txt\n\n")  # fmt: skip
        install = ("COPY --from=requirements /src/requirements.txt ./\n"
                   "# The exported requirements carry poetry.lock's hashes: pip checks them.\n"
                   "RUN pip install --no-cache-dir -r requirements.txt\n")  # fmt: skip
    elif manager == "pip":
        raise DockerfileError("cannot write a reproducible Dockerfile: requirements.txt does not "
                              "pin every requirement with == (see the notes); pin them, e.g. "
                              "with pip-compile, and run again")  # fmt: skip
    else:
        raise DockerfileError(f"cannot write a Dockerfile for Python dependencies managed by "
                              f"{manager or 'nothing found'}: supported are requirements.txt "
                              "(fully pinned) and Poetry (poetry.lock)")  # fmt: skip
    return (_header(p) + stage + f"FROM {image}\n" + env + _debian_runtime() + "WORKDIR /app\n"
            + install + "COPY . .\n" + _tail(p, p.start))  # fmt: skip


def _node(p: Plan) -> str:
    deps = p.dependencies
    manager, lock = deps.get("manager"), deps.get("lock_file")
    if not lock:
        raise DockerfileError("cannot write a reproducible Dockerfile: no lock file "
                              "(package-lock.json, yarn.lock or pnpm-lock.yaml); install once "
                              "and commit it")  # fmt: skip
    if manager == "yarn" and p.details.get("yarn_berry"):
        raise DockerfileError("cannot write a Dockerfile for Yarn 2+ (.yarnrc.yml): supported are "
                              "npm, pnpm and Yarn 1")  # fmt: skip
    image = f"node:{p.version}-alpine"
    build = bool(p.details.get("build_script"))
    corepack = "RUN corepack enable\n" if manager == "pnpm" else ""
    copy_manifests = f"COPY package.json {lock} ./\n"
    full, prod, prune, run_build = {
        "npm": ("npm ci", "npm ci --omit=dev", "npm prune --omit=dev", "npm run build"),
        "pnpm": ("pnpm install --frozen-lockfile", "pnpm install --frozen-lockfile --prod",
                 "pnpm prune --prod", "pnpm build"),
        "yarn": ("yarn install --frozen-lockfile && yarn cache clean",
                 "yarn install --frozen-lockfile --production && yarn cache clean",
                 "yarn install --frozen-lockfile --production --ignore-scripts --prefer-offline "
                 "&& yarn cache clean", "yarn build"),
    }[str(manager)]  # fmt: skip
    env = f"ENV NODE_ENV=production \\\n    PORT={p.port}\n"
    runtime = f"FROM {image}\n" + env + _alpine_runtime() + "WORKDIR /app\n"
    if not build:
        return (_header(p) + runtime + corepack + copy_manifests + f"RUN {prod}\n" + "COPY . .\n"
                + _tail(p, p.start))  # fmt: skip
    stage = (f"FROM {image} AS build\n" + corepack + "WORKDIR /app\n" + copy_manifests
             + f"RUN {full}\nCOPY . .\n" + f"RUN {run_build} \\\n    && {prune}\n\n")  # fmt: skip
    if p.framework == "nextjs":
        copies = "COPY --from=build /app/package.json ./\nCOPY --from=build /app/node_modules ./node_modules\n"
        if p.details.get("next_config"):
            copies += f"COPY --from=build /app/{p.details['next_config']} ./\n"
        if p.details.get("next_public"):
            copies += "COPY --from=build /app/public ./public\n"
        copies += ("# next start writes its cache (.next/cache) at run time.\n"
                   "COPY --from=build --chown=app:app /app/.next ./.next\n")  # fmt: skip
    else:
        copies = "COPY --from=build /app ./\n"
    return _header(p) + stage + runtime + copies + _tail(p, p.start)


def _go(p: Plan) -> str:
    pkg = p.details.get("main_package")
    if not pkg:
        raise DockerfileError("cannot write a Dockerfile: no single main package to build")
    sums = "go.mod go.sum" if p.dependencies.get("lock_file") else "go.mod"
    return (_header(p) + _declared_note(p, "/app/server")
            + f"FROM golang:{p.version}-alpine AS build\nWORKDIR /src\n"
            f"COPY {sums} ./\nRUN go mod download\nCOPY . .\n"
            f"RUN CGO_ENABLED=0 go build -trimpath -ldflags=\"-s -w\" -o /out/server {pkg}\n\n"
            f"FROM alpine:{ALPINE_VERSION}\nENV PORT={p.port}\n" + _alpine_runtime()
            + "COPY --from=build /out/server /app/server\n"
            + _tail(p, ["/app/server"]))  # fmt: skip


def _java(p: Plan) -> str:
    v, tool, wrapper = p.version, p.details.get("build_tool"), p.details.get("wrapper")
    if tool == "maven" and wrapper:
        stage = (f"FROM eclipse-temurin:{v}-jdk AS build\nWORKDIR /src\n"
                 "COPY mvnw pom.xml ./\nCOPY .mvn .mvn\nRUN ./mvnw -B -q dependency:go-offline\n"
                 "COPY src ./src\nRUN ./mvnw -B -q -DskipTests package \\\n"
                 "    && cp target/*.jar /tmp/app.jar\n\n")  # fmt: skip
    elif tool == "maven":
        stage = (f"FROM maven:3.9-eclipse-temurin-{v} AS build\nWORKDIR /src\n"
                 "COPY pom.xml ./\nRUN mvn -B -q dependency:go-offline\n"
                 "COPY src ./src\nRUN mvn -B -q -DskipTests package \\\n"
                 "    && cp target/*.jar /tmp/app.jar\n\n")  # fmt: skip
    else:
        gradle = "./gradlew" if wrapper else "gradle"
        base = f"eclipse-temurin:{v}-jdk" if wrapper else f"gradle:8.10-jdk{v}"
        stage = (f"FROM {base} AS build\nWORKDIR /src\nCOPY . .\n"
                 f"RUN {gradle} --no-daemon -q bootJar \\\n"
                 "    && find build/libs -name '*.jar' ! -name '*-plain.jar' "
                 "-exec cp {} /tmp/app.jar \\;\n\n")  # fmt: skip
    cmd = ["java", "-XX:MaxRAMPercentage=75", "-jar", "/app/app.jar"]
    # SERVER_PORT overrides server.port from any configuration file (Spring relaxed binding).
    return (_header(p) + _declared_note(p, " ".join(cmd)) + stage
            + f"FROM eclipse-temurin:{v}-jre-alpine\nENV SERVER_PORT={p.port} \\\n"
            f"    PORT={p.port}\n" + _alpine_runtime()
            + "COPY --from=build /tmp/app.jar /app/app.jar\n" + _tail(p, cmd))  # fmt: skip


def _ruby(p: Plan) -> str:
    from deplight.analyze.lang_ruby import NATIVE_LIBS

    if not p.dependencies.get("lock_file"):
        raise DockerfileError("cannot write a reproducible Dockerfile: no Gemfile.lock; run "
                              "`bundle lock` and commit it")  # fmt: skip
    gems = p.details.get("native_gems", [])
    build_pkgs = " ".join(["build-essential", "git", "libyaml-dev", "pkg-config"]
                          + [NATIVE_LIBS[g][0] for g in gems])  # fmt: skip
    runtime_pkgs = tuple(NATIVE_LIBS[g][1] for g in gems)
    image = f"ruby:{p.version}-slim"
    bundle_env = ("ENV BUNDLE_DEPLOYMENT=1 \\\n    BUNDLE_WITHOUT=development:test \\\n"
                  "    BUNDLE_PATH=/usr/local/bundle")  # fmt: skip
    assets = ("RUN SECRET_KEY_BASE_DUMMY=1 bin/rails assets:precompile\n"
              if p.details.get("assets") else "")  # fmt: skip
    stage = (f"FROM {image} AS build\n{bundle_env}\n"
             "# hadolint ignore=DL3008\n"
             "RUN apt-get update \\\n"
             f"    && apt-get install -y --no-install-recommends {build_pkgs} \\\n"
             "    && rm -rf /var/lib/apt/lists/*\n"
             "WORKDIR /app\nCOPY Gemfile Gemfile.lock ./\n"
             "RUN bundle install \\\n    && rm -rf \"${BUNDLE_PATH}\"/ruby/*/cache\n"
             "COPY . .\n" + assets + "\n")  # fmt: skip
    runtime = (f"FROM {image}\n{bundle_env} \\\n    RAILS_ENV=production \\\n"
               f"    RAILS_LOG_TO_STDOUT=1 \\\n    PORT={p.port}\n"
               + _debian_runtime(runtime_pkgs) + "WORKDIR /app\n"
               "COPY --from=build /usr/local/bundle /usr/local/bundle\n"
               "COPY --from=build /app ./\n"
               "# Rails writes pid files, caches and logs under tmp/ and log/.\n"
               "RUN mkdir -p tmp log \\\n    && chown -R app:app tmp log\n")  # fmt: skip
    return _header(p) + stage + runtime + _tail(p, p.start)


def _dotnet(p: Plan) -> str:
    project, assembly = p.details.get("project"), p.details.get("assembly")
    if not project or not assembly:
        raise DockerfileError("cannot write a Dockerfile: no single ASP.NET Core project")
    lock = p.dependencies.get("lock_file")
    folder = str(Path(project).parent)
    dest = "./" if folder == "." else f"{folder}/"
    sources = " ".join([project] + ([lock] if lock else []))
    restore = f"RUN dotnet restore {project}" + (" --locked-mode\n" if lock else "\n")
    note = ("" if lock else "# No packages.lock.json: this restore is not locked (see the "
            "analysis notes).\n")  # fmt: skip
    cmd = ["dotnet", f"{assembly}.dll"]
    return (_header(p) + _declared_note(p, " ".join(cmd))
            + f"FROM mcr.microsoft.com/dotnet/sdk:{p.version} AS build\nWORKDIR /src\n"
            f"COPY {sources} {dest}\n" + note + restore + "COPY . .\n"
            f"RUN dotnet publish {project} -c Release -o /out --no-restore\n\n"
            f"FROM mcr.microsoft.com/dotnet/aspnet:{p.version}-alpine\n"
            f"ENV ASPNETCORE_HTTP_PORTS={p.port} \\\n    PORT={p.port}\n" + _alpine_runtime()
            + "WORKDIR /app\nCOPY --from=build /out ./\n" + _tail(p, cmd))  # fmt: skip


def _declared_note(p: Plan, runs: str) -> str:
    if p.start_declared and " ".join(p.start) != runs:
        return (f"# The project declares `{' '.join(p.start)}`; this image runs the artifact it "
                f"builds: `{runs}`.\n")  # fmt: skip
    return ""


RENDERERS = {"python": _python, "node": _node, "go": _go, "java": _java, "ruby": _ruby,
             "dotnet": _dotnet}  # fmt: skip


def render(report: Report) -> dict[str, str]:
    """``{"Dockerfile": ..., ".dockerignore": ...}`` for the report, or :class:`DockerfileError`."""
    p = plan(report)
    dockerfile = RENDERERS[p.language](p)
    ignore = "\n".join(DOCKERIGNORE_COMMON + DOCKERIGNORE[p.language]) + "\n"
    return {"Dockerfile": dockerfile, ".dockerignore": ignore}


class WriteRefusedError(Exception):
    """A target file exists and ``--force`` was not given."""


def write(root: Path, files: dict[str, str], *, force: bool) -> list[Path]:
    """Writes ``files`` into ``root``; refuses (writing nothing) if any exists without ``force``."""
    existing = sorted(name for name in files if (root / name).exists())
    if existing and not force:
        raise WriteRefusedError(f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''} "
                           f"in {root}: not overwritten (use --force to replace)")  # fmt: skip
    written = []
    for name, content in files.items():
        fd, tmp = tempfile.mkstemp(dir=root, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(content)
            os.chmod(tmp, 0o644)
            os.replace(tmp, root / name)  # a reader sees the old file or the new, never half
        except OSError:
            os.unlink(tmp)
            raise
        written.append(root / name)
    return written
