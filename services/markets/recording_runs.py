"""Recording format 3: a Polymarket ``price_change`` message as columns of runs (issue 18).

Shared by the recorder (which writes them) and the translator (which reads them); it imports
nothing of either, so neither venue package nor recorder depends on the other through it.
See ``docs/RECORDING.md``.
"""

from __future__ import annotations

from typing import Any

# A recording stores a price_change message in the usual shape as columns (docs/RECORDING.md,
# format 3): the message without its entries ("head") and
# ``[assets, counts, sides, prices, sizes, best_bids, best_asks]``: one asset, count and pair of
# best prices per run of consecutive entries sharing them, and one side letter ("B"/"S"), price
# and size string per entry. The translator reads them without building an entry dict and five
# strings per level (issue 18).
_RUN_FIELDS = frozenset({"asset_id", "price", "size", "side", "best_bid", "best_ask"})
_SIDE_LETTER = {"BUY": "B", "SELL": "S"}
_LETTER_SIDE = {"B": "BUY", "S": "SELL"}
_INT_ONLY = {int}
# Runs of fewer levels than this on average stay entries: the columns' fixed cost per message
# then exceeds what they save (measured on bench_feed's two-asset messages, issue 18).
_MIN_RUN_LENGTH = 2


def price_change_runs(
    msg: Any, min_run: float | None = None
) -> tuple[dict[str, Any], list[Any]] | None:
    """Return ``(head, columns)`` of a ``price_change`` message in the usual shape whose runs
    hold at least ``min_run`` levels on average (default :data:`_MIN_RUN_LENGTH`), else None.

    The usual shape: a dict with ``event_type`` ``"price_change"``, no top-level ``asset_id`` or
    ``changes``, and a non-empty ``price_changes`` list of dicts holding exactly ``asset_id``,
    ``price``, ``size``, ``side`` (``BUY``/``SELL``), ``best_bid`` and ``best_ask``, all strings.
    :func:`expand_price_change_runs` gives the message back (entries equal, key order aside).
    """
    if type(msg) is not dict or msg.get("event_type") != "price_change":
        return None
    entries = msg.get("price_changes")
    if type(entries) is not list or not entries or "asset_id" in msg or "changes" in msg:
        return None
    assets: list[str] = []
    counts: list[int] = []
    bids: list[str] = []
    asks: list[str] = []
    sides: list[str] = []
    prices: list[str] = []
    sizes: list[str] = []
    key: tuple[Any, ...] = ()
    for e in entries:
        if type(e) is not dict or e.keys() != _RUN_FIELDS:
            return None
        asset, price, size = e["asset_id"], e["price"], e["size"]
        side_name, bb, ba = e["side"], e["best_bid"], e["best_ask"]
        if not (type(asset) is type(price) is type(size) is type(side_name) is str):
            return None
        side = _SIDE_LETTER.get(side_name)
        if side is None or type(bb) is not str or type(ba) is not str:
            return None
        if (asset, bb, ba) != key:
            key = (asset, bb, ba)
            assets.append(asset)
            counts.append(0)
            bids.append(bb)
            asks.append(ba)
        counts[-1] += 1
        sides.append(side)
        prices.append(price)
        sizes.append(size)
    if len(entries) < (_MIN_RUN_LENGTH if min_run is None else min_run) * len(assets):
        return None  # short runs (e.g. one level per asset) translate faster as entries
    head = {k: v for k, v in msg.items() if k != "price_changes"}
    return head, [assets, counts, "".join(sides), prices, sizes, bids, asks]


def run_columns(runs: Any) -> tuple[list[Any], list[int], str, list[Any], list[Any], Any, Any]:
    """The seven columns of a format-3 message, checked for shape (ValueError if not)."""
    if type(runs) is not list or len(runs) != 7:
        raise ValueError("price_change runs: not a list of 7 columns")
    assets, counts, sides, prices, sizes, bids, asks = runs
    if type(sides) is not str or not (
        type(assets)
        is type(counts)
        is type(prices)
        is type(sizes)
        is type(bids)
        is type(asks)
        is list
    ):
        raise ValueError("price_change runs: columns of the wrong type")
    if not len(assets) == len(counts) == len(bids) == len(asks):
        raise ValueError("price_change runs: run columns of different lengths")
    if counts and (set(map(type, counts)) != _INT_ONLY or min(counts) < 1):
        raise ValueError("price_change runs: counts are not positive integers")
    if not sum(counts) == len(sides) == len(prices) == len(sizes):
        raise ValueError("price_change runs: level columns do not match the counts")
    return assets, counts, sides, prices, sizes, bids, asks


def expand_price_change_runs(head: Any, runs: Any) -> dict[str, Any]:
    """The ``price_change`` message that ``(head, columns)`` encode (the inverse of
    :func:`price_change_runs`).

    Raises
    ------
    ValueError
        If they do not have the shape :func:`price_change_runs` writes.
    """
    if type(head) is not dict:
        raise ValueError("price_change runs: head is not an object")
    assets, counts, sides, prices, sizes, bids, asks = run_columns(runs)
    entries: list[dict[str, Any]] = []
    i = 0
    for asset, k, bb, ba in zip(assets, counts, bids, asks, strict=True):
        for j in range(i, i + k):
            name = _LETTER_SIDE.get(sides[j])
            if name is None:
                raise ValueError(f"price_change runs: side {sides[j]!r}")
            entries.append(
                {
                    "asset_id": asset,
                    "price": prices[j],
                    "size": sizes[j],
                    "side": name,
                    "best_bid": bb,
                    "best_ask": ba,
                }
            )
        i += k
    msg = dict(head)
    msg["price_changes"] = entries
    return msg
