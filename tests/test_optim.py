"""The hand-written optimisers take exactly torch.optim's steps (float64, to 1e-12)."""

import numpy as np
import pytest
import torch

from manual import MLP, FastMLP, init_params
from manual.optim import OPTIMIZERS, SGD, Adam, make_optimizer

N_STEPS = 6


def _random_problem(seed=0):
    """A few parameter arrays and a fresh random gradient for each step."""
    rng = np.random.default_rng(seed)
    params = {"W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=4), "W2": rng.normal(size=(2, 4))}
    grads = [{name: rng.normal(size=p.shape) for name, p in params.items()} for _ in range(N_STEPS)]
    return params, grads


def _torch_steps(torch_optimizer_class, params, grads, **options):
    tensors = {name: torch.tensor(p, dtype=torch.float64, requires_grad=True) for name, p in params.items()}
    optimizer = torch_optimizer_class(list(tensors.values()), **options)
    history = []
    for step_grads in grads:
        for name, t in tensors.items():
            t.grad = torch.tensor(step_grads[name], dtype=torch.float64)
        optimizer.step()
        history.append({name: t.detach().numpy().copy() for name, t in tensors.items()})
    return history


def _manual_steps(optimizer, params, grads):
    params = {name: p.copy() for name, p in params.items()}
    history = []
    for step_grads in grads:
        optimizer.step(params, step_grads)
        history.append({name: p.copy() for name, p in params.items()})
    return history


CASES = [
    ("sgd", SGD(0.1), torch.optim.SGD, dict(lr=0.1)),
    ("momentum", SGD(0.1, momentum=0.9), torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0)),
    ("nesterov", SGD(0.05, momentum=0.8, nesterov=True), torch.optim.SGD,
     dict(lr=0.05, momentum=0.8, dampening=0, nesterov=True)),
    ("adam", Adam(0.01), torch.optim.Adam, dict(lr=0.01)),
    ("adam-betas", Adam(0.003, betas=(0.8, 0.99), eps=1e-6), torch.optim.Adam,
     dict(lr=0.003, betas=(0.8, 0.99), eps=1e-6)),
]


@pytest.mark.parametrize("name, manual, torch_class, options", CASES, ids=[c[0] for c in CASES])
def test_each_step_matches_torch_optim(name, manual, torch_class, options):
    params, grads = _random_problem()
    expected = _torch_steps(torch_class, params, grads, **options)
    actual = _manual_steps(manual, params, grads)
    for step, (a, e) in enumerate(zip(actual, expected), start=1):
        for key in params:
            np.testing.assert_allclose(a[key], e[key], rtol=0, atol=1e-12, err_msg=f"{name}, step {step}, {key}")
    # the parameters really moved, and differently at each step
    assert not np.allclose(actual[-1]["W1"], params["W1"])
    assert not np.allclose(actual[-1]["W1"], actual[-2]["W1"])


def test_momentum_starts_from_the_first_gradient():
    """torch's heavy ball: b₁ = g₁ (not (1-μ) g₁, not 0), so step 1 is plain SGD."""
    p = {"w": np.array([1.0])}
    opt = SGD(0.1, momentum=0.9)
    opt.step(p, {"w": np.array([2.0])})
    assert p["w"][0] == pytest.approx(1.0 - 0.1 * 2.0, abs=1e-15)
    opt.step(p, {"w": np.array([2.0])})  # b₂ = 0.9·2 + 2 = 3.8
    assert p["w"][0] == pytest.approx(0.8 - 0.1 * 3.8, abs=1e-15)


def test_adam_first_step_is_lr_times_sign():
    """With bias correction, Adam's first step is η·g/(|g| + ε) ≈ η·sign(g)."""
    p = {"w": np.array([0.0, 0.0])}
    Adam(0.01).step(p, {"w": np.array([3.0, -0.5])})
    np.testing.assert_allclose(p["w"], [-0.01, 0.01], rtol=1e-7)


def test_lr_can_change_between_steps_like_a_torch_param_group():
    params, grads = _random_problem(seed=1)
    tensors = {name: torch.tensor(p, requires_grad=True) for name, p in params.items()}
    torch_opt = torch.optim.SGD(list(tensors.values()), lr=0.1, momentum=0.9, nesterov=True)
    manual_opt = SGD(0.1, momentum=0.9, nesterov=True)
    manual_params = {name: p.copy() for name, p in params.items()}
    for step, step_grads in enumerate(grads):
        lr = 0.1 / (1 + step)
        manual_opt.lr = lr
        torch_opt.param_groups[0]["lr"] = lr
        for name, t in tensors.items():
            t.grad = torch.tensor(step_grads[name])
        torch_opt.step()
        manual_opt.step(manual_params, step_grads)
    for name, t in tensors.items():
        np.testing.assert_allclose(manual_params[name], t.detach().numpy(), rtol=0, atol=1e-12)


