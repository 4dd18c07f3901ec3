"""backprop-validate's command line (``compare.validate.main``), fast: ``validate`` is replaced by a
ready report (no worker runs), so what is checked is everything around it, as a user sees it: every
flag reaching the run with its value, every refusal before anything runs (one line, exit 2), the
tables printed (all of them, or only the failing ones with ``--brief``), the JSON written, and
every exit code. The real runs are ``tests/test_validate.py``'s.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

from compare import cli
from compare import validate as V
from compare.grader.course import cases as C
from compare.grader.course.assignment import preset
from compare.grader.judging.records import TOL, CaseReport, Report, Row
from compare.grader.options import DEFAULT_BUDGET, DEFAULT_TIMEOUT
from compare.grader.workers import isolation
from compare.lab.diff import compare_arrays

ROOT = Path(__file__).resolve().parent.parent
SPEC = "student.py:make_mlp"
RELU = C.battery("relu")
PASSING, FAILING = RELU[0], RELU[1]


def case_report(case, passed: bool) -> CaseReport:
    """One case's table: its loss agrees with the reference, or is off by one."""
    row = Row("loss", compare_arrays(1.0, 1.0 if passed else 2.0, TOL))
    return CaseReport(case=case, rows=[row], outcome=SimpleNamespace(findings=[]))


def passing(target=SPEC) -> Report:
    return Report(target=target, cases=[case_report(PASSING, True)], isolation="bubblewrap")


def failing(target=SPEC) -> Report:
    return Report(target=target, cases=[case_report(PASSING, True), case_report(FAILING, False)],
                  isolation="bubblewrap")


def broken(target=SPEC) -> Report:
    return Report(target=target, error="loss_and_grads raised ValueError: no", error_kind="raised")


@pytest.fixture
def judged(monkeypatch):
    """``validate`` answers ``judged.report`` (or raises it) and keeps what it was called with;
    bubblewrap is there (``judged.level`` says what 'auto' finds)."""
    state = SimpleNamespace(report=passing(), calls=[], level=isolation.BUBBLEWRAP, during=None)

    def validate(target, **options):
        state.calls.append((target, options))
        if state.during is not None:
            state.during()
        if isinstance(state.report, Exception):
            raise state.report
        return state.report

    def choose_level(asked):
        if isinstance(state.level, Exception):
            raise state.level
        return state.level if asked == "auto" else asked

    monkeypatch.setattr(V, "validate", validate)
    monkeypatch.setattr(isolation, "choose_level", choose_level)
    monkeypatch.setattr(isolation, "fallback_reason", lambda: "bwrap: no user namespaces")
    monkeypatch.setattr(cli, "_startup_handler", None)  # pytest, not the command: return instead of leaving
    return state


def refused(capsys, judged, argv, line):
    """``argv`` is refused before anything runs: one line on stderr, exit 2, nothing on stdout."""
    assert V.main(argv) == 2
    assert capsys.readouterr() == ("", line + "\n")
    assert judged.calls == []


# ----------------------------------------------------------------------------- what reaches the run
def test_the_defaults_reach_the_run(judged, capsys):
    assert V.main([SPEC]) == 0
    [(target, options)] = judged.calls
    assert target == SPEC
    assert options == {"assignment": preset("homework"), "timeout": DEFAULT_TIMEOUT, "budget": DEFAULT_BUDGET,
                       "seed": 0, "memory_mb": 2048, "allow_imports": [], "isolation": "auto"}


def test_every_flag_reaches_the_run_with_its_value(judged, capsys):
    assert V.main([SPEC, "--timeout", "2.5", "--budget", "7", "--memory", "300", "--allow-import", "scipy",
                   "--allow-import", "sklearn", "--isolation", "process", "--seed", "5", "--preset", "cs231n",
                   "--factory", "build"]) == 0
    [(_, options)] = judged.calls
    assert options == {"assignment": preset("cs231n").with_factory("build"), "timeout": 2.5, "budget": 7.0,
                       "seed": 5, "memory_mb": 300, "allow_imports": ["scipy", "sklearn"], "isolation": "process"}
    assert options["assignment"].factory_names == ("build",)


@pytest.mark.parametrize("level", ["auto", "bubblewrap", "process"])
def test_each_isolation_level_is_taken(judged, capsys, level):
    assert V.main([SPEC, "--isolation", level]) == 0
    assert judged.calls[0][1]["isolation"] == level


def test_an_assignment_file_overrides_its_preset(judged, capsys, tmp_path):
    course = tmp_path / "course.toml"
    course.write_text('factory = "two_layer_net"\n')
    assert V.main([SPEC, "--preset", "cs231n", "--assignment", str(course)]) == 0
    assignment = judged.calls[0][1]["assignment"]
    assert assignment.factory == "two_layer_net" and assignment.describe() != preset("cs231n").describe()
    assert V.main([SPEC, "--assignment", str(course)]) == 0  # over the homework's
    assert judged.calls[1][1]["assignment"].factory == "two_layer_net"


