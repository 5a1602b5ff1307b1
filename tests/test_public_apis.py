"""The product stands on its dependencies' public APIs: no private name imported, nothing patched.

A private name (`_name`) may change in any release; so may a patched method.
"""

import ast
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "live", "submissions")
DEPENDENCIES = ("strawberry", "channels", "daphne", "autobahn", "twisted")


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _from_dependency(module: str | None) -> bool:
    return module is not None and module.split(".")[0] in DEPENDENCIES


def offences(tree: ast.AST) -> list[str]:
    """Private names of our dependencies that a module uses, and their attributes it assigns."""
    found = []
    imported = set()  # local names bound to our dependencies' modules, classes and functions
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _from_dependency(alias.name):
                    if any(_is_private(part) for part in alias.name.split(".")):
                        found.append(f"import {alias.name}")
                    imported.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and _from_dependency(node.module):
            if any(_is_private(part) for part in node.module.split(".")):
                found.append(f"from {node.module} import …")
            for alias in node.names:
                if _is_private(alias.name):
                    found.append(f"from {node.module} import {alias.name}")
                imported.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _root_name(node) in imported:
            if _is_private(node.attr):
                found.append(f"{_root_name(node)}….{node.attr}")
            if isinstance(node.ctx, ast.Store):
                found.append(f"assigns {_root_name(node)}….{node.attr}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr":
            if node.args and _root_name(node.args[0]) in imported:
                found.append(f"setattr on {_root_name(node.args[0])}")
    return found


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


MODULES = sorted(
    path for package in PACKAGES for path in (PROJECT / package).rglob("*.py") if "migrations" not in path.parts
)


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PROJECT)))
def test_no_module_uses_a_private_name_of_a_dependency_or_patches_one(path):
    assert offences(ast.parse(path.read_text(), str(path))) == []


@pytest.mark.parametrize(
    ("source", "offence"),
    [
        ("from strawberry.schema.schema import _coerce_error", "from strawberry.schema.schema import _coerce_error"),
        ("import daphne._internal", "import daphne._internal"),
        ("from strawberry import schema\nschema._schema", "schema…._schema"),
        ("from daphne.ws_protocol import WebSocketProtocol\nWebSocketProtocol.serverClose = None", "assigns"),
    ],
)
def test_the_check_finds_what_it_looks_for(source, offence):
    assert any(offence in found for found in offences(ast.parse(source)))