def test_make_optimizer_names_and_defaults():
    assert OPTIMIZERS == ("sgd", "momentum", "nesterov", "adam")
    sgd = make_optimizer("sgd", 0.1)
    assert type(sgd) is SGD and sgd.lr == 0.1 and sgd.momentum == 0.0 and not sgd.nesterov
    momentum = make_optimizer("momentum", 0.2)  # torch has no default; ours is μ = 0.9
    assert type(momentum) is SGD and momentum.lr == 0.2 and momentum.momentum == 0.9 and not momentum.nesterov
    nesterov = make_optimizer("nesterov", 0.1)
    assert nesterov.nesterov and nesterov.momentum == 0.9
    assert make_optimizer("nesterov", 0.1, momentum=0.5).momentum == 0.5
    assert make_optimizer("momentum", 0.1, momentum=0.3).momentum == 0.3
    adam = make_optimizer("adam", 1e-3)
    assert type(adam) is Adam and adam.lr == 1e-3
    assert (adam.beta1, adam.beta2, adam.eps) == (0.9, 0.999, 1e-8)  # torch.optim.Adam's defaults
    adam = make_optimizer("adam", 0.01, betas=(0.8, 0.99), eps=1e-6)
    assert (adam.lr, adam.beta1, adam.beta2, adam.eps) == (0.01, 0.8, 0.99, 1e-6)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'; choose one of sgd, momentum, nesterov, adam"):
        make_optimizer("rmsprop", 0.1)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\), got 1.0"):
        make_optimizer("momentum", 0.1, momentum=1.0)


def test_constructor_defaults():
    adam = Adam()
    assert (adam.lr, adam.beta1, adam.beta2, adam.eps, adam.steps) == (1e-3, 0.9, 0.999, 1e-8, 0)
    sgd = SGD(0.5)
    assert (sgd.lr, sgd.momentum, sgd.nesterov, sgd.steps) == (0.5, 0.0, False, 0)


@pytest.mark.parametrize("bad_lr", [0, -0.1, float("nan"), float("inf")])
def test_bad_learning_rate_is_refused(bad_lr):
    with pytest.raises(ValueError, match=f"lr must be a finite number > 0, got {float(bad_lr)!r}"):
        SGD(bad_lr)
    with pytest.raises(ValueError, match=f"lr must be a finite number > 0, got {float(bad_lr)!r}"):
        Adam(bad_lr)


# A momentum or β of exactly 1 is refused: μ = 1 never forgets, and Adam's bias correction
# 1 - β^t would be 0 (division by zero at the first step). NaN fails every comparison.
BAD_FRACTIONS = [
    (1.0, ValueError, r"must be in \[0, 1\), got 1.0"),
    (1, ValueError, r"must be in \[0, 1\), got 1.0"),
    (1.5, ValueError, r"must be in \[0, 1\), got 1.5"),
    (-0.1, ValueError, r"must be in \[0, 1\), got -0.1"),
    (float("nan"), ValueError, r"must be in \[0, 1\), got nan"),
    (float("inf"), ValueError, r"must be in \[0, 1\), got inf"),
    (True, TypeError, r"must be a number, got True"),
    ("0.9", TypeError, r"must be a number, got '0.9'"),
]


@pytest.mark.parametrize(("value", "error", "match"), BAD_FRACTIONS)
def test_bad_momentum_and_betas_are_refused(value, error, match):
    with pytest.raises(error, match="momentum " + match):
        SGD(0.1, momentum=value)
    with pytest.raises(error, match="momentum " + match):
        SGD(0.1, momentum=value, nesterov=True)
    with pytest.raises(error, match="beta1 " + match):
        Adam(0.1, betas=(value, 0.999))
    with pytest.raises(error, match="beta2 " + match):
        Adam(0.1, betas=(0.9, value))


def test_fractions_just_inside_the_range_are_accepted():
    assert SGD(0.1, momentum=0.0).momentum == 0.0
    assert SGD(0.1, momentum=0.999999).momentum == 0.999999
    adam = Adam(0.1, betas=(0, 0.999999))
    assert (adam.beta1, adam.beta2) == (0.0, 0.999999)
    p = {"w": np.array([1.0, -1.0])}
    adam.step(p, {"w": np.array([0.5, -2.0])})  # β1 = 0: m̂ = g, v̂ = g², a step of η·g/(|g| + ε)
    np.testing.assert_allclose(p["w"], [1.0 - 0.1, -1.0 + 0.1], rtol=1e-7)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="nesterov=True needs a momentum > 0"):
        SGD(0.1, nesterov=True)
    with pytest.raises(TypeError, match="lr must be a number, got 'fast'"):
        Adam("fast")
    with pytest.raises(ValueError, match="eps must be a finite number > 0, got 0.0"):
        Adam(0.1, eps=0)
    for betas in (0.9, (0.9,), (0.9, 0.99, 0.999)):
        with pytest.raises(ValueError, match=r"betas must be a pair \(beta1, beta2\), got "):
            Adam(0.1, betas=betas)


