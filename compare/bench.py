"""Homework 3.8, measured: one MNIST training epoch, manual loop vs manual matrix vs torch.

    python -m compare.bench [--quick] [--json PATH] [--plot PATH] [--data-dir DIR] [--threads N]

One *epoch* is forward + backward + SGD update (``p -= lr·g``) over every minibatch of the
50,000 training images, the same work for every implementation:

- ``loop``   the homework's per-example version (``MLP.loss_and_grads(mode="loop")``), the
  teaching version; it is slow, so it is timed on a subset of whole minibatches and scaled
  to the full epoch (said in the output);
- ``matrix`` the manual minibatch version: ``FastMLP.sgd_step``, the gradient of
  ``MLP.loss_and_grads(mode="matrix")`` with η folded into bprop, then one in-place
  subtraction per parameter (torch's SGD does the same: ``p.add_(g, alpha=-lr)``);
- ``torch``  the ``reference.TorchMLP`` twin, autograd + ``torch.optim.SGD`` on the CPU;
- ``torch-cuda`` the same on the GPU, when one is available.

Both sides shuffle once per epoch into a preallocated buffer (one seeded permutation, the
same for every implementation) and then take minibatches as views of it.

FLOPs count the matrix products only: ``N · (4·d·d_h + 6·d_h·m)`` per epoch of N examples
for sizes (d, d_h, m). Ceilings: in the same run, each library's own GEMM throughput on
exactly the matrix shapes of one minibatch step; ``efficiency`` is a row's GFLOP/s over its
library's ceiling. Every figure is the median of several timed epochs after a warm-up; the
implementations are timed in turn, epoch by epoch, so that a noisy neighbour hits them
alike. The output says how busy other processes kept the CPUs meanwhile, and which rows had
epochs more than 30% apart. The JSON's ``"rows"`` hold exactly ``compare.lab.bench.settings.ROW_KEYS``; its
``"samples"``, one entry per row, the timed epochs behind each median and the ceiling's
rounds. NumPy's BLAS and torch run with the same number of threads (``--threads``, default
NumPy's current BLAS thread count).

The work is done in ``compare.lab.bench`` (one module per job: settings, flops, threads,
machine, ceiling, runners, noise, targets, point, grid, table); this module reads the
command line, runs it, and writes the files.
"""

from __future__ import annotations

# isort: off
from compare import cli  # first: from here on, Ctrl-C during the imports below exits 130 on one line
# isort: on
import argparse
import sys

from compare.lab.bench.settings import DTYPES, GRID, N_TRAIN, QUICK, Config

NAME = "bench"


def _parse_grid(text):
    try:
        points = tuple(tuple(int(v) for v in item.lower().split("x")) for item in text.split(","))
    except ValueError:
        points = ()
    if not points or any(len(p) != 2 or min(p) < 1 for p in points):
        raise argparse.ArgumentTypeError(f"expected HIDDENxBATCH[,HIDDENxBATCH...] such as 512x64,800x128, got {text!r}")
    return points


_positive_int = cli.number(int, 1, "a whole number > 0")
_non_negative_float = cli.number(float, 0, "a number of seconds >= 0")


def build_parser() -> cli.Parser:
    parser = cli.Parser(
        NAME,
        prog=cli.prog("compare.bench", "backprop-bench"),
        description="Time one MNIST epoch: manual loop vs manual matrix vs torch (homework 3.8).")
    parser.add_argument("--quick", action="store_true",
                        help="short run: epochs of 10,000 examples scaled to 50,000, 3 repeats")
    parser.add_argument("--json", metavar="PATH", help="also write the rows and metadata as JSON")
    parser.add_argument("--plot", metavar="PATH",
                        help="also draw seconds per epoch and share of the GEMM ceiling as a PNG")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (there is none when stderr is not a terminal)")
    parser.add_argument("--data-dir", help="MNIST root (else $COMPARE_DATA_DIR, else ./data)")
    parser.add_argument("--threads", type=_positive_int, help="threads for NumPy's BLAS and torch alike")
    parser.add_argument("--repeats", type=_positive_int, help="timed epochs per figure")
    parser.add_argument("--grid", type=_parse_grid, metavar="HxK,...",
                        help="(hidden x batch) points, e.g. 512x64,800x128 (default: "
                        + ",".join(f"{h}x{k}" for h, k in GRID) + ")")
    parser.add_argument("--dtype", choices=DTYPES, action="append", help="only this dtype (repeatable)")
    parser.add_argument("--n-train", type=_positive_int, metavar="N",
                        help="examples per timed epoch (figures are scaled to 50,000)")
    parser.add_argument("--settle", type=_non_negative_float, metavar="S",
                        help="seconds of pause before each timed segment (default 0.25)")
    parser.add_argument("--no-cuda", action="store_true", help="skip torch-cuda even if available")
    return parser


def check_output_paths(args) -> None:
    """Before minutes of timing, not after: each file asked for has a folder to go in."""
    for flag, path in (("--json", args.json), ("--plot", args.plot)):
        cli.check_output_file(flag, path)


def config_from(args, argv) -> Config:
    """The run's settings: ``--quick``'s or the full run's, then each flag given."""
    cfg = Config(**QUICK, quick=True) if args.quick else Config()
    cfg.data_dir, cfg.threads = args.data_dir, args.threads
    if args.repeats:
        cfg.repeats, cfg.max_repeats = args.repeats, 2 * args.repeats
    if args.no_cuda:
        cfg.cuda = False
    if args.settle is not None:
        cfg.settle_s = args.settle
    if args.grid:
        cfg.grid = args.grid
    if args.dtype:
        cfg.dtypes = tuple(args.dtype)
    if args.n_train:
        cfg.n_train = min(args.n_train, N_TRAIN)
    too_large = [batch for _, batch in cfg.grid if batch > cfg.n_train]
    if too_large:
        raise cli.UsageError(f"a batch of {max(too_large)} is larger than the {cfg.n_train} examples of a timed "
                             "epoch: raise --n-train or take a smaller batch in --grid")
    cfg.command = " ".join(["python -m compare.bench", *argv])
    cfg.progress = not args.no_progress
    return cfg


def main(argv=None) -> int:
    return cli.run(NAME, _main, argv)


def _main(argv) -> int:
    args = build_parser().parse_args(argv)
    check_output_paths(args)
    cfg = config_from(args, sys.argv[1:] if argv is None else list(argv))

    from compare.lab.bench.grid import run  # torch and the runners: only once the command line is checked
    from compare.lab.bench.table import plot_title
    from compare.lab.bench.targets import TARGET_EFFICIENCY

    result = run(cfg)
    if args.json:
        try:
            cli.write_json_atomic(args.json, result, indent=1, allow_nan=True)
        except OSError as error:
            raise cli.UsageError(f"cannot write --json {args.json}: {error.strerror}") from None
        print(f"wrote {args.json}")
    if args.plot:
        from compare.lab.plots import plot_bench

        try:
            plot_bench(result["rows"], args.plot, target_efficiency=TARGET_EFFICIENCY, title=plot_title(result["meta"]))
        except OSError as error:
            raise cli.UsageError(f"cannot write --plot {args.plot}: {error.strerror}") from None
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
