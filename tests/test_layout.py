"""The package's layout shows the pipeline: no import cycles, no stage importing a later one, no hidden imports.

A newcomer reads ``sloengine/`` as the stages an SLO passes through (model, specs, compiler, engine,
agreements, reports; the devstack of real processes and synthetic data for tests and the demo; the CLI on
top) and can trust that a module uses only what comes before it. The import graph is read from the source
with ``ast``, ``TYPE_CHECKING`` imports included: a cycle that only the type checker follows is still one a
reader has to untangle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sloengine"

#: The stages in pipeline order: a module imports from its own stage and earlier ones only.
STAGES = ("model", "specs", "compiler", "engine", "agreements", "reports", "devstack")
#: Above every stage: the package itself (its public API may use any stage) and the command line.
TOP = ("sloengine", "sloengine.cli")
#: The devstack's modules by name, so that the backfill check also holds before the package is in stages.
DEVSTACK_MODULES = ("stack", "synthetic", "workload", "demo")


def _module_files() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _module_files()


def _where(module: str, node: ast.stmt) -> str:
    return f"{MODULES[module].relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}"


def _imports(module: str) -> list[tuple[str, ast.stmt, bool]]:
    """(sloengine module imported, the statement, whether it sits inside a function) for each import."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: list[tuple[str, ast.stmt, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, child, inside) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = ".".join(package[:len(package) - child.level + 1] + ([child.module] if child.module else []))
                else:
                    base = child.module or ""
                for alias in child.names:   # `from package import module` imports the module
                    name = f"{base}.{alias.name}"
                    found.append((name if name in MODULES else base, child, inside))
            visit(child, inside)

    visit(ast.parse(path.read_text(), str(path)), False)
    return found


IMPORTS = {module: _imports(module) for module in MODULES}
GRAPH = {module: sorted({target for target, _, _ in found if target in MODULES and target != module})
         for module, found in IMPORTS.items()}


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def _reached_from(module: str) -> set[str]:
    reached, todo = set(), [module]
    while todo:
        for target in GRAPH[todo.pop()]:
            if target not in reached:
                reached.add(target)
                todo.append(target)
    return reached


def test_no_module_imports_itself_through_others() -> None:
    assert sorted(m for m in MODULES if m in _reached_from(m)) == []


def test_no_import_is_hidden_inside_a_function() -> None:
    """Every module says what it depends on at its top (an import inside a function usually hid a cycle)."""
    assert [_where(m, node) for m in MODULES for function in ast.walk(ast.parse(MODULES[m].read_text()))
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            for node in ast.walk(function) if isinstance(node, (ast.Import, ast.ImportFrom))] == []


def test_backfill_a_user_command_does_not_reach_the_devstack() -> None:
    (backfill,) = [m for m in MODULES if m.rsplit(".", 1)[-1] == "backfill"]
    reached = _reached_from(backfill)
    assert sorted(m for m in reached if _stage(m) == "devstack" or m.rsplit(".", 1)[-1] in DEVSTACK_MODULES) == []


in_stages = pytest.mark.skipif(not (PACKAGE / STAGES[0] / "__init__.py").exists(),
                               reason="the package is not in stages yet (flat layout)")


@in_stages
def test_every_module_sits_in_a_stage_or_on_top() -> None:
    assert sorted(m for m in MODULES if m not in TOP and _stage(m) is None) == []


@in_stages
def test_no_stage_imports_a_later_stage_or_the_top() -> None:
    later = []
    for module in MODULES:
        stage = _stage(module)
        for target, stmt, _ in IMPORTS[module] if stage is not None else ():
            target_stage = _stage(target)
            if target in TOP or (target_stage is not None and STAGES.index(target_stage) > STAGES.index(stage)):
                later.append(f"{stage} imports {target}: {_where(module, stmt)}")
    assert later == []
