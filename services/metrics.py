"""Performance metrics: pure functions over an equity series and a list of closed bets.

One module used by the live leaderboard (``services.snapshots``), the dashboard, and backtest
reports. Nothing here imports the engine; every function takes plain numbers. ``docs/METRICS.md``
gives each formula with a worked example (checked by ``tests/test_metrics.py``).

Conventions
-----------
* Equity is in USD (floats are fine for metrics; balances stay exact elsewhere).
* A **period return** is the change of equity between the ends of two consecutive calendar
  periods (UTC hours or UTC days of event time): ``r_k = E_k / E_{k-1} - 1``, where ``E_k`` is
  the last equity sampled in period ``k`` and ``E_0`` the first equity ever sampled. The period
  that is still running is not counted. A period without samples (the bot was stopped) adds no
  return: the next return spans the gap.
* Ratios are **annualised** with ``sqrt(periods_per_year)`` on a 365-day year (prediction
  markets trade around the clock): 8,760 hourly or 365 daily periods a year.
* A ratio is only given (not None) once ``min_periods`` returns exist; it carries a standard
  error so a reader sees how much evidence it rests on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Period = Literal["hourly", "daily"]

PERIOD_SECONDS: dict[str, float] = {"hourly": 3600.0, "daily": 86_400.0}
PERIODS_PER_YEAR: dict[str, float] = {"hourly": 365.0 * 24.0, "daily": 365.0}


@dataclass(frozen=True, slots=True)
class Estimate:
    """A ratio with its standard error and the number of returns it rests on."""

    value: float
    stderr: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        """Return ``{"value", "stderr", "n"}``."""
        return {"value": self.value, "stderr": self.stderr, "n": self.n}


# ------------------------------------------------------------------------------ period returns
@dataclass
class PeriodReturns:
    """Incremental period returns of one equity series (see the module docstring).

    Parameters
    ----------
    period : {"hourly", "daily"}
        Calendar period (UTC, event time).
    """

    period: str
    returns: list[float] = field(default_factory=list)
    current: int | None = None  # index of the running period (floor(ts / period_s))
    base: float | None = None  # equity at the end of the previous period (or the first sample)
    last: float | None = None  # latest equity of the running period

    def update(self, ts: float, equity: float) -> None:
        """Add an equity sample at event time ``ts`` (seconds); samples come in time order."""
        k = math.floor(ts / PERIOD_SECONDS[self.period])
        if self.current is None:
            self.current, self.base, self.last = k, equity, equity
            return
        if k > self.current:
            if self.base is not None and self.base > 0 and self.last is not None:
                self.returns.append(self.last / self.base - 1.0)
            self.base = self.last
            self.current = k
        self.last = equity

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable copy (for ``bot_state``)."""
        return {
            "period": self.period,
            "returns": list(self.returns),
            "current": self.current,
            "base": self.base,
            "last": self.last,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PeriodReturns:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            period=str(d["period"]),
            returns=[float(x) for x in d.get("returns") or []],
            current=d.get("current"),
            base=d.get("base"),
            last=d.get("last"),
        )


def period_returns(ts: Sequence[float], equity: Sequence[float], period: str) -> list[float]:
    """Return the completed period returns of an equity series.

    Parameters
    ----------
    ts : sequence of float
        Event times, seconds (ascending).
    equity : sequence of float
        Equity at each time, USD.
    period : {"hourly", "daily"}
        Calendar period.
    """
    pr = PeriodReturns(period)
    for t, e in zip(ts, equity, strict=True):
        pr.update(t, e)
    return list(pr.returns)


# ------------------------------------------------------------------------------ ratios
def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def _stdev(xs: Sequence[float]) -> float:
    m = _mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def _ratio_se(per_period: float, n: int, periods_per_year: float) -> float:
    # Lo (2002), i.i.d. returns: SE(SR) = sqrt((1 + SR^2 / 2) / n), scaled like the ratio.
    return math.sqrt((1.0 + 0.5 * per_period**2) / n) * math.sqrt(periods_per_year)


def sharpe(
    returns: Sequence[float], periods_per_year: float, min_periods: int = 20
) -> Estimate | None:
    """Return the annualised Sharpe ratio (risk-free rate 0) with its standard error.

    ``SR = mean(r) / stdev(r) * sqrt(periods_per_year)`` (sample standard deviation, n - 1);
    ``SE = sqrt((1 + SR_p^2 / 2) / n) * sqrt(periods_per_year)`` with ``SR_p`` the per-period
    ratio. None with fewer than ``max(2, min_periods)`` returns or when equity never moved.
    """
    n = len(returns)
    if n < max(2, min_periods):
        return None
    sd = _stdev(returns)
    if sd <= 1e-12:
        return None
    sr_p = _mean(returns) / sd
    return Estimate(sr_p * math.sqrt(periods_per_year), _ratio_se(sr_p, n, periods_per_year), n)


