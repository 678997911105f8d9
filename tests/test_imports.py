"""Every module of ``harness/`` and ``plugins/`` imports on its own, in a fresh interpreter,
and the imports among ``harness/`` modules form no cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.helpers.cli import cli_env

REPO = Path(__file__).resolve().parents[1]


def modules(package: str) -> list[str]:
    root = REPO / package
    out = []
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(".".join(parts))
    return out


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    def attempt(module: str) -> str | None:
        res = subprocess.run(
            [sys.executable, "-c", f"import {module}"],
            cwd=REPO,
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if res.returncode == 0:
            return None
        return f"{module}: {res.stderr.strip().splitlines()[-1]}"

    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = [f for f in pool.map(attempt, modules("harness") + modules("plugins")) if f]
    assert not failures, "\n".join(failures)


def imports_of(module: str) -> set[str]:
    """The ``harness`` modules a module imports (at any level, type-checking ones included)."""
    path = REPO / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found.update(n for n in names if n.startswith("harness"))
    return found


def test_no_import_cycle_among_harness_modules() -> None:
    known = set(modules("harness"))
    graph = {m: {i for i in imports_of(m) if i in known and i != m} for m in known}
    # a package's __init__ importing its own submodules is not a cycle of ideas
    for m, deps in graph.items():
        graph[m] = {d for d in deps if not m.startswith(d + ".")}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(m: str, path: list[str]) -> bool:
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycle.extend([*path[path.index(d) :], d] if d in path else [m, d])
                return True
            if d not in state and visit(d, [*path, d]):
                return True
        state[m] = 2
        return False

    for m in sorted(known):
        if m not in state and visit(m, [m]):
            break
    assert not cycle, " -> ".join(cycle)


def test_commands_never_import_each_other() -> None:
    commands = {m for m in modules("harness") if m.startswith("harness.cli")}
    shared = {"harness.cli.context", "harness.cli.options"}
    for m in commands - shared - {"harness.cli"}:  # the package registers them all
        wrong = {i for i in imports_of(m) if i in commands and i not in shared}
        assert not wrong, f"{m} imports {wrong}"
