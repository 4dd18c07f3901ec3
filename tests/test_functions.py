"""Homework part 1: each function and derivative against torch, and the homework's identities."""

import numpy as np
import pytest
import torch

from manual import functions as F

# Many points, the kinks included, and values far in both tails.
POINTS = np.concatenate(
    [np.linspace(-30, 30, 2001), [0.0, -0.0, 1e-300, -1e-300, 19.999, 20.0, 20.001, -50.0, 50.0, 700.0, -700.0]]
)

# (manual function, manual derivative, torch function), derivative compared to autograd.
PAIRS = {
    "sigmoid": (F.sigmoid, F.sigmoid_grad, torch.sigmoid),
    "tanh": (F.tanh, F.tanh_grad, torch.tanh),
    "softplus": (F.softplus, F.softplus_grad, torch.nn.Softplus()),
    "rect": (F.rect, F.rect_grad, torch.relu),
    "sign": (F.sign, F.sign_grad, torch.sign),
    "abs": (F.abs, F.abs_grad, torch.abs),
}


def autograd_elementwise(torch_fn, x):
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = torch_fn(t)
    (grad,) = torch.autograd.grad(out.sum(), t)
    return out.detach().numpy(), grad.numpy()


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_function_and_derivative_match_autograd(name):
    fn, dfn, torch_fn = PAIRS[name]
    value, grad = autograd_elementwise(torch_fn, POINTS)
    # Same formula up to rounding: a few ulps. Derivatives like 1 - tanh² cancel near the
    # tails, where torch's fused arithmetic and NumPy's differ by ~1 ulp of 1 (2.2e-16).
    np.testing.assert_allclose(fn(POINTS), value, rtol=4e-15, atol=1e-300)
    np.testing.assert_allclose(dfn(POINTS), grad, rtol=4e-15, atol=1e-15)


def test_kink_conventions_are_torchs():
    assert F.rect_grad(np.array(0.0)) == 0.0  # rect'(0) = 0
    assert F.sign(np.array(0.0)) == 0.0  # sign(0) = 0
    assert F.abs_grad(np.array(0.0)) == 0.0  # abs'(0) = sign(0) = 0
    for torch_fn, manual_grad in ((torch.relu, F.rect_grad), (torch.abs, F.abs_grad)):
        _, grad = autograd_elementwise(torch_fn, np.array([0.0]))
        assert grad[0] == manual_grad(np.array([0.0]))[0] == 0.0


def test_softplus_follows_torch_threshold_not_the_textbook():
    # Above threshold=20 torch returns x itself with derivative exactly 1.
    x = np.array([20.5, 25.0])
    assert np.array_equal(F.softplus(x), x)
    assert np.array_equal(F.softplus_grad(x), np.ones(2))
    textbook = np.log1p(np.exp(x))
    assert np.all(F.softplus(x) != textbook)  # the documented departure (≤ e^-20)
    np.testing.assert_allclose(F.softplus(x), textbook, rtol=0, atol=np.exp(-20))


def test_homework_identities():
    x = POINTS[np.abs(POINTS) <= 30]
    s = F.sigmoid(x)
    np.testing.assert_allclose(s, (F.tanh(x / 2) + 1) / 2, rtol=1e-14, atol=1e-15)  # 1.1
    # 1.2: log σ(x) = -softplus(-x): to rounding where -x ≤ 20; beyond, torch's softplus is -x
    # itself and the identity holds to e^-20 ≈ 2.1e-9 only.
    below = x >= -20
    np.testing.assert_allclose(np.log(s[below]), -F.softplus(-x[below]), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(np.log(s), -F.softplus(-x), rtol=0, atol=np.exp(-20))
    np.testing.assert_allclose(F.sigmoid_grad(x), s * (1 - s), rtol=0, atol=0)  # 1.3
    np.testing.assert_allclose(F.tanh_grad(x), 1 - np.tanh(x) ** 2, rtol=0, atol=0)  # 1.4
    np.testing.assert_array_equal(F.sign(x), (x > 0).astype(float) - (x < 0))  # 1.5
    np.testing.assert_array_equal(F.abs_grad(x), F.sign(x))  # 1.6
    np.testing.assert_array_equal(F.rect(x), x * (x > 0))  # 1.7


def test_derivatives_match_centred_differences():
    x = np.linspace(-5, 5, 101)
    x = x[np.abs(x) > 1e-3]  # away from the kinks
    h = 1e-6
    for name in ("sigmoid", "tanh", "softplus", "rect", "abs", "sign"):
        fn, dfn, _ = PAIRS[name]
        numeric = (fn(x + h) - fn(x - h)) / (2 * h)
        np.testing.assert_allclose(dfn(x), numeric, rtol=1e-7, atol=1e-9, err_msg=name)


def test_norms_and_their_gradients():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((7, 5))
    w[0, 0] = 0.0
    t = torch.tensor(w, requires_grad=True)
    for manual_fn, manual_grad, torch_fn in (
        (F.l2_squared, F.l2_squared_grad, lambda v: (v**2).sum()),
        (F.l1, F.l1_grad, lambda v: v.abs().sum()),
    ):
        value = torch_fn(t)
        (grad,) = torch.autograd.grad(value, t)
        assert manual_fn(w) == pytest.approx(value.item(), rel=1e-14)
        np.testing.assert_allclose(manual_grad(w), grad.numpy(), rtol=0, atol=0)
    assert F.l2_squared_grad(w)[1, 1] == 2 * w[1, 1]  # 1.8: ∇‖x‖² = 2x
    assert F.l1_grad(w)[0, 0] == 0.0  # 1.9 at the kink


def test_softmax_and_log_softmax_match_torch_and_never_overflow():
    rng = np.random.default_rng(1)
    z = np.concatenate([rng.standard_normal((5, 4)), [[1000, -1000, 0, 999], [-1e300, 1e300, 0, 5]]])
    t = torch.tensor(z)
    np.testing.assert_allclose(F.softmax(z), torch.softmax(t, dim=1).numpy(), rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(F.log_softmax(z[:-1]), torch.log_softmax(t[:-1], dim=1).numpy(), rtol=1e-14)
    assert np.all(np.isfinite(F.softmax(z)))
    np.testing.assert_allclose(F.softmax(z).sum(axis=1), 1.0, rtol=1e-15)


def test_softmax_jacobian_and_loss_gradient():
    z = np.array([0.3, -1.2, 2.0])
    t = torch.tensor(z, requires_grad=True)
    jac = torch.autograd.functional.jacobian(lambda v: torch.softmax(v, 0), t)
    np.testing.assert_allclose(F.softmax_jacobian(z), jac.numpy(), rtol=1e-14, atol=1e-16)
    loss = -torch.log_softmax(t, 0)[2]
    (grad,) = torch.autograd.grad(loss, t)
    np.testing.assert_allclose(F.log_softmax_grad(z, 2), grad.numpy(), rtol=1e-14, atol=1e-16)  # 2.7


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_functions_keep_the_dtype(dtype):
    x = np.linspace(-3, 3, 7).astype(dtype)
    for fn, dfn, _ in PAIRS.values():
        assert fn(x).dtype == dtype
        assert dfn(x).dtype == dtype
