"""Java: Spring Boot (Maven or Gradle), from the build file, the ``@SpringBootApplication`` class,
``application.properties``/``application.yml`` and Actuator."""

from __future__ import annotations

import re

from deplight.analyze import sizing
from deplight.analyze.common import (
    DEFAULT,
    IMAGE_ENV,
    SERVER_CONFIG,
    START_COMMAND,
    Ports,
    command_port,
    dockerfile_votes,
    explicit_start,
    join_route,
    parse_dockerfile,
    pick_health,
    version_from_image,
)
from deplight.analyze.report import Evidence, Report, found, unknown
from deplight.analyze.workspace import Workspace, evidence

CONFIG_DIRS = ("src/main/resources/", "config/", "")
_XMX = re.compile(r"-Xmx(\d+)([mMgG])")
_MAPPING = re.compile(r"@(?:GetMapping|RequestMapping)\(\s*(?:(?:value|path)\s*=\s*)?\"(/[^\"]*)\"")


def _config_files(ws: Workspace) -> list[str]:
    names = ("application.properties", "application.yml", "application.yaml")
    return [d + n for d in CONFIG_DIRS for n in names if ws.exists(d + n)]


_YAML_KEY = re.compile(r"^(\s*)([A-Za-z0-9_.\-]+|\"[^\"]+\"|'[^']+')\s*:(?:\s+(.*?))?\s*$")


def yaml_keys(ws: Workspace, rel: str) -> list[tuple[str, str, Evidence]]:
    """Every ``key: value`` line of a YAML file as (dotted path, value, evidence): nesting by
    indentation, so ``server:`` / ``  port: 8081`` and ``server.port: 8081`` both give
    ``server.port``. Enough for Spring's configuration files, not a YAML parser."""
    out = []
    stack: list[tuple[int, str]] = []
    for no, line in enumerate(ws.lines(rel), start=1):
        if line.strip() == "---":
            stack = []
            continue
        if not line.strip() or line.lstrip().startswith(("#", "-")):
            continue
        m = _YAML_KEY.match(line)
        if not m:
            continue
        indent, key = len(m.group(1)), m.group(2).strip("\"'")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k in stack] + [key])
        stack.append((indent, key))
        value = (m.group(3) or "").split(" #", 1)[0].strip().strip("\"'")
        out.append((path, value, evidence(rel, no, line)))
    return out


def _property(ws: Workspace, files: list[str], dotted: str) -> tuple[str, Evidence] | None:
    """The value of a Spring property (``a.b.c``) in the first configuration file that sets it."""
    flat = re.compile(rf"^\s*{re.escape(dotted)}\s*[=:]\s*[\"']?([^\"'\s#]+)")
    for rel in files:
        if rel.endswith(".properties"):
            hit = ws.find(rel, flat)
            if hit:
                return hit[0].group(1), hit[1]
            continue
        for path, value, ev in yaml_keys(ws, rel):
            if path == dotted and value:
                return value, ev
    return None


def _port_value(value: str) -> tuple[int, bool] | None:
    """``8081`` -> (8081, False); ``${PORT:8081}`` -> (8081, True)."""
    m = re.fullmatch(r"(\$\{PORT:)?(\d+)\}?", value)
    return (int(m.group(2)), bool(m.group(1))) if m else None


