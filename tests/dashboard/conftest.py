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


@pytest.fixture()
def db(db_path: Path) -> Iterator[Engine]:
    eng = make_engine(db_url_from_path(db_path))
    yield eng
    eng.dispose()


@pytest.fixture()
def sessions(db: Engine) -> sessionmaker[Session]:
    return make_session_factory(db)


@pytest.fixture()
def seeded(db: Engine, db_path: Path, seeded_template: Path) -> sessionmaker[Session]:
    """Replace the test's database file with the seeded copy (before anything reads it)."""
    db.dispose()
    shutil.copyfile(seeded_template, db_path)
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


def make_app(cfg: AppConfig, db: Engine, wall: FakeWall) -> Flask:
    app = create_app(cfg, token=TOKEN, db_engine=db, now=wall, async_mode="threading")
    app.config["TESTING"] = True
    return app


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
