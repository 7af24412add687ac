"""``python bot.py build-core``: compile the core, verify it, or report whether a build is valid.

Cython 3.3 (``requirements-build.txt``) compiles the UNCHANGED ``.py`` sources of
:data:`services.compiled.MODULES` in pure-Python mode. The typed declarations in
``services/compiled/pxd/`` (``OrderBook``, ``BookStore`` and ``Translator`` as extension types
with typed fields) are copied beside the sources inside the build's own temporary tree only; the
generated C and objects never touch the source tree. ``manifest.json`` (written last) records
each source's SHA-256, the Python it was built for and whether :mod:`services.compiled.verify`
accepted the build.

Directives: ``annotation_typing`` stays OFF. With Cython's default the annotations are enforced
(a ``-> str`` method returning a str Enum raised TypeError in an earlier measurement; ``float``
arguments would become C doubles). ``infer_types`` stays off too: money and sizes are Python
integers (exact, unbounded), never C integers. docs/COMPILED_CORE.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

from services.compiled import (
    MODULES,
    PXD_DIR,
    ROOT,
    default_dir,
    load_finder,
    read_manifest,
    sha256,
    write_manifest,
)

log = logging.getLogger(__name__)


DIRECTIVES: dict[str, object] = {
    "language_level": 3,
    "binding": True,
    # OFF on purpose: see the module docstring.
    "annotation_typing": False,
}


class BuildError(Exception):
    """The build could not be made (no Cython, no compiler, a compile error, an edit meanwhile)."""


def build(
    out: Path,
    modules: tuple[str, ...] | list[str] = MODULES,
    root: Path = ROOT,
    pxd_dir: Path | None = PXD_DIR,
    quiet: bool = True,
) -> dict[str, Any]:
    """Compile ``modules`` (dotted names of ``.py`` files under ``root``) into ``out``.

    ``out`` is replaced; ``out/manifest.json`` is written last with ``"verified": false``
    (:func:`services.compiled.verify.verify` sets it). Returns the manifest.
    """
    try:
        import Cython  # noqa: PLC0415
        from Cython.Build import cythonize  # noqa: PLC0415
        from setuptools import Distribution, Extension  # noqa: PLC0415
        from setuptools.command.build_ext import build_ext  # noqa: PLC0415
    except ImportError as exc:
        raise BuildError(
            f"{exc.name or exc} is not installed: pip install -r requirements-build.txt"
        ) from None
    if out.exists() and any(out.iterdir()) and not (out / "manifest.json").exists():
        raise BuildError(f"{out} is not empty and holds no build: choose an empty or new folder")
    t0 = time.monotonic()
    srcs = {m: root / (m.replace(".", "/") + ".py") for m in modules}
    decls = {
        m: d
        for m, src in srcs.items()
        if pxd_dir is not None
        and (d := pxd_dir / src.relative_to(root).with_suffix(".pxd")).exists()
    }
    watched = {**srcs, **{m + ".pxd": d for m, d in decls.items()}}
    hashes = {m: sha256(p) for m, p in watched.items()}
    with tempfile.TemporaryDirectory(prefix="compiled-core-") as tmp:
        work = Path(tmp)
        exts = []
        for m, src in srcs.items():
            dst = work / src.relative_to(root)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            if m in decls:
                shutil.copyfile(decls[m], dst.with_suffix(".pxd"))
            exts.append(Extension(m, [str(dst)]))
        for src in srcs.values():  # the packages along the way, so Cython sees dotted names
            p = (work / src.relative_to(root)).parent
            while p != work:
                (p / "__init__.py").touch(exist_ok=True)
                p = p.parent
        cwd = os.getcwd()
        os.chdir(work)
        try:
            ext_modules = cythonize(
                exts, compiler_directives=dict(DIRECTIVES), quiet=quiet, language_level=3
            )
            cmd = build_ext(Distribution({"ext_modules": ext_modules}))
            cmd.build_lib = str(work / "lib")
            cmd.build_temp = str(work / "tmp")
            cmd.ensure_finalized()
            cmd.run()
        except Exception as exc:  # noqa: BLE001 - Cython's CompileError, distutils' errors
            raise BuildError(f"the compile failed: {str(exc).splitlines()[0][:300]}") from exc
        finally:
            os.chdir(cwd)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        entries: dict[str, dict[str, str]] = {}
        for m in modules:
            target = out / cmd.get_ext_filename(m)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(work / "lib" / cmd.get_ext_filename(m), target)
            entries[m] = {
                "so": str(target.relative_to(out)),
                "source": str(srcs[m].relative_to(root)),
                "source_sha256": hashes[m],
                "so_sha256": sha256(target),
                "pxd": _rel(decls[m], root) if m in decls else "",
                "pxd_sha256": hashes.get(m + ".pxd", ""),
            }
    for m, p in watched.items():  # an edit during the build: refuse to record a mixed state
        if sha256(p) != hashes[m]:
            shutil.rmtree(out)
            raise BuildError(f"{p} changed during the build; run it again")
    manifest = {
        "python": sys.implementation.cache_tag,
        "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
        "cython": Cython.__version__,
        "directives": dict(DIRECTIVES),
        "modules": entries,
        "build_s": round(time.monotonic() - t0, 1),
        "verified": False,
    }
    write_manifest(out, manifest)
    return manifest


def _rel(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when under it (the usual case), else absolute."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def check(out: Path) -> tuple[bool, str]:
    """Return whether ``out`` holds a valid (verified, current) build, and a sentence."""
    finder, reason = load_finder(out)
    if finder is None:
        return False, reason
    manifest = read_manifest(out) or {}
    missing = [m for m in manifest.get("modules", {}) if m not in finder.entries]
    if missing:
        return False, f"sources changed since the build ({', '.join(missing)}): rebuild"
    return True, f"valid build in {out}: {', '.join(finder.entries)}"


def main(argv: list[str] | None = None) -> int:
    """``bot.py build-core [--check] [--out DIR]``; exit 0 on success, 1 on failure."""
    ap = argparse.ArgumentParser(
        prog="bot.py build-core",
        description="Compile the order book and the Polymarket translator with Cython "
        "(optional; docs/COMPILED_CORE.md).",
    )
    ap.add_argument(
        "--out",
        help="build folder (default: $BOT_COMPILED_CORE_DIR, else .build/compiled_core)",
    )
    ap.add_argument(
        "--check", action="store_true", help="only report whether a valid build is present"
    )
    args = ap.parse_args(argv)
    out = Path(args.out).expanduser() if args.out else default_dir()
    if args.check:
        ok, msg = check(out)
        print(("Compiled core: " if ok else "Compiled core: no valid build: ") + msg)
        return 0 if ok else 1
    from services.compiled.verify import verify  # noqa: PLC0415

    print(f"Compiling {', '.join(MODULES)} into {out} (about a minute)...", flush=True)
    try:
        manifest = build(out)
    except BuildError as exc:
        print(f"build-core failed: {exc}", file=sys.stderr)
        return 1
    print(f"Built in {manifest['build_s']} s; verifying against pure Python...", flush=True)
    ok, msg = verify(out)
    if not ok:
        print(f"build-core: verification FAILED, build removed: {msg}", file=sys.stderr)
        return 1
    print(f"Compiled core built and verified ({msg}) in {out}.")
    print("The bot uses it from its next start (bot.compiled_core: auto).")
    return 0
