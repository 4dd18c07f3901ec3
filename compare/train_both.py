"""Train the manual twin and the torch twin in lockstep: ``python -m compare.train_both``.

    python -m compare.train_both                          # MNIST, the documented defaults
    python -m compare.train_both --dataset fashion-mnist
    python -m compare.train_both --dataset circles --circles-file path/to/circles.txt
    python -m compare.train_both --dataset circles --sweep
    python -m compare.train_both --dtype float64 --epochs 3   # lockstep to rounding

Each flag left out takes the dataset's default (``DEFAULTS``). Each epoch shown prints one
line per twin (train/valid/test mean loss and error, seconds, largest parameter gap): every
epoch up to 30 epochs, else every k-th, the best and the last. Every epoch rewrites
``<out>/metrics.json`` atomically, and ``curves.png`` is kept on disk while the run goes
(``LiveCurves``). Ctrl-C, SIGTERM or SIGHUP stops the run as it is: one line on stderr, the
files written for the epochs done (the figures drawn, ``"interrupted": true`` and the signal
in metrics.json's summary), exit 128 + the signal's number (130, 143, 129). A bad flag or
missing data prints one line on stderr and exits with code 2. torch, torchvision and
matplotlib are imported only after the command line is checked.
"""

from __future__ import annotations

# isort: off
from compare import cli  # first: from here on, Ctrl-C during the imports below exits 130 on one line
# isort: on
import argparse
import json
import math
import os
import platform
import resource
import sys
import time
from pathlib import Path

from compare.cli import UsageError
from compare.lab.config import LR_SCHEDULES, TrainConfig, describe, plural
from compare.lab.data import DATA_DIR_ENV, DATASETS, IMAGE_DATASETS, resolve_data_dir
from manual.functions import ACTIVATIONS
from manual.optim import OPTIMIZERS

NAME = "train_both"

# Per-dataset defaults, chosen by experiment (see README). Flags override them one by one.
# A default ``lambdas`` is one (L1, L2) pair, applied to every layer of the chosen --hidden.
DEFAULTS = {
    # MNIST: 98.5% test for both twins in ~4 min on 2 cores (README). Weight decay on both
    # weight layers (λ12 = λ22 = 1e-4) plus a cosine-decayed Nesterov step did it; without the
    # penalty the net fits the training set exactly and stops at ~98.2%.
    "mnist": dict(hidden=[800], activation="relu", optimizer="nesterov", momentum=0.9, lr=0.1,
                  lr_schedule="cosine", batch_size=50, epochs=30, lambdas=(0.0, 1e-4), dtype="float32",
                  center=False),
    # Fashion-MNIST: Nesterov η = 0.2 with a cosine decay and L2 1e-4 on each W, on centred inputs
    # (the mean training image subtracted): ≥ 90% test (docs/training.md). Without centring that
    # step diverges to ~89%; Adam 1e-3 without a penalty stops at 89.7-89.9%.
    "fashion-mnist": dict(hidden=[800], activation="relu", optimizer="nesterov", momentum=0.9, lr=0.2,
                          lr_schedule="cosine", batch_size=100, epochs=30, lambdas=(0.0, 1e-4), dtype="float32",
                          center=True),
    # The homework's circles settings (3.5): d_h = 4, K = 10, 200 epochs, η = 0.03, plain SGD.
    "circles": dict(hidden=[4], activation="relu", optimizer="sgd", momentum=0.9, lr=0.03,
                    lr_schedule="constant", batch_size=10, epochs=200, lambdas=None, dtype="float64",
                    center=False),
}
SWEEP_HIDDEN = [2, 4, 10, 50]
SWEEP_DECAYS = [0.0, 1e-3, 1e-2]
FULL_TABLE_EPOCHS = 30  # up to this many epochs, every epoch gets its rows; beyond, every k-th
TABLE_ROWS = 20  # ... about this many epochs then


