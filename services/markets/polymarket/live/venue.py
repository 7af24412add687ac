"""The venue side of live trading: every call to Polymarket goes through the official SDK
``polymarket-client`` (``AsyncSecureClient``; CLOB V2 signing is the SDK's, never ours).

Each request passes the priority rate limiter (cancels and the kill switch at EMERGENCY, orders
at ORDER, reads at DATA) and the venue's throttling answers are handled as the reference says
(``../shared/reference/polymarket.md``): a 429 pauses the endpoint for ``Retry-After`` and
retries; a 425 (matching-engine restart) pauses, then only post-only orders are sent for
``live.post_only_after_restart_s``.

SDK calls used (polymarket-client 0.14, ``polymarket/clients/async_secure.py``):
``create_limit_order`` (GTC; GTD with ``expiration``; ``post_only``), ``create_market_order``
(FOK/FAK with ``max_price``/``min_price`` protection), ``post_order``/``post_orders`` (batches of
up to 15), ``cancel_order``, ``cancel_orders``, ``cancel_all``, ``send_order_heartbeat``,
``list_open_orders``, ``list_account_trades``, ``get_balance_allowance``. The neg-risk flag and
the tick come from the SDK's market metadata (``/clob-markets``), which picks the neg-risk
exchange when it signs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from services.execution.orders import Order, TimeInForce
from services.instruments import Side
from services.markets.polymarket.rest import Priority, PriorityRateLimiter
from services.money import MICRO
from utils.live_config import LiveConfig

log = logging.getLogger(__name__)

T = TypeVar("T")

BATCH_MAX = 15
"""The venue's largest batch of orders in one ``POST /orders``."""


class VenueCallError(Exception):
    """A venue request failed after its retries (message safe to log: no secrets)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class PlaceResult:
    """The venue's answer to one order."""

    ok: bool
    venue_order_id: str = ""
    status: str = ""  # live | matched | delayed
    matched: int = 0  # micro-shares matched at placement
    code: str = ""  # rejection code (post_only_would_cross, fok_not_filled, ...)
    message: str = ""


def _dec(micro: int) -> Decimal:
    return Decimal(micro) / MICRO


def sdk_environment(cfg: LiveConfig) -> Any:
    """Return the SDK environment for ``cfg`` (production addresses, configured URLs).

    The SDK keeps custom environments in ``polymarket._internal.environment``
    (``create_environment``, ``with_environment_config``); that is how it is pointed at the fake
    venue in tests and at a proxy or a staging CLOB by a user.
    """
    from polymarket._internal.environment import (
        PRODUCTION_CONFIG,
        create_environment,
    )

    config = dataclasses.replace(
        PRODUCTION_CONFIG,
        clob_url=cfg.clob_url.rstrip("/"),
        clob_user_ws_url=cfg.user_ws_url,
        chain_id=cfg.chain_id,
    )
    return create_environment(name="msb-live", config=config)


async def connect_sdk(cfg: LiveConfig, secrets: Any) -> Any:
    """Create the SDK's authenticated client from the key store's secrets.

    The wallet is the signer's own address (an EOA: no relayer needed). API credentials are
    taken from the store when set, else derived by the SDK from the wallet key.
    """
    from eth_account import Account
    from polymarket import ApiKeyCreds, AsyncSecureClient

    pk = secrets.get("private_key")
    if not pk:
        raise VenueCallError("the key store has no private_key: run `bot.py keys set`")
    creds = None
    if secrets.get("api_key"):
        creds = ApiKeyCreds.model_validate(
            {
                "apiKey": secrets.get("api_key"),
                "secret": secrets.get("api_secret") or "",
                "passphrase": secrets.get("api_passphrase") or "",
            }
        )
    wallet = Account.from_key(pk).address
    return await AsyncSecureClient.create(
        private_key=pk,
        wallet=wallet,
        environment=sdk_environment(cfg),
        credentials=creds,
        logger=logging.getLogger("polymarket.sdk"),
    )


