"""Gradient check: manual (matrix and loop) and finite differences against autograd.

    python -m compare.gradcheck [--sizes d h ... m] [--batch-size K ...] [--show-values] [--json PATH]

Compares, on one seeded batch per ``--batch-size``:

    manual-matrix  vs autograd     (tolerance of the dtype)
    manual-loop    vs autograd     (tolerance of the dtype)
    finite-diff    vs autograd     (finite-difference tolerance, computed in float64)

By default the homework's cases (d=2, d_h=2, m=2 on K=1 then K=10 examples, questions 3.2
and 3.4) with the homework's ratio analytic / finite-difference shown. The check itself is
``compare.lab.gradients.check_gradients``; this module reads the command line and prints
its reports. Exit status: 0 all pass, 1 a mismatch, 2 bad input or an unwritable ``--json``
path, found before the check (one line on stderr), 130 on Ctrl-C (143 SIGTERM, 129 SIGHUP).
torch is imported only once the command line is checked.
"""

from __future__ import annotations

# isort: off
from compare import cli  # first: from here on, Ctrl-C during the imports below exits 130 on one line
# isort: on
import sys

import numpy as np

from compare.lab.gradients import DTYPES, FD_DEFAULT_LIMIT, GradcheckReport, check_gradients

NAME = "gradcheck"


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
    cli.check_output_file("--json", args.json)  # before the check, not after it
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
            cli.write_json_atomic(args.json, [r.to_dict() for r in reports], indent=2, allow_nan=True)
        except OSError as error:
            raise cli.UsageError(f"cannot write --json {args.json}: {error.strerror}") from None
    return 0 if all(r.passed for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
