"""Centred finite differences: the gradient check of homework 3.2 and 3.4, for any loss.

    ∂L/∂θ_j ≈ (L(θ + ε e_j) - L(θ - ε e_j)) / 2ε

The truncation error is O(ε²) and the rounding error O(u/ε) (u ≈ 1.1e-16 in float64), so
ε ≈ 1e-6 gives about 1e-10 absolute error on O(1) gradients: use it in float64.
"""

from __future__ import annotations

import numpy as np


def finite_difference_grads(loss_fn, params, eps=1e-6, names=None) -> dict:
    """Estimate ∂loss/∂p for every array in ``params`` by centred differences.

    ``loss_fn(params)`` must return a scalar computed from the arrays in ``params``; each
    entry is nudged in place by ±eps and restored exactly, so after the call ``params``
    holds the same values as before. ``names`` limits the check to some keys.
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    names = list(params) if names is None else list(names)
    estimates = {}
    for name in names:
        theta = params[name]
        if not isinstance(theta, np.ndarray) or theta.dtype.kind != "f":
            raise TypeError(f"params[{name!r}] must be a float NumPy array, got {type(theta).__name__}")
        grad = np.zeros(theta.shape, dtype=np.float64)
        flat = theta.reshape(-1)  # a view: writes go to params[name]
        if not np.shares_memory(flat, theta):
            raise ValueError(f"params[{name!r}] is not contiguous; cannot perturb it in place")
        for j in range(flat.size):
            original = flat[j]
            flat[j] = original + eps
            loss_plus = float(loss_fn(params))
            flat[j] = original - eps
            loss_minus = float(loss_fn(params))
            flat[j] = original
            grad.reshape(-1)[j] = (loss_plus - loss_minus) / (2 * eps)
        estimates[name] = grad
    return estimates


def finite_difference_input_grad(loss_of_X, X, eps=1e-6) -> np.ndarray:
    """Centred differences of ``loss_of_X(X)`` with respect to each entry of X (a copy is nudged)."""
    X = np.array(X, dtype=np.float64)
    return finite_difference_grads(lambda p: loss_of_X(p["X"]), {"X": X}, eps=eps)["X"]
