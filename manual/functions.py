"""Homework part 1: the basic functions and their derivatives, written by hand.

Every function works elementwise on NumPy arrays (or scalars) and keeps the dtype.
Each derivative follows the same convention as ``torch.nn`` / autograd, so the two
twins agree bit for bit in spirit and to rounding in fact:

- kinks: rect'(0) = 0, sign(0) = 0, abs'(x) = sign(x) (so abs'(0) = 0);
- ``softplus`` is ``torch.nn.Softplus()`` with its defaults (beta=1, threshold=20):
  above the threshold it returns x itself and its derivative is exactly 1. That is
  where torch departs from the textbook log(1 + e^x) (the gap is below e^-20 ≈ 2e-9).
- derivatives of sigmoid and tanh are written from the function's *output*
  (σ' = σ(1-σ), tanh' = 1-tanh²), as the homework derives and as autograd computes.

Homework identities (questions 1.1-1.4), checked by the tests:
    σ(x) = (tanh(x/2) + 1) / 2,   log σ(x) = -softplus(-x),
    σ'(x) = σ(x)(1 - σ(x)),       tanh'(x) = 1 - tanh(x)².
"""

from __future__ import annotations

import numpy as np

SOFTPLUS_THRESHOLD = 20.0  # torch.nn.Softplus default


def sigmoid(x):
    """σ(x) = 1 / (1 + e^-x), computed without overflow for any x."""
    x = np.asarray(x)
    # e^-|x| never overflows; σ(x) = 1/(1+e^-x) for x ≥ 0 and e^x/(1+e^x) for x < 0.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def sigmoid_grad(x):
    """σ'(x) = σ(x)(1 - σ(x))  (homework 1.3)."""
    s = sigmoid(x)
    return s * (1 - s)


def tanh(x):
    """tanh(x) = (e^x - e^-x) / (e^x + e^-x)."""
    return np.tanh(x)


def tanh_grad(x):
    """tanh'(x) = 1 - tanh(x)²  (homework 1.4)."""
    t = np.tanh(x)
    return 1 - t * t


def softplus(x):
    """softplus(x) = log(1 + e^x); x itself above torch's threshold (20)."""
    x = np.asarray(x)
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow, no loss for very negative x.
    textbook = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
    return np.where(x > SOFTPLUS_THRESHOLD, x, textbook).astype(x.dtype, copy=False)


def softplus_grad(x):
    """softplus'(x) = σ(x); exactly 1 above torch's threshold."""
    x = np.asarray(x)
    return np.where(x > SOFTPLUS_THRESHOLD, 1, sigmoid(x)).astype(x.dtype, copy=False)


def sign(x):
    """sign(x) = 1_{x>0} - 1_{x<0}  (homework 1.5), so sign(0) = 0."""
    return np.sign(x)


def sign_grad(x):
    """sign'(x) = 0 everywhere (convention at 0, as autograd)."""
    return np.zeros_like(np.asarray(x))


def abs(x):  # noqa: A001 - the homework's name
    """abs(x) = |x|."""
    return np.abs(x)


def abs_grad(x):
    """abs'(x) = sign(x), with abs'(0) = 0  (homework 1.6)."""
    return np.sign(x)


def rect(x):
    """rect(x) = max(0, x) = x·1_{x>0}  (ReLU, homework 1.7)."""
    x = np.asarray(x)
    return np.maximum(x, 0).astype(x.dtype, copy=False)


def rect_grad(x):
    """rect'(x) = 1_{x>0}, so rect'(0) = 0  (homework 1.7)."""
    x = np.asarray(x)
    return (x > 0).astype(x.dtype if x.dtype.kind == "f" else np.float64)


relu = rect
relu_grad = rect_grad


def l2_squared(x):
    """‖x‖₂² = Σ x_i² = x·x (one BLAS dot, no temporary x*x: it runs on W1 every step)."""
    x = np.asarray(x)
    return np.vdot(x, x)


def l2_squared_grad(x):
    """∇‖x‖₂² = 2x  (homework 1.8)."""
    return 2 * np.asarray(x)


def l1(x):
    """‖x‖₁ = Σ |x_i|."""
    return np.sum(np.abs(x))


def l1_grad(x):
    """∇‖x‖₁ = sign(x)  (homework 1.9)."""
    return np.sign(x)


def softmax(z, axis=-1):
    """softmax(z)_k = e^{z_k} / Σ_j e^{z_j}; shifted by max(z) so it never overflows."""
    z = np.asarray(z)
    shifted = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(z, axis=-1):
    """log softmax(z)_k = z_k - log Σ_j e^{z_j}, computed as (z - max) - log Σ e^{z - max}."""
    z = np.asarray(z)
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax_jacobian(z):
    """∂softmax(z)_i/∂z_j = s_i (δ_ij - s_j) for one vector z: the (m, m) matrix diag(s) - s sᵀ."""
    s = softmax(np.asarray(z).reshape(-1))
    return np.diag(s) - np.outer(s, s)


def log_softmax_grad(z, y):
    """∂(-log softmax(z)_y)/∂z = softmax(z) - onehot(y)  (homework 2.7), for one vector z."""
    g = softmax(np.asarray(z).reshape(-1))
    g[y] -= 1
    return g


# name -> (function, derivative) for the hidden-layer activations the MLP accepts.
ACTIVATIONS = {
    "relu": (rect, rect_grad),
    "tanh": (tanh, tanh_grad),
    "sigmoid": (sigmoid, sigmoid_grad),
    "softplus": (softplus, softplus_grad),
}
