"""The experimental compiled build's checked loader (benchmarks/compiled_core.py; measured, not
shipped: docs/PERFORMANCE.md): a source edited after the build is what runs, never the stale
compiled module."""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "compiled_core", Path(__file__).resolve().parents[1] / "benchmarks" / "compiled_core.py"
)
assert _spec is not None and _spec.loader is not None
compiled_core = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compiled_core)


def _need_compiler() -> None:
    pytest.importorskip("Cython")
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler")


def _import_fresh(name: str):  # type: ignore[no-untyped-def]
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
    manifest = compiled_core.build(["fc_probe_pkg.probe"], out, root=root, pxd_dir=None)
    assert list(manifest["modules"]) == ["fc_probe_pkg.probe"]

    finder, reason = compiled_core.load_finder(out)
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

        src.write_text("def value() -> int:\n    return 1\n")  # back to the built text
        mod = _import_fresh("fc_probe_pkg.probe")
        assert mod.__file__.endswith(".so")
    finally:
        sys.meta_path.remove(finder)
        sys.path.remove(str(root))
        for name in ("fc_probe_pkg.probe", "fc_probe_pkg"):
            sys.modules.pop(name, None)


def test_no_build_or_another_python_means_plain_python(tmp_path: Path) -> None:
    finder, reason = compiled_core.load_finder(tmp_path / "missing")
    assert finder is None and "no build" in reason
    (tmp_path / "manifest.json").write_text(
        '{"python": "cpython-27", "ext_suffix": ".so", "modules": {"a": {}}}'
    )
    finder, reason = compiled_core.load_finder(tmp_path)
    assert finder is None and "another Python" in reason
