"""The heart of the project: the hand-written gradients equal autograd's, everywhere.

Tolerances (compare/lab/diff.py states them once): float64 manual vs autograd ≤ 1e-10 relative
(rounding only), losses ≤ 1e-12, centred finite differences ≤ 1e-6, float32 ≤ 1e-4.
"""

import itertools
import zlib

import numpy as np
import pytest
import torch

from compare.lab.diff import TOLERANCES, Tolerance, compare_arrays
from manual import MLP, FastMLP, finite_difference_grads, finite_difference_input_grad, init_params
from reference import TorchMLP, autograd_input_grad, autograd_loss_and_grads

ACTIVATIONS = ("relu", "tanh", "sigmoid", "softplus")
SIZES = ((5, 7, 3), (6, 4, 5, 3), (4, 6, 3, 5, 2))  # 1, 2 and 3 hidden layers


def make_case(sizes, activation, K, with_lambdas, seed, dtype=np.float64, net_class=MLP):
    rng = np.random.default_rng(1000 + seed)
    net = net_class(sizes, activation=activation, seed=seed, dtype=dtype)
    # Non-zero biases, so the bias paths are exercised away from the initial zeros.
    for name, value in net.params.items():
        if name.startswith("b"):
            value[...] = rng.uniform(-0.5, 0.5, value.shape)
    X = rng.standard_normal((K, sizes[0]))
    y = rng.integers(0, sizes[-1], size=K)
    n_layers = len(sizes) - 1
    lambdas = list(rng.uniform(1e-3, 1e-1, 2 * n_layers)) if with_lambdas else None
    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    twin = TorchMLP(sizes, activation=activation, dtype=torch_dtype).load_params(net.params)
    return net, twin, X, y, lambdas


def assert_close(actual, expected, tolerance, what):
    diff = compare_arrays(actual, expected, tolerance)
    assert diff.passed, (
        f"{what}: max rel err {diff.max_rel_error:.3e} > {tolerance.rtol:g} at {diff.worst_index} "
        f"({diff.actual_at_worst!r} vs {diff.expected_at_worst!r})"
    )


GRID = list(itertools.product(SIZES, ACTIVATIONS, (1, 10, 64), (False, True)))


@pytest.mark.parametrize(("sizes", "activation", "K", "with_lambdas"), GRID)
def test_float64_manual_equals_autograd(sizes, activation, K, with_lambdas):
    # From the test's own parameters, so a failure reruns from its id (hash() of a tuple with
    # strings changes with PYTHONHASHSEED; crc32 of the repr does not).
    seed = zlib.crc32(repr((sizes, activation, K, with_lambdas)).encode()) % 1000
    net, twin, X, y, lambdas = make_case(sizes, activation, K, with_lambdas, seed)
    ref_loss, ref_grads = autograd_loss_and_grads(twin, X, y, lambdas)
    ref_input_grad = autograd_input_grad(twin, X, y)
    for mode in ("matrix", "loop"):
        loss, grads = net.loss_and_grads(X, y, lambdas, mode=mode)
        assert abs(loss - ref_loss) <= 1e-12 * max(1.0, abs(ref_loss)), (mode, loss, ref_loss)
        assert list(grads) == list(net.params)
        for name in net.params:
            assert grads[name].shape == net.params[name].shape
            assert grads[name].dtype == np.float64
            assert_close(grads[name], ref_grads[name], TOLERANCES["float64"], f"{mode} {name}")
        assert_close(net.input_grad(X, y, mode=mode), ref_input_grad, TOLERANCES["float64"], f"{mode} dL/dX")


@pytest.mark.parametrize("sizes", [(2, 2, 2), *SIZES])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("K", [1, 10])
def test_finite_differences_agree(sizes, activation, K):
    net, _, X, y, lambdas = make_case(sizes, activation, K, True, seed=K)
    _, grads = net.loss_and_grads(X, y, lambdas)
    estimates = finite_difference_grads(lambda _: net.loss(X, y, lambdas), net.params, eps=1e-6)
    for name in net.params:
        assert_close(grads[name], estimates[name], TOLERANCES["finite-diff"], f"finite diff {name}")
    estimate_X = finite_difference_input_grad(lambda Xp: net.loss(Xp, y), X)
    assert_close(net.input_grad(X, y), estimate_X, TOLERANCES["finite-diff"], "finite diff dL/dX")


