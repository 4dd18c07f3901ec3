"""compare.lab.diff: every tolerance pinned on both sides of its boundary.

For each tolerance (float64, float32, finite-diff) an error just inside the boundary (0.9×
what is allowed) must pass and one just outside (1.1×) must fail, for each of the three
regimes of the rule

    |actual - expected| ≤ rtol · max(|actual|, |expected|, floor),
    floor = max(atol / rtol, scale_floor · max|expected|):

- a large entry: judged relatively, allowed rtol·|expected|;
- a tiny entry in an array whose scale makes atol/rtol the larger floor: allowed atol;
- a tiny entry in an array whose scale makes scale_floor·max|expected| the larger floor:
  allowed rtol·scale_floor·max|expected|.

The arrays are chosen so the two floors differ by a factor 16 (max|expected| = 0.5 or 8 times
(atol/rtol)/scale_floor, never 1), so a floor computed from the wrong term, or a constant
off by more than 10%, moves one of the two errors across the boundary. The tiny entry is a
millionth of the floor, so the perturbed value stays far below the floor and the allowed
error is exactly rtol·floor.
"""

import warnings

import numpy as np
import pytest

from compare.lab.diff import MAX_ABSOLUTE_FLOOR, TOLERANCES, ArrayDiff, Tolerance, compare_arrays

# The values the README states; the tests below check each one does what it says.
STATED = {
    "float64": (1e-10, 1e-13, 1e-3),
    "float32": (1e-4, 1e-8, 1e-2),
    "finite-diff": (1e-6, 1e-8, 1e-3),
}
NAMES = sorted(STATED)
DTYPES = {"float64": np.float64, "float32": np.float32, "finite-diff": np.float64}
INSIDE, OUTSIDE = 0.9, 1.1  # fractions of the allowed error


@pytest.fixture(autouse=True)
def _no_numpy_warnings():
    """compare_arrays must not warn, even on inf - inf or 0/0 (the CLIs print its results)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _compare(actual, expected, name):
    """compare_arrays on arrays of the tolerance's own dtype (float32 arrays for float32)."""
    dtype = DTYPES[name]
    return compare_arrays(np.asarray(actual, dtype=dtype), np.asarray(expected, dtype=dtype), TOLERANCES[name])


def test_the_stated_tolerances():
    for name, (rtol, atol, scale_floor) in STATED.items():
        tol = TOLERANCES[name]
        assert (tol.rtol, tol.atol, tol.scale_floor) == (rtol, atol, scale_floor), name
        assert tol.why


# ----------------------------------------------------------------------------- relative part
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["above", "below"])
def test_relative_part_boundary(name, sign):
    """A large entry may be off by rtol·|expected| (plus the 1 + rtol of the max(|a|, |e|))."""
    rtol = TOLERANCES[name].rtol
    expected = np.array([-3.0, 2.0, 0.75])  # max|expected| = 3: the floors are ≤ 0.03, far below 2
    for fraction, should_pass in ((INSIDE, True), (OUTSIDE, False)):
        actual = expected.copy()
        actual[1] = 2.0 * (1 + sign * fraction * rtol)
        diff = _compare(actual, expected, name)
        assert diff.passed is should_pass, (name, fraction)
        assert diff.worst_index == (1,)
        # the reported error is |a - e| / max(|a|, |e|), computed here from the values as stored
        a, e = float(np.asarray(actual, DTYPES[name])[1]), 2.0
        assert diff.max_rel_error == pytest.approx(abs(a - e) / max(abs(a), e), rel=1e-9, abs=0)
        assert diff.max_abs_error == pytest.approx(abs(a - e), rel=1e-9, abs=0)
        assert diff.max_rel_error == pytest.approx(fraction * rtol, rel=1e-2, abs=0)
        assert diff.rtol == rtol


