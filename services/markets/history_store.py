"""Fetched history on disk: Parquet files partitioned by market and UTC day.

Layout under ``backtest.history_dir``::

    <condition_id>/meta.json                  market metadata, resolution, what is complete
    <condition_id>/prices/YYYY-MM-DD.parquet  token_id, ts (s), price (micro)
    <condition_id>/trades/YYYY-MM-DD.parquet  ts (s), token_id, side, price, size (micro), tx

Every file is written to a temporary name and renamed into place (``os.replace`` is atomic on
POSIX), so a crash leaves either the old file or the new one, never half of one; ``meta.json``
is written the same way after the data it describes. Nothing here touches the network.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

DAY_S = 86_400

PRICE_SCHEMA = pa.schema([("token_id", pa.string()), ("ts", pa.int64()), ("price", pa.int64())])
TRADE_SCHEMA = pa.schema(
    [
        ("ts", pa.int64()),
        ("token_id", pa.string()),
        ("side", pa.string()),
        ("price", pa.int64()),
        ("size", pa.int64()),
        ("tx", pa.string()),
    ]
)


def day_of(ts: float) -> str:
    """Return the UTC day ``YYYY-MM-DD`` of an epoch time."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def day_start(day: str) -> int:
    """Return the epoch second at which a UTC day starts."""
    return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())


def _atomic_bytes(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class HistoryStore:
    """Read and write one history folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def market_dir(self, market_id: str) -> Path:
        """Return a market's folder."""
        return self.root / market_id

    def markets(self) -> list[str]:
        """Return the condition ids that have a ``meta.json``."""
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/meta.json"))

    # ---------------------------------------------------------------- metadata
    def meta(self, market_id: str) -> dict[str, Any] | None:
        """Return a market's metadata, or None."""
        path = self.market_dir(market_id) / "meta.json"
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    def write_meta(self, market_id: str, meta: dict[str, Any]) -> None:
        """Write a market's metadata atomically."""
        text = json.dumps(meta, indent=1, sort_keys=True)
        _atomic_bytes(
            self.market_dir(market_id) / "meta.json",
            lambda tmp: tmp.write_text(text, encoding="utf-8"),
        )

    # ---------------------------------------------------------------- prices
    def price_days(self, market_id: str) -> list[str]:
        """Return the days with a price file."""
        d = self.market_dir(market_id) / "prices"
        return sorted(p.stem for p in d.glob("*.parquet")) if d.is_dir() else []

    def write_prices(self, market_id: str, day: str, rows: list[tuple[str, int, int]]) -> None:
        """Write one day of price points ``(token_id, ts, price micro)`` atomically."""
        rows = sorted(set(rows), key=lambda r: (r[1], r[0]))
        table = pa.table(
            {
                "token_id": [r[0] for r in rows],
                "ts": [r[1] for r in rows],
                "price": [r[2] for r in rows],
            },
            schema=PRICE_SCHEMA,
        )
        _atomic_bytes(
            self.market_dir(market_id) / "prices" / f"{day}.parquet",
            lambda tmp: pq.write_table(table, tmp),
        )

    def read_prices(self, market_id: str, day: str) -> list[tuple[str, int, int]]:
        """Return one day of price points."""
        t = pq.read_table(self.market_dir(market_id) / "prices" / f"{day}.parquet")
        return list(
            zip(t["token_id"].to_pylist(), t["ts"].to_pylist(), t["price"].to_pylist(), strict=True)
        )

    # ---------------------------------------------------------------- trades
    def trade_days(self, market_id: str) -> list[str]:
        """Return the days with a trades file."""
        d = self.market_dir(market_id) / "trades"
        return sorted(p.stem for p in d.glob("*.parquet")) if d.is_dir() else []

    def read_trades(self, market_id: str, day: str) -> list[tuple[int, str, str, int, int, str]]:
        """Return one day of trades ``(ts, token_id, side, price, size, tx)``."""
        path = self.market_dir(market_id) / "trades" / f"{day}.parquet"
        if not path.is_file():
            return []
        t = pq.read_table(path)
        cols = [t[c].to_pylist() for c in ("ts", "token_id", "side", "price", "size", "tx")]
        return list(zip(*cols, strict=True))

    def merge_trades(self, market_id: str, rows: list[tuple[int, str, str, int, int, str]]) -> int:
        """Add trades to their day files (duplicates dropped); return how many were new."""
        by_day: dict[str, list[tuple[int, str, str, int, int, str]]] = {}
        for r in rows:
            by_day.setdefault(day_of(r[0]), []).append(r)
        added = 0
        for day, new in sorted(by_day.items()):
            old = self.read_trades(market_id, day)
            merged = sorted(set(old) | set(new))
            added += len(merged) - len(old)
            if len(merged) == len(old):
                continue
            table = pa.table(
                {c: [r[i] for r in merged] for i, c in enumerate(TRADE_SCHEMA.names)},
                schema=TRADE_SCHEMA,
            )
            _atomic_bytes(
                self.market_dir(market_id) / "trades" / f"{day}.parquet",
                lambda tmp, table=table: pq.write_table(table, tmp),
            )
        return added
