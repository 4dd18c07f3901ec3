"""backprop-grade's class run (``compare.grader.classrun``) and command line (``compare.grade``), fast:
``grade_student`` is replaced by ready reports (no worker runs), so what is checked is the run around
it: the rows of grades.csv, the feedback files, the internal rows, the lines printed, every exit code,
Ctrl-C, --shard and --merge."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

from compare import grade as G
from compare.grader import classrun as CR
from compare.grader.course import points
from compare.grader.course.assignment import Assignment
from compare.grader.judging import battery
from compare.grader.judging.records import Report
from compare.grader.results import summary
from compare.grader.submissions.classfolder import OUTPUT_MARKER
from compare.grader.workers import isolation


def case(passed=True):
    return SimpleNamespace(passed=passed, harmless="", agrees=passed)


def verdict(kind: str, target: str = "t.py", cases=()) -> Report:
    """A report as a worker would end: pass, fail or error, with the isolation it ran at."""
    if kind == "pass":
        report = Report(target=target, cases=list(cases), isolation="bubblewrap")
    elif kind == "fail":
        report = Report(target=target, cases=list(cases), conventions=["=HYPERLINK(x)"], isolation="process")
    else:
        report = Report(target=target, error="it raised ValueError", error_kind="raised", isolation="bubblewrap")
    report.score = points.Score(1.0 if kind == "pass" else 0.5 if kind == "fail" else 0.0, 1.0)
    return report


@pytest.fixture
def graded(monkeypatch):
    """Students graded by name: 'p…' pass, 'f…' fail, 'e…' error, 'i…' the grader fails, 'z…' Ctrl-C,
    'w…' passes with a RuntimeWarning, 'ps…' passes in 0.05 s at least.
    summary.png is not drawn (``test_summary`` looks at it): an empty file stands for it."""
    seen = []

    def grade_student(student, assignment, options, seed=0):
        seen.append((student.name, options, seed))
        first = student.name[0]
        if first == "i":
            raise ValueError(f"no luck with \x1b{student.name}")
        if first == "z":
            raise KeyboardInterrupt
        if student.name.startswith("ps"):  # slow: 0.05 s at least
            time.sleep(0.05)
        if first == "w":
            warnings.warn("overflow in the grader's arithmetic", RuntimeWarning, stacklevel=1)
        return verdict({"p": "pass", "f": "fail", "e": "error", "w": "pass"}[first], student.name)

    monkeypatch.setattr(CR, "grade_student", grade_student)
    monkeypatch.setattr(battery, "reference", lambda case: None)  # the class's reference cache: not needed here
    monkeypatch.setattr(summary, "plot_summary", lambda rows, diagnoses, scores, path, title: path.write_bytes(b""))
    monkeypatch.setattr(isolation, "choose_level", lambda asked: "bubblewrap" if asked != "process" else "process")
    return seen


def make_class(folder, *names):
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / f"{name}.py").write_text("def make_mlp(sizes, activation):\n    return None\n")
    return folder


def rows_of(out):
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def run(capsys, *argv):
    code = G.main([*map(str, argv), "--no-progress"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ----------------------------------------------------------------------------- rows
def test_a_report_is_one_row():
    student = SimpleNamespace(name="amy")
    row = CR.Graded(student, verdict("fail", cases=[case(), case(False)]), seconds=1.234).row("amy-1234")
    assert row == {"student": "amy", "status": "fail", "exit_code": 1, "cases_passed": 1, "cases_total": 2,
                   "seconds": "1.23", "summary": "right backprop, other conventions: =HYPERLINK(x)",
                   "feedback": "amy-1234", "score": "0.5", "max_score": "1"}
    assert list(row) == list(CR.CSV_COLUMNS)
    assert CR.Graded(student, verdict("fail")).status == "fail"


def test_a_report_without_points_has_empty_score_cells_and_a_summary_cut_to_300():
    report = Report(target="t", error="x" * 400, error_kind="raised")
    row = CR.Graded(SimpleNamespace(name="amy"), report).row("amy")
    assert (row["score"], row["max_score"], row["exit_code"], row["status"]) == ("", "", 2, "error")
    assert row["summary"] == "x" * 299 + "…" and row["seconds"] == "0.00"
    score = points.Score(12.34567, 20.0)
    row = CR.Graded(SimpleNamespace(name="amy"), Report(target="t", score=score)).row("amy")
    assert (row["score"], row["max_score"]) == ("12.35", "20")


def test_the_graders_failure_is_an_internal_row_never_a_verdict():
    graded = CR.Graded(SimpleNamespace(name="bob"), None, internal="TypeError: boom", seconds=2)
    assert graded.status == "internal"
    assert graded.row("bob") == {"student": "bob", "status": "internal", "exit_code": 3, "cases_passed": 0,
                                 "cases_total": 0, "seconds": "2.00", "summary": "the grader failed on this "
                                 "submission (not a verdict): TypeError: boom", "feedback": "bob", "score": "",
                                 "max_score": ""}


def test_every_student_gets_the_same_limits_and_the_imports_of_both():
    options = CR.grading_options(Assignment(allow_imports=("scipy",)), timeout=3, budget=5.5, memory_mb=512,
                                isolation="process", allow_imports=("numba", "scipy"))
    assert options["allow_imports"] == ("scipy", "numba")
    assert (options["timeout"], options["budget"], options["isolation"]) == (3, 5.5, "process")
    assert options["limits"] == isolation.Limits(memory_mb=512, cpu_seconds=40)  # 5.5 s + 35 s to load, whole
    default = CR.grading_options(Assignment())
    assert default["limits"] == isolation.Limits(memory_mb=2048, cpu_seconds=60) and default["allow_imports"] == ()
    assert (default["timeout"], default["budget"], default["isolation"]) == (10.0, 25.0, "auto")


def test_a_students_own_error_is_their_report_with_its_score(tmp_path):
    from compare.grader.submissions import classfolder

    (tmp_path / "amy.py").symlink_to("/etc/hostname")
    (student,) = classfolder.scan(tmp_path).students
    student.notes.append("a\x1bnote")
    report = CR.grade_student(student, Assignment(), CR.grading_options(Assignment()))
    assert (report.target, report.error_kind, report.exit_code) == ("amy", "load", 2)
    assert report.error.startswith("amy.py is a symbolic link") and report.notes == ["a note"]
    assert report.assignment == Assignment().describe()
    assert report.score.score == 0 and report.score.max_score == 9


def test_a_submission_is_validated_with_the_runs_options_and_seed(tmp_path, monkeypatch):
    from compare.grader import validation
    from compare.grader.submissions import classfolder

    make_class(tmp_path, "amy")
    calls = []

    def validate(submission, assignment, options, seed, start):
        calls.append((submission.spec, options, seed))
        return Report(target=submission.spec)

    monkeypatch.setattr(validation, "judge", validate)
    (student,) = classfolder.scan(tmp_path).students
    options = CR.grading_options(Assignment())
    report = CR.grade_student(student, Assignment(), options, seed=3)
    assert calls == [("amy.py:make_mlp", options, 3)]
    assert report.score.max_score == 9 and report.score.score == 0  # no case ran: none scores
    (student,) = classfolder.scan(tmp_path).students
    CR.grade_student(student, Assignment(), options)
    assert calls[-1][2] == 0


@pytest.mark.parametrize("length", [1000, 1001])
def test_a_students_error_is_said_in_1000_characters_and_a_note_in_300(tmp_path, length):
    from compare.grader.sandbox.errors import StudentError
    from compare.grader.submissions.classfolder import Student

    student = Student("amy", tmp_path / "amy.py", problem=StudentError("load", "x" * length),
                      notes=["n" * (length - 700)])
    report = CR.grade_student(student, Assignment(), CR.grading_options(Assignment()))
    assert report.error == ("x" * 1000 if length == 1000 else "x" * 999 + "…")
    assert report.notes == ["n" * 300 if length == 1000 else "n" * 299 + "…"]


# ----------------------------------------------------------------------------- a class run
def test_a_class_run_writes_one_row_and_feedback_per_student(tmp_path, capsys, graded):
    folder = make_class(tmp_path / "class", "pam", "fay", "eve", "a b")
    (folder / "a b.py").rename(folder / "pa b.py")
    out = tmp_path / "out"
    code, stdout, stderr = run(capsys, folder, "--out", out, "--jobs", "3", "--seed", "4", "--memory", "300")
    assert code == 0, stderr
    rows = rows_of(out)
    assert [(r["student"], r["status"], r["exit_code"]) for r in rows] == [
        ("eve", "error", "2"), ("fay", "fail", "1"), ("pa b", "pass", "0"), ("pam", "pass", "0")]
    assert rows[1]["summary"] == "right backprop, other conventions: =HYPERLINK(x)"
    stem = rows[2]["feedback"]
    assert stem.startswith("pa_b-") and rows[3]["feedback"] == "pam"
    feedback = json.loads((out / f"{stem}.json").read_text())
    assert list(feedback)[:2] == ["student", "target"] and feedback["student"] == "pa b"
    assert feedback["exit_code"] == 0 and feedback["score"]["score"] == 1 and feedback["elapsed_s"] >= 0
    assert (out / f"{stem}.md").read_text().startswith("# pa b: pass\n")
    assert sorted(os.listdir(out)) == sorted([OUTPUT_MARKER, "grades.csv", "summary.json", "summary.png", "eve.md",
                                              "eve.json", "fay.md", "fay.json", f"{stem}.md", f"{stem}.json",
                                              "pam.md", "pam.json"])
    assert {seed for _, _, seed in graded} == {4} and graded[0][1]["limits"].memory_mb == 300
    summary = json.loads((out / "summary.json").read_text())
    assert summary["isolation"] == "bubblewrap" and summary["jobs"] == 3 and summary["shard"] is None
    assert summary["counts"] == {"pass": 2, "fail": 1, "error": 1, "internal": 0}
    assert summary["interrupted"] is False
    assert stdout.startswith("4 submissions: 2 pass, 1 fail, 1 error in ")
    assert stdout.rstrip().endswith(f"s; {out / 'grades.csv'}, {out / 'summary.png'}, one feedback file per student "
                                    "(grades.csv's feedback column)")
    assert "internal" not in stdout and stdout.count("\n") == 1
    assert stderr.startswith(f"grading {folder.resolve()} (") and f"into {out.resolve()}\n" in stderr
    assert "warning" not in stderr and "not graded" not in stderr and "%|" not in stderr
    assert stderr.count("\n") == 1
    assert all(0 <= float(r["seconds"]) < 60 for r in rows)
    assert (out / f"{stem}.json").read_text().startswith('{\n  "student": "pa b",\n  "target"')


def test_the_isolation_most_students_ran_at_is_the_runs(tmp_path, capsys, graded):
    folder = make_class(tmp_path / "class", "fa", "fb", "pc")
    assert run(capsys, folder, "--out", tmp_path / "out")[0] == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["isolation"] == "process" and summary["jobs"] == 2  # the default


def test_grades_csv_ends_sorted_by_student_and_times_each(tmp_path, capsys, graded):
    folder = make_class(tmp_path / "class", "pa", "pa b", "psl")  # graded in the order pa b, pa, psl
    assert run(capsys, folder, "--out", tmp_path / "out", "--jobs", "1")[0] == 0
    rows = rows_of(tmp_path / "out")
    assert [r["student"] for r in rows] == ["pa", "pa b", "psl"]
    assert float(rows[2]["seconds"]) >= 0.05
    assert json.loads((tmp_path / "out" / "psl.json").read_text())["elapsed_s"] >= 0.05


def test_the_graders_own_warnings_are_quiet(tmp_path, capsys, graded):
    folder = make_class(tmp_path / "class", "wa")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run(capsys, folder, "--out", tmp_path / "out")[0] == 0
    assert caught == []


def test_a_student_folder_on_the_path_is_dropped_before_grading(tmp_path, capsys, graded, monkeypatch):
    folder = make_class(tmp_path / "class", "pa")
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", ["", str(folder), *sys.path])
    assert run(capsys, folder, "--out", tmp_path / "out")[0] == 0
    assert "" not in sys.path and str(folder) not in sys.path


def test_grade_defaults(tmp_path, capsys, graded):
    folder = make_class(tmp_path / "class", "pa")
    import torch

    torch.set_num_threads(2)
    run = CR.grade(folder, tmp_path / "out", Assignment())
    assert torch.get_num_threads() == 1  # students run in parallel: one thread each in the grader
    ((name, options, seed),) = graded
    assert (options["timeout"], options["budget"], options["limits"].memory_mb, options["isolation"], seed) == (
        10.0, 25.0, 2048, "auto", 0)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["jobs"] == 2
    err = capsys.readouterr().err
    assert "grading: 100%" in err and "1/1" in err and "pa: pass" in err  # the progress bar
    assert run.rows[0]["student"] == "pa"


def test_an_empty_class_ends_with_empty_outputs(tmp_path, capsys, graded):
    folder = make_class(tmp_path / "class")
    code, stdout, _ = run(capsys, folder, "--out", tmp_path / "out")
    assert code == 0 and stdout.startswith("0 submissions: 0 pass, 0 fail, 0 error in ")
    assert rows_of(tmp_path / "out") == []
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["isolation"] == ""


def test_the_graders_failure_on_students_is_their_rows_and_exit_3(tmp_path, capsys, graded):
    folder = make_class(tmp_path / "class", "pam", "ia", "ib", "ic", "id", "ie")
    code, stdout, stderr = run(capsys, folder, "--out", tmp_path / "out", "--jobs", "1")
    assert code == 3
    rows = {r["student"]: r for r in rows_of(tmp_path / "out")}
    assert rows["pam"]["status"] == "pass" and rows["ia"]["status"] == "internal"
    assert rows["ia"]["summary"] == "the grader failed on this submission (not a verdict): ValueError: no luck with ia"
    assert not (tmp_path / "out" / "ia.md").exists()
    assert "6 submissions: 1 pass, 0 fail, 0 error, 5 internal in " in stdout
    assert stderr.splitlines()[-1] == ("grade: internal error on 5 student(s): ia (ValueError: no luck with ia), ib "
                                       "(ValueError: no luck with ib), ic (ValueError: no luck with ic) and 2 more; "
                                       "their rows say 'internal' (not a verdict), every other row stands")


def test_four_internal_rows_name_three_and_one_more(tmp_path, capsys, graded):
    folder = make_class(tmp_path / "class", "ia", "ib", "ic", "id")
    code, _, stderr = run(capsys, folder, "--out", tmp_path / "out")
    assert code == 3 and "ic (ValueError: no luck with ic) and 1 more; their rows" in stderr


def test_three_internal_rows_are_all_named(tmp_path, capsys, graded):
    folder = make_class(tmp_path / "class", "ia", "ib", "ic")
    code, _, stderr = run(capsys, folder, "--out", tmp_path / "out")
    assert code == 3 and "ic (ValueError: no luck with ic); their rows" in stderr and "more" not in stderr


def test_feedback_that_cannot_be_written_is_an_internal_row(tmp_path, capsys, graded, monkeypatch):
    from compare.grader.results import report

    def broken(report, student):
        raise OSError(f"disk full \x1b{student}")

    monkeypatch.setattr(report, "format_markdown", broken)
    folder = make_class(tmp_path / "class", "pam")
    assert run(capsys, folder, "--out", tmp_path / "out")[0] == 3
    (row,) = rows_of(tmp_path / "out")
    assert row["status"] == "internal" and row["summary"] == ("the grader failed on this submission (not a verdict): "
                                                              "writing its feedback failed: OSError: disk full pam")


def test_the_entries_not_graded_are_listed_five_at_most(tmp_path, capsys, graded):
    folder = make_class(tmp_path / "class", "pam")
    for i in range(7):
        (folder / f"n{i}.txt").write_text("x")
    _, _, stderr = run(capsys, folder, "--out", tmp_path / "out")
    why = "not a .py, .ipynb or folder"
    assert (f"not graded: n0.txt ({why}); n1.txt ({why}); n2.txt ({why}); n3.txt ({why}); n4.txt ({why}); +2 more "
            "(listed in summary.json)\n") in stderr
    (folder / "n6.txt").unlink()
    _, _, stderr = run(capsys, folder, "--out", tmp_path / "out")
    assert f"n4.txt ({why}); +1 more (listed in summary.json)\n" in stderr
    (folder / "n5.txt").unlink()
    _, _, stderr = run(capsys, folder, "--out", tmp_path / "out")
    assert f"n4.txt ({why}) (listed in summary.json)\n" in stderr


def test_a_rerun_says_how_many_files_it_replaced(tmp_path, capsys, graded):
    folder = make_class(tmp_path / "class", "pam")
    run(capsys, folder, "--out", tmp_path / "out")
    code, _, stderr = run(capsys, folder, "--out", tmp_path / "out")
    assert code == 0 and " (replacing an earlier run's 5 files)\n" in stderr
    assert sorted(os.listdir(tmp_path / "out")) == sorted([OUTPUT_MARKER, "grades.csv", "summary.json",
                                                           "summary.png", "pam.md", "pam.json"])


def test_ctrl_c_keeps_the_rows_graded_and_exits_130(tmp_path, capsys, graded, monkeypatch):
    folder = make_class(tmp_path / "class", "pa", "pb", "zc", "zd")
    real, on_disk = CR.grade_student, []

    def grade_student(student, *args):
        if student.name == "zc":  # pa and pb are done: their rows must be on disk already
            on_disk.append([r["student"] for r in rows_of(tmp_path / "out")])
        return real(student, *args)

    monkeypatch.setattr(CR, "grade_student", grade_student)
    code, _, stderr = run(capsys, folder, "--out", tmp_path / "out", "--jobs", "1")
    assert code == 130 and on_disk == [["pa", "pb"]]
    assert [r["student"] for r in rows_of(tmp_path / "out")] == ["pa", "pb"]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["n_students"] == 2
    assert [name for name, _, _ in graded][:3] == ["pa", "pb", "zc"]  # (zd may have started: it is Ctrl-C too)


def test_sigterm_ends_a_class_run_as_ctrl_c_does_with_its_rows_kept(tmp_path, capsys, graded, monkeypatch):
    """``timeout``, a job scheduler's limit or ``kill``: the rows graded so far and the summary are written,
    one line says which signal, exit 143 (128 + SIGTERM)."""
    import signal

    real = CR.as_completed

    def as_completed(futures):
        for future in real(futures):
            yield future
            os.kill(os.getpid(), signal.SIGTERM)  # after the first student's row, in the grader's main thread
            for _ in range(1000):  # bytecodes after the signal: Python runs its handler here
                pass

    monkeypatch.setattr(CR, "as_completed", as_completed)
    code, _, err = run(capsys, make_class(tmp_path / "class", "pa", "pb", "pc"), "--out", tmp_path / "out",
                       "--jobs", "1")
    assert code == 143 and err.splitlines()[-1] == "grade: interrupted (SIGTERM)", err
    assert rows_of(tmp_path / "out")[0]["student"] == "pa"  # (the others may have been graded before the stop)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["interrupted"] is True
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the caller's handler back


@pytest.fixture
def ctrl_c(monkeypatch):
    """``ctrl_c()`` from a student's grading: Ctrl-C in the grader's main thread, where it waits for
    its students (a KeyboardInterrupt raised there, as Python raises it; no signal, so no race);
    ``ctrl_c.run(...)`` is ``grade(...)``, expected to end by that KeyboardInterrupt."""
    import threading

    pressed = threading.Event()

    def as_completed(futures):
        assert pressed.wait(60)
        raise KeyboardInterrupt
        yield  # a generator, as concurrent.futures.as_completed

    def run(*args, **kwargs):
        with pytest.raises(KeyboardInterrupt):
            CR.grade(*args, **kwargs)

    monkeypatch.setattr(CR, "as_completed", as_completed)
    def press():
        pressed.set()

    press.run = run
    return press


def test_a_student_being_graded_is_killed_by_the_stop_and_gets_no_row(tmp_path, graded, monkeypatch, ctrl_c):
    """Ctrl-C while pam is graded (one job): the queued pbob is dropped, pam's worker is killed at once
    (her grading returns only then, as a killed worker's does), and what it returns is no verdict."""
    import threading

    killed, released = threading.Event(), []

    def grade_student(student, assignment, options, seed=0):
        graded.append((student.name, options, seed))
        ctrl_c()
        released.append(killed.wait(60))  # True: released by the stop's kill, not by the end of the wait
        return verdict("pass", student.name)

    def wait(futures, timeout):
        waited.append(real_wait(futures, timeout))
        return waited[-1]

    waited, real_wait = [], CR.wait
    monkeypatch.setattr(CR, "grade_student", grade_student)
    monkeypatch.setattr(isolation, "kill_all", killed.set)
    monkeypatch.setattr(CR, "wait", wait)
    ctrl_c.run(make_class(tmp_path / "class", "pam", "pbob"), tmp_path / "out", Assignment(), jobs=1, progress=False)
    assert released == [True] and [name for name, _, _ in graded] == ["pam"]
    ((done, not_done),) = waited  # the stop waited for pam's grading to return, and it did: not for its 30 s
    assert len(done) == 1 and not_done == set()
    assert rows_of(tmp_path / "out") == [] and not (tmp_path / "out" / "pam.md").exists()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["n_students"] == 0


def test_a_student_whose_turn_comes_after_the_stop_is_not_graded(tmp_path, graded, monkeypatch, ctrl_c):
    """Ctrl-C while pam is graded (one job); pbob's turn comes after the stop but before the queue is
    dropped (the pool is held at that moment until it is over: no race): pbob is not graded, and
    pam's grading, cut short, leaves no row."""
    import threading

    stopped, futures = threading.Event(), []

    def grade_student(student, assignment, options, seed=0):
        graded.append((student.name, options, seed))
        if student.name == "pam":
            ctrl_c()
            stopped.wait(60)
        return verdict("pass", student.name)

    class HeldPool(CR.ThreadPoolExecutor):
        def submit(self, *args, **kwargs):
            futures.append(super().submit(*args, **kwargs))
            return futures[-1]

        def shutdown(self, wait=True, *, cancel_futures=False):
            if cancel_futures:  # the stop: pam's grading returns now, then pbob's turn comes, before any cancel
                stopped.set()
                futures[1].result(timeout=60)
            super().shutdown(wait=wait, cancel_futures=cancel_futures)

    monkeypatch.setattr(CR, "grade_student", grade_student)
    monkeypatch.setattr(CR, "ThreadPoolExecutor", HeldPool)
    ctrl_c.run(make_class(tmp_path / "class", "pam", "pbob"), tmp_path / "out", Assignment(), jobs=1, progress=False)
    assert [name for name, _, _ in graded] == ["pam"] and futures[1].result() is None
    assert rows_of(tmp_path / "out") == [] and not (tmp_path / "out" / "pam.md").exists()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["n_students"] == 0


def test_ctrl_c_while_the_students_are_queued_still_ends_with_the_summary(tmp_path, graded, monkeypatch):
    import signal
    import threading

    stopped, submitted = threading.Event(), []

    def grade_student(student, assignment, options, seed=0):
        graded.append((student.name, options, seed))
        stopped.wait(60)  # still being graded when the stop comes
        return verdict("pass", student.name)

    class InterruptedPool(CR.ThreadPoolExecutor):
        def submit(self, *args, **kwargs):
            submitted.append(super().submit(*args, **kwargs))
            if len(submitted) == 2:  # Ctrl-C while the class is being queued
                signal.raise_signal(signal.SIGINT)
            return submitted[-1]

        def shutdown(self, wait=True, *, cancel_futures=False):
            stopped.set()
            super().shutdown(wait=wait, cancel_futures=cancel_futures)

    monkeypatch.setattr(CR, "grade_student", grade_student)
    monkeypatch.setattr(CR, "ThreadPoolExecutor", InterruptedPool)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            CR.grade(make_class(tmp_path / "class", "pam", "pbob", "pcy"), tmp_path / "out", Assignment(), jobs=1,
                     progress=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert len(submitted) == 2 and [name for name, _, _ in graded] == ["pam"]  # pcy was never queued
    assert rows_of(tmp_path / "out") == []
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["n_students"] == 0


def test_ctrl_c_from_grade_itself_is_raised_after_the_outputs(tmp_path, graded):
    folder = make_class(tmp_path / "class", "pa", "zb")
    with pytest.raises(KeyboardInterrupt):
        CR.grade(folder, tmp_path / "out", Assignment(), jobs=1, progress=False)
    assert (tmp_path / "out" / "summary.png").is_file()


def test_grade_claims_its_folder_when_not_given_one(tmp_path, graded):
    folder = make_class(tmp_path / "class", "pa")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("x")
    from compare.grader.results.outputs import OutputError

    with pytest.raises(OutputError):
        CR.grade(folder, tmp_path / "out", Assignment(), progress=False)
    run = CR.grade(folder, tmp_path / "fresh", Assignment(), progress=False)
    assert [g.student.name for g in run.graded] == ["pa"] and run.rows[0]["status"] == "pass"
    assert run.isolation == "bubblewrap" and run.internal == [] and run.interrupted is False


# ----------------------------------------------------------------------------- usage errors: exit 2, one line
def test_help_says_what_the_command_does(capsys):
    with pytest.raises(SystemExit) as done:
        G.build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and out.startswith("usage: backprop-grade ")
    assert ("Grade a whole class: every submission in a folder, each isolated, one row and feedback per student. "
            "positional arguments:") in " ".join(out.split())


def test_the_module_runs_as_the_command(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(G.__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-m", "compare.grade"], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120)
    assert (done.returncode, done.stderr) == (2, "grade: error: the folder of submissions is missing (or --merge "
                                                 "OUT_1 … OUT_N)\n")


def test_a_usage_error_names_the_value_printable(tmp_path, capsys, graded):
    code, _, stderr = run(capsys, tmp_path / "a\x1b[2Jb", "--out", tmp_path / "out")
    assert (code, stderr) == (2, f"grade: error: {tmp_path}/a [2Jb: no such folder of submissions\n")
    folder = make_class(tmp_path / "class", "pa")
    shard = tmp_path / "s\x1b[2J1"
    run(capsys, folder, "--out", shard, "--shard", "1/1")
    code, _, stderr = run(capsys, "--merge", shard, "--out", shard)
    assert (code, stderr) == (2, f"grade: error: --out {tmp_path}/s [2J1 is one of the shards: merge into a new folder\n")


def test_a_merge_into_a_path_too_long_is_a_usage_error(tmp_path, capsys, graded):
    folder = make_class(tmp_path / "class", "pa")
    run(capsys, folder, "--out", tmp_path / "s1", "--shard", "1/1")
    too_long = tmp_path / ("x" * 300)  # a name longer than the 255 bytes a folder may hold
    code, _, stderr = run(capsys, "--merge", tmp_path / "s1", "--out", too_long)
    assert code == 2, stderr
    assert stderr.startswith("grade: error: --out ") and "cannot be created or listed (File name too long)" in stderr


def test_a_bad_assignment_is_a_usage_error(tmp_path, capsys, graded):
    course = tmp_path / "course.toml"
    course.write_text("total = 0\n")
    code, _, stderr = run(capsys, make_class(tmp_path / "class"), "--out", tmp_path / "out", "--assignment", course)
    assert (code, stderr) == (2, f"grade: error: {course}: total = 0 must be a positive number\n")


def test_a_merge_into_a_file_is_a_usage_error(tmp_path, capsys, graded):
    folder = make_class(tmp_path / "class", "pa")
    run(capsys, folder, "--out", tmp_path / "s1", "--shard", "1/1")
    (tmp_path / "file").write_text("x")
    code, _, stderr = run(capsys, "--merge", tmp_path / "s1", "--out", tmp_path / "file")
    assert (code, stderr) == (2, f"grade: error: --out {tmp_path / 'file'}: exists and is not a folder\n")


@pytest.mark.parametrize("argv, line", [
    ([], "grade: error: the folder of submissions is missing (or --merge OUT_1 … OUT_N)"),
    (["{tmp}/absent"], "grade: error: {tmp}/absent: no such folder of submissions"),
    (["{tmp}/class", "--shard", "0/2"], "grade: error: --shard '0/2': expected I/N with 1 ≤ I ≤ N"),
    (["{tmp}/class", "--jobs", "0"], "grade: error: argument --jobs: expected a whole number ≥ 1, got '0'"),
    (["{tmp}/class", "--out", "{tmp}/class/amy.py"], "grade: error: --out {tmp}/class/amy.py: exists and is not a "
                                                     "folder"),
    (["--merge", "{tmp}/a", "--shard", "1/2"], "grade: error: --merge takes the shards' output folders only (no class "
                                               "folder, no --shard)"),
    (["{tmp}/class", "--merge", "{tmp}/a"], "grade: error: --merge takes the shards' output folders only (no class "
                                            "folder, no --shard)"),
    (["--merge", "{tmp}/a"], "grade: error: --merge {tmp}/a: not the output folder of a grading run (no "
                             "summary.json)"),
])
def test_a_usage_error_is_one_line_and_exit_2(tmp_path, capsys, graded, argv, line):
    make_class(tmp_path / "class", "amy")
    code, stdout, stderr = run(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert (code, stdout, stderr) == (2, "", line.format(tmp=tmp_path) + "\n")
    assert not (tmp_path / "grades").exists() and graded == []


@pytest.mark.parametrize("extra", [0, 1, 200])
def test_a_usage_error_is_cut_at_500_characters(tmp_path, capsys, graded, extra):
    """A path the user pasted by mistake (a whole file's text): the line stays one line of 500 characters,
    and a name too long for the system is no such folder, not the grader's failure."""
    suffix = ": no such folder of submissions"
    folder = "x" * (500 - len(suffix)) + "y" * extra  # the message: 500, 501 or 700 characters
    code, stdout, stderr = run(capsys, folder, "--out", tmp_path / "out")
    message = stderr.removeprefix("grade: error: ").removesuffix("\n")
    assert (code, stdout, stderr.count("\n")) == (2, "", 1)
    if extra == 0:
        assert message == folder + suffix
    else:
        assert len(message) == 500 and message.endswith("…") and message.startswith("x" * 400)


def test_a_class_folder_that_cannot_be_read_is_a_usage_error(tmp_path, capsys, graded, monkeypatch):
    make_class(tmp_path / "class", "amy")
    monkeypatch.setattr(G.os, "access", lambda path, mode: mode != os.R_OK | os.X_OK)
    code, _, stderr = run(capsys, tmp_path / "class", "--out", tmp_path / "out")
    assert (code, stderr) == (2, f"grade: error: {tmp_path / 'class'}: the folder of submissions cannot be read\n")


def test_bubblewrap_where_there_is_none_is_a_usage_error(tmp_path, capsys, monkeypatch):
    def refuse(asked):
        raise isolation.IsolationUnavailable("bubblewrap cannot run here (a test)")

    monkeypatch.setattr(isolation, "choose_level", refuse)
    code, _, stderr = run(capsys, make_class(tmp_path / "class"), "--out", tmp_path / "out", "--isolation", "bubblewrap")
    assert (code, stderr) == (2, "grade: error: bubblewrap cannot run here (a test)\n")
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- isolation said
def test_auto_that_falls_back_says_why(monkeypatch):
    monkeypatch.setattr(isolation, "choose_level", lambda asked: isolation.PROCESS)
    monkeypatch.setattr(isolation, "fallback_reason", lambda: "no user namespaces")
    level, warning = CR.isolation_level("auto")
    assert level == "process" and warning.startswith("bubblewrap is not available (no user namespaces): students run "
                                                     "at the process level only (resource limits")
    monkeypatch.setattr(isolation, "fallback_reason", lambda: None)
    assert "(bwrap cannot run here)" in CR.isolation_level("auto")[1]
    assert CR.isolation_level("process") == ("process", None)
    monkeypatch.setattr(isolation, "choose_level", lambda asked: isolation.BUBBLEWRAP)
    assert CR.isolation_level("auto") == ("bubblewrap", None)


def test_the_fallback_warning_is_printed(tmp_path, capsys, graded, monkeypatch):
    monkeypatch.setattr(isolation, "choose_level", lambda asked: isolation.PROCESS)
    monkeypatch.setattr(isolation, "fallback_reason", lambda: "a test")
    _, _, stderr = run(capsys, make_class(tmp_path / "class", "pam"), "--out", tmp_path / "out")
    assert "\ngrade: warning: bubblewrap is not available (a test): students run" in stderr
    assert graded[0][1]["isolation"] == "process"


# ----------------------------------------------------------------------------- shards
def test_shards_merged_are_the_whole_run(tmp_path, capsys, graded):
    names = ["pa", "pb", "fc", "ed", "pe", "ff"]
    folder = make_class(tmp_path / "class", *names)
    (folder / "notes.txt").write_text("x")
    parts = []
    for i in (1, 2):
        code, stdout, _ = run(capsys, folder, "--out", tmp_path / f"s{i}", "--shard", f"{i}/2")
        assert code == 0 and stdout.startswith(f"shard {i}/2: ")
        summary = json.loads((tmp_path / f"s{i}" / "summary.json").read_text())
        assert summary["shard"] == {"index": i, "count": 2}
        parts.append({r["student"] for r in rows_of(tmp_path / f"s{i}")})
    assert parts[0] | parts[1] == set(names) and not parts[0] & parts[1] and parts[0] and parts[1]
    code, stdout, stderr = run(capsys, "--merge", tmp_path / "s1", tmp_path / "s2", "--out", tmp_path / "m")
    assert code == 0, stderr
    assert stdout == f"merged 2 shards: 6 submissions: 3 pass, 2 fail, 1 error; {tmp_path / 'm'}\n"
    merged = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert merged["shard"] is None and merged["n_students"] == 6 and merged["interrupted"] is False
    assert merged["not_graded"] == [{"entry": "notes.txt", "why": "not a .py, .ipynb or folder"}]
    assert merged["isolation"] == json.loads((tmp_path / "s1" / "summary.json").read_text())["isolation"]
    assert [r["student"] for r in rows_of(tmp_path / "m")] == sorted(names)
    assert (tmp_path / "m" / "pa.md").is_file() and (tmp_path / "m" / "summary.png").is_file()
    whole = tmp_path / "whole"
    run(capsys, folder, "--out", whole)
    assert [r["feedback"] for r in rows_of(whole)] == [r["feedback"] for r in rows_of(tmp_path / "m")]
    code, _, stderr = run(capsys, "--merge", tmp_path / "s1", tmp_path / "s2", "--out", tmp_path / "s2")
    assert (code, stderr) == (2, f"grade: error: --out {tmp_path / 's2'} is one of the shards: merge into a new "
                                 "folder\n")


def test_a_merge_with_internal_rows_exits_3(tmp_path, capsys, graded):
    folder = make_class(tmp_path / "class", "pa", "ib")
    run(capsys, folder, "--out", tmp_path / "s1", "--shard", "1/1")
    code, stdout, _ = run(capsys, "--merge", tmp_path / "s1", "--out", tmp_path / "m")
    assert code == 3 and stdout.startswith("merged 1 shards: 2 submissions: 1 pass, 0 fail, 0 error, 1 internal; ")