@pytest.mark.parametrize("flag, text", [("--timeout", "0.001"), ("--budget", "0.001"), ("--timeout", "0.5"),
                                        ("--budget", "0.5")])
def test_a_time_just_above_zero_is_taken(judged, capsys, flag, text):
    assert V.main([SPEC, flag, text]) == 0
    assert judged.calls[0][1][flag[2:]] == float(text)


def test_a_memory_of_256_mib_is_the_least_taken(judged, capsys):
    assert V.main([SPEC, "--memory", "256"]) == 0
    assert judged.calls[0][1]["memory_mb"] == 256


# ----------------------------------------------------------------------------- refused before anything runs
@pytest.mark.parametrize("argv, line", [
    ([SPEC, "--timeout", "0"], "validate: error: argument --timeout: expected a positive number of seconds, got '0'"),
    ([SPEC, "--budget", "0"], "validate: error: argument --budget: expected a positive number of seconds, got '0'"),
    ([SPEC, "--memory", "0"], "validate: error: argument --memory: expected a whole number of MiB ≥ 256, got '0'"),
    ([SPEC, "--memory", "255"], "validate: error: argument --memory: expected a whole number of MiB ≥ 256, got '255'"),
    ([SPEC, "--isolation", "none"], "validate: error: argument --isolation: invalid choice: 'none' (choose from "
                                    "'auto', 'bubblewrap', 'process')"),
    ([SPEC, "--seed", "x"], "validate: error: argument --seed: invalid int value: 'x'"),
    ([SPEC, "--preset", "nope"], "validate: error: argument --preset: invalid choice: 'nope' (choose from "
                                 "'homework', 'cs231n', 'cs231n-2016', 'cs231n-a2', 'cs231n-a2-fc')"),
])
def test_a_bad_flag_is_one_line_and_nothing_runs(judged, capsys, argv, line):
    refused(capsys, judged, argv, line)


def test_an_assignment_file_that_does_not_exist_is_refused(judged, capsys, tmp_path):
    path = tmp_path / "none.toml"
    refused(capsys, judged, [SPEC, "--assignment", str(path)],
            f"validate: error: cannot read assignment file {path}: No such file or directory")


def test_a_report_path_without_a_folder_is_refused(judged, capsys, tmp_path):
    path = tmp_path / "no" / "report.json"
    refused(capsys, judged, [SPEC, "--json", str(path)], f"validate: error: --json {path}: its folder does not exist")


def test_a_report_path_that_is_a_folder_is_refused(judged, capsys, tmp_path):
    refused(capsys, judged, [SPEC, "--json", str(tmp_path)], f"validate: error: --json {tmp_path}: is a folder")


@pytest.mark.parametrize("error", [RuntimeError("bwrap: setting up uid map: Permission denied"),
                                   ValueError("bwrap: setting up uid map: Permission denied")])
def test_bubblewrap_that_cannot_run_is_refused(judged, capsys, error):
    judged.level = error
    refused(capsys, judged, [SPEC, "--isolation", "bubblewrap"],
            "validate: error: bwrap: setting up uid map: Permission denied")


def test_auto_without_bubblewrap_warns_once_and_runs(judged, capsys):
    judged.level = isolation.PROCESS
    assert V.main([SPEC]) == 0
    out, err = capsys.readouterr()
    assert err.startswith("validate: warning: bubblewrap is not available (bwrap: no user namespaces): the "
                          "implementation runs at the process level only") and err.count("\n") == 1
    assert "verdict: PASS" in out


@pytest.mark.parametrize("asked, found", [("process", "process"), ("auto", "bubblewrap"),
                                          ("bubblewrap", "bubblewrap")])
