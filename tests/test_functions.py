"""Homework part 1: each function and derivative against torch, and the homework's identities."""

import numpy as np
import pytest
import torch

from manual import functions

# Many points, the kinks included, and values far in both tails.
POINTS = np.concatenate(
    [np.linspace(-30, 30, 2001), [0.0, -0.0, 1e-300, -1e-300, 19.999, 20.0, 20.001, -50.0, 50.0, 700.0, -700.0]]
)

# (manual function, manual derivative, torch function), derivative compared to autograd.
PAIRS = {
    "sigmoid": (functions.sigmoid, functions.sigmoid_grad, torch.sigmoid),
    "tanh": (functions.tanh, functions.tanh_grad, torch.tanh),
    "softplus": (functions.softplus, functions.softplus_grad, torch.nn.Softplus()),
    "rect": (functions.rect, functions.rect_grad, torch.relu),
    "sign": (functions.sign, functions.sign_grad, torch.sign),
    "abs": (functions.abs, functions.abs_grad, torch.abs),
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
    assert functions.rect_grad(np.array(0.0)) == 0.0  # rect'(0) = 0
    assert functions.sign(np.array(0.0)) == 0.0  # sign(0) = 0
    assert functions.abs_grad(np.array(0.0)) == 0.0  # abs'(0) = sign(0) = 0
    for torch_fn, manual_grad in ((torch.relu, functions.rect_grad), (torch.abs, functions.abs_grad)):
        _, grad = autograd_elementwise(torch_fn, np.array([0.0]))
        assert grad[0] == manual_grad(np.array([0.0]))[0] == 0.0


def test_softplus_follows_torch_threshold_not_the_textbook():
    # Above threshold=20 torch returns x itself with derivative exactly 1.
    x = np.array([20.5, 25.0])
    assert np.array_equal(functions.softplus(x), x)
    assert np.array_equal(functions.softplus_grad(x), np.ones(2))
    textbook = np.log1p(np.exp(x))
    assert np.all(functions.softplus(x) != textbook)  # the documented departure (≤ e^-20)
    np.testing.assert_allclose(functions.softplus(x), textbook, rtol=0, atol=np.exp(-20))


# Every value below lies in [0, 1] or is an O(1) difference of such values, where one ulp is
# 2.2e-16: identities computed by two different routes agree to a couple of ulps *absolute*
# (relative error is meaningless in the tails, where 1 - σ(x) cancels in both twins alike).
ULPS_OF_ONE = 4.5e-16  # 2 ulp of 1


def test_homework_identities():
    """Questions 1.1-1.7, each checked against an independent formula, not the implementation's.

    The code computes σ' as σ(1 - σ) and tanh' as 1 - tanh²; here they are compared with the
    closed forms 1/(4 cosh²(x/2)) and 1/cosh²(x) (σ' = e^-x/(1 + e^-x)² and tanh' = sech²), and
    the functions with identities that relate two different implementations.
    """
    x = POINTS[np.abs(POINTS) <= 30]
    s = functions.sigmoid(x)
    # 1.1: σ(x) = (tanh(x/2) + 1)/2 (tanh from NumPy; σ is computed from exp)
    np.testing.assert_allclose(s, (np.tanh(x / 2) + 1) / 2, rtol=0, atol=ULPS_OF_ONE)
    np.testing.assert_allclose(s + functions.sigmoid(-x), 1.0, rtol=0, atol=ULPS_OF_ONE)  # σ(-x) = 1 - σ(x)
    # 1.2: log σ(x) = -softplus(-x): to rounding (relative) where -x ≤ 20; beyond, torch's
    # softplus is -x itself and the identity holds to e^-20 ≈ 2.1e-9 only.
    below = x >= -20
    np.testing.assert_allclose(np.log(s[below]), -functions.softplus(-x[below]), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(np.log(s), -functions.softplus(-x), rtol=0, atol=np.exp(-20))
    # softplus(x) - softplus(-x) = x (log(1 + e^x) - log(1 + e^-x) = log e^x), below the threshold
    inside = np.abs(x) <= 20
    np.testing.assert_allclose(functions.softplus(x[inside]) - functions.softplus(-x[inside]), x[inside],
                               rtol=1e-15, atol=ULPS_OF_ONE)
    # 1.3: σ'(x) = σ(x)(1 - σ(x)) = 1/(4 cosh²(x/2))
    np.testing.assert_allclose(functions.sigmoid_grad(x), 1 / (4 * np.cosh(x / 2) ** 2), rtol=0, atol=ULPS_OF_ONE)
    # 1.4: tanh'(x) = 1 - tanh²(x) = 1/cosh²(x)
    np.testing.assert_allclose(functions.tanh_grad(x), 1 / np.cosh(x) ** 2, rtol=0, atol=ULPS_OF_ONE)
    # softplus'(x) = σ(x) = e^x/(1 + e^x) (for x ≤ 20, where no overflow), and exactly 1 above
    np.testing.assert_allclose(functions.softplus_grad(x[inside]), np.exp(x[inside]) / (1 + np.exp(x[inside])),
                               rtol=0, atol=ULPS_OF_ONE)
    # 1.5: sign(x) = 1_{x>0} - 1_{x<0}, so sign(x)·|x| = x and sign(x)·x = |x|
    np.testing.assert_array_equal(functions.sign(x) * np.abs(x), x)
    np.testing.assert_array_equal(functions.sign(x) * x, np.abs(x))
    # 1.6: abs(x) = |x| and abs'(x) = sign(x): -1 left of 0, 0 at 0, +1 right of it
    np.testing.assert_array_equal(functions.abs(x), np.where(x < 0, -x, x))
    np.testing.assert_array_equal(functions.abs_grad(x), np.where(x > 0, 1.0, np.where(x < 0, -1.0, 0.0)))
    # 1.7: rect(x) = max(0, x): rect(x) - rect(-x) = x, rect(x) + rect(-x) = |x|, rect' = 1_{x>0}
    np.testing.assert_array_equal(functions.rect(x) - functions.rect(-x), x)
    np.testing.assert_array_equal(functions.rect(x) + functions.rect(-x), np.abs(x))
    np.testing.assert_array_equal(functions.rect_grad(x), np.where(x > 0, 1.0, 0.0))


def test_values_worked_out_by_hand():
    """Points where each function has a closed form: exact, or to the last ulp."""
    assert functions.sigmoid(np.array(0.0)) == 0.5 and functions.sigmoid_grad(np.array(0.0)) == 0.25
    assert functions.sigmoid(np.array(np.log(3.0))) == pytest.approx(0.75, rel=1e-15, abs=0)  # 1/(1 + 1/3)
    assert functions.tanh(np.array(0.0)) == 0.0 and functions.tanh_grad(np.array(0.0)) == 1.0
    assert functions.tanh_grad(np.array(np.log(2.0))) == pytest.approx(1 - 0.6**2, rel=1e-15, abs=0)  # tanh(ln 2) = 3/5
    assert functions.softplus(np.array(0.0)) == pytest.approx(np.log(2.0), rel=1e-15, abs=0)
    assert functions.softplus_grad(np.array(0.0)) == 0.5
    assert functions.softplus(np.array(np.log(3.0))) == pytest.approx(np.log(4.0), rel=1e-15, abs=0)  # log(1 + 3)
    np.testing.assert_array_equal(functions.sign(np.array([-2.5, -0.0, 0.0, 1e-300, 7.0])), [-1, 0, 0, 1, 1])
    np.testing.assert_array_equal(functions.abs_grad(np.array([-2.5, 0.0, 7.0])), [-1, 0, 1])
    np.testing.assert_array_equal(functions.rect(np.array([-2.5, 0.0, 7.0])), [0, 0, 7])
    np.testing.assert_array_equal(functions.rect_grad(np.array([-2.5, 0.0, 1e-300, 7.0])), [0, 0, 1, 1])
    np.testing.assert_array_equal(functions.sign_grad(np.array([-2.5, 0.0, 7.0])), [0, 0, 0])
    assert functions.l2_squared(np.array([3.0, -4.0])) == 25.0 and functions.l1(np.array([3.0, -4.0])) == 7.0
    np.testing.assert_array_equal(functions.l2_squared_grad(np.array([3.0, -4.0])), [6.0, -8.0])
    np.testing.assert_array_equal(functions.l1_grad(np.array([3.0, 0.0, -4.0])), [1.0, 0.0, -1.0])
    np.testing.assert_allclose(functions.softmax(np.array([0.0, np.log(3.0)])), [0.25, 0.75], rtol=1e-15)
    np.testing.assert_allclose(functions.log_softmax(np.array([0.0, np.log(3.0)])), np.log([0.25, 0.75]), rtol=1e-15)


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
        (functions.l2_squared, functions.l2_squared_grad, lambda v: (v**2).sum()),
        (functions.l1, functions.l1_grad, lambda v: v.abs().sum()),
    ):
        value = torch_fn(t)
        (grad,) = torch.autograd.grad(value, t)
        assert manual_fn(w) == pytest.approx(value.item(), rel=1e-14, abs=0)
        np.testing.assert_allclose(manual_grad(w), grad.numpy(), rtol=0, atol=0)
    assert functions.l2_squared_grad(w)[1, 1] == 2 * w[1, 1]  # 1.8: ∇‖x‖² = 2x
    assert functions.l1_grad(w)[0, 0] == 0.0  # 1.9 at the kink


def test_softmax_and_log_softmax_match_torch_and_never_overflow():
    rng = np.random.default_rng(1)
    z = np.concatenate([rng.standard_normal((5, 4)), [[1000, -1000, 0, 999], [-1e300, 1e300, 0, 5]]])
    t = torch.tensor(z)
    np.testing.assert_allclose(functions.softmax(z), torch.softmax(t, dim=1).numpy(), rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(functions.log_softmax(z[:-1]), torch.log_softmax(t[:-1], dim=1).numpy(), rtol=1e-14)
    assert np.all(np.isfinite(functions.softmax(z)))
    np.testing.assert_allclose(functions.softmax(z).sum(axis=1), 1.0, rtol=1e-15)


def test_softmax_jacobian_and_loss_gradient():
    z = np.array([0.3, -1.2, 2.0])
    t = torch.tensor(z, requires_grad=True)
    jac = torch.autograd.functional.jacobian(lambda v: torch.softmax(v, 0), t)
    np.testing.assert_allclose(functions.softmax_jacobian(z), jac.numpy(), rtol=1e-14, atol=1e-16)
    loss = -torch.log_softmax(t, 0)[2]
    (grad,) = torch.autograd.grad(loss, t)
    np.testing.assert_allclose(functions.log_softmax_grad(z, 2), grad.numpy(), rtol=1e-14, atol=1e-16)  # 2.7


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_functions_keep_the_dtype(dtype):
    x = np.linspace(-3, 3, 7).astype(dtype)
    for fn, dfn, _ in PAIRS.values():
        assert fn(x).dtype == dtype
        assert dfn(x).dtype == dtype
