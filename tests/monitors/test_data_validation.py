"""DataValidator: the per-instrument trading gate (pure decision code)."""

from __future__ import annotations

from services.events import BookDelta, BookSnapshot
from services.instruments import Side
from services.markets.polymarket.config import ValidationConfig
from services.monitors.data_validation import DataValidator
from services.orderbook import BookStore

T = 1_000.0
ID = "tok"


class Status:
    """Hand-written ConnectionStatus double."""

    def __init__(self) -> None:
        self.healthy = True
        self.last: float | None = T

    def is_healthy(self, instrument_id: str) -> bool:
        return self.healthy

    def last_message_ts(self, instrument_id: str) -> float | None:
        return self.last


def setup(
    cfg: ValidationConfig | None = None, status: Status | None = None
) -> tuple[DataValidator, BookStore, dict]:
    books = BookStore()
    books.apply_snapshot(
        BookSnapshot(
            T,
            ID,
            ((400_000, 100_000_000), (390_000, 50_000_000)),
            ((420_000, 100_000_000), (430_000, 50_000_000)),
        )
    )
    top: dict = {}
    v = DataValidator(
        cfg or ValidationConfig(), books, status=status, ticks={ID: 10_000}, venue_top=top
    )
    return v, books, top


def test_clean_book_may_trade() -> None:
    v, _, _ = setup(status=Status())
    assert v.can_trade(ID, T + 1) == (True, None)
    assert v.can_trade("unknown", T) == (False, "no_book")


def test_staleness_blocks_then_fresh_update_unblocks() -> None:
    status = Status()
    v, books, _ = setup(ValidationConfig(freshness_threshold_s=5), status)
    assert v.can_trade(ID, T + 5) == (True, None)
    assert v.can_trade(ID, T + 5.01) == (False, "stale_book")
    # a message on the connection proves the book is current even if it did not change
    status.last = T + 9
    assert v.can_trade(ID, T + 10) == (True, None)
    status.last = None
    books.apply_delta(BookDelta(T + 20, ID, ((Side.BUY, 390_000, 1_000_000),)))
    assert v.can_trade(ID, T + 24) == (True, None)
    assert v.can_trade(ID, T + 26) == (False, "stale_book")
    failures = v.take_failures()
    assert [(f.reason, f.ts) for f in failures] == [
        ("stale_book", T + 5.01),
        ("stale_book", T + 26),
    ]
    assert v.counters["blocked:stale_book"] == 2 and v.counters["unblocked"] == 1


def test_unhealthy_connection_blocks() -> None:
    status = Status()
    v, _, _ = setup(status=status)
    status.healthy = False
    assert v.can_trade(ID, T) == (False, "connection_unhealthy")
    status.healthy = True
    assert v.can_trade(ID, T) == (True, None)


def test_crossed_and_empty_books_block() -> None:
    v, books, _ = setup()
    books.apply_delta(BookDelta(T, ID, ((Side.BUY, 420_000, 1_000_000),)))
    assert v.can_trade(ID, T) == (False, "crossed_book")
    books.apply_snapshot(BookSnapshot(T, ID, ((400_000, 100_000_000),), ()))
    assert v.can_trade(ID, T) == (False, "empty_book")
    v2, books2, _ = setup(ValidationConfig(require_two_sided=False, min_depth_usd=0))
    books2.apply_snapshot(BookSnapshot(T, ID, ((400_000, 100_000_000),), ()))
    assert v2.can_trade(ID, T) == (True, None)


def test_bad_data_blocks_until_clean_update_and_requests_resync() -> None:
    v, _, _ = setup()
    v.note_data_issue(ID, "off_grid", T)
    assert v.can_trade(ID, T) == (False, "bad_data:off_grid")
    assert v.take_resync_requests() == []  # an off-grid level is displayed as sent
    v.note_data_issue(ID, "bad_size", T)
    assert v.can_trade(ID, T) == (False, "bad_data:bad_size")
    assert v.take_resync_requests() == [ID]
    v.note_clean_update(ID, T + 1)
    assert v.can_trade(ID, T + 1) == (True, None)
    assert [f.reason for f in v.take_failures()] == ["bad_data:off_grid", "bad_data:bad_size"]
    assert v.counters["data_issue:bad_size"] == 1


