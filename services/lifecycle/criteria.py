"""Stages and entry criteria: pure decisions over figures from :mod:`services.metrics`.

A figure resting on too little evidence does not pass: a Sharpe ratio is only judged once the
metrics module shows it (``competition.sharpe_min_returns`` period returns), a win rate only once
``competition.win_rate_min_bets`` bets (and the criterion's ``min_closed_bets``) closed. With
``sharpe_basis: supported`` the Sharpe is shrunk by one standard error first
(:func:`services.metrics.supported_sharpe`), the basis the composite score uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from services.enums import Stage
from services.metrics import Estimate, supported_sharpe
from utils.graduation_config import Criteria

ORDER: tuple[Stage, ...] = (Stage.BACKTEST, Stage.PAPER, Stage.MICRO, Stage.MINI, Stage.FULL)
"""The stages in order."""


def next_stage(stage: str) -> Stage | None:
    """Return the stage after ``stage`` (None after ``full``)."""
    i = ORDER.index(Stage(stage))
    return ORDER[i + 1] if i + 1 < len(ORDER) else None


@dataclass(frozen=True, slots=True)
class Figures:
    """What criteria read: one strategy's metrics (from the metrics module) at one moment.

    ``win_rate`` is a fraction (0-1) of closed bets; ``return_pct`` and drawdown are percent.
    """

    return_pct: float
    sharpe: Estimate | None
    win_rate: float | None
    closed_bets: int
    max_drawdown_pct: float
    n_returns: int = 0
    min_returns: int = 0
    score: float = 0.0
    evidence_pct: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (stored with every transition)."""
        d = asdict(self)
        d["sharpe"] = self.sharpe.to_dict() if self.sharpe is not None else None
        return d

    @classmethod
    def from_metrics(cls, m: dict[str, Any], return_pct: float, score: float = 0.0) -> Figures:
        """Build from a :func:`services.competition.row_metrics` dict."""
        s = m.get("sharpe")
        est = (
            Estimate(float(s), float(m.get("sharpe_se") or 0.0), int(m.get("n_returns") or 0))
            if s is not None
            else None
        )
        wr = m.get("win_rate")
        return cls(
            return_pct=float(return_pct),
            sharpe=est,
            win_rate=None if wr is None else float(wr),
            closed_bets=int(m.get("closed_bets") or 0),
            max_drawdown_pct=float(m.get("max_drawdown_pct") or 0.0),
            n_returns=int(m.get("n_returns") or 0),
            min_returns=int(m.get("min_returns") or 0),
            score=float(score),
            evidence_pct=float(m.get("evidence_pct") or 0.0),
        )


@dataclass(frozen=True, slots=True)
class Check:
    """One criterion's verdict: the value, the limit, pass or not, and a sentence."""

    name: str
    ok: bool
    value: str
    limit: str
    text: str


def _cmp(value: float, limit: float, *, at_least: bool, strict: bool) -> bool:
    if at_least:
        return value > limit if strict else value >= limit
    return value < limit if strict else value <= limit


