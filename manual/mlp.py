"""The homework's MLP in NumPy alone, every gradient written by hand (homework parts 2 and 3).

Notation (homework → code), for the network with one hidden layer:

    h^a = W1 x + b1        h_a[0]     hidden pre-activation
    h^s = rect(h^a)        h_s[0]     hidden activation
    o^a = W2 h^s + b2      o_a        output pre-activation (the logits)
    o^s = softmax(o^a)     o_s        class probabilities
    L   = -log o^s_y                  loss of one example

and ``grad_a``, ``grad_s`` for ∂L/∂(·)^a, ∂L/∂(·)^s. Batches are rows (X is (K, d)), so
batched the first line reads H^a = X W1ᵀ + b1. Weights are (out, in) exactly like
``torch.nn.Linear.weight``. With more hidden layers the same two lines repeat: layer l maps
h_s[l-2] (or X) to h_a[l-1].

The loss of a batch is the mean negative log-likelihood plus the elastic-net penalty
(homework 2.18), which is *not* divided by K:

    L = (1/K) Σ_i -log o^s_{y_i}(x_i)  +  Σ_l λ_l1 ‖W_l‖₁ + λ_l2 ‖W_l‖₂²     (biases free)

This class is the teaching version. The training loop's fast path (gradients written into
reused arrays, η folded into bprop) is ``manual.fast.FastMLP``, a subclass tested equal to it.
"""

from __future__ import annotations

import numpy as np

from . import functions
from .checks import check_activation, check_lambdas, check_mode, check_sizes, check_X, check_y