# ----------------------------------------------------------------------------- floors
def _floor_case(name, regime):
    """(expected array, its floor): max|expected| makes the named term of the floor the larger."""
    tol = TOLERANCES[name]
    absolute = tol.atol / tol.rtol
    scale = (0.5 if regime == "atol" else 8.0) * absolute / tol.scale_floor
    floor = max(absolute, tol.scale_floor * scale)
    assert floor == pytest.approx(absolute if regime == "atol" else 8 * absolute, rel=1e-12, abs=0)
    assert scale != 1.0
    return np.array([scale, -scale / 2, 1e-6 * floor, 0.0]), floor


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("regime", ["atol", "array-scale"])
@pytest.mark.parametrize("index", [2, 3], ids=["tiny", "zero"])
def test_floor_boundary(name, regime, index):
    """A tiny (or zero) entry may be off by rtol·floor, in either direction."""
    tol = TOLERANCES[name]
    expected, floor = _floor_case(name, regime)
    allowed = tol.rtol * floor  # = atol in the "atol" regime
    if regime == "atol":
        assert allowed == pytest.approx(tol.atol, rel=1e-12, abs=0)
    for sign in (1.0, -1.0):
        for fraction, should_pass in ((INSIDE, True), (OUTSIDE, False)):
            actual = expected.copy()
            actual[index] += sign * fraction * allowed
            diff = _compare(actual, expected, name)
            assert diff.passed is should_pass, (name, regime, sign, fraction)
            assert diff.worst_index == (index,)
            assert diff.max_rel_error == pytest.approx(fraction * tol.rtol, rel=1e-3, abs=0)


@pytest.mark.parametrize("name", NAMES)
def test_all_zero_arrays_are_judged_to_atol(name):
    """An all-zero reference has no scale: only atol/rtol is left (and 0 vs 0 passes, no 0/0)."""
    tol = TOLERANCES[name]
    zeros = np.zeros((2, 3))
    same = _compare(zeros, zeros, name)
    assert same.passed and same.max_rel_error == 0.0 and same.max_abs_error == 0.0
    for fraction, should_pass in ((INSIDE, True), (OUTSIDE, False)):
        actual = zeros.copy()
        actual[1, 2] = -fraction * tol.atol
        diff = _compare(actual, zeros, name)
        assert diff.passed is should_pass
        assert diff.worst_index == (1, 2)


def test_boundary_itself_passes():
    """rel == rtol passes (≤, not <): powers of two make the error exactly rtol."""
    tol = Tolerance(0.5, 2.0**-10, "exact binary fractions")  # floor atol/rtol = 2^-9
    diff = compare_arrays(np.array([2.0**-10]), np.array([0.0]), tol)
    assert diff.max_rel_error == 0.5
    assert diff.passed
    assert not compare_arrays(np.array([2.0**-10 + 2.0**-40]), np.array([0.0]), tol).passed


# ----------------------------------------------------------------------------- worst entry
@pytest.mark.parametrize("name", NAMES)
def test_worst_entry_is_the_largest_relative_error_not_absolute(name):
    rtol = TOLERANCES[name].rtol
    # max|expected| = 100: every floor is ≤ 1 (float32's 1e-2·100), so all four are judged relatively
    expected = np.array([[100.0, 1.0], [-50.0, 1.5]])
    actual = expected.copy()
    actual[0, 0] *= 1 + 0.5 * rtol  # absolute error 50·rtol: the largest absolute error
    actual[1, 1] *= 1 + 3.0 * rtol  # absolute error 4.5·rtol but relative 3·rtol: the worst
    diff = _compare(actual, expected, name)
    assert diff.worst_index == (1, 1)
    assert diff.expected_at_worst == 1.5
    assert diff.actual_at_worst == pytest.approx(1.5 * (1 + 3 * rtol), rel=1e-7, abs=0)
    assert diff.max_rel_error == pytest.approx(3 * rtol, rel=1e-2, abs=0)
    assert diff.max_abs_error == pytest.approx(50 * rtol, rel=1e-2, abs=0)
    assert not diff.passed


