"""The optimizer: grid, random or Bayesian (optuna TPE) search with walk-forward validation.

* Parameters: ``name=lo:hi`` (integers if both are), ``name=lo:hi:step``, or ``name=a,b,c``;
  dotted names reach nested parameters (``sizing.notional_usd=10:50:10``).
* Walk-forward: the data's span is cut into ``windows`` test periods, each preceded by a train
  period ``train_ratio`` times as long (``rolling``: the train period slides; ``anchored``: it
  starts at the beginning of the data). Trials are searched on each train period; the best
  parameters are then run once on the following test period (out of sample). ``none`` searches
  the whole span and reports no out-of-sample figure.
* Determinism: trials are asked from the sampler in batches of a fixed size (``batch``), run in
  parallel, and told back in order, so the same seed gives the same trials and the same results
  whatever the number of workers (local processes or Dask).

References: optuna's ask-and-tell interface and samplers
(https://optuna.readthedocs.io/en/stable/reference/samplers/index.html); the deflated Sharpe
ratio in :mod:`services.backtest.overfit`.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from multiprocessing import get_context
from typing import Any, Protocol

from services.backtest.overfit import deflated_sharpe, period_sharpe
from services.backtest.trial import MISSING, evaluate, quiet_worker
from utils.errors import ConfigError

GRID_FLOAT_POINTS = 5
"""Points of a float range without a step in a grid search."""


@dataclass(frozen=True)
class Param:
    """One searched parameter: an int or float range (optional step), or choices."""

    name: str
    kind: str  # int | float | choice
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def grid(self) -> list[Any]:
        """Return the values a grid search tries."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step:
            n = int(round((self.high - self.low) / self.step))
            return [_clean(self.low + i * self.step) for i in range(n + 1)]
        k = GRID_FLOAT_POINTS
        return [_clean(self.low + (self.high - self.low) * i / (k - 1)) for i in range(k)]


def _clean(x: float) -> float:
    return float(f"{x:.10g}")


def _number(text: str) -> int | float:
    try:
        d = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not a number") from exc
    return int(d) if d == d.to_integral_value() and "." not in text else float(d)


def parse_param(spec: str) -> Param:
    """Parse ``name=lo:hi[:step]`` or ``name=a,b,c``.

    Raises
    ------
    ConfigError
        If the specification is malformed.
    """
    name, sep, rest = spec.partition("=")
    name = name.strip()
    if not sep or not name or not rest:
        raise ConfigError(
            "<command line>", "--param", f"expected NAME=LO:HI or NAME=A,B; got {spec!r}"
        )
    try:
        if ":" in rest:
            parts = rest.split(":")
            if len(parts) not in (2, 3):
                raise ValueError("use LO:HI or LO:HI:STEP")
            nums = [_number(p) for p in parts]
            lo, hi = nums[0], nums[1]
            if hi <= lo:
                raise ValueError("HI must be above LO")
            step = nums[2] if len(nums) == 3 else None
            if step is not None and step <= 0:
                raise ValueError("STEP must be positive")
            kind = "int" if all(isinstance(n, int) for n in nums) else "float"
            return Param(name, kind, float(lo), float(hi), float(step) if step else None)
        choices = tuple(_choice(c.strip()) for c in rest.split(",") if c.strip())
        if len(choices) < 1:
            raise ValueError("no choice given")
        return Param(name, "choice", choices=choices)
    except ValueError as exc:
        raise ConfigError("<command line>", "--param", f"{spec!r}: {exc}") from exc


