"""Input checks shared by the twins: every bad input becomes a clear error naming the value.

NumPy only, so both `manual` and `reference` (and student-facing tools) can use them.
"""

from __future__ import annotations

import numbers

import numpy as np

from .functions import ACTIVATIONS

MODES = ("matrix", "loop")


def check_sizes(sizes) -> tuple[int, ...]:
    """`sizes = (d, h1, ..., m)`: at least one hidden layer, every entry a positive int."""
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise TypeError(f"sizes must be a sequence of ints (d, h1, ..., m), got {sizes!r}") from None
    if len(sizes) < 3:
        raise ValueError(
            f"sizes must have at least 3 entries (d, hidden..., m), got {sizes!r} "
            f"({len(sizes)} entries)"
        )
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"sizes must be ints, got {s!r} in {sizes!r}")
        if s <= 0:
            raise ValueError(f"sizes must be positive, got {s!r} in {sizes!r}")
    return tuple(int(s) for s in sizes)


def check_activation(activation) -> str:
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; choose one of {', '.join(sorted(ACTIVATIONS))}"
        )
    return activation


def check_mode(mode) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose 'matrix' or 'loop'")
    return mode


def check_positive(name, value) -> float:
    """A finite number > 0 (a learning rate, eps, ...), as a float; the error names ``name``."""
    if type(value) is float and 0.0 < value < float("inf"):  # the common case, checked fast (every step)
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def check_lambdas(lambdas, n_layers: int) -> tuple[float, ...]:
    """The homework's flat list (λ11, λ12, λ21, λ22, ...): L1 then L2 weight per layer.

    None means no regularisation. Returns a tuple of 2·n_layers non-negative floats.
    """
    if lambdas is None:
        return (0.0,) * (2 * n_layers)
    if isinstance(lambdas, numbers.Real):
        raise TypeError(
            f"lambdas must be a list of {2 * n_layers} numbers (L1, L2 per layer), "
            f"got the single number {lambdas!r}"
        )
    values = np.asarray(lambdas, dtype=object).reshape(-1) if not isinstance(lambdas, str) else None
    if values is None:
        raise TypeError(f"lambdas must be a list of numbers, got {lambdas!r}")
    if values.size != 2 * n_layers:
        raise ValueError(
            f"expected {2 * n_layers} lambdas (L1 and L2 weight for each of the {n_layers} "
            f"layers), got {values.size}: {list(lambdas)!r}"
        )
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"lambdas must be numbers, got {v!r} in {list(lambdas)!r}")
        v = float(v)
        if not np.isfinite(v) or v < 0:
            raise ValueError(f"lambdas must be finite and >= 0, got {v!r} in {list(lambdas)!r}")
        out.append(v)
    return tuple(out)


def check_X(X, d: int, dtype) -> np.ndarray:
    """A batch of inputs: shape (K, d), K ≥ 1, finite real numbers. Returned in `dtype`."""
    X = np.asarray(X)
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise TypeError(f"X must hold real numbers, got dtype {X.dtype}")
    if np.iscomplexobj(X):
        raise TypeError(f"X must hold real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D with shape (K, {d}) (one example per row), got shape {X.shape}")
    if X.shape[1] != d:
        raise ValueError(f"X has {X.shape[1]} features per row but the network expects d={d} (shape {X.shape})")
    if X.shape[0] == 0:
        raise ValueError(f"X is an empty batch (shape {X.shape})")
    X = X.astype(dtype, copy=False)
    if not np.all(np.isfinite(X)):
        bad = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(
            f"X contains NaN or inf (first at row {bad[0]}, column {bad[1]}: {X[tuple(bad)]!r})"
        )
    return X


def check_y(y, K: int, m: int) -> np.ndarray:
    """Labels: integer array of shape (K,) with values in [0, m)."""
    y = np.asarray(y)
    if y.dtype == bool or not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"y must be integer class labels in [0, {m}), got dtype {y.dtype}")
    if y.ndim != 1 or y.shape[0] != K:
        raise ValueError(f"y must have shape ({K},) to match X, got shape {y.shape}")
    bad = (y < 0) | (y >= m)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise ValueError(f"labels must be in [0, {m}), got y[{i}] = {int(y[i])}")
    return y.astype(np.intp, copy=False)
