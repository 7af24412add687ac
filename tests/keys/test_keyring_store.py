"""``keys.backend: keyring``: the OS keyring as the key store (keyring library, a test backend)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest
import yaml

from services.keys import cli
from services.keys.backends import open_store
from services.keys.keyring_store import META, KeyringStore
from services.keys.store import KeyStore, KeyStoreError
from tests.keys.json_keyring import JsonFileKeyring
from utils.config import parse_config

PK = "0x" + "7c" * 32
SERVICE = "msb-test"


@pytest.fixture()
def ring(tmp_path: Path) -> Iterator[JsonFileKeyring]:
    before = keyring.get_keyring()
    backend = JsonFileKeyring(tmp_path / "ring.json")
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(before)


def test_keyring_round_trip_status_and_forget(ring: JsonFileKeyring) -> None:
    ks = KeyringStore(SERVICE)
    assert not ks.exists() and not ks.needs_passphrase
    with pytest.raises(KeyStoreError, match="nothing stored"):
        ks.load()
    ks.save("", {"private_key": PK, "api_key": "key-1"}, now=10.0)
    assert ks.load().get("private_key") == PK and ks.load().get("api_key") == "key-1"
    assert ks.status()["names"] == {"api_key": 10.0, "private_key": 10.0}
    meta = ring.get_password(SERVICE, META) or ""
    assert PK not in meta and "key-1" not in meta  # the index names secrets, never values
    ks.update("", {"api_secret": "s3"})
    st = ks.status()
    assert st["names"]["private_key"] == 10.0 and st["names"]["api_secret"] > 10.0
    with pytest.raises(KeyStoreError, match="no passphrase to rotate"):
        ks.rotate("a", "b")
    assert ks.forget() and not ks.exists()
    assert ring.get_password(SERVICE, "private_key") is None


def test_no_keyring_is_a_clear_error() -> None:
    before = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        with pytest.raises(KeyStoreError, match="OS keyring cannot be read.*keys.backend: file"):
            KeyringStore(SERVICE).load()
    finally:
        keyring.set_keyring(before)


def test_config_picks_the_backend(tmp_path: Path) -> None:
    cfg = parse_config({"keys": {"backend": "keyring", "keyring_service": SERVICE}}, "c.yaml")
    assert isinstance(open_store(cfg), KeyringStore)
    assert isinstance(open_store(parse_config({}, "c.yaml")), KeyStore)
    with pytest.raises(Exception, match="backend"):
        parse_config({"keys": {"backend": "vault"}}, "c.yaml")


def test_cli_set_status_forget_without_a_passphrase(
    ring: JsonFileKeyring,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"keys": {"backend": "keyring", "keyring_service": SERVICE}}))
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY", PK)
    monkeypatch.delenv("MSB_KEYS_PASSPHRASE", raising=False)  # no passphrase anywhere
    assert cli.main(["--config", str(cfg), "set", "--from-env"]) == cli.EXIT_OK
    assert ring.get_password(SERVICE, "private_key") == PK
    assert cli.main(["--config", str(cfg), "status"]) == cli.EXIT_OK
    assert cli.main(["--config", str(cfg), "rotate"]) == cli.EXIT_REFUSED
    assert cli.main(["--config", str(cfg), "forget", "--yes"]) == cli.EXIT_OK
    out = capsys.readouterr()
    assert "private_key     set " in out.out and "OS keyring" in out.out
    assert "no passphrase to rotate" in out.err
    assert PK not in out.out + out.err
    assert ring.get_password(SERVICE, "private_key") is None