@pytest.mark.parametrize("optimizer", [SGD(0.1), SGD(0.1, momentum=0.9), Adam(0.1)], ids=["sgd", "momentum", "adam"])
def test_mismatched_grads_are_refused_and_nothing_moves(optimizer):
    params = {"w": np.zeros(2), "v": np.ones(3)}
    with pytest.raises(ValueError, match=r"grads have keys \['u', 'w'\], params have \['v', 'w'\]"):
        optimizer.step(params, {"w": np.zeros(2), "u": np.zeros(3)})
    with pytest.raises(ValueError, match=r"grads\['v'\] has shape \(2,\), params\['v'\] has \(3,\)"):
        optimizer.step(params, {"w": np.ones(2), "v": np.ones(2)})
    np.testing.assert_array_equal(params["w"], np.zeros(2))  # the first parameter was not updated
    assert optimizer.steps == 0


def test_grads_are_cast_to_the_parameter_dtype():
    p = {"w": np.ones(3, dtype=np.float32)}
    SGD(0.5).step(p, {"w": [1.0, 2.0, 4.0]})  # a list, and float64 values
    assert p["w"].dtype == np.float32
    np.testing.assert_array_equal(p["w"], np.float32([0.5, 0.0, -1.0]))
    # the step is float32 arithmetic on the gradient rounded to float32 (as torch does with a
    # float32 parameter), not float64 arithmetic rounded at the end: they differ in a few entries
    rng = np.random.default_rng(0)
    start, g = rng.standard_normal(50).astype(np.float32), rng.standard_normal(50)
    p = {"w": start.copy()}
    SGD(0.1).step(p, {"w": g})
    np.testing.assert_array_equal(p["w"], start - g.astype(np.float32) * np.float32(0.1))
    assert not np.array_equal(p["w"], (start - g * 0.1).astype(np.float32))


# ----------------------------------------------------------------------------- replaced params
def test_sgd_scratch_buffer_follows_a_parameter_replaced_by_another_shape_or_dtype():
    """Plain SGD keeps one work array per parameter: it must be made again, not reused stale."""
    opt = SGD(0.1)
    p = {"w": np.ones(3, dtype=np.float32)}
    opt.step(p, {"w": np.full(3, 2.0)})
    buffer = opt._buffers["w"]
    opt.step(p, {"w": np.full(3, 2.0)})
    assert opt._buffers["w"] is buffer  # reused while the parameter keeps its shape and dtype
    np.testing.assert_array_equal(p["w"], np.float32(1.0) - np.float32(0.2) - np.float32(0.2))
    # another shape: a stale (3,) buffer cannot take a (4,) step
    p["w"] = np.arange(4.0)
    g = np.array([1.0, -2.0, 3.0, 0.5])
    opt.step(p, {"w": g})
    np.testing.assert_array_equal(p["w"], np.arange(4.0) - 0.1 * g)
    # float64 after float32, same shape: a stale float32 buffer would round the step to float32
    start = np.array([1.0, 2.0, 3.0, 4.0])
    p["w"] = start.copy()
    opt.step(p, {"w": np.full(4, 1 / 3)})
    np.testing.assert_array_equal(p["w"], start - 0.1 * (1 / 3))  # exact in float64
    assert p["w"][0] != start[0] - np.float64(np.float32(0.1 / 3))


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_scratch_follows_a_new_dtype_and_state_refuses_a_new_shape(nesterov):
    opt = SGD(0.1, momentum=0.5, nesterov=nesterov)
    p = {"w": np.ones(2, dtype=np.float32), "b": np.zeros(1)}
    grads = {"w": np.ones(2), "b": np.ones(1)}
    opt.step(p, grads)
    p["w"] = np.ones(2)  # float64 now, same shape: its velocity carries on
    opt.step(p, grads)
    # b₂ = 0.5·1 + 1 = 1.5; step η·b₂ (heavy ball) or η·(g + μ b₂) (Nesterov), exact in float64
    second = 0.1 * (1 + 0.5 * 1.5) if nesterov else 0.1 * 1.5
    np.testing.assert_array_equal(p["w"], 1.0 - second)
    # the step η b (or η (g + μ b)) goes through one work array per parameter, kept across steps
    buffer = opt._buffers["w"]
    assert buffer.dtype == np.float64 and buffer.shape == (2,)
    opt.step(p, grads)
    assert opt._buffers["w"] is buffer
    before = {name: value.copy() for name, value in p.items()}
    p["w"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"params\['w'\] now has shape \(3,\), but its optimiser state was made "
                       r"for shape \(2,\): make a new optimiser"):
        opt.step(p, {"w": np.ones(3), "b": np.ones(1)})
    np.testing.assert_array_equal(p["b"], before["b"])  # nothing moved
    assert opt.steps == 3


