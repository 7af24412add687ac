"""Betfair historical stream files: plain, ``.gz`` or ``.bz2``, one ``mcm`` message per line.

Betfair's historical data (PRO and BASIC) are newline-delimited Exchange Stream API messages,
compressed with bzip2 when downloaded from Betfair; recordings made with flumine or
betfairlightweight are often plain or gzip. A file is recognised by its content, not its name.
"""

from __future__ import annotations

import bz2
import gzip
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

PathLike = str | Path


class StreamFileError(ValueError):
    """A path given as a Betfair stream file is not one (the message says why)."""


_GZIP = b"\x1f\x8b"
_BZ2 = b"BZh"


def open_stream(path: PathLike) -> IO[bytes]:
    """Open a stream file for binary reading, decompressing gzip or bzip2 by its magic bytes."""
    p = Path(path)
    with p.open("rb") as fh:
        head = fh.read(3)
    if head[:2] == _GZIP:
        return gzip.open(p, "rb")  # type: ignore[return-value]
    if head == _BZ2:
        return bz2.open(p, "rb")
    return p.open("rb")


def iter_lines(path: PathLike) -> Iterator[bytes]:
    """Yield the non-empty lines of a stream file (raw bytes, newline stripped)."""
    with open_stream(path) as fh:
        for line in fh:
            line = line.strip()
            if line:
                yield line


def check_stream_file(path: Path) -> None:
    """Refuse a file whose first line is not a Betfair ``mcm`` message.

    Raises
    ------
    StreamFileError
        With the file and what it looks like instead.
    """
    try:
        first = next(iter_lines(path), b"")
    except (OSError, EOFError, ValueError) as exc:
        raise StreamFileError(f"{path}: cannot be read as a stream file ({exc})") from exc
    if not first:
        raise StreamFileError(f"{path}: the file is empty")
    try:
        msg = json.loads(first)
    except ValueError:
        raise StreamFileError(f"{path}: its first line is not JSON") from None
    if not (isinstance(msg, dict) and msg.get("op") == "mcm"):
        hint = ""
        if isinstance(msg, dict) and msg.get("k") is not None:
            hint = " (it looks like a recording of this bot: use market_data.source: replay)"
        raise StreamFileError(
            f"{path}: not a Betfair stream file: the first line is not an 'mcm' message{hint}"
        )


def stream_files(paths: PathLike | Sequence[PathLike]) -> list[Path]:
    """Expand files and directories into the sorted list of Betfair stream files.

    In a directory, every regular file except catalogues (``*.catalogue.json``), JSON metadata
    (``*.json``) and hidden or text files (``*.md``, ``*.txt``, ``LICENSE*``) is a stream file.

    Raises
    ------
    StreamFileError
        If a path does not exist, or a directory holds no stream file, or a file is not one.
    """
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    out: list[Path] = []
    for p in map(Path, items):
        if p.is_dir():
            found = sorted(x for x in p.iterdir() if x.is_file() and _looks_like_stream(x))
            if not found:
                raise StreamFileError(f"{p}: no Betfair stream files in this directory")
            out.extend(found)
        elif not p.is_file():
            raise StreamFileError(f"{p}: no such file")
        else:
            out.append(p)
    for f in out:
        check_stream_file(f)
    return out


def _looks_like_stream(p: Path) -> bool:
    name = p.name
    if name.startswith(".") or name.startswith("LICENSE"):
        return False
    return not name.endswith((".json", ".md", ".txt", ".yaml", ".yml", ".csv"))


def catalogue_for(path: Path) -> Path | None:
    """Return the market catalogue beside a stream file (``<file>.catalogue.json``), if any."""
    name = path.name
    for suffix in (".bz2", ".gz"):
        name = name.removesuffix(suffix)
    cand = path.with_name(name + ".catalogue.json")
    return cand if cand.is_file() else None
