"""The per-app dashboard context: database sessions, config, token, clock, caches.

One :class:`Dashboard` is built by ``create_app`` and stored in ``app.extensions["dashboard"]``;
views reach it with :func:`ctx`. Nothing here is module-level state.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from flask import current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from utils.config import AppConfig

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flask_socketio import SocketIO

    from dashboard.live import LiveUpdates

T = TypeVar("T")


class VersionedCache:
    """A small LRU cache whose entries are valid only for the data version they were built on.

    Parameters
    ----------
    size : int
        Most entries kept.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, version: Hashable, build: Callable[[], T]) -> T:
        """Return the cached value of ``key`` at ``version``, building it if needed."""
        with self._lock:
            item = self._items.get(key)
            if item is not None and item[0] == version:
                self._items.move_to_end(key)
                self.hits += 1
                return item[1]  # type: ignore[no-any-return]
            self.misses += 1
        value = build()
        with self._lock:
            self._items[key] = (version, value)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


class LoginLimiter:
    """Counts failed logins per client address in a sliding one-minute window.

    Parameters
    ----------
    per_minute : int
        Failures allowed per address per 60 s; further attempts are refused until the oldest
        failure is a minute old.
    now : Callable[[], float]
        Clock (wall time, seconds).
    """

    WINDOW_S = 60.0

    def __init__(self, per_minute: int, now: Callable[[], float]) -> None:
        self.per_minute = per_minute
        self._now = now
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, addr: str) -> bool:
        """Return whether ``addr`` has used up its failures for the current minute."""
        with self._lock:
            q = self._prune(addr)
            return q is not None and len(q) >= self.per_minute

    def failed(self, addr: str) -> None:
        """Record a failed attempt from ``addr``."""
        with self._lock:
            q = self._fails.setdefault(addr, deque())
            q.append(self._now())
            if len(self._fails) > 10_000:  # bound memory under a flood of addresses
                self._fails.pop(next(iter(self._fails)))

    def _prune(self, addr: str) -> deque[float] | None:
        q = self._fails.get(addr)
        if q is None:
            return None
        cutoff = self._now() - self.WINDOW_S
        while q and q[0] < cutoff:
            q.popleft()
        if not q:
            del self._fails[addr]
            return None
        return q


@dataclass
class Dashboard:
    """Everything the views need, built once per app."""

    cfg: AppConfig
    db: Engine
    sessions: sessionmaker[Session]
    token: str = field(repr=False)
    now: Callable[[], float]
    read_login_required: bool
    limiter: LoginLimiter
    cache: VersionedCache = field(default_factory=VersionedCache)
    socketio: SocketIO | None = None
    live: LiveUpdates | None = None

    @contextmanager
    def read(self) -> Iterator[Session]:
        """Open a short read session (rolled back at the end)."""
        with self.sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """Open a short write transaction (committed at the end, rolled back on error)."""
        with self.sessions.begin() as session:
            yield session


def ctx() -> Dashboard:
    """Return the current app's :class:`Dashboard`."""
    return current_app.extensions["dashboard"]  # type: ignore[no-any-return]


def wall_time() -> float:
    """Return wall time, epoch seconds (the dashboard's default clock)."""
    return time.time()
