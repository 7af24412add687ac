"""The project's exception tree (see CONVENTIONS: errors and async)."""

from __future__ import annotations


class BotError(Exception):
    """Base of every error the bot raises on purpose."""


class ConfigError(BotError):
    """A configuration problem: stops the program before anything runs (exit code 2).

    Parameters
    ----------
    file : str
        The config file (or ``"<command line>"``).
    key : str
        The key path, e.g. ``strategies[1].params.spread_ticks``.
    message : str
        What was expected or what went wrong.
    """

    def __init__(self, file: str, key: str, message: str) -> None:
        self.file = file
        self.key = key
        self.message = message
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {message}")


class TemporaryError(BotError):
    """A transient failure (network, rate limit, busy database): retry with backoff."""


class StrategyError(BotError):
    """A strategy raised: isolates that strategy (counted, auto-disabled past a threshold)."""


class FatalEngineError(BotError):
    """An unexpected failure in a core loop: trading halts rather than running degraded."""


class FatalError(BotError):
    """A failure that retrying cannot fix (a refused request, a broken ledger): stop and say so."""


class VenueError(BotError):
    """A venue (REST, WebSocket, order entry) failed. ``temporary`` says whether to retry."""

    temporary: bool = True


def is_temporary(exc: BaseException) -> bool:
    """Return whether ``exc`` is worth retrying (temporary errors and temporary venue errors)."""
    if isinstance(exc, VenueError):
        return exc.temporary
    return isinstance(exc, TemporaryError)


class StoreError(BotError):
    """The database cannot be used (not a database, corrupt, unwritable, locked): the bot refuses
    to start (exit code 2) with what is wrong and what to do."""
