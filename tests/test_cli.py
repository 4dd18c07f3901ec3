"""What every command line promises at start-up: a light ``--help``, an immediate first line,
one-line errors and Ctrl-C → exit 130 with one line, from the very first moment; SIGTERM and
SIGHUP end a training run as Ctrl-C does (exit 143, 129), its files written.

Real processes (``python -m compare.<command>``): what is checked is what a user sees.
No timing is asserted, and no signal is sent after a delay: each waits for a line the program
prints at a known point (``COMPARE_REPORT_STAGES=1`` adds ``stage: start-up``), so a busy
machine slows the tests down but cannot change where the signal lands.
(Speed figures: ``python docs/regenerate.py --startup``.)
"""

import argparse
import json
import os
import signal
import stat
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
    assert "compare.cli" in imported  # the -X importtime listing was read (bench --help needs no NumPy)
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
    seen.clear()
    assert cli.run_guarded("demo", body, []) == 0
    assert seen["SIGTERM"] is signal.SIG_DFL


# ----------------------------------------------------------------------------- compare.cli, unit by unit


@pytest.fixture
def no_startup_handler(monkeypatch):
    """This process is pytest, not a command: Ctrl-C in ``run`` returns 130 instead of leaving."""
    monkeypatch.setattr(cli, "_startup_handler", None)


def raising(error):
    def body(argv):
        raise error

    return body


@pytest.mark.parametrize("interrupt, name, status, line", [
    (KeyboardInterrupt(), "SIGINT", 130, "demo: interrupted"),
    (cli.Interrupted(signal.SIGTERM), "SIGTERM", 143, "demo: interrupted (SIGTERM)"),
    (cli.Interrupted(signal.SIGHUP), "SIGHUP", 129, "demo: interrupted (SIGHUP)"),
])
def test_what_a_stopped_run_records_of_the_signal(interrupt, name, status, line):
    """metrics.json's "signal", the exit status, the line printed; an ``Interrupted`` caught and printed by
    a program of its own says which signal."""
    assert (cli.signal_name(interrupt), cli.interrupt_status(interrupt), cli.interrupted_line("demo", interrupt)) == (
        name, status, line)
    if isinstance(interrupt, cli.Interrupted):
        assert str(interrupt) == name and isinstance(interrupt, KeyboardInterrupt)


@pytest.fixture
def terminal_signals():
    """The stop signals as a command started from a terminal has them (pytest may run with some ignored),
    pytest's own back afterwards."""
    defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL, signal.SIGHUP: signal.SIG_DFL}
    previous = {number: signal.signal(number, handler) for number, handler in defaults.items()}
    yield defaults
    for number, handler in previous.items():
        signal.signal(number, handler)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_stop_signal_during_the_run_is_one_line_and_128_plus_n(no_startup_handler, capsys, terminal_signals, signum):
    def body(argv):
        os.kill(os.getpid(), signum)
        for _ in range(1000):  # bytecodes after the signal: Python runs the handler here
            pass
        return 0

    assert cli.run("demo", body, [], stop_signals=True) == 128 + signum
    name = "" if signum == signal.SIGINT else f" ({signal.Signals(signum).name})"
    assert capsys.readouterr() == ("", f"demo: interrupted{name}\n")
    assert signal.getsignal(signum) is terminal_signals[signum]


