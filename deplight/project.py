"""Which Pulumi project a command works on, and whether it is a Deplight project.

Every problem here is the user's (a wrong directory, a missing stack file, broken YAML), so each
becomes a one-line :class:`StackFileError` naming the file and what to do, never a traceback.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

PROJECT_FILE = "Pulumi.yaml"
DEFAULT_INFRA_DIR = "infra"
"""Where ``deplight init`` puts the project inside an application repository."""
STACK_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
PROGRAM_MARKERS = ("deplight", "components")
"""A Deplight program imports ``deplight.program`` (or composes ``components`` itself)."""


class StackFileError(ValueError):
    """A project or stack file that cannot be used (missing, not YAML, wrong shape)."""


def describe_yaml_error(path: Path, exc: yaml.YAMLError) -> str:
    """``Pulumi.dev.yaml, line 2, column 1: <problem> (while <context> at line 1, column 9)``.

    PyYAML's own text names the *context* mark first (where the construct began), which points
    readers at the wrong line; the problem mark is where parsing actually failed.
    """
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    text = f"{path.name}{where}: not valid YAML: {problem}"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None:
        text += f" ({context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
    elif context:
        text += f" ({context})"
    return text


def load_yaml(path: Path) -> Any:
    """The YAML document in ``path``; a :class:`StackFileError` pointing at the bad line."""
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise StackFileError(describe_yaml_error(path, exc)) from None
    except OSError as exc:
        raise StackFileError(f"{path}: cannot be read ({exc.strerror})") from None


def read_project_file(project_dir: Path) -> dict[str, Any]:
    path = project_dir / PROJECT_FILE
    doc = load_yaml(path) or {}
    if not isinstance(doc, dict):
        raise StackFileError(f"{path}: expected a mapping at the top, found {doc!r}")
    return doc


def project_name(project_dir: Path) -> str:
    """The ``name:`` of the project (the namespace of its unprefixed config keys); the
    directory's name when there is no ``Pulumi.yaml`` (a program run from plain config)."""
    if not (project_dir / PROJECT_FILE).is_file():
        return project_dir.name
    name = read_project_file(project_dir).get("name")
    return str(name) if name else project_dir.name


def check_project(project_dir: Path) -> Path:
    """``project_dir`` if it holds a Deplight project, else a one-line :class:`StackFileError`."""
    if not (project_dir / PROJECT_FILE).is_file():
        raise StackFileError(f"{project_dir} is not a Deplight project: no {PROJECT_FILE} there")
    doc = read_project_file(project_dir)
    runtime = doc.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise StackFileError(
            f"{project_dir} is not a Deplight project: its {PROJECT_FILE} runtime is "
            f"{runtime_name!r}, not python"
        )
    program = project_dir / "__main__.py"
    if not program.is_file():
        raise StackFileError(
            f"{project_dir} is not a Deplight project: {PROJECT_FILE} is there but no __main__.py "
            "(a Deplight project's program is `from deplight.program import run` + `run()`; "
            "`deplight init` writes one)"
        )
    if not any(marker in program.read_text() for marker in PROGRAM_MARKERS):
        raise StackFileError(
            f"{project_dir} is not a Deplight project: its __main__.py does not use deplight "
            "(expected `from deplight.program import run`)"
        )
    return project_dir


def find_project(value: str | None, cwd: Path | None = None) -> Path:
    """The project to work on: ``--project-dir``; else the nearest directory, from ``cwd`` up,
    that holds a ``Pulumi.yaml`` or an ``infra/Pulumi.yaml`` (the layout ``deplight init``
    creates in an application repository)."""
    if value:
        path = Path(value).resolve()
        if not path.is_dir():
            raise StackFileError(f"--project-dir {value}: no such directory")
        if not (path / PROJECT_FILE).is_file():
            raise StackFileError(f"--project-dir {value}: no {PROJECT_FILE} there")
        return check_project(path)
    start = (cwd or Path.cwd()).resolve()
    for directory in (start, *start.parents):
        for candidate in (directory, directory / DEFAULT_INFRA_DIR):
            if (candidate / PROJECT_FILE).is_file():
                log.debug("project: %s (found from %s)", candidate, start)
                return check_project(candidate)
    raise StackFileError(
        f"no Pulumi project found: no {PROJECT_FILE} in {start}, its parents or an "
        f"{DEFAULT_INFRA_DIR}/ directory of them; pass --project-dir DIR, or create one with "
        "`deplight init`"
    )


def available_stacks(project_dir: Path) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def stack_file(stack: str, project_dir: Path) -> Path:
    """``Pulumi.<stack>.yaml`` of the project; a :class:`StackFileError` if there is none."""
    if not STACK_NAME_RE.fullmatch(stack):
        raise StackFileError(
            f"--stack: expected a stack name (letters, digits, '-', '_', '.'), found {stack!r}"
        )
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise StackFileError(
            f"--stack {stack}: no stack named {stack!r} in this project: no stack file {path.name} "
            f"in {project_dir} (available stacks: {', '.join(available_stacks(project_dir)) or 'none'})"
        )
    return path
