"""The optional compiled core: the order book and the Polymarket translator built with Cython.

``python bot.py build-core`` (:mod:`services.compiled.build`) compiles the UNCHANGED ``.py``
sources of :data:`MODULES` into a folder outside the source tree (default
``.build/compiled_core/`` in the repository, ``BOT_COMPILED_CORE_DIR`` overrides it) and records
each source's SHA-256 in ``manifest.json``; :mod:`services.compiled.verify` then runs the same
Polymarket stream through the build and through the pure-Python modules and removes the build if
anything differs. :func:`activate` puts a finder first on ``sys.meta_path`` that serves a
module's compiled build only while its ``.py`` still has the recorded hash (checked again at
import): an edited source is imported as Python, never shadowed by a stale build.

``bot.compiled_core`` (``auto`` | ``off`` | ``require``, env ``BOT_COMPILED_CORE`` overrides it)
chooses; ``auto`` uses a valid build if there is one, else pure Python. The bot logs one line at
start (:func:`status_line`). See docs/COMPILED_CORE.md.

This module imports nothing of the project: ``services/__init__.py`` activates it from the
environment before any hot module is imported.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
"""The repository (the sources the build compiles live under it)."""

MODULES: tuple[str, ...] = ("services.orderbook", "services.markets.polymarket.translate")
"""The modules the build compiles: the two that pay (docs/PERFORMANCE.md, "A compiled core")."""

MODES: tuple[str, ...] = ("auto", "off", "require")
ENV_MODE = "BOT_COMPILED_CORE"
ENV_DIR = "BOT_COMPILED_CORE_DIR"
BUILD_HINT = "python bot.py build-core"
PXD_DIR = Path(__file__).resolve().parent / "pxd"
"""The typed declarations the build copies beside each source (``<module path>.pxd``)."""


class CompiledCoreError(Exception):
    """``require`` was asked for and no valid build could be installed."""


def default_dir() -> Path:
    """Return the build folder: ``$BOT_COMPILED_CORE_DIR``, else ``.build/compiled_core``."""
    env = os.environ.get(ENV_DIR, "").strip()
    return Path(env).expanduser() if env else ROOT / ".build" / "compiled_core"


def env_mode() -> str | None:
    """Return ``$BOT_COMPILED_CORE`` normalised (None when unset or empty), unchecked."""
    raw = os.environ.get(ENV_MODE, "").strip().lower()
    return raw or None


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class State:
    """What :func:`activate` did."""

    on: bool
    reason: str = ""
    modules: list[str] = field(default_factory=list)
    out: Path | None = None
    mode: str = "auto"

    def line(self) -> str:
        return status_line(self)


def status_line(state: State) -> str:
    """The start line: ``Compiled core: on (2 modules: ...)`` or ``Compiled core: off (why)``."""
    if state.on:
        n = len(state.modules)
        return f"Compiled core: on ({n} module{'s' if n != 1 else ''}: {', '.join(state.modules)})"
    return f"Compiled core: off ({state.reason})"


class Finder:
    """Serves a listed module from its compiled build while its source's hash matches."""

    def __init__(self, out: Path, entries: dict[str, dict[str, str]], root: Path) -> None:
        self.out = out
        self.entries = entries
        self.root = root
        self.served: list[str] = []
        self.stale: list[str] = []

    def source_matches(self, name: str) -> bool:
        """Return whether the module's source and its declarations are those of the build.

        A ``.pxd`` changes what the compiled module does (which attributes its classes take)
        as much as the ``.py``: either edited makes the build stale for that module.
        """
        entry = self.entries[name]
        try:
            if sha256(self.root / entry["source"]) != entry["source_sha256"]:
                return False
            pxd = entry.get("pxd")
            if pxd is None:  # a build from before the declarations were recorded
                return not (PXD_DIR / Path(entry["source"]).with_suffix(".pxd")).exists()
            if not pxd:
                return True  # built without declarations
            return sha256(self.root / pxd) == entry.get("pxd_sha256")
        except (OSError, KeyError, TypeError):
            return False

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        entry = self.entries.get(name)
        if entry is None:
            return None
        if not self.source_matches(name):
            self.stale.append(name)
            log.warning(
                "compiled core: %s (or its .pxd) was edited after the build; importing the .py "
                "(run `%s`)",
                name,
                BUILD_HINT,
            )
            return None
        so = self.out / entry["so"]
        loader = importlib.machinery.ExtensionFileLoader(name, str(so))
        spec = importlib.util.spec_from_file_location(name, str(so), loader=loader)
        self.served.append(name)
        return spec


