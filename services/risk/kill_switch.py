"""The kill switch: a trading state machine, not a flag.

``ACTIVE`` -> ``REDUCING`` (only position-reducing intents and cancels) -> ``HALTED`` (only
cancels). Activation (a control command, ``kill_switch: true`` in config.yaml, SIGUSR1, or the
portfolio-drawdown breaker) goes to ``REDUCING`` when positions are to be closed, else straight to
``HALTED``; ``REDUCING`` becomes ``HALTED`` once nothing is left to close (or after
``flatten_timeout_s``). Only an explicit deactivation with the confirmation token and a reason
returns to ``ACTIVE``. The state round-trips through ``bot_state["kill_switch"]``, so a bot started
while the switch is active stays halted.

This module is the pure state machine; :mod:`services.risk.safety` applies it to the engine
(cancelling orders, disabling strategies, submitting the closing orders).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from utils.errors import BotError

CONFIRM_TOKEN = "CONFIRM"
"""The token a deactivation must carry (``confirm: "CONFIRM"``)."""


class TradingState(StrEnum):
    """What the risk chain lets through."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class KillSwitchError(BotError, ValueError):
    """A kill-switch request was refused (shown to the user as the command's result)."""


@dataclass
class KillSwitch:
    """The trading state and why it is what it is (times are event time, epoch seconds)."""

    state: TradingState = TradingState.ACTIVE
    reason: str | None = None
    source: str | None = None
    since_ts: float | None = None
    flatten: bool = False
    reducing_deadline_ts: float | None = None
    flatten_targets: list[tuple[str, str]] | None = None  # None: every position
    latency_ms: float | None = None
    activations: int = 0
    deactivated_ts: float | None = None
    deactivate_reason: str | None = None

    @property
    def active(self) -> bool:
        """Return whether trading is stopped (REDUCING or HALTED)."""
        return self.state is not TradingState.ACTIVE

    def activate(
        self, now: float, reason: str, source: str, flatten: bool, timeout_s: float
    ) -> bool:
        """Stop trading; return False if it was already stopped and nothing changes.

        A second activation asking to flatten an already HALTED switch moves it to REDUCING.
        """
        reason = reason.strip() or f"activated by {source}"
        if self.active:
            if flatten and self.state is TradingState.HALTED:
                self.start_reducing(now, timeout_s, None)
                self.flatten = True
                return True
            return False
        self.state = TradingState.REDUCING if flatten else TradingState.HALTED
        self.reason = reason
        self.source = source
        self.since_ts = now
        self.flatten = flatten
        self.flatten_targets = None
        self.reducing_deadline_ts = now + timeout_s if flatten else None
        self.latency_ms = None
        self.activations += 1
        return True

    def start_reducing(
        self, now: float, timeout_s: float, targets: list[tuple[str, str]] | None
    ) -> None:
        """Let reducing orders through (while stopped) until ``targets`` are closed."""
        if not self.active:
            raise KillSwitchError("the kill switch is not active")
        was_reducing = self.state is TradingState.REDUCING
        self.state = TradingState.REDUCING
        self.reducing_deadline_ts = now + timeout_s
        if targets is None:
            self.flatten_targets = None
        elif not was_reducing:
            self.flatten_targets = sorted(set(targets))
        elif self.flatten_targets is not None:  # already closing everything: keep None
            self.flatten_targets = sorted(set(self.flatten_targets) | set(targets))

    def halt(self) -> None:
        """REDUCING -> HALTED (nothing left to close, or the flatten timed out)."""
        if self.state is TradingState.REDUCING:
            self.state = TradingState.HALTED
            self.reducing_deadline_ts = None
            self.flatten_targets = None

    def deactivate(self, now: float, reason: str, confirm: str | None) -> None:
        """Return to ACTIVE; raise KillSwitchError without the token or a reason."""
        if not self.active:
            raise KillSwitchError("the kill switch is not active")
        if confirm != CONFIRM_TOKEN:
            raise KillSwitchError(
                f"deactivation needs the confirmation token {CONFIRM_TOKEN!r} (got {confirm!r})"
            )
        if not reason or not reason.strip():
            raise KillSwitchError("deactivation needs a reason")
        self.state = TradingState.ACTIVE
        self.deactivated_ts = now
        self.deactivate_reason = reason.strip()
        self.flatten = False
        self.flatten_targets = None
        self.reducing_deadline_ts = None

    def to_dict(self) -> dict[str, Any]:
        """Return the ``bot_state["kill_switch"]`` record."""
        return {
            "state": self.state.value,
            "active": self.active,
            "reason": self.reason,
            "source": self.source,
            "since_ts": self.since_ts,
            "flatten": self.flatten,
            "reducing_deadline_ts": self.reducing_deadline_ts,
            "flatten_targets": self.flatten_targets,
            "latency_ms": self.latency_ms,
            "activations": self.activations,
            "deactivated_ts": self.deactivated_ts,
            "deactivate_reason": self.deactivate_reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> KillSwitch:
        """Rebuild from :meth:`to_dict` output (None or garbage: ACTIVE)."""
        if not isinstance(d, dict):
            return cls()
        try:
            state = TradingState(str(d.get("state", "ACTIVE")).upper())
        except ValueError:
            state = TradingState.HALTED  # unknown state: fail safe
        targets = d.get("flatten_targets")
        return cls(
            state=state,
            reason=d.get("reason"),
            source=d.get("source"),
            since_ts=d.get("since_ts"),
            flatten=bool(d.get("flatten")),
            reducing_deadline_ts=d.get("reducing_deadline_ts"),
            flatten_targets=None if targets is None else [tuple(t) for t in targets],  # type: ignore[misc]
            latency_ms=d.get("latency_ms"),
            activations=int(d.get("activations") or 0),
            deactivated_ts=d.get("deactivated_ts"),
            deactivate_reason=d.get("deactivate_reason"),
        )
