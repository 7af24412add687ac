"""Dashboard fixtures: a migrated temp database, a fake wall clock, the app and clients."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dashboard.app import create_app
from database.engine import db_url_from_path, make_engine, make_session_factory, migrate
from tests.dashboard.seed import WALL, seed
from tests.pg import BACKENDS, PgServer
from utils.config import AppConfig, parse_config

TOKEN = "test-token-0123456789abcdef"


class FakeWall:
    """A settable wall clock."""

    def __init__(self, t: float = WALL) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="session")
def dash_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dashdb") / "template.db"
    migrate(db_url_from_path(path))
    return path


@pytest.fixture(scope="session")
def seeded_template(dash_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dashseed") / "seeded.db"
    shutil.copyfile(dash_template, path)
    eng = make_engine(db_url_from_path(path))
    with make_session_factory(eng).begin() as s:
        seed(s)
    eng.dispose()  # closes the last connection: SQLite folds the WAL back into the file
    return path


@pytest.fixture()
def db_path(tmp_path: Path, dash_template: Path) -> Path:
    path = tmp_path / "bot.db"
    shutil.copyfile(dash_template, path)
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The dashboard's database: SQLite, and PostgreSQL (tests/pg.py)."""
    return str(request.param)


@pytest.fixture()
def pg_db(request: pytest.FixtureRequest, backend: str) -> Iterator[str | None]:
    """The name of this test's PostgreSQL database (None on SQLite)."""
    if backend == "sqlite":
        yield None
        return
    server: PgServer = request.getfixturevalue("pg_server")
    # A test that asks for the seeded data gets a copy of the seeded template directly.
    if "seeded" in request.fixturenames:
        name = server.fresh(server.template("dash_seeded", seed))
    else:
        name = server.fresh(server.template("dash"))
    yield name
    if server.drop_after_test:
        server.drop(name)


@pytest.fixture()
def db(request: pytest.FixtureRequest, pg_db: str | None) -> Iterator[Engine]:
    if pg_db is None:
        eng = make_engine(db_url_from_path(request.getfixturevalue("db_path")))
    else:
        eng = make_engine(request.getfixturevalue("pg_server").url_of(pg_db))
    yield eng
    eng.dispose()


@pytest.fixture()
def sessions(db: Engine) -> sessionmaker[Session]:
    return make_session_factory(db)


@pytest.fixture()
def seeded(request: pytest.FixtureRequest, db: Engine, pg_db: str | None) -> sessionmaker[Session]:
    """Replace the test's database with the seeded copy (before anything reads it)."""
    if pg_db is None:  # (on PostgreSQL, pg_db is already a copy of the seeded template)
        db.dispose()
        shutil.copyfile(
            request.getfixturevalue("seeded_template"), request.getfixturevalue("db_path")
        )
    return make_session_factory(db)


@pytest.fixture()
def wall() -> FakeWall:
    return FakeWall()


@pytest.fixture()
def cfg(tmp_path: Path) -> AppConfig:
    return parse_config(
        {
            "bot": {"db_path": str(tmp_path / "bot.db")},
            "dashboard": {"token_file": str(tmp_path / "token")},
        },
        "test.yaml",
    )


_APPS: list[Flask] = []  # apps made during the current test; their pollers stop at its end


def make_app(cfg: AppConfig, db: Engine, wall: FakeWall) -> Flask:
    app = create_app(cfg, token=TOKEN, db_engine=db, now=wall, async_mode="threading")
    app.config["TESTING"] = True
    _APPS.append(app)
    return app


@pytest.fixture(autouse=True)
def _stop_live_pollers() -> Iterator[None]:
    """Stop every app's live-update poller when its test ends (before its database goes):
    a poller outliving its test printed "Live-update poll failed" at interpreter exit."""
    yield
    while _APPS:
        live = _APPS.pop().extensions["dashboard"].live
        if live is not None:
            live.stop()


@pytest.fixture()
def app(cfg: AppConfig, db: Engine, wall: FakeWall) -> Flask:
    return make_app(cfg, db, wall)


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_of(client: FlaskClient, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    m = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert m, "no CSRF meta tag"
    return m.group(1)


def login(client: FlaskClient) -> str:
    """Log the client in through the form; return the new CSRF token."""
    csrf = csrf_of(client)
    r = client.post(
        "/login", data={"token": TOKEN, "csrf_token": csrf}, headers={"Accept": "application/json"}
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    return str(r.get_json()["csrf_token"])


@pytest.fixture()
def auth(client: FlaskClient) -> tuple[FlaskClient, str]:
    """A logged-in client and its CSRF token."""
    return client, login(client)
