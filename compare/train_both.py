"""Train the manual twin and the torch twin in lockstep: ``python -m compare.train_both``.

    python -m compare.train_both                          # MNIST, the documented defaults
    python -m compare.train_both --dataset fashion-mnist
    python -m compare.train_both --dataset circles --circles-file path/to/circles.txt
    python -m compare.train_both --dataset circles --sweep
    python -m compare.train_both --dtype float64 --epochs 3   # lockstep to rounding

Each flag left out takes the dataset's default (``compare.lab.defaults``). Each epoch shown prints one
line per twin (train/valid/test mean loss and error, seconds, largest parameter gap): every
epoch up to 30 epochs, else every k-th, the best and the last. Every epoch rewrites
``<out>/metrics.json`` atomically, and ``curves.png`` is kept on disk while the run goes
(``compare.lab.live_curves``). Ctrl-C, SIGTERM or SIGHUP stops the run as it is: one line on
stderr, the files written for the epochs done (the figures drawn, ``"interrupted": true`` and
the signal in metrics.json's summary), exit 128 + the signal's number (130, 143, 129). A bad
flag, an ``--out`` that cannot be made or missing data prints one line on stderr and exits
with code 2. torch, torchvision and matplotlib are imported only after the command line is
checked.

This module reads the flags and decides what a signal does; the run itself is
``compare.lab.lockstep_run.LockstepRun`` (``compare.lab.sweep`` for ``--sweep``).
"""

from __future__ import annotations

# isort: off
from compare import cli  # first: from here on, Ctrl-C during the imports below exits 130 on one line
# isort: on
import argparse
import math
import os
import sys
import time
from pathlib import Path

from compare.cli import UsageError
from compare.lab.config import LR_SCHEDULES, TrainConfig, plural
from compare.lab.data import DATA_DIR_ENV, DATASETS, IMAGE_DATASETS, resolve_data_dir
from compare.lab.defaults import SWEEP_DECAYS, SWEEP_HIDDEN, defaults_text, resolve_settings
from compare.lab.live_curves import CURVES_EVERY_S
from compare.lab.run_folder import check_out_folder, default_out
from manual.functions import ACTIVATIONS
from manual.optim import OPTIMIZERS

NAME = "train_both"


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(
        NAME,
        prog=cli.prog("compare.train_both", "backprop-train-both"),
        description="Train the hand-written NumPy MLP and its torch twin in lockstep, same start, same minibatches.",
        epilog="Writes metrics.json to --out after every epoch, and curves.png when the run starts, after the "
               f"first epoch, then after an epoch once the last drawing is {CURVES_EVERY_S:.0f} s old, and at the "
               "end (each file replaced atomically). A mistake prints one line and exits 2. Ctrl-C, SIGTERM or "
               "SIGHUP, at any moment, prints one line, keeps the epochs done, draws the figures and exits "
               "128 + the signal's number (130, 143, 129).",
    )
    p.add_argument("--dataset", choices=DATASETS, default="mnist", help="data set (default: mnist)")
    p.add_argument("--data-dir", metavar="DIR", help=f"folder holding MNIST/raw/ and FashionMNIST/raw/ (default: ${DATA_DIR_ENV}, else ./data)")
    p.add_argument("--center", action=argparse.BooleanOptionalAction,
                   help="subtract the mean training image from every image (" + defaults_text("center") + ")")
    p.add_argument("--circles-file", metavar="FILE", help="the course's circles file, 'x1 x2 label' per line (default: a seeded generated set)")
    p.add_argument("--hidden", type=int, nargs="+", metavar="N", help="hidden layer sizes (" + defaults_text("hidden") + ")")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), help="hidden activation (default: relu)")
    p.add_argument("--lr", type=float, help="learning rate η (" + defaults_text("lr") + ")")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES,
                   help="constant, or cosine: η_e = η·½(1+cos(π(e-1)/E)) over the E epochs (" + defaults_text("lr_schedule") + ")")
    p.add_argument("--momentum", type=float, metavar="MU", help="μ for --optimizer momentum/nesterov (default: 0.9)")
    p.add_argument("--batch-size", type=int, metavar="K", help="minibatch size K (" + defaults_text("batch_size") + ")")
    p.add_argument("--epochs", type=int, metavar="E", help="number of epochs (" + defaults_text("epochs") + ")")
    p.add_argument("--lambdas", type=float, nargs="+", metavar="L",
                   help="elastic-net weights L11 L12 L21 L22 ...: L1 then L2 for each layer (per layer: " + defaults_text("lambdas") + ")")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="update rule (" + defaults_text("optimizer") + ")")
    p.add_argument("--dtype", choices=("float32", "float64"), help="both twins' dtype (" + defaults_text("dtype") + ")")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seeds the initial weights and the minibatch order (default: 0)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="the torch twin's device (default: cpu)")
    p.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                   help="stop when the manual twin's validation error has not improved for PATIENCE epochs")
    p.add_argument("--out", metavar="DIR", help="output folder (default: runs/<dataset>-<timestamp>/)")
    p.add_argument("--sweep", action="store_true",
                   help="circles: grid of decision regions over hidden units, weight decay and epochs")
    p.add_argument("--sweep-hidden", type=int, nargs="+", metavar="N", default=SWEEP_HIDDEN,
                   help=f"--sweep: hidden layer sizes (default: {' '.join(map(str, SWEEP_HIDDEN))})")
    p.add_argument("--sweep-decays", type=float, nargs="+", metavar="L2", default=SWEEP_DECAYS,
                   help="--sweep: L2 weight λ on every weight layer (default: 0 0.001 0.01)")
    p.add_argument("--sweep-epochs", type=int, nargs="+", metavar="E",
                   help="--sweep: epochs at which to draw the regions (default: E/20, E/4, E)")
    p.add_argument("--torch-threads", type=int, default=1, metavar="N",
                   help="torch.set_num_threads (default 1: the twins alternate, and torch's spinning "
                        "OpenMP threads would otherwise slow NumPy's BLAS down)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (there is none when stderr is not a terminal)")
    return p


