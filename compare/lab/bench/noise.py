"""When a median of timed epochs can be trusted on a shared machine, and which rows were noisy.

On a shared host, bursts of a few seconds slow an epoch 1.5-2×; the median of 7 stays put
while fewer than half of them are hit; when 40% are, a point takes one more round at a time.
"""

from __future__ import annotations

NOISY_SPREAD = 1.3  # slowest / fastest timed epoch above this: say the machine was noisy


def median_at_risk(seconds) -> bool:
    """True when ≥ 40% of the timed epochs ran NOISY_SPREAD× slower than the fastest.

    The median is then at most one disturbed epoch away from being a disturbed epoch itself.
    """
    if not seconds:
        return False
    slow = sum(t > NOISY_SPREAD * min(seconds) for t in seconds)
    return slow >= 0.4 * len(seconds)


def noisy_rows(samples) -> list:
    """'(hidden, batch) dtype impl ×spread' for every row whose epochs spread over NOISY_SPREAD, worst first."""
    spreads = [(max(r["epoch_seconds"]) / min(r["epoch_seconds"]), r) for r in samples]
    return [
        f"({r['hidden']}, {r['batch_size']}) {r['dtype']} {r['impl']} ×{spread:.2f}"
        for spread, r in sorted(spreads, key=lambda pair: -pair[0])
        if spread > NOISY_SPREAD
    ]
