"""manual.checks directly: each check refuses what it must, names the value, and passes the rest.

NumPy only (no torch), so it runs in a fraction of a second; tests/test_bad_input.py checks the
same errors as the users of MLP and TorchMLP meet them.
"""

import numpy as np
import pytest

from manual.checks import (
    MODES,
    check_activation,
    check_lambdas,
    check_mode,
    check_positive,
    check_sizes,
    check_X,
    check_y,
)


def test_check_sizes():
    assert check_sizes([4, 3, 2]) == (4, 3, 2)
    assert check_sizes((np.int64(5), 1, 1)) == (5, 1, 1) and type(check_sizes((np.int64(5), 1, 1))[0]) is int
    assert check_sizes(range(1, 5)) == (1, 2, 3, 4)
    for bad, error, match in [
        (5, TypeError, r"sizes must be a sequence of ints \(d, h1, ..., m\), got 5"),
        ((4, 2), ValueError, r"at least 3 entries \(d, hidden..., m\), got \(4, 2\) \(2 entries\)"),
        ((), ValueError, r"got \(\) \(0 entries\)"),
        ((4, 0, 2), ValueError, r"sizes must be positive, got 0 in \(4, 0, 2\)"),
        ((4, 3, -1), ValueError, r"got -1 in"),
        ((4, 2.0, 2), TypeError, r"sizes must be ints, got 2.0 in"),
        ((4, True, 2), TypeError, r"sizes must be ints, got True in"),
        ((4, "3", 2), TypeError, r"got '3' in"),
    ]:
        with pytest.raises(error, match=match):
            check_sizes(bad)


def test_check_activation_and_mode():
    for name in ("relu", "tanh", "sigmoid", "softplus"):
        assert check_activation(name) == name
    for bad in ("gelu", "ReLU", None, 3):
        with pytest.raises(ValueError, match=rf"unknown activation {bad!r}; choose one of relu, sigmoid, softplus, tanh"):
            check_activation(bad)
    assert MODES == ("matrix", "loop")
    assert check_mode("matrix") == "matrix" and check_mode("loop") == "loop"
    with pytest.raises(ValueError, match=r"unknown mode 'vector'; choose 'matrix' or 'loop'"):
        check_mode("vector")


@pytest.mark.parametrize("value", [0.5, 1e-300, 3.0, 1, 2, np.float32(0.25), np.float64(7.5), np.int64(3), 1e308])
def test_check_positive_accepts(value):
    out = check_positive("lr", value)
    assert type(out) is float and out == float(value)


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (0.0, ValueError, r"lr must be a finite number > 0, got 0.0"),
        (-0.0, ValueError, r"got -0.0"),
        (0, ValueError, r"got 0.0"),
        (-0.5, ValueError, r"got -0.5"),
        (-1, ValueError, r"got -1.0"),
        (float("inf"), ValueError, r"got inf"),
        (-float("inf"), ValueError, r"got -inf"),
        (float("nan"), ValueError, r"got nan"),
        (np.float64("nan"), ValueError, r"got nan"),
        (np.float32(-2), ValueError, r"got -2.0"),
        (True, TypeError, r"lr must be a number, got True"),
        ("0.1", TypeError, r"lr must be a number, got '0.1'"),
        (None, TypeError, r"got None"),
        (1j, TypeError, r"got 1j"),
    ],
)
def test_check_positive_refuses(value, error, match):
    with pytest.raises(error, match=match):
        check_positive("lr", value)


def test_check_lambdas():
    assert check_lambdas(None, 2) == (0.0, 0.0, 0.0, 0.0)
    assert check_lambdas(None, 3) == (0.0,) * 6
    out = check_lambdas([0, 1e-3, np.float32(0.5), 2], 2)
    assert out == (0.0, 1e-3, 0.5, 2.0) and all(type(v) is float for v in out)
    assert check_lambdas(np.array([[0.1, 0.2], [0.3, 0.4]]), 2) == (0.1, 0.2, 0.3, 0.4)  # flattened
    for bad, n_layers, error, match in [
        (0.1, 2, TypeError, r"lambdas must be a list of 4 numbers \(L1, L2 per layer\), got the single number 0.1"),
        ("0.1", 2, TypeError, r"lambdas must be a list of numbers, got '0.1'"),
        ([0.1] * 3, 2, ValueError, r"expected 4 lambdas \(L1 and L2 weight for each of the 2 layers\), got 3"),
        ([0.1] * 4, 3, ValueError, r"expected 6 lambdas .* 3 layers\), got 4"),
        ([0.1, True, 0, 0], 2, TypeError, r"lambdas must be numbers, got True in \[0.1, True, 0, 0\]"),
        ([0.1, "a", 0, 0], 2, TypeError, r"lambdas must be numbers, got 'a'"),
        ([0.1, None, 0, 0], 2, TypeError, r"got None"),
        ([0.1, -1e-9, 0, 0], 2, ValueError, r"lambdas must be finite and >= 0, got -1e-09 in"),
        ([0.1, float("inf"), 0, 0], 2, ValueError, r"got inf"),
        ([0.1, float("nan"), 0, 0], 2, ValueError, r"got nan"),
    ]:
        with pytest.raises(error, match=match):
            check_lambdas(bad, n_layers)


