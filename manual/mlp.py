"""The homework's MLP in NumPy alone, every gradient written by hand (homework part 2 and 3).

Notation (homework → code), for the network with one hidden layer:

    h^a = W1 x + b1        h_pre[0]     hidden pre-activation
    h^s = rect(h^a)        h_post[0]    hidden activation
    o^a = W2 h^s + b2      logits       output pre-activation
    o^s = softmax(o^a)     probs        class probabilities
    L   = -log o^s_y                    loss of one example

Batches are rows (X is (K, d)), so batched the first line reads H^a = X W1ᵀ + b1.
Weights are (out, in) exactly like ``torch.nn.Linear.weight``. With more hidden layers the
same two lines repeat: layer l maps h_post[l-2] (or X) to h_pre[l-1].

The loss of a batch is the mean negative log-likelihood plus the elastic-net penalty
(homework 2.18), which is *not* divided by K:

    L = (1/K) Σ_i -log o^s_{y_i}(x_i)  +  Σ_l λ_l1 ‖W_l‖₁ + λ_l2 ‖W_l‖₂²     (biases free)
"""

from __future__ import annotations

import numpy as np

from . import functions as F
from .checks import check_activation, check_lambdas, check_mode, check_positive, check_sizes, check_X, check_y


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
        self._sgd_buffers = None  # sgd_step's η ∂L/∂θ arrays, reused from step to step

    # ----------------------------------------------------------------- description
    @property
    def n_params(self) -> int:
        """n_θ = Σ_l (out·in + out); for (d, d_h, m): d_h·d + d_h + m·d_h + m (homework 2.5)."""
        return sum(o * i + o for i, o in zip(self.sizes[:-1], self.sizes[1:]))

    def __repr__(self) -> str:
        return (
            f"MLP(sizes={self.sizes}, activation={self.activation!r}, "
            f"dtype={self.dtype.name}, n_params={self.n_params})"
        )

    def _act(self, a):
        return F.ACTIVATIONS[self.activation][0](a)

    def _act_grad(self, a):
        return F.ACTIVATIONS[self.activation][1](a)

    # ----------------------------------------------------------------- forward
    def _forward(self, X):
        """Batched fprop. Returns (h_pre, h_post, logits): h_pre[l], h_post[l] for hidden layer l+1."""
        p = self.params
        h_pre, h_post = [], []
        h = X
        for layer in range(1, self.n_layers):
            a = h @ p[f"W{layer}"].T  # H^a = X W1ᵀ + b1  (2.1): one GEMM (Wᵀ is a view, no copy) ...
            a += p[f"b{layer}"]  # ... and the bias added in place
            h = self._act(a)  # H^s = rect(H^a)
            h_pre.append(a)
            h_post.append(h)
        L = self.n_layers
        logits = h @ p[f"W{L}"].T  # O^a = H^s W2ᵀ + b2  (2.2), the same way
        logits += p[f"b{L}"]
        return h_pre, h_post, logits

    def logits(self, X) -> np.ndarray:
        """o^a for each row of X, shape (K, m)."""
        X = check_X(X, self.sizes[0], self.dtype)
        return self._forward(X)[2]

    def forward(self, X) -> np.ndarray:
        """fprop: class probabilities o^s = softmax(o^a), shape (K, m)  (homework 2.3)."""
        return F.softmax(self.logits(X), axis=1)

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
                total += lam1 * float(F.l1(W))
            if lam2:
                total += lam2 * float(F.l2_squared(W))
        return total

    def _add_penalty_grads(self, grads, lambdas, scale=1.0):
        """∂/∂W_l of the penalty: λ_l1 sign(W_l) + 2 λ_l2 W_l  (homework 1.8, 1.9, 2.18), times ``scale``."""
        for layer in range(1, self.n_layers + 1):
            W = self.params[f"W{layer}"]
            lam1, lam2 = lambdas[2 * layer - 2], lambdas[2 * layer - 1]
            if lam1:
                grads[f"W{layer}"] += (scale * lam1) * F.l1_grad(W)
            if lam2:
                grads[f"W{layer}"] += (scale * lam2) * F.l2_squared_grad(W)

    def loss(self, X, y, lambdas=None) -> float:
        """Mean negative log-likelihood of the batch plus the elastic-net penalty."""
        X = check_X(X, self.sizes[0], self.dtype)
        y = check_y(y, X.shape[0], self.sizes[-1])
        logits = self._forward(X)[2]
        nll = -F.log_softmax(logits, axis=1)[np.arange(len(y)), y]  # L = -log o^s_y  (2.4)
        return float(np.mean(nll)) + self.penalty(lambdas)

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

    def loss_and_grads_into(self, grads, X, y, lambdas=None):
        """``loss_and_grads(X, y, lambdas, mode="matrix")`` for the inner step of a training loop.

        Same loss, same gradients (bit for bit), but:

        - the gradients are written into ``grads``, the dict returned by the previous call
          (``None`` the first time: then it is allocated), so an epoch reuses one set of arrays
          instead of allocating ∂L/∂W_l (d_h·d numbers) at every minibatch; the returned dict
          holds those same arrays, overwritten by the next call;
        - X and y are trusted: only their dtype and shapes are checked (O(1)), not every
          value. Check the data set once with ``manual.checks.check_X`` / ``check_y`` before
          the epochs, then pass its rows (views of it) here.
        """
        self._check_trusted_batch(X, y, "loss_and_grads_into")
        lambdas = check_lambdas(lambdas, self.n_layers)
        self._check_grad_buffers(grads)
        loss, grads, _ = self._loss_and_grads_matrix(X, y, want_input_grad=False, out=grads)
        self._add_penalty_grads(grads, lambdas)
        return loss + self._penalty(lambdas), grads

    def sgd_step(self, X, y, lr, lambdas=None) -> float:
        """One step of minibatch gradient descent, θ ← θ - η ∂L/∂θ (homework 2.6), in place.

        Returns the loss L of the batch before the step. It is ``loss_and_grads`` followed by
        ``p -= lr * g`` for every parameter, done with less memory traffic: bprop is linear in
        ∂L/∂o^a, so starting it from η ∂L/∂o^a yields η ∂L/∂θ for every θ at no extra cost,
        and each parameter then takes a single subtraction (no ``lr * g`` pass over W1).
        X and y are trusted as in ``loss_and_grads_into`` (check the data set once).
        """
        self._check_trusted_batch(X, y, "sgd_step")
        lr = check_positive("lr", lr)
        lambdas = check_lambdas(lambdas, self.n_layers)
        buffers = self._sgd_buffers
        if buffers is not None and not self._grad_buffers_match(buffers):
            buffers = None  # params were replaced by arrays of another shape or dtype
        loss, steps, _ = self._loss_and_grads_matrix(X, y, want_input_grad=False, out=buffers, scale=lr)
        self._add_penalty_grads(steps, lambdas, scale=lr)
        loss += self._penalty(lambdas)  # the loss at θ before the update
        for name, param in self.params.items():
            param -= steps[name]  # θ ← θ - η ∂L/∂θ
        self._sgd_buffers = steps
        return loss

    def _check_trusted_batch(self, X, y, caller):
        d = self.sizes[0]
        if not (isinstance(X, np.ndarray) and X.dtype == self.dtype and X.ndim == 2 and X.shape[1] == d):
            raise TypeError(
                f"{caller} takes a checked X: a {self.dtype.name} array of shape (K, {d}); "
                f"got {getattr(X, 'dtype', type(X).__name__)} {np.shape(X)} (use loss_and_grads)"
            )
        K = X.shape[0]
        if not (isinstance(y, np.ndarray) and y.dtype.kind in "iu" and y.shape == (K,)):
            raise TypeError(f"{caller} takes checked integer labels of shape ({K},), got {np.shape(y)}")

    def _grad_buffers_match(self, grads) -> bool:
        return [(n, g.shape, g.dtype) for n, g in grads.items()] == [
            (n, v.shape, v.dtype) for n, v in self.params.items()
        ]

    def _check_grad_buffers(self, grads):
        if grads is not None and not self._grad_buffers_match(grads):
            raise ValueError("grads must be the dict returned by a previous call on this net (or None)")

    def _loss_and_grads_matrix(self, X, y, want_input_grad, out=None, scale=1.0):
        """Vectorised bprop over the minibatch (homework 3.6); K examples at once.

        Each product is one BLAS call on the arrays as they are (a transpose is a view, never
        a copy); elementwise steps work in place on arrays this call made; ∂L/∂X, a whole
        extra (K, d_h)·(d_h, d) product, is only computed when asked for. ``out``: arrays to
        write the parameter gradients into (``loss_and_grads_into``), else new ones.
        ``scale``: every gradient comes out multiplied by it (``sgd_step`` passes η).
        """
        p = self.params
        K, L = X.shape[0], self.n_layers
        out = {} if out is None else out
        h_pre, h_post, logits = self._forward(X)
        inputs = [X] + h_post  # inputs[l-1] is what layer l multiplies

        # Softmax from logits shifted by their row max (o^s is unchanged by a shift; no overflow).
        logits -= logits.max(axis=1, keepdims=True)
        exp_logits = np.exp(logits)
        sum_exp = exp_logits.sum(axis=1, keepdims=True)
        rows = np.arange(K)
        # L = -log o^s_y = log Σ_j e^{o^a_j} - o^a_y  (2.4), batch mean
        loss = float(np.log(sum_exp).sum() - logits[rows, y].sum()) / K

        # ∂L/∂O^a = (O^s - onehot(y)) / K   (2.7; the 1/K of the batch mean), o^s = e^{o^a} / Σ_j e^{o^a_j}
        grad_a = np.multiply(exp_logits, (scale / K) / sum_exp, out=exp_logits)
        grad_a[rows, y] -= scale / K

        grads = {}
        for layer in range(L, 0, -1):
            W, b = f"W{layer}", f"b{layer}"
            grads[W] = np.matmul(grad_a.T, inputs[layer - 1], out=out.get(W))  # ∂L/∂W2 = Σ_i ∂L/∂o^a_i h^s_iᵀ  (2.10)
            grads[b] = grad_a.sum(axis=0, out=out.get(b))  # ∂L/∂b2 = Σ_i ∂L/∂o^a_i  (2.10)
            if layer > 1:
                grad_h = grad_a @ p[W]  # ∂L/∂h^s = W2ᵀ ∂L/∂o^a  (2.12)
                grad_a = np.multiply(grad_h, self._act_grad(h_pre[layer - 2]), out=grad_h)  # ∂L/∂h^a = ∂L/∂h^s ⊙ rect'(h^a)  (2.14)
        # ∂L/∂x = W1ᵀ ∂L/∂h^a  (2.17): not needed to train, so only on request
        grad_X = grad_a @ p["W1"] if want_input_grad else None
        # Insertion order W1, b1, W2, b2, ... like params.
        grads = {name: grads[name] for name in p}
        return loss, grads, grad_X

    def _backprop_one(self, x, y):
        """fprop + bprop of one example x (shape (d,)), column-vector style as the homework.

        Returns (L, {name: ∂L/∂θ}, ∂L/∂x) for this single example (no 1/K, no penalty).
        """
        p = self.params
        L = self.n_layers
        # fprop
        h_pre, h_post = [], [x]
        for layer in range(1, L):
            h_a = p[f"W{layer}"] @ h_post[-1] + p[f"b{layer}"]  # h^a = W1 x + b1  (2.1)
            h_pre.append(h_a)
            h_post.append(self._act(h_a))  # h^s = rect(h^a)
        o_a = p[f"W{L}"] @ h_post[-1] + p[f"b{L}"]  # o^a = W2 h^s + b2  (2.2)
        log_o_s = F.log_softmax(o_a)
        loss = -log_o_s[y]  # L = -log o^s_y  (2.4)

        # bprop
        grad_a = np.exp(log_o_s)  # ∂L/∂o^a = o^s - onehot(y)  (2.7)
        grad_a[y] -= 1
        grads = {}
        for layer in range(L, 0, -1):
            grads[f"W{layer}"] = np.outer(grad_a, h_post[layer - 1])  # ∂L/∂W2 = ∂L/∂o^a h^sᵀ  (2.10)
            grads[f"b{layer}"] = grad_a.copy()  # ∂L/∂b2 = ∂L/∂o^a  (2.10)
            grad_h = p[f"W{layer}"].T @ grad_a  # ∂L/∂h^s = W2ᵀ ∂L/∂o^a  (2.12); at layer 1: ∂L/∂x (2.17)
            if layer > 1:
                grad_a = grad_h * self._act_grad(h_pre[layer - 2])  # ∂L/∂h^a = ∂L/∂h^s ⊙ rect'(h^a)  (2.14)
        return float(loss), grads, grad_h

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
