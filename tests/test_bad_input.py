"""Bad input gives a clear error and exit 2, never a traceback (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_bot
from utils.config import MAX_CONFIG_DEPTH, load_config, parse_config
from utils.errors import ConfigError


def _nested(levels: int) -> str:
    return "a: " + "[" * levels + "]" * levels + "\n"


def test_deeply_nested_yaml_is_a_config_error(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(_nested(5000))
    with pytest.raises(ConfigError, match="nests too deep"):
        load_config(p)


def test_nesting_past_the_limit_but_within_the_parser_is_refused_too(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(_nested(MAX_CONFIG_DEPTH + 5))
    with pytest.raises(ConfigError, match=f"at most {MAX_CONFIG_DEPTH}"):
        load_config(p)


def test_config_that_is_not_utf8_names_the_byte_and_line(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_bytes(b"bot:\n  log_level: INFO\n  db_path: caf\xe9.db\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0xe9 on line 3\)"):
        load_config(p)


def test_config_path_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


@pytest.mark.parametrize("speed", [float("nan"), float("inf"), -1.0])
def test_config_speed_must_be_finite_and_positive(speed: float) -> None:
    with pytest.raises(ConfigError, match="finite number"):
        parse_config({"market_data": {"speed": speed}}, "c.yaml")


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--speed", "nan"], "--speed: expected a finite number"),
        (["--speed", "inf"], "--speed: expected a finite number"),
        (["--speed=-inf"], "--speed: expected a finite number"),
        (["--config", "{nested}"], "nests too deep"),
        (["--config", "{latin}"], "not UTF-8"),
    ],
)
def test_bot_exits_2_without_a_traceback(tmp_path: Path, args: list[str], expect: str) -> None:
    nested = tmp_path / "nested.yaml"
    nested.write_text(_nested(5000))
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"bot:\n  db_path: caf\xe9.db\n")
    args = [a.format(nested=nested, latin=latin) for a in args]
    proc = run_bot(*args, "--db", str(tmp_path / "x.db"), "--no-dashboard", "--quiet", timeout=60)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert expect in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.db").exists()
