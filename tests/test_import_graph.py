"""The package's import graph: no circles, and the client never imports the reference server.

Read from the source (every ``import`` and ``from ... import`` of every module, at any depth),
so a lazy import inside a function counts as an arrow too. The client's arrows count its
``if TYPE_CHECKING:`` imports as well; circles are those of the imports that run (a module
typed against the one that holds it, under ``TYPE_CHECKING``, is not one).
"""

from __future__ import annotations

import ast
from pathlib import Path

import lume_widget

PACKAGE = Path(lume_widget.__file__).parent
FORBIDDEN_FOR_CLIENT = ("lume_widget.server", "lume_widget.embedded", "lume_widget.entry")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _typing_only(tree: ast.Module) -> set[int]:
    """Ids of the nodes under an ``if TYPE_CHECKING:`` block."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                inside.update(id(n) for n in ast.walk(child))
    return inside


def _imports(path: Path, modules: set[str], *, typing: bool = True) -> set[str]:
    """The lume_widget modules that ``path`` imports (a package's submodule when named);
    ``typing=False`` leaves out the imports under ``if TYPE_CHECKING:``."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = set() if typing else _typing_only(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            # the longest known module the target names: `from x import y` may name a module
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("lume_widget"):
                found.add(target)
    return found


def _graph(*, typing: bool = True) -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    graph = {_module_name(p): _imports(p, modules, typing=typing) for p in paths}
    # a package's __init__ is what `import lume_widget.x` runs first, not an arrow of its own
    return {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_import_graph_has_no_circles() -> None:
    assert _cycles(_graph(typing=False)) == []


def test_import_graph_core_has_no_circles_even_in_its_type_hints() -> None:
    # the session's parts see it through a SessionContext: none is typed against the session
    core = {
        module: {t for t in targets if t.startswith("lume_widget.core")}
        for module, targets in _graph().items()
        if module.startswith("lume_widget.core")
    }
    assert _cycles(core) == []
    assert [m for m, targets in core.items() if "lume_widget.core.session" in targets] == []


def test_import_graph_client_never_imports_the_server_or_the_embedded_launcher() -> None:
    arrows = [
        (module, target)
        for module, targets in _graph().items()
        if module.startswith("lume_widget.client")
        for target in sorted(targets)
        if target.startswith(FORBIDDEN_FOR_CLIENT)
    ]
    assert arrows == []


def test_import_graph_reader_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    # the checks above are only as good as this reader: it must see an import in a function
    source = PACKAGE / "client" / "lume_client.py"
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    assert "lume_widget.client.auth" in _imports(source, modules)
    typed = PACKAGE / "widget" / "actions.py"  # typed against its host under TYPE_CHECKING
    assert "lume_widget.widget.host" in _imports(typed, modules)
    assert "lume_widget.widget.host" not in _imports(typed, modules, typing=False)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
