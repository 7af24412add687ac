"""A small slice of the shared L1 day (a dozen markets over its three and a half hours) for fast tests."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

from tests.conftest import ROOT

L1 = ROOT.parent / "shared" / "data" / "polymarket_l1"
SLICE_START, SLICE_END = "2026-07-10 20:25:00", "2026-07-11 00:00:00"


def write_slice(folder: Path, markets: int = 12) -> Path:
    """Write quotes, labels and markets of ``markets`` markets quoted all through the slice."""
    folder.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict[str, str]]] = {}
    with gzip.open(L1 / "quotes_2026-07-10.csv.gz", "rt", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        for row in reader:
            if SLICE_START <= row["ts"] < SLICE_END:
                rows.setdefault(row["slug"], []).append(row)
    # Markets quoted from the first poll to the last, with a spread under 0.05.
    tight = sorted(
        s
        for s, rs in rows.items()
        if len(rs) >= 95 and all(float(r["ask"]) - float(r["bid"]) <= 0.05 for r in rs)
    )
    full = set(tight[:: max(1, len(tight) // markets)][:markets])  # spread over categories
    keep = [r for s in sorted(full) for r in rows[s]]
    keep.sort(key=lambda r: r["ts"])
    with gzip.open(folder / "quotes_2026-07-10.csv.gz", "wt", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(keep)
    for name in ("labels.csv", "markets.csv"):
        with (L1 / name).open(newline="") as src, (folder / name).open("w", newline="") as dst:
            reader = csv.DictReader(src)
            w = csv.DictWriter(dst, fieldnames=list(reader.fieldnames or []))
            w.writeheader()
            w.writerows(r for r in reader if r["slug"] in full)
    (folder / "ATTRIBUTION.txt").write_text(
        "Derived from the Polymarket Order Book Dataset by DineshKumar8399, CC BY 4.0 "
        "(see ../shared/data/README.md).\n",
        encoding="utf-8",
    )
    return folder
