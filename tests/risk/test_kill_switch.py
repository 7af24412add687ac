"""The kill switch: state machine, effect on a running engine, flattening, deactivation rules and
the persisted state across a restart."""

from __future__ import annotations

import pytest

from services.execution.orders import OrderStatus
from services.instruments import Side
from services.risk.kill_switch import KillSwitch, KillSwitchError, TradingState
from tests.risk.conftest import T0, Harness, make_config, make_harness


# ------------------------------------------------------------------------------ state machine
def test_activation_goes_halted_or_reducing_and_is_idempotent() -> None:
    ks = KillSwitch()
    assert ks.activate(T0, "stop", "cli", flatten=False, timeout_s=60)
    assert ks.state is TradingState.HALTED and ks.since_ts == T0 and ks.source == "cli"
    assert not ks.activate(T0 + 1, "again", "dashboard", flatten=False, timeout_s=60)
    assert ks.reason == "stop"
    assert ks.activate(T0 + 2, "flatten too", "dashboard", flatten=True, timeout_s=60)
    assert ks.state is TradingState.REDUCING and ks.reducing_deadline_ts == T0 + 62
    ks.halt()
    assert ks.state is TradingState.HALTED


def test_deactivation_needs_the_token_and_a_reason() -> None:
    ks = KillSwitch()
    with pytest.raises(KillSwitchError, match="not active"):
        ks.deactivate(T0, "why", "CONFIRM")
    ks.activate(T0, "stop", "cli", flatten=False, timeout_s=60)
    with pytest.raises(KillSwitchError, match="confirmation token"):
        ks.deactivate(T0, "why", "confirm")
    with pytest.raises(KillSwitchError, match="needs a reason"):
        ks.deactivate(T0, "  ", "CONFIRM")
    assert ks.state is TradingState.HALTED
    ks.deactivate(T0 + 5, "checked", "CONFIRM")
    assert ks.state is TradingState.ACTIVE and ks.deactivate_reason == "checked"


def test_state_round_trips_and_unknown_state_fails_safe() -> None:
    ks = KillSwitch()
    ks.activate(T0, "stop", "signal", flatten=True, timeout_s=30)
    ks.latency_ms = 12.5
    again = KillSwitch.from_dict(ks.to_dict())
    assert again.to_dict() == ks.to_dict()
    assert KillSwitch.from_dict({"state": "BROKEN"}).state is TradingState.HALTED
    assert KillSwitch.from_dict(None).state is TradingState.ACTIVE


# ------------------------------------------------------------------------------ on an engine
def _rest_orders(h: Harness) -> list[int]:
    ids = []
    for s in ("s1", "s2"):
        for iid in ("Y1", "N1"):
            o = h.buy(s, iid, 10, 0.45)
            assert o is not None and o.status is OrderStatus.OPEN
            ids.append(o.order_id)
    return ids


def test_activation_cancels_every_resting_order_disables_all_and_records_latency(
    harness: Harness,
) -> None:
    h = harness
    ids = _rest_orders(h)
    msg = h.safety.activate_kill_switch("feed looks wrong", "dashboard", created_wall=999.95)
    assert "4 resting orders cancelled" in msg
    assert all(h.engine.orders[i].status is OrderStatus.CANCELLED for i in ids)
    assert all("kill switch" in (h.engine.orders[i].reject_reason or "") for i in ids)
    assert {r.status for r in h.engine.runners.values()} == {"disabled"}
    ev = h.writer.events("kill_switch")[-1]
    assert ev["severity"] == "critical" and ev["value"] == "HALTED"
    import json

    data = json.loads(ev["data_json"])
    assert data["latency_ms"] == pytest.approx(50.0)  # wall 1000.0 - created 999.95
    assert data["last_order_id"] == max(ids) and data["cancelled"] == 4
    assert h.writer.state["kill_switch"]["state"] == "HALTED"
    # Nothing gets through any more, not even a reducing order.
    assert h.buy("s1", "Y1", 10, 0.45) is None
    assert h.engine.order_seq == max(ids)
    rej = h.writer.events("risk_rejection")[-1]
    assert rej["message"].startswith("trading state is HALTED (kill switch: feed looks wrong)")