def test_adam_state_refuses_a_parameter_of_another_shape():
    opt = Adam(0.1)
    p = {"b": np.zeros(1), "w": np.zeros(2)}
    opt.step(p, {"b": np.ones(1), "w": np.ones(2)})
    p["w"] = np.zeros((2, 1))
    with pytest.raises(ValueError, match=r"params\['w'\] now has shape \(2, 1\).*shape \(2,\)"):
        opt.step(p, {"b": np.ones(1), "w": np.ones((2, 1))})
    np.testing.assert_allclose(p["b"], [-0.1 / (1 + 1e-8)], rtol=1e-15)  # only the first step moved it
    assert opt.steps == 1


# ----------------------------------------------------------------------------- FastMLP.sgd_step
def _sgd_reference(net, X, y, lr, lambdas):
    """loss_and_grads then θ -= η g on a copy of net's params: what sgd_step must do."""
    ref = MLP(net.sizes, activation=net.activation, dtype=net.dtype)
    ref.params = {name: value.copy() for name, value in net.params.items()}
    loss, grads = ref.loss_and_grads(X, y, lambdas)
    for name, g in grads.items():
        ref.params[name] -= lr * g
    return loss, ref.params


def _batch(d, m, K, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((K, d)), rng.integers(0, m, size=K)


# sgd_step folds η into bprop (η·(g/K) instead of (η/K)·g): a few ulp of each step, below the
# ulp of θ, hence rtol 1e-13 on θ. A stale float32 buffer would round every step to float32,
# an error of ~1e-8 of the step, ~1e-10 of θ: 1000x over it.
SGD_RTOL = 1e-13


def test_sgd_step_reuses_its_buffers_and_remakes_them_for_new_shapes_or_dtypes():
    net = FastMLP((4, 3, 2), activation="tanh", seed=1)
    X, y = _batch(4, 2, 6, seed=2)
    lambdas = [1e-3, 2e-3, 3e-3, 4e-3]
    for _ in range(2):
        expected_loss, expected = _sgd_reference(net, X, y, 0.1, lambdas)
        assert net.sgd_step(X, y, 0.1, lambdas) == pytest.approx(expected_loss, rel=1e-14, abs=0)
        for name in expected:
            np.testing.assert_allclose(net.params[name], expected[name], rtol=SGD_RTOL, atol=1e-16)
    buffers = dict(net._sgd_buffers)
    net.sgd_step(X, y, 0.1)
    assert all(net._sgd_buffers[name] is buffers[name] for name in buffers)  # reused, not remade

    # params replaced by a wider hidden layer: the (3, 4) buffers cannot hold (5, 4) steps
    net.params = init_params((4, 5, 2), seed=3)
    expected_loss, expected = _sgd_reference(net, X, y, 0.2, lambdas)
    assert net.sgd_step(X, y, 0.2, lambdas) == pytest.approx(expected_loss, rel=1e-14, abs=0)
    for name in expected:
        assert net.params[name].shape == expected[name].shape
        np.testing.assert_allclose(net.params[name], expected[name], rtol=SGD_RTOL, atol=1e-16)


def test_sgd_step_remakes_float32_buffers_for_float64_params():
    net = FastMLP((4, 3, 2), activation="sigmoid", seed=4, dtype=np.float32)
    X, y = _batch(4, 2, 5, seed=5)
    X = X.astype(np.float32)
    net.sgd_step(X, y, 0.1)
    assert net._sgd_buffers["W1"].dtype == np.float32
    net.params = {name: value.astype(np.float64) for name, value in net.params.items()}
    for _ in range(2):
        expected_loss, expected = _sgd_reference(net, X, y, 0.1, None)
        assert net.sgd_step(X, y, 0.1) == pytest.approx(expected_loss, rel=1e-14, abs=0)
        for name in expected:
            assert net.params[name].dtype == np.float64
            np.testing.assert_allclose(net.params[name], expected[name], rtol=SGD_RTOL, atol=1e-16)


def test_manual_optim_never_imports_torch():
    import subprocess
    import sys

    code = "import sys, manual.optim, manual; assert 'torch' not in sys.modules, 'manual imported torch'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_base_class_has_no_update_rule():
    from manual.optim import _Optimizer

    with pytest.raises(NotImplementedError):
        _Optimizer(0.1).step({"w": np.zeros(2)}, {"w": np.ones(2)})
