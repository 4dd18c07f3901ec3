"""How two arrays are compared everywhere in `compare`: errors, worst entry, pass/fail.

An entry passes when

    |actual - expected| ≤ rtol · max(|actual|, |expected|, floor),
    floor = max(atol / rtol, scale_floor · max|expected|),

where max|expected| is taken over the finite entries of the reference. The floor is there
for entries much smaller than the array's largest (often exact zeros up to rounding, e.g.
dead ReLU units): rounding leaves an error proportional to the *array's* scale on them, so
they are judged on that scale instead of their own, which would make the noise look like
a huge relative error. ``atol / rtol`` takes over in arrays whose largest entry is below
(atol / rtol) / scale_floor (1 for float64, 1e-2 for float32): there, entries smaller than
atol / rtol are allowed an absolute error atol; in an all-zero reference it is all there is.

The reported relative error is |actual - expected| / max(|actual|, |expected|, floor), and
the worst entry is the one with the largest *relative* error (not the largest absolute
error). A NaN on either side fails; an infinity passes only against the same infinity
(as ``numpy.isclose`` and ``torch.testing.assert_close`` treat them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# atol / rtol is the magnitude below which an entry may be judged absolutely (to atol).
# Gradient entries on MNIST are 1e-3 to 1e-1: a floor of 1e-2 already covers the smaller of
# them, and above it the "relative" tolerance would silently be an absolute one on whole
# arrays. Such a Tolerance is refused (e.g. float32's rtol lowered to 1e-7 with atol 1e-6
# would judge every entry below 10 to an absolute 1e-6, whatever its size).
MAX_ABSOLUTE_FLOOR = 1e-2


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    why: str
    # Entries below scale_floor · max|expected| are judged on that scale (see the module doc).
    scale_floor: float = 1e-3

    def __post_init__(self):
        if not 0.0 < self.rtol < 1.0:
            raise ValueError(f"rtol must be in (0, 1), got {self.rtol!r}")
        if not 0.0 < self.atol <= MAX_ABSOLUTE_FLOOR * self.rtol:
            raise ValueError(
                f"atol must be > 0 and at most {MAX_ABSOLUTE_FLOOR:g}·rtol (atol/rtol is the size below "
                f"which entries are judged absolutely), got atol={self.atol!r} with rtol={self.rtol!r}"
            )
        if not 0.0 < self.scale_floor < 1.0:
            raise ValueError(f"scale_floor must be in (0, 1), got {self.scale_floor!r}")


# Stated and justified once, used by the CLIs and the tests alike.
TOLERANCES = {
    # Same float64 formulas, different summation order: rounding only, u = 1.1e-16 times
    # the length of the longest sum (≤ ~1e3 terms) leaves many orders of margin under 1e-10.
    # Floor: max(1e-3, 1e-3·max|expected|).
    "float64": Tolerance(1e-10, 1e-13, "float64 manual vs autograd: rounding only"),
    # u = 6e-8 in float32; sums over up to 784 inputs and 1/K averaging give ~1e-5 relative
    # at worst on the O(1) entries, so 1e-4 leaves a margin without hiding a real bug (those
    # are off by factors, signs or whole terms). The rounding error of an entry is relative
    # to the size of the terms summed into it, i.e. to the array's scale (~u·√n·scale ≈
    # 2e-6·scale), so small entries are judged on 1% of the array's scale (scale_floor
    # 1e-2: allowed error 1e-6·scale; at 1e-3 entries a thousandth of the largest fail on
    # rounding alone, measured up to 2e-4 on 784-32-10, K=1024). atol is 1e-8, a floor of
    # 1e-4 for all-but-zero arrays. It was 1e-6, a floor of 1e-2: that is the size of the
    # MNIST gradients themselves (b1: 95-100% of the entries below it), so the "relative"
    # 1e-4 was in fact an absolute 1e-6 on whole arrays, 10-1000x looser than stated.
    "float32": Tolerance(1e-4, 1e-8, "float32 manual vs autograd: float32 rounding", scale_floor=1e-2),
    # Centred differences with ε = 1e-6: truncation O(ε²) ≈ 1e-12, rounding u·|L|/ε ≈ 1e-10
    # absolute, hence an absolute floor: entries below 1e-2 are judged to 1e-8.
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
    same_infinity = np.isinf(expected) & (actual == expected)  # inf vs inf: no error
    with np.errstate(invalid="ignore"):  # inf - inf, inf / inf: handled below
        abs_err = np.where(same_infinity, 0.0, np.abs(actual - expected))
        # max|expected| over the finite entries (0 if there are none)
        scale = float(np.max(np.abs(expected), where=np.isfinite(expected), initial=0.0))
        floor = max(tolerance.atol / tolerance.rtol, tolerance.scale_floor * scale)
        denom = np.maximum(np.maximum(np.abs(actual), np.abs(expected)), floor)
        rel_err = np.where(same_infinity, 0.0, abs_err / denom)
    # NaN anywhere (in actual, in expected, or inf against a finite value) is the worst entry.
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