def _defaults(name: str) -> str:
    """'mnist 0.1, fashion-mnist 0.001, circles 0.03': a flag's default for each dataset, for --help."""
    def show(value):
        if value is None:
            return "none"
        if isinstance(value, bool):
            return "on" if value else "off"
        return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)

    return ", ".join(f"{dataset} {show(settings[name])}" for dataset, settings in DEFAULTS.items())


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
                   help="subtract the mean training image from every image (" + _defaults("center") + ")")
    p.add_argument("--circles-file", metavar="FILE", help="the course's circles file, 'x1 x2 label' per line (default: a seeded generated set)")
    p.add_argument("--hidden", type=int, nargs="+", metavar="N", help="hidden layer sizes (" + _defaults("hidden") + ")")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), help="hidden activation (default: relu)")
    p.add_argument("--lr", type=float, help="learning rate η (" + _defaults("lr") + ")")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES,
                   help="constant, or cosine: η_e = η·½(1+cos(π(e-1)/E)) over the E epochs (" + _defaults("lr_schedule") + ")")
    p.add_argument("--momentum", type=float, metavar="MU", help="μ for --optimizer momentum/nesterov (default: 0.9)")
    p.add_argument("--batch-size", type=int, metavar="K", help="minibatch size K (" + _defaults("batch_size") + ")")
    p.add_argument("--epochs", type=int, metavar="E", help="number of epochs (" + _defaults("epochs") + ")")
    p.add_argument("--lambdas", type=float, nargs="+", metavar="L",
                   help="elastic-net weights L11 L12 L21 L22 ...: L1 then L2 for each layer (per layer: " + _defaults("lambdas") + ")")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="update rule (" + _defaults("optimizer") + ")")
    p.add_argument("--dtype", choices=("float32", "float64"), help="both twins' dtype (" + _defaults("dtype") + ")")
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
    settings = dict(DEFAULTS[args.dataset])
    for name in settings:
        value = getattr(args, name)
        if value is not None:
            settings[name] = value
    if args.lambdas is None and settings["lambdas"] is not None:
        settings["lambdas"] = list(settings["lambdas"]) * (len(settings["hidden"]) + 1)
    settings["seed"] = args.seed
    settings["device"] = args.device
    settings["early_stopping"] = args.early_stopping
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


def write_json_atomic(path: Path, payload) -> None:
    """Write JSON to a temporary file, then ``os.replace``: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as handle:
        json.dump(payload, handle, indent=1)
        handle.write("\n")
    os.replace(tmp, path)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def default_out(dataset: str, sweep: bool) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{dataset}{'-sweep' if sweep else ''}-{stamp}"


def loading_line(args, center: bool) -> str:
    """The run's first line, printed before the slow imports: what is read, from where."""
    if args.dataset == "circles":
        if args.circles_file is None:
            return f"generating circles (seed {args.seed}) …"
        return f"loading circles from {os.path.abspath(args.circles_file)} …"
    folder = resolve_data_dir(args.data_dir).resolve() / IMAGE_DATASETS[args.dataset]
    return f"loading {IMAGE_DATASETS[args.dataset]} from {folder} …" + (" (centring it)" if center else "")


# --------------------------------------------------------------------------- the table
HEADER = (f"{'epoch':>5} {'twin':<6} {'train loss':>10} {'err%':>6} {'valid loss':>10} {'err%':>6} "
          f"{'test loss':>10} {'err%':>6} {'s/epoch':>8} {'max|Δθ|':>9}")


def table_rows(record: dict) -> list:
    rows = []
    for twin in ("manual", "torch"):
        m = record[twin]
        epoch = f"{record['epoch']:>5}" if twin == "manual" else " " * 5
        gap = f"{record['max_param_diff']:>9.2e}" if twin == "manual" else ""
        rows.append(
            f"{epoch} {twin:<6} {m['train_loss']:>10.4f} {100 * m['train_error']:>6.2f} "
            f"{m['valid_loss']:>10.4f} {100 * m['valid_error']:>6.2f} "
            f"{m['test_loss']:>10.4f} {100 * m['test_error']:>6.2f} {m['seconds']:>8.2f} {gap}".rstrip()
        )
    return rows


def table_step(epochs: int) -> int:
    """Show every epoch up to FULL_TABLE_EPOCHS epochs; beyond, every k-th (about TABLE_ROWS of them)."""
    return 1 if epochs <= FULL_TABLE_EPOCHS else math.ceil(epochs / TABLE_ROWS)


def shown(epoch: int, epochs: int, step: int) -> bool:
    """Does this epoch get its rows as it ends? The first, every step-th and the last."""
    return step == 1 or epoch == 1 or epoch % step == 0 or epoch == epochs


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
    print(loading_line(args, center), flush=True)

    import numpy as np
    import torch  # the slow imports, after the command line is checked

    from compare.lab.data import DataMissingError, load_dataset
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

    out = Path(args.out) if args.out else default_out(args.dataset, args.sweep)
    out.mkdir(parents=True, exist_ok=True)
    record_config = {
        **vars(args),  # every flag as given, then the values resolved from the dataset's defaults
        **{name: getattr(config, name) for name in settings},
        "lambdas": list(config.lambdas),
        "hidden": list(config.hidden),
        "dataset": args.dataset,
        "data_dir": str(resolve_data_dir(args.data_dir).resolve()) if args.dataset != "circles" else None,
        "circles_file": args.circles_file,
        "center": center,
        "data_source": data.source,
        "sizes": [data.n_features, *config.hidden, data.n_classes],
        "split": {"train": len(data.train), "valid": len(data.valid), "test": len(data.test)},
        "out": str(out),
        "command": "python -m compare.train_both " + " ".join(sys.argv[1:] if argv is None else argv),
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__},
    }
    if args.sweep:
        from compare.lab.sweep import run_sweep

        record_config["sweep_epochs"] = sweep_epochs
        return run_sweep(config, data, out, record_config, args.sweep_hidden, args.sweep_decays, sweep_epochs,
                         write_json_atomic, progress=not args.no_progress)
    return run_one(twins, data, out, record_config, started, progress_bars(config.progress, config.epochs))