def sortino(
    returns: Sequence[float], periods_per_year: float, min_periods: int = 20
) -> Estimate | None:
    """Return the annualised Sortino ratio (target 0) with an approximate standard error.

    ``Sortino = mean(r) / DD * sqrt(periods_per_year)`` with the downside deviation
    ``DD = sqrt(sum(min(r, 0)^2) / n)``; the standard error uses the Sharpe formula on the
    per-period Sortino (an approximation). None with too few returns or no losing period.
    """
    n = len(returns)
    if n < max(2, min_periods):
        return None
    dd = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / n)
    if dd <= 1e-12:
        return None
    s_p = _mean(returns) / dd
    return Estimate(s_p * math.sqrt(periods_per_year), _ratio_se(s_p, n, periods_per_year), n)


def annualised_return_pct(returns: Sequence[float], periods_per_year: float) -> float | None:
    """Return ``mean(r) * periods_per_year * 100`` (arithmetic, so short runs do not explode)."""
    if not returns:
        return None
    return _mean(returns) * periods_per_year * 100.0


def calmar(
    returns: Sequence[float], periods_per_year: float, max_dd_pct: float, min_periods: int = 20
) -> float | None:
    """Return annualised return % over all-time max drawdown %; None if either is unknown/0."""
    if len(returns) < max(2, min_periods) or max_dd_pct <= 1e-9:
        return None
    ann = annualised_return_pct(returns, periods_per_year)
    return None if ann is None else ann / max_dd_pct


# ------------------------------------------------------------------------------ drawdown
@dataclass
class DrawdownTracker:
    """All-time peak and maximum drawdown of an equity series (percent of the peak)."""

    peak: float | None = None
    max_dd_pct: float = 0.0

    def update(self, equity: float) -> None:
        """Add an equity sample."""
        if self.peak is None or equity > self.peak:
            self.peak = equity
        elif self.peak > 0:
            dd = (self.peak - equity) / self.peak * 100.0
            if dd > self.max_dd_pct:
                self.max_dd_pct = dd

    def current_pct(self, equity: float) -> float:
        """Return the drawdown of ``equity`` from the peak, percent."""
        if self.peak is None or self.peak <= 0:
            return 0.0
        return max(0.0, (self.peak - equity) / self.peak * 100.0)


def max_drawdown_pct(equity: Sequence[float]) -> float:
    """Return the largest peak-to-trough fall of ``equity``, percent of the peak."""
    t = DrawdownTracker()
    for e in equity:
        t.update(e)
    return t.max_dd_pct


# ------------------------------------------------------------------------------ exposure
@dataclass
class ExposureClock:
    """Share of (sampled) time a strategy held a position or a resting buy."""

    exposed_s: float = 0.0
    total_s: float = 0.0
    last_ts: float | None = None
    last_exposed: bool = False

    def update(self, ts: float, exposed: bool) -> None:
        """Add a sample: the time since the previous one counts with the previous state."""
        if self.last_ts is not None and ts > self.last_ts:
            dt = ts - self.last_ts
            self.total_s += dt
            if self.last_exposed:
                self.exposed_s += dt
        self.last_ts = ts
        self.last_exposed = exposed

    @property
    def pct(self) -> float | None:
        """Return the exposed share of time, percent (None before two samples)."""
        return self.exposed_s / self.total_s * 100.0 if self.total_s > 0 else None


def exposure_time_pct(ts: Sequence[float], exposed: Sequence[bool]) -> float | None:
    """Return the share of time between the first and last sample with ``exposed`` true, %."""
    c = ExposureClock()
    for t, x in zip(ts, exposed, strict=True):
        c.update(t, x)
    return c.pct