def read_manifest(out: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Write ``out/manifest.json`` atomically (a reader never sees half of it)."""
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    tmp.replace(out / "manifest.json")


def load_finder(
    out: Path, root: Path | None = None, verified_only: bool = True
) -> tuple[Finder | None, str]:
    """Return a checked finder for the build in ``out`` (or None) and why not.

    Refused: no manifest; built for another Python; not verified; an extension file missing or
    changed. Modules whose source changed since the build are left out of the finder; when that
    leaves none, the reason says so.
    """
    manifest = read_manifest(out)
    if manifest is None:
        return None, f"no build in {out}: `{BUILD_HINT}` makes one"
    if manifest.get("python") != sys.implementation.cache_tag or manifest.get(
        "ext_suffix"
    ) != sysconfig.get_config_var("EXT_SUFFIX"):
        return None, f"the build in {out} is for another Python: run `{BUILD_HINT}` again"
    if verified_only and manifest.get("verified") is not True:
        return None, f"the build in {out} was not verified: run `{BUILD_HINT}` again"
    entries: dict[str, dict[str, str]] = {}
    for name, entry in dict(manifest.get("modules") or {}).items():
        try:
            if sha256(out / entry["so"]) != entry["so_sha256"]:
                return None, f"{entry['so']} in {out} changed after the build: rebuild"
        except (OSError, KeyError, TypeError):
            return None, f"the build in {out} is incomplete: run `{BUILD_HINT}` again"
        entries[name] = entry
    if not entries:
        return None, f"the build in {out} holds no module"
    finder = Finder(out, entries, root or ROOT)
    changed = [m for m in entries if not finder.source_matches(m)]
    for m in changed:
        entries.pop(m)
    if not entries:
        return None, f"sources changed since the build ({', '.join(changed)}): run `{BUILD_HINT}`"
    return finder, ""


_state: State | None = None
_finder: Finder | None = None


def state() -> State | None:
    """The state of the first :func:`activate` call in this process (None before it)."""
    return _state


def activate(mode: str = "auto", out: Path | None = None) -> State:
    """Install the compiled core per ``mode`` (once per process; later calls return the state).

    Raises
    ------
    CompiledCoreError
        ``mode == "require"`` and no valid build is installed (also on a later call that asks
        for ``require`` after an earlier one could not install it).
    ValueError
        ``mode`` is not one of :data:`MODES`.
    """
    global _state, _finder
    if mode not in MODES:
        raise ValueError(f"expected one of {', '.join(MODES)} (got {mode!r})")
    if _state is None:
        _state = _install(mode, out or default_dir())
    if mode == "require" and not _state.on:
        raise CompiledCoreError(_state.reason)
    return _state


def _install(mode: str, out: Path) -> State:
    global _finder
    if mode == "off":
        return State(False, "turned off by bot.compiled_core or BOT_COMPILED_CORE", mode=mode)
    finder, reason = load_finder(out)
    if finder is None:
        return State(False, reason, out=out, mode=mode)
    early = [m for m in finder.entries if m in sys.modules]
    if early:
        return State(
            False,
            f"{', '.join(early)} imported before the core could be installed",
            out=out,
            mode=mode,
        )
    sys.meta_path.insert(0, finder)
    _finder = finder
    return State(True, "", list(finder.entries), out=out, mode=mode)


def activate_from_env() -> None:
    """Called by ``services/__init__.py`` when ``BOT_COMPILED_CORE`` is set; never raises (a
    bad value or a missing ``require``d build stops ``bot.py`` with exit 2; other programs get a
    warning on stderr and run pure Python)."""
    mode = env_mode()
    if mode is None or mode not in MODES:
        return
    try:
        activate(mode)
    except CompiledCoreError as exc:
        sys.stderr.write(
            f"WARNING: BOT_COMPILED_CORE=require, but the compiled core is off: {exc}\n"
        )


def _reset_for_tests() -> None:
    """Forget the state and remove the finder (tests only)."""
    global _state, _finder
    if _finder is not None and _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    _state = None
    _finder = None
