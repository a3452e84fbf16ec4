"""`deplight analyze` rules: every fixture service's report, and the rules one by one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deplight.analyze.common import command_port, health_rank, join_route, parse_dockerfile
from deplight.analyze.engine import analyze
from deplight.analyze.lang_java import yaml_keys
from deplight.analyze.report import FIELDS, Report
from deplight.analyze.rules import run_rules
from deplight.analyze.sizing import fargate_pair
from deplight.analyze.workspace import Workspace
from tests.conftest import ROOT

SERVICES = ROOT / "tests" / "fixtures" / "services"
EXPECTED = ROOT / "tests" / "fixtures" / "analyze_expected"
FIXTURES = sorted(p.name for p in SERVICES.iterdir() if p.is_dir())


def report_of(path: Path) -> Report:
    return analyze(path).report


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_every_fixture_has_an_expected_report_and_every_stack_is_covered() -> None:
    assert FIXTURES == sorted(p.stem for p in EXPECTED.glob("*.json"))
    frameworks = {json.loads((EXPECTED / f"{n}.json").read_text())["findings"]["framework"]["value"]
                  for n in FIXTURES}  # fmt: skip
    assert frameworks == {"flask", "fastapi", "django", "express", "nestjs", "nextjs", "net/http",
                          "gin", "spring-boot", "rails", "aspnetcore", None}  # fmt: skip


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_report_matches_the_expected_json(name: str) -> None:
    expected = json.loads((EXPECTED / f"{name}.json").read_text())
    assert report_of(SERVICES / name).to_dict() == expected


@pytest.mark.parametrize("name", FIXTURES)
def test_every_decided_answer_cites_lines_that_exist(name: str) -> None:
    report = report_of(SERVICES / name)
    for field in FIELDS:
        finding = report[field]
        assert finding.reason, (name, field)
        for ev in finding.evidence:
            path = SERVICES / name / ev.file
            assert path.is_file(), (name, field, ev)
            if ev.line is not None:
                assert path.read_text().splitlines()[ev.line - 1].strip()[:150] == ev.text[:150]


def test_unknown_service_says_plainly_it_cannot_tell() -> None:
    report = report_of(SERVICES / "unknown")
    assert report.undecided == list(FIELDS)
    assert "no manifest of a supported stack" in report["language"].reason
    assert "package.json" in report["language"].reason and "go.mod" in report["language"].reason


def test_spring_boot_port_comes_from_application_yml_and_health_from_the_pom() -> None:
    # evidence from more than one file, and a non-default port
    report = report_of(SERVICES / "spring-boot")
    assert report.value("port") == 8081
    assert report["port"].evidence[0].file == "src/main/resources/application.yml"
    assert report["health_check_path"].evidence[0].file == "pom.xml"
    files = {e.file for e in report["framework"].evidence}
    assert files == {"pom.xml", "src/main/java/com/example/inventory/InventoryApplication.java"}


def test_django_health_route_follows_include_across_urlconfs() -> None:
    report = report_of(SERVICES / "django-poetry")
    assert report.value("health_check_path") == "/healthz/"
    assert [e.file for e in report["health_check_path"].evidence] == ["mysite/urls.py",
                                                                     "core/urls.py"]  # fmt: skip
    assert report.value("start")[-1] == "mysite.wsgi:application"  # from WSGI_APPLICATION


def test_non_default_ports_win_over_framework_defaults() -> None:
    assert report_of(SERVICES / "nextjs").value("port") == 4000  # next start -p 4000, not 3000
    assert report_of(SERVICES / "go-gin").value("port") == 9090  # Run(":9090"), not 8080
    assert report_of(SERVICES / "flask-gunicorn").value("port") == 5000  # Procfile, not 8000


def test_an_existing_dockerfile_is_evidence(tmp_path: Path) -> None:
    report = report_of(SERVICES / "fastapi-dockerfile")
    assert report.value("port") == 8001 and report["port"].evidence[0].file == "Dockerfile"
    assert report.value("version") == "3.11"


def test_port_conflicts_are_reported_and_the_start_command_wins(tmp_path: Path) -> None:
    write(tmp_path, {
        "requirements.txt": "flask==3.0.3\ngunicorn==22.0.0\n",
        "app.py": "from flask import Flask\napp = Flask(__name__)\n",
        "Procfile": "web: gunicorn --bind 0.0.0.0:$PORT app:app\n",
        "Dockerfile": "FROM python:3.12-slim\nENV PORT=7000\nEXPOSE 9000\n",
    })  # fmt: skip
    report = report_of(tmp_path)
    assert report.value("port") == 7000  # $PORT from the image's ENV
    assert any("port conflict" in n and "9000" in n for n in report.notes), report.notes


def test_unpinned_requirements_are_not_a_lock_file(tmp_path: Path) -> None:
    write(tmp_path, {"requirements.txt": "fastapi>=0.110\nuvicorn==0.30.1\n",
                     "main.py": "from fastapi import FastAPI\n\napp = FastAPI()\n"})  # fmt: skip
    report = report_of(tmp_path)
    assert report.value("dependencies") == {"manager": "pip", "lock_file": None}
    assert any("does not pin fastapi" in n for n in report.notes), report.notes
    assert report.value("start") == ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "8000"]
    assert not report["health_check_path"].decided  # no route: said, not guessed


def test_python_without_a_web_framework_is_classified_as_python_only(tmp_path: Path) -> None:
    write(tmp_path, {"requirements.txt": "requests==2.32.3\n", "worker.py": "print('hi')\n"})
    report = report_of(tmp_path)
    assert report.value("language") == "python"
    assert report.undecided == [
        "version",
        "framework",
        "start",
        "port",
        "health_check_path",
        "resources",
    ]


def test_a_frontend_package_json_does_not_hide_the_rails_app(tmp_path: Path) -> None:
    write(tmp_path, {"Gemfile": 'gem "rails", "~> 7.1"\n', "package.json": '{"name": "assets"}',
                     "config/routes.rb": 'get "healthz", to: "health#show"\n'})  # fmt: skip
    report = report_of(tmp_path)
    assert report.value("framework") == "rails"
    assert report.value("health_check_path") == "/healthz"
    assert any(n.startswith("also found node") for n in report.notes)


def test_jvm_heap_flag_sets_the_memory(tmp_path: Path) -> None:
    write(tmp_path, {
        "pom.xml": "<project><artifactId>spring-boot-starter-parent</artifactId></project>\n",
        "Procfile": "web: java -Xmx3g -jar target/app.jar\n",
    })  # fmt: skip
    report = report_of(tmp_path)
    assert report.value("resources") == {"cpu": 1024, "memory": 4096}  # 3 GiB / 0.75
    assert (
        "-Xmx" in report["resources"].reason and report["resources"].evidence[0].file == "Procfile"
    )


def test_gradle_spring_boot_with_properties_file(tmp_path: Path) -> None:
    write(tmp_path, {
        "build.gradle.kts": 'plugins { id("org.springframework.boot") version "3.3.2" }\n'
                            "java { toolchain { languageVersion = JavaLanguageVersion.of(17) } }\n",
        "gradlew": "#!/bin/sh\n",
        "src/main/resources/application.properties": "server.port=${PORT:9001}\n"
                                                     "management.endpoints.web.base-path=/ops\n",
        "build.gradle": "",
    })  # fmt: skip
    (tmp_path / "build.gradle").unlink()
    (tmp_path / "build.gradle.kts").write_text(
        (tmp_path / "build.gradle.kts").read_text()
        + 'dependencies { implementation("org.springframework.boot:spring-boot-starter-actuator") }\n'
    )
    report = report_of(tmp_path)
    assert report.value("version") == "17"
    assert report.value("port") == 9001 and report.details["port_env"] == "PORT"
    assert report.value("health_check_path") == "/ops/health"
    assert report.value("build") == "./gradlew --no-daemon bootJar"


def test_management_port_is_flagged(tmp_path: Path) -> None:
    write(tmp_path, {
        "pom.xml": "<artifactId>spring-boot-starter-web</artifactId>\n"
                   "<artifactId>spring-boot-starter-actuator</artifactId>\n",
        "src/main/resources/application.yml": "server:\n  port: 8080\nmanagement:\n  server:\n"
                                              "    port: 9090\n",
    })  # fmt: skip
    report = report_of(tmp_path)
    assert report.value("port") == 8080  # server.port, not management.server.port
    assert any("management.server.port 9090" in n for n in report.notes), report.notes


def test_two_main_packages_leave_the_go_build_undecided(tmp_path: Path) -> None:
    write(tmp_path, {"go.mod": "module x\n\ngo 1.22\n",
                     "cmd/a/main.go": "package main\nfunc main() { http.ListenAndServe(\":8080\", nil) }\n",
                     "cmd/b/main.go": "package main\n"})  # fmt: skip
    report = report_of(tmp_path)
    assert report.value("framework") == "net/http" and report.value("port") == 8080
    assert not report["build"].decided and "cmd/a, cmd/b" in report["build"].reason


def test_dotnet_kestrel_url_in_code(tmp_path: Path) -> None:
    write(tmp_path, {"src/Api/Api.csproj": '<Project Sdk="Microsoft.NET.Sdk.Web"><PropertyGroup>'
                                           "<TargetFramework>net6.0</TargetFramework>"
                                           "</PropertyGroup></Project>\n",
                     "src/Api/Program.cs": 'app.Run("http://0.0.0.0:5005");\n'
                                           'app.MapGet("/ready", () => "ok");\n'})  # fmt: skip
    report = report_of(tmp_path)
    assert report.value("port") == 5005 and report.value("health_check_path") == "/ready"
    assert report.details["project"] == "src/Api/Api.csproj"
    assert any("packages.lock.json" in n for n in report.notes)


def test_express_listen_with_a_literal_and_yarn(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "package.json": '{"main": "index.js", "dependencies": {"express": "4"}}',
            "yarn.lock": "# yarn lockfile v1\n",
            "index.js": "const app = require('express')();\n"
            "app.get('/healthz', (q, s) => s.send('ok'));\napp.listen(8088);\n",
        },
    )
    report = report_of(tmp_path)
    assert report.value("port") == 8088 and report.value("start") == ["node", "index.js"]
    assert report.value("dependencies") == {"manager": "yarn", "lock_file": "yarn.lock"}
    assert "port_env" not in report.details


def test_vendored_and_build_directories_are_not_listed(tmp_path: Path) -> None:
    write(tmp_path, {"package.json": "{}", "node_modules/express/package.json": "{}",
                     ".git/config": "", "dist/main.js": "", "src/a.js": ""})  # fmt: skip
    assert Workspace(tmp_path).files == ["package.json", "src/a.js"]


@pytest.mark.parametrize(("argv", "expected"), [
    (["gunicorn", "--bind", "0.0.0.0:5000", "app:app"], (5000, None)),
    (["gunicorn", "-b", ":$PORT", "app:app"], (None, "PORT")),
    (["gunicorn", "--bind=0.0.0.0:${PORT:-8000}", "app:app"], (8000, "PORT")),
    (["uvicorn", "main:app", "--port", "8001"], (8001, None)),
    (["python", "manage.py", "runserver", "0.0.0.0:8002"], (8002, None)),
    (["next", "start", "-p", "4000"], (4000, None)),
    (["dotnet", "a.dll", "--urls", "http://+:5000"], (5000, None)),
    (["node", "server.js"], (None, None)),
])  # fmt: skip
def test_command_port(argv: list[str], expected: tuple[int | None, str | None]) -> None:
    assert command_port(argv) == expected


def test_health_rank_prefers_health_and_ignores_other_routes() -> None:
    assert health_rank("/health") == 0 and health_rank("/api/healthz/") == 1
    assert health_rank("/up") is not None and health_rank("/users") is None
    assert health_rank("/healthy") is None
    assert join_route("api", "/health/") == "/api/health/" and join_route("", "") == "/"


def test_yaml_keys_nest_by_indentation(tmp_path: Path) -> None:
    write(tmp_path, {"a.yml": "server:\n  port: 1\n  # c\nspring:\n  port: 2\nserver.port: 3\n"})
    keys = [(k, v) for k, v, _ in yaml_keys(Workspace(tmp_path), "a.yml")]
    assert keys == [("server", ""), ("server.port", "1"), ("spring", ""), ("spring.port", "2"),
                    ("server.port", "3")]  # fmt: skip


def test_dockerfile_parser_takes_the_last_stage(tmp_path: Path) -> None:
    write(tmp_path, {"Dockerfile": "FROM node:20 AS build\nEXPOSE 1\nCMD [\"a\"]\n"
                                   "FROM node:20-alpine\nENV PORT=3000 \\\n  X=1\nEXPOSE 3000\n"
                                   "ENTRYPOINT [\"node\"]\nCMD [\"server.js\"]\n"})  # fmt: skip
    df = parse_dockerfile(Workspace(tmp_path))
    assert df is not None
    assert [p for p, _ in df.exposes] == [3000] and df.env["PORT"][0] == "3000"
    assert df.command is not None and df.command[0] == ["node", "server.js"]
    assert df.env["PORT"][1].line == 5


def test_fargate_pair_is_the_cheapest_valid_size() -> None:
    assert fargate_pair(256, 600) == (256, 1024)
    assert fargate_pair(512, 100) == (512, 1024)
    assert fargate_pair(1024, 2049) == (1024, 3072)
    with pytest.raises(ValueError):
        fargate_pair(16384, 10**6)


def test_rules_read_only_what_they_need(tmp_path: Path) -> None:
    write(tmp_path, {"go.mod": "module x\n\ngo 1.22\n", "main.go": "package main\n",
                     "README.md": "docs\n", "notes/big.txt": "x\n"})  # fmt: skip
    ws = Workspace(tmp_path)
    run_rules(ws)
    assert set(ws.read_hashes) == {"go.mod", "main.go"}
