"""The optional compiled core (services/compiled, docs/COMPILED_CORE.md): the checked loader,
the typed declarations kept in step with the sources, the self-verification, the mode
(``bot.compiled_core`` / ``BOT_COMPILED_CORE``) and ``bot.py``'s refusal to start without a
required build."""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import services.compiled as core
from services.compiled import build as core_build
from services.compiled import verify as core_verify
from tests.conftest import ROOT
from utils.config import compiled_core_mode, parse_config
from utils.errors import ConfigError


def _need_compiler() -> None:
    pytest.importorskip("Cython")
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler")


def _import_fresh(name: str) -> Any:
    sys.modules.pop(name, None)
    importlib.invalidate_caches()
    return importlib.import_module(name)


def test_an_edit_after_the_build_is_what_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _need_compiler()
    monkeypatch.setenv("CFLAGS", "-O0 -g0")  # a quick compile: this checks loading, not speed
    root = tmp_path / "src"
    pkg = root / "fc_probe_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    src = pkg / "probe.py"
    src.write_text("def value() -> int:\n    return 1\n")
    out = tmp_path / "build"
    manifest = core_build.build(out, ("fc_probe_pkg.probe",), root=root, pxd_dir=None)
    assert list(manifest["modules"]) == ["fc_probe_pkg.probe"]
    assert manifest["directives"]["annotation_typing"] is False
    assert manifest["verified"] is False

    finder, reason = core.load_finder(out, root=root)
    assert finder is None and "not verified" in reason  # only a verified build is used
    finder, reason = core.load_finder(out, root=root, verified_only=False)
    assert finder is not None, reason
    sys.path.insert(0, str(root))
    sys.meta_path.insert(0, finder)
    try:
        mod = _import_fresh("fc_probe_pkg.probe")
        assert mod.__file__.endswith(".so")  # the compiled build, unchanged source
        assert mod.value() == 1
        assert finder.served == ["fc_probe_pkg.probe"] and finder.stale == []

        src.write_text("def value() -> int:\n    return 2\n")  # edited after the build
        mod = _import_fresh("fc_probe_pkg.probe")
        assert mod.__file__.endswith("probe.py")
        assert mod.value() == 2  # the edit runs, not the stale .so
        assert finder.stale == ["fc_probe_pkg.probe"]
        # ... and a new start sees the edit before installing anything
        assert core.load_finder(out, root=root, verified_only=False)[0] is None

        src.write_text("def value() -> int:\n    return 1\n")  # back to the built text
        mod = _import_fresh("fc_probe_pkg.probe")
        assert mod.__file__.endswith(".so")
    finally:
        sys.meta_path.remove(finder)
        sys.path.remove(str(root))
        for name in ("fc_probe_pkg.probe", "fc_probe_pkg"):
            sys.modules.pop(name, None)


