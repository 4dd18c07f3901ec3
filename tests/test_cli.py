"""What every command line promises at start-up: a light ``--help``, an immediate first line,
one-line errors and Ctrl-C → exit 130 with one line, from the very first moment; SIGTERM and
SIGHUP end a training run as Ctrl-C does (exit 143, 129), its files written.

Real processes (``python -m compare.<command>``): what is checked is what a user sees.
No timing is asserted, and no signal is sent after a delay: each waits for a line the program
prints at a known point (``COMPARE_REPORT_STAGES=1`` adds ``stage: start-up``), so a busy
machine slows the tests down but cannot change where the signal lands.
(Speed figures: ``python docs/regenerate.py --startup``.)
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from compare import cli

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ("train_both", "gradcheck", "bench")
HEAVY = ("torch", "torchvision", "matplotlib", "tqdm")


def start(module, *args, env=None):
    return subprocess.Popen([sys.executable, "-m", f"compare.{module}", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})


@pytest.mark.parametrize("command", COMMANDS)
def test_help_imports_no_heavy_library(command):
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", f"compare.{command}", "--help"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "usage: python -m compare." + command in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "numpy" in imported  # the -X importtime listing was read
    assert not imported & set(HEAVY), imported & set(HEAVY)


@pytest.mark.parametrize("command, argv, message", [
    ("train_both", ["--epochs", "0"], "train_both: error: --epochs must be a positive int, got 0"),
    ("train_both", ["--momentum", "1"], "train_both: error: --momentum must be in [0, 1), got 1.0"),
    ("train_both", ["--lr", "fast"], "train_both: error: argument --lr: invalid float value: 'fast'"),
    ("gradcheck", ["--fd-limit", "-1"], "gradcheck: error: --fd-limit must be >= 0"),
    ("gradcheck", ["--sizes", "2", "x"], "gradcheck: error: argument --sizes: invalid int value: 'x'"),
    ("bench", ["--grid", "10x"], "bench: error: argument --grid: expected HIDDENxBATCH"),
])
def test_a_mistake_is_one_line_naming_the_bad_value(command, argv, message):
    process = start(command, *argv)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert err.startswith(message) and err.count("\n") == 1, err
    assert out == ""


def test_the_first_line_of_a_run_says_what_is_loaded_from_where(tmp_path):
    process = start("train_both", "--data-dir", "no-data-here", "--out", str(tmp_path / "never"),
                    env={"COMPARE_DATA_DIR": ""})
    out, err = process.communicate(timeout=120)
    assert out.splitlines()[0] == f"loading MNIST from {REPO / 'no-data-here' / 'MNIST'} …"
    assert process.returncode == 2 and err.count("\n") == 1
    assert f"{REPO / 'no-data-here' / 'MNIST' / 'raw'} lacks train-images-idx3-ubyte" in err


def signal_when(process, line_part, signum=signal.SIGINT):
    """Send ``signum`` to ``process`` as soon as a line containing ``line_part`` appears on its stdout.

    The moment is one the program reports, not a delay: a busy machine makes the run slower,
    never the signal land elsewhere. Returns (exit status, stdout read, stderr).
    """
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line_part in line:
            break
    else:
        raise AssertionError(f"the run ended before printing {line_part!r}: {''.join(seen)}")
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    return process.returncode, "".join(seen) + out, err


STAGES = {"COMPARE_REPORT_STAGES": "1"}  # the commands print "stage: start-up" before their own imports
MOMENTS = {
    "start-up": "stage: start-up",  # the start-up handler is in place; NumPy's and torch's imports follow
    "torch import": "generating circles",  # the run's first line, printed just before `import torch`
}


@pytest.mark.parametrize("moment", MOMENTS)
def test_ctrl_c_at_any_moment_exits_130_with_one_line(moment, tmp_path):
    # During training: test_a_signal_during_training_keeps_the_epochs_done_and_draws_the_figures[SIGINT].
    process = start("train_both", "--dataset", "circles", "--epochs", "2000", "--no-progress",
                    "--out", str(tmp_path / "run"), env=STAGES)
    code, out, err = signal_when(process, MOMENTS[moment])
    assert code == 130
    assert err.count("\n") == 1 and err.startswith("train_both: interrupted"), err


@pytest.mark.parametrize("command, args, moment", [
    # finite differences on 784-200-10 take minutes: the run lasts well beyond the interrupt
    ("gradcheck", ("--sizes", "784", "200", "10", "--fd-limit", "1000000"), "stage: start-up"),
    ("bench", ("--no-progress",), "stage: start-up"),
    ("bench", ("--no-progress",), "loading MNIST from"),  # its first line, printed just before `import torch`
], ids=["gradcheck-start-up", "bench-start-up", "bench-torch-import"])
def test_ctrl_c_during_start_up_exits_130_with_one_line(command, args, moment):
    code, _, err = signal_when(start(command, *args, env=STAGES), moment)
    assert code == 130
    assert err == f"{command}: interrupted\n"


@pytest.mark.parametrize("signum, moment", [(signal.SIGTERM, "start-up"), (signal.SIGHUP, "torch import")],
                         ids=["SIGTERM-start-up", "SIGHUP-torch-import"])
def test_sigterm_and_sighup_at_start_up_exit_128_plus_n_with_one_line(signum, moment, tmp_path):
    process = start("train_both", "--dataset", "circles", "--no-progress", "--out", str(tmp_path / "run"), env=STAGES)
    code, _, err = signal_when(process, MOMENTS[moment], signum)
    assert code == 128 + signum
    assert err == f"train_both: interrupted ({signal.Signals(signum).name})\n"
    assert not (tmp_path / "run").exists()  # stopped before it had anything to write


def is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_during_training_keeps_the_epochs_done_and_draws_the_figures(signum, tmp_path):
    out_dir = tmp_path / "run"
    process = start("train_both", "--dataset", "circles", "--epochs", "2000", "--no-progress", "--out", str(out_dir))
    # The first epoch's rows: curves.png is on disk already (drawn when the run started, before any epoch).
    for line in process.stdout:
        if line.lstrip().startswith("torch"):
            break
    assert is_png(out_dir / "curves.png")
    code, out, err = signal_when(process, "torch", signum)  # after the next epoch's rows
    name = signal.Signals(signum).name
    assert code == 128 + signum
    metrics = json.loads((out_dir / "metrics.json").read_text())
    done = len(metrics["epochs"])
    assert done >= 2 and [record["epoch"] for record in metrics["epochs"]] == list(range(1, done + 1))
    assert err == (f"train_both: interrupted{'' if signum == signal.SIGINT else f' ({name})'}; "
                   f"{out_dir}/ holds the {done} epochs done\n")
    summary = metrics["summary"]
    assert (summary["status"], summary["interrupted"], summary["signal"]) == ("interrupted", True, name)
    assert (summary["epochs_done"], summary["epochs_planned"]) == (done, 2000)
    assert is_png(out_dir / "curves.png") and is_png(out_dir / "decision_regions.png")
    assert f"after {done} epochs: test accuracy" in out and "files: curves.png, decision_regions.png, metrics.json" in out


def test_a_second_signal_while_the_files_are_written_changes_nothing(tmp_path):
    process = start("train_both", "--dataset", "circles", "--epochs", "2000", "--no-progress", "--out", str(tmp_path))
    for line in process.stdout:
        if line.lstrip().startswith("torch"):  # the first epoch's rows
            break
    process.send_signal(signal.SIGTERM)
    first = process.stderr.readline()  # printed as the files start being written
    process.send_signal(signal.SIGTERM)  # lands while they are written, or after the run has ended
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143
    assert first.startswith("train_both: interrupted (SIGTERM); ") and err == ""
    summary = json.loads((tmp_path / "metrics.json").read_text())["summary"]
    assert summary["signal"] == "SIGTERM" and summary["epochs_done"] >= 1
    assert is_png(tmp_path / "curves.png") and is_png(tmp_path / "decision_regions.png")
    assert "files: curves.png, decision_regions.png, metrics.json" in out


def test_a_finished_run_says_so_in_metrics_json(tmp_path):
    process = start("train_both", "--dataset", "circles", "--epochs", "1", "--no-progress", "--out", str(tmp_path))
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0 and err == ""
    summary = json.loads((tmp_path / "metrics.json").read_text())["summary"]
    assert (summary["status"], summary["interrupted"], summary["signal"], summary["epochs_done"]) == (
        "finished", False, None, 1)
    assert "settings: 2-4-2 relu · sgd η=0.03 · batch 10 · no penalty · float64, 1 epoch\n" in out
    assert "after 1 epoch: test accuracy" in out


def test_a_stop_signal_while_files_are_written_waits_for_them(capsys):
    """In a command's process: inside ``holding_stop_signals`` a SIGTERM is noted, the block runs to its
    end, then the signal ends the command (one line, 143); the caller's handlers come back after."""
    reached = []

    def body(argv):
        with cli.holding_stop_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # bytecodes after the signal: Python would have run the handler by now
                pass
            reached.append("end of the block")
        reached.append("after the block")
        return 0

    assert cli.run("demo", body, [], stop_signals=True) == 143
    assert reached == ["end of the block"]
    assert capsys.readouterr().err == "demo: interrupted (SIGTERM)\n"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_stop_signals_are_left_alone_unless_asked_for():
    """validate and grade call ``run`` without ``stop_signals``: SIGTERM keeps its default there."""
    seen = {}

    def body(argv):
        seen["SIGTERM"] = signal.getsignal(signal.SIGTERM)
        return 0

    assert cli.run("demo", body, []) == 0
    assert seen["SIGTERM"] is signal.SIG_DFL
