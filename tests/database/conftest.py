"""Database fixtures: a migrated database per test, on SQLite (a temp file copied from one
migrated template) and on PostgreSQL (tests/pg.py); tests that take ``db_url`` (or ``engine``,
``session_factory``, ``writer``) run on both."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from database.engine import db_url_from_path, make_engine, make_session_factory, migrate
from database.writer import DbWriter
from tests.pg import BACKENDS, fresh_pg_url


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a database file migrated to head (copied by each test, not used directly)."""
    path = tmp_path_factory.mktemp("dbtemplate") / "template.db"
    migrate(db_url_from_path(path))
    return path


@pytest.fixture()
def db_path(tmp_path: Path, migrated_template: Path) -> Path:
    """Return the path of a fresh, migrated database file."""
    path = tmp_path / "bot.db"
    shutil.copyfile(migrated_template, path)
    return path


def sqlite_only(url: object) -> None:
    """Skip the PostgreSQL variant of a test about SQLite's own behaviour (pragmas, locks)."""
    if not str(url).startswith("sqlite"):
        pytest.skip("SQLite-specific behaviour")


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "sqlite":
        yield db_url_from_path(request.getfixturevalue("db_path"))
    else:
        yield from fresh_pg_url(request)


@pytest.fixture()
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture()
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture()
def writer(session_factory: sessionmaker[Session]) -> Iterator[DbWriter]:
    w = DbWriter(session_factory, flush_interval_s=0.02, retry_backoff_s=0.01)
    w.start()
    yield w
    w.stop()
