"""Networks to CS231n assignment 2's API (``cs231n/classifiers/fc_net.py``), written here from its
description: the layer functions as helpers, a ``TwoLayerNet`` whose ``reg`` is given to the
constructor, and a ``FullyConnectedNet`` of any depth in a chosen dtype. ``loss(X, y=None)``
returns the scores when y is None, else (loss, grads) with loss = mean softmax NLL +
0.5·reg·Σ‖W‖² and params W1 (D, H), b1 (H,), ... Graded with ``--preset cs231n-a2`` and
``--preset cs231n-a2-fc``.
"""

# ruff: noqa: NPY002 - the legacy np.random.randn, as the course's starter code writes it

from __future__ import annotations

import numpy as np


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = x.shape[0]
    loss = -log_probs[np.arange(N), y].mean()
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    return loss, dx / N


class TwoLayerNet:
    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10, weight_scale=1e-3, reg=0.0):
        self.reg = reg
        self.params = {
            "W1": weight_scale * np.random.randn(input_dim, hidden_dim),
            "b1": np.zeros(hidden_dim),
            "W2": weight_scale * np.random.randn(hidden_dim, num_classes),
            "b2": np.zeros(num_classes),
        }

    def loss(self, X, y=None):
        hidden, cache1 = affine_forward(X, self.params["W1"], self.params["b1"])
        hidden, relu_cache = relu_forward(hidden)
        scores, cache2 = affine_forward(hidden, self.params["W2"], self.params["b2"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        W1, W2 = self.params["W1"], self.params["W2"]
        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        grads = {}
        dhidden, grads["W2"], grads["b2"] = affine_backward(dscores, cache2)
        dhidden = relu_backward(dhidden, relu_cache)
        _, grads["W1"], grads["b1"] = affine_backward(dhidden, cache1)
        grads["W1"] += self.reg * W1
        grads["W2"] += self.reg * W2
        return loss, grads


class FullyConnectedNet:
    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout_keep_ratio=1,
                 normalization=None, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None):
        if dropout_keep_ratio != 1 or normalization is not None:
            raise NotImplementedError("dropout and normalization are not done yet")
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = dtype
        dims = [input_dim, *hidden_dims, num_classes]
        self.params = {}
        for i in range(self.num_layers):
            self.params[f"W{i + 1}"] = weight_scale * np.random.randn(dims[i], dims[i + 1])
            self.params[f"b{i + 1}"] = np.zeros(dims[i + 1])
        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X, y=None):
        X = X.astype(self.dtype)
        caches, out = [], X
        for i in range(1, self.num_layers):
            out, cache = affine_forward(out, self.params[f"W{i}"], self.params[f"b{i}"])
            out, relu_cache = relu_forward(out)
            caches.append((cache, relu_cache))
        scores, last = affine_forward(out, self.params[f"W{self.num_layers}"], self.params[f"b{self.num_layers}"])
        if y is None:
            return scores
        loss, dout = softmax_loss(scores, y)
        grads = {}
        L = self.num_layers
        dout, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(dout, last)
        for i in range(L - 1, 0, -1):
            cache, relu_cache = caches[i - 1]
            dout = relu_backward(dout, relu_cache)
            dout, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(dout, cache)
        for i in range(1, L + 1):
            W = self.params[f"W{i}"]
            loss += 0.5 * self.reg * np.sum(W * W)
            grads[f"W{i}"] += self.reg * W
        return loss, grads
