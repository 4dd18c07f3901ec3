"""One short test per homework question, in micrograd's style: the same expression twice.

Each test computes a question's formula once with ``manual`` and once independently (by hand,
on the small numbers written below, and with torch autograd on the expression written out in
torch), forward first, then backward. The big grids (tests/test_twins.py, test_mlp_numpy.py)
then check the same code on many shapes; these tests say *which* formula broke.

The worked example: the homework's network with d = 2, d_h = 2, m = 2, one example x = (1, 2)
of class y = 1 (classes are 0 and 1), and

    W1 = [[1, -1], [0.5, 0.5]]    b1 = [1, 0]            W2 = [[2, 2], [1, -2]]    b2 = [ln 3 - 3, 3]

    h^a = W1 x + b1 = [0, 1.5]      (unit 0 exactly at rect's kink)          (2.1)
    h^s = rect(h^a) = [0, 1.5]                                                (2.1)
    o^a = W2 h^s + b2 = [3 + ln 3 - 3, -3 + 3] = [ln 3, 0]                    (2.2)
    o^s = softmax(o^a) = [3, 1] / 4 = [0.75, 0.25]                            (2.3)
    L = -o^a_y + log Σ_k e^{o^a_k} = -0 + ln 4                                (2.4)
    ∂L/∂o^a = o^s - onehot(y) = [0.75, -0.75]                                 (2.7)
    ∂L/∂W2 = ∂L/∂o^a h^sᵀ = [[0, 1.125], [0, -1.125]],  ∂L/∂b2 = [0.75, -0.75]   (2.10)
    ∂L/∂h^s = W2ᵀ ∂L/∂o^a = [2·0.75 - 0.75, 2·0.75 + 2·0.75] = [0.75, 3]     (2.12)
    ∂L/∂h^a = ∂L/∂h^s ⊙ 1[h^a > 0] = [0.75·0, 3·1] = [0, 3]   (rect'(0) = 0)  (2.14)
    ∂L/∂W1 = ∂L/∂h^a xᵀ = [[0, 0], [3, 6]],  ∂L/∂b1 = [0, 3]                  (2.16)
    ∂L/∂x = W1ᵀ ∂L/∂h^a = [0.5·3, 0.5·3] = [1.5, 1.5]                         (2.17)

With b1 = [2, 0] and b2 = [ln 3 - 5, 2] instead ("all on"), h^a = h^s = [1, 1.5] and o^a is
again [ln 3, 0]: the same ∂L/∂o^a and ∂L/∂h^s, and ∂L/∂h^a = ∂L/∂h^s = [0.75, 3].

Tolerances. HAND: every number above is exact in binary except ln 3 and what the softmax's
exp and log round; each manual result is within a few ulps of it, so rtol 4e-15 (about 16 ulps)
and atol 1e-15 for the entries that are 0 by hand (here they come out exact; the bound leaves room
for another libm's exp and log). TORCH: the same float64 formulas in another order, a few ulps
apart at most: the same bound.
"""

import math

import numpy as np
import pytest
import torch

from manual import MLP, FastMLP, finite_difference_grads, functions
from manual.optim import SGD

HAND = {"rtol": 4e-15, "atol": 1e-15}
TORCH = {"rtol": 4e-15, "atol": 1e-15}
MODES = ("matrix", "loop")

X = np.array([[1.0, 2.0]])  # one example, as a row (K = 1)
Y = np.array([1])
W1, W2 = np.array([[1.0, -1.0], [0.5, 0.5]]), np.array([[2.0, 2.0], [1.0, -2.0]])
AT_THE_KINK = {"b1": np.array([1.0, 0.0]), "b2": np.array([math.log(3) - 3, 3.0])}
ALL_ON = {"b1": np.array([2.0, 0.0]), "b2": np.array([math.log(3) - 5, 2.0])}
LAMBDAS = [0.5, 0.25, 0.125, 0.0625]  # λ11, λ12, λ21, λ22


def _net(biases=AT_THE_KINK, net_class=MLP):
    net = net_class((2, 2, 2), activation="relu")
    net.params = {"W1": W1.copy(), "b1": biases["b1"].copy(), "W2": W2.copy(), "b2": biases["b2"].copy()}
    return net


