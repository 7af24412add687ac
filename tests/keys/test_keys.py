"""The encrypted key store and ``bot.py keys`` (set, status, test, rotate, forget)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from pathlib import Path

import pytest
import yaml

from services.keys.store import KeyStore, KeyStoreError
from tests.conftest import ROOT
from tests.markets.fake_clob import TEST_PRIVATE_KEY, FakeClob

PASS = "correct horse battery staple"
PK = "0x" + "5a" * 32


def test_round_trip_hides_values_and_is_private(tmp_path: Path) -> None:
    ks = KeyStore(tmp_path / "k.enc")
    ks.save(PASS, {"private_key": PK, "api_key": "key-123"}, now=1000.0)
    raw = (tmp_path / "k.enc").read_text()
    assert PK not in raw and PK[2:] not in raw and "key-123" not in raw
    assert stat.S_IMODE(os.stat(tmp_path / "k.enc").st_mode) == 0o600
    s = ks.load(PASS)
    assert s.get("private_key") == PK and s.get("api_key") == "key-123"
    assert PK not in repr(s) and "key-123" not in repr(s)
    st = ks.status()
    assert st["names"] == {"api_key": 1000.0, "private_key": 1000.0}


def test_wrong_passphrase_and_tampering_are_refused(tmp_path: Path) -> None:
    ks = KeyStore(tmp_path / "k.enc")
    ks.save(PASS, {"private_key": PK})
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        ks.load("not the passphrase at all")
    doc = json.loads((tmp_path / "k.enc").read_text())
    doc["meta"]["names"]["api_key"] = 1.0  # claim a secret that is not there
    (tmp_path / "k.enc").write_text(json.dumps(doc))
    with pytest.raises(KeyStoreError, match="altered"):
        ks.load(PASS)
    with pytest.raises(KeyStoreError, match="at least"):
        ks.save("short", {"private_key": PK})


def test_update_rotate_forget(tmp_path: Path) -> None:
    ks = KeyStore(tmp_path / "k.enc")
    ks.save(PASS, {"private_key": PK}, now=1.0)
    ks.update(PASS, {"api_key": "k2"})
    st = ks.status()
    assert st["names"]["private_key"] == 1.0 and st["names"]["api_key"] > 1.0
    ks.rotate(PASS, "a brand new passphrase")
    with pytest.raises(KeyStoreError):
        ks.load(PASS)
    assert ks.load("a brand new passphrase").get("api_key") == "k2"
    assert ks.forget() and not (tmp_path / "k.enc").exists() and not ks.forget()


async def _bot(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bot.py"),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cli_set_status_test_rotate_forget(tmp_path: Path) -> None:
    fake = FakeClob()
    url = await fake.start()
    try:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(
            yaml.safe_dump(
                {
                    "live": {
                        "clob_url": url,
                        "user_ws_url": fake.user_ws_url,
                        "keys_path": str(tmp_path / "keys.enc"),
                    }
                }
            )
        )
        secrets = {
            "POLYMARKET_PRIVATE_KEY": TEST_PRIVATE_KEY,
            "POLYMARKET_API_KEY": fake.creds["apiKey"],
            "POLYMARKET_API_SECRET": fake.creds["secret"],
            "POLYMARKET_API_PASSPHRASE": fake.creds["passphrase"],
        }
        env = {"MSB_KEYS_PASSPHRASE": PASS}
        c = ["--config", str(cfg)]
        rc, out, err = await _bot(
            "keys", *c, "set", "--from-env", env={**env, **secrets}, cwd=tmp_path
        )
        assert rc == 0, err
        assert "Stored api_key, api_passphrase, api_secret, private_key" in out
        rc, out, _ = await _bot("keys", *c, "status", env={}, cwd=tmp_path)
        assert rc == 0 and "private_key" in out and "not set" not in out
        rc, out, err = await _bot("keys", *c, "test", env=env, cwd=tmp_path)
        assert rc == 0, err
        assert "Connection OK" in out and "USDC balance 1,000.00" in out
        rc, _, err = await _bot(
            "keys", *c, "test", env={"MSB_KEYS_PASSPHRASE": "wrong one!!!!"}, cwd=tmp_path
        )
        assert rc == 1 and "wrong passphrase" in err
        rc, out, err = await _bot(
            "keys",
            *c,
            "rotate",
            env={**env, "MSB_KEYS_NEW_PASSPHRASE": "another long phrase"},
            cwd=tmp_path,
        )
        assert rc == 0, err
        assert (
            KeyStore(tmp_path / "keys.enc").load("another long phrase").get("api_key")
            == (fake.creds["apiKey"])
        )
        for text in (out, err):
            for v in secrets.values():
                assert v not in text
        rc, out, _ = await _bot("keys", *c, "forget", "--yes", env={}, cwd=tmp_path)
        assert rc == 0 and not (tmp_path / "keys.enc").exists()
    finally:
        await fake.stop()