def _choice(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return _number(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class Window:
    """One walk-forward step: train ``[train_start, train_end)``, test ``[train_end, test_end)``."""

    index: int
    train_start: float
    train_end: float
    test_end: float | None  # None: no out-of-sample period (walk-forward none)


def walk_forward(
    first: float, last: float, windows: int, mode: str, train_ratio: float
) -> list[Window]:
    """Cut ``[first, last]`` into walk-forward windows (see the module docstring)."""
    end = last + 1.0
    if mode == "none":
        return [Window(1, first, end, None)]
    test_len = (end - first) / (windows + train_ratio)
    train_len = train_ratio * test_len
    out = []
    for i in range(windows):
        t_end = first + train_len + i * test_len
        t_start = first if mode == "anchored" else t_end - train_len
        out.append(Window(i + 1, t_start, t_end, t_end + test_len))
    return out


class Pool(Protocol):
    """Where trials run."""

    def run(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Return the results in the order of ``tasks``."""
        ...

    def close(self) -> None:
        """Release the workers."""
        ...


class InlinePool:
    """Trials in this process, one after the other (``--workers 1``)."""

    def run(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [evaluate(t) for t in tasks]

    def close(self) -> None:
        return None


class ProcessPool:
    """Trials on local worker processes (spawned: no state is inherited)."""

    def __init__(self, workers: int) -> None:
        self.ex = ProcessPoolExecutor(
            max_workers=workers, mp_context=get_context("spawn"), initializer=quiet_worker
        )

    def run(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(self.ex.map(evaluate, tasks))

    def close(self) -> None:
        self.ex.shutdown(wait=True, cancel_futures=True)


class DaskPool:
    """Trials on a Dask distributed cluster (``--dask tcp://HOST:8786``).

    Every worker needs this repository importable and the data at the same path. See
    https://distributed.dask.org/en/stable/client.html (``Client.map``, ``Client.gather``).
    """

    def __init__(self, address: str) -> None:
        from distributed import Client

        try:
            self.client = Client(address, timeout="10s")
        except OSError as exc:
            raise ConfigError("<command line>", "--dask", f"cannot reach {address}: {exc}") from exc

    def run(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        futures = self.client.map(evaluate, tasks, pure=False)
        return list(self.client.gather(futures))

    def close(self) -> None:
        self.client.close()


def make_pool(workers: int, dask: str = "") -> Pool:
    """Return the pool for ``--workers`` / ``--dask``."""
    if dask:
        return DaskPool(dask)
    if workers <= 1:
        return InlinePool()
    return ProcessPool(workers)


Progress = Callable[[int, int], None]


def search(
    pool: Pool,
    base: dict[str, Any],
    space: Sequence[Param],
    *,
    method: str,
    trials: int,
    seed: int,
    batch: int,
    window: Window,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Run one window's search on its train period; return every trial's result in order."""
    tasks: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []

    def task(params: dict[str, Any]) -> dict[str, Any]:
        return {**base, "params": params, "start": window.train_start, "end": window.train_end}

    if method == "grid":
        combos = [dict(zip([p.name for p in space], vals, strict=True))
                  for vals in itertools.product(*(p.grid() for p in space))]  # fmt: skip
        if len(combos) > trials:
            combos = random.Random(seed).sample(combos, trials)
        for i in range(0, len(combos), batch):
            tasks = [task(c) for c in combos[i : i + batch]]
            results.extend(pool.run(tasks))
            if progress is not None:
                progress(len(results), len(combos))
        return results
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler: optuna.samplers.BaseSampler = (
        optuna.samplers.RandomSampler(seed=seed)
        if method == "random"
        else optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, trials // 3)))
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    dists = {p.name: _distribution(p) for p in space}
    done = 0
    while done < trials:
        n = min(batch, trials - done)
        asked = [study.ask(dists) for _ in range(n)]
        out = pool.run([task(_tidy(t.params, space)) for t in asked])
        for t, r in zip(asked, out, strict=True):
            study.tell(t, r["objective"])
        results.extend(out)
        done += n
        if progress is not None:
            progress(done, trials)
    return results


def _tidy(params: dict[str, Any], space: Sequence[Param]) -> dict[str, Any]:
    """Return a trial's parameters with continuous floats kept to 6 significant digits."""
    kinds = {p.name: p for p in space}
    return {
        k: float(f"{v:.6g}") if kinds[k].kind == "float" and not kinds[k].step else v
        for k, v in params.items()
    }


def _distribution(p: Param) -> Any:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if p.kind == "choice":
        return CategoricalDistribution(list(p.choices))
    if p.kind == "int":
        return IntDistribution(int(p.low), int(p.high), step=int(p.step or 1))
    return FloatDistribution(p.low, p.high, step=p.step)


def best_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the best trial (highest objective; the first one on a tie)."""
    return max(enumerate(results), key=lambda ir: (ir[1]["objective"], -ir[0]))[1]


def sensitivity(
    results: list[dict[str, Any]], space: Sequence[Param]
) -> dict[str, list[dict[str, Any]]]:
    """Return, per parameter, the objective's mean / min / max over trials by value (floats in
    five equal bins), ignoring undefined objectives."""
    out: dict[str, list[dict[str, Any]]] = {}
    for p in space:
        groups: dict[Any, list[float]] = {}
        for r in results:
            if r["objective"] == MISSING:
                continue
            v = r["params"][p.name]
            if p.kind == "float" and (not p.step or len(p.grid()) > GRID_FLOAT_POINTS):
                width = (p.high - p.low) / GRID_FLOAT_POINTS
                b = min(GRID_FLOAT_POINTS - 1, int((v - p.low) / width)) if width else 0
                v = f"{_clean(p.low + b * width)}..{_clean(p.low + (b + 1) * width)}"
            groups.setdefault(v, []).append(r["objective"])
        rows = []
        for v in sorted(groups, key=lambda x: (str(type(x)), x)):
            xs = groups[v]
            rows.append({"value": v, "trials": len(xs), "mean": sum(xs) / len(xs),
                         "min": min(xs), "max": max(xs)})  # fmt: skip
        out[p.name] = rows
    return out


def optimize(
    pool: Pool,
    base: dict[str, Any],
    space: Sequence[Param],
    windows: list[Window],
    *,
    method: str,
    trials: int,
    seed: int,
    batch: int,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the walk-forward study; return the optimization document (without run metadata)."""
    all_trials: list[dict[str, Any]] = []
    out_windows: list[dict[str, Any]] = []
    for w in windows:
        results = search(
            pool, base, space, method=method, trials=trials, seed=seed + w.index - 1,
            batch=batch, window=w, progress=progress,
        )  # fmt: skip
        best = best_of(results)
        guard = deflated_sharpe(
            best["returns"], [period_sharpe(r["returns"]) or 0.0 for r in results]
        )
        oos = None
        if w.test_end is not None:
            oos = pool.run(
                [{**base, "params": best["params"], "start": w.train_end, "end": w.test_end}]
            )[0]
        for r in results:
            r["window"] = w.index
        all_trials.extend(results)
        out_windows.append(
            {
                "window": w.index,
                "train": [w.train_start, w.train_end],
                "test": [w.train_end, w.test_end] if w.test_end is not None else None,
                "best_params": best["params"],
                "in_sample": _slim(best),
                "out_of_sample": _slim(oos) if oos is not None else None,
                "deflated_sharpe": guard.to_dict(),
                "trials": len(results),
            }
        )
    oos_values = [w["out_of_sample"]["objective"] for w in out_windows if w["out_of_sample"]]
    is_values = [w["in_sample"]["objective"] for w in out_windows]
    return {
        "windows": out_windows,
        "sensitivity": sensitivity(all_trials, space),
        "trials": [_slim(r) | {"window": r["window"]} for r in all_trials],
        "summary": {
            "in_sample_objective_mean": _mean(is_values),
            "out_of_sample_objective_mean": _mean(oos_values),
            "out_of_sample_pnl_usd": sum(
                w["out_of_sample"]["pnl"] for w in out_windows if w["out_of_sample"]
            )
            / 1e6,
            "min_deflated_sharpe": min(
                (
                    w["deflated_sharpe"]["dsr"]
                    for w in out_windows
                    if w["deflated_sharpe"]["dsr"] is not None
                ),
                default=None,
            ),  # fmt: skip
        },
    }


def _mean(xs: list[float]) -> float | None:
    xs = [x for x in xs if x != MISSING]
    return sum(xs) / len(xs) if xs else None


def _slim(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k not in ("returns", "metrics")}
