"""``ChildSimFeed``: the simulated venue generated in a child process (issue 18).

Generating the simulator's events costs about twice what the engine spends on them, and on the
engine's thread it adds to every event ``bot.py`` processes. ``ChildSimFeed`` runs the same
:class:`~services.markets.sim.feed.SimFeed` (same config, seed, start and adopted markets, so
the same events, batch for batch) in a child process on another CPU core and hands its batches
to the engine through a pipe; the engine's thread only unpickles them (about 0.6 us per event).

How it works, and why this way (``docs/PERFORMANCE.md``, sixth round):

- **Start method: fork where the platform has it, else spawn.** A forked child starts in
  milliseconds and inherits the imported modules; a spawned one re-imports NumPy and pydantic
  (about 0.5 CPU s and a second of wall time on a loaded machine), which is most of a short run.
  ``bot.py`` has threads by then (the database writer, the thread pool): the child touches no
  lock they could hold (no logging, no database, no event loop: it only generates, pickles and
  writes to its pipe) and leaves the process with ``os._exit``. The feed is rebuilt in the
  child from its settings (``SimFeed`` is not picklable), so spawn gives the same events.
- **Encoding: pickle, with ``BookDelta`` and ``TradePrint`` as constructor calls** (a pickler
  ``reducer_override``). Per 32 batches (about 300 events): 1.0 us per event to write, 0.6 to
  read, against 2.0 / 0.9 for pickling the objects as they are; strings and the ``Side`` members
  are pickled once per message. Reading builds the events in C, with no Python loop per event.
- **Flow control by the pipe.** The child runs ahead of the engine until the pipe's buffer
  (1 MB where the system allows) is full, then blocks in ``write``. Memory stays bounded and
  pacing (``--speed``) happens in the parent on the events' timestamps, as for the in-thread
  feed; reading never blocks the event loop (``loop.add_reader`` when no message is ready).
- **Faults.** The child dies with the parent: it asks the kernel for SIGKILL when its parent
  exits (``PR_SET_PDEATHSIG``, Linux), and a write to a pipe whose reader is gone fails
  (``BrokenPipeError``: it exits quietly). It ignores SIGINT, SIGTERM and SIGUSR1, which a
  terminal's Ctrl-C or a service manager send to the whole process group: the parent decides
  when to stop and stops it. An exception in the child is sent to the parent with its
  traceback and raised there as :class:`SimProcessError`; a child that dies without a word
  (killed from outside) is seen as the end of the pipe and raised the same way, with its exit
  status. ``close()`` (any stop of the bot) ends the child and reaps it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import io
import logging
import multiprocessing as mp
import os
import pickle
import signal
import sys
import traceback
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from services.events import BookDelta, MarketEvent, TradePrint
from services.instruments import Instrument
from services.markets.base import Pacer
from services.markets.sim.config import SimConfig

log = logging.getLogger(__name__)

CHUNK_EVENTS = 256
"""Events per pipe message (whole batches; about 13 KB). Larger messages cost more to read in
the parent (allocation and the collector), smaller ones more per message."""

PIPE_BYTES = 1 << 20
"""Pipe buffer asked for (``F_SETPIPE_SZ``): how far the child may run ahead of the engine."""

_STOP_WAIT_S = 2.0  # how long close() waits for the child to leave before killing it
_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP}
_LIVE: set[Any] = set()  # children not yet reaped: killed at exit (see _kill_at_exit)


class SimProcessError(RuntimeError):
    """The simulator's child process failed or ended before its stream did."""


def resolve_process(mode: str) -> str:
    """Return ``"child"`` or ``"thread"`` for a ``market_data.sim.process`` setting.

    ``auto`` is ``child`` when at least two CPU cores are available to this process (the
    child's work is then done beside the engine's), else ``thread`` (on one core a child only
    adds the pipe's cost).
    """
    if mode != "auto":
        return mode
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    return "child" if cores >= 2 else "thread"


@dataclass
class _Settings:
    """Everything the child needs to rebuild the feed (picklable, for spawn)."""

    config: SimConfig
    seed: int
    start_ts: float
    duration_s: float | None
    adopted: list[tuple[list[Instrument], dict[str, int]]] = field(default_factory=list)
    chunk_events: int = CHUNK_EVENTS
    parent_pid: int = 0


class _EventPickler(pickle.Pickler):
    """Pickle the two frequent events as constructor calls (cheaper both ways than their
    ``__slots__`` state; the rebuilt events are equal, same types, same field values)."""

    def reducer_override(self, obj: Any) -> Any:
        tp = type(obj)
        if tp is BookDelta:
            return BookDelta, (obj.ts, obj.instrument_id, obj.changes)
        if tp is TradePrint:
            return TradePrint, (obj.ts, obj.instrument_id, obj.price, obj.size, obj.aggressor)
        return NotImplemented


def encode(batches: list[list[MarketEvent]]) -> bytes:
    """Return one pipe message holding ``batches`` (see :func:`decode`)."""
    buf = io.BytesIO()
    _EventPickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(batches)
    return buf.getvalue()


