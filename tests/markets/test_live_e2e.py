"""End to end: `python bot.py` with strategies routed live against the fake CLOB V2 venue.

One run trades: a FAK taker fill (MATCHED, then CONFIRMED, labelled VERIFIED), a resting order
filled as a maker while the bot runs, an order cancelled by the order timeout, the paper twins
beside them. The bot is then killed (SIGKILL) while an order rests; the venue fills more of it
while the bot is down. The restart reconciles from the venue (the missed fill is applied once,
the earlier ones are not applied twice), SIGUSR1 trips the kill switch (one cancel-all at the
venue), SIGINT stops it cleanly. The fidelity report is written as CSV. Finally no secret may
appear in the database, the log file or the terminal output.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.keys.store import KeyStore
from tests.conftest import ROOT
from tests.markets.fake_clob import TEST_PRIVATE_KEY, FakeClob

pytestmark = pytest.mark.e2e

PASS = "e2e key-store passphrase"


def q(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db, timeout=5)
    try:
        return list(con.execute(sql, args).fetchall())
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


async def wait_for(cond: Callable[[], bool], what: str, proc: Any, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if proc.returncode is not None:
            err = (await proc.stderr.read()).decode()[-3000:]
            raise AssertionError(f"bot exited ({proc.returncode}) before {what}: {err}")
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def start_bot(cfg: Path, db: Path, cwd: Path) -> Any:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bot.py"),
        "--config",
        str(cfg),
        "--db",
        str(db),
        "--quiet",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env={**os.environ, "MSB_KEYS_PASSPHRASE": PASS},
    )


async def test_bot_trades_live_against_the_fake_clob(tmp_path: Path) -> None:
    fake = FakeClob(walk_interval_s=0.2)  # a live market: the feed keeps the engine stepping
    fake.heartbeat_timeout_s = 120.0  # the order must survive the crash below
    url = await fake.start()
    token = fake._tokens(fake.markets[0])[0]
    other = fake._tokens(fake.markets[5])[0]
    try:
        KeyStore(tmp_path / "keys.enc").save(
            PASS,
            {
                "private_key": TEST_PRIVATE_KEY,
                "api_key": fake.creds["apiKey"],
                "api_secret": fake.creds["secret"],
                "api_passphrase": fake.creds["passphrase"],
            },
        )
        cfg = tmp_path / "config.yaml"
        log_file = tmp_path / "bot.log"
        cfg.write_text(
            yaml.safe_dump(
                {
                    "bot": {"log_file": str(log_file), "log_level": "DEBUG"},
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
                            "name": "prober",
                            "class": str(ROOT / "tests/markets/live_prober.py:LiveProber"),
                            "params": {"token": token, "mode": "probe"},
                            "capital_usd": 200,
                        },
                        {
                            "name": "waiter",
                            "class": str(ROOT / "tests/markets/live_prober.py:LiveProber"),
                            "params": {"token": other, "mode": "wait"},
                            "capital_usd": 200,
                        },
                    ],
                    "live": {
                        "enabled": True,
                        "dry_run": False,
                        "strategies": ["prober", "waiter"],
                        "clob_url": url,
                        "user_ws_url": fake.user_ws_url,
                        "keys_path": str(tmp_path / "keys.enc"),
                        "order_timeout_s": 600,
                        "order_timeout_per_strategy_s": {"waiter": 2},
                        "reconcile_interval_s": 600,
                    },
                }
            )
        )
        db = tmp_path / "bot.db"
        outputs: list[str] = []

        # ---- run 1: trade, then crash with an order resting at the venue
        proc = await start_bot(cfg, db, tmp_path)
        probe_rest = (
            "select id, venue_order_id, filled, status from orders where "
            "strategy='prober' and reason='probe rest' order by id"
        )
        await wait_for(
            lambda: any(r[3] == "open" and r[1] for r in q(db, probe_rest)),
            "the resting live order",
            proc,
        )
        await wait_for(
            lambda: (
                q(db, "select status, reject_reason from orders where strategy='waiter'")
                == [("cancelled", "order timeout: unfilled after 2 s")]
            ),
            "the order timeout",
            proc,
        )
        await wait_for(
            lambda: (
                q(db, "select status from orders where strategy='prober' and reason='probe taker'")
                == [("filled",)]
            ),
            "the taker fill",
            proc,
        )
        oid, vid, _, _ = q(db, probe_rest)[0]
        await fake.fill_resting(vid, 2_000_000)
        await wait_for(lambda: q(db, probe_rest)[0][2] == 2_000_000, "the maker fill", proc)
        await wait_for(
            lambda: (
                q(
                    db,
                    "select count(*) from events where kind="
                    "'trade_verification' and value='VERIFIED'",
                )[0][0]
                >= 1
            ),
            "the taker fill CONFIRMED and VERIFIED",
            proc,
        )
        (data,) = q(
            db, "select data_json from events where kind='trade_verification' and value='VERIFIED'"
        )[0]
        verified = json.loads(data)["order_id"]  # the order log shows the label beside it
        assert (
            q(db, f"select route from orders where id={int(verified)}")[0][0] == "polymarket_live"
        )
        proc.kill()  # a crash: nothing is cancelled by the bot
        out, err = await proc.communicate()
        outputs += [out.decode(), err.decode()]
        assert fake.orders[vid].status == "LIVE"
        await fake.fill_resting(vid, 1_000_000)  # while the bot is down: a missed message

        # ---- run 2: reconcile from the venue, then the kill switch, then a clean stop
        proc = await start_bot(cfg, db, tmp_path)
        await wait_for(
            lambda: q(db, "select filled from orders where id=?", oid) == [(3_000_000,)],
            "the missed fill applied at start",
            proc,
        )
        await wait_for(
            lambda: len(q(db, probe_rest)) >= 2 and q(db, probe_rest)[-1][1],
            "the restarted strategy's new order",
            proc,
        )
        proc.send_signal(signal.SIGUSR1)
        await wait_for(
            lambda: bool(q(db, "select data_json from events where kind='live_kill'")),
            "the live cancel-all",
            proc,
        )
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        outputs += [out.decode(), err.decode()]
        assert proc.returncode == 0, outputs[-1][-3000:]

        assert fake.open_orders_list() == []
        assert [p for p, _ in fake.request_log].count("/cancel-all") == 1
        kill = json.loads(q(db, "select data_json from events where kind='live_kill'")[0][0])
        assert kill["cancelled"] >= 2  # the restored order and the new one
        print(f"live cancel-all after the kill switch: {kill['latency_ms']:.1f} ms")
        assert q(db, "select status from orders where id=?", oid) == [("cancelled",)]
        fills = q(db, "select size, venue_fill_id from fills where order_id=? order by id", oid)
        assert [f[0] for f in fills] == [2_000_000, 1_000_000]  # each trade applied once
        assert len({f[1] for f in fills}) == 2
        pos = q(db, "select qty from positions where strategy='prober'")
        assert pos == [(5_000_000 * 2 + 3_000_000,)]  # two taker fills (two runs) + 3 as maker
        twins = q(db, "select count(*) from orders where strategy='prober__twin' and route='paper'")
        assert twins[0][0] >= 2

        # ---- the fidelity report
        csv_path = tmp_path / "fidelity.csv"
        rep = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "bot.py"),
            "live",
            "--config",
            str(cfg),
            "--db",
            str(db),
            "report",
            "--csv",
            str(csv_path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=tmp_path,
        )
        r_out, r_err = await rep.communicate()
        assert rep.returncode == 0, r_err.decode()
        lines = csv_path.read_text().splitlines()
        assert lines[0].startswith("strategy,live_orders,twin_orders,paired,live_fill_rate")
        rows = {ln.split(",")[0]: ln.split(",") for ln in lines[1:]}
        assert set(rows) == {"prober", "waiter"}
        assert int(rows["prober"][3]) >= 2  # live orders paired with the twin's

        # ---- no secret anywhere
        secrets = [
            TEST_PRIVATE_KEY,
            TEST_PRIVATE_KEY[2:],
            fake.creds["secret"],
            fake.creds["passphrase"],
            fake.creds["apiKey"],
            PASS,
        ]
        blobs = [db.read_bytes(), log_file.read_bytes(), *(o.encode() for o in outputs)]
        for extra in tmp_path.glob("bot.db*"):
            blobs.append(extra.read_bytes())
        for s in secrets:
            for b in blobs:
                assert s.encode() not in b
    finally:
        await fake.stop()
