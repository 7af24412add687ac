"""DataPipelineMonitor: healthy / degraded / critical from feed statistics."""

from __future__ import annotations

from typing import Any

from services.monitors.data_pipeline import (
    CRITICAL,
    DEGRADED,
    HEALTHY,
    DataPipelineMonitor,
    PipelineMonitorConfig,
    worst,
)


def shard(
    state: str = "connected", age: float = 0.2, reconnects: int = 0, tokens: int = 10
) -> dict[str, Any]:
    return {
        "state": state,
        "tokens": tokens,
        "last_message_age_s": age,
        "reconnects": reconnects,
        "errors": 0,
    }


def stats(
    shards: list[dict[str, Any]] | None = None,
    requests: int = 100,
    errors: int = 0,
    latency: float = 150.0,
    frames: int = 10_000,
    malformed: int = 0,
    queue: int = 0,
) -> dict[str, Any]:
    return {
        "shards": shards if shards is not None else [shard(), shard()],
        "rest": {"requests": requests, "errors": errors, "ewma_latency_ms": latency},
        "translator": {"frames": frames, "malformed": malformed},
        "queue_depth": queue,
    }


def test_healthy_row_has_the_figures() -> None:
    row = DataPipelineMonitor().evaluate(stats(), 100.0)
    assert row["status"] == HEALTHY and row["allows_new_positions"] is True
    assert row["reasons"] == [] and row["changed"] is False
    assert (row["shards_total"], row["shards_connected"], row["max_message_age_s"]) == (2, 2, 0.2)
    assert row["rest_latency_ms"] == 150.0 and row["ts"] == 100.0


def test_one_shard_down_degrades_half_down_is_critical() -> None:
    m = DataPipelineMonitor()
    row = m.evaluate(stats([shard(), shard(), shard("backoff")]), 1.0)
    assert row["status"] == DEGRADED and row["reasons"] == ["1 of 3 shards down"]
    assert row["allows_new_positions"] is True
    row = m.evaluate(stats([shard(), shard("connecting")]), 2.0)
    assert row["status"] == CRITICAL and row["allows_new_positions"] is False
    assert row["changed"] is True and row["previous_status"] == DEGRADED
    assert m.evaluate(stats([shard("backoff")]), 3.0)["reasons"] == ["no shard connected"]
    # idle shards (no tokens) do not count
    assert m.evaluate(stats([shard(), shard("idle", tokens=0)]), 4.0)["status"] == HEALTHY


def test_message_age_thresholds() -> None:
    m = DataPipelineMonitor(
        PipelineMonitorConfig(message_age_degraded_s=10, message_age_critical_s=30)
    )
    assert m.evaluate(stats([shard(age=9.9)]), 1.0)["status"] == HEALTHY
    assert m.evaluate(stats([shard(age=10)]), 2.0)["status"] == DEGRADED
    row = m.evaluate(stats([shard(age=31)]), 3.0)
    assert row["status"] == CRITICAL and "no message for 31.0 s" in row["reasons"][0]


def test_rest_latency_slow_above_2000_ms() -> None:
    m = DataPipelineMonitor()
    assert m.evaluate(stats(latency=1999), 1.0)["status"] == HEALTHY
    row = m.evaluate(stats(latency=2500), 2.0)
    assert row["status"] == DEGRADED and row["reasons"] == ["REST latency 2500 ms (slow)"]
    assert m.evaluate(stats(latency=12_000), 3.0)["status"] == CRITICAL


def test_error_rates_use_the_window() -> None:
    m = DataPipelineMonitor(PipelineMonitorConfig(window_s=60))
    m.evaluate(stats(requests=100, errors=0), 0.0)
    # 10 more requests, 2 failed: 20 % in the window (only 1.8 % since start)
    m.evaluate(stats(requests=100, errors=0), 61.0)
    row = m.evaluate(stats(requests=110, errors=2), 70.0)
    assert row["rest_error_rate"] == 0.2 and row["status"] == DEGRADED
    row = m.evaluate(stats(requests=120, errors=12), 80.0)
    assert row["status"] == CRITICAL  # 12 of 20 in the window
    row = m.evaluate(stats(requests=120, errors=12, frames=20_000, malformed=2_000), 200.0)
    assert row["rest_error_rate"] == 0.0  # nothing new in the window
    assert row["parse_error_rate"] == 0.2 and row["status"] == DEGRADED


def test_reconnects_in_window() -> None:
    m = DataPipelineMonitor(
        PipelineMonitorConfig(reconnects_degraded=3, reconnects_critical=6, window_s=100)
    )
    assert m.evaluate(stats([shard(reconnects=2)]), 0.0)["status"] == HEALTHY
    assert m.evaluate(stats([shard(reconnects=3)]), 10.0)["status"] == DEGRADED
    assert m.evaluate(stats([shard(reconnects=7)]), 20.0)["status"] == CRITICAL
    # the burst ages out of the window
    m.evaluate(stats([shard(reconnects=7)]), 150.0)
    row = m.evaluate(stats([shard(reconnects=7)]), 260.0)
    assert row["reconnects_window"] == 0 and row["status"] == HEALTHY


def test_backlog_degrades_and_worst() -> None:
    row = DataPipelineMonitor().evaluate(stats(queue=20_000), 1.0)
    assert row["status"] == DEGRADED and row["queue_depth"] == 20_000
    assert worst(HEALTHY, CRITICAL, DEGRADED) == CRITICAL
    assert worst() == HEALTHY


def test_feed_stats_shape_is_accepted() -> None:
    # the keys PolymarketFeed.pipeline_stats() produces, with extra sections ignored
    feed_like = stats()
    feed_like.update(validation={"checks": 3}, discovery={"refreshes": 1}, feed={}, ts=5.0)
    feed_like["shards"][0].update(shard_id=0, healthy=True, pongs=1, last_error="")
    assert DataPipelineMonitor().evaluate(feed_like, 5.0)["status"] == HEALTHY
