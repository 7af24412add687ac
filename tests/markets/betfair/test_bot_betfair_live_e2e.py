"""End to end: `python bot.py` with one Betfair strategy routed live against the fake Betfair.

The bot logs in with a certificate (the fake identity endpoint), streams the shared recording
from the fake TLS Stream API (market data), and routes ``bettor`` to ``betfair_live``: both of
its backs reach the fake Betting API, the test matches 4 of the first at the exchange, the fill
arrives (the ORDER stream, ``ocm``, is subscribed; test_order_stream.py shows fills from it
alone), the strategy cancels the rest, SIGUSR1 trips the
kill switch which cancels the other bet with one cancel-all, SIGINT stops the bot cleanly.
The password and app key come from environment variables, never the file.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.markets.betfair.files import iter_lines
from tests.conftest import ROOT
from tests.markets.betfair.fake_betfair import FakeBetfair, serve
from tests.markets.test_live_e2e import wait_for

pytestmark = pytest.mark.e2e
pytest.importorskip("betfairlightweight")
pytest.importorskip("cryptography")
from tests.markets.betfair.fake_stream import FakeStream, self_signed  # noqa: E402

RUNNER = "1.197931750:37947503"


def q(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db, timeout=5)
    try:
        return list(con.execute(sql).fetchall())
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


async def test_bot_places_matches_cancels_and_kills_on_betfair_live(
    recording: Path, tmp_path: Path
) -> None:
    venue = FakeBetfair()
    server, url = serve(venue)
    now_ms = int(time.time() * 1000)
    lines = []
    for raw in list(iter_lines(recording))[:100]:  # OPEN, before the suspension
        m = json.loads(raw)
        m["pt"] = now_ms  # fresh books: the data gate checks their age
        lines.append(json.dumps(m))
    stream = FakeStream(lines, tmp_path, app_key="the-app-key", session=venue.session_token)
    stream.orders = venue
    certs = tmp_path / "certs"
    certs.mkdir()
    for p in self_signed(tmp_path):
        p.rename(certs / p.name)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "market_data": {
                    "source": "betfair",
                    "validation": {"freshness_threshold_s": 3600, "min_depth_usd": 1},
                    "betfair": {
                        "stream": {
                            "username": "user",
                            "password": "${BF_TEST_PASSWORD}",
                            "app_key": "${BF_TEST_APP_KEY}",
                            "certs_dir": str(certs),
                            "host": f"127.0.0.1:{stream.port}",
                            "identity_url": url,
                            "event_type_ids": ["4339"],
                        },
                        "live": {
                            "enabled": True,
                            "strategies": ["bettor"],
                            "api_url": url,
                            "poll_interval_s": 30,
                        },
                    },
                },
                "breakers": {"enabled": False},
                "health": {"enabled": False},
                "dashboard": {"enabled": False},
                "strategies": [
                    {
                        "name": "bettor",
                        "class": str(ROOT / "tests/markets/betfair/live_bettor.py:LiveBettor"),
                        "params": {"runner": RUNNER},
                        "currency": "GBP",
                        "capital_usd": 200,
                    }
                ],
            }
        )
    )
    db = tmp_path / "bot.db"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bot.py"), "--config", str(cfg), "--db", str(db), "--quiet",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=tmp_path,
        env={**os.environ, "BF_TEST_PASSWORD": "pw-secret-1", "BF_TEST_APP_KEY": "the-app-key", "PYTHONFAULTHANDLER": "1"},
    )  # fmt: skip
    try:
        await wait_for(lambda: len(venue.bets) == 2, "both bets at the exchange", proc)
        first, second = sorted(venue.bets.values(), key=lambda b: b.price)
        assert (first.side, first.price, first.size, first.persistence) == (
            "BACK", 30.0, 10.0, "PERSIST",
        )  # fmt: skip
        await wait_for(lambda: len(stream.order_subscriptions) >= 1, "the order stream", proc)
        venue.match(first.bet_id, 4.0)  # pushed on the order stream
        await wait_for(lambda: first.cancelled == 6.0, "the strategy's cancel", proc)
        fills = lambda: q(db, "select f.size, f.price, o.route from fills f join orders o on "  # noqa: E731
                          "o.id = f.order_id")  # fmt: skip
        await wait_for(lambda: len(fills()) == 1, "the fill stored", proc)
        assert fills() == [(4_000_000, 30_000_000, "betfair_live")]
        assert second.remaining == 5.0
        proc.send_signal(signal.SIGUSR1)  # kill switch: one cancel-all
        await wait_for(lambda: second.cancelled == 5.0, "the kill switch's cancel-all", proc)
        statuses = lambda: q(db, "select reason, status from orders order by id")  # noqa: E731
        await wait_for(
            lambda: [s for _, s in statuses()] == ["cancelled", "cancelled"], "orders stored", proc
        )
        proc.send_signal(signal.SIGINT)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 20)
        except TimeoutError:
            proc.send_signal(signal.SIGABRT)
            out, err = await proc.communicate()
            print(err.decode()[-6000:])
            raise
        assert proc.returncode == 0, err.decode()[-3000:]
        kinds = [k for (k,) in q(db, "select kind from events")]
        assert "live_kill" in kinds
        text = out.decode() + err.decode() + db.read_bytes().decode("latin-1")
        assert "pw-secret-1" not in text and "the-app-key" not in text
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        stream.close()
        server.shutdown()
