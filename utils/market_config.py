"""Configuration of the venue-neutral market-data parts: the recorder and the data-pipeline
monitor (config must not import the packages that use it)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RecorderConfig(BaseModel):
    """Recording of market data for later replay."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    record: bool = Field(default=False, description="Write every received message to disk.")
    directory: str = Field(
        default="data/recordings", min_length=1, description="Directory of the recording files."
    )
    rotate_mb: float = Field(
        default=64.0,
        gt=0,
        le=100_000,
        description="Start a new file past this compressed size, MB.",
    )
    flush_interval_s: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="Longest time buffered records wait before a flush, s.",
    )
    compresslevel: int = Field(default=6, ge=1, le=9, description="gzip compression level.")
    codec: Literal["zstd", "gzip"] = Field(
        default="zstd",
        description="File compression: zstd (.jsonl.zst, default) or gzip (.jsonl.gz).",
    )
    zstd_level: int = Field(default=3, ge=1, le=19, description="zstd compression level.")
    compact: bool = Field(
        default=True,
        description=(
            "Format 3: raw frames stored as decoded JSON without the venue's per-level hash, "
            "price_change messages with runs of levels as columns (false: format 1, frames "
            "kept verbatim as strings)."
        ),
    )


# ---------------------------------------------------------------------------- codec


class PipelineMonitorConfig(BaseModel):
    """Thresholds of the data pipeline status."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_age_degraded_s: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="A connected shard silent this long degrades, seconds.",
    )
    message_age_critical_s: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description="A connected shard silent this long is critical, s.",
    )
    unhealthy_shards_critical_fraction: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Fraction of shards down at which the status is critical.",
    )
    rest_latency_slow_ms: float = Field(
        default=2000.0, gt=0, le=600_000, description="Smoothed REST latency that degrades, ms."
    )
    rest_latency_critical_ms: float = Field(
        default=10_000.0,
        gt=0,
        le=600_000,
        description="Smoothed REST latency that is critical, ms.",
    )
    error_rate_degraded: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="REST or parse error fraction in the window that degrades.",
    )
    error_rate_critical: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="REST or parse error fraction in the window that is critical.",
    )
    min_requests_for_rate: int = Field(
        default=5,
        ge=1,
        le=100_000,
        description="REST requests needed in the window to judge a rate.",
    )
    min_frames_for_rate: int = Field(
        default=50,
        ge=1,
        le=10_000_000,
        description="Frames needed in the window to judge a parse rate.",
    )
    reconnects_degraded: int = Field(
        default=3, ge=1, le=100_000, description="Reconnects in the window that degrade."
    )
    reconnects_critical: int = Field(
        default=20, ge=1, le=100_000, description="Reconnects in the window that are critical."
    )
    window_s: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="Window for error rates and reconnects, seconds.",
    )
    queue_depth_degraded: int = Field(
        default=10_000,
        ge=1,
        le=100_000_000,
        description="Untranslated frames waiting that degrade.",
    )