CURVES_EVERY_S = 10.0  # curves.png is redrawn after an epoch once the last drawing is this old


class LiveCurves:
    """``curves.png`` kept on disk while a run goes, each drawing atomic (``plots.save_figure``).

    Drawn when the run starts (no epoch yet), after the first epoch, then after each epoch
    that ends ``CURVES_EVERY_S`` or more after the last drawing (a drawing costs ~0.3 s:
    every epoch would double a circles run), and at the end.
    """

    def __init__(self, path: Path, title: str, planned_epochs: int):
        self.path, self.title, self.planned_epochs, self.drawn_at = path, title, planned_epochs, None

    def draw(self, epochs: list, caption: str = "") -> None:
        from compare.lab.plots import plot_curves

        plot_curves(epochs, self.path, title=self.title, caption=caption)
        self.drawn_at = time.monotonic()

    def refresh(self, epochs: list) -> None:
        """Draw again if this is the first epoch or the last drawing is old enough."""
        if len(epochs) == 1 or self.drawn_at is None or time.monotonic() - self.drawn_at >= CURVES_EVERY_S:
            self.draw(epochs, caption=f"running: {len(epochs)} of {plural(self.planned_epochs, 'epoch')} done")


def run_one(twins, data, out: Path, record_config: dict, started: float, progress) -> int:
    """Train, writing metrics.json after every epoch and curves.png as ``LiveCurves`` says.

    Ctrl-C, SIGTERM or SIGHUP (``cli.Interrupted``) ends the training at once: one line goes to
    stderr, the files are written for the epochs done (any later signal is ignored), and the
    exit status is 128 + the signal's number.
    """
    from compare.lab.training import train_lockstep

    config = twins.config
    metrics = {"config": record_config, "epochs": [], "summary": summarise([], started, config.epochs)}
    settings = describe(config, record_config["sizes"])
    curves = LiveCurves(out / "curves.png", f"{data.name}: {settings}", config.epochs)
    step = table_step(config.epochs)
    interrupt = None
    try:
        write_json_atomic(out / "metrics.json", metrics)
        split = record_config["split"]
        print(f"{data.name}: {split['train']:,} train / {split['valid']:,} valid / {split['test']:,} test examples; "
              f"{twins.manual.n_params:,} parameters", flush=True)
        print(f"settings: {settings}, {plural(config.epochs, 'epoch')}", flush=True)
        if step > 1:
            print(f"showing every {step} epochs, the best and the last (metrics.json has all {config.epochs})")
        print(HEADER, flush=True)
        curves.draw([], caption="running: no epoch has ended yet")
        for record in train_lockstep(twins, data, progress=progress):
            metrics["epochs"].append(record)
            metrics["summary"] = summarise(metrics["epochs"], started, config.epochs)
            write_json_atomic(out / "metrics.json", metrics)
            if shown(record["epoch"], config.epochs, step):
                print("\n".join(table_rows(record)), flush=True)
            curves.refresh(metrics["epochs"])
    except KeyboardInterrupt as error:  # Ctrl-C, or SIGTERM/SIGHUP as cli.Interrupted
        interrupt = error
        cli.ignore_stop_signals()  # the run is ending: a second signal changes nothing
    if interrupt is not None:
        print(f"{cli.interrupted_line(NAME, interrupt)}; {out}/ holds the "
              f"{plural(len(metrics['epochs']), 'epoch')} done", file=sys.stderr, flush=True)
        save_results(twins, data, out, metrics, curves, started, interrupt, step)
        return cli.interrupt_status(interrupt)
    with cli.holding_stop_signals():  # a signal now ends the command once the files are complete
        save_results(twins, data, out, metrics, curves, started, interrupt, step)
    return 0