def resolve_config(args) -> dict:
    """The run's settings: each flag given, else the dataset's default."""
    settings = resolve_settings(args.dataset, vars(args))
    settings.update(seed=args.seed, device=args.device, early_stopping=args.early_stopping)
    return settings


def _check_positive_ints(name, values):
    for value in values:
        if value <= 0:
            raise UsageError(f"{name} must be positive, got {value}")


def check_args(args) -> dict:
    """The run's settings from the flags, every mistake a ``UsageError`` (nothing heavy imported)."""
    settings = resolve_config(args)
    if args.sweep and args.dataset != "circles":
        raise UsageError("--sweep draws decision regions of a 2-D set: use it with --dataset circles")
    if args.circles_file is not None and args.dataset != "circles":
        raise UsageError("--circles-file goes with --dataset circles")
    if settings["center"] and args.dataset == "circles":
        raise UsageError("--center goes with an image data set (mnist, fashion-mnist)")
    if args.torch_threads <= 0:
        raise UsageError(f"--torch-threads must be positive, got {args.torch_threads}")
    _check_positive_ints("--sweep-hidden", args.sweep_hidden)
    _check_positive_ints("--sweep-epochs", args.sweep_epochs or [])
    if any(not math.isfinite(d) or d < 0 for d in args.sweep_decays):
        raise UsageError(f"--sweep-decays must be finite and >= 0, got {args.sweep_decays}")
    return settings


# TrainConfig's messages name its fields; the command line's user typed the flags.
FLAG_OF = {"batch_size must": "--batch-size must", "epochs must": "--epochs must", "lr must": "--lr must",
           "momentum must": "--momentum must", "early-stopping patience must": "--early-stopping must",
           "hidden layer sizes must": "--hidden sizes must"}


def as_flags(message: str) -> str:
    """A ``TrainConfig`` error in the command line's words: 'epochs must ...' -> '--epochs must ...'."""
    for field, flag in FLAG_OF.items():
        if message.startswith(field):
            return flag + message[len(field):]
    return message


