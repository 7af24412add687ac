"""Data pipeline monitor: healthy / degraded / critical from the feed's statistics.

:class:`DataPipelineMonitor` is decision code. Each :meth:`~DataPipelineMonitor.evaluate` call takes
the feed's ``pipeline_stats()`` snapshot and the time, and returns a flat dict ready to be stored
as a history row (the engine owns persistence). On ``critical``, ``allows_new_positions`` is
False: the engine stops opening positions (exits and cancels stay allowed) until it is healthy.

Expected input (missing keys count as zero)::

    {"shards": [{"state": "connected", "tokens": 400, "last_message_age_s": 0.4,
                 "reconnects": 1, "errors": 0, ...}, ...],
     "rest": {"requests": 120, "errors": 2, "ewma_latency_ms": 180.0, ...},
     "translator": {"frames": 10000, "malformed": 3, ...},
     "queue_depth": 0}
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from utils.market_config import PipelineMonitorConfig

HEALTHY = "healthy"
DEGRADED = "degraded"
CRITICAL = "critical"
_RANK = {HEALTHY: 0, DEGRADED: 1, CRITICAL: 2}


def _n(d: Mapping[str, Any] | None, key: str) -> float:
    if not d:
        return 0.0
    v = d.get(key, 0)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0


class DataPipelineMonitor:
    """Turns feed statistics into a status with reasons; keeps a short window of totals."""

    def __init__(self, config: PipelineMonitorConfig | None = None) -> None:
        self.config = config or PipelineMonitorConfig()
        self._samples: deque[tuple[float, dict[str, float]]] = deque()
        self.status = HEALTHY

    def _window_delta(self, now: float, totals: dict[str, float]) -> dict[str, float]:
        if not self._samples:
            self._samples.append((now, {k: 0.0 for k in totals}))
        edge = now - self.config.window_s
        while len(self._samples) > 1 and self._samples[1][0] <= edge:
            self._samples.popleft()
        base = self._samples[0][1]
        self._samples.append((now, totals))
        return {k: max(0.0, v - base.get(k, 0.0)) for k, v in totals.items()}

    def evaluate(self, stats: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Return the pipeline status row for ``stats`` observed at ``now`` (epoch s).

        Returns
        -------
        dict
            ``ts, status, previous_status, changed, allows_new_positions, reasons`` (list of
            strings) and the figures behind them.
        """
        cfg = self.config
        shards = [s for s in stats.get("shards", []) or [] if _n(s, "tokens") > 0]
        rest = stats.get("rest") or {}
        tr = stats.get("translator") or {}
        connected = [s for s in shards if s.get("state") == "connected"]
        ages = [_n(s, "last_message_age_s") for s in connected]
        max_age = max(ages) if ages else 0.0
        totals = {
            "reconnects": sum(_n(s, "reconnects") for s in stats.get("shards", []) or []),
            "rest_requests": _n(rest, "requests"),
            "rest_errors": _n(rest, "errors"),
            "frames": _n(tr, "frames"),
            "malformed": _n(tr, "malformed"),
        }
        d = self._window_delta(now, totals)
        rest_rate = (
            d["rest_errors"] / d["rest_requests"]
            if d["rest_requests"] >= cfg.min_requests_for_rate
            else 0.0
        )
        parse_rate = d["malformed"] / d["frames"] if d["frames"] >= cfg.min_frames_for_rate else 0.0
        latency = _n(rest, "ewma_latency_ms")
        queue = int(_n(stats, "queue_depth"))

        crit: list[str] = []
        deg: list[str] = []
        down = len(shards) - len(connected)
        if shards and not connected:
            crit.append("no shard connected")
        elif shards and down / len(shards) >= cfg.unhealthy_shards_critical_fraction:
            crit.append(f"{down} of {len(shards)} shards down")
        elif down:
            deg.append(f"{down} of {len(shards)} shards down")
        if max_age >= cfg.message_age_critical_s:
            crit.append(f"no message for {max_age:.1f} s on a connected shard")
        elif max_age >= cfg.message_age_degraded_s:
            deg.append(f"no message for {max_age:.1f} s on a connected shard")
        if latency >= cfg.rest_latency_critical_ms:
            crit.append(f"REST latency {latency:.0f} ms")
        elif latency >= cfg.rest_latency_slow_ms:
            deg.append(f"REST latency {latency:.0f} ms (slow)")
        for name, rate in (("REST error rate", rest_rate), ("parse error rate", parse_rate)):
            if rate >= cfg.error_rate_critical and rate > 0:
                crit.append(f"{name} {rate:.1%}")
            elif rate >= cfg.error_rate_degraded and rate > 0:
                deg.append(f"{name} {rate:.1%}")
        rc = int(d["reconnects"])
        if rc >= cfg.reconnects_critical:
            crit.append(f"{rc} reconnects in {cfg.window_s:.0f} s")
        elif rc >= cfg.reconnects_degraded:
            deg.append(f"{rc} reconnects in {cfg.window_s:.0f} s")
        if queue >= cfg.queue_depth_degraded:
            deg.append(f"{queue} frames waiting for translation")

        status = CRITICAL if crit else DEGRADED if deg else HEALTHY
        previous = self.status
        self.status = status
        return {
            "ts": now,
            "status": status,
            "previous_status": previous,
            "changed": status != previous,
            "allows_new_positions": status != CRITICAL,
            "reasons": crit + deg,
            "shards_total": len(shards),
            "shards_connected": len(connected),
            "max_message_age_s": round(max_age, 3),
            "rest_latency_ms": round(latency, 3),
            "rest_error_rate": round(rest_rate, 6),
            "parse_error_rate": round(parse_rate, 6),
            "reconnects_window": rc,
            "messages_total": int(totals["frames"]),
            "queue_depth": queue,
        }


def worst(*statuses: str) -> str:
    """Return the most severe of several statuses."""
    return max(statuses, key=lambda s: _RANK.get(s, 0)) if statuses else HEALTHY
