"""The library's shape, read from its source: imports flow one way (no circle, no import hidden in a function to
dodge one), and a loss is one concept (no loss name compared with a string outside ``pairings.losses``)."""

import ast
from pathlib import Path

import pytest

from pairings import config, losses

LIB = config.PROJ_ROOT / "lib" / "pairings"
# Imports that stay inside a function on purpose: heavy or optional libraries, never a module of the library.
# (Nothing of ``pairings`` may be imported inside a function: that is how circles hide.)


def modules() -> dict[str, Path]:
    """Every module of the library by dotted name (a package by its own name)."""
    out = {}
    for path in sorted(LIB.rglob("*.py")):
        parts = list(path.relative_to(LIB.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path) -> list[tuple[str, int, bool]]:
    """(imported module of the library, line, inside a function?) for every import in a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    known = modules()
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - (child.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                if base.split(".")[0] == "pairings":
                    for alias in child.names:
                        target = f"{base}.{alias.name}"
                        found.append((target if target in known else base, child.lineno, in_function))
            elif isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_function) for a in child.names if a.name.split(".")[0] == "pairings")
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def test_imports_flow_one_way():
    """No module of the library imports, directly or through others, a module that imports it."""
    graph = {name: {target for target, _, _ in imports(name, path) if target != name} for name, path in modules().items()}
    circles = []
    for start in graph:  # a depth-first search from every module for a way back to it
        stack, seen = [(start, [start])], set()
        while stack:
            node, way = stack.pop()
            for target in graph.get(node, ()):
                if target == start:
                    circles.append(" -> ".join([*way, start]))
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, [*way, target]))
    assert not circles, "import circles:\n" + "\n".join(sorted(set(circles), key=len)[:10])


def test_no_module_of_the_library_is_imported_inside_a_function():
    hidden = [f"{path.relative_to(LIB.parent)}:{line} imports {target}" for name, path in modules().items()
              for target, line, inside in imports(name, path) if inside]
    assert not hidden, "\n".join(hidden)


def loss_name_literals(tree: ast.AST) -> list[int]:
    """Lines where a loss name is compared with, or listed as, a string: a comparison operand, an element of a
    tuple, list or set, or a dict key (a recipe's ``"loss": "mnrl"`` value is data, not a comparison)."""
    def is_name(node):
        return isinstance(node, ast.Constant) and node.value in losses.NAMES

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(is_name(o) or (isinstance(o, (ast.Tuple, ast.List, ast.Set)) and any(map(is_name, o.elts)))
                   for o in operands):
                lines.append(node.lineno)
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)) and any(map(is_name, node.elts)):
            lines.append(node.lineno)
        elif isinstance(node, ast.Dict) and any(k is not None and is_name(k) for k in node.keys):
            lines.append(node.lineno)
    return lines


def test_a_loss_is_named_in_one_module():
    found = [f"{path.relative_to(LIB.parent)}:{line}" for name, path in modules().items() if name != "pairings.losses"
             for line in loss_name_literals(ast.parse(path.read_text(encoding="utf-8")))]
    assert not found, "a loss name compared or listed outside pairings.losses:\n" + "\n".join(found)


@pytest.mark.parametrize("source, caught", [
    ('if p.loss == "mnrl": pass', True),
    ('x = "softmax" != loss', True),
    ('if loss in ("mnrl", "cosine"): pass', True),
    ('LOSSES = ["mnrl", "softmax", "cosine"]', True),
    ('NEEDS = {"cosine": "scores"}', True),
    ('recipe = {"loss": "mnrl", "batch_size": 32}', False),
    ('if losses.get(p.loss).in_batch_negatives: pass', False),
])
def test_the_loss_name_check_catches_what_it_should(source, caught):
    assert bool(loss_name_literals(ast.parse(source))) == caught


def private_uses(path: Path) -> list[str]:
    """``module._name`` where ``module`` is a module of the library the file imported (``from pairings... import
    module``): another module's private name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith("pairings") for alias in node.names}
    return [f"{path.relative_to(LIB.parent)}:{node.lineno} {node.value.id}.{node.attr}" for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in imported
            and node.attr.startswith("_") and not node.attr.startswith("__")]


def test_no_module_calls_another_modules_private_name():
    found = [use for path in modules().values() for use in private_uses(path)]
    assert not found, "\n".join(found)