def test_worst_entry_of_an_exact_match_and_a_scalar():
    exact = compare_arrays(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 2.0], [3.0, 4.0]]),
                           TOLERANCES["float64"])
    assert exact.passed and exact.max_rel_error == 0.0 and exact.worst_index == (0, 0)
    loss = compare_arrays(2.5 + 1e-9, 2.5, TOLERANCES["float64"])  # losses are 0-d arrays
    assert loss.shape == () and loss.worst_index == () and not loss.passed
    assert loss.max_rel_error == pytest.approx(1e-9 / 2.5, rel=1e-6, abs=0)


# ----------------------------------------------------------------------------- non-finite
@pytest.mark.parametrize("name", NAMES)
def test_non_finite_reference_keeps_the_scale_of_its_finite_entries(name):
    """An inf in the reference must not make the floor infinite (everything would pass) nor 0."""
    tol = TOLERANCES[name]
    expected, floor = _floor_case(name, "array-scale")
    expected = np.append(expected, np.inf)
    for fraction, should_pass in ((INSIDE, True), (OUTSIDE, False)):
        actual = expected.copy()
        actual[2] += fraction * tol.rtol * floor
        diff = _compare(actual, expected, name)
        assert diff.passed is should_pass, fraction
        assert diff.worst_index == (2,)
        assert diff.max_rel_error == pytest.approx(fraction * tol.rtol, rel=1e-3, abs=0)


@pytest.mark.parametrize(
    ("actual_value", "expected_value", "passes"),
    [
        (np.inf, np.inf, True),  # the same infinity agrees, as in numpy.isclose
        (-np.inf, -np.inf, True),
        (-np.inf, np.inf, False),
        (1e308, np.inf, False),
        (np.inf, 1.0, False),
        (np.nan, 1.0, False),
        (1.0, np.nan, False),
        (np.nan, np.nan, False),  # NaN never agrees
    ],
)
def test_non_finite_entries(actual_value, expected_value, passes):
    expected = np.array([4.0, expected_value, 1.0])
    actual = np.array([4.0, actual_value, 1.0 + 5e-3])  # entry 2 fails on its own (rel 5e-3)
    diff = compare_arrays(actual, expected, TOLERANCES["float64"])
    assert not diff.passed
    if passes:
        assert diff.worst_index == (2,)
        assert diff.max_rel_error == pytest.approx(5e-3 / 1.005, rel=1e-9, abs=0)
        assert diff.max_abs_error == pytest.approx(5e-3, rel=1e-9, abs=0)  # inf - inf counts as no error
    else:  # the non-finite entry is the worst possible one
        assert diff.worst_index == (1,)
        assert diff.max_rel_error == np.inf
    alone = compare_arrays(actual[:2], expected[:2], TOLERANCES["float64"])
    assert alone.passed is passes
    if passes:
        assert alone.max_abs_error == 0.0 and alone.max_rel_error == 0.0


def test_a_reference_with_no_finite_entry():
    infinities = np.array([np.inf, -np.inf])
    assert compare_arrays(infinities, infinities, TOLERANCES["float32"]).passed
    diff = compare_arrays(np.array([np.inf, 1.0]), infinities, TOLERANCES["float32"])
    assert not diff.passed and diff.worst_index == (1,) and diff.max_rel_error == np.inf


def test_max_abs_error_of_nan_arrays():
    nan = compare_arrays(np.array([np.nan, np.nan]), np.array([1.0, 2.0]), TOLERANCES["float64"])
    assert np.isnan(nan.max_abs_error) and nan.max_rel_error == np.inf and not nan.passed
    some = compare_arrays(np.array([np.nan, 2.5]), np.array([1.0, 2.0]), TOLERANCES["float64"])
    assert some.max_abs_error == 0.5 and some.worst_index == (0,)


# ----------------------------------------------------------------------------- the rest
def test_shapes_and_empty_arrays():
    with pytest.raises(ValueError, match=r"shape \(3,\) does not match the reference shape \(2,\)"):
        compare_arrays(np.ones(3), np.ones(2), TOLERANCES["float64"])
    empty = compare_arrays(np.zeros((0, 3)), np.zeros((0, 3)), TOLERANCES["float32"])
    assert empty == ArrayDiff((0, 3), 0.0, 0.0, (), 0.0, 0.0, TOLERANCES["float32"].rtol, True)


