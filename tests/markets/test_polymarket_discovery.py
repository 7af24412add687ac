"""Gamma discovery: parsing string-encoded fields, filters, paging, refresh, resolutions."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio

from services.markets.polymarket.config import DiscoveryConfig, PolymarketConfig
from services.markets.polymarket.discovery import Discovery
from services.markets.polymarket.gamma import (
    GammaParseError,
    parse_gamma_market,
    parse_iso_ts,
    select_markets,
)
from services.markets.polymarket.rest import RestClient
from tests.markets.fake_polymarket import FakePolymarket

RES = Path(__file__).resolve().parents[1] / "resources" / "polymarket"
RAW = json.loads((RES / "markets.json").read_text())
EVENTS = json.loads((RES / "events.json").read_text())
NOW = parse_iso_ts("2026-11-21T00:00:00Z") or 0.0
BTC, FED, LAKERS, CELTICS, THUNDER, SNOW, RESOLVED, PAUSED, BROKEN = RAW


def tagged(raw: dict) -> dict:
    """Return a market object as Gamma answers ``/markets?include_tag=true``: with its tags."""
    ids = {e["id"] for e in raw.get("events", [])}
    return {**raw, "tags": [t for e in EVENTS if e["id"] in ids for t in e["tags"]]}


def test_parse_string_encoded_fields() -> None:
    m = parse_gamma_market(BTC)
    tokens = json.loads(BTC["clobTokenIds"])
    assert m.condition_id == BTC["conditionId"]
    assert m.outcomes == ("Yes", "No")
    assert m.token_ids == tuple(tokens)
    assert m.outcome_prices == ("0.41", "0.59")
    yes, no = m.instruments
    assert yes.instrument_id == tokens[0] and yes.outcome == "Yes"
    assert yes.complement_id == tokens[1] and no.complement_id == tokens[0]
    assert yes.market_id == no.market_id == BTC["conditionId"]
    assert yes.tick == 10_000 and yes.min_size == 5_000_000
    assert yes.fees.rate == Decimal("0.072") and yes.fees.exponent == 1
    assert yes.end_ts == parse_iso_ts("2027-12-31T12:00:00Z") == 1830254400.0
    assert yes.event_id is None and yes.venue == "polymarket"
    assert m.categories == ()  # a real /markets object names no category by itself
    assert parse_gamma_market(tagged(BTC)).categories[:2] == ("crypto", "bitcoin")
    assert m.liquidity_usd == 52000.5 and m.volume_usd == 1250000.25


def test_parse_tick_fee_free_and_neg_risk() -> None:
    fed = parse_gamma_market(FED)
    assert fed.instruments[0].tick == 1_000
    assert not fed.instruments[0].fees.enabled
    lakers = parse_gamma_market(LAKERS)
    celtics = parse_gamma_market(CELTICS)
    assert lakers.neg_risk and lakers.event_id == LAKERS["negRiskMarketID"]
    assert lakers.instruments[0].event_id == celtics.instruments[0].event_id
    assert lakers.instruments[0].group_id == LAKERS["negRiskMarketID"]
    assert celtics.instruments[0].fees.rate == Decimal("0.03")


def test_parse_rejects_broken_markets() -> None:
    with pytest.raises(GammaParseError):
        parse_gamma_market(BROKEN)
    no_cid = dict(BTC, conditionId="")
    with pytest.raises(GammaParseError):
        parse_gamma_market(no_cid)
    mismatch = dict(BTC, outcomes=json.dumps(["Yes", "No", "Maybe"]))
    with pytest.raises(GammaParseError):
        parse_gamma_market(mismatch)
    bad_tick = dict(BTC, orderPriceMinTickSize=0.03)
    with pytest.raises(GammaParseError):
        parse_gamma_market(bad_tick)
    no_schedule = {k: v for k, v in BTC.items() if k != "feeSchedule"}
    with pytest.raises(GammaParseError):
        parse_gamma_market(no_schedule)


def test_lists_may_arrive_decoded() -> None:
    decoded = dict(BTC, outcomes=["Yes", "No"], clobTokenIds=json.loads(BTC["clobTokenIds"]))
    assert parse_gamma_market(decoded).token_ids == parse_gamma_market(BTC).token_ids


def test_resolution_payouts() -> None:
    done = parse_gamma_market(RESOLVED)
    toks = json.loads(RESOLVED["clobTokenIds"])
    assert done.payouts() == ((toks[0], 1_000_000), (toks[1], 0))
    assert parse_gamma_market(BTC).payouts() is None  # open market
    half = dict(RESOLVED, outcomePrices='["0.5", "0.5"]', umaResolutionStatus="")
    assert parse_gamma_market(half).payouts() is None  # closed, not settled yet
    settled_half = dict(half, umaResolutionStatus="resolved")
    assert parse_gamma_market(settled_half).payouts() == ((toks[0], 500_000), (toks[1], 500_000))


def _parsed() -> list:
    out = []
    for raw in RAW:
        with contextlib.suppress(GammaParseError):
            out.append(parse_gamma_market(tagged(raw)))
    return out


def _slugs(markets: list) -> list[str]:
    return [m.slug for m in markets]


def test_default_filters_keep_open_accepting_markets_by_volume() -> None:
    chosen = select_markets(_parsed(), DiscoveryConfig(), NOW)
    assert _slugs(chosen) == [
        BTC["slug"],
        FED["slug"],
        LAKERS["slug"],
        CELTICS["slug"],
        THUNDER["slug"],
        SNOW["slug"],
    ]


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        (DiscoveryConfig(categories=("sports",)), [LAKERS, CELTICS, THUNDER]),
        (DiscoveryConfig(categories=("Fed-Rates", "bitcoin")), [BTC, FED]),
        (DiscoveryConfig(min_liquidity_usd=20_000), [BTC, FED, LAKERS]),
        (DiscoveryConfig(min_volume_usd=350_000), [BTC, FED, LAKERS]),
        (DiscoveryConfig(neg_risk=False), [BTC, FED, SNOW]),
        (DiscoveryConfig(max_markets=2), [BTC, FED]),
        (DiscoveryConfig(end_within_max_days=200), [FED]),
        (DiscoveryConfig(end_within_min_days=300), [BTC, SNOW]),
        (
            DiscoveryConfig(exclude=(BTC["slug"], FED["conditionId"]), max_markets=2),
            [LAKERS, CELTICS],
        ),
        (DiscoveryConfig(include=(PAUSED["slug"],), min_volume_usd=10**9), [PAUSED]),
        (
            DiscoveryConfig(accepting_orders_only=False, min_volume_usd=60_000, neg_risk=False),
            [BTC, FED, PAUSED],
        ),
    ],
)
def test_filters(cfg: DiscoveryConfig, expected: list[dict]) -> None:
    assert _slugs(select_markets(_parsed(), cfg, NOW)) == [m["slug"] for m in expected]


def test_end_window_bounds_validated() -> None:
    with pytest.raises(ValueError):
        DiscoveryConfig(end_within_min_days=10, end_within_max_days=5)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakePolymarket]:
    f = FakePolymarket()
    await f.start()
    yield f
    await f.stop()


def _discovery(fake: FakePolymarket, **kw: object) -> tuple[Discovery, RestClient]:
    cfg = PolymarketConfig(
        gamma_url=fake.gamma_url,
        clob_url=fake.clob_url,
        ws_url=fake.ws_url,
        retry_backoff_base_s=0.01,
        discovery=DiscoveryConfig(**kw),
    )
    rest = RestClient(cfg)
    return Discovery(cfg.discovery, rest, cfg.gamma_url), rest


@pytest.mark.asyncio
async def test_paginated_fetch_and_refresh_lifecycle(fake: FakePolymarket) -> None:
    disc, rest = _discovery(fake, page_size=2, max_markets=3)
    try:
        first = await disc.refresh(NOW)
        # 8 open markets (one unparseable) over pages of 2: 4 full pages and an empty one
        assert [p for p, s in fake.request_log if p == "/markets"] == ["/markets"] * 5
        assert disc.counters["parse_errors"] == 1
        assert _slugs(first.listed) == [BTC["slug"], FED["slug"], LAKERS["slug"]]
        assert first.closed == [] and first.resolved == []

        # a new market appears; there is room once a watched market settles
        new = copy.deepcopy(SNOW)
        new.update(
            id="600001",
            slug="brand-new-market",
            conditionId="0x" + "ab" * 32,
            clobTokenIds=json.dumps(["111", "222"]),
            volumeNum=5_000_000,
        )
        fake.add_market(new)
        await fake.resolve(FED["conditionId"], 1, via_ws=False)
        second = await disc.refresh(NOW + 60)
        fed_tokens = json.loads(FED["clobTokenIds"])
        assert [(r.market_id, r.payouts) for r in second.resolved] == [
            (FED["conditionId"], ((fed_tokens[0], 0), (fed_tokens[1], 1_000_000)))
        ]
        assert second.resolved[0].ts == NOW + 60
        assert _slugs(second.listed) == ["brand-new-market"]
        assert set(disc.watched) == {BTC["conditionId"], LAKERS["conditionId"], new["conditionId"]}

        # closed without a result yet: retired, then settled by a later refresh
        lakers = next(m for m in fake.markets if m["slug"] == LAKERS["slug"])
        lakers.update(closed=True, acceptingOrders=False)
        third = await disc.refresh(NOW + 120)
        assert _slugs(third.closed) == [LAKERS["slug"]] and third.resolved == []
        assert LAKERS["conditionId"] in disc.pending
        await fake.resolve(LAKERS["conditionId"], 0, via_ws=False)
        fourth = await disc.refresh(NOW + 180)
        assert [r.market_id for r in fourth.resolved] == [LAKERS["conditionId"]]
        assert disc.pending == {}
        # a settled market is never listed again
        assert LAKERS["conditionId"] not in {m.condition_id for m in fourth.listed}
    finally:
        await rest.close()


@pytest.mark.asyncio
async def test_tag_ids_are_sent_as_query_filters(fake: FakePolymarket) -> None:
    disc, rest = _discovery(fake, tag_ids=(745,))
    try:
        update = await disc.refresh(NOW)
        assert _slugs(update.listed) == [LAKERS["slug"], CELTICS["slug"], THUNDER["slug"]]
    finally:
        await rest.close()


@pytest.mark.asyncio
async def test_socket_resolution_is_not_repeated_by_gamma(fake: FakePolymarket) -> None:
    disc, rest = _discovery(fake)
    try:
        await disc.refresh(NOW)
        disc.mark_resolved(BTC["conditionId"])
        await fake.resolve(BTC["conditionId"], 0, via_ws=False)
        update = await disc.refresh(NOW + 1)
        assert update.resolved == [] and update.listed == []
    finally:
        await rest.close()


# ============================================================================ issue 11
def test_fixtures_have_the_real_shape_no_category_and_no_event_tags() -> None:
    """Gamma ``/markets`` objects carry no ``category``; nested events carry no tags."""
    for raw in RAW:
        assert "category" not in raw and "tags" not in raw
        assert all("tags" not in e for e in raw["events"])


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("nba",), [LAKERS, CELTICS, THUNDER]),  # the event slug nba-champion-2026-27
        (("fed",), [FED]),  # fed-cuts-rates-in-march-2027, fed-decision-in-march-2027
        (("NB",), []),  # not a whole word
        (("miami 2027",), [SNOW]),  # words, with spaces
    ],
)
def test_category_filter_matches_slug_words_of_untagged_objects(
    names: tuple[str, ...], expected: list
) -> None:
    parsed = [parse_gamma_market(r) for r in RAW if r is not BROKEN]
    chosen = select_markets(parsed, DiscoveryConfig(categories=names), NOW)
    assert _slugs(chosen) == [m["slug"] for m in expected]


@pytest.mark.asyncio
async def test_discovery_asks_for_tags_so_category_filters_match_real_objects(
    fake: FakePolymarket,
) -> None:
    disc, rest = _discovery(fake, categories=("sports",))
    try:
        update = await disc.refresh(NOW)
        assert _slugs(update.listed) == [LAKERS["slug"], CELTICS["slug"], THUNDER["slug"]]
        assert update.listed[0].instruments[0].category == "sports"
    finally:
        await rest.close()


@pytest.mark.asyncio
async def test_a_market_that_stops_accepting_orders_is_reported_at_once(
    fake: FakePolymarket,
) -> None:
    disc, rest = _discovery(fake)
    try:
        await disc.refresh(NOW)
        btc = next(m for m in fake.markets if m["slug"] == BTC["slug"])
        btc["acceptingOrders"] = False  # still open, not closed: Gamma stops taking orders
        update = await disc.refresh(NOW + 60)
        assert [(e.market_id, e.status, e.ts) for e in update.status] == [
            (BTC["conditionId"], "not_accepting", NOW + 60)
        ]
        assert update.closed == [] and BTC["conditionId"] in disc.watched
        assert (await disc.refresh(NOW + 120)).status == []  # reported once
        btc["acceptingOrders"] = True
        again = await disc.refresh(NOW + 180)
        assert [(e.market_id, e.status) for e in again.status] == [(BTC["conditionId"], "open")]
    finally:
        await rest.close()