def test_no_warning_when_the_level_is_the_one_asked_or_the_best(judged, capsys, asked, found):
    judged.level = found
    assert V.main([SPEC, "--isolation", asked]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("error", [ValueError("timeout must be a positive number of seconds, got 0"),
                                   RuntimeError("bubblewrap was asked for and cannot run")])
def test_a_setting_the_run_refuses_is_a_usage_error(judged, capsys, error):
    judged.report = error
    assert V.main([SPEC]) == 2
    assert capsys.readouterr() == ("", f"validate: error: {error}\n")


def test_the_validators_own_failure_is_exit_3_never_a_verdict(judged, capsys):
    judged.report = KeyError("W1")
    assert V.main([SPEC]) == 3
    assert capsys.readouterr() == ("", "validate: internal error (not a verdict on the implementation): "
                                       "KeyError: 'W1'\n")


# ----------------------------------------------------------------------------- what is printed, exit codes
def test_a_pass_prints_every_table_and_exits_0(judged, capsys):
    assert V.main([SPEC]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.count("max abs err") == 1 and PASSING.name in out
    assert "verdict: PASS — all 1 cases agree" in out


def test_a_failure_prints_every_table_and_exits_1(judged, capsys):
    judged.report = failing()
    assert V.main([SPEC]) == 1
    out, err = capsys.readouterr()
    assert err == "" and out.count("max abs err") == 2 and PASSING.name in out and FAILING.name in out
    assert "verdict: FAIL — 1 of 2 cases disagree" in out


def test_brief_prints_the_failing_tables_only(judged, capsys):
    judged.report = failing()
    assert V.main([SPEC, "--brief"]) == 1
    out, _ = capsys.readouterr()
    assert out.count("max abs err") == 1 and FAILING.name in out and f"{PASSING.name} " not in out
    assert "verdict: FAIL — 1 of 2 cases disagree" in out


def test_a_broken_contract_is_one_line_naming_the_spec_and_exits_2(judged, capsys):
    judged.report = broken()
    assert V.main([SPEC]) == 2
    assert capsys.readouterr() == ("", f"validate: {SPEC}: loss_and_grads raised ValueError: no\n")


def test_the_report_is_written_as_json_beside_the_tables(judged, capsys, tmp_path):
    judged.report = failing()
    path = tmp_path / "report.json"
    assert V.main([SPEC, "--json", str(path)]) == 1
    assert "verdict: FAIL" in capsys.readouterr().out
    assert json.loads(path.read_text()) == json.loads(json.dumps(failing().to_dict()))


def test_a_broken_contract_is_written_as_json_too(judged, capsys, tmp_path):
    judged.report = broken()
    path = tmp_path / "report.json"
    assert V.main([SPEC, "--json", str(path)]) == 2
    data = json.loads(path.read_text())
    assert (data["exit_code"], data["error_kind"]) == (2, "raised")


@pytest.mark.parametrize("where", ["-", "/dev/stdout"])
def test_json_on_stdout_is_the_only_thing_there(judged, capsys, where):
    judged.report = failing()
    assert V.main([SPEC, "--json", where]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == json.loads(json.dumps(failing().to_dict())) and err == ""
    assert out == json.dumps(failing().to_dict(), indent=2, allow_nan=False) + "\n"


def test_json_on_stdout_of_a_broken_contract_keeps_the_line_on_stderr(judged, capsys):
    judged.report = broken()
    assert V.main([SPEC, "--json", "-"]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["error"] == "loss_and_grads raised ValueError: no"
    assert err == f"validate: {SPEC}: loss_and_grads raised ValueError: no\n"


def test_a_report_whose_folder_vanished_during_the_run_is_exit_2_with_the_reason(judged, capsys, tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    judged.during = folder.rmdir  # checked before the run, gone after it
    assert V.main([SPEC, "--json", str(folder / "report.json")]) == 2
    out, err = capsys.readouterr()
    assert "verdict: PASS" in out
    assert err == f"validate: cannot write {folder / 'report.json'}: No such file or directory\n"


class _ClosedPipe(io.StringIO):
    """A pipe whose reader left (``| head -1``): writes go into the buffer, flushing it fails."""

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("argv", [[], ["--json", "-"]], ids=["tables", "json"])
def test_a_reader_that_leaves_early_gets_no_traceback(judged, monkeypatch, argv):
    """``backprop-validate ... | head -1``: the rest has nowhere to go; stderr is closed so that Python's
    exit says nothing about it, and the exit code is the verdict's (never the validator's own failure)."""
    judged.report = failing()
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    monkeypatch.setattr(sys, "stderr", stderr)
    assert V.main([SPEC, *argv]) == 1
    assert stderr.closed


def test_the_graders_own_warnings_are_quiet(judged, capsys):
    judged.during = lambda: warnings.warn("overflow in the grader's arithmetic", RuntimeWarning, stacklevel=1)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert V.main([SPEC]) == 0
    assert seen == []


def test_a_student_folder_as_the_current_one_leaves_the_path(judged, capsys, tmp_path, monkeypatch):
    """Its ``reference.py`` must never be what the grader imports."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", ["", str(tmp_path), str(ROOT)])
    seen = []
    judged.during = lambda: seen.append(list(sys.path))
    assert V.main([SPEC]) == 0
    assert seen == [[str(ROOT)]]


def test_the_module_runs_as_the_command():
    result = subprocess.run([sys.executable, "-m", "compare.validate", SPEC, "--timeout", "0"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "validate: error: argument --timeout: expected a positive number of seconds, got '0'\n"
