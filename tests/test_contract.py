"""One contract module (``components.contract``): the names the program, the release commands and
the CLI agree on are spelled there once, and the CLI modules do not import each other in a cycle.

The scans read the source (``ast``), so a name spelled again as a string literal anywhere in
``components/``, ``rollback/`` or ``deplight/`` fails here, naming the file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from components import contract
from tests.conftest import ROOT, imported

PACKAGES = ("components", "rollback", "deplight")
CONTRACT_FILE = ROOT / "components" / "contract.py"

# Strings that can only mean the contract's name. (``deplight:tier`` is left out: the subnets
# carry a tag of that name, public or private, that is no stack configuration.)
UNIQUE = {
    contract.IMAGE_TAG_KEY: "IMAGE_TAG_KEY",
    contract.SCHEMA_VERSION_KEY: "SCHEMA_VERSION_KEY",
    contract.RELEASE_KEY: "RELEASE_KEY",
    contract.RELEASE_KIND_PATH: "RELEASE_KIND_PATH",
    contract.REGION_KEY: "REGION_KEY",
    contract.CONFIRM_PROD: "CONFIRM_PROD",
    contract.ENDPOINT_ENV: "ENDPOINT_ENV",
    contract.NO_OUTCOME: "NO_OUTCOME",
}
# Enum values, caught where a literal is compared with something or stored under a record key.
ENUM_VALUES = {
    m.value: f"{type(m).__name__}.{m.name}"
    for enum in (contract.Tier, contract.Strategy, contract.Operation, contract.Outcome)
    for m in enum
}
RECORD_KEYS = ("operation", "result", "tier", "kind")


def sources() -> Iterator[tuple[Path, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path != CONTRACT_FILE:
                yield path, ast.parse(path.read_text(), str(path))


def docstrings(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def repeats(tree: ast.Module) -> Iterator[tuple[int, str, str]]:
    """``(line, literal, contract name)`` for every literal that spells a contract name."""
    skip = docstrings(tree)
    for node in ast.walk(tree):
        text = literal(node)
        if text in UNIQUE and id(node) not in skip:
            yield node.lineno, text, UNIQUE[text]
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                if (text := literal(side)) in ENUM_VALUES:
                    yield side.lineno, text, ENUM_VALUES[text]
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if literal(key) in RECORD_KEYS and (text := literal(value)) in ENUM_VALUES:
                    yield value.lineno, text, ENUM_VALUES[text]


def test_no_contract_name_is_spelled_again() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text!r} is components.contract.{name}"
        for path, tree in sources()
        for line, text, name in repeats(tree)
    ]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ('stack.get_config("deplight:image_tag")', "IMAGE_TAG_KEY"),
        ('if confirm != "ROLLBACK-PROD": pass', "CONFIRM_PROD"),
        ('ok = strategy == "codedeploy"', "Strategy.CODEDEPLOY"),
        ('record = {"operation": "rollback", "result": "refused"}', "Operation.ROLLBACK"),
        ('x = {"result": "succeeded"}', "Outcome.SUCCEEDED"),
    ],
)
def test_the_scan_finds_a_repeated_name(code: str, name: str) -> None:
    assert name in [n for _, _, n in repeats(ast.parse(code))]


def test_a_docstring_may_name_a_key() -> None:
    assert not list(repeats(ast.parse('def f():\n    """Sets deplight:image_tag."""\n')))


def test_exit_codes_are_defined_only_in_the_contract() -> None:
    defined = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path, tree in sources()
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in ast.walk(ast.Tuple(elts=node.targets))
        if isinstance(target, ast.Name) and target.id.startswith("EXIT_")
    ]
    assert not defined
    assert (contract.EXIT_OK, contract.EXIT_FAILED, contract.EXIT_BAD_INPUT) == (0, 1, 2)


def imports(path: Path) -> set[str]:
    """Every Deplight module ``path`` imports, at the top or inside a function."""
    own = (*PACKAGES, "policies", "release_api")
    return {n for _, n in imported(path) if n.split(".")[0] in own}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def test_the_contract_and_the_cli_helpers_are_leaves() -> None:
    assert imports(CONTRACT_FILE) == set()
    assert {n.split(".")[1] for n in imports(ROOT / "deplight" / "cli_common.py")} == {"project"}


def test_no_module_imports_the_cli_entry_point() -> None:
    """``deplight.cli`` registers every subcommand; a subcommand that imports it back (for an exit
    code or a shared argument) makes the cycle cli -> check/rollback.cli -> cli."""
    importers = [
        module_name(path)
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if path.name != "cli.py" or path.parent.name != "deplight"
        if {"deplight.cli", "deplight.cli.main"} & imports(path)
        or any(n.startswith("deplight.cli.") for n in imports(path))
    ]
    assert importers == []


def test_no_import_cycle_among_the_command_modules() -> None:
    commands = ["deplight.cli", "deplight.check", "rollback.cli", "deplight.cli_common"]
    graph = {m: imports(ROOT / Path(*m.split(".")).with_suffix(".py")) for m in commands}

    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(
            n == goal or (n in graph and n not in seen and reaches(n, goal, seen | {n}))
            for n in graph[start]
        )

    assert [m for m in commands if reaches(m, m)] == []
