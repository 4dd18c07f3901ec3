"""Test students for the judging's unit tests: a plain NumPy MLP written the way submissions write one,
with its conventions (W (out, in) or (in, out), bias shapes, X as rows or columns, int or one-hot
labels, the mean or the sum, elastic net or one L2 ``reg``) and at most one bug chosen per test.

``factory(**choices)`` is a closure: ``compare.grader.validation.validate`` runs it in this process
(trusted code, no worker to start), through the same battery, judging and diagnosis as a worker's.
Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import numpy as np

BUGS = (None, "no_penalty_grad", "transposed_W", "log_eps", "relu_ge", "half_b2", "row_bias_grad", "raise_on_tanh",
        "nan", "extra_key", "missing_b2", "bad_loss_shape", "accumulate", "ignores_params", "log_eps_by_K",
        "tanh_narrow_only", "one_hidden_only", "always_relu")


def _act(name, a, relu_ge=False):
    if name == "relu":
        return np.maximum(a, 0), ((a >= 0) if relu_ge else (a > 0)).astype(float)
    if name == "tanh":
        t = np.tanh(a)
        return t, 1 - t ** 2
    if name == "sigmoid":
        s = 1 / (1 + np.exp(-a))
        return s, s * (1 - s)
    if name == "softplus":
        return np.logaddexp(0, a), 1 / (1 + np.exp(-a))
    raise ValueError(f"unknown activation {name!r}")


class Net:
    def __init__(self, sizes, activation, choices, reg=0.0):
        self.sizes, self.activation, self.c, self.reg = tuple(int(n) for n in sizes), activation, choices, reg
        if choices["bug"] == "raise_on_tanh" and activation == "tanh":
            raise NotImplementedError("only relu here")
        if choices["bug"] == "always_relu":  # told tanh, sigmoid or softplus, it uses relu all the same
            self.activation = "relu"
        if choices["bug"] == "one_hidden_only" and len(self.sizes) != 3:
            raise ValueError(f"one hidden layer only, got sizes {self.sizes}")
        if choices["bug"] == "tanh_narrow_only" and activation == "tanh" and self.sizes[0] > 100:
            raise MemoryError("tanh on 784 inputs")
        rng = np.random.default_rng(7)
        self.params = {}
        for layer in range(1, len(self.sizes)):
            W = rng.uniform(-1, 1, (self.sizes[layer], self.sizes[layer - 1]))
            self.params[f"W{layer}"] = W.T.copy() if choices["weights"] == "in_out" else W
            b = np.zeros(self.sizes[layer])
            self.params[f"b{layer}"] = {"vector": b, "column": b[:, None], "row": b[None, :]}[choices["biases"]].copy()
        self.own = {name: value.copy() for name, value in self.params.items()}  # "ignores_params" reads these
        self.kept = None  # "accumulate": the gradients of every call so far, summed

    def _p(self, name):
        return (self.own if self.c["bug"] == "ignores_params" else self.params)[name]

    def _W(self, layer):
        W = self._p(f"W{layer}")
        return W.T if self.c["weights"] == "in_out" else W

    def loss_and_grads(self, X, y, *penalty):
        c, bug = self.c, self.c["bug"]
        if c["inputs"] == "columns":
            X, y = X.T, (y.T if c["labels"] == "one_hot" else y)
        if c["labels"] == "one_hot":
            y = y.argmax(axis=1)
        L, K = len(self.sizes) - 1, X.shape[0]
        if c["penalty"] == "elastic_net":
            lambdas = [v * (c["l2_factor"] if i % 2 else 1.0) for i, v in enumerate(penalty[0])]  # its L2 term
        elif c["penalty"] == "l2":
            reg = penalty[0] if penalty else self.reg
            lambdas = [0.0, reg * c["l2_factor"]] * L
        else:
            lambdas = [0.0, 0.0] * L
        hs, ders = [X], []
        for layer in range(1, L):
            h, d = _act(self.activation, hs[-1] @ self._W(layer).T + self._p(f"b{layer}").reshape(-1),
                        relu_ge=bug == "relu_ge")
            hs.append(h)
            ders.append(d)
        o = hs[-1] @ self._W(L).T + self._p(f"b{L}").reshape(-1)
        shift = o.max(axis=1, keepdims=True)
        p = np.exp(o - shift)
        p /= p.sum(axis=1, keepdims=True)
        if bug == "log_eps":
            nll = -np.log(p[np.arange(K), y] + c["eps"])
        elif bug == "log_eps_by_K":  # not one ε: a bug in the loss, not a guard
            nll = -np.log(p[np.arange(K), y] + c["eps"] * K)
        else:
            nll = -(o - shift - np.log(np.exp(o - shift).sum(axis=1, keepdims=True)))[np.arange(K), y]
        divisor = {"mean": K, "sum": 1}[c["reduction"]]
        loss = nll.sum() / divisor
        if bug == "nan":
            loss = float("nan")
        delta = p.copy()
        delta[np.arange(K), y] -= 1
        delta /= divisor
        grads = {}
        for layer in range(L, 0, -1):
            W = self._W(layer)
            l1, l2 = lambdas[2 * layer - 2], lambdas[2 * layer - 1]
            loss += l1 * np.abs(W).sum() + l2 * (W ** 2).sum()
            g = delta.T @ hs[layer - 1]
            if bug != "no_penalty_grad":
                g = g + l1 * np.sign(W) + 2 * l2 * W
            in_out = c["weights"] == "in_out"
            grads[f"W{layer}"] = g.T if in_out != (bug == "transposed_W") else g
            b_grad = delta.sum(axis=0)
            if bug == "half_b2" and layer == L:
                b_grad = b_grad / 2
            shape = (1, -1) if bug == "row_bias_grad" else self.params[f"b{layer}"].shape
            grads[f"b{layer}"] = b_grad.reshape(shape)
            if layer > 1:
                delta = (delta @ W) * ders[layer - 2]
        if bug == "extra_key":
            grads["X"] = np.zeros_like(X)
        if bug == "missing_b2":
            del grads["b2"]
        if bug == "accumulate":
            if self.kept is not None:
                grads = {name: g + self.kept[name] for name, g in grads.items()}
            self.kept = {name: g.copy() for name, g in grads.items()}
        if bug == "bad_loss_shape":
            loss = np.array([loss, loss])
        return loss, grads

    loss = forward_backward = loss_and_grads


def factory(*, weights="out_in", biases="vector", inputs="rows", labels="int", reduction="mean",
            penalty="elastic_net", l2_factor=1.0, call="sizes_activation", bug=None, eps=1e-9, only=None):
    """A factory in the call style ``call`` building ``Net``s with these conventions (and this bug);
    ``only``: the one activation a "dims" or "keywords" factory builds."""
    assert bug in BUGS, bug
    choices = {"weights": weights, "biases": biases, "inputs": inputs, "labels": labels, "reduction": reduction,
               "penalty": penalty, "l2_factor": l2_factor, "bug": bug, "eps": eps}
    if call == "sizes_activation":
        def make_mlp(sizes, activation):
            return Net(sizes, activation, choices)
        return make_mlp
    if call == "sizes":
        def make_mlp(sizes):
            return Net(sizes, only or "tanh", choices)
        return make_mlp
    if call == "dims":
        def TwoLayerNet(input_size, hidden_size, output_size):  # noqa: N802 - named as CS231n names it
            return Net((input_size, hidden_size, output_size), only or "relu", choices)
        return TwoLayerNet
    if call == "keywords":
        def TwoLayerNet(input_dim, hidden_dim, num_classes, reg=0.0, weight_scale=1e-3):  # noqa: N802
            return Net((input_dim, hidden_dim, num_classes), only or "relu", choices, reg)
        return TwoLayerNet
    raise ValueError(call)
