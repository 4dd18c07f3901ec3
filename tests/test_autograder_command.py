"""``backprop-autograder`` in this process, fast: building the zip (every option into its settings,
every refusal before anything is written, the line printed) and ``run`` with the grading of the
student replaced by a ready report (no worker starts): results.json, the line printed, every exit
code. The real zip and real submissions are ``tests/test_autograder.py``'s.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from compare import cli
from compare.grader import autograder
from compare.grader import classrun as CR
from compare.grader.course import points
from compare.grader.course.assignment import preset
from compare.grader.judging.records import Report
from compare.grader.results import gradescope

ROOT = Path(__file__).resolve().parent.parent
OPTIONS = {"timeout": 3.0, "budget": 9.0, "memory_mb": 512, "isolation": "process", "allow_imports": ["scipy"],
           "seed": 4}


@pytest.fixture(autouse=True)
def not_the_command(monkeypatch):
    monkeypatch.setattr(cli, "_startup_handler", None)  # pytest, not the command: return instead of leaving


def members(zip_path: Path) -> dict:
    with zipfile.ZipFile(zip_path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# ----------------------------------------------------------------------------- building the zip
def test_every_option_reaches_the_zips_settings(tmp_path, capsys):
    out = tmp_path / "autograder.zip"
    assert autograder.main(["--preset", "cs231n", "--timeout", "3", "--budget", "9", "--memory", "512",
                            "--isolation", "process", "--allow-import", "scipy", "--seed", "4", "-o", str(out)]) == 0
    inside = members(out)
    assert json.loads(inside["course/options.json"]) == OPTIONS
    (tmp_path / "course").mkdir()
    for name in ("assignment.toml", "options.json"):
        (tmp_path / "course" / name).write_bytes(inside[f"course/{name}"])
    assert gradescope.read_settings(tmp_path / "course") == (preset("cs231n"), OPTIONS)
    source = len(inside) - 4  # setup.sh, run_autograder and the two settings files
    assert source > 20 and "compare/grader/autograder.py" in inside
    out_text, err = capsys.readouterr()
    assert err == ""
    assert out_text == (f"wrote {out} ({preset('cs231n').describe()}): setup.sh, run_autograder, course/ (the "
                        f"assignment and options) and the project's {source} source files; upload it as the "
                        "assignment's autograder (docs/gradescope.md)\n")


def test_setup_names_the_torch_and_torchvision_it_was_built_beside(tmp_path, capsys):
    out = tmp_path / "autograder.zip"
    assert autograder.main(["-o", str(out)]) == 0
    setup = members(out)["setup.sh"].decode()
    built = []
    for name in ("torch", "torchvision"):
        try:
            built.append(f"{name} {metadata.version(name).split('+')[0]}")
        except metadata.PackageNotFoundError:
            pass
    assert built and f"built beside {', '.join(built)};" in setup


def test_the_zip_goes_to_autograder_zip_by_default_and_replaces_an_earlier_one(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "autograder.zip").write_bytes(b"an earlier zip")
    fds = len(os.listdir("/proc/self/fd"))
    assert autograder.main(["--preset", "homework"]) == 0
    assert zipfile.is_zipfile(tmp_path / "autograder.zip") and os.listdir(tmp_path) == ["autograder.zip"]
    assert len(os.listdir("/proc/self/fd")) == fds  # no file left open (the probe of the folder included)


def test_the_command_line_of_the_process_is_read_when_none_is_given(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["backprop-autograder", "-o", str(tmp_path / "a.zip")])
    assert autograder.main() == 0 and zipfile.is_zipfile(tmp_path / "a.zip")


def test_help_says_what_the_command_does(capsys):
    with pytest.raises(SystemExit) as exit_:
        autograder.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: backprop-autograder") and "-o ZIP, --out ZIP" in out
    assert "A Gradescope autograder for a course's backprop homework, in one command." in out


def refused(capsys, argv, line_start, folder):
    before = sorted(os.listdir(folder))
    fds = len(os.listdir("/proc/self/fd"))
    assert autograder.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"autograder: error: {line_start}") and err.count("\n") == 1, err
    assert sorted(os.listdir(folder)) == before  # nothing written, no probe left behind
    assert len(os.listdir("/proc/self/fd")) == fds
    return err


def test_a_folder_as_the_zip_is_refused(tmp_path, capsys):
    refused(capsys, ["-o", str(tmp_path)], f"-o {tmp_path}: is a folder; give the zip's file name", tmp_path)


def test_something_else_than_a_file_as_the_zip_is_refused(tmp_path, capsys):
    os.mkfifo(tmp_path / "pipe.zip")
    refused(capsys, ["-o", str(tmp_path / "pipe.zip")], f"-o {tmp_path / 'pipe.zip'}: exists and is not a regular file",
            tmp_path)


def test_a_zip_in_a_folder_that_does_not_exist_is_refused(tmp_path, capsys):
    out = tmp_path / "no" / "autograder.zip"
    refused(capsys, ["-o", str(out)], f"-o {out}: cannot be written in {out.parent} (No such file or directory)",
            tmp_path)


def test_a_zip_where_nothing_can_be_written_is_refused(tmp_path, capsys):
    if os.geteuid() != 0:
        (tmp_path / "ro").mkdir(mode=0o555)
        out = tmp_path / "ro" / "autograder.zip"
    elif Path("/sys").is_dir():  # root writes anywhere but where the kernel says no
        out = Path("/sys/autograder.zip")
    else:
        pytest.skip("no /sys here")
    refused(capsys, ["-o", str(out)], f"-o {out}: cannot be written in {out.parent} (", tmp_path)


def test_a_refusal_naming_a_very_long_path_is_cut_at_500_characters(tmp_path, capsys):
    out = tmp_path / ("d" * 300) / "autograder.zip"  # a name too long: the line names the path twice
    assert autograder.main(["-o", str(out)]) == 2
    out_text, err = capsys.readouterr()
    assert out_text == "" and err.count("\n") == 1
    message = err.removeprefix("autograder: error: ").removesuffix("\n")
    assert message.startswith(f"-o {out}: cannot be written in ") and len(message) == 500 and message.endswith("…")


@pytest.mark.parametrize("argv, line", [
    (["--memory", "255"], "argument --memory: expected a whole number of MiB ≥ 256, got '255'"),
    (["--allow-import", "os.path"], "--allow-import 'os.path': not a module name"),
    (["--assignment", "{folder}/none.toml"], "cannot read assignment file {folder}/none.toml"),
])
def test_bad_options_are_one_line_and_nothing_is_written(tmp_path, capsys, argv, line):
    argv = [a.replace("{folder}", str(tmp_path)) for a in argv]
    refused(capsys, [*argv, "-o", str(tmp_path / "a.zip")], line.replace("{folder}", str(tmp_path)), tmp_path)


def test_an_assignment_the_zip_cannot_carry_faithfully_is_refused(tmp_path, capsys, monkeypatch):
    def build_bundle(*args, **kwargs):
        raise gradescope.BundleError("the assignment 'x' does not read back equal from its TOML")

    monkeypatch.setattr(gradescope, "build_bundle", build_bundle)
    assert autograder.main(["-o", str(tmp_path / "a.zip")]) == 2
    assert capsys.readouterr() == ("", "autograder: error: the assignment 'x' does not read back equal from its TOML\n")


def test_the_commands_own_failure_while_building_is_exit_3(tmp_path, capsys, monkeypatch):
    def build_bundle(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gradescope, "build_bundle", build_bundle)
    assert autograder.main(["-o", str(tmp_path / "a.zip")]) == 3
    assert capsys.readouterr() == ("", "autograder: internal error: OSError: [Errno 28] No space left on device\n")


# ----------------------------------------------------------------------------- run, in Gradescope's container
def report(kind: str) -> Report:
    if kind == "pass":
        graded = Report(target="submission/mlp.py:make_mlp", isolation="process")
    else:
        graded = Report(target="submission/mlp.py:make_mlp", error="it raised ValueError", error_kind="raised")
    graded.score = points.Score(7.0 if kind == "pass" else 0.0, 7.0)
    return graded


@pytest.fixture
def container(tmp_path, monkeypatch):
    """$AUTOGRADER_ROOT as Gradescope lays it out: the bundle's settings in source/course/, the
    student's files in submission/. Grading a student answers ``container.report`` at once."""
    root = tmp_path / "autograder"
    settings = root / "source" / "course"
    settings.mkdir(parents=True)
    (settings / "assignment.toml").write_text(gradescope.assignment_toml(preset("cs231n")))
    (settings / "options.json").write_text(json.dumps(OPTIONS))
    (root / "submission").mkdir()
    (root / "submission" / "mlp.py").write_text("def make_mlp(sizes, activation):\n    return None\n")
    monkeypatch.setenv("AUTOGRADER_ROOT", str(root))
    state = type("Container", (), {})()
    state.root, state.report, state.calls = root, report("pass"), []

    def grade_student(student, assignment, grading, seed):
        import torch

        state.calls.append({"student": (student.name, student.path), "assignment": assignment, "grading": grading,
                            "seed": seed, "threads": torch.get_num_threads(), "path": list(sys.path)})
        warnings.warn("overflow in the grader's arithmetic", RuntimeWarning, stacklevel=1)
        return state.report

    monkeypatch.setattr(CR, "grade_student", grade_student)
    monkeypatch.setattr(CR, "isolation_level", lambda asked: ("process", f"no bubblewrap here (asked: {asked})"))
    return state


