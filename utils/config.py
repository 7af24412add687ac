"""Configuration: ``config.yaml`` parsed into frozen, typed models.

A bad file stops the bot before anything runs with the file, the key path and what was expected
(:class:`ConfigError`, exit code 2). ``${ENV_VAR}`` references are replaced from the environment,
so secrets never live in the file.
"""

from __future__ import annotations

import copy
import math
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from utils.backtest_config import BacktestConfig
from utils.betfair_config import BetfairConfig
from utils.errors import ConfigError
from utils.graduation_config import GraduationConfig, RebalancingConfig, SelectionConfig
from utils.keys_config import KeysConfig
from utils.live_config import LiveConfig
from utils.market_config import PipelineMonitorConfig, RecorderConfig
from utils.ops_config import MetricsConfig, NotificationsConfig, RetentionConfig
from utils.polymarket_config import PolymarketConfig, ValidationConfig
from utils.safety_config import (
    BreakerConfig,
    ControlConfig,
    ExitConfig,
    HealthConfig,
    KillSwitchConfig,
    RiskConfig,
    check_override_names,
)
from utils.sim_config import SimConfig


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BotSection(_Frozen):
    """Process-level settings."""

    db_url: str | None = Field(
        None,
        description="SQLAlchemy database URL; overrides db_path (e.g. postgresql+psycopg://...)",
    )
    db_path: str = Field("data/bot.db", description="SQLite file used when db_url is not set")
    log_file: str = Field("logs/bot.log", description="Log file path ('' for none)")
    log_max_mb: float = Field(
        50.0,
        ge=0,
        le=100_000,
        description="Rotate the bot's and the dashboard's log files at this size, MB (0: never)",
    )
    log_backups: int = Field(5, ge=0, le=1000, description="Rotated log files kept, count")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    loop_yield_interval_wall_s: float = Field(
        0.005,
        ge=0.0,
        le=1.0,
        description="Wall seconds the engine may keep the event loop between batches before "
        "other tasks (control commands, dashboard, watchers) get a turn; 0 yields after every "
        "batch, seconds",
    )
    writer_max_backlog: int = Field(
        20_000,
        ge=100,
        le=10_000_000,
        description="Rows queued for the database writer beyond which the engine waits for it "
        "(backpressure at --speed max), count",
    )
    shutdown_timeout_s: float = Field(60.0, gt=0, le=600, description="Seconds to wait for tasks")
    db_busy_timeout_ms: int = Field(
        5_000,
        ge=100,
        le=60_000,
        description="How long one database write waits for another process's lock before it "
        "counts as failed and is retried, milliseconds",
    )
    store_outage_max_s: float = Field(
        120.0,
        gt=0,
        le=86_400,
        description="Longest time the database may stay unwritable (rows held and spooled, no "
        "new positions) before the bot stops trading and exits with code 3, seconds",
    )
    writer_memory_rows: int = Field(
        5_000,
        ge=100,
        le=1_000_000,
        description="Rows the database writer keeps in memory during an outage before it "
        "spools the oldest to a file, count",
    )
    spool_path: str = Field(
        "",
        description="File for rows the database could not take yet ('' = the SQLite file's "
        "path plus '.spool', or data/bot.spool for other databases)",
    )
    compiled_core: Literal["auto", "off", "require"] = Field(
        "auto",
        description="The compiled order book and Polymarket translator (python bot.py "
        "build-core; docs/COMPILED_CORE.md): auto uses a valid build if there is one, off never, "
        "require refuses to start without one; env BOT_COMPILED_CORE overrides it",
    )


