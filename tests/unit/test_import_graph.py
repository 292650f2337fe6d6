"""The package's layering, checked on the source (issue 14): no import cycles inside dbops/, contract modules never
import an engine, and a process that only talks to MariaDB never loads asyncpg.

The graph is read with `ast` from every import statement: module-level ones, those under `if TYPE_CHECKING:` and
those inside functions. A cycle dodged by a deferred or type-only import is still two modules that depend on each
other, which is what the layering forbids.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dbops"

CONTRACTS = (
    "base", "access", "rotation", "registry", "errors", "connection", "tls", "initsql", "ownership", "tracking",
    "observer", "capability", "difference", "sql.quoting", "sql.privileges", "sql.redact", "sql.dialect",
)  # fmt: skip
"""The engine-neutral modules of `dbops.engines` (ENGINEERING.md package map)."""
ENGINE_PACKAGES = ("postgres", "mysql", "cockroach", "clickhouse")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The dbops modules `path` imports when it is imported (`from a import b` counts `a.b` if that is a module)."""
    found: set[str] = set()
    for node in _imports(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
            continue
        base = node.module or ""
        if node.level:
            package = module_name(path).split(".")
            if path.name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, *([base] if base else [])])
        for alias in node.names:
            if f"{base}.{alias.name}" in modules:
                found.add(f"{base}.{alias.name}")
            elif base in modules:
                found.add(base)
    return found


def graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: imports_of(path, modules) - {name} for name, path in paths.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_inside_dbops() -> None:
    assert cycles(graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("contract", CONTRACTS)
def test_a_contract_module_never_imports_an_engine(contract: str) -> None:
    name = f"dbops.engines.{contract}"
    edges = graph()
    assert name in edges, f"{name} is listed as a contract but does not exist"
    engines = {m for m in edges[name] if any(m.startswith(f"dbops.engines.{e}") for e in ENGINE_PACKAGES)}
    assert engines == set(), f"{name} imports {sorted(engines)}"


def test_a_mariadb_only_process_never_imports_asyncpg() -> None:
    """The registry promises lazy driver loading: building the operator's controllers and a MariaDB adapter loads
    aiomysql, never asyncpg (nor the ClickHouse client)."""
    script = """
import sys
from dbops.engines.connection import ConnectionSettings
from dbops.engines.registry import adapter_factory
import dbops.controllers.setup, dbops.__main__  # every controller module, as the operator imports them
adapter = adapter_factory("mariadb")(ConnectionSettings(engine="mariadb", host="127.0.0.1", port=1, username="u",
                                                        password="p", database="mysql"), None)
assert type(adapter).__name__ == "MySQLAdapter", type(adapter)
loaded = sorted(m for m in ("asyncpg", "aiomysql") if m in sys.modules)
print(",".join(loaded))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "aiomysql", result.stdout


def test_controllers_reach_engines_only_through_the_contracts() -> None:
    edges = graph()
    reached = {
        (module, target)
        for module, targets in edges.items()
        if module.startswith("dbops.controllers")
        for target in targets
        if any(target.startswith(f"dbops.engines.{engine}") for engine in ENGINE_PACKAGES)
    }
    assert reached == set()


@pytest.mark.parametrize("layer", ["dbops.runtime", "dbops.api", "dbops.secrets"])
def test_the_lower_layers_know_no_database(layer: str) -> None:
    edges = graph()
    upward = {
        (module, target)
        for module, targets in edges.items()
        if module.startswith(layer)
        for target in targets
        if target != "dbops.engines.errors"  # InvalidSpec: the one spec-error type every layer raises
        and (
            target.startswith(("dbops.engines", "dbops.controllers"))
            or (layer != "dbops.runtime" and target.startswith("dbops.runtime"))
        )
    }
    assert upward == set()


def test_the_backup_core_knows_no_engine_storage_or_controller() -> None:
    """Engines and storage backends plug into the pipeline through its interfaces, never the other way round; the
    API's models (compression and encryption settings) are the one layer below it."""
    edges = graph()
    outward = {
        (module, target)
        for module, targets in edges.items()
        if module.startswith("dbops.backup")
        for target in targets
        if target.startswith("dbops.")
        and not target.startswith(("dbops.backup", "dbops.api"))
        and target != "dbops.engines.errors"  # InvalidSpec, as for the lower layers
    }
    assert outward == set()
