"""manual.MLP checked with NumPy alone (no torch): finite differences, loop vs matrix, the loss
written out by hand, and the training fast paths (manual.fast.FastMLP). Runs in about a second; tests/test_twins.py
checks the same against autograd.
"""

import numpy as np
import pytest

from manual import MLP, FastMLP, finite_difference_grads, finite_difference_input_grad

ACTIVATIONS = ("relu", "tanh", "sigmoid", "softplus")


def _case(sizes, activation, K, seed, net_class=MLP):
    rng = np.random.default_rng(seed)
    net = net_class(sizes, activation=activation, seed=seed)
    for name, value in net.params.items():
        if name.startswith("b"):
            value[...] = rng.uniform(-0.5, 0.5, value.shape)  # biases away from their initial zeros
    X = rng.standard_normal((K, sizes[0]))
    y = rng.integers(0, sizes[-1], size=K)
    lambdas = list(rng.uniform(1e-3, 1e-1, 2 * (len(sizes) - 1)))
    return net, X, y, lambdas


def _loss_by_hand(net, X, y, lambdas):
    """The batch loss written out directly from its definition (homework 2.4, 2.18)."""
    acts = {"relu": lambda a: np.maximum(a, 0), "tanh": np.tanh,
            "sigmoid": lambda a: 1 / (1 + np.exp(-a)), "softplus": lambda a: np.log1p(np.exp(a))}
    h = X
    L = net.n_layers
    for layer in range(1, L):
        h = acts[net.activation](h @ net.params[f"W{layer}"].T + net.params[f"b{layer}"])
    o = h @ net.params[f"W{L}"].T + net.params[f"b{L}"]
    p = np.exp(o) / np.exp(o).sum(axis=1, keepdims=True)
    nll = -np.mean(np.log(p[np.arange(len(y)), y]))
    penalty = sum(lambdas[2 * k - 2] * np.abs(net.params[f"W{k}"]).sum()
                  + lambdas[2 * k - 1] * (net.params[f"W{k}"] ** 2).sum() for k in range(1, L + 1))
    return nll + penalty


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("sizes", [(3, 4, 3), (3, 4, 3, 2)])
@pytest.mark.parametrize("K", [1, 5])
def test_gradients_equal_finite_differences_and_the_loop(sizes, activation, K):
    seed = 10 * len(sizes) + K + ACTIVATIONS.index(activation)
    net, X, y, lambdas = _case(sizes, activation, K, seed)
    loss, grads = net.loss_and_grads(X, y, lambdas)
    # the loss: same formulas in another order, ~1e-16 relative
    assert loss == pytest.approx(_loss_by_hand(net, X, y, lambdas), rel=1e-12, abs=0)
    assert net.loss(X, y, lambdas) == pytest.approx(loss, rel=1e-13, abs=0)
    # centred differences, ε = 1e-6: truncation ~ε² and rounding ~u/ε, ≤ ~1e-9 absolute on O(1)
    estimates = finite_difference_grads(lambda _: net.loss(X, y, lambdas), net.params)
    for name in net.params:
        np.testing.assert_allclose(grads[name], estimates[name], rtol=1e-6, atol=1e-8, err_msg=name)
    estimate_X = finite_difference_input_grad(lambda Z: net.loss(Z, y), X)
    np.testing.assert_allclose(net.input_grad(X, y), estimate_X, rtol=1e-6, atol=1e-8)
    # the loop version: the same sums in another order (1e-12 relative is ~1e4 ulps of margin)
    loss_loop, grads_loop = net.loss_and_grads(X, y, lambdas, mode="loop")
    assert loss_loop == pytest.approx(loss, rel=1e-12, abs=0)
    for name in grads:
        np.testing.assert_allclose(grads_loop[name], grads[name], rtol=1e-12, atol=1e-15, err_msg=name)
    np.testing.assert_allclose(net.input_grad(X, y, mode="loop"), net.input_grad(X, y), rtol=1e-12, atol=1e-15)
    # forward and predict
    probs = net.forward(X)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-15, atol=0)
    np.testing.assert_array_equal(net.predict(X), probs.argmax(axis=1))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fast_paths_equal_the_plain_path(activation):
    net, X, y, lambdas = _case((4, 5, 3), activation, 6, seed=3, net_class=FastMLP)
    ref = MLP((4, 5, 3), activation=activation)
    ref.params = {name: value.copy() for name, value in net.params.items()}
    grads = None
    for lam in (lambdas, None):
        loss, plain = net.loss_and_grads(X, y, lam)
        fast_loss, grads = net.loss_and_grads_into(grads, X, y, lam)
        assert fast_loss == loss and all(np.array_equal(grads[k], plain[k]) for k in plain)
        # sgd_step: η folded into bprop, a few ulps of each step (rtol 1e-13 on θ)
        expected_loss, g = ref.loss_and_grads(X, y, lam)
        for name in ref.params:
            ref.params[name] -= 0.3 * g[name]
        assert net.sgd_step(X, y, 0.3, lam) == pytest.approx(expected_loss, rel=1e-14, abs=0)
        for name in ref.params:
            np.testing.assert_allclose(net.params[name], ref.params[name], rtol=1e-13, atol=1e-16)


