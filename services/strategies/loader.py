"""Find strategy classes (built-in names, ``file.py:Class`` or ``module:Class``) and build them."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from services.strategies.base import Strategy
from utils.config import AppConfig, StrategyEntry, first_error
from utils.errors import ConfigError

log = logging.getLogger(__name__)

BUILTINS: dict[str, str] = {
    "MarketMaker": "services.strategies.market_maker:MarketMaker",
    "ComplementArbitrage": "services.strategies.complement_arb:ComplementArbitrage",
    "NegRiskArbitrage": "services.strategies.neg_risk_arb:NegRiskArbitrage",
    "Momentum": "services.strategies.momentum:Momentum",
    "MeanReversion": "services.strategies.mean_reversion:MeanReversion",
    "FavoriteLongshot": "services.strategies.favorite_longshot:FavoriteLongshot",
    "TailValue": "services.strategies.tail_value:TailValue",
    "BetfairValueBacker": "services.strategies.betfair_value:BetfairValueBacker",
    "BetfairBackLayTrader": "services.strategies.betfair_trader:BetfairBackLayTrader",
}
"""Built-in strategy names and where they live."""


REPO_ROOT = Path(__file__).resolve().parent.parent.parent


class StrategyFileMissingError(ConfigError):
    """A ``file.py:Class`` strategy names a file that does not exist."""


def resolve_class(spec: str, base_dir: Path, file: str, key: str) -> type[Strategy]:
    """Return the Strategy subclass named by ``spec``.

    ``spec`` is a built-in name (``MarketMaker``), ``path/to/file.py:ClassName`` (relative to the
    config file's folder) or a dotted ``package.module:ClassName`` / ``package.module.ClassName``.
    """
    target = BUILTINS.get(spec, spec)
    if ":" in target:
        mod_part, cls_name = target.rsplit(":", 1)
    elif "." in target:
        mod_part, cls_name = target.rsplit(".", 1)
    else:
        names = ", ".join(sorted(BUILTINS))
        raise ConfigError(file, key, f"unknown strategy class {spec!r}; built-ins are: {names}")
    try:
        if mod_part.endswith(".py"):
            path = Path(mod_part)
            if not path.is_absolute():
                near = (base_dir / path).resolve()
                # A config kept outside the repository still finds the bundled examples/.
                bundled = (REPO_ROOT / path).resolve()
                path = near if near.is_file() or not bundled.is_file() else bundled
            if not path.is_file():
                raise StrategyFileMissingError(
                    file,
                    key,
                    f"strategy file {path} does not exist (a relative path is resolved from the "
                    f"config file's folder {base_dir}, then from {REPO_ROOT})",
                )
            mod_name = f"user_strategy_{path.stem}"
            mod = sys.modules.get(mod_name)
            if mod is None:
                spec_obj = importlib.util.spec_from_file_location(mod_name, path)
                if spec_obj is None or spec_obj.loader is None:
                    raise ConfigError(file, key, f"cannot load {path} as a Python module")
                mod = importlib.util.module_from_spec(spec_obj)
                sys.modules[mod_name] = mod
                try:
                    spec_obj.loader.exec_module(mod)
                except Exception as exc:  # a user's file may raise anything at import time
                    del sys.modules[mod_name]
                    raise ConfigError(
                        file, key, f"importing {path} failed: {type(exc).__name__}: {exc}"
                    ) from exc
            where = str(path)
        else:
            mod = importlib.import_module(mod_part)
            where = mod_part
    except ModuleNotFoundError as exc:
        raise ConfigError(file, key, f"cannot import module {mod_part!r}: {exc}") from None
    cls = getattr(mod, cls_name, None)
    if cls is None:
        raise ConfigError(file, key, f"{where} has no class {cls_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ConfigError(file, key, f"{where}:{cls_name} is not a Strategy subclass")
    return cls


def build_strategy(entry: StrategyEntry, index: int, base_dir: Path, file: str) -> Strategy:
    """Instantiate one configured strategy, validating its parameters."""
    cls = resolve_class(entry.class_, base_dir, file, f"strategies[{index}].class")
    try:
        params = cls.Params.model_validate(entry.params)
    except ValidationError as exc:
        key, msg = first_error(exc, prefix=f"strategies[{index}].params")
        raise ConfigError(
            file, key, f"{msg} [strategy {entry.name}, class {cls.__name__}]"
        ) from None
    return cls(entry.name, params)


def build_strategies(cfg: AppConfig, config_file: str) -> list[Strategy]:
    """Instantiate every *enabled* strategy (disabled ones are still validated)."""
    base_dir = Path(config_file).resolve().parent if config_file else Path.cwd()
    out: list[Strategy] = []
    for i, entry in enumerate(cfg.strategies):
        try:
            strat = build_strategy(entry, i, base_dir, config_file)
        except StrategyFileMissingError as exc:
            if entry.enabled:
                raise
            # A disabled strategy whose file is absent does not stop the bot.
            log.warning("Disabled strategy %s is not checked: %s", entry.name, exc)
            continue
        if entry.enabled:
            out.append(strat)
    return out