def test_flatten_closes_positions_through_execution_then_halts() -> None:
    h = make_harness()
    assert h.buy("s1", "Y1", 100, None) is not None  # market buy: 100 shares at 0.51
    assert h.pf("s1").qty("Y1") == 100_000_000
    h.buy("s2", "N1", 10, 0.45)  # a resting entry
    h.safety.activate_kill_switch("risk check", "cli", flatten=True)
    assert h.safety.kill.state is TradingState.REDUCING
    assert h.pf("s1").qty("Y1") == 0  # sold at market into the 0.49 bid
    close = [o for o in h.engine.orders.values() if o.reduce_only and o.side is Side.SELL]
    assert len(close) == 1 and close[0].order_type == "market" and close[0].reduce_only
    assert "kill switch flatten" in close[0].reason
    # REDUCING refuses new entries but lets reducing orders through.
    assert h.buy("s2", "N1", 10, 0.45) is None
    h.at(T0 + 1)
    assert h.safety.kill.state is TradingState.HALTED
    assert h.writer.events("kill_switch")[-1]["message"].startswith(
        "Kill switch REDUCING -> HALTED: nothing left to close"
    )
    h.pf("s1").check_ledger()


def test_flatten_on_kill_from_config_and_positions_below_minimum_stay() -> None:
    h = make_harness(make_config({"kill_switch_options": {"flatten_on_kill": True}}))
    h.buy("s1", "Y1", 100, None)
    h.set_book("Y1", [], [(0.51, 1000)])  # no bids: nothing can be sold yet
    h.safety.activate_kill_switch("stop", "signal")
    assert h.safety.kill.state is TradingState.REDUCING
    assert h.pf("s1").qty("Y1") == 100_000_000
    h.set_book("Y1", [(0.40, 60)], [(0.51, 1000)], T0 + 2)
    h.at(T0 + 5)  # retry after flatten_retry_s: 60 of 100 shares sold
    assert h.pf("s1").qty("Y1") == 40_000_000
    h.set_book("Y1", [(0.40, 1000)], [(0.51, 1000)], T0 + 6)
    h.at(T0 + 10)
    assert h.pf("s1").qty("Y1") == 0
    h.at(T0 + 15)
    assert h.safety.kill.state is TradingState.HALTED


def test_deactivation_keeps_strategies_disabled_unless_enable_all(harness: Harness) -> None:
    h = harness
    h.safety.activate_kill_switch("stop", "cli")
    with pytest.raises(KillSwitchError):
        h.safety.deactivate_kill_switch("ok", "yes")
    msg = h.safety.deactivate_kill_switch("checked the feed", "CONFIRM")
    assert "stay disabled" in msg
    assert h.safety.kill.state is TradingState.ACTIVE
    assert {r.status for r in h.engine.runners.values()} == {"disabled"}
    assert h.buy("s1", "Y1", 10, 0.45) is None  # still disabled
    h.safety.set_strategy("enable", "s1", "one by one", "cli")
    assert h.buy("s1", "Y1", 10, 0.45) is not None
    h.safety.activate_kill_switch("again", "cli")
    h.safety.deactivate_kill_switch("all back", "CONFIRM", enable_all=True)
    assert {r.status for r in h.engine.runners.values()} == {"active"}


def test_a_restarted_bot_stays_halted() -> None:
    h = make_harness()
    _rest_orders(h)
    h.safety.activate_kill_switch("stop", "cli")
    saved = dict(h.writer.state)
    again = make_harness(state=saved)
    assert again.safety.kill.state is TradingState.HALTED
    assert again.safety.kill.reason == "stop"
    assert {r.status for r in again.engine.runners.values()} == {"disabled"}
    assert again.buy("s1", "Y1", 10, 0.45) is None
    ev = again.writer.events("kill_switch")[-1]
    assert ev["message"].startswith("Bot started with the kill switch active (HALTED)")


def test_config_kill_switch_true_activates_at_start() -> None:
    h = make_harness(make_config({"kill_switch": True}))
    assert h.safety.kill.state is TradingState.HALTED
    assert h.safety.kill.source == "config"
    assert h.buy("s1", "Y1", 10, 0.45) is None
