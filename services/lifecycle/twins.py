"""Paper twins of strategies that reach a live stage through graduation.

The live runtime (``services/markets/polymarket/live/runtime.py``) gives each strategy named in
``live.strategies`` a paper twin ``<name>__twin`` (same class, parameters and capital, on the
simulated client, fed the same books) for the paper-vs-live fidelity report. A strategy that is
routed live by graduation needs the same, but the engine's strategies are fixed when the bot
starts. So, when live trading is on and a graduation stage routes to the live client, every
*candidate* gets a **standby twin** at start:

* candidates: enabled strategies not named in ``live.strategies`` whose stage at this start
  (stored, or ``graduation.initial_stage`` for a new one) is ``paper`` or a live stage: the ones
  an approval can move onto real money during this run;
* a strategy that enters a live stage without a standby twin (it reached ``paper`` during this
  run) gets one created at that moment (``create_twin`` of the live runtime, which adds the
  strategy to the running engine);
* a standby twin is ``disabled`` (its hooks do not run, so it costs nothing) with the reason
  "paper twin of NAME: standby until NAME is in a live stage";
* :class:`TwinKeeper` (driven by the lifecycle manager) enables the twin when its strategy
  enters a live stage and disables it again (its paper orders cancelled) when the strategy
  leaves it. The twin never graduates itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.strategies.base import Strategy
from utils.config import AppConfig

if TYPE_CHECKING:
    from services.engine import Engine

# The live runtime's names (services/markets/polymarket/live/runtime.py: LIVE_ROUTE,
# TWIN_SUFFIX); kept here so that a bot without live trading does not import the venue
# package (tests/lifecycle/test_twins.py checks they agree).
LIVE_ROUTE = "polymarket_live"
TWIN_SUFFIX = "__twin"
LIVE_STAGES = ("micro", "mini", "full")
STANDBY = "standby"


def is_twin(name: str) -> bool:
    """Return whether ``name`` is a paper twin's name."""
    return name.endswith(TWIN_SUFFIX)


def original_of(name: str) -> str:
    """Return the strategy a twin mirrors."""
    return name.removesuffix(TWIN_SUFFIX)


def graduation_routes_live(cfg: AppConfig) -> bool:
    """Return whether any graduation stage routes to the live client."""
    st = cfg.graduation.stages
    return any(st.rule(s).route == LIVE_ROUTE for s in LIVE_STAGES)


def add_graduation_twins(
    cfg: AppConfig,
    strategies: list[Strategy],
    file: str,
    stored_stage: Callable[[], dict[str, str]],
) -> tuple[AppConfig, list[Strategy]]:
    """Add a standby paper twin for every graduation candidate (see the module docstring).

    ``stored_stage``: returns strategy -> stage stored by an earlier run (empty for a new
    database); only called when twins can be needed.
    """
    from services.markets.polymarket.live.runtime import twin_name
    from services.strategies.loader import build_strategy

    live = cfg.live
    if not (live.enabled and live.paper_twin and graduation_routes_live(cfg)):
        return cfg, strategies
    stages = stored_stage()
    have = {s.name for s in strategies}
    base_dir = Path(file).resolve().parent if file else Path.cwd()
    entries = list(cfg.strategies)
    out = list(strategies)
    for i, e in enumerate(cfg.strategies):
        if not e.enabled or e.name in live.strategies or is_twin(e.name):
            continue
        if twin_name(e.name) in have:
            continue
        stage = stages.get(e.name, cfg.graduation.initial_stage)
        if stage == "paper" or stage in LIVE_STAGES:
            twin = e.model_copy(update={"name": twin_name(e.name)})
            entries.append(twin)
            out.append(build_strategy(twin, i, base_dir, file))
    return cfg.model_copy(update={"strategies": entries}), out


class TwinKeeper:
    """Enable a graduation twin while its strategy is in a live stage, disable it otherwise.

    Twins of ``live.strategies`` (always live) are left to the live runtime.
    """

    def __init__(
        self,
        engine: Engine,
        pinned: Iterable[str],
        create: Callable[[str], str] | None = None,
    ) -> None:
        self.engine = engine
        pinned = set(pinned)
        self.pinned = pinned
        self.create = create  # makes the twin of a strategy at runtime; None: no new twins
        self.twins = {
            n: original_of(n)
            for n in engine.runners
            if is_twin(n) and original_of(n) in engine.runners and original_of(n) not in pinned
        }

    def sync(self, name: str | None = None) -> list[tuple[str, str]]:
        """Bring twins (all, or the one of strategy ``name``) in line; return (strategy, what
        changed) pairs."""
        eng = self.engine
        out: list[tuple[str, str]] = []
        if self.create is not None:
            have = set(self.twins.values())
            for orig, r in list(eng.runners.items()):
                if name is not None and orig != name:
                    continue
                if r.stage.live and orig not in have and orig not in self.pinned:
                    if is_twin(orig):
                        continue
                    twin = self.create(orig)  # added active, on paper, subscribed
                    self.twins[twin] = orig
                    out.append((orig, f"paper twin {twin} created: {orig} is live ({r.stage})"))
        for twin, orig in self.twins.items():
            if name is not None and orig != name:
                continue
            r, t = eng.runners[orig], eng.runners[twin]
            if r.stage.live and t.status == "disabled":
                eng.set_status(
                    twin, "active", f"paper twin of {orig} while {orig} is live ({r.stage})"
                )
                out.append((orig, f"paper twin {twin} started: {orig} is live ({r.stage})"))
            elif not r.stage.live and t.status != "disabled":
                eng.set_status(twin, "disabled", standby_reason(orig))
                out.append((orig, f"paper twin {twin} stopped: {orig} is at {r.stage}"))
        return out

    def view(self) -> dict[str, Any]:
        """Return twin -> {strategy, status} for the Graduation page."""
        eng = self.engine
        return {
            t: {"strategy": o, "status": str(eng.runners[t].status)} for t, o in self.twins.items()
        }


def standby_reason(orig: str) -> str:
    """Return the status reason of a standby twin."""
    return f"paper twin of {orig}: {STANDBY} until {orig} is in a live stage"


def stored_stages(sessions: Any) -> dict[str, str]:
    """Return strategy -> stage from the ``strategies`` table (empty when it has no rows)."""
    from sqlalchemy import select

    from database.models import TABLES

    t = TABLES["strategies"]
    with sessions() as session:
        return {str(n): str(s) for n, s in session.execute(select(t.c.name, t.c.stage))}