class MLP:
    """A multilayer perceptron ``sizes = (d, h1, ..., m)`` with a softmax output.

    >>> net = MLP((2, 2, 2), activation="relu", seed=0)
    >>> loss, grads = net.loss_and_grads(X, y, lambdas=[1e-3] * 4, mode="loop")

    ``params`` holds the live arrays ``W1, b1, W2, b2, ...``; edit them in place or replace
    them, the next call uses what is there.
    """

    def __init__(self, sizes, activation="relu", seed=0, dtype=np.float64):
        self.sizes = check_sizes(sizes)
        self.activation = check_activation(activation)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        self.n_layers = len(self.sizes) - 1
        self.params = init_params(self.sizes, seed=seed, dtype=self.dtype)

    # ----------------------------------------------------------------- description
    @property
    def n_params(self) -> int:
        """n_θ = Σ_l (out·in + out); for (d, d_h, m): d_h·d + d_h + m·d_h + m (homework 2.5)."""
        return sum(o * i + o for i, o in zip(self.sizes[:-1], self.sizes[1:]))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(sizes={self.sizes}, activation={self.activation!r}, "
            f"dtype={self.dtype.name}, n_params={self.n_params})"
        )

    def _act(self, a):
        return functions.ACTIVATIONS[self.activation][0](a)

    def _act_grad(self, a):
        return functions.ACTIVATIONS[self.activation][1](a)

    # ----------------------------------------------------------------- forward
    def _forward(self, X):
        """Batched fprop. Returns (h_a, h_s, o_a): h_a[l], h_s[l] for hidden layer l+1."""
        p, L = self.params, self.n_layers
        h_a, h_s = [], []
        h = X
        for layer in range(1, L):
            h_a.append(h @ p[f"W{layer}"].T + p[f"b{layer}"])  # H^a = X W1ᵀ + b1  (2.1; Wᵀ is a view)
            h = self._act(h_a[-1])  # H^s = rect(H^a)  (2.1)
            h_s.append(h)
        o_a = h @ p[f"W{L}"].T + p[f"b{L}"]  # O^a = H^s W2ᵀ + b2  (2.2)
        return h_a, h_s, o_a

    def logits(self, X) -> np.ndarray:
        """o^a for each row of X, shape (K, m)."""
        X = check_X(X, self.sizes[0], self.dtype)
        return self._forward(X)[2]

    def forward(self, X) -> np.ndarray:
        """fprop: class probabilities o^s = softmax(o^a), shape (K, m)  (homework 2.3)."""
        return functions.softmax(self.logits(X), axis=1)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row, shape (K,)."""
        return np.argmax(self.logits(X), axis=1)

    # ----------------------------------------------------------------- loss
    def penalty(self, lambdas=None) -> float:
        """Σ_l λ_l1 ‖W_l‖₁ + λ_l2 ‖W_l‖₂²  (homework 2.18; biases are not regularised)."""
        return self._penalty(check_lambdas(lambdas, self.n_layers))

    def _penalty(self, lambdas) -> float:
        total = 0.0
        for layer in range(1, self.n_layers + 1):
            W = self.params[f"W{layer}"]
            lam1, lam2 = lambdas[2 * layer - 2], lambdas[2 * layer - 1]
            if lam1:
                total += lam1 * float(functions.l1(W))  # λ_l1 ‖W_l‖₁
            if lam2:
                total += lam2 * float(functions.l2_squared(W))  # λ_l2 ‖W_l‖₂²
        return total

    def _add_penalty_grads(self, grads, lambdas):
        """Add the penalty's gradient to each ∂L/∂W_l (biases are free)."""
        for layer in range(1, self.n_layers + 1):
            W = self.params[f"W{layer}"]
            lam1, lam2 = lambdas[2 * layer - 2], lambdas[2 * layer - 1]
            if lam1:
                grads[f"W{layer}"] += lam1 * functions.l1_grad(W)  # + λ_l1 sign(W_l)  (1.9, 2.18)
            if lam2:
                grads[f"W{layer}"] += lam2 * functions.l2_squared_grad(W)  # + 2 λ_l2 W_l  (1.8, 2.18)

    def loss(self, X, y, lambdas=None) -> float:
        """Mean negative log-likelihood of the batch plus the elastic-net penalty."""
        X = check_X(X, self.sizes[0], self.dtype)
        y = check_y(y, X.shape[0], self.sizes[-1])
        o_a = self._forward(X)[2]
        nll = -functions.log_softmax(o_a, axis=1)[np.arange(len(y)), y]  # L = -log o^s_y  (2.4)
        return float(np.mean(nll)) + self.penalty(lambdas)  # R̂ = mean of L  (2.5), + penalty (2.18)

    # ----------------------------------------------------------------- backward
    def loss_and_grads(self, X, y, lambdas=None, mode="matrix"):
        """(loss, grads): the batch loss and ∂loss/∂θ for every parameter (keys of ``params``).

        ``mode="loop"`` runs fprop/bprop one example at a time (homework 3.1-3.3);
        ``mode="matrix"`` the whole minibatch at once (homework 3.6). They agree to rounding.
        """
        check_mode(mode)
        X = check_X(X, self.sizes[0], self.dtype)
        y = check_y(y, X.shape[0], self.sizes[-1])
        lambdas = check_lambdas(lambdas, self.n_layers)
        if mode == "loop":
            loss, grads = self._loss_and_grads_loop(X, y)
        else:
            loss, grads, _ = self._loss_and_grads_matrix(X, y, want_input_grad=False)
        self._add_penalty_grads(grads, lambdas)
        return loss + self._penalty(lambdas), grads

    def input_grad(self, X, y, mode="matrix") -> np.ndarray:
        """∂L/∂X, shape (K, d): row i is W1ᵀ ∂L/∂h^a for example i (homework 2.17).

        L is the batch loss of ``loss_and_grads`` (the mean over the K rows), so each row
        carries the factor 1/K; the penalty does not depend on X.
        """
        check_mode(mode)
        X = check_X(X, self.sizes[0], self.dtype)
        y = check_y(y, X.shape[0], self.sizes[-1])
        if mode == "loop":
            K = X.shape[0]
            return np.stack([self._backprop_one(X[i], y[i])[2] / K for i in range(K)])
        return self._loss_and_grads_matrix(X, y, want_input_grad=True)[2]

    def _loss_and_grads_matrix(self, X, y, want_input_grad):
        """Vectorised bprop over the minibatch (homework 3.6): ``_backprop_one`` with a row per example.

        Each ∂L/∂W sums the K examples' outer products in one product, ∂L/∂O^aᵀ H^s. Returns
        (L, {name: ∂L/∂θ}, ∂L/∂X or None): the batch mean, without the penalty.
        """
        p, K, L = self.params, X.shape[0], self.n_layers
        h_a, h_s, o_a = self._forward(X)
        inputs = [X, *h_s]  # inputs[l-1] is what layer l multiplies: x, then h^s
        rows = np.arange(K)
        o_a = o_a - o_a.max(axis=1, keepdims=True)  # a shift leaves o^s unchanged; e^{o^a} cannot overflow
        exp_o_a = np.exp(o_a)
        sum_exp = exp_o_a.sum(axis=1, keepdims=True)  # Σ_k e^{o^a_k}
        loss = float(np.log(sum_exp).sum() - o_a[rows, y].sum()) / K  # mean of -o^a_y + log Σ_k e^{o^a_k}  (2.4)

        grad_a = exp_o_a * ((1 / K) / sum_exp)  # o^s / K, o^s = e^{o^a} / Σ_k e^{o^a_k}  (2.3)
        grad_a[rows, y] -= 1 / K  # ∂L/∂o^a = (o^s - onehot(y)) / K  (2.7; 1/K: L is the batch mean)
        grads = {}
        for layer in range(L, 0, -1):  # layer 2 first; at layer 1 read h^a for o^a, x for h^s  (2.16)
            grads[f"W{layer}"] = grad_a.T @ inputs[layer - 1]  # ∂L/∂W2 = Σ_i ∂L/∂o^a_i h^s_iᵀ  (2.10)
            grads[f"b{layer}"] = grad_a.sum(axis=0)  # ∂L/∂b2 = Σ_i ∂L/∂o^a_i  (2.10)
            if layer > 1:
                grad_s = grad_a @ p[f"W{layer}"]  # ∂L/∂h^s = W2ᵀ ∂L/∂o^a  (2.12)
                grad_a = grad_s * self._act_grad(h_a[layer - 2])  # ∂L/∂h^a = ∂L/∂h^s ⊙ rect'(h^a)  (2.14)
        grad_X = grad_a @ p["W1"] if want_input_grad else None  # ∂L/∂x = W1ᵀ ∂L/∂h^a  (2.17), on request
        return loss, {name: grads[name] for name in p}, grad_X  # keys in the order of params

    def _backprop_one(self, x, y):
        """fprop + bprop of one example x (shape (d,)), column-vector style as the homework.

        Returns (L, {name: ∂L/∂θ}, ∂L/∂x) for this single example (no 1/K, no penalty).
        """
        p, L = self.params, self.n_layers
        h_a, h_s = [], [x]  # h_s[l-1] is what layer l multiplies: x, then h^s
        for layer in range(1, L):
            h_a.append(p[f"W{layer}"] @ h_s[-1] + p[f"b{layer}"])  # h^a = W1 x + b1  (2.1)
            h_s.append(self._act(h_a[-1]))  # h^s = rect(h^a)  (2.1)
        o_a = p[f"W{L}"] @ h_s[-1] + p[f"b{L}"]  # o^a = W2 h^s + b2  (2.2)
        log_o_s = functions.log_softmax(o_a)  # log o^s = o^a - log Σ_k e^{o^a_k}  (2.3)
        loss = -log_o_s[y]  # L = -log o^s_y  (2.4)

        grad_a = np.exp(log_o_s)  # ∂L/∂o^a = o^s - onehot(y)  (2.7)
        grad_a[y] -= 1
        grads = {}
        for layer in range(L, 0, -1):  # layer 2 first; at layer 1 read h^a for o^a, x for h^s  (2.16)
            grads[f"W{layer}"] = np.outer(grad_a, h_s[layer - 1])  # ∂L/∂W2 = ∂L/∂o^a h^sᵀ  (2.10)
            grads[f"b{layer}"] = grad_a.copy()  # ∂L/∂b2 = ∂L/∂o^a  (2.10)
            grad_s = p[f"W{layer}"].T @ grad_a  # ∂L/∂h^s = W2ᵀ ∂L/∂o^a  (2.12); at layer 1, ∂L/∂x  (2.17)
            if layer > 1:
                grad_a = grad_s * self._act_grad(h_a[layer - 2])  # ∂L/∂h^a = ∂L/∂h^s ⊙ rect'(h^a)  (2.14)
        return float(loss), grads, grad_s

    def _loss_and_grads_loop(self, X, y):
        """The homework's loop version: average the per-example gradients (3.1-3.3)."""
        K = X.shape[0]
        total_loss = 0.0
        sums = {name: np.zeros_like(v) for name, v in self.params.items()}
        for i in range(K):
            loss_i, grads_i, _ = self._backprop_one(X[i], y[i])
            total_loss += loss_i
            for name, g in grads_i.items():
                sums[name] += g
        return total_loss / K, {name: s / K for name, s in sums.items()}


def init_params(sizes, seed=0, dtype=np.float64) -> dict:
    """Homework initialisation: W_l ~ U(-1/√fan_in, 1/√fan_in) of shape (out, in), b_l = 0.

    Drawn in float64 from ``np.random.default_rng(seed)``, layer by layer, then cast, so a
    float32 net holds the float64 net's values rounded.
    """
    sizes = check_sizes(sizes)
    rng = np.random.default_rng(seed)
    params = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        bound = 1.0 / np.sqrt(fan_in)
        params[f"W{layer}"] = rng.uniform(-bound, bound, size=(fan_out, fan_in)).astype(dtype)
        params[f"b{layer}"] = np.zeros(fan_out, dtype=dtype)
    return params
