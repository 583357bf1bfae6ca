"""The shape of the package (#11): pieces that own their state, a facade, small modules.

* No module under ``scheduler/`` other than the facade (``scheduler/scheduler.py``) touches a
  private member of a :class:`~scheduler.Scheduler`: the pieces receive what they use.
* No module under ``scheduler/`` is over 500 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "scheduler"
FACADE = PACKAGE / "scheduler.py"
MAX_LINES = 500


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def scheduler_private_members() -> set[str]:
    """Names of the Scheduler's private attributes and methods, read from the facade."""
    tree = ast.parse(FACADE.read_text())
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Scheduler"]
    names = set()
    for node in ast.walk(cls):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("_"):
            names.add(node.name)
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and node.attr.startswith("_")
        ):
            names.add(node.attr)
    return {n for n in names if not (n.startswith("__") and n.endswith("__"))}


def reach_ins(path: Path, private: set[str]) -> list[str]:
    """``x._name`` where ``_name`` is a Scheduler private and ``x`` is not ``self``/``cls``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Attribute) and node.attr in private):
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} .{node.attr}")
    return found


def test_the_private_member_list_is_read() -> None:
    private = scheduler_private_members()
    assert {"_registry", "_runner", "_ticker", "_state"} <= private


def test_only_the_facade_touches_scheduler_privates() -> None:
    private = scheduler_private_members()
    found = [hit for path in modules() if path != FACADE for hit in reach_ins(path, private)]
    assert found == []


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_size(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines: split it by what it owns"
