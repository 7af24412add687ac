"""Database fixtures: a migrated temp SQLite file per test (copied from one migrated template)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from database.engine import db_url_from_path, make_engine, make_session_factory, migrate
from database.writer import DbWriter


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


@pytest.fixture()
def db_url(db_path: Path) -> str:
    return db_url_from_path(db_path)


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
