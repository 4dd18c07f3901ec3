"""Optimisers written by hand, step for step the same as ``torch.optim`` (NumPy only).

Each optimiser updates a dict of NumPy arrays (``MLP.params``) in place from a dict of
gradients with the same keys. The update rules are torch's, read from its documentation
and source, including where torch departs from the textbook:

- ``SGD``: plain gradient descent (homework 2.6), ``torch.optim.SGD(lr)``.
- ``SGD(momentum=μ)``: torch's heavy ball, ``torch.optim.SGD(lr, momentum=μ)``, with
  dampening 0. Torch *starts* the velocity at the first gradient (b₁ = g₁), not at 0.
- ``SGD(momentum=μ, nesterov=True)``: ``torch.optim.SGD(lr, momentum=μ, nesterov=True)``,
  the look-ahead written on the gradient: θ ← θ - η (g + μ b).
- ``Adam``: ``torch.optim.Adam(lr, betas=(β1, β2), eps=ε)``, bias-corrected, with ε added
  to the *bias-corrected* √v̂ (outside the square root).

Weight decay is not an optimiser option here: the homework's elastic-net penalty is part
of the loss (``lambdas``), so its gradient is already in ``grads``.
"""

from __future__ import annotations

import numbers

import numpy as np

from .checks import check_positive

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")


def _check_fraction(name, value) -> float:
    """A momentum or a β: a number in [0, 1), as a float; the error names ``name`` and the value.

    1 is excluded: μ = 1 never forgets a gradient (b_t = Σ g), and in Adam β = 1 makes the
    bias correction 1 - β^t zero (a division by zero at the first step).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not 0.0 <= value < 1.0:  # also refuses NaN
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return value


class _Optimizer:
    """Shared bookkeeping: the learning rate and the check that grads match params."""

    def __init__(self, lr):
        self.lr = check_positive("lr", lr)
        self.steps = 0  # t, the number of updates done

    def step(self, params: dict, grads: dict) -> None:
        """One update of every array of ``params`` (in place) from ``grads``.

        Everything is checked before any array is updated, so a refused step changes nothing.
        """
        if set(params) != set(grads):
            raise ValueError(f"grads have keys {sorted(grads)}, params have {sorted(params)}")
        for name, p in params.items():
            g = grads[name]
            if np.shape(g) != p.shape:
                raise ValueError(f"grads[{name!r}] has shape {np.shape(g)}, params[{name!r}] has {p.shape}")
            # A parameter replaced by an array of another shape cannot carry its history over.
            for state in self._states():
                if name in state and state[name].shape != p.shape:
                    raise ValueError(
                        f"params[{name!r}] now has shape {p.shape}, but its optimiser state was made "
                        f"for shape {state[name].shape}: make a new optimiser after replacing "
                        "parameters by arrays of another shape"
                    )
        self.steps += 1
        for name, p in params.items():
            for state in self._states():  # a parameter replaced by another dtype: its state follows
                if name in state and state[name].dtype != p.dtype:
                    state[name] = state[name].astype(p.dtype)
            self._update(name, p, np.asarray(grads[name], dtype=p.dtype))

    def _states(self) -> list:
        """The dicts of per-parameter state carried from step to step (velocity, moments)."""
        return []

    def _update(self, name, p, g):  # pragma: no cover - abstract
        raise NotImplementedError


class SGD(_Optimizer):
    """Minibatch gradient descent, optionally with momentum (heavy ball) or Nesterov."""

    def __init__(self, lr, momentum=0.0, nesterov=False):
        super().__init__(lr)
        self.momentum = _check_fraction("momentum", momentum)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs a momentum > 0")
        self.velocity = {}  # b, one buffer per parameter, created at the first step
        self._buffers = {}

    def _update(self, name, p, g):
        lr, mu = self.lr, self.momentum
        if mu == 0:
            p -= np.multiply(g, lr, out=self._scratch(name, p))  # θ ← θ - η g  (homework 2.6)
            return
        b = self.velocity.get(name)
        if b is None:
            b = self.velocity[name] = g.copy()  # b₁ = g₁  (torch's first step)
        else:
            b *= mu
            b += g  # b_t = μ b_{t-1} + g_t  (dampening 0)
        if self.nesterov:
            step = np.multiply(b, mu, out=self._scratch(name, p))
            step += g
            step *= lr
            p -= step  # θ ← θ - η (g_t + μ b_t)
        else:
            p -= np.multiply(b, lr, out=self._scratch(name, p))  # θ ← θ - η b_t

    def _states(self) -> list:
        return [self.velocity]

    def _scratch(self, name, p):
        """A work array shaped like p, kept from step to step (no temporaries over W1 per step).

        Made again when p has been replaced by an array of another shape or dtype (a stale
        buffer would not fit, or would round the step to its own dtype).
        """
        buf = self._buffers.get(name)
        if buf is None or buf.shape != p.shape or buf.dtype != p.dtype:
            buf = self._buffers[name] = np.empty_like(p)
        return buf


class Adam(_Optimizer):
    """Adam (Kingma & Ba), exactly as ``torch.optim.Adam`` with amsgrad off, no weight decay."""

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(lr)
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
        self.beta1 = _check_fraction("beta1", beta1)
        self.beta2 = _check_fraction("beta2", beta2)
        self.eps = check_positive("eps", eps)
        self.m = {}  # first moment, per parameter
        self.v = {}  # second moment, per parameter

    def _states(self) -> list:
        return [self.m, self.v]

    def _update(self, name, p, g):
        b1, b2, t = self.beta1, self.beta2, self.steps
        m, v = self.m.get(name), self.v.get(name)
        if m is None:
            m = self.m[name] = np.zeros_like(p)  # m_0 = 0
            v = self.v[name] = np.zeros_like(p)  # v_0 = 0
        m += (1 - b1) * (g - m)  # m_t = β1 m_{t-1} + (1-β1) g_t   (computed as torch's lerp)
        v *= b2
        v += (1 - b2) * (g * g)  # v_t = β2 v_{t-1} + (1-β2) g_t²
        step_size = self.lr / (1 - b1**t)  # η / (1 - β1^t)
        denom = np.sqrt(v) / np.sqrt(1 - b2**t) + self.eps  # √v_t / √(1 - β2^t) + ε
        p -= step_size * (m / denom)  # θ ← θ - η m̂_t / (√v̂_t + ε)


def make_optimizer(name: str, lr: float, momentum: float = 0.9, betas=(0.9, 0.999), eps=1e-8):
    """The optimiser called ``name`` (one of ``OPTIMIZERS``), with torch's meaning of each option."""
    if name == "sgd":
        return SGD(lr)
    if name == "momentum":
        return SGD(lr, momentum=momentum)
    if name == "nesterov":
        return SGD(lr, momentum=momentum, nesterov=True)
    if name == "adam":
        return Adam(lr, betas=betas, eps=eps)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