class MarketDataConfig(_Frozen):
    """Where market events come from."""

    source: Literal["sim", "replay", "polymarket", "betfair_replay", "betfair"] = "sim"
    seed: int = Field(7, ge=0, description="Random seed of the simulator (deterministic runs)")
    speed: float | Literal["max"] = Field(
        1.0, description="Market seconds per wall second for sim/replay, or 'max'"
    )
    duration_s: float | None = Field(
        None, gt=0, description="Stop after this many seconds of market time (None: run forever)"
    )
    start_ts: float = Field(
        1_767_225_600.0,
        ge=0,
        description="Simulator start time, epoch seconds (2026-01-01 UTC); a replay "
        "starts at its recording's first timestamp",
    )
    sim: SimConfig = Field(default_factory=SimConfig)
    record: bool = Field(
        False,
        description="Record every message received (and the simulator's events) to compressed "
        "JSON-lines files under recorder.directory, for replay and backtests",
    )
    replay_paths: list[str] = Field(
        default_factory=list,
        description="Recorded files or directories played back when source is replay",
    )
    polymarket: PolymarketConfig = Field(default_factory=PolymarketConfig)
    betfair: BetfairConfig = Field(default_factory=BetfairConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    recorder: RecorderConfig = Field(default_factory=RecorderConfig)
    pipeline: PipelineMonitorConfig = Field(default_factory=PipelineMonitorConfig)
    pipeline_check_interval_s: float = Field(
        1.0, gt=0, le=60, description="Wall seconds between data-pipeline health evaluations"
    )

    @model_validator(mode="after")
    def _replay_needs_paths(self) -> MarketDataConfig:
        if self.source == "replay" and not self.replay_paths:
            raise ValueError("source is replay but replay_paths is empty")
        if self.source == "betfair_replay" and not self.betfair.replay_paths:
            raise ValueError("source is betfair_replay but betfair.replay_paths is empty")
        bs = self.betfair.stream
        if self.source == "betfair" and not (
            bs.username and bs.app_key.get_secret_value() and bs.certs_dir
        ):
            raise ValueError(
                "source is betfair but betfair.stream.username, app_key or certs_dir is empty "
                "(set them from environment variables, e.g. app_key: ${BETFAIR_APP_KEY})"
            )
        return self

    @field_validator("speed")
    @classmethod
    def _speed_positive(cls, v: float | str) -> float | str:
        if isinstance(v, float) and not (math.isfinite(v) and v > 0):
            raise ValueError("speed must be a finite number > 0, or 'max'")
        return v


class ExecutionConfig(_Frozen):
    """Execution settings (paper client; outcome waits of the safety actions)."""

    latency_ms: float = Field(
        0.0, ge=0, le=10_000, description="Event-time delay before orders/cancels reach the venue"
    )
    close_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Seconds a close, flatten or exit order may take to finish before the safety "
        "layer cancels its rest and reports what was sold",
    )


class ScoreWeights(_Frozen):
    """Composite score weights (they are normalised to sum to 1)."""

    return_: float = Field(0.4, ge=0, le=1, alias="return")
    sharpe: float = Field(0.3, ge=0, le=1)
    win_rate: float = Field(0.2, ge=0, le=1)
    drawdown: float = Field(0.1, ge=0, le=1)

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class CompetitionConfig(_Frozen):
    """The competition: capital, snapshots, metrics and leaderboard."""

    starting_capital_usd: Decimal = Field(
        Decimal("10000"), gt=0, le=Decimal("1e9"), description="Virtual capital per strategy, USD"
    )
    memory_snapshot_interval_s: float = Field(
        1.0, gt=0, le=60, description="Seconds between in-memory equity snapshots"
    )
    memory_window_h: float = Field(24.0, gt=0, le=168, description="Hours of in-memory history")
    snapshot_interval_s: float = Field(
        10.0, gt=0, le=3600, description="Seconds (event time) between persisted fine snapshots"
    )
    tops_write_interval_wall_s: float = Field(
        0.5,
        ge=0,
        le=60,
        description="Wall seconds between hand-overs of changed market tops to storage (newest "
        "row per instrument; a real-time run ticks once a second and hands every tick's rows "
        "over); 0 hands every tick's rows over",
    )
    hourly_snapshots: bool = Field(True, description="Also persist one coarse row per hour")
    fine_retention_h: float = Field(
        72.0,
        gt=0,
        description="Hours (event time) to keep fine-grained snapshot rows and price history",
    )
    weights: ScoreWeights = Field(default_factory=ScoreWeights)
    return_scale_pct: float = Field(
        10.0, gt=0, description="Return (%) that maps to a full return score; -x maps to 0"
    )
    returns_period: Literal["auto", "daily", "hourly"] = Field(
        "auto",
        description="Period of the returns behind Sharpe, Sortino and Calmar: daily, hourly, or "
        "auto (daily once sharpe_min_returns daily returns exist, hourly before)",
    )
    sharpe_min_returns: int = Field(
        20,
        ge=2,
        le=100_000,
        description="Period returns needed before Sharpe, Sortino and Calmar are shown, count",
    )
    win_rate_min_bets: int = Field(
        10,
        ge=1,
        le=1_000_000,
        description="Closed bets needed before the win rate counts in the score, count",
    )
    sharpe_scale: float = Field(3.0, gt=0, description="Sharpe that maps to a full Sharpe score")
    drawdown_scale_pct: float = Field(
        50.0, gt=0, le=100, description="Drawdown (%) at which the drawdown score reaches 0"
    )
    winning_return_pct: float = Field(1.0, description="Return (%) at or above which = WINNING")
    losing_return_pct: float = Field(-1.0, description="Return (%) at or below which = LOSING")
    strategy_error_limit: int = Field(
        10, ge=1, le=10_000, description="Strategy exceptions before it is disabled"
    )
    leaderboard_refresh_s: float = Field(1.0, gt=0, le=60, description="Terminal refresh, seconds")


