"""``--dataset circles --sweep``: decision regions over hidden units × weight decay × epochs.

Homework 3.5 asks to see capacity at work: few hidden units or a strong weight decay
underfit the two circles, more units and less decay fit them, and stopping early (fewer
epochs) acts like a regulariser. Every cell is a full lockstep run of both twins (so each
cell is also checked: ``max_param_diff``); the grid draws the manual twin's regions.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from compare import cli
from compare.lab.config import describe, plural, short
from compare.lab.plots import plot_sweep, region_grid
from compare.lab.training import Twins, train_lockstep


def check_sweep_epochs(sweep_epochs, epochs: int) -> list:
    """The epochs at which to draw: given, or E/20, E/4 and E; all within 1..E."""
    if sweep_epochs is None:
        sweep_epochs = [max(1, epochs // 20), max(1, epochs // 4), epochs]
    sweep_epochs = sorted(set(int(e) for e in sweep_epochs))
    if sweep_epochs[0] < 1 or sweep_epochs[-1] > epochs:
        raise ValueError(f"--sweep-epochs must lie in 1..{epochs} (the --epochs), got {sweep_epochs}")
    return sweep_epochs


def cell_line(hidden: int, decay: float, last: dict) -> str:
    """One finished cell of the sweep: its hidden size, λ, both twins' train and test error, max|Δθ|."""
    return (f"{hidden:>6} {short(decay):>6}   {100 * last['manual']['train_error']:>11.1f} / "
            f"{100 * last['torch']['train_error']:<9.1f}   {100 * last['manual']['test_error']:>10.1f} / "
            f"{100 * last['torch']['test_error']:<9.1f}   {last['max_param_diff']:.1e}")


def run_sweep(config, data, out: Path, record_config: dict, hidden_sizes, decays, sweep_epochs,
              progress: bool = True) -> int:
    """Train every (hidden, decay) pair in lockstep; draw the manual twin at ``sweep_epochs``.

    Prints a header, a progress bar over all the epochs of all the runs (on stderr, unless
    ``progress`` is False) and one line per finished run; ``sweep.json`` is rewritten in one step
    (``compare.cli.write_json_atomic``) after each run.
    """
    xx, yy, points = region_grid(data.train.X)
    panels, runs = {}, []
    summary = {"config": record_config, "runs": runs}
    n_runs = len(hidden_sizes) * len(decays)
    print(f"sweep: {len(hidden_sizes)} hidden sizes × {len(decays)} L2 weight decays = {n_runs} lockstep runs of "
          f"{plural(sweep_epochs[-1], 'epoch')} ({describe(config, (data.n_features, 'd_h', data.n_classes), penalty=False)}); "
          f"regions drawn after epochs {', '.join(map(str, sweep_epochs))}", flush=True)
    print(f"{'hidden':>6} {'λ':>6}   {'train err% manual/torch':>23}   {'test err% manual/torch':>22}   max|Δθ|",
          flush=True)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_runs * sweep_epochs[-1], unit="epoch", desc="sweep", leave=False, file=sys.stderr,
                   dynamic_ncols=True, disable=None)
    write = bar.write if bar is not None else print
    try:
        for hidden in hidden_sizes:
            for decay in decays:
                cell = dataclasses.replace(config, hidden=(hidden,), lambdas=(0.0, decay, 0.0, decay),
                                           epochs=sweep_epochs[-1], early_stopping=None, progress=False)
                twins = Twins(cell, data.n_features, data.n_classes)
                run = {"hidden": hidden, "weight_decay": decay, "epochs": []}
                for record in train_lockstep(twins, data):
                    run["epochs"].append(record)
                    if record["epoch"] in sweep_epochs:
                        caption = (f"train err {100 * record['manual']['train_error']:.1f}%, "
                                   f"test {100 * record['manual']['test_error']:.1f}%")
                        panels[(hidden, (decay, record["epoch"]))] = (twins.manual.logits(points), caption)
                    if bar is not None:
                        bar.update()
                runs.append(run)
                cli.write_json_atomic(out / "sweep.json", summary, indent=1, allow_nan=True)
                write(cell_line(hidden, decay, run["epochs"][-1]))
    finally:  # also on Ctrl-C: clear the bar's line first
        if bar is not None:
            bar.close()
    path = plot_sweep(panels, hidden_sizes, decays, sweep_epochs, data.train.X, data.train.y, xx, yy,
                      out / "sweep.png",
                      title=f"circles, {len(data.train)} training points, manual twin's decision regions\n"
                            f"{describe(config, (data.n_features, 'd_h', data.n_classes), penalty=False)}")
    print(f"files: {path.name}, sweep.json in {out}/", flush=True)
    return 0
