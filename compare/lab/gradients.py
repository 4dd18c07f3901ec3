"""The gradient check: manual (matrix and loop) and finite differences against autograd.

For one configuration ``check_gradients`` builds a manual net, loads the same values into the
torch twin, draws one seeded batch, and compares every parameter gradient and ∂L/∂X:

    manual-matrix  vs autograd     (tolerance of the dtype)
    manual-loop    vs autograd     (tolerance of the dtype)
    finite-diff    vs autograd     (finite-difference tolerance, computed in float64)

It returns a ``GradcheckReport``: one row per (method, parameter) with its ``ArrayDiff``, the
homework's ratio analytic / finite-difference, notes, and the gradients themselves for
display. ``python -m compare.gradcheck`` prints it. torch is imported only when a check runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compare.lab.diff import TOLERANCES, ArrayDiff, compare_arrays
from manual import MLP, finite_difference_grads, finite_difference_input_grad
from manual.checks import check_lambdas

METHODS = ("manual-matrix", "manual-loop", "finite-diff")
DTYPES = ("float32", "float64")
FD_DEFAULT_LIMIT = 5000  # finite differences cost 2 loss evaluations per parameter


@dataclass
class GradcheckRow:
    method: str  # one of METHODS
    name: str  # W1, b1, ..., or "X" for ∂L/∂X, or "loss"
    diff: ArrayDiff
    fd_ratio: tuple | None = None  # (min, max) of analytic / finite-difference, where defined

    def to_dict(self) -> dict:
        d = {"method": self.method, "name": self.name, **self.diff.to_dict()}
        if self.fd_ratio is not None:
            d["fd_ratio_min"], d["fd_ratio_max"] = self.fd_ratio
        return d


@dataclass
class GradcheckReport:
    config: dict
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    values: dict = field(default_factory=dict)  # method -> {name: gradient array}, for display

    @property
    def passed(self) -> bool:
        return all(row.diff.passed for row in self.rows)

    def failures(self) -> list:
        return [row for row in self.rows if not row.diff.passed]

    def to_dict(self) -> dict:
        return {
            "config": self.config,
            "passed": self.passed,
            "rows": [row.to_dict() for row in self.rows],
            "notes": self.notes,
        }


def make_batch(d: int, m: int, batch_size: int, seed: int):
    """A seeded batch: X ~ N(0, 1) of shape (K, d), labels uniform in [0, m)."""
    rng = np.random.default_rng(seed + 1)  # not the stream the weights came from
    return rng.standard_normal((batch_size, d)), rng.integers(0, m, size=batch_size)


def ratio_range(analytic, estimate):
    """min and max of analytic / finite-difference over entries where both are clearly non-zero."""
    analytic = np.asarray(analytic, dtype=np.float64).ravel()
    estimate = np.asarray(estimate, dtype=np.float64).ravel()
    usable = (np.abs(estimate) > 1e-7) & (np.abs(analytic) > 1e-7)
    if not np.any(usable):
        return None
    ratio = analytic[usable] / estimate[usable]
    return float(ratio.min()), float(ratio.max())


def check_gradients(
    sizes=(2, 2, 2),
    activation="relu",
    batch_size=1,
    lambdas=None,
    dtype="float64",
    seed=0,
    eps=1e-6,
    fd_limit=FD_DEFAULT_LIMIT,
    X=None,
    y=None,
) -> GradcheckReport:
    """Run manual-matrix, manual-loop, autograd and finite differences on one configuration.

    ``X``/``y`` replace the seeded random batch. Finite differences run in float64 on a copy
    of the net's values, and are skipped (with a note) when the net has more than
    ``fd_limit`` parameters.
    """
    from reference import (  # torch: imported when needed
        TorchMLP,
        autograd_input_grad,
        autograd_loss_and_grads,
    )

    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose float32 or float64")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size <= 0:
        raise ValueError(f"batch size must be a positive integer, got {batch_size!r}")
    net = MLP(sizes, activation=activation, seed=seed, dtype=dtype)
    lambdas = check_lambdas(lambdas, net.n_layers)
    if X is None:
        X, y = make_batch(net.sizes[0], net.sizes[-1], batch_size, seed)
    X = np.asarray(X)
    twin = TorchMLP(net.sizes, activation=activation, dtype=dtype).load_params(net.params)
    report = GradcheckReport(
        config={
            "sizes": list(net.sizes),
            "activation": activation,
            "batch_size": int(np.shape(X)[0]),
            "lambdas": list(lambdas),
            "dtype": dtype,
            "seed": seed,
            "eps": eps,
        }
    )
    tol = TOLERANCES[dtype]

    ref_loss, ref_grads = autograd_loss_and_grads(twin, X, y, lambdas)
    ref_grads["X"] = autograd_input_grad(twin, X, y)
    report.values["autograd"] = ref_grads
    vacuous = [name for name, g in ref_grads.items() if not np.any(g)]
    if vacuous:
        report.notes.append(
            f"the gradients of {', '.join(vacuous)} are exactly zero on this batch (e.g. every "
            "ReLU unit inactive), so their check proves little: try another --seed or a larger K"
        )
    for method, mode in (("manual-matrix", "matrix"), ("manual-loop", "loop")):
        loss, grads = net.loss_and_grads(X, y, lambdas, mode=mode)
        grads["X"] = net.input_grad(X, y, mode=mode)
        report.rows.append(GradcheckRow(method, "loss", compare_arrays(loss, ref_loss, tol)))
        for name in ref_grads:
            report.rows.append(GradcheckRow(method, name, compare_arrays(grads[name], ref_grads[name], tol)))

    if net.n_params > fd_limit:
        report.notes.append(
            f"finite differences skipped: {net.n_params} parameters > fd_limit={fd_limit} "
            "(each costs 2 loss evaluations)"
        )
        return report
    # Finite differences in float64, on a float64 copy of the same values.
    net64 = MLP(net.sizes, activation=activation, seed=seed, dtype=np.float64)
    net64.params = {name: value.astype(np.float64) for name, value in net.params.items()}
    X64 = np.asarray(X, dtype=np.float64)
    estimates = finite_difference_grads(lambda _: net64.loss(X64, y, lambdas), net64.params, eps=eps)
    estimates["X"] = finite_difference_input_grad(lambda Xp: net64.loss(Xp, y), X64, eps=eps)
    report.values["finite-diff"] = estimates
    fd_tol = TOLERANCES["finite-diff"] if dtype == "float64" else tol
    for name in ref_grads:
        report.rows.append(
            GradcheckRow(
                "finite-diff",
                name,
                compare_arrays(estimates[name], ref_grads[name], fd_tol),
                fd_ratio=ratio_range(ref_grads[name], estimates[name]),
            )
        )
    return report
