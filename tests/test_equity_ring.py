"""``EquityRing`` keeps the same samples, oldest first, as the numpy ring it replaced (issue 18).

The ring moved from numpy arrays to the standard library's ``array('d')`` so the replay path does
not import numpy. The reference below is the numpy implementation it replaced, kept here as the
specification: same values (float64 both), same order, including after wrap-around.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from services.competition import EquityRing


class NumpyRing:
    """The numpy ring before the change (the specification)."""

    def __init__(self, capacity: int) -> None:
        self.ts = np.zeros(capacity, dtype=np.float64)
        self.equity = np.zeros(capacity, dtype=np.float64)
        self.capacity = capacity
        self.n = 0
        self._head = 0

    def append(self, ts: float, equity: float) -> None:
        self.ts[self._head] = ts
        self.equity[self._head] = equity
        self._head = (self._head + 1) % self.capacity
        self.n = min(self.n + 1, self.capacity)

    def series(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n < self.capacity:
            return self.ts[: self.n].copy(), self.equity[: self.n].copy()
        idx = np.r_[self._head : self.capacity, 0 : self._head]
        return self.ts[idx], self.equity[idx]


@pytest.mark.parametrize("capacity", [2, 3, 7, 50])
def test_ring_equals_the_numpy_ring_through_wrap_around(capacity: int) -> None:
    rng = random.Random(capacity)
    ring, ref = EquityRing(capacity), NumpyRing(capacity)
    assert ring.n == 0 and list(ring.series()[0]) == [] and list(ring.series()[1]) == []
    for i in range(capacity * 3 + 1):
        ts = 1_700_000_000.0 + i + rng.random()
        equity = rng.choice([rng.uniform(-1e6, 1e6), 1e-300, 0.1 + 0.2, 12345.678901234567, 7])
        ring.append(ts, equity)
        ref.append(ts, equity)
        got_ts, got_eq = ring.series()
        want_ts, want_eq = ref.series()
        assert ring.n == ref.n
        assert len(ring.ts) == len(ring.equity) == ring.n  # grows with the samples, then bounded
        assert list(got_ts) == want_ts.tolist()  # exact float64 values, same order
        assert list(got_eq) == want_eq.tolist()


def test_series_is_a_copy() -> None:
    ring = EquityRing(3)
    for i in range(5):
        ring.append(float(i), float(i * 10))
    ts, eq = ring.series()
    assert list(ts) == [2.0, 3.0, 4.0] and list(eq) == [20.0, 30.0, 40.0]
    ts[0] = -1.0
    eq[0] = -1.0
    assert list(ring.series()[0]) == [2.0, 3.0, 4.0]
    assert list(ring.series()[1]) == [20.0, 30.0, 40.0]


def test_competition_and_snapshots_do_not_import_numpy() -> None:
    # numpy costs about 15 MB of RSS and 0.2 s of start for bot.py's replay (issue 18)
    code = "import sys, services.competition, services.snapshots; sys.exit('numpy' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, check=False)
    assert proc.returncode == 0