def _autograd(biases=AT_THE_KINK, x=X[0], y=int(Y[0])):
    """The example written out in torch: every value and every gradient (the tensors' .grad)."""
    def leaf(a):
        return torch.tensor(a, dtype=torch.float64, requires_grad=True)

    t = {"W1": leaf(W1), "b1": leaf(biases["b1"]), "W2": leaf(W2), "b2": leaf(biases["b2"]), "x": leaf(x)}
    h_a = t["W1"] @ t["x"] + t["b1"]
    h_s = torch.relu(h_a)
    o_a = t["W2"] @ h_s + t["b2"]
    loss = -torch.log_softmax(o_a, dim=0)[y]
    for inner in (h_a, h_s, o_a):
        inner.retain_grad()
    loss.backward()
    values = {"h_a": h_a, "h_s": h_s, "o_a": o_a, "o_s": torch.softmax(o_a, dim=0), "loss": loss}
    grads = {name: v.grad for name, v in {**t, "h_a": h_a, "h_s": h_s, "o_a": o_a}.items()}
    return ({k: v.detach().numpy() for k, v in values.items()}, {k: v.numpy() for k, v in grads.items()})


def _torch_grad(f, x):
    """d f(x) / dx by autograd, elementwise (f maps a tensor to a tensor of the same shape)."""
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    f(t).sum().backward()
    return t.grad.numpy()


def _close(actual, expected, tolerance):
    np.testing.assert_allclose(actual, expected, **tolerance)


# ----------------------------------------------------------------------------- part 1
def test_q1_1_sigmoid_is_half_tanh_of_half_x_plus_one():
    x = np.array([-3.0, 0.0, 2 * math.log(3), 3.0])
    # forward: σ(2 ln 3) = 1/(1 + 1/9) = 0.9 and (tanh(ln 3) + 1)/2 = (0.8 + 1)/2 = 0.9
    _close(functions.sigmoid(x), (functions.tanh(x / 2) + 1) / 2, HAND)
    _close(functions.sigmoid(x[1:3]), [0.5, 0.9], HAND)
    # backward: σ' is the derivative of the right-hand side too
    _close(functions.sigmoid_grad(x), _torch_grad(lambda t: (torch.tanh(t / 2) + 1) / 2, x), TORCH)


def test_q1_2_log_sigmoid_is_minus_softplus_of_minus_x():
    x = np.array([-3.0, 0.0, math.log(3), 3.0])
    # forward: log σ(ln 3) = ln(3/4) and -softplus(-ln 3) = -ln(1 + 1/3) = ln(3/4)
    _close(np.log(functions.sigmoid(x)), -functions.softplus(-x), HAND)
    assert -functions.softplus(-x[2]) == pytest.approx(math.log(0.75), rel=4e-15)
    # backward: d/dx -softplus(-x) = softplus'(-x) = σ(-x), which autograd finds for log σ(x)
    _close(functions.softplus_grad(-x), _torch_grad(lambda t: torch.log(torch.sigmoid(t)), x), TORCH)


def test_q1_3_sigmoid_derivative_is_sigma_times_one_minus_sigma():
    x = np.array([-3.0, 0.0, 2 * math.log(3), 3.0])
    s = functions.sigmoid(x)
    _close(s, torch.sigmoid(torch.tensor(x)).numpy(), TORCH)  # forward
    _close(functions.sigmoid_grad(x), s * (1 - s), HAND)
    _close(functions.sigmoid_grad(x[1:3]), [0.25, 0.9 * 0.1], HAND)
    _close(functions.sigmoid_grad(x), _torch_grad(torch.sigmoid, x), TORCH)


def test_q1_4_tanh_derivative_is_one_minus_tanh_squared():
    x = np.array([-2.0, 0.0, math.log(3), 2.0])
    # forward: tanh(ln 3) = (3 - 1/3)/(3 + 1/3) = 0.8
    _close(functions.tanh(x[1:3]), [0.0, 0.8], HAND)
    # backward: 1 - 0.8² = 0.36
    _close(functions.tanh_grad(x[1:3]), [1.0, 0.36], HAND)
    _close(functions.tanh_grad(x), _torch_grad(torch.tanh, x), TORCH)


