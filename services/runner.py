"""A strategy in the competition: its instance, context, portfolio, status and error isolation."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from services.enums import Stage, StrategyStatus
from services.instruments import Instrument
from services.portfolio import Portfolio
from services.strategies.base import Strategy, StrategyContext

log = logging.getLogger(__name__)


class StrategyRunner:
    """Owns one strategy's runtime state. Hooks run through :meth:`call`, which isolates errors.

    ``status`` is ``active``, ``paused`` (no new entries; reducing allowed) or ``disabled``.
    """

    def __init__(
        self,
        strategy: Strategy,
        ctx: StrategyContext,
        portfolio: Portfolio,
        error_limit: int,
        on_error: Callable[[StrategyRunner, str, BaseException], None],
    ) -> None:
        self.strategy = strategy
        self.name = strategy.name
        self.ctx = ctx
        self.portfolio = portfolio
        self.error_limit = error_limit
        self.errors = 0
        self.status: StrategyStatus = StrategyStatus.ACTIVE
        self.stage: Stage = Stage.PAPER
        self.status_reason: str | None = None
        self.status_since: float | None = None
        self.subscribed: dict[str, Instrument] = {}
        self.next_timer = 0.0
        self._on_error = on_error

    @property
    def enabled(self) -> bool:
        """Return whether hooks should run (paused strategies still see events, to manage exits)."""
        return self.status != "disabled"

    def call(self, hook: str, *args: Any) -> None:
        """Run a hook; an exception is logged with the strategy name, counted and isolated."""
        if self.status == "disabled":
            return
        try:
            getattr(self.strategy, hook)(self.ctx, *args)
        except Exception as exc:  # noqa: BLE001 - a strategy's bug must never take the engine down
            self.failed(hook, exc)

    def failed(self, hook: str, exc: Exception) -> None:
        """Count, log and report an exception a hook raised (the engine's inlined calls of
        ``on_book`` use it as :meth:`call` does)."""
        self.errors += 1
        log.error(
            "Strategy %s raised in %s (%d/%d): %s\n%s",
            self.name,
            hook,
            self.errors,
            self.error_limit,
            exc,
            "".join(traceback.format_exception(exc)[-3:]),
            extra={"strategy": self.name, "hook": hook},
        )
        self._on_error(self, hook, exc)
