"""The API-keys page with ``keys.backend: keyring``: no passphrase field, values never shown."""

from __future__ import annotations

from pathlib import Path

import keyring
from sqlalchemy import Engine

from tests.dashboard.conftest import FakeWall, login, make_app
from tests.keys.json_keyring import JsonFileKeyring
from utils.config import parse_config

PK = "0x" + "3d" * 32


def test_keys_page_on_the_os_keyring(tmp_path: Path, db: Engine) -> None:
    before = keyring.get_keyring()
    ring = JsonFileKeyring(tmp_path / "ring.json")
    keyring.set_keyring(ring)
    try:
        cfg = parse_config(
            {
                "bot": {"db_path": str(tmp_path / "bot.db")},
                "dashboard": {"token_file": str(tmp_path / "token")},
                "keys": {"backend": "keyring", "keyring_service": "msb-dash"},
            },
            "test.yaml",
        )
        client = make_app(cfg, db, FakeWall()).test_client()
        csrf = login(client)
        page = client.get("/keys").get_data(as_text=True)
        assert "OS keyring" in page and 'name="passphrase"' not in page
        h = {"X-CSRF-Token": csrf, "Accept": "application/json"}
        r = client.post("/keys", json={"private_key": PK}, headers=h)  # no passphrase needed
        assert r.status_code == 200 and "OS keyring" in r.get_json()["message"]
        assert ring.get_password("msb-dash", "private_key") == PK
        page = client.get("/keys").get_data(as_text=True)
        assert PK not in page and PK[2:] not in page and "set 20" in page
    finally:
        keyring.set_keyring(before)