def results_of(root: Path) -> dict:
    return json.loads((root / "results" / "results.json").read_text())


def test_a_submission_is_graded_with_the_bundles_settings(container, capsys):
    import torch

    threads = torch.get_num_threads()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert autograder.main(["run"]) == 0
    assert seen == []  # the grader's own warnings are quiet
    [call] = container.calls
    assert call["student"] == ("submission", container.root / "submission")
    assert (call["assignment"], call["seed"], call["threads"]) == (preset("cs231n"), 4, 1)
    assert call["grading"] == CR.grading_options(preset("cs231n"), timeout=3.0, budget=9.0, memory_mb=512,
                                                 isolation="process", allow_imports=["scipy"])
    results = results_of(container.root)
    assert (results["score"], results["extra_data"]["status"], results["extra_data"]["max_score"]) == (7.0, "pass", 7.0)
    assert "no bubblewrap here (asked: process)" in results["output"]
    assert 0 <= results["execution_time"] < 600
    out, err = capsys.readouterr()
    path = container.root / "results" / "results.json"
    assert err == "" and out.startswith(f"{path}: score 7 of 7, pass in ") and out.endswith(" s\n")
    torch.set_num_threads(threads)


def test_a_students_error_is_a_score_of_0_and_exit_0(container, capsys):
    container.report = report("error")
    assert autograder.main(["run"]) == 0
    results = results_of(container.root)
    assert (results["score"], results["extra_data"]["status"]) == (0, "error")
    assert capsys.readouterr().out.startswith(f"{container.root / 'results' / 'results.json'}: score 0 of 7, error in ")


