"""The training loop's fast path: ``MLP``'s minibatch backprop with less memory traffic (NumPy only).

``FastMLP`` is an ``MLP`` (same parameters, same teaching methods) with two more steps for a
training loop or a benchmark:

- ``loss_and_grads_into(grads, X, y, lambdas)``: ``loss_and_grads(mode="matrix")`` bit for bit,
  written into the arrays of the previous call instead of new ones;
- ``sgd_step(X, y, lr, lambdas)``: ``loss_and_grads`` then θ ← θ - η ∂L/∂θ, with η folded into
  bprop (equal to a few ulps of each step).

Both trust X and y: only their dtype and shapes are checked (O(1)), not every value. Check
the data set once with ``manual.checks.check_X`` / ``check_y`` before the epochs, then pass its
rows (views of it) here. The arithmetic of ``_backprop_into`` is ``MLP._loss_and_grads_matrix``'s,
operation for operation; only where the results go differs. The tests that prove both equal
(tests/test_twins.py, test_bench.py, test_mlp_numpy.py, test_optim.py) ask ``loss_and_grads_into``
for equality bit for bit, and ``sgd_step`` for rtol 1e-13 on θ in float64: η·(g/K) instead of
(η/K)·g moves each step by a few of its ulps, far below an ulp of θ.
"""

from __future__ import annotations

import numpy as np

from . import functions
from .checks import check_lambdas, check_positive
from .mlp import MLP


class FastMLP(MLP):
    """``MLP`` plus the two steps a training loop calls many times: see the module's docstring."""

    def __init__(self, *args, **kwargs):
        """The arguments of ``MLP``: ``sizes``, ``activation``, ``seed``, ``dtype``."""
        super().__init__(*args, **kwargs)
        self._sgd_buffers = None  # sgd_step's η ∂L/∂θ arrays, reused from step to step

    def loss_and_grads_into(self, grads, X, y, lambdas=None):
        """``loss_and_grads(X, y, lambdas, mode="matrix")`` for the inner step of a training loop.

        Same loss, same gradients (bit for bit), but the gradients are written into ``grads``,
        the dict returned by the previous call (``None`` the first time: then it is allocated),
        so an epoch reuses one set of arrays instead of allocating ∂L/∂W_l (d_h·d numbers) at
        every minibatch; the returned dict holds those same arrays, overwritten by the next call.
        """
        self._check_trusted_batch(X, y, "loss_and_grads_into")
        lambdas = check_lambdas(lambdas, self.n_layers)
        if grads is not None and not self._grad_buffers_match(grads):
            raise ValueError("grads must be the dict returned by a previous call on this net (or None)")
        loss, grads = self._backprop_into(X, y, out=grads, scale=1.0)
        self._add_penalty_grads(grads, lambdas)
        return loss + self._penalty(lambdas), grads

    def sgd_step(self, X, y, lr, lambdas=None) -> float:
        """One step of minibatch gradient descent, θ ← θ - η ∂L/∂θ (homework 2.6), in place.

        Returns the loss L of the batch before the step. It is ``loss_and_grads`` followed by
        ``p -= lr * g`` for every parameter, done with less memory traffic: bprop is linear in
        ∂L/∂o^a, so starting it from η ∂L/∂o^a yields η ∂L/∂θ for every θ at no extra cost,
        and each parameter then takes a single subtraction (no ``lr * g`` pass over W1).
        """
        self._check_trusted_batch(X, y, "sgd_step")
        lr = check_positive("lr", lr)
        lambdas = check_lambdas(lambdas, self.n_layers)
        buffers = self._sgd_buffers
        if buffers is not None and not self._grad_buffers_match(buffers):
            buffers = None  # params were replaced by arrays of another shape or dtype
        loss, steps = self._backprop_into(X, y, out=buffers, scale=lr)
        self._add_scaled_penalty_grads(steps, lambdas, scale=lr)
        loss += self._penalty(lambdas)  # the loss at θ before the update
        for name, param in self.params.items():
            param -= steps[name]  # θ ← θ - η ∂L/∂θ
        self._sgd_buffers = steps
        return loss

    # ----------------------------------------------------------------- checks
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
        """Whether ``grads`` has the keys, shapes and dtypes of ``params``, in their order."""
        return [(n, g.shape, g.dtype) for n, g in grads.items()] == [
            (n, v.shape, v.dtype) for n, v in self.params.items()
        ]

    # ----------------------------------------------------------------- the work
    def _add_scaled_penalty_grads(self, steps, lambdas, scale):
        """``_add_penalty_grads`` times ``scale``: η λ_l1 sign(W_l) + 2 η λ_l2 W_l into each step."""
        for layer in range(1, self.n_layers + 1):
            W = self.params[f"W{layer}"]
            lam1, lam2 = lambdas[2 * layer - 2], lambdas[2 * layer - 1]
            if lam1:
                steps[f"W{layer}"] += (scale * lam1) * functions.l1_grad(W)
            if lam2:
                steps[f"W{layer}"] += (scale * lam2) * functions.l2_squared_grad(W)

    def _backprop_into(self, X, y, out, scale):
        """``MLP._loss_and_grads_matrix`` (no ∂L/∂X), every gradient times ``scale``, into ``out``.

        ``out``: the arrays to write the gradients into, or None for new ones. Elementwise steps
        work in place on arrays this call made. With ``scale = 1.0`` every operation is the
        teaching version's, so the results are equal bit for bit.
        """
        p, K = self.params, X.shape[0]
        out = {} if out is None else out
        h_a, h_s, o_a = self._forward(X)
        inputs = [X, *h_s]
        rows = np.arange(K)
        o_a -= o_a.max(axis=1, keepdims=True)  # in place: o_a is this call's own array
        exp_o_a = np.exp(o_a)
        sum_exp = exp_o_a.sum(axis=1, keepdims=True)
        loss = float(np.log(sum_exp).sum() - o_a[rows, y].sum()) / K

        grad_a = np.multiply(exp_o_a, (scale / K) / sum_exp, out=exp_o_a)  # scale · ∂L/∂o^a
        grad_a[rows, y] -= scale / K
        grads = {}
        for layer in range(self.n_layers, 0, -1):
            W, b = f"W{layer}", f"b{layer}"
            grads[W] = np.matmul(grad_a.T, inputs[layer - 1], out=out.get(W))
            grads[b] = grad_a.sum(axis=0, out=out.get(b))
            if layer > 1:
                grad_s = grad_a @ p[W]
                grad_a = np.multiply(grad_s, self._act_grad(h_a[layer - 2]), out=grad_s)
        return loss, {name: grads[name] for name in p}