class ClobVenue:
    """Rate-limited, retrying calls to the CLOB through the SDK.

    Parameters
    ----------
    sdk : polymarket.AsyncSecureClient
        The authenticated SDK client (or a stand-in with the same methods).
    cfg : LiveConfig
        Retries, timeouts, post-only window after a 425, dry run.
    limiter : PriorityRateLimiter | None
        Shared request budget; one is built from the venue's documented limits if None.
    monotonic : Callable[[], float]
        Time source for the post-only window.
    """

    def __init__(
        self,
        sdk: Any,
        cfg: LiveConfig,
        limiter: PriorityRateLimiter | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        from services.markets.polymarket.config import RateLimits

        self.sdk = sdk
        self.cfg = cfg
        self.limiter = limiter or PriorityRateLimiter(RateLimits())
        self._mono = monotonic
        self.post_only_until = 0.0
        self.throttled = 0  # 429 answers
        self.restarts = 0  # 425 answers
        self.heartbeat_id = ""
        self.signed_dry_run: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ plumbing
    def post_only_mode(self) -> bool:
        """Return whether the venue recently restarted (only post-only orders go out)."""
        return self._mono() < self.post_only_until

    async def _call(
        self,
        endpoint: str,
        priority: Priority,
        fn: Callable[[], Awaitable[T]],
        *,
        idempotent: bool = True,
    ) -> T:
        from polymarket.errors import (
            RateLimitError,
            RequestRejectedError,
            TransportError,
        )

        attempt = 0
        while True:
            await self.limiter.acquire(endpoint, priority)
            try:
                async with asyncio.timeout(self.cfg.request_timeout_s):
                    return await fn()
            except RateLimitError as exc:
                self.throttled += 1
                wait = float(exc.retry_after or 1.0)
                self.limiter.pause(endpoint, wait)
                err: VenueCallError = VenueCallError(
                    f"rate limited (429), retry after {wait} s", 429
                )
            except RequestRejectedError as exc:
                if exc.status == 425:
                    self.restarts += 1
                    wait = float(exc.retry_after or 1.0)
                    self.limiter.pause(endpoint, wait)
                    self.post_only_until = self._mono() + wait + self.cfg.post_only_after_restart_s
                    err = VenueCallError(
                        f"the matching engine is restarting (425), retry after {wait} s", 425
                    )
                else:
                    raise VenueCallError(
                        f"refused ({exc.status}): {_safe(str(exc))}", exc.status
                    ) from exc
            except (TimeoutError, TransportError) as exc:
                if not idempotent:
                    # An order whose answer was lost may be at the venue: never send it twice.
                    raise VenueCallError(
                        f"no answer in {self.cfg.request_timeout_s} s: acceptance unknown"
                    ) from exc
                err = VenueCallError(f"no answer ({type(exc).__name__})")
            attempt += 1
            if attempt > self.cfg.max_retries:
                raise err
            log.warning("Venue %s: %s (attempt %d).", endpoint, err, attempt)

    # ------------------------------------------------------------------ orders
    async def sign(self, order: Order, expiration: int | None = None) -> Any:
        """Build and sign one order with the SDK (no network except cached market metadata)."""
        price, size = _dec(order.price), _dec(order.size)
        side = "BUY" if order.side is Side.BUY else "SELL"
        if order.tif in (TimeInForce.FOK, TimeInForce.FAK):
            if order.side is Side.BUY:
                return await self.sdk.create_market_order(
                    token_id=order.instrument_id,
                    side="BUY",
                    amount=(price * size).quantize(Decimal("0.01")),
                    max_price=price,
                    order_type=order.tif.value,
                )
            return await self.sdk.create_market_order(
                token_id=order.instrument_id,
                side="SELL",
                shares=size,
                min_price=price,
                order_type=order.tif.value,
            )
        return await self.sdk.create_limit_order(
            token_id=order.instrument_id,
            price=price,
            size=size,
            side=side,
            post_only=order.post_only,
            expiration=expiration,
        )

    async def post(self, signed: list[Any]) -> list[PlaceResult]:
        """Post signed orders (one request per batch of up to 15) at ORDER priority."""
        out: list[PlaceResult] = []
        for i in range(0, len(signed), BATCH_MAX):
            chunk = signed[i : i + BATCH_MAX]
            one, many = self._poster(chunk)
            if len(chunk) == 1:
                responses = [
                    await self._call(
                        "clob_order",
                        Priority.ORDER,
                        one,
                        idempotent=False,
                    )
                ]
            else:
                responses = list(
                    await self._call(
                        "clob_order",
                        Priority.ORDER,
                        many,
                        idempotent=False,
                    )
                )
            out.extend(_result(r, s) for r, s in zip(responses, chunk, strict=True))
        return out

    def _poster(
        self, chunk: list[Any]
    ) -> tuple[Callable[[], Awaitable[Any]], Callable[[], Awaitable[Any]]]:
        async def one() -> Any:
            return await self.sdk.post_order(chunk[0])

        async def many() -> Any:
            return await self.sdk.post_orders(chunk)

        return one, many

    async def cancel(self, venue_ids: list[str]) -> tuple[list[str], dict[str, str]]:
        """Cancel orders at EMERGENCY priority; return (cancelled ids, not cancelled: reason)."""
        if len(venue_ids) == 1:
            r = await self._call(
                "clob_cancel",
                Priority.EMERGENCY,
                lambda: self.sdk.cancel_order(order_id=venue_ids[0]),
            )
        else:
            r = await self._call(
                "clob_cancel",
                Priority.EMERGENCY,
                lambda: self.sdk.cancel_orders(order_ids=venue_ids),
            )
        return [str(x) for x in r.canceled], {str(k): str(v) for k, v in r.not_canceled.items()}

    async def cancel_all(self) -> list[str]:
        """Cancel every open order of the account (the kill switch), at EMERGENCY priority."""
        r = await self._call("clob_cancel", Priority.EMERGENCY, self.sdk.cancel_all)
        return [str(x) for x in r.canceled]

    async def heartbeat(self) -> str:
        """Send one dead-man heartbeat (the venue cancels everything ~10 s after the last)."""
        from polymarket.errors import OrderHeartbeatMismatchError

        try:
            hb = await self._call(
                "clob_heartbeat",
                Priority.EMERGENCY,
                lambda: self.sdk.send_order_heartbeat(heartbeat_id=self.heartbeat_id),
            )
        except OrderHeartbeatMismatchError as exc:
            # The venue expects another id (a restart on our side): send again with it.
            self.heartbeat_id = str(exc.heartbeat_id)
            hb = await self._call(
                "clob_heartbeat",
                Priority.EMERGENCY,
                lambda: self.sdk.send_order_heartbeat(heartbeat_id=self.heartbeat_id),
            )
        self.heartbeat_id = str(hb.heartbeat_id)
        return self.heartbeat_id

    # ------------------------------------------------------------------ reads
    async def open_orders(self) -> list[Any]:
        """Return every open order of the account (``OpenOrder`` models)."""

        async def fetch() -> list[Any]:
            return [o async for o in self.sdk.list_open_orders().iter_items()]

        return await self._call("clob_data", Priority.DATA, fetch)

    async def trades(self) -> list[Any]:
        """Return the account's trades (``ClobTrade`` models)."""

        async def fetch() -> list[Any]:
            return [t async for t in self.sdk.list_account_trades().iter_items()]

        return await self._call("clob_data", Priority.DATA, fetch)

    async def collateral(self) -> tuple[int, int]:
        """Return the USDC balance and the smallest exchange allowance, micro-units."""
        r = await self._call(
            "clob_data",
            Priority.DATA,
            lambda: self.sdk.get_balance_allowance(asset_type="COLLATERAL"),
        )
        allowance = min(r.allowances.values()) if r.allowances else 0
        return int(r.balance), int(allowance)

    async def token_balance(self, token_id: str) -> int:
        """Return the account's balance of one outcome token, micro-shares."""
        r = await self._call(
            "clob_data",
            Priority.DATA,
            lambda: self.sdk.get_balance_allowance(asset_type="CONDITIONAL", token_id=token_id),
        )
        return int(r.balance)

    async def close(self) -> None:
        """Close the SDK's connections."""
        await self.sdk.close()


def _result(resp: Any, signed: Any) -> PlaceResult:
    if getattr(resp, "ok", False):
        matched = resp.taking_amount if signed.side == "BUY" else resp.making_amount
        return PlaceResult(
            True,
            str(resp.order_id),
            str(resp.status),
            int(Decimal(matched or 0) * MICRO),
        )
    return PlaceResult(False, code=str(resp.code), message=str(resp.message))


def _safe(text: str) -> str:
    """Trim a venue message for logs (messages carry no secrets; keep them short)."""
    return text if len(text) <= 300 else text[:300] + "..."