def test_q1_5_sign_and_its_zero_derivative():
    x = np.array([-2.5, 0.0, 3.0])
    np.testing.assert_array_equal(functions.sign(x), [-1.0, 0.0, 1.0])  # 1[x>0] - 1[x<0]: sign(0) = 0
    np.testing.assert_array_equal(functions.sign_grad(x), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(functions.sign_grad(x), _torch_grad(torch.sign, x))


def test_q1_6_abs_derivative_is_sign():
    x = np.array([-2.5, 0.0, 3.0])
    np.testing.assert_array_equal(functions.abs(x), [2.5, 0.0, 3.0])
    np.testing.assert_array_equal(functions.abs_grad(x), [-1.0, 0.0, 1.0])  # abs'(0) = sign(0) = 0
    np.testing.assert_array_equal(functions.abs_grad(x), _torch_grad(torch.abs, x))


def test_q1_7_rect_derivative_is_the_indicator_of_x_positive():
    x = np.array([-2.5, 0.0, 3.0])
    np.testing.assert_array_equal(functions.rect(x), [0.0, 0.0, 3.0])  # x·1[x>0]
    np.testing.assert_array_equal(functions.rect_grad(x), [0.0, 0.0, 1.0])  # rect'(0) = 0
    np.testing.assert_array_equal(functions.rect_grad(x), _torch_grad(torch.relu, x))


def test_q1_8_l2_squared_gradient_is_2x():
    x = np.array([3.0, -4.0])
    assert functions.l2_squared(x) == 25.0  # 9 + 16
    np.testing.assert_array_equal(functions.l2_squared_grad(x), [6.0, -8.0])
    np.testing.assert_array_equal(functions.l2_squared_grad(x), _torch_grad(lambda t: (t**2).sum(), x))


def test_q1_9_l1_gradient_is_sign():
    x = np.array([3.0, 0.0, -4.0])
    assert functions.l1(x) == 7.0
    np.testing.assert_array_equal(functions.l1_grad(x), [1.0, 0.0, -1.0])
    np.testing.assert_array_equal(functions.l1_grad(x), _torch_grad(lambda t: t.abs().sum(), x))


# ----------------------------------------------------------------------------- part 2: forward
def test_q2_1_hidden_layer():
    h_a, h_s, _ = _net()._forward(X)
    values, _ = _autograd()
    _close(h_a[0], [[0.0, 1.5]], HAND)  # W1 x + b1 = [1 - 2 + 1, 0.5 + 1 + 0]
    _close(h_s[0], [[0.0, 1.5]], HAND)
    _close(h_a[0][0], values["h_a"], TORCH)
    _close(h_s[0][0], values["h_s"], TORCH)


def test_q2_2_output_layer():
    values, _ = _autograd()
    _close(_net().logits(X), [[math.log(3), 0.0]], HAND)
    _close(_net().logits(X)[0], values["o_a"], TORCH)


def test_q2_3_softmax_and_its_jacobian():
    o_a = np.array([math.log(3), 0.0])
    _close(functions.softmax(o_a), [0.75, 0.25], HAND)  # e^{o^a} / Σ e^{o^a} = [3, 1] / 4
    _close(_net().forward(X), [[0.75, 0.25]], HAND)
    _close(_net().forward(X)[0], _autograd()[0]["o_s"], TORCH)
    # backward: ∂o^s_i/∂o^a_j = o^s_i (δ_ij - o^s_j) = [[3/16, -3/16], [-3/16, 3/16]]
    _close(functions.softmax_jacobian(o_a), [[0.1875, -0.1875], [-0.1875, 0.1875]], HAND)
    jacobian = torch.autograd.functional.jacobian(lambda t: torch.softmax(t, dim=0), torch.tensor(o_a))
    _close(functions.softmax_jacobian(o_a), jacobian.numpy(), TORCH)


@pytest.mark.parametrize("mode", MODES)
def test_q2_4_loss_is_minus_log_softmax_of_the_class(mode):
    net = _net()
    loss, _ = net.loss_and_grads(X, Y, mode=mode)
    _close(loss, math.log(4), HAND)  # -o^a_1 + log(e^{ln 3} + e^0) = -0 + ln 4
    _close(net.loss(X, Y), math.log(4), HAND)
    _close(loss, _autograd()[0]["loss"], TORCH)


@pytest.mark.parametrize("mode", MODES)
def test_q2_5_empirical_risk_is_the_mean_and_n_theta(mode):
    net = _net()
    X2, Y2 = np.vstack([X, X]), np.array([1, 0])  # the same x seen as class 1, then as class 0
    risk, grads = net.loss_and_grads(X2, Y2, mode=mode)
    _close(risk, (math.log(4) + math.log(4 / 3)) / 2, HAND)  # class 0: -ln 3 + ln 4
    # backward: the risk's gradient is the mean of the examples' gradients
    one, zero = net.loss_and_grads(X, [1], mode=mode)[1], net.loss_and_grads(X, [0], mode=mode)[1]
    for name in grads:
        _close(grads[name], (one[name] + zero[name]) / 2, HAND)
    assert net.n_params == 2 * 2 + 2 + 2 * 2 + 2  # d_h·d + d_h + m·d_h + m
    assert MLP((5, 3, 2)).n_params == 3 * 5 + 3 + 2 * 3 + 2  # d, d_h, m all different: 26


def test_q2_6_gradient_descent_step():
    _, grads = _net().loss_and_grads(X, Y)
    params = _net().params
    SGD(lr=0.5).step(params, grads)  # θ ← θ - η ∂R̂/∂θ
    _close(params["W2"], [[2.0, 2.0 - 0.5 * 1.125], [1.0, -2.0 + 0.5 * 1.125]], HAND)
    _close(params["W1"], [[1.0, -1.0], [0.5 - 0.5 * 3, 0.5 - 0.5 * 6]], HAND)
    _close(params["b1"], [1.0, 0.0 - 0.5 * 3], HAND)
    fast = _net(net_class=FastMLP)
    fast.sgd_step(X, Y, 0.5)  # the same step, η folded into bprop
    for name in params:
        _close(fast.params[name], params[name], HAND)


# ----------------------------------------------------------------------------- part 2: backward
def test_q2_7_gradient_of_the_loss_wrt_o_a():
    o_a = np.array([math.log(3), 0.0])
    _close(functions.log_softmax(o_a)[1], -math.log(4), HAND)  # forward: -L
    _close(functions.log_softmax_grad(o_a, 1), [0.75, -0.75], HAND)  # o^s - onehot(1)
    _close(functions.log_softmax_grad(o_a, 1), _autograd()[1]["o_a"], TORCH)


@pytest.mark.parametrize("mode", MODES)
def test_q2_10_gradients_of_W2_and_b2(mode):
    _, grads = _net().loss_and_grads(X, Y, mode=mode)
    _, autograd = _autograd()
    _close(grads["W2"], [[0.0, 1.125], [0.0, -1.125]], HAND)  # [0.75, -0.75]ᵀ [0, 1.5]
    _close(grads["b2"], [0.75, -0.75], HAND)
    _close(grads["W2"], autograd["W2"], TORCH)
    _close(grads["b2"], autograd["b2"], TORCH)


@pytest.mark.parametrize("mode", MODES)
def test_q2_12_gradient_wrt_h_s(mode):
    """With every unit on, rect' = 1 and ∂L/∂b1 = ∂L/∂h^a = ∂L/∂h^s: the net shows W2ᵀ ∂L/∂o^a."""
    _, grads = _net(ALL_ON).loss_and_grads(X, Y, mode=mode)
    _close(_net(ALL_ON)._forward(X)[0][0], [[1.0, 1.5]], HAND)  # both units on
    _close(grads["b1"], [0.75, 3.0], HAND)  # [[2, 1], [2, -2]] [0.75, -0.75]
    _close(grads["b1"], _autograd(ALL_ON)[1]["h_s"], TORCH)


@pytest.mark.parametrize("mode", MODES)
def test_q2_14_gradient_wrt_h_a_is_zero_at_the_kink(mode):
    _, grads = _net().loss_and_grads(X, Y, mode=mode)
    _, autograd = _autograd()
    _close(autograd["h_s"], [0.75, 3.0], HAND)  # the same ∂L/∂h^s as with every unit on
    _close(grads["b1"], [0.0, 3.0], HAND)  # [0.75, 3] ⊙ [rect'(0), rect'(1.5)] = [0.75·0, 3·1]
    _close(grads["b1"], autograd["h_a"], TORCH)


@pytest.mark.parametrize("mode", MODES)
def test_q2_16_gradients_of_W1_and_b1(mode):
    _, grads = _net().loss_and_grads(X, Y, mode=mode)
    _, autograd = _autograd()
    _close(grads["W1"], [[0.0, 0.0], [3.0, 6.0]], HAND)  # [0, 3]ᵀ [1, 2]
    _close(grads["b1"], [0.0, 3.0], HAND)
    _close(grads["W1"], autograd["W1"], TORCH)
    _close(grads["b1"], autograd["b1"], TORCH)


@pytest.mark.parametrize("mode", MODES)
def test_q2_17_gradient_wrt_the_input(mode):
    grad_x = _net().input_grad(X, Y, mode=mode)
    _close(grad_x, [[1.5, 1.5]], HAND)  # [[1, 0.5], [-1, 0.5]] [0, 3]
    _close(grad_x[0], _autograd()[1]["x"], TORCH)
    # of a batch's mean loss: each row is its example's ∂L/∂x over K (here K = 2)
    _close(_net().input_grad(np.vstack([X, X]), [1, 1], mode=mode), [[0.75, 0.75]] * 2, HAND)


@pytest.mark.parametrize("mode", MODES)
def test_q2_18_penalty_gradient(mode):
    net = _net()
    # forward: 0.5·‖W1‖₁ + 0.25·‖W1‖² + 0.125·‖W2‖₁ + 0.0625·‖W2‖² = 0.5·3 + 0.25·2.5 + 0.125·7 + 0.0625·13
    assert net.penalty(LAMBDAS) == 3.8125
    loss, grads = net.loss_and_grads(X, Y, LAMBDAS, mode=mode)
    loss_2, _ = net.loss_and_grads(np.vstack([X, X]), [1, 1], LAMBDAS, mode=mode)
    _close([loss, loss_2], [math.log(4) + 3.8125] * 2, HAND)  # not divided by K (K = 1, then 2)
    # backward: λ_l1 sign(W_l) + 2 λ_l2 W_l on each weight, nothing on the biases
    _, plain = net.loss_and_grads(X, Y, mode=mode)
    penalty_grads = {name: grads[name] - plain[name] for name in grads}
    _close(penalty_grads["W1"], [[1.0, -1.0], [0.75, 0.75]], HAND)  # 0.5·sign(W1) + 0.5·W1
    _close(penalty_grads["W2"], [[0.375, 0.375], [0.25, -0.375]], HAND)  # 0.125·sign(W2) + 0.125·W2
    np.testing.assert_array_equal(penalty_grads["b1"], [0.0, 0.0])
    np.testing.assert_array_equal(penalty_grads["b2"], [0.0, 0.0])
    Ws = {name: torch.tensor(net.params[name], requires_grad=True) for name in ("W1", "W2")}
    lam = LAMBDAS
    penalty = sum(lam[2 * i] * W.abs().sum() + lam[2 * i + 1] * (W**2).sum() for i, W in enumerate(Ws.values()))
    penalty.backward()
    _close(net.penalty(LAMBDAS), penalty.item(), TORCH)
    for name, W in Ws.items():
        _close(penalty_grads[name], W.grad.numpy(), TORCH)
    # a weight at 0 gets 2λ·0 + λ·sign(0) = 0: abs'(0) = sign(0) = 0 (1.6), no 0/0
    net.params["W1"][0, 0] = 0.0
    with np.errstate(all="raise"):
        at_zero = net.loss_and_grads(X, Y, LAMBDAS, mode=mode)[1]["W1"] - net.loss_and_grads(X, Y, mode=mode)[1]["W1"]
    _close(at_zero, [[0.0, -1.0], [0.75, 0.75]], HAND)


# ----------------------------------------------------------------------------- part 3
@pytest.mark.parametrize("K", [1, 10])
def test_q3_2_and_3_4_centred_differences_agree_with_the_loop(K):
    """(L(θ + ε) - L(θ - ε)) / 2ε, ε = 1e-6, on d = 2, d_h = 2, m = 2; K = 1 (3.2), then 10 (3.4).

    Truncation ~ε² and rounding ~u/ε ≈ 1e-10 on O(1) gradients: rtol 1e-6, atol 1e-8 (DESIGN's).
    Random points, not the worked example: its unit at the kink would straddle rect's corner.
    """
    rng = np.random.default_rng(K)
    net = MLP((2, 2, 2), seed=2)
    X_k, y_k = rng.standard_normal((K, 2)), rng.integers(0, 2, size=K)
    _, grads = net.loss_and_grads(X_k, y_k, LAMBDAS, mode="loop")
    estimates = finite_difference_grads(lambda _: net.loss(X_k, y_k, LAMBDAS), net.params, eps=1e-6)
    for name in grads:
        np.testing.assert_allclose(grads[name], estimates[name], rtol=1e-6, atol=1e-8, err_msg=name)


def test_q3_7_matrix_version_equals_loop_version():
    """Same seed, same batch of K = 10: the same gradients, summed in another order (1e-12 relative)."""
    rng = np.random.default_rng(7)
    X_k, y_k = rng.standard_normal((10, 2)), rng.integers(0, 2, size=10)
    loss_m, grads_m = MLP((2, 2, 2), seed=3).loss_and_grads(X_k, y_k, LAMBDAS, mode="matrix")
    loss_l, grads_l = MLP((2, 2, 2), seed=3).loss_and_grads(X_k, y_k, LAMBDAS, mode="loop")
    assert loss_l == pytest.approx(loss_m, rel=1e-12, abs=0)
    for name in grads_m:
        np.testing.assert_allclose(grads_l[name], grads_m[name], rtol=1e-12, atol=1e-15, err_msg=name)
