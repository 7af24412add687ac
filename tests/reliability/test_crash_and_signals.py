"""kill -9 at random moments and repeated stop signals during shutdown (issue 12)."""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import query as q
from tests.reliability.harness import Bot, assert_nothing_lost, restart_and_check, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

KILLS = 3
"""kill -9 rounds on one database (bounded: the suite must stay short)."""


def test_kill_9_at_random_moments_loses_no_committed_row(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    cfg = write_config(tmp_path)
    rng = random.Random(12)
    committed: set[int] = set()
    for round_no in range(KILLS):
        bot = Bot(db, cfg, seed=7)
        try:
            bot.wait_for_fills(len(committed) + 1, timeout=60)
            time.sleep(rng.uniform(0.0, 1.5))
            bot.signal(signal.SIGKILL)
            bot.wait(30)
        finally:
            if bot.proc.poll() is None:
                bot.proc.kill()
        now = {i for (i,) in q(db, "select id from fills")}
        assert committed <= now, f"round {round_no}: committed fills vanished"
        committed = now
    restart_and_check(db, cfg, None)
    assert committed <= {i for (i,) in q(db, "select id from fills")}


@pytest.mark.parametrize("second", ["TERM", "INT"])
def test_a_second_stop_signal_does_not_skip_the_final_flush(tmp_path: Path, second: str) -> None:
    db = tmp_path / "bot.db"
    cfg = write_config(tmp_path)
    bot = Bot(db, cfg)
    try:
        bot.wait_for_fills(30)
        bot.signal(signal.SIGINT)
        bot.wait_for_log("stopping cleanly", timeout=30)
        sig = signal.SIGTERM if second == "TERM" else signal.SIGINT
        for _ in range(6):  # an impatient operator
            if bot.proc.poll() is not None:
                break
            bot.signal(sig)
            time.sleep(0.02)
        rc = bot.wait(60)
    finally:
        if bot.proc.poll() is None:
            bot.proc.kill()
    assert rc == 0, bot.stderr[-3000:]
    assert "Traceback" not in bot.stderr
    record = json.loads(q(db, "select value_json from bot_state where key='run'")[0][0])
    assert record["clean"] is True
    assert_nothing_lost(db, bot.engine_fill_id())


def test_teardown_never_restores_a_stop_signals_default_action(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After the final flush, stop signals go from the loop's handler straight to SIG_IGN.

    ``loop.remove_signal_handler`` restores SIGINT's ``KeyboardInterrupt`` and SIGTERM's
    termination: a Ctrl-C between it and ``SIG_IGN`` raised a traceback after a clean flush
    (seen as a rare failure of the test above). Every disposition set is recorded here.
    """
    import asyncio

    from services.app import ignore_signals

    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
    before = {s: signal.getsignal(s) for s in sigs}
    set_to: list[tuple[int, object]] = []
    real = signal.signal

    def recording(sig: int, handler: object) -> object:
        set_to.append((sig, handler))
        return real(sig, handler)  # type: ignore[arg-type]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for s in sigs:
            loop.add_signal_handler(s, lambda: None)
        monkeypatch.setattr(signal, "signal", recording)
        ignore_signals(loop, sigs)
        assert all(signal.getsignal(s) is signal.SIG_IGN for s in sigs)

    try:
        asyncio.run(main())
        # Closing the loop did not restore them either.
        assert all(signal.getsignal(s) is signal.SIG_IGN for s in sigs)
    finally:
        monkeypatch.undo()
        for s, h in before.items():
            signal.signal(s, h)
    assert set_to, "nothing was set"
    assert all(h is signal.SIG_IGN for _, h in set_to), set_to