def test_integer_arrays_are_compared_as_float64():
    """No integer arithmetic: |int8(-128)| would wrap to -128, uint8 0 - 1 to 255."""
    diff = compare_arrays(np.array([-128, 5], dtype=np.int8), np.array([0.0, 5.0]), TOLERANCES["float64"])
    assert diff.max_rel_error == 1.0 and diff.max_abs_error == 128.0 and diff.worst_index == (0,)
    # an int8 reference of scale 128: its floor is 1e-3·128, not the atol floor 1e-3
    assert compare_arrays(np.array([-128.0, 1e-11]), np.array([-128, 0], dtype=np.int8), TOLERANCES["float64"]).passed
    wrapped = compare_arrays(np.array([0], dtype=np.uint8), np.array([1], dtype=np.uint8), TOLERANCES["float64"])
    assert wrapped.max_abs_error == 1.0 and wrapped.actual_at_worst == 0.0 and wrapped.expected_at_worst == 1.0


def test_results_are_immutable():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        TOLERANCES["float64"].rtol = 1e-3  # the stated tolerances cannot be loosened in passing
    diff = compare_arrays(np.ones(2), np.ones(2), TOLERANCES["float64"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        diff.passed = False


def test_to_dict_is_json_ready():
    diff = compare_arrays(np.array([[1.0, 2.0]]), np.array([[1.0, 2.5]]), TOLERANCES["float64"])
    assert diff.to_dict() == {
        "shape": [1, 2], "max_abs_error": 0.5, "max_rel_error": 0.2, "worst_index": [0, 1],
        "actual_at_worst": 2.0, "expected_at_worst": 2.5, "rtol": 1e-10, "passed": False,
    }


@pytest.mark.parametrize(
    ("rtol", "atol", "scale_floor", "match"),
    [
        # rtol 1e-7 with atol 1e-6: every entry below 10 would be judged absolutely
        (1e-7, 1e-6, 1e-3, r"atol must be > 0 and at most 0.01·rtol.*atol=1e-06 with rtol=1e-07"),
        (1e-4, 1.01e-6, 1e-3, r"atol=1.01e-06"),
        (1e-4, 0.0, 1e-3, r"atol must be > 0.*atol=0.0"),  # 0 vs 0 would be 0/0
        (1e-4, -1e-9, 1e-3, r"atol=-1e-09"),
        (0.0, 1e-9, 1e-3, r"rtol must be in \(0, 1\), got 0.0"),
        (1.0, 1e-9, 1e-3, r"rtol must be in \(0, 1\), got 1.0"),
        (float("nan"), 1e-9, 1e-3, r"rtol must be in \(0, 1\), got nan"),
        (1e-4, 1e-9, 0.0, r"scale_floor must be in \(0, 1\), got 0.0"),
        (1e-4, 1e-9, 1.0, r"scale_floor must be in \(0, 1\), got 1.0"),
    ],
)
def test_bad_tolerances_are_refused(rtol, atol, scale_floor, match):
    with pytest.raises(ValueError, match=match):
        Tolerance(rtol, atol, "bad", scale_floor=scale_floor)


def test_largest_allowed_absolute_floor_is_accepted():
    assert MAX_ABSOLUTE_FLOOR == 1e-2
    tol = Tolerance(1e-4, 1e-6, "atol/rtol exactly at the limit")
    assert tol.atol / tol.rtol <= MAX_ABSOLUTE_FLOOR
    assert Tolerance(0.5, 1e-3, "defaults").scale_floor == 1e-3
    assert Tolerance(0.5, 1e-3, "a coarse floor", scale_floor=0.5).scale_floor == 0.5  # any value in (0, 1)
    assert Tolerance(0.99, 1e-3, "a coarse rtol").rtol == 0.99
