"""The fidelity report on the strategy page and in its JSON (issue 11)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from services.execution.fidelity import fidelity_report
from tests.dashboard.seed import T0, ins

M = 1_000_000


def _more(seeded: sessionmaker[Session]) -> None:
    with seeded.begin() as s:
        ins(
            s,
            "fills",
            [
                {
                    "id": 10 + i,
                    "order_id": 1,
                    "strategy": "alpha",
                    "instrument_id": "Y1",
                    "side": "BUY",
                    "price": 400_000,
                    "size": size * M,
                    "fee": 0,
                    "liquidity": liq,
                    "ts": T0 + 10 + i,
                    "fill_reason": reason,
                }
                for i, (size, liq, reason) in enumerate(
                    [
                        (5, "taker", "taker"),
                        (7, "maker", "maker_print"),
                        (3, "maker", "maker_cross"),
                        (2, "maker", "maker_cross"),
                    ]
                )
            ],
        )
        ins(
            s,
            "events",
            [
                {
                    "ts": T0 + 50,
                    "kind": "risk_rejection",
                    "severity": "warning",
                    "strategy": "alpha",
                    "instrument_id": "Y1",
                    "message": "market data for Y1 not trusted: crossed_book",
                    "value": "crossed_book",
                    "limit_value": "valid data",
                    "data_json": json.dumps({"control": "data_guard", "suppressed": 4}),
                },
                {
                    "ts": T0 + 51,
                    "kind": "risk_rejection",
                    "severity": "warning",
                    "strategy": "alpha",
                    "message": "order notional too large",
                    "data_json": json.dumps({"control": "limits", "suppressed": 0}),
                },
            ],
        )


def test_strategy_api_reports_fills_by_evidence_and_data_gate_refusals(
    client: FlaskClient, seeded: sessionmaker[Session]
) -> None:
    _more(seeded)
    (fd,) = client.get("/api/strategies/alpha").get_json()["fidelity"]
    assert fd["strategy"] == "alpha"
    assert (fd["taker_fills"], fd["taker_shares"]) == (1, 5.0)
    assert (fd["maker_print_fills"], fd["maker_print_shares"]) == (1, 7.0)
    assert (fd["maker_cross_fills"], fd["maker_cross_shares"]) == (2, 5.0)
    # the seeded fill predates fill_reason: a maker fill of unknown evidence
    assert (fd["unknown_fills"], fd["unknown_shares"]) == (1, 100.0)
    assert fd["data_gate_refusals"] == 5  # one row standing for 1 + 4 suppressed repeats
    assert fd["cross_share_pct"] == pytest.approx(100 * 5 / 12)


def test_strategy_page_shows_the_fidelity_card(
    client: FlaskClient, seeded: sessionmaker[Session]
) -> None:
    _more(seeded)
    html = client.get("/strategy/alpha?fragment=fidelity").get_data(as_text=True)
    assert "Fill fidelity" in html and "Maker, by crossing only" in html
    assert "Orders refused by the data gate" in html and ">5<" in html
    assert "fidelity-table" in client.get("/strategy/alpha").get_data(as_text=True)


def test_report_from_exchange_fills() -> None:
    rows = [
        {"strategy": "b", "size": 3 * M, "liquidity": "taker", "fill_reason": "taker"},
        {"strategy": "a", "size": 2 * M, "liquidity": "maker", "fill_reason": "maker_cross"},
        {"strategy": "a", "size": 1 * M, "liquidity": "taker", "fill_reason": ""},
    ]
    rep = fidelity_report(rows, {"c": 2})
    assert list(rep) == ["a", "b", "c"]
    assert rep["a"].maker_cross_fills == 1 and rep["a"].taker_fills == 1
    assert rep["a"].cross_share_pct == 100.0 and rep["b"].cross_share_pct is None
    assert rep["c"].data_gate_refusals == 2 and rep["c"].fills == 0


def test_control_cli_prints_the_report(
    seeded: sessionmaker[Session], db_path: Path, capsys: pytest.CaptureFixture[str], backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("the CLI's --db names a SQLite file")
    from services.control_cli import main

    _more(seeded)
    assert main(["--db", str(db_path), "fidelity"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["strategy", "taker", "maker:print", "maker:cross"]
    alpha = next(line.split() for line in lines if line.startswith("alpha"))
    assert alpha == ["alpha", "1", "1", "2", "1", "41.7", "5"]