def loading_line(args, center: bool) -> str:
    """The run's first line, printed before the slow imports: what is read, from where."""
    if args.dataset == "circles":
        if args.circles_file is None:
            return f"generating circles (seed {args.seed}) …"
        return f"loading circles from {os.path.abspath(args.circles_file)} …"
    folder = resolve_data_dir(args.data_dir).resolve() / IMAGE_DATASETS[args.dataset]
    return f"loading {IMAGE_DATASETS[args.dataset]} from {folder} …" + (" (centring it)" if center else "")


def progress_bars(enabled: bool, total_epochs: int):
    """A function (epoch, n_batches) -> tqdm bar for ``train_lockstep``, or None."""
    if not enabled:
        return None
    from tqdm import tqdm

    def bar(epoch, n_batches):
        return tqdm(total=n_batches, desc=f"epoch {epoch}/{total_epochs}", unit="batch", leave=False,
                    file=sys.stderr, dynamic_ncols=True, disable=None)

    return bar


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    return cli.run(NAME, _main, argv, stop_signals=True)


def _main(argv) -> int:
    started = time.perf_counter()
    args = build_parser().parse_args(argv)
    settings = check_args(args)
    center = settings.pop("center")
    try:
        config = TrainConfig(**settings, progress=not args.no_progress)
    except (ValueError, TypeError) as error:
        raise UsageError(as_flags(str(error))) from None
    out = Path(args.out) if args.out else default_out(args.dataset, args.sweep)
    try:
        check_out_folder(out)  # before minutes of loading and training, not after
    except ValueError as error:
        raise UsageError(f"--out {out}: {error}") from None
    print(loading_line(args, center), flush=True)

    import torch  # the slow imports, after the command line is checked

    from compare.lab.data import DataMissingError, load_dataset
    from compare.lab.lockstep_run import LockstepRun
    from compare.lab.metrics import run_record
    from compare.lab.training import Twins

    torch.set_num_threads(args.torch_threads)
    try:
        data = load_dataset(args.dataset, data_dir=args.data_dir, circles_file=args.circles_file,
                            seed=args.seed, dtype=config.dtype, center=center)
        if config.batch_size > len(data.train):
            raise UsageError(f"--batch-size {config.batch_size} is larger than the training set "
                             f"({len(data.train)} examples)")
        if args.sweep:
            from compare.lab.sweep import check_sweep_epochs

            sweep_epochs = check_sweep_epochs(args.sweep_epochs, config.epochs)
        else:
            twins = Twins(config, data.n_features, data.n_classes)
    except (ValueError, TypeError, DataMissingError) as error:
        raise UsageError(str(error)) from None

    out.mkdir(parents=True, exist_ok=True)
    command = "python -m compare.train_both " + " ".join(sys.argv[1:] if argv is None else argv)
    resolved = {**{name: getattr(config, name) for name in settings}, "center": center}
    record_config = run_record(vars(args), resolved, data, out, command)
    if args.sweep:
        from compare.lab.sweep import run_sweep

        record_config["sweep_epochs"] = sweep_epochs
        return run_sweep(config, data, out, record_config, args.sweep_hidden, args.sweep_decays, sweep_epochs,
                         progress=not args.no_progress)
    return run_one(LockstepRun(twins, data, out, record_config, started),
                   progress_bars(config.progress, config.epochs))


def run_one(run, progress) -> int:
    """Train, then finish the run (``LockstepRun``): 0, or 128 + n when a signal stopped it.

    Ctrl-C, SIGTERM or SIGHUP (``cli.Interrupted``) ends the training at once: one line goes to
    stderr, the files are written for the epochs done (any later signal is ignored), and the
    exit status is 128 + the signal's number. A signal while a finished run writes its files
    ends the command once they are complete.
    """
    interrupt = None
    try:
        run.train(progress)
    except KeyboardInterrupt as error:  # Ctrl-C, or SIGTERM/SIGHUP as cli.Interrupted
        interrupt = error
        cli.ignore_stop_signals()  # the run is ending: a second signal changes nothing
    if interrupt is not None:
        print(f"{cli.interrupted_line(NAME, interrupt)}; {run.out}/ holds the "
              f"{plural(run.epochs_done, 'epoch')} done", file=sys.stderr, flush=True)
        run.finish(interrupt)
        return cli.interrupt_status(interrupt)
    with cli.holding_stop_signals():
        run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