def analyze(ws: Workspace) -> Report | None:
    build_file = ws.first("pom.xml", "build.gradle.kts", "build.gradle")
    if not build_file:
        return None
    maven = build_file == "pom.xml"
    report = Report()
    f = report.findings
    f["language"] = found(
        "java",
        "Maven build file" if maven else "Gradle build file",
        evidence(build_file, None, "file present"),
    )
    df = parse_dockerfile(ws)

    if maven:
        hit = ws.find(build_file, r"<(?:java\.version|maven\.compiler\.release|"
                                  r"maven\.compiler\.target|release)>(\d+)<")  # fmt: skip
    else:
        hit = ws.find(
            build_file,
            r"JavaLanguageVersion\.of\((\d+)\)|"
            r"sourceCompatibility\s*=\s*['\"]?(?:JavaVersion\.VERSION_)?(\d+)",
        )
    image = version_from_image(df, "eclipse-temurin") or version_from_image(df, "openjdk")
    if hit:
        f["version"] = found(next(g for g in hit[0].groups() if g), f"{build_file} Java release",
                             hit[1])  # fmt: skip
    elif image:
        f["version"] = found(image[0], "the existing Dockerfile's base image", image[1])
    else:
        f["version"] = unknown(f"no Java release in {build_file}")

    wrapper = ws.first("mvnw" if maven else "gradlew")
    report.details["build_tool"] = "maven" if maven else "gradle"
    report.details["wrapper"] = bool(wrapper)
    if maven:
        f["dependencies"] = found(
            {"manager": "maven", "lock_file": None},
            "Maven resolves the exact versions pom.xml declares (no lock file format)",
            evidence("pom.xml", None, "file present"),
        )
    else:
        lock = ws.first("gradle.lockfile")
        f["dependencies"] = found({"manager": "gradle", "lock_file": lock},
                                  "Gradle" + (" with dependency locking" if lock else ""),
                                  evidence(lock or build_file, None, "file present"))  # fmt: skip

    marker = (r"<artifactId>spring-boot-starter(?:-parent|-web|-webflux)?</artifactId>" if maven
              else r"org\.springframework\.boot")  # fmt: skip
    boot = ws.find(build_file, marker)
    sources = ws.sources(".java", ".kt", limit=400)
    app_class = ws.find_in(sources, r"@SpringBootApplication")
    if not boot:
        f["framework"] = unknown(f"no Spring Boot in {build_file}")
        f["build"] = unknown("the framework is unknown")
        for name in ("start", "port", "health_check_path", "resources"):
            f[name] = unknown("the web framework is unknown")
        return report
    f["framework"] = found(
        "spring-boot",
        f"Spring Boot in {build_file}",
        *[e for e in (boot[1], app_class[1] if app_class else None) if e],
    )

    if maven:
        cmd = ("./mvnw" if wrapper else "mvn") + " -B -DskipTests package"
    else:
        cmd = ("./gradlew" if wrapper else "gradle") + " --no-daemon bootJar"
    f["build"] = found(
        cmd, "Spring Boot's executable jar", evidence(build_file, None, "file present")
    )

    configs = _config_files(ws)
    ports = Ports()
    declared = explicit_start(ws, df)
    if declared:
        port, _ = command_port(declared[0])
        if port:
            ports.add(port, START_COMMAND, declared[2], declared[1])
        for tok in declared[0]:
            m = re.match(r"-Dserver\.port=(\d+)", tok)
            if m:
                ports.add(int(m.group(1)), START_COMMAND, declared[2], declared[1])
    setting = _property(ws, configs, "server.port")
    parsed = _port_value(setting[0]) if setting else None
    if setting and parsed:
        ports.add(parsed[0], SERVER_CONFIG, f"server.port in {setting[1].file}", setting[1])
        if parsed[1]:
            report.details["port_env"] = "PORT"
    if df and "SERVER_PORT" in df.env and df.env["SERVER_PORT"][0].isdigit():
        ports.add(int(df.env["SERVER_PORT"][0]), IMAGE_ENV, "the existing Dockerfile sets SERVER_PORT",
                  df.env["SERVER_PORT"][1])  # fmt: skip
    ports.add(8080, DEFAULT, "Spring Boot's default port (server.port)")
    dockerfile_votes(df, ports, report.details.get("port_env"))
    f["port"] = ports.decide(report, "no port")

    actuator = ws.find(build_file, r"spring-boot-starter-actuator")
    if actuator:
        base = _property(ws, configs, "management.endpoints.web.base-path")
        path = join_route(base[0] if base else "/actuator", "health")
        report.details["health_routes"] = [path]
        f["health_check_path"] = found(
            path,
            "Spring Boot Actuator's health endpoint",
            *[e for e in (actuator[1], base[1] if base else None) if e],
        )
        mgmt = _property(ws, configs, "management.server.port")
        if mgmt:
            report.notes.append(
                f"Actuator listens on management.server.port {mgmt[0]} ({mgmt[1].where()}), not on "
                "the service port: the ALB and container health checks probe the service port"
            )
    else:
        routes = [(m.group(1), ev) for m, ev in ws.search_in(sources, _MAPPING)]
        f["health_check_path"] = pick_health(
            routes, "@GetMapping routes; no Actuator dependency", report
        )

    heap: tuple[int, Evidence] | None = None
    texts = []
    if declared:
        texts.append((" ".join(declared[0]), declared[1]))
    if df:
        texts += [
            (v, ev) for k, (v, ev) in df.env.items() if k in ("JAVA_OPTS", "JAVA_TOOL_OPTIONS")
        ]
    for text, ev in texts:
        m = _XMX.search(text)
        if m:
            heap = (int(m.group(1)) * (1024 if m.group(2).lower() == "g" else 1), ev)
            break
    if declared:
        f["start"] = found(declared[0], declared[2], declared[1])
    else:
        f["start"] = found(["java", "-XX:MaxRAMPercentage=75", "-jar", "/app/app.jar"],
                           "the executable jar the build produces", boot[1])  # fmt: skip
    resources, reason = sizing.for_jvm(heap[0] if heap else None, f"-Xmx ({heap[1].where()})"
                                       if heap else "")  # fmt: skip
    f["resources"] = found(resources, reason, heap[1] if heap else boot[1])
    return report
