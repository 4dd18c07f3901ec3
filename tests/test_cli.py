"""What every command line promises at start-up: a light ``--help``, an immediate first line,
one-line errors and Ctrl-C → exit 130 with one line, from the very first moment.

Real processes (``python -m compare.<command>``): what is checked is what a user sees.
No timing is asserted (speed figures: ``python docs/regenerate.py --startup``).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
    ("train_both", ["--epochs", "0"], "train_both: error: epochs must be a positive int, got 0"),
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


def interrupt(process, after_s=None, after_line=None):
    """SIGINT ``process`` after some seconds, or once ``after_line`` appears on its stdout."""
    if after_line is not None:
        for line in process.stdout:
            if after_line in line:
                break
    else:
        time.sleep(after_s)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    return process.returncode, err


@pytest.mark.parametrize("moment", [0.8, 2.0, "training"])
def test_ctrl_c_at_any_moment_exits_130_with_one_line(moment, tmp_path):
    process = start("train_both", "--dataset", "circles", "--epochs", "2000", "--no-progress",
                    "--out", str(tmp_path / "run"))
    if moment == "training":
        code, err = interrupt(process, after_line="max|Δθ|")
    else:
        code, err = interrupt(process, after_s=moment)  # start-up: during the imports of numpy/torch
    assert code == 130
    assert err.count("\n") == 1 and err.startswith("train_both: interrupted"), err


@pytest.mark.parametrize("command", ["gradcheck", "bench"])
def test_ctrl_c_during_the_torch_import_exits_130_with_one_line(command):
    # Both runs last well beyond the interrupt (the default gradcheck ends in ~1.4 s: a signal at 1 s could
    # land in its shut-down): finite differences on 784-200-10 take minutes.
    args = ("--no-progress",) if command == "bench" else ("--sizes", "784", "200", "10", "--fd-limit", "1000000")
    code, err = interrupt(start(command, *args), after_s=1.0)
    assert code == 130
    assert err == f"{command}: interrupted\n"
