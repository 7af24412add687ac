"""Lint, format and type checks: ruff and mypy must run clean over the repository (CONVENTIONS)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.lint

CHECKS = {
    "ruff check": ["ruff", "check", "."],
    "ruff format": ["ruff", "format", "--check", "."],
    "mypy": ["mypy", "."],
}


@pytest.mark.parametrize("tool", list(CHECKS))
def test_tool_runs_clean(tool: str) -> None:
    """Run the tool from the repository root and require exit code 0."""
    result = subprocess.run(
        [sys.executable, "-m", *CHECKS[tool]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, (
        f"`python -m {' '.join(CHECKS[tool])}` exited with {result.returncode}:\n"
        f"{result.stdout}\n{result.stderr}"
    )
