"""The start-up shortcut of ``migrate``: a SQLite file already at head is left to itself without
loading Alembic (issue 18); anything else still goes through Alembic."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from database.engine import (
    _sqlite_file_at_head,
    alembic_config,
    db_url_from_path,
    migrate,
    script_heads,
)

ROOT = Path(__file__).resolve().parents[2]


def test_script_heads_are_alembics_heads() -> None:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script_heads() == set(scripts.get_heads())


def test_only_a_file_at_head_takes_the_shortcut(tmp_path: Path) -> None:
    url = db_url_from_path(tmp_path / "bot.db")
    assert not _sqlite_file_at_head(url)  # no file yet
    migrate(url)
    assert _sqlite_file_at_head(url)
    command.downgrade(alembic_config(url), "-1")
    assert not _sqlite_file_at_head(url)  # one revision behind: Alembic upgrades it
    migrate(url)
    assert _sqlite_file_at_head(url)
    con = sqlite3.connect(tmp_path / "bot.db")
    con.execute("UPDATE alembic_version SET version_num = 'zzzz'")  # unknown revision
    con.commit()
    con.close()
    assert not _sqlite_file_at_head(url)
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    assert not _sqlite_file_at_head(db_url_from_path(tmp_path / "junk.db"))
    assert not _sqlite_file_at_head("sqlite://")
    assert not _sqlite_file_at_head("postgresql://bot@localhost/bot")


def test_a_database_at_head_is_opened_without_importing_alembic(tmp_path: Path) -> None:
    url = db_url_from_path(tmp_path / "bot.db")
    migrate(url)
    code = (
        "import sys; from database.engine import migrate; "
        f"migrate({url!r}); print('alembic' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
