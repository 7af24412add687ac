"""Package layering, enforced (docs/ARCHITECTURE.md, "Layers").

Reads every module's imports with ``ast`` (imports under ``if TYPE_CHECKING:`` are for type
hints only and do not count) and checks:

* the kernel (money, instruments, events, books, clock, orders, intents, ...) imports nothing of
  the project outside the kernel;
* risk does not import strategies or venues; config (``utils``) imports no ``services``,
  ``database`` or ``dashboard`` module; ``services`` never imports ``dashboard``;
* there is no cycle between layers (packages, and the application modules of ``services``);
* importing the engine loads no venue package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("services", "utils", "database", "dashboard")

KERNEL = {
    "services.money",
    "services.instruments",
    "services.ladder",  # price ladders (instruments carry one)
    "services.fees",  # fee models (instruments carry one)
    "services.events",
    "services.orderbook",
    "services.clock",
    "services.execution.orders",
    "services.intents",
    "services.enums",
    "services.feed",
    "services.bus",
    "services.measures",
    "utils.errors",  # the exception tree imports nothing
}

# (importer prefix, forbidden prefix, why)
FORBIDDEN = [
    ("services.risk", "services.strategies", "risk does not import strategies"),
    ("services.risk", "services.markets", "risk does not import venues"),
    ("utils", "services", "config and utilities do not import services (venues included)"),
    ("utils", "database", "config and utilities do not import the database"),
    ("utils", "dashboard", "config and utilities do not import the dashboard"),
    ("services", "dashboard", "the bot talks to the dashboard only through the database"),
    ("database", "services.markets", "storage does not import venues"),
    ("services.execution", "services.markets", "execution clients are venue-neutral"),
]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    p = parents.get(node)
    while p is not None:
        if isinstance(p, ast.If):
            t = p.test
            if (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
                isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
            ):
                return True
        p = parents.get(p)
    return False


def imports_of(path: Path) -> set[str]:
    """Return the project modules ``path`` imports at run time (module-level or in functions)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parents = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
    me = module_name(path)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = me.split(".")[: -node.level] if path.name != "__init__.py" else me.split(".")
                if path.name == "__init__.py" and node.level > 1:
                    base = me.split(".")[: -(node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            names = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        out |= {n for n in names if n.split(".")[0] in PACKAGES}
    return out


def project_graph() -> dict[str, set[str]]:
    """Return module -> project modules it imports (names resolved to existing modules)."""
    files = [
        p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "migrations" not in p.parts
    ]
    mods = {module_name(p): p for p in files}
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        deps = set()
        for imp in imports_of(path):
            # "from a.b import c" names a.b.c, which is a module or a name inside a.b.
            while imp and imp not in mods:
                imp = imp.rpartition(".")[0]
            if imp and imp != name:
                deps.add(imp)
        graph[name] = deps
    return graph


def layer(mod: str) -> str:
    """Return the layer a module belongs to (for the cycle check)."""
    if mod in KERNEL:
        return "kernel"
    parts = mod.split(".")
    if parts[0] == "services" and len(parts) > 1:
        sub = parts[1]
        if sub == "markets" and len(parts) > 2:
            # One layer per venue package; the recorder and the replay beside them are their own
            # (the replay reads every venue's recordings; venues record through the recorder).
            return f"services.markets.{parts[2]}"
        if sub in ("risk", "monitors", "strategies", "execution", "lifecycle", "backtest"):
            return f"services.{sub}"
        return mod  # an application module of services (engine, node, app, ...)
    return parts[0]


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Return every broken rule, as sentences."""
    out = []
    for mod, deps in sorted(graph.items()):
        for dep in sorted(deps):
            if mod in KERNEL and dep not in KERNEL:
                out.append(f"{mod} imports {dep}: the kernel imports only the kernel")
            for src, bad, why in FORBIDDEN:
                if _under(mod, src) and _under(dep, bad) and not _under(dep, src):
                    out.append(f"{mod} imports {dep}: {why}")
    out += [f"layer cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return out


def _under(mod: str, prefix: str) -> bool:
    return mod == prefix or mod.startswith(prefix + ".")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return one cycle per strongly connected group of layers (Tarjan)."""
    lg: dict[str, set[str]] = {}
    for mod, deps in graph.items():
        a = layer(mod)
        lg.setdefault(a, set())
        for d in deps:
            b = layer(d)
            if a != b:
                lg[a].add(b)
                lg.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(lg[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 10_000))
    try:
        for v in sorted(lg):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(old)
    return found


def test_the_project_keeps_its_layers() -> None:
    assert violations(project_graph()) == []


def test_the_checker_catches_each_kind_of_forbidden_import() -> None:
    graph = project_graph()
    cases: Iterable[tuple[str, str, str]] = [
        ("services.money", "services.engine", "the kernel imports only the kernel"),
        ("services.risk.chain", "services.strategies.base", "risk does not import strategies"),
        ("utils.config", "services.markets.sim.feed", "config and utilities do not import"),
        ("services.engine", "dashboard.app", "only through the database"),
        ("services.markets.sim.feed", "services.engine", "layer cycle"),
    ]
    for src, dep, words in cases:
        bad = {k: set(v) for k, v in graph.items()}
        bad[src].add(dep)
        if words == "layer cycle":
            bad["services.engine"].add("services.markets.sim.feed")
        assert any(words in v for v in violations(bad)), (src, dep)


def test_importing_the_engine_loads_no_venue_package() -> None:
    code = (
        "import services.engine, sys; "
        "bad = [m for m in sys.modules if m.startswith('services.markets.')]; "
        "assert not bad, bad"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
