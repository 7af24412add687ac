"""Shared fixtures of the Betfair tests: the real recording in ../shared/data/betfair/."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
RECORDING = ROOT.parent / "shared" / "data" / "betfair" / "1.197931750"
"""A real greyhound WIN market (flumine's test resource, MIT): 166 messages, ends CLOSED."""


@pytest.fixture
def recording() -> Path:
    """Return the shared Betfair recording (skip when the shared data is not beside the repo)."""
    if not RECORDING.is_file():
        pytest.skip(f"the shared Betfair recording {RECORDING} is not present")
    return RECORDING
