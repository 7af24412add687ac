"""The dashboard's "test connection" under the production server: ``start_dashboard.py`` (gevent,
monkey-patched, Flask-SocketIO) as the bot starts it, against the fake CLOB V2 venue.

The button runs the SDK's asyncio client inside a gevent greenlet; only the real server shows
whether that works. The child's whole output is then searched for every secret.
"""

from __future__ import annotations

import asyncio
import re
import socket
import sys
from pathlib import Path

import aiohttp

from database.engine import db_url_from_path, migrate
from services.keys.store import KeyStore
from tests.markets.fake_clob import TEST_PRIVATE_KEY, FakeClob

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "production-server-token-0123456789abcdef"
PASS = "production passphrase"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_test_connection_answers_under_the_production_server(tmp_path: Path) -> None:
    fake = FakeClob()
    url = await fake.start()
    secrets = {
        "private_key": TEST_PRIVATE_KEY,
        "api_key": fake.creds["apiKey"],
        "api_secret": fake.creds["secret"],
        "api_passphrase": fake.creds["passphrase"],
    }
    KeyStore(tmp_path / "keys.enc").update(PASS, secrets)
    migrate(db_url_from_path(tmp_path / "bot.db"))
    port = _free_port()
    (tmp_path / "config.yaml").write_text(
        f"""
bot: {{db_path: {tmp_path / "bot.db"}, log_file: ""}}
dashboard: {{host: 127.0.0.1, port: {port}, token_file: {tmp_path / "token"}}}
live:
  clob_url: {url}
  user_ws_url: {fake.user_ws_url}
  keys_path: {tmp_path / "keys.enc"}
  passphrase_env: MSB_TEST_NO_SUCH_VARIABLE
""",
        encoding="utf-8",
    )
    out = tmp_path / "dashboard.out"
    env = {"DASHBOARD_TOKEN": TOKEN, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    with out.open("wb") as fh:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "start_dashboard.py"),
            "--config",
            str(tmp_path / "config.yaml"),
            cwd=str(tmp_path),
            env=env,
            stdout=fh,
            stderr=asyncio.subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        jar = aiohttp.CookieJar(unsafe=True)  # cookies from an IP address
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            html = ""
            for _ in range(300):  # the child imports gevent, Flask, the SDK: up to 30 s
                if proc.returncode is not None:
                    raise AssertionError(out.read_text(errors="replace"))
                try:
                    async with http.get(base + "/login") as r:
                        html = await r.text()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            m = re.search(r'name="csrf-token" content="([^"]+)"', html)
            assert m, "the server did not answer /login"
            async with http.post(
                base + "/login",
                data={"token": TOKEN, "csrf_token": m.group(1)},
                headers={"Accept": "application/json"},
            ) as r:
                assert r.status == 200, await r.text()
                csrf = (await r.json())["csrf_token"]
            h = {"X-CSRF-Token": csrf, "Accept": "application/json"}
            async with http.post(base + "/keys/test", json={"passphrase": PASS}, headers=h) as r:
                body = await r.json()
                assert r.status == 200, body
            assert body["ok"] is True and body["message"].startswith("Connection OK: wallet 0x")
            assert "USDC balance 1,000.00" in body["message"]
            async with http.post(
                base + "/keys/test", json={"passphrase": "wrong passphrase!"}, headers=h
            ) as r:
                assert r.status == 400
                assert "passphrase" in (await r.json())["error"]
    finally:
        if proc.returncode is None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 10)
        await fake.stop()
    text = out.read_text(errors="replace")
    for name, value in secrets.items():
        assert value not in text, f"{name} appears in the dashboard's output"
        if value.startswith("0x"):
            assert value[2:] not in text
    assert PASS not in text
