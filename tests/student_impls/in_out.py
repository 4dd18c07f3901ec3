"""A correct implementation written to other conventions than the homework's: weights stored as
(in, out) (the X @ W form) and biases as (h, 1) columns. Under the homework's contract the
validator must say exactly that — the backprop is right, the layout is not — and under an
assignment with ``weights = "in_out"`` and ``biases = "column"`` it must pass.
"""

from __future__ import annotations

import numpy as np


class InOutMLP:
    def __init__(self, sizes, activation="relu"):
        if activation not in ("relu", "tanh"):
            raise ValueError(f"only relu and tanh, not {activation!r}")
        self.activation = activation
        self.n_layers = len(sizes) - 1
        rng = np.random.default_rng(7)
        self.params = {}
        for layer in range(1, len(sizes)):
            fan_in, fan_out = sizes[layer - 1], sizes[layer]
            self.params[f"W{layer}"] = rng.uniform(-1, 1, (fan_in, fan_out)) / np.sqrt(fan_in)  # (in, out)
            self.params[f"b{layer}"] = np.zeros((fan_out, 1))  # a column

    def _act(self, a):
        if self.activation == "relu":
            return np.maximum(a, 0), (a > 0).astype(float)
        t = np.tanh(a)
        return t, 1 - t * t

    def loss_and_grads(self, X, y, lambdas):
        K = X.shape[0]
        hs, derivs = [X], []
        for layer in range(1, self.n_layers + 1):
            a = hs[-1] @ self.params[f"W{layer}"] + self.params[f"b{layer}"].T  # (K, out)
            if layer < self.n_layers:
                h, d = self._act(a)
                hs.append(h)
                derivs.append(d)
        logits = a - a.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        loss = -log_p[np.arange(K), y].mean()
        delta = np.exp(log_p)
        delta[np.arange(K), y] -= 1
        delta /= K
        grads = {}
        for layer in range(self.n_layers, 0, -1):
            W = self.params[f"W{layer}"]
            l1, l2 = lambdas[2 * layer - 2], lambdas[2 * layer - 1]
            loss += l1 * np.abs(W).sum() + l2 * (W * W).sum()
            grads[f"W{layer}"] = hs[layer - 1].T @ delta + l1 * np.sign(W) + 2 * l2 * W
            grads[f"b{layer}"] = delta.sum(axis=0)[:, None]
            if layer > 1:
                delta = (delta @ W.T) * derivs[layer - 2]
        return loss, grads


def make_mlp(sizes, activation):
    return InOutMLP(sizes, activation)
