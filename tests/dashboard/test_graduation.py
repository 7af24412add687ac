"""Graduation page, its controls (token + confirmation word), the stage timeline on the strategy
page, and the allocation pie / win-loss distribution on the leaderboard."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from database.models import TABLES
from database.queries import set_state


def _view(target: str = "micro", pending: bool = True) -> dict[str, Any]:
    return {
        "ts": 1_767_225_600.0,
        "strategies": {
            "alpha": {
                "stage": "paper",
                "status": "active",
                "since": 1_767_000_000.0,
                "days_in_stage": 31.2,
                "capital": 10_000_000_000,
                "capital_basis": "stage paper",
                "route": "paper",
                "route_target": None,
                "pending": {"target": target, "since": 1.0} if pending else None,
                "eligibility": {
                    "stage": "paper",
                    "target": target,
                    "eligible": True,
                    "needs_approval": True,
                    "checks": [
                        {
                            "name": "return",
                            "ok": True,
                            "value": "6%",
                            "limit": ">= 5%",
                            "text": "return 6.00% passes >= 5%",
                        }
                    ],
                    "blockers": [],
                    "days_in_stage": 31.2,
                    "min_days": 30,
                },
                "figures": {},
            },
            "beta": {
                "stage": "paper",
                "status": "active",
                "since": 1_767_000_000.0,
                "days_in_stage": 3.0,
                "capital": 10_000_000_000,
                "capital_basis": "stage paper",
                "route": "paper",
                "route_target": None,
                "pending": None,
                "eligibility": {
                    "stage": "paper",
                    "target": "micro",
                    "eligible": False,
                    "needs_approval": True,
                    "checks": [],
                    "blockers": [
                        "3.0 of 30 days in paper",
                        "Sharpe not shown yet: 3 of 20 period returns (too little evidence)",
                    ],
                    "days_in_stage": 3.0,
                    "min_days": 30,
                },
                "figures": {},
            },
        },
        "proposal": {
            "id": 4,
            "kind": "selection",
            "pool": 1_000_000_000,
            "shares_pct": {"alpha": 70.0, "beta": 0.0},
            "capital": {"alpha": 700_000_000, "beta": 0},
            "reasons": {
                "alpha": "rank 1 of 1 qualified",
                "beta": "not qualified: x",
                "(unallocated)": "1 strategies qualified for 3 places",
            },
        },
        "allocation": None,
        "confirm_word": "GRADUATE",
    }


def _seed(sessions) -> None:
    with sessions.begin() as s:
        set_state(s, "graduation_view", _view(), ts=1.0)
        s.execute(
            TABLES["stage_transitions"].insert(),
            [
                {
                    "ts": 1_767_000_000.0,
                    "wall_ts": 1.0,
                    "strategy": "alpha",
                    "from_stage": None,
                    "to_stage": "paper",
                    "kind": "initial",
                    "actor": "auto",
                    "reason": "first start",
                    "capital": 10_000_000_000,
                    "route": "paper",
                    "figures_json": None,
                },
                {
                    "ts": 1_767_100_000.0,
                    "wall_ts": 2.0,
                    "strategy": "alpha",
                    "from_stage": "micro",
                    "to_stage": "paper",
                    "kind": "demotion",
                    "actor": "breaker",
                    "reason": "Breaker consecutive_losses:alpha tripped",
                    "capital": 10_000_000_000,
                    "route": "paper",
                    "figures_json": json.dumps(
                        {
                            "figures": {
                                "return_pct": -1.5,
                                "sharpe": None,
                                "win_rate": 0.4,
                                "max_drawdown_pct": 3.0,
                                "closed_bets": 12,
                            }
                        }
                    ),
                },
            ],
        )


def _commands(sessions) -> list[tuple[str, dict[str, Any]]]:
    t = TABLES["control_commands"]
    with sessions() as s:
        return [(c, json.loads(a)) for c, a in s.execute(select(t.c.command, t.c.args_json))]


def test_graduation_page_shows_blockers_approvals_proposal_and_transitions(client, seeded) -> None:
    _seed(seeded)
    html = client.get("/graduation").get_data(as_text=True)
    assert "waiting for approval: micro" in html
    assert "3.0 of 30 days in paper" in html and "too little evidence" in html
    assert "Apply proposal #4" in html and "rank 1 of 1 qualified" in html
    assert "Breaker consecutive_losses:alpha tripped" in html
    assert "win rate 40.0%" in html  # figures at the moment of the transition
    assert 'href="/graduation"' in client.get("/").get_data(as_text=True)  # nav link
    j = client.get("/api/graduation").get_json()
    assert [r["strategy"] for r in j["rows"]] == ["alpha", "beta"]
    assert j["allocation"]["labels"] == ["alpha (paper)", "beta (paper)"]


def test_approving_a_live_stage_needs_the_token_and_the_word(client, auth, seeded) -> None:
    _seed(seeded)
    anon = client.application.test_client()
    r = anon.post("/api/strategies/alpha/graduate", json={"reason": "looks good"})
    assert r.status_code in (401, 403)
    c, csrf = auth
    h = {"X-CSRF-Token": csrf}
    r = c.post("/api/strategies/alpha/graduate", json={"reason": "looks good"}, headers=h)
    assert r.status_code == 400 and "type GRADUATE" in r.get_json()["error"]
    r = c.post(
        "/api/strategies/alpha/graduate",
        json={"reason": "looks good", "confirm": "GRADUATE"},
        headers=h,
    )
    assert r.status_code == 202
    r = c.post("/api/strategies/alpha/demote", json={"reason": "odd fills"}, headers=h)
    assert r.status_code == 400
    r = c.post(
        "/api/strategies/alpha/demote",
        json={"reason": "odd fills", "confirm": "CONFIRM"},
        headers=h,
    )
    assert r.status_code == 202
    r = c.post("/api/strategies/beta/graduation-reject", json={"reason": "not yet"}, headers=h)
    assert r.status_code == 202
    r = c.post("/api/allocation/approve", json={"reason": "fine", "proposal_id": 4}, headers=h)
    assert r.status_code == 202
    r = c.post("/api/allocation/approve", json={"reason": "fine"}, headers=h)
    assert r.status_code == 400
    r = c.post("/api/strategies/nobody/graduate", json={"reason": "x y z"}, headers=h)
    assert r.status_code == 404
    assert _commands(seeded) == [
        ("strategy.graduate", {"strategy": "alpha", "reason": "looks good", "confirm": "GRADUATE"}),
        ("strategy.demote", {"strategy": "alpha", "reason": "odd fills"}),
        ("strategy.graduation_reject", {"strategy": "beta", "reason": "not yet"}),
        ("allocation.approve", {"proposal_id": 4, "reason": "fine"}),
    ]


def test_strategy_page_timeline_and_leaderboard_charts(client, seeded) -> None:
    _seed(seeded)
    with seeded.begin() as s:
        s.execute(
            TABLES["closed_bets"].insert(),
            [
                {
                    "strategy": "alpha",
                    "group_id": f"M{i}",
                    "closed_ts": 100.0 + i,
                    "opened_ts": 1.0,
                    "cost": 1,
                    "proceeds": 1,
                    "fees": 0,
                    "pnl": pnl,
                    "closed_by": "sold",
                }
                for i, pnl in enumerate((2_000_000, -1_000_000, 0, 500_000))
            ],
        )
    html = client.get("/strategy/alpha").get_data(as_text=True)
    assert 'id="stage-timeline"' in html
    assert html.index("micro &rarr; <strong>paper</strong>") < html.index(
        "start &rarr; <strong>paper</strong>"
    )  # newest first
    board = client.get("/").get_data(as_text=True)
    assert 'id="allocation-pie"' in board and 'id="pnl-distribution"' in board
    assert "js/graduation.js" in board
    d = client.get("/api/leaderboard/distribution").get_json()["distribution"]
    assert d["n"] == 4 and sum(d["wins"]) == 2 and sum(d["losses"]) == 2  # 0 is a loss
    assert d["edges"][0] == -1.0 and d["edges"][-1] == 2.0
    assert len(d["edges"]) == len(d["wins"]) + 1
