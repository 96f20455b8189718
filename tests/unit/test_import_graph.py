"""Imports run one way: the package's runtime import graph has no cycle.

Every ``import`` / ``from ... import`` the interpreter runs counts, at module level or inside a
function (a lazy import is still a dependency). Imports under ``if TYPE_CHECKING:`` do not:
they never run, and a few are what lets an annotation name a class from a layer above
(``errors`` → ``types.chat`` for ``MaxToolRoundsError.completion``, a resource → its client).  A package's ``__init__`` re-exporting its own submodules is the one
allowed back edge: ``pkg/__init__`` → ``pkg.sub`` is how a package is assembled, and
``pkg.sub`` → ``pkg`` is then reported like any other edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "llama_client"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def build_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_pkg = path.name == "__init__.py"
        package = name if is_pkg else name.rpartition(".")[0]
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                # `from pkg import sub` imports the submodule when `sub` is one.
                targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
            for target in targets:
                # the deepest module of ours that the target names
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if not target or target == name:
                    continue
                if is_pkg and target.startswith(name + "."):
                    continue  # a package assembling itself from its submodules
                graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_graph_sees_module_and_function_level_imports() -> None:
    graph = build_graph()
    assert "llama_client._base_client" in graph["llama_client._sync.client"]  # module level
    assert "llama_client._redact" in graph["llama_client.errors"]  # inside APIError.__init__
    # annotation-only imports never run
    assert "llama_client.types.chat" not in graph["llama_client.errors"]


def test_find_cycle_reports_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_two_modules_import_each_other() -> None:
    cycle = find_cycle(build_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
