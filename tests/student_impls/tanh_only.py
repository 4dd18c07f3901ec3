"""A tanh-only network whose softmax is the textbook exp(o) / Σ exp(o), without the max taken
out first: right on every moderate batch, NaN once a logit is near +1000 (exp overflows to inf,
inf / inf). Graded under ``activations = ["tanh"]`` it must fail on the large-logit cases, which
run for every activation the student supports, not only for relu.
"""

from __future__ import annotations

import numpy as np


class TanhMLP:
    def __init__(self, sizes, activation="tanh"):
        if activation != "tanh":
            raise ValueError(f"this network only does tanh, not {activation!r}")
        self.n_layers = len(sizes) - 1
        rng = np.random.default_rng(0)
        self.params = {}
        for layer in range(1, len(sizes)):
            self.params[f"W{layer}"] = rng.normal(0, 1 / np.sqrt(sizes[layer - 1]), (sizes[layer], sizes[layer - 1]))
            self.params[f"b{layer}"] = np.zeros(sizes[layer])

    def loss_and_grads(self, X, y, lambdas):
        K = X.shape[0]
        hs = [X]
        for layer in range(1, self.n_layers):
            hs.append(np.tanh(hs[-1] @ self.params[f"W{layer}"].T + self.params[f"b{layer}"]))
        scores = hs[-1] @ self.params[f"W{self.n_layers}"].T + self.params[f"b{self.n_layers}"]
        probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)  # the bug: no max subtracted
        loss = -np.log(probs[np.arange(K), y]).mean()
        delta = probs.copy()
        delta[np.arange(K), y] -= 1
        delta /= K
        grads = {}
        for layer in range(self.n_layers, 0, -1):
            W = self.params[f"W{layer}"]
            l1, l2 = lambdas[2 * layer - 2], lambdas[2 * layer - 1]
            loss += l1 * np.abs(W).sum() + l2 * (W * W).sum()
            grads[f"W{layer}"] = delta.T @ hs[layer - 1] + l1 * np.sign(W) + 2 * l2 * W
            grads[f"b{layer}"] = delta.sum(axis=0)
            if layer > 1:
                delta = (delta @ W) * (1 - hs[layer - 1] ** 2)
        return loss, grads


def make_mlp(sizes, activation):
    return TanhMLP(sizes, activation)
