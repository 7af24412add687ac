"""``python bot.py`` on PostgreSQL stores what it stores on SQLite, and never logs the password.

Issue 17: against a real PostgreSQL 15 every upsert failed ("text() construct doesn't define a
bound parameter named 'key'"), the database held 0 orders, 0 fills and 0 strategies while the bot
kept trading, and the password appeared in clear in logs/bot.log. The same seeded run now leaves
identical fills, orders and positions on both backends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text

from database.engine import db_url_from_path
from tests.conftest import ROOT, run_bot
from tests.pg import PASSWORD, fresh_pg_url

pytestmark = [pytest.mark.e2e, pytest.mark.postgresql]

TABLES = {
    "fills": "select strategy, instrument_id, side, price, size, fee, liquidity, ts from fills "
    "order by id",
    "orders": "select id, strategy, instrument_id, side, price, size, filled, status from orders "
    "order by id",
    "positions": "select strategy, instrument_id, qty from positions order by 1, 2",
    "strategies": "select name, starting_capital from strategies order by name",
}


def _config(tmp_path: Path, name: str, db_url: str) -> Path:
    data = yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8"))
    data["bot"]["db_url"] = db_url
    data["bot"]["log_file"] = str(tmp_path / f"{name}.log")
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    eng = create_engine(url)
    try:
        with eng.connect() as c:
            return {k: [tuple(r) for r in c.execute(text(q))] for k, q in TABLES.items()}
    finally:
        eng.dispose()


@pytest.fixture()
def pg_url(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    yield from fresh_pg_url(request)


def test_same_run_same_rows_on_sqlite_and_postgresql(tmp_path: Path, pg_url: str) -> None:
    urls = {"sqlite": db_url_from_path(tmp_path / "bot.db"), "pg": pg_url}
    dumps = {}
    for name, url in urls.items():
        cfg = _config(tmp_path, name, url)
        proc = run_bot(
            "--config", str(cfg), "--duration", "60", "--speed", "max", "--seed", "7",
            "--quiet", "--no-dashboard",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        for out in (proc.stdout, proc.stderr, (tmp_path / f"{name}.log").read_text()):
            assert PASSWORD not in out
        log = (tmp_path / f"{name}.log").read_text()
        assert " 0 unsaved, 0 rejected." in log and " ERROR " not in log, log[-3000:]
        dumps[name] = _dump(url)
    assert "bot:***@127.0.0.1" in (tmp_path / "pg.log").read_text()  # named, redacted
    pg, lite = dumps["pg"], dumps["sqlite"]
    assert len(pg["fills"]) > 0 and len(pg["orders"]) > 0 and len(pg["strategies"]) >= 3
    for table in TABLES:
        assert pg[table] == lite[table], table