def test_loop_mode_really_runs_one_example_at_a_time(monkeypatch):
    """mode="loop" is the homework's per-example backprop (3.1-3.3), not the matrix code again:
    the two agree to rounding, so only counting the per-example calls tells them apart."""
    net, X, y, lambdas = _case((3, 4, 3), "tanh", 5, seed=1)
    calls = []
    original = MLP._backprop_one

    def counting(self, x, label):
        calls.append(x.shape)
        return original(self, x, label)

    monkeypatch.setattr(MLP, "_backprop_one", counting)
    net.loss_and_grads(X, y, lambdas, mode="loop")
    assert calls == [(3,)] * 5  # once per example, one vector each
    net.input_grad(X, y, mode="loop")
    assert len(calls) == 10
    net.loss_and_grads(X, y, lambdas)  # the default, matrix, never goes through it
    net.input_grad(X, y)
    assert len(calls) == 10


def test_input_grad_checks_its_arguments_like_loss_and_grads():
    net = MLP((4, 3, 2), seed=0)  # m = 2 classes, a hidden layer of 3
    X, y = np.ones((3, 4)), np.array([0, 1, 1])
    with pytest.raises(ValueError, match=r"unknown mode 'vector'"):
        net.input_grad(X, y, mode="vector")
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\), got y\[2\] = 2"):
        net.input_grad(X, np.array([0, 1, 2]))  # 2 < 3 hidden units, but not a class
    with pytest.raises(ValueError, match=r"y must have shape \(3,\)"):
        net.input_grad(X, y[:2])


def test_init_params_default_seed_is_0():
    from manual import init_params

    for name, value in init_params((3, 4, 2)).items():
        np.testing.assert_array_equal(value, MLP((3, 4, 2), seed=0).params[name])
        np.testing.assert_array_equal(value, FastMLP((3, 4, 2)).params[name])  # the same defaults
        assert value.dtype == np.float64 and FastMLP((3, 4, 2)).params[name].dtype == np.float64


@pytest.mark.parametrize("method", ["loss", "loss_and_grads"])
def test_loss_checks_labels_against_the_number_of_classes(method):
    net = MLP((4, 3, 2), seed=0)  # m = 2 classes, a hidden layer of 3
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\), got y\[2\] = 2"):
        getattr(net, method)(np.ones((3, 4)), np.array([0, 1, 2]))  # 2 < 3 hidden units, but not a class


def test_loss_and_grads_refuses_an_unknown_mode():
    net = MLP((4, 3, 2), seed=0)
    with pytest.raises(ValueError, match=r"unknown mode 'vector'; choose 'matrix' or 'loop'"):
        net.loss_and_grads(np.ones((3, 4)), np.array([0, 1, 1]), mode="vector")


def test_the_net_refuses_other_dtypes_and_says_what_it_is():
    for dtype, name in ((np.int64, "int64"), (np.float16, "float16")):
        with pytest.raises(TypeError, match=f"dtype must be float32 or float64, got {name}"):
            MLP((3, 4, 2), dtype=dtype)
    net = MLP((3, 4, 2), activation="tanh", dtype=np.float32)
    assert repr(net) == "MLP(sizes=(3, 4, 2), activation='tanh', dtype=float32, n_params=26)"  # 4·3 + 4 + 2·4 + 2
    assert repr(FastMLP((3, 4, 2))) == "FastMLP(sizes=(3, 4, 2), activation='relu', dtype=float64, n_params=26)"