def test_the_settings_may_be_elsewhere(container, capsys, tmp_path):
    os.rename(container.root / "source" / "course", tmp_path / "settings")
    assert autograder.main(["run", "--settings", str(tmp_path / "settings")]) == 0
    assert container.calls[0]["assignment"] == preset("cs231n")


def test_the_student_folder_leaves_the_path(container, capsys, monkeypatch):
    monkeypatch.chdir(container.root / "submission")
    monkeypatch.setattr(sys, "path", ["", str(container.root / "submission"), str(ROOT)])
    assert autograder.main(["run"]) == 0
    assert container.calls[0]["path"] == [str(ROOT)]


@pytest.mark.parametrize("where", ["missing", "a link"])
def test_no_submission_folder_is_the_graders_failure_with_results_and_exit_3(container, capsys, tmp_path, where):
    folder = container.root / "submission"
    os.rename(folder, tmp_path / "elsewhere")
    if where == "a link":
        folder.symlink_to(tmp_path / "elsewhere")
    assert autograder.main(["run"]) == 3
    results = results_of(container.root)
    assert (results["score"], results["tests"], results["extra_data"]) == (0.0, [], {"status": "internal"})
    assert f"no submission folder at {folder}" in results["output"] and 0 <= results["execution_time"] < 600
    out, err = capsys.readouterr()
    assert err == ("autograder: internal error (not a verdict on the submission): FileNotFoundError: no submission "
                   f"folder at {folder} (Gradescope puts the student's files there)\n")
    assert out.startswith(f"{container.root / 'results' / 'results.json'}: score 0 in ") and " of " not in out
    assert container.calls == []


def test_results_that_cannot_be_written_are_exit_3_and_said(container, capsys):
    (container.root / "results").write_text("a file where the folder goes")
    assert autograder.main(["run"]) == 3
    assert capsys.readouterr() == ("", f"autograder: internal error: cannot write "
                                       f"{container.root / 'results' / 'results.json'} (File exists)\n")


def test_run_with_a_bad_flag_is_one_line_and_exit_2(container, capsys):
    assert autograder.main(["run", "--nope"]) == 2
    assert capsys.readouterr() == ("", "autograder: error: unrecognized arguments: --nope\n")
    assert not (container.root / "results").exists() and container.calls == []


def test_run_reads_the_command_line_of_the_process(container, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["python -m compare.grader.autograder", "run"])
    assert autograder.main() == 0 and len(container.calls) == 1


def test_the_module_runs_as_the_command(tmp_path):
    import subprocess

    result = subprocess.run([sys.executable, "-m", "compare.grader.autograder", "run", "--nope"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "autograder: error: unrecognized arguments: --nope\n"