def test_a_signal_ignored_before_the_run_stays_ignored_during_it(no_startup_handler, capsys, terminal_signals):
    """``nohup``: SIGHUP ignored when the command starts must not stop it."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def body(argv):
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(1000):
            pass
        return 0

    assert cli.run("demo", body, [], stop_signals=True) == 0
    assert capsys.readouterr() == ("", "")
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN


class _SignalWhileWritten:
    """stderr that receives a second SIGTERM while the 'interrupted' line is written."""

    def __init__(self):
        self.text = ""

    def write(self, text):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # a handler still in place would raise here
            pass
        self.text += text
        return len(text)

    def flush(self):
        pass


def test_a_second_signal_while_the_interrupted_line_is_written_changes_nothing(no_startup_handler, monkeypatch,
                                                                              terminal_signals):
    stderr = _SignalWhileWritten()
    monkeypatch.setattr(sys, "stderr", stderr)
    assert cli.run("demo", raising(cli.Interrupted(signal.SIGTERM)), [], stop_signals=True) == 143
    assert stderr.text == "demo: interrupted (SIGTERM)\n"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the caller's handler back afterwards


def test_ctrl_c_in_a_run_without_stop_signals_leaves_ctrl_c_as_it_was(no_startup_handler, capsys, terminal_signals):
    assert cli.run("demo", raising(KeyboardInterrupt())) == 130
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_command_that_asks_for_stop_signals_itself_keeps_them_after_run(no_startup_handler, capsys,
                                                                          terminal_signals):
    """``stop_signals_interrupt`` called by the body: from then on, even after ``run`` returns."""
    assert cli.run("demo", lambda argv: cli.stop_signals_interrupt() or 0) == 0
    with pytest.raises(cli.Interrupted) as stopped:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):
            pass
    assert stopped.value.signum == signal.SIGTERM


def test_run_from_another_thread_leaves_the_handlers_alone(no_startup_handler, capsys, terminal_signals):
    """Only the main thread may set handlers: a run in a thread (a notebook's worker) still runs."""
    import threading

    codes = []
    thread = threading.Thread(target=lambda: codes.append(cli.run("demo", lambda argv: 5, [], stop_signals=True)))
    thread.start()
    thread.join()
    assert codes == [5] and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_block_holding_stop_signals_without_any_ends_normally():
    reached = []
    with cli.holding_stop_signals():
        with cli.holding_stop_signals():
            reached.append("inner")
        reached.append("outer")
    assert reached == ["inner", "outer"] and cli._held is None


def test_run_passes_the_body_status_through(no_startup_handler, capsys):
    assert [cli.run("x", lambda argv, code=code: code) for code in (0, 1, 2)] == [0, 1, 2]
    assert cli.run("x", lambda argv: len(argv), ["a", "b"]) == 2
    assert capsys.readouterr() == ("", "")


def test_a_usage_error_is_one_line_and_exit_2(no_startup_handler, capsys):
    assert cli.run("grade", raising(cli.UsageError("--jobs must be ≥ 1, got 0"))) == 2 == cli.EXIT_USAGE
    assert capsys.readouterr() == ("", "grade: error: --jobs must be ≥ 1, got 0\n")


def test_ctrl_c_in_the_body_is_one_line_and_exit_130(no_startup_handler, capsys):
    assert cli.run("grade", raising(KeyboardInterrupt())) == 130 == cli.EXIT_INTERRUPTED
    assert capsys.readouterr() == ("", "grade: interrupted\n")


def test_the_commands_own_failure_is_exit_3_never_a_verdict(no_startup_handler, capsys):
    code = cli.run_guarded("validate", raising(RuntimeError("\x1b[2Jcases\nverdict: PASS")), internal="internal error")
    assert code == 3 == cli.EXIT_INTERNAL
    out, err = capsys.readouterr()
    assert out == "" and err == "validate: internal error: RuntimeError: [2Jcases verdict: pass\n"


def test_run_guarded_keeps_usage_errors_interrupts_and_statuses(no_startup_handler, capsys):
    assert cli.run_guarded("v", raising(cli.UsageError("bad"))) == 2
    assert cli.run_guarded("v", raising(KeyboardInterrupt())) == 130
    assert cli.run_guarded("v", lambda argv: 1) == 1
    assert cli.run_guarded("v", raising(OSError("disk full"))) == 3
    assert capsys.readouterr().err.splitlines() == ["v: error: bad", "v: interrupted",
                                                    "v: internal error: OSError: disk full"]


def test_the_parser_reports_a_mistake_on_one_line(capsys):
    parser = cli.Parser("bench", prog="python -m compare.bench")
    parser.add_argument("--grid")
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--grod", "1"])
    assert exit_.value.code == 2
    assert capsys.readouterr() == ("", "bench: error: unrecognized arguments: --grod 1\n")


def test_a_parser_without_a_name_raises_the_mistake_and_run_says_it(no_startup_handler, capsys):
    parser = cli.Parser(prog="backprop-grade")
    parser.add_argument("--jobs", type=cli.number(int, 1, "a whole number ≥ 1"))
    with pytest.raises(cli.UsageError, match=r"^unrecognized arguments: --grod 1$"):
        parser.parse_args(["--grod", "1"])
    assert capsys.readouterr() == ("", "")  # nothing printed: the command says it once
    assert cli.run("grade", lambda argv: parser.parse_args(argv) and 0, ["--jobs", "0"]) == 2
    assert capsys.readouterr() == ("", "grade: error: argument --jobs: expected a whole number ≥ 1, got '0'\n")


@pytest.mark.parametrize("text, value", [("1", 1), ("7", 7), ("0", None), ("-1", None), ("1.5", None), ("x", None)])
def test_a_whole_number_at_its_minimum_passes_and_one_under_is_named(text, value):
    parse = cli.number(int, 1, "a whole number ≥ 1")
    if value is None:
        with pytest.raises(argparse.ArgumentTypeError) as refused:
            parse(text)
        assert str(refused.value) == f"expected a whole number ≥ 1, got {text!r}"
    else:
        assert parse(text) == value and type(parse(text)) is int


@pytest.mark.parametrize("text, exclusive, passes", [
    ("0.001", False, True), ("0.0009", False, False), ("0.001", True, False), ("0.0011", True, True),
    ("1e300", False, True), ("inf", False, False), ("-inf", False, False), ("nan", False, False),
    ("nan", True, False), ("inf", True, False),
])
def test_a_real_number_is_finite_and_at_or_above_its_minimum(text, exclusive, passes):
    parse = cli.number(float, 0.001, "a positive number of seconds", exclusive=exclusive)
    if passes:
        assert parse(text) == float(text)
    else:
        with pytest.raises(argparse.ArgumentTypeError, match=f"^expected a positive number of seconds, got '{text}'$"):
            parse(text)


# ----------------------------------------------------------------------------- write_json_atomic
@pytest.fixture
def umask():
    """Set the process's umask for one test, the previous one back afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)


def test_the_json_written_is_the_data_given(tmp_path):
    data = {"b": [1, 2.5, None, True], "a": {"name": "λ\u00e9"}, "n": -0.0}
    path = tmp_path / "report.json"
    cli.write_json_atomic(path, data)
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(data, indent=2) + "\n" and json.loads(text) == data
    cli.write_json_atomic(str(path), [1, 2], indent=None)
    assert path.read_text() == "[1, 2]\n"
    cli.write_json_atomic(path, {"x": float("nan")}, allow_nan=True)
    assert path.read_text() == '{\n  "x": NaN\n}\n'


@pytest.mark.parametrize("bad", [{"loss": float("nan")}, {"loss": float("inf")}, {"path": Path("x")}])
def test_a_failed_dump_leaves_the_previous_file_and_no_temporary_file(tmp_path, bad):
    path = tmp_path / "report.json"
    path.write_text('{"previous": 1}\n')
    with pytest.raises((ValueError, TypeError)):
        cli.write_json_atomic(path, bad)
    assert path.read_text() == '{"previous": 1}\n' and os.listdir(tmp_path) == ["report.json"]
    with pytest.raises(ValueError):
        cli.write_json_atomic(tmp_path / "new.json", {"loss": float("nan")})
    assert os.listdir(tmp_path) == ["report.json"]  # neither a half file nor a temporary one


def test_a_file_that_cannot_be_replaced_leaves_no_temporary_file(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(OSError):
        cli.write_json_atomic(tmp_path / "taken", {"a": 1})
    assert os.listdir(tmp_path) == ["taken"] and os.listdir(tmp_path / "taken") == []


@pytest.mark.parametrize("mask, mode, expected", [
    (0o022, None, 0o644), (0o077, None, 0o600), (0o002, None, 0o664), (0o077, 0o644, 0o644), (0o022, 0o600, 0o600),
])
def test_the_file_gets_the_usual_mode_or_the_one_asked(tmp_path, umask, mask, mode, expected):
    umask(mask)
    path = tmp_path / "report.json"
    path.write_text("{}")
    os.chmod(path, 0o600 if expected != 0o600 else 0o644)  # replaced, not written into
    cli.write_json_atomic(path, {"a": 1}, mode=mode)
    assert stat.S_IMODE(path.stat().st_mode) == expected
    assert os.umask(mask) == mask  # the umask is the one it found


# ----------------------------------------------------------------------------- check_output_file
@pytest.mark.parametrize("path", [None, "", "report.json", "{tmp}/report.json", "{tmp}/sub/"])
def test_an_output_file_whose_folder_exists_passes(tmp_path, monkeypatch, path):
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    assert cli.check_output_file("--json", path.format(tmp=tmp_path) if path else path) is None


def test_an_output_file_without_a_folder_is_a_usage_error_naming_the_flag_path_and_folder(tmp_path):
    path = tmp_path / "no" / "report.json"
    with pytest.raises(cli.UsageError) as refused:
        cli.check_output_file("--json", str(path))
    assert str(refused.value) == f"--json {path}: there is no folder {str(tmp_path / 'no')!r} to write it into"


@pytest.mark.parametrize("argv0, expected", [
    ("/venv/bin/backprop-grade", "backprop-grade"),
    ("backprop-grade", "backprop-grade"),
    ("/repo/compare/grade.py", "python -m compare.grade"),
    ("", "python -m compare.grade"),
])
def test_prog_is_the_name_the_user_called(monkeypatch, argv0, expected):
    monkeypatch.setattr(sys, "argv", [argv0])
    assert cli.prog("compare.grade", "backprop-grade") == expected


def test_prog_without_any_argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", [])  # embedded interpreters may leave it empty
    assert cli.prog("compare.grade", "backprop-grade") == "python -m compare.grade"


def test_the_start_up_handler_is_handed_back_to_python_once_run_starts(no_startup_handler, monkeypatch):
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        cli.interrupt_exits_at_once("x")
        installed = signal.getsignal(signal.SIGINT)
        assert installed is cli._startup_handler and installed is not signal.default_int_handler
        seen = []
        assert cli.run("x", lambda argv: seen.append(signal.getsignal(signal.SIGINT)) or 0) == 0
        assert seen == [signal.default_int_handler]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_an_ignored_ctrl_c_stays_ignored(no_startup_handler):
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job
    try:
        cli.interrupt_exits_at_once("x")
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # SIGTERM/SIGHUP get the handler, SIGINT not
        seen = []
        cli.run("x", lambda argv: seen.append(signal.getsignal(signal.SIGINT)) or 0)
        assert seen == [signal.SIG_IGN]
    finally:
        signal.signal(signal.SIGINT, previous)


# A real process that becomes one of the commands (by the module Python runs, or by its console
# script's name), then sends itself SIGINT: no timing, the signal is handled at the next bytecode.
AS_MODULE = "import sys, types; sys.modules['__main__'].__spec__ = types.SimpleNamespace(name={name!r})\n"
AS_SCRIPT = "import sys; sys.argv[0] = '/venv/bin/' + {name!r}\n"
SELF_INTERRUPT = "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(30)\nprint('survived')\n"


# A command started from a terminal gets Ctrl-C; one started in the background (as pytest may be) inherits
# SIGINT ignored. These processes are given the terminal's case, then ``code`` runs.
FOREGROUND = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"


def python(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}  # stdout buffered, as piped
    return subprocess.run([sys.executable, "-c", FOREGROUND + code], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.parametrize("start, name, short", [
    (AS_MODULE, "compare.train_both", "train_both"), (AS_MODULE, "compare.gradcheck", "gradcheck"),
    (AS_MODULE, "compare.bench", "bench"), (AS_MODULE, "compare.validate", "validate"),
    (AS_MODULE, "compare.grade", "grade"), (AS_MODULE, "compare.grader.autograder", "autograder"),
    (AS_SCRIPT, "backprop-train-both", "train_both"), (AS_SCRIPT, "backprop-gradcheck", "gradcheck"),
    (AS_SCRIPT, "backprop-bench", "bench"), (AS_SCRIPT, "backprop-validate", "validate"),
    (AS_SCRIPT, "backprop-grade", "grade"), (AS_SCRIPT, "backprop-autograder", "autograder"),
])
def test_every_command_exits_130_on_ctrl_c_from_its_first_import(start, name, short):
    result = python(start.format(name=name) + "import compare.cli\n" + SELF_INTERRUPT)
    assert (result.returncode, result.stdout, result.stderr) == (130, "", f"{short}: interrupted\n")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_every_command_exits_128_plus_n_on_sigterm_and_sighup_from_its_first_import(signum):
    result = python(AS_MODULE.format(name="compare.train_both") + "import compare.cli\n"
                    + SELF_INTERRUPT.replace("signal.SIGINT", f"signal.{signal.Signals(signum).name}"))
    assert (result.returncode, result.stdout, result.stderr) == (
        128 + signum, "", f"train_both: interrupted ({signal.Signals(signum).name})\n")


def test_a_command_says_when_its_start_up_handler_is_in_place_when_asked():
    """``COMPARE_REPORT_STAGES=1``: the line the signal tests wait for, out before the process can be stopped."""
    asked = "import os; os.environ['COMPARE_REPORT_STAGES'] = '1'\n"
    result = python(asked + AS_MODULE.format(name="compare.bench") + "import compare.cli\n" + SELF_INTERRUPT)
    assert (result.returncode, result.stdout, result.stderr) == (130, "stage: start-up\n", "bench: interrupted\n")
    result = python("import os; os.environ['COMPARE_REPORT_STAGES'] = '0'\n" + AS_MODULE.format(name="compare.bench")
                    + "import compare.cli\n" + SELF_INTERRUPT)
    assert (result.returncode, result.stdout, result.stderr) == (130, "", "bench: interrupted\n")


def test_another_program_importing_the_module_keeps_its_own_ctrl_c():
    result = python(AS_SCRIPT.format(name="my-notebook-server") + "import compare.cli\n"
                    "try:\n    " + SELF_INTERRUPT.replace("\n", "\n    ") + "\nexcept KeyboardInterrupt:\n"
                    "    print('its own handling')\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, "its own handling\n", "")


def test_ctrl_c_during_the_run_lets_the_command_save_its_work():
    result = python(AS_MODULE.format(name="compare.grade") + "import compare.cli as cli\n"
                    "import os, signal, sys, time\n"
                    "def body(argv):\n"
                    "    try:\n"
                    "        os.kill(os.getpid(), signal.SIGINT)\n"
                    "        time.sleep(30)\n"
                    "    except KeyboardInterrupt:\n"
                    "        print('saved 3 of 7 reports')\n"
                    "        return 130\n"
                    "sys.exit(cli.run('grade', body))\n")
    assert (result.returncode, result.stdout, result.stderr) == (130, "saved 3 of 7 reports\n", "")


def test_an_interrupt_the_command_leaves_ends_it_with_its_output_flushed():
    result = python(AS_MODULE.format(name="compare.validate") + "import compare.cli as cli\n"
                    "import atexit, sys\n"
                    "atexit.register(lambda: print('atexit ran'))\n"
                    "def body(argv):\n"
                    "    print('a table so far')\n"
                    "    raise KeyboardInterrupt\n"
                    "code = cli.run('validate', body)\n"
                    "print('after run', code)\n")
    assert (result.returncode, result.stdout, result.stderr) == (130, "a table so far\n", "validate: interrupted\n")


def test_ctrl_c_ignored_at_start_up_stays_ignored_in_a_command():
    result = python("import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                    + AS_MODULE.format(name="compare.bench") + "import compare.cli\n"
                    + SELF_INTERRUPT.replace("time.sleep(30)", "time.sleep(0.1)"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "survived\n", "")


def test_run_leaves_a_handler_the_program_chose_itself(no_startup_handler):
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        cli.interrupt_exits_at_once("x")
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # e.g. the command ignores Ctrl-C while it saves
        seen = []
        cli.run("x", lambda argv: seen.append(signal.getsignal(signal.SIGINT)) or 0)
        assert seen == [signal.SIG_IGN]
    finally:
        signal.signal(signal.SIGINT, previous)
