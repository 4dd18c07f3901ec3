"""Gradient check: manual (matrix and loop) and finite differences against autograd.

For one configuration it builds a manual net, loads the same values into the torch twin,
draws one seeded batch, and compares every parameter gradient and ∂L/∂X:

    manual-matrix  vs autograd     (tolerance of the dtype)
    manual-loop    vs autograd     (tolerance of the dtype)
    finite-diff    vs autograd     (finite-difference tolerance, computed in float64)

``python -m compare.gradcheck`` prints the report; by default the homework's cases
(d=2, d_h=2, m=2 on K=1 then K=10 examples, questions 3.2 and 3.4) with the homework's
ratio analytic / finite-difference shown. Exit status: 0 all pass, 1 a mismatch, 2 bad input
or an unwritable ``--json`` path, found before the check (one line on stderr), 130 on Ctrl-C
(143 SIGTERM, 129 SIGHUP). torch is imported only once the command line is checked.
"""

from __future__ import annotations

# isort: off
from compare import cli  # first: from here on, Ctrl-C during the imports below exits 130 on one line
# isort: on
import json
import sys
from dataclasses import dataclass, field

import numpy as np

from compare.lab.diff import TOLERANCES, ArrayDiff, compare_arrays
from manual import MLP, finite_difference_grads, finite_difference_input_grad
from manual.checks import check_lambdas

NAME = "gradcheck"

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


def _ratio_range(analytic, estimate):
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
                fd_ratio=_ratio_range(ref_grads[name], estimates[name]),
            )
        )
    return report


# ----------------------------------------------------------------------------- CLI
def format_report(report: GradcheckReport) -> str:
    c = report.config
    lines = [
        f"sizes={tuple(c['sizes'])} activation={c['activation']} K={c['batch_size']} "
        f"dtype={c['dtype']} lambdas={c['lambdas']} seed={c['seed']}  (reference: autograd)",
        f"  {'method':<14}{'param':<6}{'shape':<11}{'max abs err':>12}{'max rel err':>12}"
        f"  {'worst index':<12}{'ratio (min..max)':<24}result",
    ]
    for row in report.rows:
        d = row.diff
        ratio = "" if row.fd_ratio is None else f"{row.fd_ratio[0]:.8f}..{row.fd_ratio[1]:.8f}"
        lines.append(
            f"  {row.method:<14}{row.name:<6}{str(d.shape):<11}{d.max_abs_error:>12.2e}"
            f"{d.max_rel_error:>12.2e}  {str(d.worst_index):<12}{ratio:<24}"
            f"{'ok' if d.passed else 'FAIL (tol ' + format(d.rtol, '.0e') + ')'}"
        )
    lines.extend(f"  note: {note}" for note in report.notes)
    lines.append(f"  => {'PASS' if report.passed else 'FAIL'}")
    return "\n".join(lines)


def format_values(report: GradcheckReport) -> str:
    """The homework's printout (3.2): true gradient, estimated gradient and their ratio."""
    true, estimated = report.values.get("autograd", {}), report.values.get("finite-diff", {})
    lines = []
    with np.printoptions(precision=8, suppress=True):
        for name, g in true.items():
            lines.append(f"  true gradient of {name} (autograd):\n{g}")
            if name in estimated:
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = np.where(estimated[name] != 0, g / estimated[name], np.nan)
                lines.append(f"  estimated gradient of {name} (finite differences):\n{estimated[name]}")
                lines.append(f"  ratio true / estimated for {name}:\n{ratio}")
    return "\n".join(lines)


def build_parser() -> cli.Parser:
    parser = cli.Parser(
        NAME,
        prog=cli.prog("compare.gradcheck", "backprop-gradcheck"),
        description="Check the hand-written gradients (matrix and loop) and finite differences "
        "against autograd. Default: the homework's cases, d=2, d_h=2, m=2 on K=1 then K=10.",
        epilog="Exit status: 0 everything agrees, 1 a mismatch, 2 a mistake in the command line or an unwritable --json "
               "path, checked first (one line), 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP.",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 2, 2], metavar="N",
                        help="layer sizes d h1 ... m (default: 2 2 2)")
    parser.add_argument("--activation", default="relu", help="relu, tanh, sigmoid or softplus")
    parser.add_argument("--batch-size", type=int, nargs="+", default=[1, 10], metavar="K",
                        help="one case per batch size (default: 1 10)")
    parser.add_argument("--lambdas", type=float, nargs="+", default=None, metavar="L",
                        help="elastic-net weights L11 L12 L21 L22 ... (default: none)")
    parser.add_argument("--dtype", choices=DTYPES, default="float64",
                        help="the manual net's and autograd's dtype; finite differences always run in float64 "
                        "(default: float64)")
    parser.add_argument("--seed", type=int, default=2,
                        help="seed of the weights and the batch (default 2: every hidden unit "
                        "is active on the homework's K=1 example, so no gradient is trivially 0)")
    parser.add_argument("--eps", type=float, default=1e-6, help="finite-difference step ε (default: 1e-6)")
    parser.add_argument("--fd-limit", type=int, default=FD_DEFAULT_LIMIT, metavar="N",
                        help="skip finite differences when the net has more than N parameters; each costs "
                        f"2 loss evaluations (default: {FD_DEFAULT_LIMIT})")
    parser.add_argument("--show-values", action="store_true",
                        help="also print the gradients themselves and the ratio, as the homework does")
    parser.add_argument("--json", metavar="PATH", help="also write the reports as JSON")
    return parser


def main(argv=None) -> int:
    return cli.run(NAME, _main, argv)


def _main(argv) -> int:
    args = build_parser().parse_args(argv)
    if args.fd_limit < 0:
        raise cli.UsageError(f"--fd-limit must be >= 0 (0 skips finite differences), got {args.fd_limit}")
    if not 0 < args.eps < 1:
        raise cli.UsageError(f"--eps must be a small positive step such as 1e-6, got {args.eps}")
    try:
        reports = [
            check_gradients(args.sizes, args.activation, K, args.lambdas, args.dtype, args.seed,
                            eps=args.eps, fd_limit=args.fd_limit)
            for K in args.batch_size
        ]
    except (ValueError, TypeError) as error:
        raise cli.UsageError(str(error)) from None
    blocks = []
    for r in reports:
        blocks.append(format_report(r) + ("\n" + format_values(r) if args.show_values else ""))
    print("\n\n".join(blocks))
    if args.json:
        try:
            with open(args.json, "w") as f:
                json.dump([r.to_dict() for r in reports], f, indent=2)
        except OSError as error:
            raise cli.UsageError(f"cannot write --json {args.json}: {error.strerror}") from None
    return 0 if all(r.passed for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
