"""How far a median over rounds can be trusted: a distribution-free interval from the order statistics.

The per-round ratios of this machine are not normal (its speed flips between two levels from one second
to the next), so the interval makes no assumption about their shape: it only uses the fact that each
round falls below the true median with probability one half.
"""

from __future__ import annotations

from collections.abc import Iterable
from math import comb


def median_interval(values: Iterable[float], confidence: float = 0.95) -> tuple[float, float]:
    """The widest order statistics ``(x_k, x_{n-k+1})`` whose coverage of the median is at least
    ``confidence``; with too few values for that, the smallest and the largest."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("no values")
    tail = (1 - confidence) / 2
    # X ~ Binomial(n, 1/2), the rounds below the median; the interval misses it when X <= k - 1 or
    # X >= n - k + 1, so k grows while P(X <= k - 1) stays within the tail.
    below = 0.0
    k = 0
    while k < n // 2:
        below += comb(n, k) / 2**n
        if below > tail:
            break
        k += 1
    if k == 0:
        return ordered[0], ordered[-1]
    return ordered[k - 1], ordered[n - k]  # x_k and x_(n-k+1), counted from 1
