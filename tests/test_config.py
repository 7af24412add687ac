"""Config validation: clear errors naming the file and key, exit code 2, nothing started."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from services.strategies.loader import build_strategies
from tests.conftest import ROOT, run_bot
from utils.config import AppConfig, load_config, parse_config
from utils.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_example_config_is_valid_and_builds_strategies() -> None:
    cfg = load_config(ROOT / "config.example.yaml")
    strategies = build_strategies(cfg, str(ROOT / "config.example.yaml"))
    assert len(strategies) >= 3
    assert {s.kind for s in strategies} >= {"market_making", "arbitrage"}
    # Two instances of one class compete with different parameters.
    mms = [s for s in strategies if type(s).__name__ == "MarketMaker"]
    assert len(mms) >= 2 and mms[0].params != mms[1].params


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        out.append(f"{prefix}{key}")
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(_keys(ann, f"{prefix}{key}."))
    return out


def test_example_config_documents_every_key_with_a_comment() -> None:
    lines = (ROOT / "config.example.yaml").read_text(encoding="utf-8").splitlines()
    missing = []
    for dotted in _keys(AppConfig):
        leaf = dotted.rsplit(".", 1)[-1]
        pat = re.compile(rf"^\s*(- )?{re.escape(leaf)}:")
        idx = [i for i, line in enumerate(lines) if pat.match(line)]
        if not idx or not any(lines[i - 1].strip().startswith("#") for i in idx):
            missing.append(dotted)
    assert missing == []


@pytest.mark.parametrize(
    ("text", "key", "expect"),
    [
        ("bot: {log_level: LOUD}", "bot.log_level", "Input should be"),
        (
            "competition: {starting_capital_usd: -5}",
            "competition.starting_capital_usd",
            "greater than 0",
        ),
        (
            "market_data: {sim: {markets: 0}}",
            "market_data.sim.markets",
            "greater than or equal to 1",
        ),
        ("market_data: {sim: {marketz: 3}}", "market_data.sim.marketz", "unknown key"),
        ("market_data: {speed: fast}", "market_data.speed", "Input should be"),
        ("execution: {latency_ms: abc}", "execution.latency_ms", "valid number"),
        (
            "bot: {db_url: '${NO_SUCH_VAR_FOR_TEST}'}",
            "bot.db_url",
            "NO_SUCH_VAR_FOR_TEST is not set",
        ),
        ("- just\n- a list", "", "top level must be a mapping"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str, expect: str) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    assert ei.value.key == key
    assert expect in ei.value.message
    assert str(p) in str(ei.value)


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    p = _write(tmp_path, "bot:\n  log_level: [INFO\n")
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    assert "invalid YAML at line" in ei.value.message


def test_env_var_reference_is_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_DB_URL", "sqlite:////tmp/x.db")
    cfg = parse_config({"bot": {"db_url": "${TEST_DB_URL}"}}, "mem")
    assert cfg.db_url() == "sqlite:////tmp/x.db"


def test_strategy_errors_name_index_class_and_key(tmp_path: Path) -> None:
    cfg = parse_config(
        {
            "strategies": [
                {"name": "a", "class": "MarketMaker"},
                {"name": "b", "class": "MarketMaker", "params": {"half_spread_ticks": 0}},
            ]
        },
        "cfg.yaml",
    )
    with pytest.raises(ConfigError) as ei:
        build_strategies(cfg, str(tmp_path / "cfg.yaml"))
    assert ei.value.key == "strategies[1].params.half_spread_ticks"
    assert "MarketMaker" in ei.value.message


def test_unknown_strategy_class(tmp_path: Path) -> None:
    cfg = parse_config({"strategies": [{"name": "a", "class": "NoSuchThing"}]}, "c.yaml")
    with pytest.raises(ConfigError) as ei:
        build_strategies(cfg, str(tmp_path / "c.yaml"))
    assert ei.value.key == "strategies[0].class"
    assert "unknown strategy class" in ei.value.message


def test_user_strategy_file_errors(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text("x = 1\n")
    cfg = parse_config({"strategies": [{"name": "a", "class": "mine.py:Idea"}]}, "c.yaml")
    with pytest.raises(ConfigError) as ei:
        build_strategies(cfg, str(tmp_path / "c.yaml"))
    assert "has no class 'Idea'" in ei.value.message
    cfg = parse_config({"strategies": [{"name": "a", "class": "missing.py:Idea"}]}, "c.yaml")
    with pytest.raises(ConfigError) as ei:
        build_strategies(cfg, str(tmp_path / "c.yaml"))
    assert "does not exist" in ei.value.message


def test_duplicate_strategy_names() -> None:
    with pytest.raises(ConfigError) as ei:
        parse_config(
            {
                "strategies": [
                    {"name": "a", "class": "MarketMaker"},
                    {"name": "a", "class": "MarketMaker"},
                ]
            },
            "c.yaml",
        )
    assert "used twice" in ei.value.message


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("bot: {log_level: [", "invalid YAML"),
        ("market_data: {sim: {markets: -1}}", "market_data.sim.markets"),
        ("strategies: [{name: x, class: Nope}]", "strategies[0].class"),
        ("unknown_section: {}", "unknown_section: unknown key"),
    ],
)
def test_bot_exits_2_on_bad_config_and_creates_nothing(
    tmp_path: Path, text: str, needle: str
) -> None:
    p = _write(tmp_path, text)
    db = tmp_path / "never.db"
    proc = run_bot("--config", str(p), "--db", str(db), "--no-dashboard", timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert str(p) in proc.stderr
    assert not db.exists()


def test_bad_speed_on_command_line(tmp_path: Path) -> None:
    proc = run_bot("--speed", "fast", "--db", str(tmp_path / "x.db"), "--no-dashboard", timeout=60)
    assert proc.returncode == 2
    assert "--speed" in proc.stderr


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        (
            "market_data:\n  replay_paths: [a.jsonl, b.jsonl\nbot:\n  log_level: INFO\n",
            "'[' list (opened at line 2) is not closed",
        ),
        ("bot:\n  log_level: INFO\n log_file: x\n", "indentation"),
        ("bot:\n\tlog_level: INFO\n", "tabs"),
        ('bot:\n  log_file: "logs/x\n', "quote (opened at line 2) is not closed"),
    ],
)
def test_yaml_syntax_errors_explain_themselves(tmp_path: Path, text: str, hint: str) -> None:
    # Defect: "expected ',' or ']', but got '?'" with no hint of what the line means.
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    assert "invalid YAML at line" in ei.value.message
    assert hint in ei.value.message
    assert "Hint:" in ei.value.message


def test_a_config_outside_the_repository_runs_with_the_examples_disabled_strategy(
    tmp_path: Path,
) -> None:
    # Defect: `--config /etc/...` failed: a *disabled* example strategy's file was resolved
    # relative to the config's folder.
    outside = tmp_path / "etc" / "config.yaml"
    outside.parent.mkdir()
    outside.write_text((ROOT / "config.example.yaml").read_text(encoding="utf-8"))
    cfg = load_config(outside)
    names = [s.name for s in build_strategies(cfg, str(outside))]
    assert "mm_tight" in names and "my_book_imbalance" not in names
    # A disabled strategy whose file exists nowhere is skipped with a warning, not an error.
    cfg = parse_config(
        {"strategies": [{"name": "a", "class": "gone.py:X", "enabled": False},
                        {"name": "b", "class": "MarketMaker"}]},
        str(outside),
    )  # fmt: skip
    assert [s.name for s in build_strategies(cfg, str(outside))] == ["b"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # libyaml reads these (found by fuzzing the example config); the pure-Python parser
        # refuses them, and a config must fail the same way whatever PyYAML build a machine has.
        ("a_\tb: 1\n", None),
        ("k: {min_ret?urn_pct: 0}\n", None),
        ("a: 1\ns:\n |# dropped by libyaml\n  y\n", None),
        # libyaml reads an empty tag as "", the pure-Python parser as null.
        ("log_file: !\nb: 1\n", {"log_file": None, "b": 1}),
    ],
)
def test_yaml_reads_as_the_pure_python_parser_does(
    tmp_path: Path, text: str, expected: dict[str, object] | None
) -> None:
    from utils.config import read_yaml

    path = tmp_path / "config.yaml"
    path.write_text(text)
    if expected is None:
        with pytest.raises(ConfigError, match="line"):
            read_yaml(path)
    else:
        assert read_yaml(path) == expected