# ------------------------------------------------------------------------------ bets
@dataclass(frozen=True, slots=True)
class BetStats:
    """Statistics of closed bets (P&L net of fees, USD). A bet at exactly 0 counts as a loss,
    as in the portfolio's win rate."""

    n: int
    wins: int
    losses: int
    win_rate: float | None
    profit_factor: float | None
    expectancy: float | None
    avg_win: float | None
    avg_loss: float | None
    largest_win: float | None
    largest_loss: float | None
    gross_profit: float
    gross_loss: float

    def to_dict(self) -> dict[str, float | int | None]:
        """Return a plain dict."""
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass
class BetAccumulator:
    """Running sums of closed-bet P&L (USD) from which :class:`BetStats` follow in O(1)."""

    n: int = 0
    wins: int = 0
    gross_profit: float = 0.0
    gross_loss: float = 0.0
    largest_win: float | None = None
    largest_loss: float | None = None
    # The last stats() answer and the bet count it was built at (asked at every persisted
    # snapshot; bets close far less often). BetStats is frozen, so it is shared safely.
    _cached: tuple[int, BetStats] | None = field(default=None, repr=False, compare=False)

    def add(self, pnl: float) -> None:
        """Add one closed bet's P&L, net of fees (0 counts as a loss)."""
        self._cached = None
        self.n += 1
        if pnl > 0:
            self.wins += 1
            self.gross_profit += pnl
            self.largest_win = pnl if self.largest_win is None else max(self.largest_win, pnl)
        else:
            self.gross_loss -= pnl
            self.largest_loss = pnl if self.largest_loss is None else min(self.largest_loss, pnl)

    def stats(self) -> BetStats:
        """Return the statistics of the bets added so far."""
        n, w = self.n, self.wins
        cached = self._cached
        if cached is not None and cached[0] == n:
            return cached[1]
        losses = n - w
        gp, gl = self.gross_profit, self.gross_loss
        out = BetStats(
            n=n,
            wins=w,
            losses=losses,
            win_rate=w / n if n else None,
            profit_factor=gp / gl if gl > 0 else None,
            expectancy=(gp - gl) / n if n else None,
            avg_win=gp / w if w else None,
            avg_loss=-gl / losses if losses else None,
            largest_win=self.largest_win,
            largest_loss=self.largest_loss,
            gross_profit=gp,
            gross_loss=gl,
        )
        self._cached = (n, out)
        return out


def bet_stats(pnls: Sequence[float]) -> BetStats:
    """Return win rate, profit factor, expectancy, average win/loss and extremes of closed bets.

    ``profit_factor = gross_profit / gross_loss`` (None without a losing bet: undefined, not
    infinite); ``expectancy = mean(pnl)``; ``avg_loss`` and ``largest_loss`` are negative.
    """
    acc = BetAccumulator()
    for p in pnls:
        acc.add(p)
    return acc.stats()


# ------------------------------------------------------------------------------ score
@dataclass(frozen=True, slots=True)
class ScoreInputs:
    """What the composite score reads."""

    return_pct: float
    sharpe: Estimate | None
    win_rate: float | None
    closed_bets: int
    max_drawdown_pct: float


@dataclass(frozen=True, slots=True)
class Score:
    """The composite score, its components (0-1) and the share of weight resting on evidence."""

    score: float
    components: dict[str, float]
    evidence_pct: float


def _clip01(x: float) -> float:
    return 0.0 if x < 0 else 1.0 if x > 1 else x


def supported_sharpe(est: Estimate | None) -> float | None:
    """Return the Sharpe shrunk toward 0 by one standard error: ``sign(SR) * max(|SR| - SE, 0)``."""
    if est is None:
        return None
    return math.copysign(max(abs(est.value) - est.stderr, 0.0), est.value)


def composite_score(
    x: ScoreInputs,
    *,
    weights: tuple[float, float, float, float],
    return_scale_pct: float,
    sharpe_scale: float,
    drawdown_scale_pct: float,
    win_rate_min_bets: int,
) -> Score:
    """Return the 0-100 composite score (weights: return, Sharpe, win rate, drawdown).

    Components: return ``clip((r + R) / 2R)``; Sharpe ``clip((s + S) / 2S)`` on the
    :func:`supported_sharpe`, 0.5 while there is no Sharpe; win rate as a fraction, 0.5 before
    ``win_rate_min_bets`` closed bets; drawdown ``1 - clip(dd / D)``. ``evidence_pct`` is the
    share of the weight whose component rests on data (return and drawdown always do).
    """
    w_r, w_s, w_w, w_d = weights
    total = w_r + w_s + w_w + w_d
    s_sup = supported_sharpe(x.sharpe)
    comp = {
        "return": _clip01((x.return_pct + return_scale_pct) / (2 * return_scale_pct)),
        "sharpe": 0.5 if s_sup is None else _clip01((s_sup + sharpe_scale) / (2 * sharpe_scale)),
        "win_rate": (
            x.win_rate if x.win_rate is not None and x.closed_bets >= win_rate_min_bets else 0.5
        ),
        "drawdown": 1.0 - _clip01(x.max_drawdown_pct / drawdown_scale_pct),
    }
    if total <= 0:
        return Score(0.0, comp, 0.0)
    score = (
        w_r * comp["return"]
        + w_s * comp["sharpe"]
        + w_w * comp["win_rate"]
        + w_d * comp["drawdown"]
    ) / total
    backed = w_r + w_d
    if x.sharpe is not None:
        backed += w_s
    if x.win_rate is not None and x.closed_bets >= win_rate_min_bets:
        backed += w_w
    return Score(round(100.0 * score, 2), comp, round(100.0 * backed / total, 1))