def save_results(twins, data, out: Path, metrics: dict, curves: LiveCurves, started: float, interrupt, step) -> None:
    """The run's end, however it ended: summary in metrics.json, the figures, the closing lines."""
    from compare.lab.plots import plot_decision_regions
    from compare.lab.training import torch_logits

    config = twins.config
    epochs = metrics["epochs"]
    summary = metrics["summary"] = summarise(epochs, started, config.epochs, interrupt=interrupt, finished=True)
    write_json_atomic(out / "metrics.json", metrics)
    if epochs:
        best = epochs[summary["best_valid_epoch"] - 1]
        if not shown(best["epoch"], config.epochs, step):
            print("best validation error (manual twin):\n" + "\n".join(table_rows(best)))
    curves.draw(epochs, caption=curves_caption(summary))
    if data.name == "circles":
        plot_decision_regions(
            {"manual": twins.manual.logits, "torch": torch_logits(twins.torch)},
            data.train.X, data.train.y, out / "decision_regions.png",
            title=f"circles, {len(data.train)} training points, after {plural(summary['epochs_done'], 'epoch')}\n"
                  f"{describe(config, metrics['config']['sizes'])}",
        )
    if epochs:
        print(summary_line(summary))
        if config.dtype == "float32" and summary["final_max_param_diff"] > 1e-4:
            print(FLOAT32_NOTE)
    print(f"files: {', '.join(sorted(p.name for p in out.iterdir() if not p.name.startswith('.')))} in {out}/",
          flush=True)


FLOAT32_NOTE = ("why max|Δθ| grows in float32: the twins round differently, and once a hidden unit's input "
                "lands on opposite sides of 0 in the two they become two float32 runs of the same "
                "training (same accuracy); --dtype float64 is the exactness check (max|Δθ| ~1e-15).")


def summarise(epochs: list, started: float, planned: int, interrupt=None, finished: bool = False) -> dict:
    """The run in a few numbers: how it ended, last epoch, best validation epoch, wall time, memory.

    ``status`` is "running" until the run ends, then "finished" (every planned epoch),
    "stopped early" (``--early-stopping``) or "interrupted"; ``signal`` names the signal
    that interrupted it (SIGINT for Ctrl-C, SIGTERM, SIGHUP), else null. The accuracies and
    the best epoch are null while no epoch has ended.
    """
    last = epochs[-1] if epochs else None
    best = min(epochs, key=lambda r: (r["manual"]["valid_error"], r["epoch"])) if epochs else None
    if interrupt is not None:
        status = "interrupted"
    elif not finished:
        status = "running"
    else:
        status = "finished" if last is not None and last["epoch"] == planned else "stopped early"
    return {
        "status": status,
        "interrupted": interrupt is not None,
        "signal": cli.signal_name(interrupt) if interrupt is not None else None,
        "epochs_done": last["epoch"] if last else 0,
        "epochs_planned": planned,
        "final_test_accuracy": {twin: 1 - last[twin]["test_error"] for twin in ("manual", "torch")} if last else None,
        "final_train_accuracy": {twin: 1 - last[twin]["train_error"] for twin in ("manual", "torch")} if last else None,
        "final_max_param_diff": last["max_param_diff"] if last else None,
        "best_valid_epoch": best["epoch"] if best else None,
        "best_valid_error": best["manual"]["valid_error"] if best else None,
        "wall_seconds": time.perf_counter() - started,
        "peak_rss_mb": peak_rss_mb(),
    }


def summary_line(summary: dict) -> str:
    acc = summary["final_test_accuracy"]
    train = summary["final_train_accuracy"]
    return (f"after {plural(summary['epochs_done'], 'epoch')}: test accuracy manual {100 * acc['manual']:.2f}%, "
            f"torch {100 * acc['torch']:.2f}% (train {100 * train['manual']:.2f}% / {100 * train['torch']:.2f}%); "
            f"max|Δθ| {summary['final_max_param_diff']:.2e}; best validation error "
            f"{100 * summary['best_valid_error']:.2f}% at epoch {summary['best_valid_epoch']}; "
            f"{summary['wall_seconds']:.0f} s wall, peak RSS {summary['peak_rss_mb']:.0f} MiB")


def curves_caption(summary: dict) -> str:
    """The figure's caption: how the run ended and where it got."""
    ended = ""
    if summary.get("interrupted"):
        ended = f"interrupted ({summary.get('signal') or 'SIGINT'}) "
    if not summary["epochs_done"]:
        return f"{ended or 'ended '}before the first epoch ended: no curves to draw"
    acc = summary["final_test_accuracy"]
    done = plural(summary["epochs_done"], "epoch")
    if ended and summary.get("epochs_planned"):
        done = f"{summary['epochs_done']} of {plural(summary['epochs_planned'], 'epoch')}"
    return (f"{ended}after {done}: test accuracy manual {100 * acc['manual']:.2f}%, "
            f"torch {100 * acc['torch']:.2f}%; best validation error {100 * summary['best_valid_error']:.2f}% "
            f"(manual) at epoch {summary['best_valid_epoch']}")


if __name__ == "__main__":
    sys.exit(main())