def test_finite_difference_checker_restores_params_and_works_on_any_function():
    params = {"a": np.array([1.0, -2.0, 3.0]), "B": np.arange(6.0).reshape(2, 3)}
    before = {k: v.copy() for k, v in params.items()}

    def f(p):  # f = Σ a³ + Σ sin(B)
        return np.sum(p["a"] ** 3) + np.sum(np.sin(p["B"]))

    est = finite_difference_grads(f, params)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
    np.testing.assert_allclose(est["a"], 3 * params["a"] ** 2, rtol=1e-8)
    np.testing.assert_allclose(est["B"], np.cos(params["B"]), rtol=1e-7, atol=1e-9)
    with pytest.raises(ValueError, match="eps"):
        finite_difference_grads(f, params, eps=0)


def test_finite_difference_step_is_eps_and_centred():
    """For a cube the centred difference is exact up to ε²: ((a+ε)³ - (a-ε)³)/2ε = 3a² + ε².

    At a = 0 the estimate is ε² itself (1e-12 for the default ε = 1e-6; the rounding of ±ε³ is
    relative, so 1e-6 relative is generous), which pins the default ε and the centring.
    """
    est = finite_difference_grads(lambda p: p["a"][0] ** 3, {"a": np.array([0.0])})
    assert est["a"][0] == pytest.approx(1e-12, rel=1e-6, abs=0)
    assert finite_difference_grads(lambda p: p["a"][0] ** 3, {"a": np.array([0.0])}, eps=1e-3)["a"][0] == \
        pytest.approx(1e-6, rel=1e-9, abs=0)
    est_X = finite_difference_input_grad(lambda X: X[0, 1] ** 3, np.zeros((1, 2)))
    np.testing.assert_allclose(est_X, [[0.0, 1e-12]], rtol=1e-6, atol=0)