class StrategyEntry(_Frozen):
    """One competitor: a strategy class with its parameters."""

    name: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    class_: str = Field(
        ..., alias="class", description="Built-in name, file.py:Class or module:Class"
    )
    enabled: bool = True
    params: dict[str, Any] = Field(default_factory=dict)
    capital_usd: Decimal | None = Field(
        None,
        gt=0,
        le=Decimal("1e9"),
        description="This strategy's starting capital in its currency (USD for USDC); unset: "
        "competition.starting_capital_usd",
    )
    currency: str = Field(
        "USDC",
        pattern=r"^[A-Z]{3,5}$",
        description="Currency of this strategy's portfolio (USDC, GBP, EUR, ...); it trades only "
        "instruments in this currency",
    )

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class DashboardConfig(_Frozen):
    """The web dashboard process (see docs/DASHBOARD.md)."""

    enabled: bool = True
    host: str = Field("127.0.0.1", min_length=1, max_length=255, description="Listen address")
    port: int = Field(5000, ge=1, le=65535)
    allowed_hosts: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Host names (without port) the dashboard answers to; other Host headers get "
        "400 (DNS rebinding). Empty: localhost, 127.0.0.1, ::1 and `host` when it is a name or "
        "address; '*' allows any",
    )
    token: SecretStr | None = Field(
        None,
        description="Control token; write ${DASHBOARD_TOKEN}, never the token itself. "
        "Unset: the DASHBOARD_TOKEN variable, else a token generated into token_file",
    )
    token_file: str = Field(
        "data/dashboard_token", min_length=1, description="Generated token file (mode 0600)"
    )
    read_access: Literal["auto", "open", "login"] = Field(
        "auto", description="Read-only pages: open, login, or auto (open only on a loopback host)"
    )
    poll_interval_s: float = Field(
        1.0, ge=0.1, le=10, description="Seconds between database polls for live updates"
    )
    fallback_refresh_s: float = Field(
        10.0, ge=2, le=600, description="Page refresh interval while the socket is down, seconds"
    )
    bot_stale_s: float = Field(
        5.0, ge=1, le=300, description="Heartbeat age after which the bot counts as stopped, s"
    )
    session_hours: float = Field(12.0, gt=0, le=720, description="Login lifetime, hours")
    cookie_secure: bool = Field(False, description="Send the session cookie over HTTPS only")
    proxy_count: int = Field(
        0, ge=0, le=5, description="Reverse proxies in front whose X-Forwarded-* are trusted"
    )
    login_attempts_per_min: int = Field(
        10, ge=1, le=1000, description="Failed logins per client address per minute"
    )
    max_chart_points: int = Field(
        400, ge=50, le=5000, description="Most points per equity curve sent to a chart"
    )
    alerts_interval_s: float = Field(
        1.0, ge=0.1, le=60, description="Wall seconds between alert evaluations in the bot"
    )
    alerts_reload_s: float = Field(
        5.0, ge=0.5, le=600, description="Wall seconds between re-reads of the alert list"
    )
    restart_backoff_max_s: float = Field(
        30.0, ge=1, le=600, description="Longest wait before restarting a crashed dashboard, s"
    )
    log_file: str = Field(
        "logs/dashboard.log", description="Output of the dashboard started by the bot ('' none)"
    )

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts_plain(cls, v: list[str]) -> list[str]:
        out = []
        for h in v:
            name = h.strip().lower()
            if not name or ("/" in name) or (" " in name):
                raise ValueError(f"{h!r} is not a host name (write e.g. 'mybox.lan', no scheme)")
            out.append(name)
        return out

    def host_names(self) -> frozenset[str]:
        """Return the Host header names (lower case, no port) the dashboard accepts."""
        if self.allowed_hosts:
            return frozenset(h.strip("[]") for h in self.allowed_hosts)
        names = {"localhost", "127.0.0.1", "::1"}
        if self.host not in ("0.0.0.0", "::", ""):
            names.add(self.host.strip("[]").lower())
        return frozenset(names)