def test_failed_cross_check_blocks_until_clean_check() -> None:
    v, books, _ = setup(ValidationConfig(price_discrepancy_threshold=0.01))
    assert v.cross_check(ID, 410_000, 420_000, T)  # exactly at the threshold: clean
    assert not v.cross_check(ID, 400_000, 440_000, T + 1)  # ask off by 0.02
    assert v.can_trade(ID, T + 1) == (False, "cross_check_failed")
    assert v.take_resync_requests() == [ID]
    (failure,) = v.take_failures()
    assert failure.reason == "cross_check_failed" and "440000" in failure.detail
    assert not v.cross_check(ID, None, 420_000, T + 2)  # a side missing on one source
    assert v.can_trade(ID, T + 2) == (False, "cross_check_failed")
    assert v.cross_check(ID, 400_000, 420_000, T + 3)
    assert v.can_trade(ID, T + 3) == (True, None)
    assert v.cross_check_mid(ID, 410_000, T + 4)
    assert not v.cross_check_mid(ID, 430_000, T + 5)
    c = v.counters
    assert (c["cross_checks"], c["cross_check_ok"], c["cross_check_failed"]) == (6, 3, 3)


def test_a_suspect_book_awaiting_its_resync_snapshot_reports_the_connection_first() -> None:
    # The feed requests a resync in the round that fails the check; until the new snapshot
    # arrives its status reports the token unhealthy, which outranks the failed check. Both are
    # blocks; once the snapshot is in, the still-suspect book reports the failed check.
    status = Status()
    v, _, _ = setup(ValidationConfig(price_discrepancy_threshold=0.01), status)
    assert not v.cross_check(ID, 400_000, 440_000, T + 1)
    status.healthy = False  # resync requested: book not re-snapshotted yet
    assert v.can_trade(ID, T + 1) == (False, "connection_unhealthy")
    status.healthy = True  # snapshot in, no clean check yet
    assert v.can_trade(ID, T + 2) == (False, "cross_check_failed")
    assert v.cross_check(ID, 400_000, 420_000, T + 3)
    assert v.can_trade(ID, T + 3) == (True, None)


def test_select_cross_checks_puts_due_suspects_first_and_rotates() -> None:
    v, _, _ = setup(ValidationConfig(suspect_recheck_s=5))
    ids = ["a", "b", "c", "d", "e"]
    assert v.select_cross_checks(ids, T, 2) == ["a", "b"]
    assert v.select_cross_checks(ids, T, 2) == ["c", "d"]
    v.cross_check("d", 1, 1, T)  # no book for "d": suspect
    assert v.select_cross_checks(ids, T + 1, 2) == ["e", "a"]  # not due yet, skipped
    assert v.select_cross_checks(ids, T + 6, 2) == ["d", "b"]


def test_venue_top_mismatch_blocks() -> None:
    v, _, top = setup()
    top[ID] = (400_000, 420_000)
    assert v.can_trade(ID, T) == (True, None)
    top[ID] = (410_000, 420_000)
    assert v.can_trade(ID, T) == (False, "top_mismatch")
    v2, _, top2 = setup(ValidationConfig(check_venue_top=False))
    top2[ID] = (410_000, 420_000)
    assert v2.can_trade(ID, T) == (True, None)


def test_min_depth_near_mid() -> None:
    # mid 0.41; 2 ticks either side reaches 0.39..0.43; each side needs 30 USD
    cfg = ValidationConfig(min_depth_usd=30, depth_ticks=2)
    v, books, _ = setup(cfg)
    assert v.can_trade(ID, T) == (True, None)  # bids 40 + 19.5, asks 42 + 21.5 USD
    books.apply_delta(BookDelta(T, ID, ((Side.BUY, 400_000, 10_000_000),)))
    # bids now 4 + 19.5 = 23.5 USD within the window
    assert v.can_trade(ID, T) == (False, "thin_depth")
    cfg_far = ValidationConfig(min_depth_usd=30, depth_ticks=1)
    v3, books3, _ = setup(cfg_far)
    books3.apply_delta(BookDelta(T, ID, ((Side.SELL, 420_000, 10_000_000),)))
    # asks within 0.42 only: 4.2 USD; the 0.43 level is outside one tick of the mid
    assert v3.can_trade(ID, T) == (False, "thin_depth")


def test_forget_and_counters_snapshot() -> None:
    v, _, _ = setup()
    v.note_data_issue(ID, "bad_price", T)
    v.can_trade(ID, T)
    snap = v.counters_snapshot()
    assert snap["blocked_now"] == 1 and snap["data_issues_now"] == 1
    v.forget(ID)
    assert v.counters_snapshot()["blocked_now"] == 0 and v.take_resync_requests() == []