def check_figures(
    fig: Figures, crit: Criteria, *, strict: bool = False, win_rate_min_bets: int = 0
) -> list[Check]:
    """Return one :class:`Check` per criterion that is switched on.

    Parameters
    ----------
    fig : Figures
        The strategy's figures.
    crit : Criteria
        Thresholds (``None`` switches one off).
    strict : bool
        ``>``/``<`` (selection gates) instead of ``>=``/``<=`` (stage entry criteria).
    win_rate_min_bets : int
        Closed bets the metrics module needs before a win rate counts
        (``competition.win_rate_min_bets``).
    """
    ge, le = (">", "<") if strict else (">=", "<=")
    out: list[Check] = []
    if crit.min_closed_bets > 0:
        ok = fig.closed_bets >= crit.min_closed_bets
        out.append(
            Check(
                "closed_bets",
                ok,
                str(fig.closed_bets),
                str(crit.min_closed_bets),
                f"{fig.closed_bets} closed bets {'>=' if ok else '<'} {crit.min_closed_bets}",
            )
        )
    if crit.min_return_pct is not None:
        ok = _cmp(fig.return_pct, crit.min_return_pct, at_least=True, strict=strict)
        out.append(
            Check(
                "return",
                ok,
                f"{fig.return_pct:.2f}%",
                f"{ge} {crit.min_return_pct:g}%",
                f"return {fig.return_pct:.2f}% {'passes' if ok else 'fails'} "
                f"{ge} {crit.min_return_pct:g}%",
            )
        )
    if crit.min_sharpe is not None:
        if fig.sharpe is None:
            out.append(
                Check(
                    "sharpe",
                    False,
                    "-",
                    f"{ge} {crit.min_sharpe:g}",
                    f"Sharpe not shown yet: {fig.n_returns} of {fig.min_returns} period returns "
                    "(too little evidence)",
                )
            )
        else:
            basis = crit.sharpe_basis
            s = supported_sharpe(fig.sharpe) if basis == "supported" else fig.sharpe.value
            assert s is not None
            ok = _cmp(s, crit.min_sharpe, at_least=True, strict=strict)
            shown = f"{fig.sharpe.value:.2f} ± {fig.sharpe.stderr:.2f}"
            what = (
                f"supported Sharpe {s:.2f} ({shown})" if basis == "supported" else f"Sharpe {shown}"
            )
            out.append(
                Check(
                    "sharpe",
                    ok,
                    f"{s:.2f}",
                    f"{ge} {crit.min_sharpe:g}",
                    f"{what} {'passes' if ok else 'fails'} {ge} {crit.min_sharpe:g}",
                )
            )
    if crit.min_win_rate_pct is not None:
        need = max(win_rate_min_bets, 1)
        if fig.win_rate is None or fig.closed_bets < need:
            out.append(
                Check(
                    "win_rate",
                    False,
                    "-",
                    f"{ge} {crit.min_win_rate_pct:g}%",
                    f"win rate not judged yet: {fig.closed_bets} of {need} closed bets "
                    "(too little evidence)",
                )
            )
        else:
            wr = fig.win_rate * 100.0
            ok = _cmp(wr, crit.min_win_rate_pct, at_least=True, strict=strict)
            out.append(
                Check(
                    "win_rate",
                    ok,
                    f"{wr:.1f}%",
                    f"{ge} {crit.min_win_rate_pct:g}%",
                    f"win rate {wr:.1f}% {'passes' if ok else 'fails'} "
                    f"{ge} {crit.min_win_rate_pct:g}%",
                )
            )
    if crit.max_drawdown_pct is not None:
        ok = _cmp(fig.max_drawdown_pct, crit.max_drawdown_pct, at_least=False, strict=strict)
        out.append(
            Check(
                "max_drawdown",
                ok,
                f"{fig.max_drawdown_pct:.2f}%",
                f"{le} {crit.max_drawdown_pct:g}%",
                f"max drawdown {fig.max_drawdown_pct:.2f}% {'passes' if ok else 'fails'} "
                f"{le} {crit.max_drawdown_pct:g}%",
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Whether a strategy may move to the next stage now, and what blocks it."""

    stage: Stage
    target: Stage | None
    eligible: bool
    needs_approval: bool
    checks: tuple[Check, ...]
    blockers: tuple[str, ...]
    days_in_stage: float
    min_days: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (dashboard, bot_state)."""
        return {
            "stage": str(self.stage),
            "target": None if self.target is None else str(self.target),
            "eligible": self.eligible,
            "needs_approval": self.needs_approval,
            "checks": [asdict(c) for c in self.checks],
            "blockers": list(self.blockers),
            "days_in_stage": round(self.days_in_stage, 3),
            "min_days": self.min_days,
        }


def eligibility(
    stage: str,
    fig: Figures,
    crit: Criteria,
    *,
    days_in_stage: float,
    min_days: float,
    status: str = "active",
    target_route_ok: bool = True,
    target_route: str = "paper",
    win_rate_min_bets: int = 0,
) -> Eligibility:
    """Judge whether a strategy at ``stage`` may enter the next stage.

    It must have spent ``min_days`` in the stage (engine clock), be active, pass every entry
    criterion, and the next stage's route must exist in this bot. Moving into a live stage always
    needs an approval (``needs_approval``); the caller decides the rest from config.
    """
    st = Stage(stage)
    target = next_stage(st)
    if target is None:
        return Eligibility(
            st, None, False, False, (), ("already at the last stage",), days_in_stage, min_days
        )
    checks = tuple(check_figures(fig, crit, win_rate_min_bets=win_rate_min_bets))
    blockers = [c.text for c in checks if not c.ok]
    if days_in_stage < min_days:
        blockers.insert(0, f"{days_in_stage:.1f} of {min_days:g} days in {st}")
    if status != "active":
        blockers.insert(0, f"strategy is {status}")
    if not target_route_ok:
        blockers.append(
            f"stage {target} routes to {target_route!r}, which is not an execution client of "
            "this bot"
        )
    return Eligibility(
        st,
        target,
        not blockers,
        target.live,
        checks,
        tuple(blockers),
        days_in_stage,
        min_days,
    )
