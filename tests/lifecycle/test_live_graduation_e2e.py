"""Graduation into the real live client, end to end: `python bot.py` with live trading enabled
against the fake CLOB V2 venue (tests/markets/fake_clob.py).

A strategy trades on paper; `bot.py control graduate grad --confirm GRADUATE` moves it into the
micro stage; its orders then reach the fake CLOB, within the micro stage's capital (the ladder's
third order is refused by the stage-capital gate). The venue then loses one of its orders
silently; the bot's venue reconciliation finds it, graduation demotes the strategy to paper, its
other live order is cancelled at the venue and its next orders are paper orders. A paper twin runs
beside it while it is live and stops when it is demoted.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from database.engine import make_engine, make_session_factory
from services.keys.store import KeyStore
from services.markets.polymarket.live.fidelity import fidelity_report
from services.money import MICRO
from tests.conftest import ROOT
from tests.markets.fake_clob import TEST_PRIVATE_KEY, FakeClob
from tests.markets.test_live_e2e import PASS, q, start_bot, wait_for

pytestmark = pytest.mark.e2e

OPEN = {"min_return_pct": None, "min_sharpe": None, "min_win_rate_pct": None,
        "max_drawdown_pct": None, "min_closed_bets": 0}  # fmt: skip


def config(tmp: Path, fake: FakeClob, url: str, token: str, anchor_token: str) -> dict[str, Any]:
    return {
        "bot": {"log_file": str(tmp / "bot.log")},
        "control": {"poll_interval_s": 0.1, "heartbeat_interval_s": 0.5},
        "market_data": {
            "source": "polymarket",
            "polymarket": {"gamma_url": url, "clob_url": url, "ws_url": fake.ws_url},
            "validation": {"freshness_threshold_s": 600, "min_depth_usd": 1},
        },
        "breakers": {"enabled": False},
        "health": {"enabled": False},
        "dashboard": {"enabled": False},
        "strategies": [
            {
                "name": "grad",
                "class": str(ROOT / "tests/lifecycle/grad_prober.py:GradProber"),
                "params": {"token": token},
                "capital_usd": 200,
            },
            {  # an idle strategy pinned live (live.strategies): its capital counts on the venue
                "name": "anchor",
                "class": str(ROOT / "tests/lifecycle/grad_prober.py:GradProber"),
                "params": {"token": anchor_token, "prices": []},
                "capital_usd": 1,
            },
        ],
        "graduation": {
            "initial_stage": "paper",
            "check_interval_s": 1,
            "sample_interval_s": 1,
            "reconcile_interval_s": 1,
            "stages": {
                "paper": {
                    "capital_usd": 10000,
                    "min_days": 0,
                    "route": "paper",
                    "promote_if": OPEN,
                },
                "micro": {
                    "capital_usd": 6,
                    "min_days": 0,
                    "route": "polymarket_live",
                    "promote_if": OPEN,
                },
            },
        },  # fmt: skip
        "live": {
            "enabled": True,
            "dry_run": False,
            "strategies": ["anchor"],
            "clob_url": url,
            "user_ws_url": fake.user_ws_url,
            "keys_path": str(tmp / "keys.enc"),
            "order_timeout_s": 600,
            "reconcile_interval_s": 1,
        },
    }


def live_balance(db: Path) -> int | None:
    rows = q(db, "select value_json from bot_state where key='live'")
    return json.loads(rows[0][0]).get("balance") if rows else None


def grad_actions(db: Path) -> list[str]:
    rows = q(db, "select data_json from events where kind='graduation'")
    return [json.loads(d or "{}").get("action", "") for (d,) in rows]


async def control(db: Path, *args: str) -> tuple[int, str]:
    p = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bot.py"), "control", "--db", str(db), "--wait", "20", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=str(ROOT),
    )  # fmt: skip
    out, err = await p.communicate()
    assert p.returncode is not None
    return p.returncode, out.decode() + err.decode()


async def test_graduate_into_the_live_client_and_demote_on_a_reconciliation_failure(
    tmp_path: Path,
) -> None:
    fake = FakeClob(walk_interval_s=0.2)  # a live market: the feed keeps the engine stepping
    fake.collateral = 5 * MICRO  # less than the micro stage's capital at first
    url = await fake.start()
    token = fake._tokens(fake.markets[0])[0]  # best bid 0.40: the ladder 0.25/0.24/0.23 rests
    anchor_token = fake._tokens(fake.markets[4])[0]
    KeyStore(tmp_path / "keys.enc").save(
        PASS,
        {
            "private_key": TEST_PRIVATE_KEY,
            "api_key": fake.creds["apiKey"],
            "api_secret": fake.creds["secret"],
            "api_passphrase": fake.creds["passphrase"],
        },
    )
    cfg, db = tmp_path / "config.yaml", tmp_path / "bot.db"
    cfg.write_text(yaml.safe_dump(config(tmp_path, fake, url, token, anchor_token)))
    proc = await start_bot(cfg, db, tmp_path)
    try:
        ladder = "select id, route, status, price from orders where strategy='grad' order by id"
        await wait_for(lambda: len(q(db, ladder)) >= 3, "the paper ladder", proc)
        assert {r[1] for r in q(db, ladder)} == {"paper"}
        assert not [o for o in fake.orders.values() if o.token == token]
        twin = "select status, status_reason from strategies where name='grad__twin'"
        assert q(db, twin) == [
            ("disabled", "paper twin of grad: standby until grad is in a live stage")
        ]
        assert q(db, "select count(*) from strategies where name='anchor__twin'") == [(1,)]

        # ---- approval into micro live: the venue's USDC balance must cover the live capital
        # (the micro stage's 6 + the pinned strategy's 1)
        rc, out = await control(db, "graduate", "grad", "--confirm", "GRADUATE")
        assert rc == 1, out
        assert (
            "live capital would be 7.00 USD (grad micro 6.00 + anchor (live.strategies) 1.00), "
            "more than the venue's available USDC balance 5.00"
        ) in out, out
        fake.collateral = 1_000 * MICRO
        await wait_for(lambda: live_balance(db) == 1_000 * MICRO, "the new balance read", proc)
        rc, out = await control(db, "graduate", "grad", "--confirm", "GRADUATE")
        assert rc == 0, out
        assert "paper -> micro" in out
        await wait_for(
            lambda: len([o for o in fake.orders.values() if o.token == token]) >= 2,
            "the ladder at the fake CLOB",
            proc,
        )
        await asyncio.sleep(1.0)  # nothing more may arrive: the third order is over the capital
        venue = sorted(
            (o for o in fake.orders.values() if o.token == token), key=lambda o: -o.price
        )
        assert [(o.price, o.size, o.status) for o in venue] == [
            (250_000, 10_000_000, "LIVE"),
            (240_000, 10_000_000, "LIVE"),
        ]
        live_rows = [r for r in q(db, ladder) if r[1] == "polymarket_live"]
        assert [r[3] for r in live_rows] == [250_000, 240_000]
        refused = q(
            db,
            "select message, data_json from events where kind='risk_rejection' "
            "and strategy='grad' order by id desc limit 1",
        )
        assert refused and json.loads(refused[0][1])["control"] == "stage_capital", refused
        assert "exposure 7.20 would exceed the stage micro capital 6.00" in refused[0][0], refused
        assert q(db, "select stage from strategies where name='grad'") == [("micro",)]
        (tr,) = q(
            db,
            "select actor, capital, route from stage_transitions where strategy='grad' "
            "and to_stage='micro'",
        )
        assert tr == ("cli", 6_000_000, "polymarket_live")
        # the paper twin runs beside it, on the same books, with the strategy's own capital
        twin_orders = "select price from orders where strategy='grad__twin' and route='paper'"
        await wait_for(lambda: len(q(db, twin_orders)) == 3, "the twin's ladder", proc)
        assert q(db, twin)[0][0] == "active"

        # ---- the balance drops under the live capital later: an event (and back)
        fake.collateral = 4 * MICRO
        await wait_for(lambda: "balance_exceeded" in grad_actions(db), "balance event", proc)
        fake.collateral = 1_000 * MICRO
        await wait_for(lambda: "balance_covered" in grad_actions(db), "covered event", proc)
        (msg,) = q(db, "select message from events where data_json like '%balance_exceeded%'")[0]
        assert msg.startswith(
            "live capital 7.00 USD (grad micro 6.00 + anchor (live.strategies) 1.00) exceeds "
            "the USDC balance 4.00 at polymarket_live"
        ), msg

        # ---- the venue loses an order: reconciliation fails, graduation demotes
        lost = venue[0]
        lost.status = "CANCELED"  # no user-channel message: only reconciliation can see it
        await wait_for(
            lambda: q(db, "select stage from strategies where name='grad'") == [("paper",)],
            "the demotion",
            proc,
        )
        await wait_for(lambda: venue[1].status == "CANCELED", "the live order cancelled", proc)
        assert venue[1].id in [oid for oid, _ in fake.cancel_requests]
        (dem,) = q(
            db,
            "select actor, reason from stage_transitions where strategy='grad' and kind='demotion'",
        )
        assert dem[0] == "reconciliation" and "not open at the venue" in dem[1], dem
        n_live = len(live_rows)
        await wait_for(
            lambda: len([r for r in q(db, ladder) if r[1] == "paper" and r[2] == "open"]) >= 3,
            "the ladder back on paper",
            proc,
        )
        assert len([r for r in q(db, ladder) if r[1] == "polymarket_live"]) == n_live
        assert not [o for o in fake.open_orders_list() if o.token == token]
        events = [
            json.loads(d or "{}")
            for (d,) in q(db, "select data_json from events where kind='graduation'")
        ]
        assert any(e.get("action") == "route" and e.get("to") == "paper" for e in events)
        await wait_for(lambda: q(db, twin)[0][0] == "disabled", "the twin stopped", proc)
        assert not q(db, "select id from orders where strategy='grad__twin' and status='open'")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            out_b, err_b = await asyncio.wait_for(proc.communicate(), 60)
        await fake.stop()
    assert proc.returncode == 0, err_b.decode()[-3000:]
    # the paper-vs-live fidelity report includes the graduated strategy and its twin
    with make_session_factory(make_engine(f"sqlite:///{db}"))() as session:
        rows = {r["strategy"]: r for r in fidelity_report(session)}
    assert set(rows) == {"grad"}
    assert rows["grad"]["live_orders"] == 2 and rows["grad"]["twin_orders"] >= 3
