"""The fidelity report: on what evidence each strategy's paper fills rest.

A paper result is only as good as its fills. A taker fill walked liquidity the venue displayed;
a maker fill by trade print rests on a trade the venue reported at or through the order's
price; a maker fill by crossing rests only on the displayed book moving through the order's
price (the least certain: the book may be transiently crossed). Orders the data gate refused
never reached the exchange. See docs/FILLS.md, "Fidelity report".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from services.money import MICRO

REASONS = ("taker", "maker_print", "maker_cross")


@dataclass
class Fidelity:
    """Fill evidence of one strategy (counts of fills, shares in micro-shares)."""

    strategy: str
    taker_fills: int = 0
    taker_shares: int = 0
    maker_print_fills: int = 0
    maker_print_shares: int = 0
    maker_cross_fills: int = 0
    maker_cross_shares: int = 0
    unknown_fills: int = 0  # live fills, or rows written before fills carried their evidence
    unknown_shares: int = 0
    data_gate_refusals: int = 0

    @property
    def fills(self) -> int:
        """Return the number of fills of every kind."""
        return (
            self.taker_fills
            + self.maker_print_fills
            + self.maker_cross_fills
            + (self.unknown_fills)
        )

    @property
    def cross_share_pct(self) -> float | None:
        """Return the percentage of maker shares filled on crossing evidence only."""
        maker = self.maker_print_shares + self.maker_cross_shares
        return None if maker == 0 else 100.0 * self.maker_cross_shares / maker

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (shares as floats, plus the totals)."""
        d: dict[str, Any] = asdict(self)
        for k in list(d):
            if k.endswith("_shares"):
                d[k] = d[k] / MICRO
        d["fills"] = self.fills
        d["cross_share_pct"] = self.cross_share_pct
        return d


def fidelity_report(
    fills: Iterable[Mapping[str, Any]], refusals: Mapping[str, int] | None = None
) -> dict[str, Fidelity]:
    """Summarize fills per strategy by their evidence.

    Parameters
    ----------
    fills : iterable of mappings
        ``strategy``, ``size`` (micro-shares), ``liquidity`` and ``fill_reason`` of each fill
        (a fill row, or ``dataclasses.asdict`` of a :class:`~services.execution.orders.Fill`);
        an optional ``count`` makes one mapping stand for that many fills of total ``size``
        (grouped database rows).
    refusals : mapping, optional
        Orders refused by the data gate, per strategy.

    Returns
    -------
    dict[str, Fidelity]
        By strategy name, sorted.
    """
    out: dict[str, Fidelity] = {}
    for f in fills:
        name = str(f["strategy"])
        row = out.get(name)
        if row is None:
            row = out[name] = Fidelity(name)
        reason = f.get("fill_reason") or ""
        if reason not in REASONS:
            reason = "taker" if f.get("liquidity") == "taker" else "unknown"
        size = int(f["size"])
        n = int(f.get("count", 1))
        setattr(row, f"{reason}_fills", getattr(row, f"{reason}_fills") + n)
        setattr(row, f"{reason}_shares", getattr(row, f"{reason}_shares") + size)
    for name, n in (refusals or {}).items():
        row = out.get(name)
        if row is None:
            row = out[name] = Fidelity(name)
        row.data_gate_refusals += n
    return dict(sorted(out.items()))
