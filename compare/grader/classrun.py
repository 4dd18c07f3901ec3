"""A class run: every submission of a folder graded, each in its own isolated worker, into one
output folder — what ``backprop-grade`` (``compare.grade``) runs, and, for one student, what the
Gradescope autograder runs (``grade_student``).

``grade`` writes a row of ``grades.csv`` as each student finishes, their feedback files, and at
the end ``summary.json`` and ``summary.png`` (``compare.grader.results``); ``Graded`` is one row,
``ClassRun`` the whole run. Every student gets the same limits (``options.grading_options``)
and is judged exactly as ``backprop-validate`` judges one submission (``validation.judge``).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass
from pathlib import Path

from compare.grader.course.assignment import Assignment
from compare.grader.options import grading_options
from compare.grader.results.outputs import GradesCsv, OutputFolder, feedback_names
from compare.grader.results.summary import diagnosis_of, write_summary
from compare.grader.sandbox.errors import clean_text

__all__ = ["CSV_COLUMNS", "ClassRun", "Graded", "grade", "grade_student", "grading_options", "isolation_level"]

CSV_COLUMNS = ("student", "status", "exit_code", "cases_passed", "cases_total", "seconds", "summary", "feedback",
               "score", "max_score")


@dataclass
class Graded:
    """One row of the class: the student, their report (None when the grader failed on them)."""

    student: object  # classfolder.Student
    report: object | None
    internal: str | None = None  # the grader's own failure on this student, one line
    seconds: float = 0.0

    @property
    def status(self) -> str:
        return "internal" if self.report is None else self.report.status

    def row(self, feedback: str) -> dict:
        report = self.report
        if report is None:
            return {"student": self.student.name, "status": "internal", "exit_code": 3, "cases_passed": 0,
                    "cases_total": 0, "seconds": f"{self.seconds:.2f}",
                    "summary": f"the grader failed on this submission (not a verdict): {self.internal}",
                    "feedback": feedback, "score": "", "max_score": ""}
        passed = len(report.cases) - len(report.failed_cases)
        score = report.score
        return {"student": self.student.name, "status": report.status, "exit_code": report.exit_code,
                "cases_passed": passed, "cases_total": len(report.cases), "seconds": f"{self.seconds:.2f}",
                "summary": clean_text(report.summary, 300), "feedback": feedback,
                "score": f"{score.score:.4g}" if score else "", "max_score": f"{score.max_score:.4g}" if score else ""}


@dataclass
class ClassRun:
    """What ``grade`` did: one ``Graded`` per student, what it did not grade, how it ran."""

    graded: list
    skipped: list  # (entry, why)
    rows: list
    isolation: str
    interrupted: bool = False

    @property
    def internal(self) -> list:
        return [g for g in self.graded if g.report is None]


def grade_student(student, assignment: Assignment, options: dict, seed: int = 0):
    """One student's ``Report``, with its points: what they submitted is found (``classfolder``),
    run in its own worker and scored. A student's fault is the report's error; any exception is
    the grader's own failure."""
    from compare.grader import validation
    from compare.grader.course import points
    from compare.grader.judging.records import Report
    from compare.grader.submissions import classfolder

    start = time.perf_counter()
    classfolder.prepare(student, assignment, options["allow_imports"])
    if student.problem is not None:
        report = Report(target=student.name, assignment=assignment.describe(),
                        error=clean_text(str(student.problem), 1000), error_kind=student.problem.kind,
                        notes=[clean_text(n, 300) for n in student.notes])
    else:
        report = validation.judge(student.submission, assignment, options, seed, start)
    report.score = points.score(report, assignment, seed)
    return report


