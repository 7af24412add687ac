"""The live-trading pages: the write-only API-keys page and the paper-vs-live report."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from services.keys.store import KeyStore
from tests.dashboard.conftest import FakeWall, login, make_app
from utils.config import parse_config

PK = "0x" + "6b" * 32
PASS = "dashboard passphrase"


def _client(tmp_path: Path, db: Engine):  # type: ignore[no-untyped-def]
    cfg = parse_config(
        {
            "bot": {"db_path": str(tmp_path / "bot.db")},
            "dashboard": {"token_file": str(tmp_path / "token")},
            "live": {"keys_path": str(tmp_path / "keys.enc")},
        },
        "test.yaml",
    )
    client = make_app(cfg, db, FakeWall()).test_client()
    return client, login(client)


def test_keys_page_is_write_only(tmp_path: Path, db: Engine) -> None:
    client, csrf = _client(tmp_path, db)
    h = {"X-CSRF-Token": csrf, "Accept": "application/json"}
    page = client.get("/keys").get_data(as_text=True)
    assert "private_key" in page and "not set" in page
    r = client.post("/keys", json={"private_key": PK, "passphrase": PASS}, headers=h)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert PK not in r.get_data(as_text=True)
    page = client.get("/keys").get_data(as_text=True)
    assert PK not in page and PK[2:] not in page
    assert "set 20" in page  # "set <date>" for private_key
    assert PK not in (tmp_path / "keys.enc").read_text()
    assert KeyStore(tmp_path / "keys.enc").load(PASS).get("private_key") == PK
    db_file = tmp_path / "bot.db"
    if db_file.exists():  # the SQLite variant (the PostgreSQL one has no file to grep)
        assert PK.encode() not in db_file.read_bytes()
    # Refusals: nothing given, a wrong passphrase, an oversized value.
    assert client.post("/keys", json={"passphrase": PASS}, headers=h).status_code == 400
    r = client.post("/keys", json={"api_key": "k", "passphrase": "wrong passphrase!"}, headers=h)
    assert r.status_code == 400 and "wrong passphrase" in r.get_json()["error"]
    r = client.post("/keys", json={"api_key": "x" * 600, "passphrase": PASS}, headers=h)
    assert r.status_code == 400
    r = client.post("/keys/test", json={"passphrase": "wrong passphrase!"}, headers=h)
    assert r.status_code == 400


def test_live_page_and_csv(tmp_path: Path, db: Engine) -> None:
    client, _ = _client(tmp_path, db)
    html = client.get("/live").get_data(as_text=True)
    assert "Paper vs live" in html and "Live trading is off" in html
    r = client.get("/live/fidelity.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.get_data(as_text=True).startswith("strategy,live_orders,twin_orders,paired")
