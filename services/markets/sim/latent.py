"""The true probability of a market or neg-risk event: a Bayesian posterior over a hidden winner.

When a group (binary market or neg-risk event) is listed, its winner is drawn from the initial
prior and kept hidden. Information then arrives as Gaussian signals about the winner; the latent
probabilities are the exact posterior given those signals. For each outcome ``k`` a signal of
information ``I`` (``m**2 * dt``) moves the log-weight by ``I * [k == winner] + sqrt(I) * Z_k``.

This makes the latent price a martingale that is calibrated (a market at 0.9 resolves YES nine
times in ten) and that converges to 0 or 1 as information accumulates near the end. For a binary
market the log-odds performs a random walk with volatility ``sqrt(2 I)`` per update and a drift
of ``I`` toward the truth; a news jump is one large signal.
"""

from __future__ import annotations

import math

from services.markets.sim.rand import RandomBlocks

_FLOOR = -40.0  # log-weight floor relative to the leader: p >= ~4e-18, keeps exp() finite


class Latent:
    """Posterior probabilities of mutually exclusive outcomes (two for a binary market).

    Parameters
    ----------
    prior : list[float]
        Initial probabilities (normalised here); the hidden winner is drawn from them.
    rand : RandomBlocks
        Random source.
    """

    __slots__ = ("w", "p", "winner")

    def __init__(self, prior: list[float], rand: RandomBlocks) -> None:
        total = sum(prior)
        probs = [max(x / total, 1e-9) for x in prior]
        self.w = [math.log(x) for x in probs]
        self.p: list[float] = []
        self._normalise()
        u = rand.u()
        acc = 0.0
        self.winner = len(self.p) - 1
        for k, x in enumerate(self.p):
            acc += x
            if u < acc:
                self.winner = k
                break

    def inform(self, info: float, rand: RandomBlocks) -> None:
        """Apply one signal carrying ``info`` units of information (log-odds drift)."""
        if info <= 0.0:
            return
        s = math.sqrt(info)
        w = self.w
        for k in range(len(w)):
            w[k] += s * rand.n()
        w[self.winner] += info
        self._normalise()

    def _normalise(self) -> None:
        w = self.w
        top = max(w)
        for k in range(len(w)):
            x = w[k] - top
            w[k] = x if x > _FLOOR else _FLOOR
        ex = [math.exp(x) for x in w]
        z = sum(ex)
        self.p = [x / z for x in ex]


def information(
    dt: float,
    remaining: float,
    base_rate: float,
    window: float,
    strength: float,
    tau: float,
) -> float:
    """Return the information arriving over the ``dt`` seconds that end ``remaining`` s before close.

    Parameters
    ----------
    dt : float
        Length of the step, seconds.
    remaining : float
        Seconds from the end of the step to the market's end (may be <= 0 after the end).
    base_rate : float
        Background information per second (``sigma**2 / 7200`` for a log-odds volatility
        ``sigma`` per square-root hour).
    window : float
        End-game window, seconds: inside it the rate adds ``strength / (remaining + tau)``.
    strength : float
        End-game strength (dimensionless).
    tau : float
        End-game time scale, seconds.
    """
    info = base_rate * dt
    if strength > 0.0 and window > 0.0:
        hi = min(remaining + dt, window)  # start of the step, clipped to the window
        lo = max(remaining, 0.0)
        if hi > lo:
            info += strength * math.log((hi + tau) / (lo + tau))
    return info
