"""An experimental compiled build of the hot path (issue 18, sixth round): measured, NOT shipped.

Cython 3 compiles the listed modules' UNCHANGED ``.py`` sources (pure-Python mode) into extension
modules kept outside the source tree (``--out DIR``), with a manifest recording each source's
SHA-256. Optional "augmenting" declarations (``benchmarks/compiled_pxd/<path>.pxd``: extension
types with typed fields for ``OrderBook``, ``BookStore`` and ``Translator``) are copied beside the
sources in the build's own temporary tree only. :func:`install` (or :func:`load_finder`) puts a
finder first on ``sys.meta_path`` that serves a module's compiled build only while the ``.py`` on
disk still has the recorded hash, checked at import: a source edited after the build is imported
as plain Python (a stale extension never shadows an edit; ``tests/test_compiled_core.py``).

Figures and the decision not to ship: ``docs/PERFORMANCE.md`` ("A compiled core"). Use:

    python benchmarks/compiled_core.py build --out /tmp/core [--modules a,b] [--no-pxd]
    python benchmarks/compiled_insns.py --build /tmp/core        # callgrind, pure vs compiled
    COMPILED_CORE_DIR=/tmp/core python benchmarks/compiled_core.py run benchmarks/bench_feed.py
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.machinery
import importlib.util
import json
import logging
import os
import runpy
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
PXD_DIR = Path(__file__).resolve().parent / "compiled_pxd"

# The hot path: book, Polymarket translation, engine, matcher, order flow, the default field's
# strategies, the per-second bookkeeping. (``services.strategies.arbitrage`` is left out: Cython
# 3.3 rejects ``min([x, *(gen)])`` in it.)
MODULES: tuple[str, ...] = (
    "services.orderbook",
    "services.markets.polymarket.translate",
    "services.engine",
    "services.order_flow",
    "services.execution.simulated",
    "services.runner",
    "services.snapshots",
    "services.competition",
    "services.portfolio",
    "services.ladder",
    "services.strategies.base",
    "services.strategies.common",
    "services.strategies.sizing",
    "services.strategies.market_maker",
    "services.strategies.complement_arb",
    "services.strategies.directional",
    "services.strategies.momentum",
    "services.strategies.mean_reversion",
    "services.strategies.favorite_longshot",
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(
    modules: list[str],
    out: Path,
    directives: dict[str, object] | None = None,
    quiet: bool = True,
    root: Path = ROOT,
    pxd_dir: Path | None = PXD_DIR,
) -> dict[str, Any]:
    """Compile ``modules`` (dotted names of ``.py`` files under ``root``) into ``out``; write
    ``out/manifest.json`` last; return the manifest."""
    from Cython.Build import cythonize  # noqa: PLC0415
    from setuptools import Distribution, Extension  # noqa: PLC0415
    from setuptools.command.build_ext import build_ext  # noqa: PLC0415

    t0 = time.monotonic()
    srcs = {m: root / (m.replace(".", "/") + ".py") for m in modules}
    hashes = {m: sha256(p) for m, p in srcs.items()}
    # annotation_typing off: Cython would otherwise enforce annotations (a `-> str` method
    # returning a str Enum raised TypeError; `float` arguments would turn ints into C doubles).
    opts: dict[str, object] = {"language_level": 3, "binding": True, "annotation_typing": False}
    failed: dict[str, str] = {}
    opts.update(directives or {})
    with tempfile.TemporaryDirectory(prefix="fastcore-") as tmp:
        work = Path(tmp)
        # Copy each source (and its .pxd, if any) into a package tree of its own, so the
        # generated C and objects never touch the source tree.
        exts = []
        for m, src in srcs.items():
            dst = work / src.relative_to(root)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            decl = pxd_dir / (src.relative_to(root).with_suffix(".pxd")) if pxd_dir else None
            if decl is not None and decl.exists():
                shutil.copyfile(decl, dst.with_suffix(".pxd"))
            exts.append(Extension(m, [str(dst)]))
        for d in {(work / s.relative_to(root)).parent for s in srcs.values()}:
            # packages along the way (so Cython sees the dotted names)
            p = d
            while p != work:
                (p / "__init__.py").touch(exist_ok=True)
                p = p.parent
        cwd = os.getcwd()
        os.chdir(work)
        try:
            ext_modules = []
            for ext in exts:  # one by one: a module Cython rejects stays plain Python
                try:
                    ext_modules += cythonize(
                        [ext], compiler_directives=opts, quiet=quiet, language_level=3
                    )
                except Exception as exc:  # noqa: BLE001 - Cython's CompileError and friends
                    failed[ext.name] = str(exc).splitlines()[0][:200]
            modules = [m for m in modules if m not in failed]
            dist = Distribution({"ext_modules": ext_modules})
            cmd = build_ext(dist)
            cmd.build_lib = str(work / "lib")
            cmd.build_temp = str(work / "tmp")
            cmd.ensure_finalized()
            cmd.run()
        finally:
            os.chdir(cwd)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        entries: dict[str, dict[str, str]] = {}
        for m in modules:
            built = work / "lib" / cmd.get_ext_filename(m)
            target = out / cmd.get_ext_filename(m)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(built, target)
            entries[m] = {
                "so": str(target.relative_to(out)),
                "source": str(srcs[m].relative_to(root)),
                "source_sha256": hashes[m],
                "so_sha256": sha256(target),
            }
    for m, p in srcs.items():  # an edit during the build: refuse to record a mixed state
        if sha256(p) != hashes[m]:
            shutil.rmtree(out)
            raise RuntimeError(f"{p} changed during the build; run it again")
    import Cython  # noqa: PLC0415

    manifest = {
        "python": sys.implementation.cache_tag,
        "root": str(root),
        "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
        "cython": Cython.__version__,
        "directives": {k: v for k, v in opts.items()},
        "modules": entries,
        "not_compiled": failed,
        "build_s": round(time.monotonic() - t0, 1),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


class _Finder:
    """Serves ``name`` from its compiled build while its source's hash matches the manifest."""

    def __init__(self, out: Path, entries: dict[str, dict[str, str]], root: Path) -> None:
        self.out = out
        self.entries = entries
        self.root = root
        self.served: list[str] = []
        self.stale: list[str] = []

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        entry = self.entries.get(name)
        if entry is None:
            return None
        src = self.root / entry["source"]
        try:
            digest = hashlib.sha256(src.read_bytes()).hexdigest()
        except OSError:
            return None
        if digest != entry["source_sha256"]:
            self.stale.append(name)
            log.warning(
                "compiled core: %s was edited after the build; importing the .py (rebuild it)",
                name,
            )
            return None
        so = self.out / entry["so"]
        loader = importlib.machinery.ExtensionFileLoader(name, str(so))
        spec = importlib.util.spec_from_file_location(name, str(so), loader=loader)
        self.served.append(name)
        return spec


