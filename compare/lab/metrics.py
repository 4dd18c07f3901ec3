"""A training run's ``metrics.json``: its settings, one record per epoch, and a summary.

The file is rewritten in one step (``compare.cli.write_json_atomic``) after every epoch, so
a reader, or a run stopped half-way, never sees half a file. A diverged run's losses are
NaN: they are written as JSON's ``NaN``, as Python's ``json`` reads them back.
"""

from __future__ import annotations

import platform
import resource
import time
from pathlib import Path

from compare import cli

TWINS = ("manual", "torch")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
        "final_test_accuracy": {twin: 1 - last[twin]["test_error"] for twin in TWINS} if last else None,
        "final_train_accuracy": {twin: 1 - last[twin]["train_error"] for twin in TWINS} if last else None,
        "final_max_param_diff": last["max_param_diff"] if last else None,
        "best_valid_epoch": best["epoch"] if best else None,
        "best_valid_error": best["manual"]["valid_error"] if best else None,
        "wall_seconds": time.perf_counter() - started,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_record(flags: dict, resolved: dict, data, out: Path, command: str) -> dict:
    """What metrics.json (and sweep.json) keep of a run's settings: every flag as given, then the
    values resolved from the data set's defaults (``resolved``), where the data came from, the
    layer sizes, the split, the folder, the command and the versions."""
    import numpy as np
    import torch

    from compare.lab.data import resolve_data_dir

    return {
        **flags,
        **resolved,
        "lambdas": list(resolved["lambdas"]),
        "hidden": list(resolved["hidden"]),
        "dataset": flags["dataset"],
        "data_dir": str(resolve_data_dir(flags["data_dir"]).resolve()) if flags["dataset"] != "circles" else None,
        "circles_file": flags["circles_file"],
        "data_source": data.source,
        "sizes": [data.n_features, *resolved["hidden"], data.n_classes],
        "split": {"train": len(data.train), "valid": len(data.valid), "test": len(data.test)},
        "out": str(out),
        "command": command,
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__},
    }


class RunMetrics:
    """``{"config", "epochs", "summary"}`` of one run, kept on disk at ``path``.

    ``started`` is the run's ``time.perf_counter()`` at its start (for the wall time),
    ``planned`` its number of epochs.
    """

    def __init__(self, path: Path, config: dict, started: float, planned: int):
        self.path, self.started, self.planned = path, started, planned
        self.data = {"config": config, "epochs": [], "summary": summarise([], started, planned)}

    @property
    def epochs(self) -> list:
        return self.data["epochs"]

    @property
    def summary(self) -> dict:
        return self.data["summary"]

    def write(self) -> None:
        cli.write_json_atomic(self.path, self.data, indent=1, allow_nan=True)

    def add(self, record: dict) -> None:
        """One more epoch: its record kept, the summary brought up to date, the file rewritten."""
        self.epochs.append(record)
        self.data["summary"] = summarise(self.epochs, self.started, self.planned)
        self.write()

    def finish(self, interrupt=None) -> dict:
        """The run has ended (``interrupt``: the Ctrl-C or signal that ended it): the final summary, written."""
        self.data["summary"] = summarise(self.epochs, self.started, self.planned, interrupt=interrupt, finished=True)
        self.write()
        return self.summary
