"""Typed, frozen configuration for running the bot unattended: notifications, the Prometheus
endpoint and data retention (``notifications``, ``metrics`` and ``retention`` sections).

Notification URLs are secrets (a Telegram bot token, a webhook key, an SMTP password): write them
as ``${ENV_VAR}`` in config.yaml; they are redacted in reprs and logs.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

DEFAULT_KINDS = (
    "kill_switch",
    "breaker_trip",
    "auto_disable",
    "auto_pause",
    "data_health",
    "order_rejected",
    "live_reconciliation",
    "live_heartbeat",
    "trade_verification",
    "graduation",
    "alert",
    "control",
    "config_reload",
    "strategy_error",
    "store_degraded",
    "store_recovered",
)
"""Event kinds sent by default (``notifications.kinds``); see docs/DEPLOY.md."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _hhmm(v: str | None) -> str | None:
    if v is not None and not _HHMM.match(v):
        raise ValueError("expected HH:MM (24 h, UTC), e.g. 07:30")
    return v


class QuietHours(_Frozen):
    """A daily window (UTC) in which only critical notifications are sent."""

    start: str = Field("22:00", description="Start of the quiet window, HH:MM UTC")
    end: str = Field("07:00", description="End of the quiet window, HH:MM UTC (may wrap midnight)")

    _check = field_validator("start", "end")(classmethod(lambda cls, v: _hhmm(v)))


class NotificationsConfig(_Frozen):
    """Outbound notifications through apprise (https://github.com/caronc/apprise)."""

    enabled: bool = Field(False, description="Send notifications")
    urls: list[SecretStr] = Field(
        default_factory=list,
        max_length=50,
        description="apprise URLs (tgram://, discord://, slack://, mailto://, ntfy://, json://...); "
        "write secrets as ${ENV_VAR}",
    )
    kinds: list[str] = Field(
        default_factory=lambda: list(DEFAULT_KINDS),
        max_length=100,
        description="Event kinds to send (any severity at or above min_severity)",
    )
    min_severity: Literal["info", "warning", "critical"] = Field(
        "warning", description="Lowest event severity sent"
    )
    dedup_window_s: float = Field(
        300.0, ge=0, le=86_400, description="Identical events within this window fold into one, s"
    )
    rate_limit_per_kind: int = Field(
        10, ge=1, le=10_000, description="Most notifications of one kind per rate window, count"
    )
    rate_window_s: float = Field(3600.0, gt=0, le=86_400, description="Rate-limit window, s")
    quiet_hours: QuietHours | None = Field(
        None, description="Only critical notifications inside this window (null: none)"
    )
    daily_summary_utc: str | None = Field(
        None, description="Send a per-strategy summary daily at this time, HH:MM UTC (null: off)"
    )
    retries: int = Field(
        3, ge=0, le=20, description="Extra delivery attempts after a failure, count"
    )
    retry_backoff_s: float = Field(
        2.0, ge=0, le=600, description="Wait before the first retry (doubles each retry), s"
    )
    queue_max: int = Field(
        1000, ge=10, le=1_000_000, description="Notifications waiting to be sent, beyond: dropped"
    )
    title_prefix: str = Field("[trading bot]", max_length=64, description="Title prefix")

    _check = field_validator("daily_summary_utc")(classmethod(lambda cls, v: _hhmm(v)))

    @model_validator(mode="after")
    def _urls_when_enabled(self) -> NotificationsConfig:
        if self.enabled and not self.urls:
            raise ValueError("enabled is true but urls is empty")
        return self

    def url_values(self) -> list[str]:
        """Return the URLs in clear (for apprise only; never log them)."""
        return [u.get_secret_value() for u in self.urls]


class MetricsConfig(_Frozen):
    """The Prometheus endpoint served by the bot."""

    enabled: bool = Field(False, description="Serve /metrics")
    host: str = Field("127.0.0.1", description="Listen address (keep it local; scrape via a proxy)")
    port: int = Field(9108, ge=1, le=65535, description="Listen port")
    update_interval_s: float = Field(
        1.0, ge=0.1, le=60, description="How often per-strategy gauges refresh, wall s"
    )


class RetentionConfig(_Frozen):
    """Deletion of old audit rows, by event time (never what the ledger needs: fills,
    settlements, positions, strategies, orders that filled or are open; performance snapshots
    have their own retention under ``competition``)."""

    events_days: float | None = Field(
        None, gt=0, le=36_500, description="Delete info/warning events older than this, days"
    )
    keep_critical_events: bool = Field(True, description="Never delete critical events")
    rejected_orders_days: float | None = Field(
        None,
        gt=0,
        le=36_500,
        description="Delete rejected orders (no fills) older than this, days",
    )
    commands_days: float | None = Field(
        None, gt=0, le=36_500, description="Delete applied/failed control commands older, days"
    )
    run_every_s: float = Field(3600.0, ge=10, le=86_400, description="How often the bot prunes, s")
