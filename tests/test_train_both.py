"""Lockstep training of the twins and the ``python -m compare.train_both`` command line.

The real-data tests read ``$COMPARE_DATA_DIR`` (CI: ``../shared/data``) and run wherever it
is set; the rest uses the circles generator and needs no file.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from compare import train_both
from compare.lab import epoch_table, live_curves
from compare.lab.data import DataSet, Split, load_circles, load_dataset
from compare.lab.training import ShuffledBatches, TrainConfig, Twins, lr_at_epoch, train_lockstep
from compare.train_both import main

REAL_DATA_DIR = os.environ.get("COMPARE_DATA_DIR")
needs_real_data = pytest.mark.skipif(not REAL_DATA_DIR, reason="COMPARE_DATA_DIR is not set")
REPO = Path(__file__).resolve().parents[1]
TWIN_KEYS = {"train_loss", "train_error", "valid_loss", "valid_error", "test_loss", "test_error", "seconds"}


@pytest.fixture(scope="module")
def small_mnist():
    """600 real MNIST training images, 200 valid, 200 test, in float64."""
    full = load_dataset("mnist", dtype=np.float64, download=False)
    return DataSet("mnist", Split(full.train.X[:600], full.train.y[:600]),
                   Split(full.valid.X[:200], full.valid.y[:200]),
                   Split(full.test.X[:200], full.test.y[:200]), 10, full.source)


# --------------------------------------------------------------------------- lockstep
@needs_real_data
@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.1), ("nesterov", 0.05), ("adam", 1e-3)])
def test_twins_stay_in_lockstep_on_real_mnist_in_float64(small_mnist, optimizer, lr):
    config = TrainConfig(hidden=(32,), optimizer=optimizer, lr=lr, lr_schedule="cosine", batch_size=50,
                         epochs=2, lambdas=(1e-4, 1e-4, 0.0, 1e-4), dtype="float64", progress=False)
    twins = Twins(config, 784, 10)
    assert twins.max_param_diff() == 0.0  # the torch twin starts from the manual net's values
    start = {name: p.copy() for name, p in twins.manual.params.items()}
    records = list(train_lockstep(twins, small_mnist))

    assert [r["epoch"] for r in records] == [1, 2]
    for record in records:
        assert record["max_param_diff"] <= 1e-9
        for key in TWIN_KEYS - {"seconds"}:
            assert record["manual"][key] == pytest.approx(record["torch"][key], abs=1e-9), key
    assert records[0]["lr"] == lr and records[1]["lr"] == pytest.approx(lr / 2)  # cosine over 2 epochs
    moved = max(float(np.max(np.abs(twins.manual.params[n] - start[n]))) for n in start)
    assert moved > 1e-2  # they did train, so the agreement is not trivial
    assert records[-1]["manual"]["train_loss"] < records[0]["manual"]["train_loss"] or optimizer == "sgd"
    assert records[-1]["manual"]["train_error"] < 0.5


def test_one_epoch_shuffles_once_and_the_twins_read_the_same_rows():
    X = np.arange(40, dtype=np.float64).reshape(20, 2)
    y = np.arange(20, dtype=np.int64)
    batches = ShuffledBatches(X, y, batch_size=6, seed=3)
    assert len(batches) == 4
    orders = []
    for _ in range(2):
        batches.shuffle()
        seen = []
        for Xb, yb, Xb_t, yb_t in batches:
            assert np.shares_memory(Xb, batches.X_buffer)  # a view, no copy
            np.testing.assert_array_equal(Xb_t.numpy(), Xb)
            np.testing.assert_array_equal(yb_t.numpy(), yb)
            np.testing.assert_array_equal(Xb[:, 0], 2 * yb)  # rows and labels moved together
            seen.extend(yb.tolist())
        assert sorted(seen) == list(range(20))  # every example once per epoch
        orders.append(seen)
    assert orders[0] != orders[1]  # a new permutation each epoch
    again = ShuffledBatches(X, y, batch_size=6, seed=3)
    again.shuffle()
    assert [int(v) for _, yb, _, _ in again for v in yb] == orders[0]  # seeded
    with pytest.raises(ValueError, match="batch size 21 is larger than the training set"):
        ShuffledBatches(X, y, batch_size=21, seed=0)


def test_early_stopping_stops_after_patience_epochs_without_progress():
    data = load_circles(seed=0)
    config = TrainConfig(hidden=(2,), optimizer="sgd", lr=1e-6, batch_size=50, epochs=50, dtype="float64",
                         early_stopping=3, progress=False)
    records = list(train_lockstep(Twins(config, 2, 2), data))
    errors = [r["manual"]["valid_error"] for r in records]
    best = int(np.argmin(errors))  # first epoch with the lowest error
    assert len(records) < 50
    assert len(records) == best + 1 + 3
    assert all(e >= errors[best] for e in errors[best + 1 :])


def test_cosine_schedule():
    config = TrainConfig(lr=0.2, lr_schedule="cosine", epochs=4)
    assert [lr_at_epoch(config, e) for e in (1, 3)] == [pytest.approx(0.2), pytest.approx(0.1)]
    assert lr_at_epoch(TrainConfig(lr=0.2, epochs=4), 4) == 0.2


# --------------------------------------------------------------------------- the command line
def run_cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exit_info:  # argparse's own mistakes exit (one line), like any argparse tool
        code = exit_info.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_circles_run_writes_metrics_curves_and_regions(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, stderr = run_cli(capsys, "--dataset", "circles", "--epochs", "3", "--hidden", "6",
                                   "--lambdas", "0", "1e-3", "0", "1e-3", "--out", str(out), "--no-progress")
    assert code == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    config = metrics["config"]
    for flag in ("dataset", "data_dir", "circles_file", "hidden", "activation", "lr", "batch_size", "epochs",
                 "lambdas", "optimizer", "dtype", "seed", "device", "early_stopping", "out", "sweep"):
        assert flag in config, flag
    assert config["hidden"] == [6] and config["lambdas"] == [0, 1e-3, 0, 1e-3] and config["lr"] == 0.03
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2, 3]
    for record in metrics["epochs"]:
        assert set(record["manual"]) == TWIN_KEYS and set(record["torch"]) == TWIN_KEYS
        assert 0 <= record["manual"]["test_error"] <= 1
        assert record["max_param_diff"] <= 1e-12  # float64 circles: rounding only
    assert (out / "curves.png").stat().st_size > 10_000
    assert (out / "decision_regions.png").stat().st_size > 10_000
    assert "max|Δθ|" in stdout and stdout.count("manual") >= 3 and stdout.count("torch") >= 3


def test_ctrl_c_leaves_valid_files_for_the_epochs_done(tmp_path, capsys, monkeypatch):
    def bars(enabled, total_epochs):
        def bar(epoch, n_batches):
            if epoch == 3:
                raise KeyboardInterrupt
            return _NoBar()
        return bar

    monkeypatch.setattr(train_both, "progress_bars", bars)
    out = tmp_path / "run"
    code, _, stderr = run_cli(capsys, "--dataset", "circles", "--epochs", "10", "--out", str(out))
    assert code == 130 and "interrupted" in stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    assert metrics["summary"]["interrupted"] is True and metrics["summary"]["signal"] == "SIGINT"
    assert (out / "curves.png").exists()
    assert not list(out.glob(".*tmp*"))  # no half-written temporary file left


@pytest.mark.parametrize("every_s, drawn_with", [(1e9, [0, 1, 4]), (0.0, [0, 1, 2, 3, 4, 4])],
                         ids=["a long interval", "no interval"])
def test_curves_png_is_on_disk_from_the_start_and_redrawn_as_the_run_goes(every_s, drawn_with, tmp_path, capsys,
                                                                          monkeypatch):
    """Drawn at the start (no epoch), after the first epoch, after an epoch once CURVES_EVERY_S have
    passed since the last drawing, and at the end."""
    from compare.lab import plots

    drawn, real_plot = [], plots.plot_curves

    def plot_curves(epochs, path, **kwargs):
        drawn.append(len(epochs))
        return real_plot(epochs, path, **kwargs)

    monkeypatch.setattr(plots, "plot_curves", plot_curves)
    monkeypatch.setattr(live_curves, "CURVES_EVERY_S", every_s)
    code, _, stderr = run_cli(capsys, "--dataset", "circles", "--epochs", "4", "--out", str(tmp_path), "--no-progress")
    assert code == 0, stderr
    assert drawn == drawn_with
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


class _NoBar:
    def update(self):
        pass

    def close(self):
        pass


def test_sweep_draws_a_grid(tmp_path, capsys):
    out = tmp_path / "sweep"
    code, stdout, stderr = run_cli(capsys, "--dataset", "circles", "--sweep", "--epochs", "4",
                                   "--sweep-hidden", "2", "8", "--sweep-decays", "0", "0.01",
                                   "--sweep-epochs", "2", "4", "--out", str(out))
    assert code == 0, stderr
    summary = json.loads((out / "sweep.json").read_text())
    cells = [(run["hidden"], run["weight_decay"]) for run in summary["runs"]]
    assert cells == [(2, 0.0), (2, 0.01), (8, 0.0), (8, 0.01)]
    assert all(len(run["epochs"]) == 4 and run["epochs"][-1]["max_param_diff"] < 1e-12 for run in summary["runs"])
    assert (out / "sweep.png").stat().st_size > 20_000


BAD_FLAGS = [
    (["--dataset", "cifar"], "invalid choice: 'cifar'"),
    (["--optimizer", "rmsprop"], "invalid choice: 'rmsprop'"),
    (["--dataset", "circles", "--lr", "0"], "--lr must be a finite number > 0, got 0.0"),
    (["--dataset", "circles", "--lr", "-0.1"], "lr must be a finite number > 0"),
    (["--dataset", "circles", "--batch-size", "0"], "--batch-size must be a positive int, got 0"),
    (["--dataset", "circles", "--epochs", "-2"], "--epochs must be a positive int, got -2"),
    (["--dataset", "circles", "--hidden", "0"], "--hidden sizes must be positive ints, got [0]"),
    (["--dataset", "circles", "--lambdas", "1e-3", "1e-3", "1e-3"], "expected 4 lambdas"),
    (["--dataset", "circles", "--hidden", "4", "4", "--lambdas", "0", "0", "0", "0"], "expected 6 lambdas"),
    (["--dataset", "circles", "--batch-size", "5000"], "larger than the training set (770 examples)"),
    (["--dataset", "circles", "--early-stopping", "0"], "--early-stopping must be a positive int, got 0"),
    (["--dataset", "mnist", "--sweep"], "--sweep draws decision regions of a 2-D set"),
    (["--dataset", "circles", "--circles-file", "/no/such/file.txt"], "circles file not found"),
    (["--epochs", "many"], "invalid int value: 'many'"),
    (["--dataset", "circles", "--center"], "--center goes with an image data set"),
]


@pytest.mark.parametrize("argv, message", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flags_exit_2_with_one_line(argv, message, capsys, tmp_path):
    code, stdout, stderr = run_cli(capsys, *argv, "--out", str(tmp_path / "never"))
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith("train_both: error: ")
    assert message in stderr
    assert not (tmp_path / "never").exists()


def test_an_out_folder_that_cannot_be_made_exits_2_before_loading(tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file where the folder would go\n")
    for out, why in ((blocker, "it is a file, not a folder"),
                     (blocker / "run", f"{str(blocker)!r} is a file, so no folder can be made in it")):
        code, stdout, stderr = run_cli(capsys, "--dataset", "circles", "--out", str(out))
        assert code == 2 and stdout == ""  # refused before "generating circles …"
        assert stderr == f"train_both: error: --out {out}: {why}\n"
    assert blocker.read_text() == "a file where the folder would go\n"


def test_metrics_json_keeps_a_diverged_epoch_and_leaves_no_temporary_file(tmp_path):
    from compare.lab.metrics import RunMetrics

    metrics = RunMetrics(tmp_path / "metrics.json", {"dataset": "circles"}, started=0.0, planned=2)
    scores = {key: float("nan") for key in TWIN_KEYS}
    metrics.add({"epoch": 1, "lr": 0.1, "manual": scores, "torch": scores, "max_param_diff": float("nan")})
    written = json.loads((tmp_path / "metrics.json").read_text())  # Python's json reads NaN back
    assert written["epochs"][0]["epoch"] == 1 and np.isnan(written["epochs"][0]["max_param_diff"])
    assert written["summary"]["status"] == "running" and written["summary"]["epochs_done"] == 1
    assert metrics.finish()["status"] == "stopped early"  # 1 of 2 planned epochs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_missing_data_offline_exits_2_saying_what_is_missing(tmp_path, capsys):
    empty = tmp_path / "data"
    empty.mkdir()
    empty.chmod(0o555)  # read-only: nothing may be downloaded into it
    code, _, stderr = run_cli(capsys, "--data-dir", str(empty), "--out", str(tmp_path / "never"))
    assert code == 2 and stderr.count("\n") == 1
    assert "MNIST/raw lacks train-images-idx3-ubyte" in stderr and "--data-dir" in stderr
    assert list(empty.iterdir()) == []


def test_long_runs_print_every_kth_epoch_the_best_and_the_last(tmp_path, capsys):
    code, stdout, _ = run_cli(capsys, "--dataset", "circles", "--epochs", "45", "--hidden", "3",
                              "--out", str(tmp_path / "run"), "--no-progress")
    assert code == 0
    assert epoch_table.table_step(30) == 1 and epoch_table.table_step(45) == 3 and epoch_table.table_step(200) == 10
    shown = [int(line.split()[0]) for line in stdout.splitlines() if line.split()[1:2] == ["manual"]]
    best = json.loads((tmp_path / "run" / "metrics.json").read_text())["summary"]["best_valid_epoch"]
    expected = [1, *range(3, 46, 3)]
    assert shown == expected + ([best] if best not in expected else [])
    assert "showing every 3 epochs, the best and the last (metrics.json has all 45)" in stdout


def test_float32_summary_explains_why_the_parameters_drift(tmp_path, capsys):
    assert "--dtype float64 is the exactness check" in epoch_table.FLOAT32_NOTE
    code, stdout, _ = run_cli(capsys, "--dataset", "circles", "--epochs", "2", "--dtype", "float32",
                              "--out", str(tmp_path / "run"), "--no-progress")
    assert code == 0
    drifted = json.loads((tmp_path / "run" / "metrics.json").read_text())["summary"]["final_max_param_diff"] > 1e-4
    assert (epoch_table.FLOAT32_NOTE in stdout) == drifted


def test_module_entry_point_exits_2_on_a_bad_flag():
    result = subprocess.run([sys.executable, "-m", "compare.train_both", "--optimizer", "lbfgs"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "invalid choice: 'lbfgs'" in result.stderr


@needs_real_data
def test_real_mnist_epoch_through_the_cli_in_float64(tmp_path, capsys):
    out = tmp_path / "mnist"
    code, stdout, stderr = run_cli(capsys, "--epochs", "1", "--hidden", "16", "--batch-size", "500",
                                   "--lr", "0.1", "--dtype", "float64", "--out", str(out), "--no-progress")
    assert code == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["split"] == {"train": 50_000, "valid": 10_000, "test": 10_000}
    assert metrics["config"]["sizes"] == [784, 16, 10]
    record = metrics["epochs"][0]
    assert record["max_param_diff"] <= 1e-9
    assert record["manual"]["test_error"] < 0.2 and record["torch"]["test_error"] < 0.2
    assert (out / "curves.png").exists() and not (out / "decision_regions.png").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_torch_twin_on_cuda_stays_in_lockstep():
    data = load_circles(seed=0)
    config = TrainConfig(hidden=(8,), optimizer="adam", lr=0.01, batch_size=10, epochs=2, dtype="float64",
                         device="cuda", progress=False)
    records = list(train_lockstep(Twins(config, 2, 2), data))
    assert records[-1]["max_param_diff"] <= 1e-9


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_asked_for_without_a_gpu_exits_2(capsys, tmp_path):
    code, _, stderr = run_cli(capsys, "--dataset", "circles", "--device", "cuda", "--out", str(tmp_path / "never"))
    assert code == 2 and stderr.count("\n") == 1 and "no CUDA device" in stderr
