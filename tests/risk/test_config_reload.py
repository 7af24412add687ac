"""Hot config reload: a valid edit applies the new limits at once and lists them; a broken edit is
refused with the exact error and the old values stay; other sections need a restart."""

from __future__ import annotations

import json
import os
from pathlib import Path

from services.config_watch import ConfigWatcher, diff, flatten
from tests.risk.conftest import Harness, make_config, make_harness
from utils.config import load_config


def write(p: Path, text: str) -> None:
    tmp = p.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, p)
    st = p.stat()  # make sure the modification time moves even on coarse file systems
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def setup(
    tmp_path: Path, text: str, name: str = "config.yaml"
) -> tuple[Harness, ConfigWatcher, Path]:
    p = tmp_path / name
    write(p, text)
    h = make_harness(load_config(p))
    w = ConfigWatcher(p, h.safety)
    w.baseline()
    return h, w, p


def test_flatten_and_diff() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}}) == {
        "a.b": 1,
        "a.c.d": [1, 2],
        "e": {},
    }
    a = make_config({"risk": {"limits": {"max_order_usd": 5}}})
    b = make_config({"risk": {"limits": {"max_order_usd": 6}}, "market_data": {"seed": 3}})
    assert diff(a, b) == [("market_data.seed", 7, 3), ("risk.limits.max_order_usd", "5", "6")]


async def test_valid_edit_applies_at_once_and_lists_the_changes(tmp_path: Path) -> None:
    h, w, p = setup(tmp_path, "risk: {limits: {max_order_usd: 1000}}\n")
    assert await w.check() is None  # unchanged
    assert h.buy("s1", "Y1", 10, 0.45) is not None
    write(p, "risk: {limits: {max_order_usd: 2}}\nmarket_data: {seed: 3}\n")
    res = await w.check()
    assert res is not None and res.ok
    assert res.applied == ["risk.limits.max_order_usd: 1000 -> 2"]
    assert res.restart_needed == ["market_data.seed"]
    ev = h.writer.events("config_reload")[-1]
    assert ev["severity"] == "warning"
    assert ev["message"] == (
        "config.yaml reloaded. applied risk.limits.max_order_usd: 1000 -> 2. "
        "needs a restart to apply: market_data.seed."
    )
    assert h.safety.cfg.market_data.seed == 7  # the running value is not changed live
    assert h.buy("s1", "Y1", 10, 0.44) is None
    rej = h.writer.events("risk_rejection")[-1]
    assert rej["message"] == "order notional 4.40 exceeds max_order_usd 2.00"


async def test_broken_edit_is_refused_and_the_old_limit_stays(tmp_path: Path) -> None:
    h, w, p = setup(tmp_path, "risk: {limits: {max_order_usd: 2}}\n")
    write(p, "risk: {limits: {max_order_usd: -5}}\n")
    res = await w.check()
    assert res is not None and not res.ok
    ev = h.writer.events("config_reload")[-1]
    assert ev["severity"] == "warning"
    assert "risk.limits.max_order_usd: Input should be greater than 0" in ev["message"]
    assert str(p) in json.loads(ev["data_json"])["error"]
    assert h.safety.limits.for_strategy("s1").max_order == 2_000_000
    write(p, "risk: {limits: [oops\n")
    res = await w.check()
    assert res is not None and not res.ok and "invalid YAML at line" in (res.error or "")
    assert h.buy("s1", "Y1", 10, 0.45) is None  # still refused by the old limit 2.00
    assert h.writer.events("risk_rejection")[-1]["limit_value"] == "2.00"
    # A later valid edit is measured against the last good file.
    write(p, "risk: {limits: {max_order_usd: 3}}\n")
    res = await w.check()
    assert res is not None and res.applied == ["risk.limits.max_order_usd: 2 -> 3"]


async def test_reload_can_turn_the_kill_switch_on(tmp_path: Path) -> None:
    h, w, p = setup(tmp_path, "kill_switch: false\n")
    write(p, "kill_switch: true\n")
    res = await w.check()
    assert res is not None and res.applied == ["kill_switch: False -> True"]
    assert h.safety.kill.active and h.safety.kill.source == "config"


async def test_a_restart_only_key_set_back_to_its_running_value_needs_no_restart(
    tmp_path: Path,
) -> None:
    # Defect: changing a restart-only key back to its running value still warned.
    h, w, p = setup(tmp_path, "market_data: {seed: 7}\n")
    write(p, "market_data: {seed: 3}\n")
    res = await w.check()
    assert res is not None and res.restart_needed == ["market_data.seed"]
    write(p, "market_data: {seed: 7}\n")
    res = await w.check()
    assert res is not None and res.ok and res.restart_needed == []
    ev = h.writer.events("config_reload")[-1]
    assert ev["severity"] == "info"
    assert "back to the running value: market_data.seed" in ev["message"]


async def test_a_refused_edit_names_the_file_that_was_edited(tmp_path: Path) -> None:
    # Defect: "config.yaml reload failed" was printed whatever file the bot was started with.
    h, w, p = setup(tmp_path, "risk: {limits: {max_order_usd: 1000}}\n", "prod.yaml")
    write(p, "risk: {limits: {max_order_usd: 1000}}\nbacktest_typo: 1\n")
    res = await w.check()
    assert res is not None and not res.ok
    ev = h.writer.events("config_reload")[-1]
    assert ev["message"].startswith("prod.yaml reload failed; keeping the previous values")
    assert "backtest_typo: unknown key" in ev["message"]