def test_finite_difference_checker_refuses_what_it_cannot_perturb():
    def f(p):
        return float(np.sum(p["W"] ** 2))

    with pytest.raises(TypeError, match=r"params\['W'\] must be a float NumPy array, got ndarray"):
        finite_difference_grads(f, {"W": np.arange(6).reshape(2, 3)})  # ints: +ε would be truncated
    with pytest.raises(TypeError, match=r"params\['W'\] must be a float NumPy array, got list"):
        finite_difference_grads(f, {"W": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"params\['W'\] is not contiguous; cannot perturb it in place"):
        finite_difference_grads(f, {"W": np.ones((3, 2)).T})  # reshape(-1) of a transpose is a copy
    for eps in (0.0, -1e-6, float("nan")):
        with pytest.raises(ValueError, match=r"eps must be > 0, got"):
            finite_difference_grads(f, {"W": np.ones(2)}, eps=eps)
    # names limits the check; the others are neither estimated nor touched
    est = finite_difference_grads(lambda p: float(np.sum(p["W"] ** 2) + np.sum(p["b"])),
                                  {"W": np.array([1.0, -2.0]), "b": np.ones(3, dtype=int)}, names=["W"])
    assert list(est) == ["W"]
    np.testing.assert_allclose(est["W"], [2.0, -4.0], rtol=1e-8)
    assert est["W"].dtype == np.float64


def test_finite_difference_input_grad_takes_any_real_X_and_leaves_it_alone():
    X = np.array([[1, 2], [3, 4]])  # ints are fine here: a float64 copy is nudged
    est = finite_difference_input_grad(lambda Z: float(np.sum(Z**2)), X)
    np.testing.assert_allclose(est, 2 * X, rtol=1e-8)
    assert est.dtype == np.float64
    X32 = np.array([[0.5, -1.5]], dtype=np.float32)  # float32 would round X ± 1e-6: copied to float64
    np.testing.assert_allclose(finite_difference_input_grad(lambda Z: float(np.sum(Z**3)), X32),
                               3 * X32.astype(np.float64) ** 2, rtol=1e-8)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_loop_equals_matrix(activation):
    """Homework 3.7: same seed, same batch → the same gradients from both versions."""
    net, _, X, y, lambdas = make_case((8, 6, 5, 4), activation, 32, True, seed=7)
    loss_m, grads_m = net.loss_and_grads(X, y, lambdas, mode="matrix")
    loss_l, grads_l = net.loss_and_grads(X, y, lambdas, mode="loop")
    assert loss_l == pytest.approx(loss_m, rel=1e-13, abs=0)
    # The same formulas summed in a different order: 1e-12 relative leaves ~100× rounding margin.
    same = Tolerance(1e-12, 1e-15, "loop vs matrix: summation order only")
    for name in grads_m:
        assert_close(grads_l[name], grads_m[name], same, f"loop vs matrix {name}")


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_float32_manual_equals_float32_autograd(activation):
    net, twin, X, y, lambdas = make_case((784, 100, 10), activation, 64, True, seed=3, dtype=np.float32)
    X = X.astype(np.float32)
    ref_loss, ref_grads = autograd_loss_and_grads(twin, X, y, lambdas)
    loss, grads = net.loss_and_grads(X, y, lambdas)
    assert loss == pytest.approx(ref_loss, rel=1e-5, abs=0)
    for name in grads:
        assert grads[name].dtype == np.float32
        assert_close(grads[name], ref_grads[name], TOLERANCES["float32"], f"float32 {name}")


def test_float32_net_holds_the_float64_values_rounded():
    n64, n32 = MLP((5, 4, 3), seed=11), MLP((5, 4, 3), seed=11, dtype=np.float32)
    for name in n64.params:
        np.testing.assert_array_equal(n32.params[name], n64.params[name].astype(np.float32))


# ----------------------------------------------------------------------------- stability
def test_huge_logits_and_inputs_give_finite_losses_equal_to_torch():
    net = MLP((3, 4, 3), seed=0)
    net.params["W2"] *= 1000.0  # logits of order ±1000
    X = np.array([[1e6, -1e6, 3e5], [2.0, -1.0, 0.5], [-1e6, 1e6, 1e6]])
    y = np.array([0, 1, 2])
    twin = TorchMLP((3, 4, 3)).load_params(net.params)
    assert np.max(np.abs(net.logits(X))) > 1e3
    ref_loss, ref_grads = autograd_loss_and_grads(twin, X, y)
    for mode in ("matrix", "loop"):
        with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
            loss, grads = net.loss_and_grads(X, y, mode=mode)
        assert np.isfinite(loss)
        assert loss == pytest.approx(ref_loss, rel=1e-12, abs=0)
        for name in grads:
            assert np.all(np.isfinite(grads[name]))
            assert_close(grads[name], ref_grads[name], TOLERANCES["float64"], f"{mode} {name}")
    probs = net.forward(X)
    assert np.all(np.isfinite(probs)) and np.allclose(probs.sum(axis=1), 1.0)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_saturating_activations_stay_finite(activation):
    net = MLP((2, 3, 2), activation=activation, seed=1)
    X = np.array([[1e6, -1e6], [-1e6, 1e6], [1e3, 1e3]])
    y = np.array([0, 1, 1])
    twin = TorchMLP((2, 3, 2), activation=activation).load_params(net.params)
    ref_loss, ref_grads = autograd_loss_and_grads(twin, X, y)
    with np.errstate(over="raise", invalid="raise"):
        loss, grads = net.loss_and_grads(X, y)
    assert loss == pytest.approx(ref_loss, rel=1e-12, abs=0)
    for name in grads:
        assert_close(grads[name], ref_grads[name], TOLERANCES["float64"], name)


# ----------------------------------------------------------------------------- API
def test_homework_parameter_count_and_shapes():
    d, d_h, m = 784, 10, 10
    net = MLP((d, d_h, m))
    assert net.n_params == d_h * d + d_h + m * d_h + m  # homework 2.5
    assert {k: v.shape for k, v in net.params.items()} == {
        "W1": (d_h, d), "b1": (d_h,), "W2": (m, d_h), "b2": (m,)
    }


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_initialisation_is_the_homeworks_and_seeded(dtype):
    """W_l ~ U(-1/√fan_in, 1/√fan_in): inside both bounds, reaching near both, centred, flat."""
    net = MLP((400, 30, 10), seed=5, dtype=dtype)
    for layer, fan_in, fan_out in ((1, 400, 30), (2, 30, 10)):
        W = net.params[f"W{layer}"]
        bound = 1 / np.sqrt(fan_in)
        assert W.shape == (fan_out, fan_in) and W.dtype == dtype
        assert np.all(W >= -bound) and np.all(W <= bound)  # never outside [-bound, bound] (a float32
        # rounding of a value within 1 ulp of the bound stays ≤ the bound rounded the same way)
        # reaching near both ends: with n draws the extremes are within (bound·2/n)·few of them;
        # n = 300 or 12000 here, so 0.95·bound is > 7 gaps from the end (p < 1e-6 to miss).
        assert W.max() > 0.95 * bound and W.min() < -0.95 * bound
        # uniform on the interval: mean 0 and variance bound²/3; the sd of the sample mean is
        # bound/√(3n) ≤ 0.034·bound, of the sample variance ≤ 0.05·bound²/3 (n = 300), so 5 sd:
        assert abs(W.mean()) < 5 * bound / np.sqrt(3 * W.size)
        assert W.var() == pytest.approx(bound**2 / 3, rel=5 * np.sqrt(0.8 / W.size), abs=0)
        b = net.params[f"b{layer}"]
        assert b.shape == (fan_out,) and b.dtype == dtype and not np.any(b)
    assert np.array_equal(MLP((400, 30, 10), seed=5, dtype=dtype).params["W1"], net.params["W1"])
    assert not np.array_equal(MLP((400, 30, 10), seed=6, dtype=dtype).params["W1"], net.params["W1"])
    # the homework's draw: default_rng(seed), W1 then W2, in float64, then cast
    rng = np.random.default_rng(5)
    W1 = rng.uniform(-1 / np.sqrt(400), 1 / np.sqrt(400), size=(30, 400))
    W2 = rng.uniform(-1 / np.sqrt(30), 1 / np.sqrt(30), size=(10, 30))
    np.testing.assert_array_equal(net.params["W1"], W1.astype(dtype))
    np.testing.assert_array_equal(net.params["W2"], W2.astype(dtype))
    assert list(net.params) == ["W1", "b1", "W2", "b2"]


def test_init_params_is_the_mlps_initialisation():
    params = init_params((3, 4, 5, 2), seed=8, dtype=np.float32)
    net = MLP((3, 4, 5, 2), seed=8, dtype=np.float32)
    assert list(params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for name in params:
        assert params[name].dtype == np.float32
        np.testing.assert_array_equal(params[name], net.params[name])
    assert MLP((3, 4, 2)).params["W1"].tolist() == init_params((3, 4, 2), seed=0)["W1"].tolist()  # seed 0 default


def test_params_are_live():
    net, twin, X, y, _ = make_case((5, 7, 3), "tanh", 4, False, seed=2)
    before = net.loss(X, y)
    net.params["W2"] *= 2.0  # in place
    after_inplace = net.loss(X, y)
    net.params["b2"] = net.params["b2"] + 1.0  # replaced
    assert after_inplace != before
    twin.load_params(net.params)
    assert net.loss(X, y) == pytest.approx(autograd_loss_and_grads(twin, X, y)[0], rel=1e-12, abs=0)


def test_forward_predict_and_loss_agree_with_torch():
    net, twin, X, y, lambdas = make_case((6, 4, 5, 3), "sigmoid", 10, True, seed=4)
    logits = twin(torch.from_numpy(X)).detach().numpy()
    np.testing.assert_allclose(net.logits(X), logits, rtol=1e-13)
    np.testing.assert_allclose(net.forward(X), torch.softmax(torch.from_numpy(logits), 1).numpy(), rtol=1e-13)
    np.testing.assert_array_equal(net.predict(X), logits.argmax(axis=1))
    assert net.loss(X, y, lambdas) == pytest.approx(autograd_loss_and_grads(twin, X, y, lambdas)[0], rel=1e-12, abs=0)


def test_penalty_is_not_divided_by_K_and_spares_biases():
    net = MLP((3, 2, 2), seed=0)
    lambdas = [0.1, 0.2, 0.3, 0.4]
    W1, W2 = net.params["W1"], net.params["W2"]
    expected = 0.1 * np.abs(W1).sum() + 0.2 * (W1**2).sum() + 0.3 * np.abs(W2).sum() + 0.4 * (W2**2).sum()
    assert net.penalty(lambdas) == pytest.approx(expected, rel=1e-15, abs=0)
    X, y = np.zeros((5, 3)), np.zeros(5, dtype=int)
    _, with_penalty = net.loss_and_grads(X, y, lambdas)
    _, without = net.loss_and_grads(X, y)
    np.testing.assert_array_equal(with_penalty["b1"], without["b1"])
    np.testing.assert_allclose(with_penalty["W1"] - without["W1"], 0.1 * np.sign(W1) + 0.4 * W1, rtol=1e-14)


def test_l1_gradient_of_a_zero_weight_is_zero():
    """abs'(0) = sign(0) = 0: a weight that is exactly 0 gets no L1 pull (and no 0/0)."""
    net = FastMLP((3, 2, 2), seed=0)
    net.params["W1"][0, 0] = 0.0
    net.params["W2"][1, 0] = 0.0
    X, y = np.ones((4, 3)), np.array([0, 1, 1, 0])
    lambdas = [0.1, 0.0, 0.3, 0.0]  # L1 only
    with np.errstate(all="raise"):
        _, with_penalty = net.loss_and_grads(X, y, lambdas)
    _, without = net.loss_and_grads(X, y)
    for name, lam in (("W1", 0.1), ("W2", 0.3)):
        W = net.params[name]
        np.testing.assert_array_equal(with_penalty[name] - without[name], lam * np.sign(W))
    assert with_penalty["W1"][0, 0] == without["W1"][0, 0]
    assert with_penalty["W2"][1, 0] == without["W2"][1, 0]
    # the same in a training step: θ ← θ - η (∂L/∂θ + λ sign θ), the zero weights moved by the data only
    expected = {name: net.params[name] - 0.5 * with_penalty[name] for name in net.params}
    with np.errstate(all="raise"):
        net.sgd_step(X, y, 0.5, lambdas)
    for name in net.params:
        np.testing.assert_allclose(net.params[name], expected[name], rtol=1e-13, atol=1e-16)


def test_twin_exports_what_it_loaded():
    net = MLP((5, 4, 3), seed=9)
    twin = TorchMLP((5, 4, 3)).load_params(net.params)
    exported = twin.export_params()
    for name in net.params:
        np.testing.assert_array_equal(exported[name], net.params[name])
    with pytest.raises(ValueError, match="W1"):
        TorchMLP((5, 4, 3)).load_params({**net.params, "W1": np.zeros((5, 4))})
    with pytest.raises(ValueError, match="keys"):
        TorchMLP((5, 4, 3)).load_params({"W1": net.params["W1"]})


# ----------------------------------------------------------------------------- training fast paths (FastMLP)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sizes", [(5, 7, 3), (6, 4, 5, 3)])
def test_loss_and_grads_into_is_loss_and_grads_bit_for_bit(sizes, dtype):
    """The same loss and gradients (exactly: the same operations), written into the previous arrays."""
    net, _, X, y, lambdas = make_case(sizes, "tanh", 16, True, seed=len(sizes), dtype=dtype, net_class=FastMLP)
    X = X.astype(dtype)
    grads = None
    for start, lam in ((0, lambdas), (8, None), (3, lambdas)):  # buffers reused over varying batches
        Xb, yb = X[start:start + 8], y[start:start + 8]
        loss, plain = net.loss_and_grads(Xb, yb, lam)
        previous = grads
        fast_loss, grads = net.loss_and_grads_into(grads, Xb, yb, lam)
        assert fast_loss == loss
        assert list(grads) == list(net.params)
        for name in plain:
            assert grads[name].dtype == np.dtype(dtype)
            np.testing.assert_array_equal(grads[name], plain[name])
            assert not np.shares_memory(grads[name], net.params[name])
            if previous is not None:
                assert grads[name] is previous[name]


def test_fast_paths_refuse_what_they_cannot_trust():
    net = FastMLP((4, 3, 2), dtype=np.float32)
    X, y = np.zeros((5, 4), dtype=np.float32), np.zeros(5, dtype=np.intp)
    for call in (lambda X, y, lam=None: net.loss_and_grads_into(None, X, y, lam),
                 lambda X, y, lam=None: net.sgd_step(X, y, 0.1, lam)):
        with pytest.raises(TypeError, match=r"a float32 array of shape \(K, 4\); got float64 \(5, 4\)"):
            call(X.astype(np.float64), y)
        with pytest.raises(TypeError, match=r"got float32 \(5, 3\)"):
            call(X[:, :3], y)
        with pytest.raises(TypeError, match=r"got float32 \(4,\)"):
            call(X[0], y)
        with pytest.raises(TypeError, match=r"got list"):
            call(X.tolist(), y)
        with pytest.raises(TypeError, match=r"checked integer labels of shape \(5,\), got \(4,\)"):
            call(X, y[:4])
        with pytest.raises(TypeError, match=r"integer labels"):
            call(X, y.astype(np.float64))
        with pytest.raises(TypeError, match=r"integer labels"):
            call(X, list(y))
        with pytest.raises(ValueError, match="expected 4 lambdas"):
            call(X, y, [0.1])
    _, grads = net.loss_and_grads_into(None, X, y)
    with pytest.raises(ValueError, match="grads must be the dict returned by a previous call"):
        net.loss_and_grads_into({"W1": grads["W1"]}, X, y)
    with pytest.raises(ValueError, match="previous call"):  # same keys, another dtype
        net.loss_and_grads_into({k: v.astype(np.float64) for k, v in grads.items()}, X, y)
    with pytest.raises(ValueError, match="previous call"):  # same keys, another shape
        net.loss_and_grads_into({**grads, "b1": np.zeros(4, dtype=np.float32)}, X, y)
    net.loss_and_grads_into(grads, X, np.zeros(5, dtype=np.uint8))  # unsigned labels are integers too
