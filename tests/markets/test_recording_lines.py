"""``recording_lines`` cuts a zstd recording into the same lines at any read size (issue 18).

The zstd reader cuts lines out of each decompressed block with ``bytes.find`` instead of splitting
the block into a list. The specification is the whole text split at ``\\n`` (a final empty part
dropped): empty lines and ``\\r`` stay as they are, a last line without a newline is kept, a cut
file ends with ``EOFError`` after its complete lines. Read sizes down to one compressed byte put
block boundaries inside lines, between ``\\r`` and ``\\n`` and on the newlines themselves.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest
import zstandard

from services.markets import replay
from services.markets.replay import recording_lines


def spec(text: bytes) -> list[bytes]:
    """The lines of ``text`` as the reader must yield them."""
    parts = text.split(b"\n")
    if parts[-1] == b"":
        parts.pop()
    return parts


def texts() -> list[bytes]:
    rng = random.Random(18)
    out = [
        b"",
        b"\n",
        b"\n\n\n",
        b'{"k":"meta"}',
        b'{"k":"meta"}\n',
        b'{"t":1}\r\n{"t":2}\r\n',
        b'{"t":1}\n\n{"t":2}\n{"t":3}',
        b"x" * 100_000 + b"\n" + b"y" * 70_000,  # lines longer than many reads
    ]
    for _ in range(6):
        lines = []
        for _ in range(rng.randrange(1, 400)):
            n = rng.choice([0, 1, 5, 60, 300, 5000])
            lines.append(bytes(rng.choice(b'{}":,0123456789abc\r') for _ in range(n)))
        text = b"\n".join(lines)
        out.append(text + rng.choice([b"", b"\n", b"\r\n"]))
    return out


def write_zst(path: Path, text: bytes, level: int = 3) -> Path:
    path.write_bytes(zstandard.ZstdCompressor(level=level).compress(text))
    return path


@pytest.mark.parametrize("read_size", [1, 7, 64, 1 << 14])
def test_zstd_lines_equal_the_split_text_at_any_read_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_size: int
) -> None:
    monkeypatch.setattr(replay, "_ZSTD_READ", read_size)
    for i, text in enumerate(texts()):
        path = write_zst(tmp_path / f"r{i}.jsonl.zst", text, level=1 + i % 5)
        assert list(recording_lines(path)) == spec(text), (read_size, i)


def test_zstd_stream_of_many_frames_and_small_writes(tmp_path: Path) -> None:
    # a recorder writes through a streaming compressor, flushed often: many small blocks
    text = b"".join(b'{"t":%d,"k":"raw","m":"%s"}\n' % (i, b"z" * (i % 97)) for i in range(3000))
    path = tmp_path / "s.jsonl.zst"
    with open(path, "wb") as fh, zstandard.ZstdCompressor().stream_writer(fh) as w:
        for i in range(0, len(text), 333):
            w.write(text[i : i + 333])
            w.flush(zstandard.FLUSH_BLOCK)
    assert list(recording_lines(path)) == spec(text)


def test_cut_zstd_file_yields_its_complete_lines_then_eof_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay, "_ZSTD_READ", 64)
    rng = random.Random(5)  # varied lines over several zstd blocks (128 KB each at most)
    text = b"".join(b'{"t":%d,"x":%d}\n' % (i, rng.getrandbits(64)) for i in range(30_000))
    blob = zstandard.ZstdCompressor(level=1).compress(text)
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(blob[: len(blob) // 2])
    got: list[bytes] = []
    with pytest.raises(EOFError):
        for line in recording_lines(path):
            got.append(line)
    assert got and got == spec(text)[: len(got)]  # whole lines only, in order


def test_gzip_and_plain_recordings_still_read(tmp_path: Path) -> None:
    text = b'{"t":1}\n\n{"t":2}\r\n{"t":3}'
    plain = tmp_path / "p.jsonl"
    plain.write_bytes(text)
    gz = tmp_path / "g.jsonl.gz"
    gz.write_bytes(gzip.compress(text))
    want = text.splitlines(keepends=True)  # these two keep their line ends, as before
    assert list(recording_lines(plain)) == want
    assert list(recording_lines(gz)) == want
    empty = tmp_path / "e.jsonl"
    empty.write_bytes(b"")
    assert list(recording_lines(empty)) == []