def decode(data: bytes) -> Any:
    """Return what :func:`encode` (a list of batches) or the child's last message (a tuple)
    held."""
    return pickle.loads(data)


# ---------------------------------------------------------------------------------- the child
def _prctl(option: int, arg: int | bytes) -> None:
    """Call prctl(2) (Linux); do nothing elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(option, arg, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _child_setup(parent_pid: int) -> None:
    """Detach the child from the parent's signals and tie its life to the parent's."""
    # Inherited from a forked parent: asyncio's wake-up descriptor (a signal here would wake the
    # PARENT's loop) and its handlers. The parent stops the child; the child ignores these.
    with contextlib.suppress(ValueError, OSError):
        signal.set_wakeup_fd(-1)
    for sig in _SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)  # the parent blocked them around fork
    _prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG: killed when the parent exits
    _prctl(15, b"bot-sim")  # PR_SET_NAME: `ps -e` shows the child as bot-sim
    if parent_pid and os.getppid() != parent_pid:  # the parent died before prctl
        os._exit(0)
    gc.freeze()  # a forked child never scans (and so never copies) the parent's objects


def _child_main(conn: Connection, settings: _Settings, close_fd: int) -> None:
    """Generate the stream and send it; the last message is ``("end", instruments, cpu_s)``
    or ``("error", text)``."""
    if close_fd >= 0:
        with contextlib.suppress(OSError):
            os.close(close_fd)  # the parent's reading end, inherited by fork
    _child_setup(settings.parent_pid)
    try:
        from services.markets.sim.feed import SimFeed

        feed = SimFeed(
            settings.config,
            seed=settings.seed,
            start_ts=settings.start_ts,
            duration_s=settings.duration_s,
        )
        for instruments, mids in settings.adopted:
            feed.adopt(instruments, mids)
        limit = settings.chunk_events
        send = conn.send_bytes
        buf: list[list[MarketEvent]] = []
        n = 0
        for batch in feed.iter_batches():
            buf.append(batch)
            n += len(batch)
            if n >= limit:
                send(encode(buf))
                buf = []
                n = 0
        if buf:
            send(encode(buf))
        t = os.times()
        send(pickle.dumps(("end", feed.instruments(), t.user + t.system)))
    except (BrokenPipeError, ConnectionResetError):
        os._exit(0)  # the parent closed the pipe (it stopped, or died): nothing to report
    except BaseException as exc:  # noqa: BLE001 - everything goes to the parent
        text = "".join(traceback.format_exception(exc))
        with contextlib.suppress(OSError):
            conn.send_bytes(pickle.dumps(("error", f"{type(exc).__name__}: {exc}", text)))
        sys.stderr.write(text)
        sys.stderr.flush()
        os._exit(1)
    conn.close()
    os._exit(0)


def _context() -> Any:
    """fork where available (fast start, see the module's notes), else spawn."""
    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods else "spawn")


