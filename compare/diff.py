"""How two arrays are compared everywhere in `compare`: errors, worst entry, pass/fail.

An entry passes when |actual - expected| ≤ rtol · max(|actual|, |expected|, floor), where
``floor = max(atol / rtol, 1e-3 · max|expected|)``: entries a thousand times smaller than
the array's largest (often exact zeros up to rounding, e.g. dead ReLU units) are judged on
the array's own scale instead of their own, which rounding noise would make meaningless.
The reported relative error is |actual - expected| / max(|actual|, |expected|, floor).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    why: str


# Stated and justified once, used by the CLIs and the tests alike.
TOLERANCES = {
    # Same float64 formulas, different summation order: rounding only, u = 1.1e-16 times
    # the length of the longest sum (≤ ~1e3 terms) leaves many orders of margin under 1e-10.
    "float64": Tolerance(1e-10, 1e-13, "float64 manual vs autograd: rounding only"),
    # u = 6e-8 in float32; sums over up to 784 inputs and 1/K averaging give ~1e-5 relative
    # at worst on the O(1) entries, so 1e-4 leaves a margin without hiding a real bug (those
    # are off by factors, signs or whole terms).
    "float32": Tolerance(1e-4, 1e-6, "float32 manual vs autograd: float32 rounding"),
    # Centred differences with ε = 1e-6: truncation O(ε²) ≈ 1e-12, rounding u·|L|/ε ≈ 1e-10.
    "finite-diff": Tolerance(1e-6, 1e-8, "centred finite differences, eps=1e-6, in float64"),
}


@dataclass(frozen=True)
class ArrayDiff:
    """The comparison of one array against its reference."""

    shape: tuple
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple  # index of the entry with the largest relative error
    actual_at_worst: float
    expected_at_worst: float
    rtol: float
    passed: bool

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["worst_index"] = list(self.worst_index)
        return d


def compare_arrays(actual, expected, tolerance: Tolerance) -> ArrayDiff:
    """Compare ``actual`` against ``expected`` (same shape) under ``tolerance``."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise ValueError(f"shape {actual.shape} does not match the reference shape {expected.shape}")
    if actual.size == 0:
        return ArrayDiff(actual.shape, 0.0, 0.0, (), 0.0, 0.0, tolerance.rtol, True)
    abs_err = np.abs(actual - expected)
    scale = float(np.max(np.abs(expected))) if np.all(np.isfinite(expected)) else np.inf
    floor = max(tolerance.atol / tolerance.rtol, 1e-3 * scale)
    denom = np.maximum(np.maximum(np.abs(actual), np.abs(expected)), floor)
    with np.errstate(invalid="ignore"):
        rel_err = abs_err / denom
    # NaN anywhere (in actual, or in one but not the other) is the worst possible entry.
    rel_err = np.where(np.isnan(rel_err), np.inf, rel_err)
    worst = np.unravel_index(int(np.argmax(rel_err)), actual.shape)
    max_rel = float(rel_err[worst])
    return ArrayDiff(
        shape=actual.shape,
        max_abs_error=float(np.nanmax(abs_err)) if not np.all(np.isnan(abs_err)) else float("nan"),
        max_rel_error=max_rel,
        worst_index=tuple(int(i) for i in worst),
        actual_at_worst=float(actual[worst]),
        expected_at_worst=float(expected[worst]),
        rtol=tolerance.rtol,
        passed=bool(max_rel <= tolerance.rtol),
    )
