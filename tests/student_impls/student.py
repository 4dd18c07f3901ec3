"""A student's implementation of the course MLP, written independently of ``manual/``.

It is the homework's loop version (3.1-3.3): fprop and bprop one example at a time, column
vectors as the homework writes them, gradients averaged over the batch, then the elastic-net
penalty added once. Softplus is the textbook log(1 + e^x) (``np.logaddexp``), not torch's
thresholded one: the validator's cases must not penalise that.

Each step is a small method so that ``wrong.py`` can break exactly one of them.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


class StudentMLP:
    ACTIVATIONS = ("relu", "tanh", "sigmoid", "softplus")

    def __init__(self, sizes, activation="relu"):
        if activation not in self.ACTIVATIONS:
            raise ValueError(f"unsupported activation {activation!r}")
        self.sizes = tuple(sizes)
        self.activation = activation
        self.L = len(self.sizes) - 1
        rng = np.random.default_rng(123)
        self.params = {}
        for layer in range(1, self.L + 1):
            fan_in, fan_out = self.sizes[layer - 1], self.sizes[layer]
            bound = 1 / np.sqrt(fan_in)
            self.params[f"W{layer}"] = rng.uniform(-bound, bound, (fan_out, fan_in))
            self.params[f"b{layer}"] = np.zeros(fan_out)

    # --------------------------------------------------------------- the pieces
    def W(self, layer):
        return self.params[f"W{layer}"]

    def b(self, layer):
        return self.params[f"b{layer}"]

    def act(self, a):
        if self.activation == "relu":
            return a * (a > 0)
        if self.activation == "tanh":
            return np.tanh(a)
        if self.activation == "sigmoid":
            return _sigmoid(a)
        return np.logaddexp(0.0, a)

    def act_grad(self, a):
        if self.activation == "relu":
            return (a > 0).astype(float)
        if self.activation == "tanh":
            return 1 - np.tanh(a) ** 2
        if self.activation == "sigmoid":
            s = _sigmoid(a)
            return s * (1 - s)
        return _sigmoid(a)

    def log_softmax(self, o):
        shifted = o - o.max()
        return shifted - np.log(np.exp(shifted).sum())

    def softmax(self, o):
        return np.exp(self.log_softmax(o))

    def nll(self, o, y):
        return -self.log_softmax(o)[y]

    def onehot(self, y, m):
        e = np.zeros(m)
        e[y] = 1.0
        return e

    def grad_output(self, o, y):
        """∂L/∂o^a = o^s - onehot(y)  (homework 2.7)."""
        return self.softmax(o) - self.onehot(y, len(o))

    def weight_grad(self, layer, delta, inp, pre):
        """∂L/∂W_l = δ inpᵀ  (2.10, 2.16); ``pre`` is the pre-activation of the input, if any."""
        return np.outer(delta, inp)

    def backprop_matrix(self, layer):
        """∂L/∂h^s = W_lᵀ δ  (2.12)."""
        return self.W(layer).T

    def penalty(self, lambdas):
        total = 0.0
        for layer in range(1, self.L + 1):
            lam1, lam2 = lambdas[2 * layer - 2], lambdas[2 * layer - 1]
            total += lam1 * np.abs(self.W(layer)).sum() + lam2 * (self.W(layer) ** 2).sum()
        return total

    def penalty_grad(self, layer, lam1, lam2):
        return lam1 * np.sign(self.W(layer)) + 2 * lam2 * self.W(layer)

    def add_penalty(self, grads, lambdas):
        for layer in range(1, self.L + 1):
            grads[f"W{layer}"] = grads[f"W{layer}"] + self.penalty_grad(layer, lambdas[2 * layer - 2], lambdas[2 * layer - 1])

    # --------------------------------------------------------------- fprop / bprop
    def backprop_one(self, x, y):
        hs, pre = [x], [None]
        for layer in range(1, self.L):
            a = self.W(layer) @ hs[-1] + self.b(layer)
            pre.append(a)
            hs.append(self.act(a))
        o = self.W(self.L) @ hs[-1] + self.b(self.L)
        loss = self.nll(o, y)
        grads = {}
        delta = self.grad_output(o, y)
        for layer in range(self.L, 0, -1):
            grads[f"W{layer}"] = self.weight_grad(layer, delta, hs[layer - 1], pre[layer - 1])
            grads[f"b{layer}"] = delta.copy()
            if layer > 1:
                delta = (self.backprop_matrix(layer) @ delta) * self.act_grad(pre[layer - 1])
        return loss, grads

    def zeros(self):
        return {name: np.zeros_like(v) for name, v in self.params.items()}

    def accumulate(self, total, grads):
        for name, g in grads.items():
            total[name] = total[name] + g

    def average(self, total, K):
        return {name: g / K for name, g in total.items()}

    def reduce_loss(self, loss_sum, K):
        return loss_sum / K

    def loss_and_grads(self, X, y, lambdas):
        K = X.shape[0]
        total, loss_sum = self.zeros(), 0.0
        for i in range(K):
            loss_i, grads_i = self.backprop_one(X[i], int(y[i]))
            loss_sum += loss_i
            self.accumulate(total, grads_i)
        grads = self.average(total, K)
        self.add_penalty(grads, lambdas)
        return self.reduce_loss(loss_sum, K) + self.penalty(lambdas), {n: grads[n] for n in self.params}


class OnlyRelu(StudentMLP):
    """Correct, but only one hidden layer with ReLU: the rest is refused with a ValueError."""

    def __init__(self, sizes, activation="relu"):
        if activation != "relu":
            raise ValueError("only relu is implemented")
        if len(sizes) != 3:
            raise ValueError("only one hidden layer is implemented")
        super().__init__(sizes, activation)


def make_mlp(sizes, activation):
    """A factory function (not a class) meets the contract too."""
    return StudentMLP(sizes, activation)


class AliasingMLP(StudentMLP):
    """Reads its parameters through attributes that alias the arrays of ``params``."""

    def __init__(self, sizes, activation="relu"):
        super().__init__(sizes, activation)
        for name, value in self.params.items():
            setattr(self, "_" + name, value)

    def W(self, layer):
        return getattr(self, f"_W{layer}")

    def b(self, layer):
        return getattr(self, f"_b{layer}")


class Float32Params(StudentMLP):
    """Starts with float32 parameters; computes in float64 from whatever ``params`` holds."""

    def __init__(self, sizes, activation="relu"):
        super().__init__(sizes, activation)
        self.params = {name: value.astype(np.float32) for name, value in self.params.items()}

    def W(self, layer):
        return np.asarray(self.params[f"W{layer}"], dtype=np.float64)

    def b(self, layer):
        return np.asarray(self.params[f"b{layer}"], dtype=np.float64)