def _fake_build(out: Path, **over: Any) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    so = out / "book.so"
    so.write_bytes(b"not really an extension")
    src = "services/orderbook.py"
    pxd = "services/compiled/pxd/services/orderbook.pxd"
    manifest = {
        "python": sys.implementation.cache_tag,
        "ext_suffix": __import__("sysconfig").get_config_var("EXT_SUFFIX"),
        "modules": {
            "services.orderbook": {
                "so": "book.so",
                "source": src,
                "source_sha256": core.sha256(ROOT / src),
                "so_sha256": core.sha256(so),
                "pxd": pxd,
                "pxd_sha256": core.sha256(ROOT / pxd),
            }
        },
        "verified": True,
        **over,
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def test_only_a_valid_build_is_used(tmp_path: Path) -> None:
    finder, reason = core.load_finder(tmp_path / "missing")
    assert finder is None and "no build" in reason and "build-core" in reason
    _fake_build(tmp_path / "a")
    finder, reason = core.load_finder(tmp_path / "a")
    assert finder is not None and list(finder.entries) == ["services.orderbook"], reason
    assert core_build.check(tmp_path / "a")[0]
    _fake_build(tmp_path / "b", python="cpython-27")
    assert "another Python" in core.load_finder(tmp_path / "b")[1]
    _fake_build(tmp_path / "c", verified=False)
    assert "not verified" in core.load_finder(tmp_path / "c")[1]
    _fake_build(tmp_path / "d")
    (tmp_path / "d" / "book.so").write_bytes(b"swapped")
    assert "changed after the build" in core.load_finder(tmp_path / "d")[1]
    m = _fake_build(tmp_path / "e")
    m["modules"]["services.orderbook"]["source_sha256"] = "0" * 64  # the source was edited
    (tmp_path / "e" / "manifest.json").write_text(json.dumps(m))
    finder, reason = core.load_finder(tmp_path / "e")
    assert finder is None and "sources changed" in reason
    ok, msg = core_build.check(tmp_path / "e")
    assert not ok and "sources changed" in msg
    # The declarations decide what the compiled classes accept: an edited .pxd is a stale build,
    # and so is a build from before the manifest recorded them.
    m = _fake_build(tmp_path / "f")
    m["modules"]["services.orderbook"]["pxd_sha256"] = "0" * 64
    (tmp_path / "f" / "manifest.json").write_text(json.dumps(m))
    assert "sources changed" in core.load_finder(tmp_path / "f")[1]
    m = _fake_build(tmp_path / "g")
    del m["modules"]["services.orderbook"]["pxd"], m["modules"]["services.orderbook"]["pxd_sha256"]
    (tmp_path / "g" / "manifest.json").write_text(json.dumps(m))
    assert "sources changed" in core.load_finder(tmp_path / "g")[1]


def test_activate_off_auto_require(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import services.orderbook  # noqa: F401 - imported before activate(), as in any test run

    saved = (core._state, core._finder)
    try:
        core._state = core._finder = None
        st = core.activate("off", tmp_path)
        assert not st.on and st.line() == (
            "Compiled core: off (turned off by bot.compiled_core or BOT_COMPILED_CORE)"
        )
        core._state = None
        st = core.activate("auto", tmp_path / "none")
        assert not st.on and st.line().startswith("Compiled core: off (no build in ")
        with pytest.raises(core.CompiledCoreError, match="require"):
            core.activate("require", tmp_path / "none")
        core._state = None
        with pytest.raises(core.CompiledCoreError):
            core.activate("require", tmp_path / "none")
        with pytest.raises(ValueError):
            core.activate("sometimes")
        # a valid build whose module was imported already (as Python): not installed
        core._state = None
        _fake_build(tmp_path / "a")
        st = core.activate("auto", tmp_path / "a")
        assert not st.on and "imported before" in st.reason
        assert core.status_line(core.State(True, modules=["a", "b"])) == (
            "Compiled core: on (2 modules: a, b)"
        )
    finally:
        if core._finder is not None and core._finder is not saved[1]:
            sys.meta_path.remove(core._finder)
        core._state, core._finder = saved


def test_the_required_build_is_what_runs() -> None:
    """In ``.ci/run``'s compiled pass (``BOT_COMPILED_CORE=require``) the book and the
    translator imported by every test are the compiled ones."""
    if os.environ.get("BOT_COMPILED_CORE", "").strip().lower() != "require":
        pytest.skip("only with BOT_COMPILED_CORE=require")
    import services.markets.polymarket.translate as translate
    import services.orderbook as orderbook

    st = core.state()
    assert st is not None and st.on, st and st.reason
    assert orderbook.__file__.endswith(".so") and translate.__file__.endswith(".so")


def test_plugins_may_set_attributes_as_in_python() -> None:
    """The book store and the translator take attributes they do not declare (a plugin's) and
    weak references, compiled (the compiled pass) as in Python; a book refuses both ways."""
    import weakref

    from services.markets.polymarket.translate import Translator
    from services.orderbook import BookStore, OrderBook

    for obj in (BookStore(), Translator(sink=None)):
        obj.plugin_state = {"seen": 1}  # type: ignore[union-attr]
        assert obj.plugin_state == {"seen": 1}  # type: ignore[union-attr]
        assert weakref.ref(obj)() is obj
    with pytest.raises(AttributeError):
        OrderBook("x").plugin_state = 1  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- the .pxd files

_PXD_CLASS = re.compile(r"^cdef class (\w+)\s*(?:\(.*\))?:\s*$")
_PXD_ATTR = re.compile(r"^\s+cdef\s+(?:public\s+|readonly\s+)?[\w.\[\]]+\s+(\w+)\s*$")
_PXD_METHOD = re.compile(r"^\s+c?p?def\s+(?:[\w.\[\]]+\s+)*?(\w+)\s*\((.*)\)")


def pxd_declarations(text: str) -> dict[str, dict[str, Any]]:
    """``{class: {"attrs": set, "methods": {name: [arg names]}}}`` of a .pxd file."""
    out: dict[str, dict[str, Any]] = {}
    cls: str | None = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if m := _PXD_CLASS.match(line):
            cls = m.group(1)
            out[cls] = {"attrs": set(), "methods": {}}
        elif cls and (m := _PXD_METHOD.match(line)):
            args = [a.strip().split()[-1].split("=")[0] for a in m.group(2).split(",") if a]
            out[cls]["methods"][m.group(1)] = args
        elif cls and (m := _PXD_ATTR.match(line)):
            out[cls]["attrs"].add(m.group(1))
        elif not line.startswith((" ", "\t")):
            cls = None
    return out


def py_classes(text: str) -> dict[str, dict[str, Any]]:
    """``{class: {"attrs": attributes set on self, "methods": {name: [arg names]}}}``."""
    out: dict[str, dict[str, Any]] = {}
    for node in ast.parse(text).body:
        if not isinstance(node, ast.ClassDef):
            continue
        attrs: set[str] = set()
        methods: dict[str, list[str]] = {}
        slots = any(
            isinstance(item, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__slots__" for t in item.targets)
            for item in node.body
        )
        for item in node.body:
            if not isinstance(item, ast.FunctionDef):
                continue
            methods[item.name] = [a.arg for a in item.args.posonlyargs + item.args.args]
            for sub in ast.walk(item):
                targets: list[ast.expr] = []
                if isinstance(sub, ast.Assign):
                    targets = sub.targets
                elif isinstance(sub, ast.AnnAssign | ast.AugAssign):
                    targets = [sub.target]
                for t in targets:
                    elts = t.elts if isinstance(t, ast.Tuple) else [t]
                    for e in elts:
                        if (
                            isinstance(e, ast.Attribute)
                            and isinstance(e.value, ast.Name)
                            and e.value.id == "self"
                        ):
                            attrs.add(e.attr)
        out[node.name] = {"attrs": attrs, "methods": methods, "slots": slots}
    return out


# An extension type takes undeclared attributes and weak references only with these; a Python
# class without ``__slots__`` takes both, so its compiled twin must declare them.
_OPEN = {"__dict__", "__weakref__"}


def pxd_mismatches(pxd_text: str, py_text: str) -> list[str]:
    """What a .pxd declares that its .py lacks, and attributes the .py sets that the .pxd
    does not declare (an extension type would raise AttributeError on them)."""
    problems = []
    py = py_classes(py_text)
    for cls, decl in pxd_declarations(pxd_text).items():
        if cls not in py:
            problems.append(f"class {cls} is not in the .py")
            continue
        for a in sorted(decl["attrs"] - py[cls]["attrs"] - _OPEN):
            problems.append(f"{cls}.{a} is declared but the .py never sets it")
        if py[cls]["slots"] and decl["attrs"] & _OPEN:
            problems.append(f"{cls} has __slots__ in the .py but its .pxd opens it")
        for a in sorted(_OPEN - decl["attrs"] if not py[cls]["slots"] else ()):
            problems.append(f"{cls} has no __slots__ in the .py: its .pxd must declare {a}")
        for a in sorted(py[cls]["attrs"] - decl["attrs"]):
            problems.append(f"{cls}.{a} is set in the .py but not declared")
        for name, args in decl["methods"].items():
            if name not in py[cls]["methods"]:
                problems.append(f"{cls}.{name}() is declared but not in the .py")
            elif args != py[cls]["methods"][name]:
                problems.append(f"{cls}.{name}{tuple(args)} != the .py's signature")
    return problems


def test_each_pxd_is_in_step_with_its_source() -> None:
    pxds = sorted(core_build.PXD_DIR.rglob("*.pxd"))
    assert len(pxds) == 2
    for pxd in pxds:
        rel = pxd.relative_to(core_build.PXD_DIR)
        assert ".".join(rel.with_suffix("").parts) in core.MODULES, rel
        py = ROOT / rel.with_suffix(".py")
        assert pxd_mismatches(pxd.read_text(), py.read_text()) == [], rel


def test_the_pxd_check_sees_a_drift() -> None:
    opened = "    cdef dict __dict__\n    cdef object __weakref__\n"
    pxd = "cdef class B:\n    cdef public dict a\n" + opened + "    cpdef int f(self, x)\n"
    ok = "class B:\n    def __init__(self):\n        self.a = {}\n    def f(self, x):\n        pass\n"
    assert pxd_mismatches(pxd, ok) == []
    closed = pxd.replace(opened, "")
    assert pxd_mismatches(closed, ok) == [
        "B has no __slots__ in the .py: its .pxd must declare __dict__",
        "B has no __slots__ in the .py: its .pxd must declare __weakref__",
    ]
    slotted = ok.replace("class B:\n", "class B:\n    __slots__ = ('a',)\n")
    assert pxd_mismatches(closed, slotted) == []
    assert pxd_mismatches(pxd, slotted) == ["B has __slots__ in the .py but its .pxd opens it"]
    added = ok.replace("self.a = {}", "self.a = {}\n        self.b = 1")
    assert pxd_mismatches(pxd, added) == ["B.b is set in the .py but not declared"]
    gone = ok.replace("self.a = {}", "pass")
    assert pxd_mismatches(pxd, gone) == ["B.a is declared but the .py never sets it"]
    renamed = ok.replace("def f(self, x)", "def f(self, y)")
    assert pxd_mismatches(pxd, renamed) == ["B.f('self', 'x') != the .py's signature"]


# --------------------------------------------------------------------------- verification


def test_verification_compares_everything_and_removes_a_bad_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pure = core_verify.run_stream()
    assert pure["frames"] == 4_000 and len(pure["steps"]) == 4_000
    so = {**pure, "files": [f[:-3] + ".so" for f in pure["files"]]}
    if all(f.endswith(".so") for f in pure["files"]):  # the compiled pass of .ci/run
        pure, so = {**pure, "files": [f[:-3] + ".py" for f in pure["files"]]}, pure
    assert core_verify.compare(pure, so) == ""
    assert "imported the .py" in core_verify.compare(pure, pure)
    # a planted difference: one book delta in 500 is not applied
    from services.markets.polymarket import feed

    real = feed.apply_to_books
    calls = [0]

    def drops_some(books: Any, events: Any) -> None:
        calls[0] += 1
        if calls[0] % 500 == 0:
            return
        real(books, events)

    with monkeypatch.context() as mp:
        mp.setattr(feed, "apply_to_books", drops_some)
        bad = core_verify.run_stream()
    why = core_verify.compare(pure, {**bad, "files": so["files"]})
    assert why.startswith("message ") and "other events, book tops" in why

    out = tmp_path / "build"
    _fake_build(out, verified=False)
    monkeypatch.setattr(
        core_verify,
        "_run_child",
        lambda target: pure if target == "pure" else {**bad, "files": so["files"]},
    )
    ok, why = core_verify.verify(out)
    assert not ok and why.startswith("message ") and not out.exists()

    _fake_build(out, verified=False)
    monkeypatch.setattr(core_verify, "_run_child", lambda target: pure if target == "pure" else so)
    ok, why = core_verify.verify(out)
    assert ok and json.loads((out / "manifest.json").read_text())["verified"] is True


# --------------------------------------------------------------------------- mode and bot.py


def test_config_key_and_env_override() -> None:
    cfg = parse_config({}, "c.yaml")
    assert cfg.bot.compiled_core == "auto"
    assert compiled_core_mode(cfg, "c.yaml", env={}) == ("auto", "bot.compiled_core")
    cfg = parse_config({"bot": {"compiled_core": "off"}}, "c.yaml")
    assert compiled_core_mode(cfg, "c.yaml", env={}) == ("off", "bot.compiled_core")
    env = {"BOT_COMPILED_CORE": " Require "}
    assert compiled_core_mode(cfg, "c.yaml", env=env) == ("require", "BOT_COMPILED_CORE")
    assert compiled_core_mode(cfg, "c.yaml", env={"BOT_COMPILED_CORE": ""})[0] == "off"
    with pytest.raises(ConfigError) as exc:
        compiled_core_mode(cfg, "c.yaml", env={"BOT_COMPILED_CORE": "yes"})
    assert exc.value.key == "BOT_COMPILED_CORE" and "auto, off, require" in exc.value.message
    with pytest.raises(ConfigError) as exc:
        parse_config({"bot": {"compiled_core": "on"}}, "c.yaml")
    assert exc.value.key == "bot.compiled_core"


def _bot(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), "--duration", "1", "--quiet", "--no-dashboard"]
        + ["--db", str(tmp_path / "bot.db"), *args],
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bot_refuses_to_start_without_a_required_build(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-build")
    p = _bot(tmp_path, {"BOT_COMPILED_CORE": "require", "BOT_COMPILED_CORE_DIR": missing})
    assert p.returncode == 2, p.stderr
    assert "BOT_COMPILED_CORE: 'require' but the compiled core cannot be used: no build" in (
        p.stderr
    )
    cfg = tmp_path / "c.yaml"
    text = (ROOT / "config.example.yaml").read_text()
    cfg.write_text(text.replace("compiled_core: auto", "compiled_core: require"))
    env = {"BOT_COMPILED_CORE": "", "BOT_COMPILED_CORE_DIR": missing}
    p = _bot(tmp_path, env, "--config", str(cfg))
    assert p.returncode == 2 and "bot.compiled_core: 'require'" in p.stderr, p.stderr
    p = _bot(tmp_path, {"BOT_COMPILED_CORE": "fast"})
    assert p.returncode == 2 and "BOT_COMPILED_CORE: expected one of" in p.stderr, p.stderr


def test_backtest_follows_the_same_key(tmp_path: Path) -> None:
    """``bot.py backtest`` installs the core from ``bot.compiled_core`` as ``bot.py`` does (an
    L2 backtest replays through the book and the translator), and says which on its output."""
    missing = str(tmp_path / "no-build")
    cfg = tmp_path / "c.yaml"
    text = (ROOT / "config.example.yaml").read_text()
    cfg.write_text(text.replace("compiled_core: auto", "compiled_core: require"))
    data = ROOT.parent / "shared" / "data" / "polymarket_l1"

    def backtest(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(ROOT / "bot.py"), "backtest", "--config", str(config)]
            + ["--data", f"l1:{data}", "--start", "2026-07-10 20:25", "--end", "2026-07-10 20:30"]
            + ["--no-db", "--report-dir", str(tmp_path / "reports")],
            cwd=tmp_path,
            env={**os.environ, "BOT_COMPILED_CORE_DIR": missing, **env},
            capture_output=True,
            text=True,
            timeout=180,
        )

    p = backtest(cfg, {"BOT_COMPILED_CORE": ""})
    assert p.returncode == 2 and "bot.compiled_core: 'require'" in p.stderr, p.stderr
    p = backtest(ROOT / "config.example.yaml", {"BOT_COMPILED_CORE": ""})
    assert p.returncode == 0, p.stderr[-2000:]
    assert f"Compiled core: off (no build in {missing}" in p.stdout, p.stdout


def test_build_core_check_reports_a_missing_build(tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), "build-core", "--check"],
        env={**os.environ, "BOT_COMPILED_CORE_DIR": str(tmp_path / "none")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 1 and "no valid build: no build in" in p.stdout, p.stdout


def test_build_never_replaces_a_folder_that_is_not_a_build(tmp_path: Path) -> None:
    pytest.importorskip("Cython")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(core_build.BuildError, match="not empty and holds no build"):
        core_build.build(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