def grade(folder: Path, out: Path, assignment: Assignment, *, jobs: int = 2, timeout: float = 10.0,
          budget: float = 25.0, memory_mb: int = 2048, isolation: str = "auto", seed: int = 0,
          allow_imports=(), progress: bool = True, claimed: OutputFolder | None = None,
          shard: tuple[int, int] | None = None) -> ClassRun:
    """Grade every submission of ``folder`` into ``out`` (see the module's doc), or with ``shard =
    (I, N)`` the students of shard I of N (``compare.grader.results.shards``). Never raises for anything a
    student did: a student's fault is their row's ``error``, the grader's own failure on one
    student is that row's ``internal``; the other rows are graded all the same."""
    import torch
    from tqdm import tqdm

    from compare.grader.judging import battery
    from compare.grader.results import shards
    from compare.grader.results.report import format_markdown
    from compare.grader.submissions import classfolder
    from compare.grader.workers.isolation import kill_all

    folder, out = Path(folder), Path(out)
    output = claimed or OutputFolder(out)
    if claimed is None:
        output.claim()
    found = classfolder.scan(folder, exclude=out)
    names = feedback_names([s.name for s in found.students])  # over the whole class: the same in every shard
    if shard is not None:
        found.students = [s for s in found.students if shards.shard_of(s.name, shard[1]) == shard[0]]
    torch.set_num_threads(1)
    options = grading_options(assignment, timeout=timeout, budget=budget, memory_mb=memory_mb, isolation=isolation,
                              allow_imports=allow_imports)
    battery.prepare(assignment, seed)  # the reference, once per case for the class
    csv_file = GradesCsv(output, CSV_COLUMNS)

    stopping = threading.Event()  # set when the run is stopped: a student still being graded is not done

    def one(student) -> Graded | None:
        if stopping.is_set():  # queued, and the run was stopped before it started
            return None
        start = time.perf_counter()
        try:
            graded = Graded(student, grade_student(student, assignment, options, seed))
        except Exception as error:  # noqa: BLE001 - the grader's own failure: this row only
            graded = Graded(student, None, internal=f"{type(error).__name__}: {clean_text(error, 200)}")
        if stopping.is_set():  # its worker was killed by the stop, not by anything the student did
            return None
        graded.seconds = time.perf_counter() - start
        name = names[student.name]
        try:
            if graded.report is not None:
                graded.report.elapsed_s = graded.seconds
                output.write_text(f"{name}.md", format_markdown(graded.report, student.name))
                output.write_text(f"{name}.json", json.dumps({"student": student.name, **graded.report.to_dict()},
                                                             indent=2, allow_nan=False) + "\n")
        except Exception as error:  # noqa: BLE001
            graded = Graded(student, None, internal=f"writing its feedback failed: {type(error).__name__}: "
                                                    f"{clean_text(error, 200)}", seconds=graded.seconds)
        csv_file.append(graded.row(name))  # as soon as it is done: a killed run keeps it
        return graded

    stopped: KeyboardInterrupt | None = None  # Ctrl-C, SIGTERM or SIGHUP, when one came
    pool = ThreadPoolExecutor(max_workers=jobs)
    futures = []
    try:
        for student in found.students:  # a stop while they are queued ends the run as any other stop
            futures.append(pool.submit(one, student))
        with tqdm(total=len(futures), desc="grading", unit="student", disable=not progress, file=sys.stderr) as bar:
            for future in as_completed(futures):
                graded = future.result()
                bar.set_postfix_str(f"{graded.student.name[:20]}: {graded.status}")
                bar.update()
    except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM, SIGHUP: the students not started are not started,
        stopped = stop                 # those being graded are stopped (no process, no copy left behind)
        stopping.set()
        pool.shutdown(wait=False, cancel_futures=True)
        kill_all()
        # Those being graded return at once, their workers gone; those cancelled never run (and a
        # cancelled future never counts as done for ``wait``: waiting on it would last the 30 s).
        wait([f for f in futures if not f.cancelled()], timeout=30)
    pool.shutdown(wait=stopped is None)
    # Every student done (a row in grades.csv already), in the class's order.
    results = [f.result() for f in futures if f.done() and not f.cancelled() and f.exception() is None
               and f.result() is not None]
    levels = Counter(g.report.isolation for g in results if g.report is not None and g.report.isolation)
    run = ClassRun(results, found.skipped, [], levels.most_common(1)[0][0] if levels else "", stopped is not None)
    run.rows = sorted((g.row(names[g.student.name]) for g in results), key=lambda r: r["student"])
    csv_file.finish(run.rows)
    write_summary(output, run.rows, {g.student.name: diagnosis_of(g.report) for g in results}, skipped=run.skipped,
                  isolation=run.isolation, interrupted=run.interrupted, assignment=assignment, folder=str(folder),
                  jobs=jobs, shard=None if shard is None else {"index": shard[0], "count": shard[1]})
    if stopped is not None:
        raise stopped  # the same signal: the command's exit status says which
    return run


def isolation_level(asked: str) -> tuple[str, str | None]:
    """(the level students will run at, a warning when 'auto' falls back to the process level).
    RuntimeError when bubblewrap is asked for and cannot be used."""
    from compare.grader.workers import isolation

    level = isolation.choose_level(asked)
    if asked == "auto" and level == isolation.PROCESS:
        why = isolation.fallback_reason() or "bwrap cannot run here"
        return level, (f"bubblewrap is not available ({why}): students run at the process level only (resource "
                       "limits and a private folder; no read-only filesystem, no network isolation, and a "
                       "student could signal the grader's other processes)")
    return level, None