def test_check_X():
    X = np.arange(6.0).reshape(2, 3)
    assert check_X(X, 3, np.float64) is X  # no copy when it is already right (a 60000×784 set)
    X32 = check_X(X, 3, np.float32)
    assert X32.dtype == np.float32 and np.array_equal(X32, X)
    np.testing.assert_array_equal(check_X([[1, 2, 3]], 3, np.float64), [[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(check_X(np.array([[True, False]]), 2, np.float64), [[1.0, 0.0]])
    assert check_X(np.ones((1, 3), dtype=np.int8), 3, np.float64).dtype == np.float64
    for bad, error, match in [
        (np.array([["a", "b", "c"]]), TypeError, r"X must hold real numbers, got dtype <U1"),
        (np.array([[1.0, None, 2.0]]), TypeError, r"got dtype object"),
        (np.ones((2, 3), dtype=complex), TypeError, r"got dtype complex128"),
        (np.ones(3), ValueError, r"X must be 2-D with shape \(K, 3\) \(one example per row\), got shape \(3,\)"),
        (np.ones((2, 3, 1)), ValueError, r"got shape \(2, 3, 1\)"),
        (np.ones((2, 4)), ValueError, r"X has 4 features per row but the network expects d=3 \(shape \(2, 4\)\)"),
        (np.ones((0, 3)), ValueError, r"X is an empty batch \(shape \(0, 3\)\)"),
        (np.array([[0.0, 1.0, 2.0], [3.0, np.inf, 5.0]]), ValueError, r"X contains NaN or inf \(first at row 1, column 1: "),
        (np.array([[0.0, 1.0, np.nan], [np.nan, 4.0, 5.0]]), ValueError, r"first at row 0, column 2"),
    ]:
        with pytest.raises(error, match=match):
            check_X(bad, 3, np.float64)
    with np.errstate(over="ignore"), pytest.raises(ValueError, match=r"row 0, column 0"):
        check_X(np.array([[1e39, 0.0, 0.0]]), 3, np.float32)  # finite in float64, inf once cast to float32


def test_check_y():
    y = np.array([0, 2, 1], dtype=np.intp)
    assert check_y(y, 3, 3) is y
    out = check_y(np.array([0, 1, 1], dtype=np.uint8), 3, 2)
    assert out.dtype == np.intp and out.tolist() == [0, 1, 1]
    assert check_y([0, 1], 2, 2).tolist() == [0, 1]
    assert check_y(np.array([1]), 1, 2).tolist() == [1]  # the largest label, m - 1
    for bad, K, error, match in [
        (np.array([0.0, 1.0]), 2, TypeError, r"y must be integer class labels in \[0, 3\), got dtype float64"),
        (np.array([True, False]), 2, TypeError, r"got dtype bool"),
        (np.array(["0", "1"]), 2, TypeError, r"got dtype <U1"),
        (np.array([0, 1, 2]), 2, ValueError, r"y must have shape \(2,\) to match X, got shape \(3,\)"),
        (np.array([[0, 1]]), 2, ValueError, r"got shape \(1, 2\)"),
        (np.array([[0], [1]]), 2, ValueError, r"got shape \(2, 1\)"),
        (np.array(1), 1, ValueError, r"got shape \(\)"),
        (np.array([0, 3, 1]), 3, ValueError, r"labels must be in \[0, 3\), got y\[1\] = 3"),
        (np.array([0, 1, -1]), 3, ValueError, r"got y\[2\] = -1"),
        (np.array([5, 4, 9]), 3, ValueError, r"got y\[0\] = 5"),  # the first bad one is named
    ]:
        with pytest.raises(error, match=match):
            check_y(bad, K, 3)
