"""Bad input gets a clear ValueError/TypeError naming the bad value, never a NumPy traceback."""

import numpy as np
import pytest
import torch

from manual import MLP
from reference import TorchMLP, autograd_loss_and_grads

NET = MLP((4, 3, 2), seed=0)
X = np.ones((5, 4))
Y = np.array([0, 1, 0, 1, 1])


@pytest.mark.parametrize(
    ("X_bad", "match"),
    [
        (np.ones(4), r"2-D.*\(4,\)"),
        (np.ones((5, 4, 1)), r"2-D"),
        (np.ones((5, 3)), r"3 features.*d=4"),
        (np.ones((0, 4)), r"empty"),
        (np.array([[1.0, np.nan, 0, 0]] * 5), r"NaN or inf.*row 0, column 1"),
        (np.array([[1.0, 0, 0, np.inf]] * 5), r"NaN or inf.*column 3"),
    ],
)
def test_bad_X(X_bad, match):
    y = Y[: max(1, len(np.atleast_2d(X_bad)))] if X_bad.ndim == 2 else Y
    for call in (
        lambda: NET.loss_and_grads(X_bad, y),
        lambda: NET.loss_and_grads(X_bad, y, mode="loop"),
        lambda: NET.forward(X_bad),
        lambda: NET.input_grad(X_bad, y),
    ):
        with pytest.raises(ValueError, match=match):
            call()


def test_non_numeric_X():
    with pytest.raises(TypeError, match="real numbers"):
        NET.forward(np.array([["a", "b", "c", "d"]]))


@pytest.mark.parametrize(
    ("y_bad", "error", "match"),
    [
        (np.array([0, 1, 0, 1, 2]), ValueError, r"\[0, 2\).*y\[4\] = 2"),
        (np.array([0, -1, 0, 1, 1]), ValueError, r"y\[1\] = -1"),
        (np.array([0.0, 1.0, 0.0, 1.0, 1.0]), TypeError, r"integer.*float64"),
        (np.array([0, 1, 0]), ValueError, r"shape \(5,\).*\(3,\)"),
        (np.array([[0, 1, 0, 1, 1]]), ValueError, r"shape \(5,\)"),
        (np.array([True, False, True, False, True]), TypeError, r"integer"),
    ],
)
def test_bad_labels(y_bad, error, match):
    with pytest.raises(error, match=match):
        NET.loss_and_grads(X, y_bad)
    with pytest.raises(error, match=match):
        NET.loss(X, y_bad)


@pytest.mark.parametrize(
    ("lambdas", "error", "match"),
    [
        ([1e-3] * 3, ValueError, r"expected 4 lambdas.*got 3"),
        ([1e-3] * 6, ValueError, r"expected 4 lambdas.*got 6"),
        ([1e-3, -1e-3, 0, 0], ValueError, r">= 0.*-0.001"),
        ([1e-3, np.nan, 0, 0], ValueError, r"finite"),
        (0.1, TypeError, r"list of 4"),
        (["a", 0, 0, 0], TypeError, r"numbers.*'a'"),
    ],
)
def test_bad_lambdas(lambdas, error, match):
    with pytest.raises(error, match=match):
        NET.loss_and_grads(X, Y, lambdas)
    with pytest.raises(error, match=match):
        TorchMLP((4, 3, 2)).penalty(lambdas)


@pytest.mark.parametrize(
    ("sizes", "error", "match"),
    [
        ((4, 2), ValueError, r"at least 3 entries"),
        ((4,), ValueError, r"at least 3 entries"),
        ((4, 0, 2), ValueError, r"positive.*0"),
        ((4, -3, 2), ValueError, r"positive.*-3"),
        ((4, 2.5, 2), TypeError, r"ints.*2.5"),
        (5, TypeError, r"sequence"),
    ],
)
def test_bad_sizes(sizes, error, match):
    with pytest.raises(error, match=match):
        MLP(sizes)
    with pytest.raises(error, match=match):
        TorchMLP(sizes)