# ---------------------------------------------------------------------------------- the parent
class ChildSimFeed:
    """The simulated venue of :class:`SimFeed`, generated in a child process.

    Same parameters and the same events as ``SimFeed`` (``tests/markets/test_sim_process.py``);
    ``batches()`` starts the child, paces the batches at ``speed`` in the parent and raises
    :class:`SimProcessError` if the child fails or dies. ``instruments()`` is known once the
    stream has ended.
    """

    name = "sim"

    def __init__(
        self,
        config: SimConfig,
        seed: int,
        start_ts: float,
        speed: float | None = None,
        duration_s: float | None = None,
        start_method: str | None = None,
    ) -> None:
        self._settings = _Settings(config, int(seed), float(start_ts), duration_s)
        self._speed = speed
        self._start_method = start_method
        self._proc: Any = None
        self._conn: Connection | None = None
        self._started = False
        self._closed = False
        self._final: list[Instrument] | None = None
        self.child_cpu_s: float | None = None
        """The child's CPU seconds, once its stream has ended (benchmarks read it)."""

    @property
    def pid(self) -> int | None:
        """The child's process id once started."""
        return None if self._proc is None else int(self._proc.pid)

    def adopt(self, instruments: list[Instrument], mids: dict[str, int]) -> None:
        """Re-list carried-over instruments (``SimFeed.adopt``, done in the child).

        Raises
        ------
        RuntimeError
            If the feed has already started.
        """
        if self._started:
            raise RuntimeError("ChildSimFeed.adopt() must be called before the feed starts")
        self._settings.adopted.append((list(instruments), dict(mids)))

    def instruments(self) -> list[Instrument]:
        """The listed, not yet resolved instruments at the end of the stream.

        Raises
        ------
        RuntimeError
            Before the stream has ended (the state lives in the child until then).
        """
        if self._final is None:
            raise RuntimeError("ChildSimFeed.instruments() is known once the stream has ended")
        return list(self._final)

    # ------------------------------------------------------------------ child lifecycle
    def _start(self) -> None:
        if self._started:
            raise RuntimeError("ChildSimFeed.batches() can only be iterated once")
        self._started = True
        ctx: Any = mp.get_context(self._start_method) if self._start_method else _context()
        recv, send = ctx.Pipe(duplex=False)
        _grow_pipe(send.fileno())
        self._settings.parent_pid = os.getpid()
        forked = ctx.get_start_method() == "fork"
        proc = ctx.Process(
            target=_child_main,
            args=(send, self._settings, recv.fileno() if forked else -1),
            name="bot-sim",
            daemon=True,
        )
        # Signals that arrive between fork and the child's own handlers must not run the
        # parent's (inherited) handlers there: blocked around the start, unblocked on both sides.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            proc.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        send.close()  # the child holds the only writing end: its exit is our end of file
        self._proc, self._conn = proc, recv
        if not _LIVE:
            # Registered after multiprocessing's own exit hook, so it runs first: that hook
            # would wait forever for a child that ignores SIGTERM and has not been stopped.
            atexit.register(_kill_at_exit)
        _LIVE.add(proc)
        log.info(
            "Simulated market running in child process %d (%s).", proc.pid, ctx.get_start_method()
        )

    def _stop(self) -> None:
        """End the child (if running) and reap it; idempotent."""
        conn, proc = self._conn, self._proc
        self._conn = None
        if conn is not None:
            conn.close()  # a child blocked in write (or at its next one) gets EPIPE and leaves
        if proc is None:
            return
        proc.join(_STOP_WAIT_S if proc.is_alive() else None)
        if proc.is_alive():
            proc.kill()
            proc.join(_STOP_WAIT_S)
        _LIVE.discard(proc)

    def _died(self, what: str) -> SimProcessError:
        proc = self._proc
        assert proc is not None
        proc.join(_STOP_WAIT_S)
        code = proc.exitcode
        if code is None:
            how = "its pipe closed while it still runs"
        elif code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = f"exit status {code}"
        return SimProcessError(
            f"The simulated market's process ({proc.pid}) {what} ({how}); the bot stops."
        )

    async def _receive(self, loop: asyncio.AbstractEventLoop) -> Any:
        """The next message, awaiting the pipe without blocking the event loop."""
        conn = self._conn
        assert conn is not None
        if not conn.poll():
            ready: asyncio.Future[None] = loop.create_future()
            fd = conn.fileno()

            def wake() -> None:
                if not ready.done():
                    ready.set_result(None)

            loop.add_reader(fd, wake)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
        try:
            return decode(conn.recv_bytes())
        except (EOFError, OSError) as exc:
            raise self._died("ended before its stream did") from exc

    # ------------------------------------------------------------------ Feed interface
    async def batches(self) -> AsyncGenerator[list[MarketEvent], None]:
        """Yield the simulator's batches, paced at ``speed`` (as ``SimFeed.batches()``).

        Raises
        ------
        SimProcessError
            If the child raised (its traceback is in the message) or died.
        """
        self._start()
        loop = asyncio.get_running_loop()
        # paced()'s rule; pacing starts with the first batch (after the child's start)
        wait = Pacer(self._speed, self._settings.start_ts).wait
        try:
            while not self._closed:
                msg = await self._receive(loop)
                if type(msg) is tuple:
                    if msg[0] == "end":
                        self._final, self.child_cpu_s = msg[1], msg[2]
                        log.info("The simulated market's process used %.2f CPU s.", msg[2])
                        return
                    assert msg[0] == "error"
                    log.error("The simulated market's process failed:\n%s", msg[2])
                    raise SimProcessError(
                        f"The simulated market's process failed: {msg[1]} (its traceback is "
                        "in the log); the bot stops."
                    )
                for batch in msg:
                    await wait(batch)
                    if self._closed:
                        return
                    yield batch
        finally:
            self._stop()

    def iter_batches(self) -> Iterator[list[MarketEvent]]:
        """Yield the batches synchronously, unpaced (benchmarks and tests without a loop).

        Raises
        ------
        SimProcessError
            As ``batches()``.
        """
        self._start()
        conn = self._conn
        assert conn is not None
        try:
            while True:
                try:
                    msg = decode(conn.recv_bytes())
                except (EOFError, OSError) as exc:
                    raise self._died("ended before its stream did") from exc
                if type(msg) is tuple:
                    if msg[0] == "end":
                        self._final, self.child_cpu_s = msg[1], msg[2]
                        return
                    raise SimProcessError(f"The simulated market's process failed: {msg[1]}")
                yield from msg
        finally:
            self._stop()

    async def close(self) -> None:
        """Stop the stream and end the child."""
        self._closed = True
        self._stop()


def _kill_at_exit() -> None:
    """Kill and reap children whose feed was never closed (the parent is exiting)."""
    for proc in list(_LIVE):
        if proc.is_alive():
            proc.kill()
        proc.join(_STOP_WAIT_S)
    _LIVE.clear()


def _grow_pipe(fd: int) -> None:
    """Ask for a larger pipe buffer (Linux ``F_SETPIPE_SZ``); keep the default if refused."""
    try:
        import fcntl

        fcntl.fcntl(fd, 1031, PIPE_BYTES)  # F_SETPIPE_SZ
    except (ImportError, OSError):
        pass