class AppConfig(_Frozen):
    """The whole configuration file."""

    bot: BotSection = Field(default_factory=BotSection)
    market_data: MarketDataConfig = Field(default_factory=MarketDataConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    competition: CompetitionConfig = Field(default_factory=CompetitionConfig)
    strategies: list[StrategyEntry] = Field(default_factory=list)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    # Safety layer (utils/safety_config.py; hot-reloaded, see docs/SAFETY.md).
    kill_switch: bool = Field(
        False, description="true activates the kill switch (at start and on reload)"
    )
    kill_switch_options: KillSwitchConfig = Field(default_factory=KillSwitchConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    breakers: BreakerConfig = Field(default_factory=BreakerConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    exits: ExitConfig = Field(default_factory=ExitConfig)
    control: ControlConfig = Field(default_factory=ControlConfig)
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)  # docs/BACKTESTING.md
    # Strategy lifecycle (utils/graduation_config.py; hot-reloaded, see docs/GRADUATION.md).
    graduation: GraduationConfig = Field(default_factory=GraduationConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    rebalancing: RebalancingConfig = Field(default_factory=RebalancingConfig)
    # Unattended operation (utils/ops_config.py, docs/DEPLOY.md).
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)  # live Polymarket (docs/GOING_LIVE.md)
    keys: KeysConfig = Field(default_factory=KeysConfig)  # where the live secrets are kept

    @field_validator("strategies")
    @classmethod
    def _unique_names(cls, v: list[StrategyEntry]) -> list[StrategyEntry]:
        seen: set[str] = set()
        for e in v:
            if e.name in seen:
                raise ValueError(f"strategy name {e.name!r} is used twice")
            seen.add(e.name)
        return v

    @field_validator("risk", "exits")
    @classmethod
    def _override_names(cls, v: RiskConfig | ExitConfig, info: ValidationInfo) -> Any:
        entries = info.data.get("strategies")
        if entries and v.per_strategy:
            check_override_names(
                {f"{info.field_name}.per_strategy": list(v.per_strategy)},
                [e.name for e in entries],
            )
        return v

    def db_url(self) -> str:
        """Return the database URL (``db_url``, or SQLite at ``db_path``)."""
        if self.bot.db_url:
            return self.bot.db_url
        return "sqlite:///" + str(Path(self.bot.db_path).expanduser().resolve())


_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(node: Any, file: str, path: str) -> Any:
    if isinstance(node, dict):
        return {k: _expand_env(v, file, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v, file, f"{path}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, str):

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in os.environ:
                raise ConfigError(file, path, f"environment variable {name} is not set")
            return os.environ[name]

        return _ENV_RE.sub(sub, node)
    return node


def format_loc(loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic error location into a key path like ``strategies[1].params.x``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_TYPE_TAG = re.compile(
    r"^(float|int|str|bool|decimal|none|is-instance\[.*\]|literal\[.*\]|list\[.*\]|dict\[.*\]|function-.*)$"
)


def first_error(exc: ValidationError, prefix: str = "") -> tuple[str, str]:
    """Return (key path, message) of a validation error's first problem."""
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and _TYPE_TAG.match(p)))
    key = format_loc(loc)
    if prefix:
        key = f"{prefix}.{key}" if key else prefix
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key (check spelling; see config.example.yaml)"
    elif "input" in err and err["type"] not in ("missing",):
        msg = f"{msg} (got {err['input']!r})"
    return key, msg


def parse_config(data: Any, file: str) -> AppConfig:
    """Validate a parsed YAML document; raise ConfigError naming the key path."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(file, "", "the top level must be a mapping of sections")
    data = _expand_env(data, file, "")
    try:
        return AppConfig.model_validate(data)
    except ValidationError as exc:
        key, msg = first_error(exc)
        raise ConfigError(file, key, msg) from None


COMPILED_CORE_MODES = ("auto", "off", "require")
COMPILED_CORE_ENV = "BOT_COMPILED_CORE"


def compiled_core_mode(
    cfg: AppConfig, file: str, env: dict[str, str] | None = None
) -> tuple[str, str]:
    """Return ``(mode, key)`` of the compiled core: ``$BOT_COMPILED_CORE`` when set, else
    ``bot.compiled_core``; the key names where the mode came from.

    Raises
    ------
    ConfigError
        If the environment variable holds anything but auto, off or require.
    """
    raw = (os.environ if env is None else env).get(COMPILED_CORE_ENV, "").strip()
    if not raw:
        return cfg.bot.compiled_core, "bot.compiled_core"
    mode = raw.lower()
    if mode not in COMPILED_CORE_MODES:
        raise ConfigError(
            "<environment>",
            COMPILED_CORE_ENV,
            f"expected one of auto, off, require (overrides bot.compiled_core; got {raw!r})",
        )
    return mode, COMPILED_CORE_ENV


def load_config(path: str | Path) -> AppConfig:
    """Read and validate a YAML config file."""
    p = Path(path)
    file = str(p)
    return parse_config(read_yaml(p), file)


MAX_CONFIG_DEPTH = 32
"""Deepest nesting of mappings and lists a config file may have (the schema needs about 6)."""


def read_yaml(path: Path) -> Any:
    """Read a YAML file as UTF-8 text and parse it, refusing deep nesting.

    Raises
    ------
    ConfigError
        If the file cannot be read, is not UTF-8, is not valid YAML, or nests deeper than
        :data:`MAX_CONFIG_DEPTH` levels.
    """
    file = str(path)
    if path.is_dir():
        raise ConfigError(file, "", "is a directory, not a config file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(file, "", f"cannot read the file: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            file,
            "",
            f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); save it as UTF-8",
        ) from None
    cached = _LAST_PARSED.get(text)
    if cached is not None:
        return copy.deepcopy(cached)
    try:
        data = _parse_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(file, "", yaml_error_message(exc, text)) from None
    except RecursionError:
        raise ConfigError(
            file, "", f"nests too deep to read; at most {MAX_CONFIG_DEPTH} levels are allowed"
        ) from None
    depth = _data_depth(data)
    if depth > MAX_CONFIG_DEPTH:
        raise ConfigError(
            file, "", f"nests {depth} levels deep; at most {MAX_CONFIG_DEPTH} are allowed"
        )
    _LAST_PARSED.clear()
    _LAST_PARSED[text] = copy.deepcopy(data)
    return data


_LAST_PARSED: dict[str, Any] = {}
"""The last text :func:`read_yaml` parsed without error, and its document. A start reads the
config file twice (``bot.py`` to validate and override it, the config watcher for its
baseline); the second read of the same text returns a copy instead of parsing it again with
the pure-Python parser (about 0.1 s of the example config's start, issue 18). A different text
is parsed as always; errors are never cached."""


def _parse_yaml(text: str) -> Any:
    """Return ``yaml.safe_load(text)``: PyYAML's pure-Python parser, always.

    libyaml's C parser is about fifteen times faster (about 80 ms saved per start on the example
    config), but it was taken out again (issue 18, fourth round): fuzzing the example config
    showed it accepting documents the pure-Python parser refuses (a tab inside a key, ``?`` inside
    a flow mapping's key, a comment right after a ``|`` indicator, which it drops silently) and
    reading ``key: !`` as ``""`` where the pure-Python parser reads None. A config must mean the
    same thing and fail the same way whichever PyYAML build a machine has
    (``tests/test_config.py::test_yaml_reads_as_the_pure_python_parser_does``).
    """
    return yaml.safe_load(text)


def _data_depth(data: Any) -> int:
    """Return the nesting depth of parsed YAML, iteratively (no recursion limit)."""
    top = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            top = max(top, depth)
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            top = max(top, depth)
            stack.extend((v, depth + 1) for v in node)
    return top


def yaml_error_message(exc: yaml.YAMLError, text: str) -> str:
    """Return a YAML syntax error with its line, the line's text and a hint in plain words."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
    problem = getattr(exc, "problem", None) or str(exc)
    context = str(getattr(exc, "context", None) or "")
    cmark = getattr(exc, "context_mark", None)
    opened = f" (opened at line {cmark.line + 1})" if cmark is not None else ""
    lines = text.splitlines()
    hint = ""
    if "\\t" in problem or "\t" in problem:
        hint = "YAML does not allow tabs for indentation: indent with spaces"
    elif "flow sequence" in context:
        hint = (
            f"a '[' list{opened} is not closed with ']', or an item holds a ':' or '#' that "
            "needs quotes"
        )
    elif "flow mapping" in context:
        hint = f"a '{{' mapping{opened} is not closed with '}}', or a value needs quotes"
    elif "quoted scalar" in context:
        hint = f"a quote{opened} is not closed"
    elif "block" in problem or "block" in context or "mapping values" in problem:
        hint = (
            "check this line's indentation against the lines above (keys of one section line "
            "up), and quote values that contain ': '"
        )
    out = f"invalid YAML at {where}: {problem}"
    if mark is not None and 0 <= mark.line < len(lines):
        out += f"; the line reads {lines[mark.line].strip()!r}"
    return out + (f". Hint: {hint}" if hint else "")