def test_unknown_activation_and_mode_and_dtype():
    with pytest.raises(ValueError, match=r"unknown activation 'gelu'.*relu"):
        MLP((4, 3, 2), activation="gelu")
    with pytest.raises(ValueError, match=r"unknown activation 'gelu'"):
        TorchMLP((4, 3, 2), activation="gelu")
    with pytest.raises(ValueError, match=r"unknown mode 'vector'"):
        NET.loss_and_grads(X, Y, mode="vector")
    with pytest.raises(TypeError, match=r"float32 or float64.*int64"):
        MLP((4, 3, 2), dtype=np.int64)
    with pytest.raises(TypeError, match=r"float32 or torch.float64, got torch.float16"):
        TorchMLP((4, 3, 2), dtype=torch.float16)
    assert TorchMLP((4, 3, 2), dtype="float32").dtype == torch.float32  # names work too
    assert TorchMLP((4, 3, 2), dtype=np.float32).dtype == torch.float32


def test_reference_checks_its_input_like_the_manual_twin():
    twin = TorchMLP((4, 3, 2))
    with pytest.raises(ValueError, match=r"3 features.*d=4"):
        autograd_loss_and_grads(twin, np.ones((5, 3)), Y)
    with pytest.raises(ValueError, match=r"y\[4\] = 2"):
        autograd_loss_and_grads(twin, X, np.array([0, 1, 0, 1, 2]))


def test_python_lists_are_accepted():
    loss_list, _ = NET.loss_and_grads(X.tolist(), Y.tolist())
    loss_array, _ = NET.loss_and_grads(X, Y)
    assert loss_list == loss_array


def test_more_bad_sizes_lambdas_and_labels():
    with pytest.raises(TypeError, match=r"sizes must be ints, got True in \(4, True, 2\)"):
        MLP((4, True, 2))  # a bool is an int to Python, not a layer width
    with pytest.raises(TypeError, match=r"lambdas must be numbers, got True in \[True, 0, 0, 0\]"):
        NET.loss_and_grads(X, Y, [True, 0, 0, 0])
    with pytest.raises(TypeError, match=r"lambdas must be a list of numbers, got '0.1'"):
        NET.loss_and_grads(X, Y, "0.1")
    with pytest.raises(ValueError, match=r"y must have shape \(5,\) to match X, got shape \(5, 1\)"):
        NET.loss_and_grads(X, Y.reshape(5, 1))
    with pytest.raises(TypeError, match=r"X must hold real numbers, got dtype complex128"):
        NET.forward(np.ones((2, 4), dtype=complex))
    with pytest.raises(TypeError, match=r"X must hold real numbers, got dtype object"):
        NET.forward(np.array([[1.0, 2.0, None, 0.0]]))


def test_edge_values_that_are_accepted():
    # zero lambdas are no penalty at all; numpy and int lambdas are numbers
    loss, grads = NET.loss_and_grads(X, Y, [0, 0.0, np.float32(0), 0])
    loss_none, grads_none = NET.loss_and_grads(X, Y)
    assert loss == loss_none and all(np.array_equal(grads[k], grads_none[k]) for k in grads)
    # boolean inputs are 0/1 numbers; unsigned labels are integers
    X_bool = np.array([[True, False, True, False]] * 5)
    assert NET.loss(X_bool, Y) == NET.loss(X_bool.astype(float), Y)
    assert NET.loss(X, Y.astype(np.uint8)) == NET.loss(X, Y)
    # the largest label m - 1 and the smallest 0 are in range; K = 1 is a batch
    assert np.isfinite(NET.loss(X[:1], np.array([1])))
    assert np.isfinite(NET.loss(X[:1], np.array([0])))


def test_checks_do_not_copy_what_is_already_right():
    """The training set is checked once, then sliced: a 60000×784 X must not be copied."""
    from manual.checks import check_X, check_y

    X64 = np.ones((3, 4))
    assert check_X(X64, 4, np.float64) is X64
    assert check_X(X64, 4, np.float32).dtype == np.float32
    y = np.array([0, 1, 1], dtype=np.intp)
    assert check_y(y, 3, 2) is y
    assert check_y(y.astype(np.int8), 3, 2).dtype == np.intp
