"""The hand-written optimisers take exactly torch.optim's steps (float64, to 1e-12)."""

import numpy as np
import pytest
import torch

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


def test_make_optimizer_names():
    assert set(OPTIMIZERS) == {"sgd", "momentum", "nesterov", "adam"}
    assert isinstance(make_optimizer("adam", 1e-3), Adam)
    nesterov = make_optimizer("nesterov", 0.1, momentum=0.5)
    assert nesterov.nesterov and nesterov.momentum == 0.5
    assert make_optimizer("sgd", 0.1).momentum == 0
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        make_optimizer("rmsprop", 0.1)


@pytest.mark.parametrize("bad_lr", [0, -0.1, float("nan"), float("inf")])
def test_bad_learning_rate_is_refused(bad_lr):
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        SGD(bad_lr)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="momentum must be in"):
        SGD(0.1, momentum=1.5)
    with pytest.raises(ValueError, match="nesterov=True needs a momentum"):
        SGD(0.1, nesterov=True)
    with pytest.raises(TypeError, match="lr must be a number"):
        Adam("fast")
    opt = SGD(0.1)
    with pytest.raises(ValueError, match="grads have keys"):
        opt.step({"w": np.zeros(2)}, {"v": np.zeros(2)})
    with pytest.raises(ValueError, match=r"grads\['w'\] has shape"):
        opt.step({"w": np.zeros(2)}, {"w": np.zeros(3)})


def test_manual_optim_never_imports_torch():
    import subprocess
    import sys

    code = "import sys, manual.optim, manual; assert 'torch' not in sys.modules, 'manual imported torch'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
