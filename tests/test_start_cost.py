"""What ``bot.py``'s start does not pay for (issue 18): a SQLite run does not load the PostgreSQL
dialect, and the config file's text, read twice at start (``bot.py``, then the config watcher's
baseline), is parsed once. Both must leave behaviour unchanged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.dialects.postgresql import dialect as pg_dialect

import utils.config as config_mod
from database.engine import db_url_from_path, migrate, upsert_statement
from database.models import Base
from utils.config import read_yaml
from utils.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_a_sqlite_run_does_not_load_the_postgresql_dialect(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    migrate(db_url_from_path(db))  # a new file goes through Alembic, which loads every dialect
    code = (
        "import sys\n"
        "from database.engine import db_url_from_path, migrate, make_engine, upsert_statement\n"
        "from database.models import Base\n"
        f"url = db_url_from_path({str(db)!r}); migrate(url); eng = make_engine(url)\n"
        "t = Base.metadata.tables['market_tops']\n"
        "with eng.connect() as c: upsert_statement(c.dialect, t, [col.name for col in t.c])\n"
        "print('sqlalchemy.dialects.postgresql' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_postgresql_upserts_still_build_with_the_dialect_imported_late() -> None:
    table = Base.metadata.tables["market_tops"]
    stmt = upsert_statement(pg_dialect(), table, [c.name for c in table.c])
    sql = str(stmt.compile(dialect=pg_dialect()))
    assert "ON CONFLICT" in sql and "DO UPDATE SET" in sql


def test_the_same_config_text_is_parsed_once_and_handed_out_as_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = config_mod._parse_yaml

    def counting(text: str) -> object:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(config_mod, "_parse_yaml", counting)
    cfg = tmp_path / "config.yaml"
    cfg.write_text("market_data:\n  seed: 7\n  sim:\n    markets: 3\n")
    first = read_yaml(cfg)
    first["market_data"]["seed"] = 99  # what bot.py's overrides do to the document
    first["market_data"]["sim"]["markets"] = 1
    second = read_yaml(cfg)
    assert second == {"market_data": {"seed": 7, "sim": {"markets": 3}}}
    assert len(calls) == 1
    cfg.write_text("market_data:\n  seed: 8\n")  # another text is parsed again
    assert read_yaml(cfg) == {"market_data": {"seed": 8}}
    assert len(calls) == 2
    cfg.write_text("market_data: [unclosed\n")  # an error is never remembered
    for _ in range(2):
        with pytest.raises(ConfigError):
            read_yaml(cfg)
    assert len(calls) == 4
    cfg.write_text("market_data:\n  seed: 8\n")
    assert read_yaml(cfg) == {"market_data": {"seed": 8}}
    assert len(calls) == 4  # still remembered: a failed text replaces nothing
