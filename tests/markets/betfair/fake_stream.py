"""A fake Betfair Exchange Stream API server (TLS on 127.0.0.1) for the live feed's tests.

Protocol (Betfair's Exchange Stream API): on connect the server sends ``{"op": "connection",
"connectionId"}``; the client sends ``authentication`` (``appKey``, ``session``) and gets a
``status`` (SUCCESS, or FAILURE with ``errorCode`` and ``connectionClosed``); then a
``marketSubscription`` (``marketFilter``, ``marketDataFilter``, ``initialClk``/``clk`` on a
resubscription) answered by a ``status`` and the market change messages. Lines end with CRLF.

The server replays the given ``mcm`` lines (the first with ``ct: SUB_IMAGE`` and an
``initialClk``; every message carries a ``clk``), can drop the connection after ``drop_after``
messages, and resumes after the last ``clk`` the client resubscribes with.

With ``orders`` (a :class:`~tests.markets.betfair.fake_betfair.FakeBetfair`), an
``orderSubscription`` is answered by an image of every bet (``ocm``, ``ct: SUB_IMAGE``, or
``RESUB_DELTA`` on a resubscription with a ``clk``) and then by an ``ocm`` for every change of
a bet; :meth:`FakeStream.drop_orders` cuts the order connections (a dropped stream).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import ssl
import threading
from pathlib import Path
from typing import Any


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """Write a throwaway self-signed certificate and key for 127.0.0.1; return their paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "stream.crt", tmp / "stream.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class FakeStream:
    """Serve ``lines`` (raw ``mcm`` JSON) to every subscription, from the client's ``clk`` on."""

    def __init__(
        self, lines: list[str], tmp: Path, *, app_key: str = "key", session: str = "tok"
    ) -> None:
        self.messages: list[dict[str, Any]] = []
        for i, line in enumerate(lines):
            m = json.loads(line)
            m["clk"] = str(i + 1)
            if i == 0:
                m["ct"], m["initialClk"] = "SUB_IMAGE", "init-1"
            self.messages.append(m)
        self.app_key, self.session = app_key, session
        self.orders: Any = None  # a FakeBetfair whose bet changes an orderSubscription gets
        self.order_subscriptions: list[dict[str, Any]] = []
        self._order_conns: list[ssl.SSLSocket] = []
        self.drop_after: int | None = None
        self.subscriptions: list[dict[str, Any]] = []
        cert, key = self_signed(tmp)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.done = threading.Event()
        threading.Thread(target=self._serve, name="fake-stream", daemon=True).start()

    def close(self) -> None:
        self.done.set()
        self.sock.close()
        self.drop_orders()

    def drop_orders(self) -> None:
        """Cut every order-stream connection (the client must reconnect)."""
        for conn in list(self._order_conns):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(raw,), daemon=True).start()

    def _client(self, raw: socket.socket) -> None:
        try:
            with self.ctx.wrap_socket(raw, server_side=True) as conn:
                self._talk(conn)
        except (OSError, ssl.SSLError):
            return

    def _talk(self, conn: ssl.SSLSocket) -> None:
        lock = threading.Lock()

        def send(obj: dict[str, Any]) -> None:
            with lock:
                conn.sendall(json.dumps(obj).encode() + b"\r\n")

        def push(msg: dict[str, Any]) -> None:
            with contextlib.suppress(OSError):
                send(dict(msg, id=sub_id[0]))

        sub_id = [0]
        try:
            self._talk_on(conn, send, push, sub_id)
        finally:
            if self.orders is not None and push in self.orders.listeners:
                self.orders.listeners.remove(push)
            if conn in self._order_conns:
                self._order_conns.remove(conn)

    def _talk_on(self, conn: ssl.SSLSocket, send: Any, push: Any, sub_id: list[int]) -> None:
        send({"op": "connection", "connectionId": "002-051134157842-432409"})
        buf = b""
        while not self.done.is_set():
            while b"\r\n" not in buf:
                part = conn.recv(65536)
                if not part:
                    return
                buf += part
            line, buf = buf.split(b"\r\n", 1)
            req = json.loads(line)
            if req["op"] == "authentication":
                if req.get("appKey") != self.app_key or req.get("session") != self.session:
                    send({"op": "status", "id": req["id"], "statusCode": "FAILURE",
                          "errorCode": "INVALID_SESSION_INFORMATION",
                          "errorMessage": "session token is invalid", "connectionClosed": True})  # fmt: skip
                    return
                send({"op": "status", "id": req["id"], "statusCode": "SUCCESS",
                      "connectionClosed": False})  # fmt: skip
            elif req["op"] == "marketSubscription":
                self.subscriptions.append(req)
                send({"op": "status", "id": req["id"], "statusCode": "SUCCESS",
                      "connectionClosed": False})  # fmt: skip
                start = int(req["clk"]) if req.get("clk") else 0
                for i, m in enumerate(self.messages[start:], start):
                    if self.drop_after is not None and i == self.drop_after:
                        self.drop_after = None
                        return  # the connection drops mid-stream
                    out = dict(m, id=req["id"])
                    if start and i == start:
                        out["ct"] = "RESUB_DELTA"
                    send(out)
            elif req["op"] == "orderSubscription" and self.orders is not None:
                self.order_subscriptions.append(req)
                send({"op": "status", "id": req["id"], "statusCode": "SUCCESS",
                      "connectionClosed": False})  # fmt: skip
                sub_id[0] = req["id"]
                self._order_conns.append(conn)
                with self.orders.lock:  # the image, then every change after it, in order
                    ct = "RESUB_DELTA" if req.get("clk") else "SUB_IMAGE"
                    send(dict(self.orders.ocm(list(self.orders.bets.values()), ct), id=req["id"]))
                    self.orders.listeners.append(push)
            elif req["op"] == "heartbeat":
                send({"op": "status", "id": req["id"], "statusCode": "SUCCESS"})
