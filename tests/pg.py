"""A real PostgreSQL server for the dual-backend tests (storage, control, dashboard).

The server comes from, in order:

1. ``TEST_POSTGRES_URL``: an admin URL (``postgresql+psycopg://user:pass@host:port/postgres``)
   of a running server on which the tests may create and drop databases;
2. a private throw-away cluster started by this module with Debian's ``postgresql-15`` binaries
   (``initdb`` + ``pg_ctl`` in a temp folder, in memory when ``/dev/shm`` has room; 127.0.0.1
   on a free port, password authentication), stopped at the end of the session. As root, the
   cluster runs as the ``postgres`` user (the server refuses to run as root).

When neither is possible the PostgreSQL variants are skipped, except under CI (``CI=true``),
where ``.ci/run`` installs the server package, so they fail instead.

Each test gets its own database, created from a migrated template database (``CREATE DATABASE
... TEMPLATE``, a file copy on the server: ~0.1 s in memory), dropped at teardown (on a
private cluster, all at once with the cluster at the end of the session).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url

PG_BIN_DIRS = (
    "/usr/lib/postgresql/15/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/17/bin",
)
PASSWORD = "pg-test-secret"  # a throw-away cluster on 127.0.0.1, deleted after the session
_counter = itertools.count()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin_dir() -> Path | None:
    for d in PG_BIN_DIRS:
        if Path(d, "initdb").exists():
            return Path(d)
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def _cluster_parent() -> str | None:
    """Where the throw-away cluster lives: memory (``/dev/shm``) when it has room, else the temp
    folder. On disk each per-test ``CREATE DATABASE`` cost ~0.5 s (its checkpoint) and deleting
    the ~400 databases at the end of a full run took minutes on a busy disk; in memory the
    create costs ~0.09 s and the clean-up a few seconds. A full run leaves ~3 GB there until the
    session ends."""
    shm = "/dev/shm"
    try:
        st = os.statvfs(shm)
    except OSError:
        return None
    return shm if st.f_bavail * st.f_frsize >= SHM_NEEDED_BYTES else None


SHM_NEEDED_BYTES = 6 * 1024**3


class PrivateCluster:
    """A throw-away PostgreSQL cluster in a temp folder."""

    def __init__(self) -> None:
        bindir = _bin_dir()
        if bindir is None:
            raise RuntimeError(
                "no PostgreSQL server binaries (Debian: apt-get install postgresql-15)"
            )
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="bot-pg-", dir=_cluster_parent()))
        self.port = _free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            # The server refuses to run as root: run it as Debian's postgres user.
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres")
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n", encoding="utf-8")
        if self._as:
            shutil.chown(pwfile, "postgres")
        data = self.root / "data"
        self._run(
            str(bindir / "initdb"), "-D", str(data), "-U", "bot", f"--pwfile={pwfile}",
            "--auth=scram-sha-256", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(bindir / "pg_ctl"), "-D", str(data), "-o", opts,
            "-l", str(self.root / "server.log"), "-w", "-t", "30", "start",
        )  # fmt: skip
        self.data = data
        self.admin_url = f"postgresql+psycopg://bot:{PASSWORD}@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str) -> None:
        subprocess.run([*self._as, *cmd], check=True, capture_output=True, timeout=60)

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _admin_exec(admin_url: str, *sql: str) -> None:
    eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as c:
            for s in sql:
                c.exec_driver_sql(s)
    finally:
        eng.dispose()


class PgServer:
    """Creates migrated databases on one server.

    On a private cluster the per-test databases are left in place (the whole cluster is deleted
    at the end of the session, which is faster than a drop per test); on a server named by
    ``TEST_POSTGRES_URL`` each is dropped after its test.
    """

    def __init__(self, admin_url: str, *, drop_after_test: bool = True) -> None:
        self.admin_url = admin_url
        self.drop_after_test = drop_after_test
        self.templates: dict[str, str] = {}

    def url_of(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def template(self, name: str, seed: object = None) -> str:
        """Return (creating once) a migrated template database ``name``; ``seed(session)``
        fills it."""
        if name not in self.templates:
            from database.engine import make_engine, make_session_factory, migrate

            db = f"bot_tpl_{name}_{os.getpid()}"
            _admin_exec(
                self.admin_url, f'DROP DATABASE IF EXISTS "{db}"', f'CREATE DATABASE "{db}"'
            )
            url = self.url_of(db)
            migrate(url)
            if seed is not None:
                eng = make_engine(url)
                with make_session_factory(eng).begin() as s:
                    seed(s)  # type: ignore[operator]
                eng.dispose()
            self.templates[name] = db
        return self.templates[name]

    def fresh(self, template: str) -> str:
        """Create a database copied from ``template``; return its name."""
        db = f"bot_t{os.getpid()}_{next(_counter)}"
        # FILE_COPY: a small database copies in a few milliseconds (WAL_LOG logs every block).
        _admin_exec(
            self.admin_url, f'CREATE DATABASE "{db}" TEMPLATE "{template}" STRATEGY FILE_COPY'
        )
        return db

    def drop(self, db: str) -> None:
        _admin_exec(self.admin_url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def _start() -> tuple[PgServer, PrivateCluster | None]:
    url = os.environ.get("TEST_POSTGRES_URL")
    if url:
        return PgServer(url), None
    cluster = PrivateCluster()
    return PgServer(cluster.admin_url, drop_after_test=False), cluster


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server the test may create databases on (skipped when none can start)."""
    try:
        server, cluster = _start()
        _admin_exec(server.admin_url, "SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any reason to have no server means "skip"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must provide PostgreSQL for the dual-backend tests: {exc}")
        pytest.skip(f"no PostgreSQL server available: {exc}")
    try:
        yield server
    finally:
        for db in server.templates.values():
            with contextlib.suppress(Exception):  # best-effort clean-up of a test server
                server.drop(db)
        if cluster is not None:
            cluster.stop()


def fresh_pg_url(
    request: pytest.FixtureRequest, name: str = "migrated", seed: object = None
) -> Iterator[str]:
    """Yield the URL of a fresh migrated database (seeded by ``seed``); drop it afterwards."""
    server: PgServer = request.getfixturevalue("pg_server")
    db = server.fresh(server.template(name, seed))
    try:
        yield server.url_of(db)
    finally:
        if server.drop_after_test:
            _drop_retrying(server, db)


def _drop_retrying(server: PgServer, db: str) -> None:
    deadline = time.monotonic() + 5
    while True:
        try:
            server.drop(db)
            break
        except Exception:  # noqa: BLE001 - a closing connection may race the drop
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
"""Parameters of a dual-backend fixture."""