def load_finder(out: Path) -> tuple[_Finder | None, str]:
    """Return the checked finder for the build in ``out`` (or None) and why not."""
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return None, "off (no build: `python benchmarks/compiled_core.py build`)"
    if manifest.get("python") != sys.implementation.cache_tag or manifest.get(
        "ext_suffix"
    ) != sysconfig.get_config_var("EXT_SUFFIX"):
        return None, "off (built for another Python: rebuild)"
    entries = dict(manifest.get("modules", {}))
    if not entries:
        return None, "off (the build holds no module)"
    return _Finder(out, entries, Path(manifest.get("root", ROOT))), ""


def install(out: Path) -> str:
    """Install the checked finder for the build in ``out``; return a one-line status."""
    finder, reason = load_finder(out)
    if finder is None:
        return f"compiled core: {reason}"
    early = [m for m in finder.entries if m in sys.modules]
    for m in early:  # imported before the finder: they stay Python
        finder.entries.pop(m)
    sys.meta_path.insert(0, finder)
    return (
        f"compiled core: on ({len(finder.entries)} modules; imported too early: {early or 'none'})"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="compile the modules into --out")
    b.add_argument("--out", required=True)
    b.add_argument("--modules", default=",".join(MODULES))
    b.add_argument("--no-pxd", action="store_true", help="ignore benchmarks/compiled_pxd")
    b.add_argument("--directive", action="append", default=[], help="Cython directive name=value")
    r = sub.add_parser("run", help="run a script with the build in $COMPILED_CORE_DIR installed")
    r.add_argument("script")
    r.add_argument("args", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    if args.cmd == "build":
        directives: dict[str, object] = {}
        for d in args.directive:
            k, v = d.split("=", 1)
            directives[k] = {"True": True, "False": False}.get(v, v)
        m = build(
            [x for x in args.modules.split(",") if x],
            Path(args.out),
            directives,
            pxd_dir=None if args.no_pxd else PXD_DIR,
        )
        print(f"built {len(m['modules'])} modules in {m['build_s']} s into {args.out}")
        if m["not_compiled"]:
            print(f"left as Python: {m['not_compiled']}")
        return 0
    sys.path.insert(0, str(ROOT))
    print(install(Path(os.environ["COMPILED_CORE_DIR"])), file=sys.stderr)
    sys.argv = [args.script, *args.args]
    runpy.run_path(args.script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
