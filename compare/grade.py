"""Grade a whole class: every submission in a folder, each isolated, one row and feedback per student.

    backprop-grade SUBMISSIONS_DIR [--assignment FILE | --preset NAME] [--jobs N] [--out DIR]

Each entry of the folder is one student: ``NAME.py``, ``NAME.ipynb`` (its definitions only), or
a folder ``NAME/`` (the file graded is chosen and said: see ``compare.grader.submissions.classfolder``).
Every other entry is listed with the reason it is not graded. Each student runs exactly as
``compare.validate`` runs one submission — in its own isolated worker, with the same limits —
and gets the same exit code. The reference is computed once per case for the class.

The run always ends with one row per student: whatever goes wrong with one submission (a link,
a file that cannot be read, code that hangs or floods its memory) is that student's ``error``;
a failure of the grader itself on one student is that row's ``internal``; the others are graded
all the same.

Writes into ``--out`` (default ``grades/``; an earlier run there is replaced whole, a folder that
holds anything else is refused):

- ``grades.csv`` — ``student,status,exit_code,cases_passed,cases_total,seconds,summary,feedback``
  (``status`` is pass, fail, error or internal; ``exit_code`` is what ``compare.validate`` gives,
  3 for internal; ``feedback`` the stem of the student's files), a row appended as each student
  finishes (a killed run keeps them), sorted by student at the end;
- ``FEEDBACK.md`` — what a student reads; ``FEEDBACK.json`` — the full report;
- ``summary.json`` and ``summary.png`` — counts per status, the most frequent diagnoses, the
  entries not graded and why, the isolation level used.

Exit status: 0 when every student got a verdict or a student error, 2 on bad usage (found before
anything runs: the folder, every option, the output folder, bubblewrap when asked for), 3 when
the grader itself failed on a student (the line names who), 130 on Ctrl-C (the rows graded so far
and the summary are written).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass
from pathlib import Path

from compare import cli  # before NumPy and torch: from here on, Ctrl-C during start-up exits 130 on one line
from compare.grader import options as course_options
from compare.grader.course.assignment import Assignment, AssignmentError, load_assignment_dict
from compare.grader.results.outputs import GradesCsv, OutputError, OutputFolder, feedback_names
from compare.grader.results.summary import STATUSES, diagnosis_of, write_summary
from compare.grader.sandbox.errors import clean_text

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


def grading_options(assignment: Assignment, *, timeout: float = 10.0, budget: float = 25.0,
                    memory_mb: int = 2048, isolation: str = "auto", allow_imports=()) -> dict:
    """The limits and permissions every submission of a run gets (as ``compare.validate`` gives one)."""
    from compare.grader.workers.isolation import Limits
    from compare.validate import LOAD_CPU_SECONDS

    limits = Limits(memory_mb=memory_mb, cpu_seconds=int(budget + LOAD_CPU_SECONDS))
    allowed = tuple(dict.fromkeys((*assignment.allow_imports, *allow_imports)))
    return {"timeout": timeout, "budget": budget, "limits": limits, "allow_imports": allowed,
            "isolation": isolation}


def grade_student(student, assignment: Assignment, options: dict, seed: int = 0):
    """One student's ``Report``, with its points: what they submitted is found (``classfolder``),
    run in its own worker and scored. A student's fault is the report's error; any exception is
    the grader's own failure."""
    from compare.grader.course import points
    from compare.grader.results.report import Report
    from compare.grader.submissions import classfolder
    from compare.validate import _validate

    start = time.perf_counter()
    classfolder.prepare(student, assignment, options["allow_imports"])
    if student.problem is not None:
        report = Report(target=student.name, assignment=assignment.describe(),
                        error=clean_text(str(student.problem), 1000), error_kind=student.problem.kind,
                        notes=[clean_text(n, 300) for n in student.notes])
    else:
        report = _validate(student.submission, assignment, options, seed, start)
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
    futures = [pool.submit(one, student) for student in found.students]
    try:
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
        wait(futures, timeout=30)  # their threads return at once: their workers are gone
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


# ----------------------------------------------------------------------------- the command line
def build_parser() -> argparse.ArgumentParser:
    parser = cli.RaisingParser(prog="backprop-grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", help="the folder of submissions: NAME.py, NAME.ipynb or NAME/ per "
                                                  "student (not with --merge)")
    parser.add_argument("--shard", metavar="I/N", help="grade only shard I of N (1 ≤ I ≤ N; by student name, "
                                                       "stable when students are added)")
    parser.add_argument("--merge", nargs="+", metavar="OUT_I", help="join the output folders of the N shards "
                                                                   "into --out, as one run would have written it")
    course_options.add_course_options(parser)
    parser.add_argument("--jobs", type=cli.number(int, 1, "a whole number ≥ 1"), default=2,
                        help="submissions graded at once (default 2)")
    parser.add_argument("--out", default="grades", help="output folder (default ./grades); an earlier run's "
                                                        "output there is replaced whole")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv=None) -> int:
    return cli.run_guarded("grade", _main, argv, internal="internal error", stop_signals=True)


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


def _merge(args) -> int:
    """--merge OUT_1 … OUT_N --out OUT."""
    from compare.grader.results import shards


    try:
        if args.folder is not None or args.shard is not None:
            raise cli.UsageError("--merge takes the shards' output folders only (no class folder, no --shard)")
        parts = [Path(p) for p in args.merge]
        shards.check_parts(parts)
        output = OutputFolder(Path(args.out))
        if any(_same_folder(output.path, p) for p in parts):
            raise cli.UsageError(f"--out {args.out} is one of the shards: merge into a new folder")
        output.claim()
    except (cli.UsageError, OutputError, shards.ShardError) as error:
        print(f"grade: error: {clean_text(error, 500)}", file=sys.stderr)
        return 2
    rows, merged = shards.merge(parts, output, CSV_COLUMNS)
    first = merged["first"]
    assignment = load_assignment_dict(first["assignment"])
    write_summary(output, rows, merged["diagnoses"], skipped=[(e["entry"], e["why"]) for e in first["not_graded"]],
                  isolation=first["isolation"], interrupted=False, assignment=assignment, folder=first["folder"],
                  jobs=first["jobs"])
    counts = Counter(r["status"] for r in rows)
    print(f"merged {len(parts)} shards: {len(rows)} submissions: " + ", ".join(
        f"{counts.get(s, 0)} {s}" for s in STATUSES if counts.get(s) or s != "internal") + f"; {output.path}")
    return 3 if counts.get("internal") else 0


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _main(argv) -> int:
    try:
        args = build_parser().parse_args(argv)
    except cli.UsageError as error:
        print(f"grade: error: {clean_text(error, 500)}", file=sys.stderr)
        return 2
    if args.merge:
        return _merge(args)
    try:
        if args.folder is None:
            raise cli.UsageError("the folder of submissions is missing (or --merge OUT_1 … OUT_N)")
        shard = None
        if args.shard is not None:
            from compare.grader.results.shards import parse_shard

            shard = parse_shard(args.shard)
        folder = Path(args.folder)
        if not folder.is_dir():
            raise cli.UsageError(f"{folder}: no such folder of submissions")
        if not os.access(folder, os.R_OK | os.X_OK):
            raise cli.UsageError(f"{folder}: the folder of submissions cannot be read")
        assignment = course_options.course(args)
        level, warning = isolation_level(args.isolation)
        output = OutputFolder(Path(args.out))
        output.claim()
    except (cli.UsageError, AssignmentError, OutputError, ValueError, RuntimeError) as error:
        print(f"grade: error: {clean_text(error, 500)}", file=sys.stderr)
        return 2
    from compare.validate import own_modules_first

    own_modules_first()
    warnings.simplefilter("ignore")  # a student's numbers may overflow in the grader's arithmetic: quietly
    out = output.path
    print(f"grading {folder.resolve()} ({assignment.describe()}) into {out.resolve()}"
          + (f" (replacing an earlier run's {output.replaced} files)" if output.replaced else ""),
          file=sys.stderr, flush=True)
    if warning:
        print(f"grade: warning: {warning}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    run = grade(folder, out, assignment, jobs=args.jobs, timeout=args.timeout, budget=args.budget,
                memory_mb=args.memory, isolation=level, seed=args.seed, allow_imports=args.allow_import,
                progress=not args.no_progress, claimed=output, shard=shard)
    counts = Counter(r["status"] for r in run.rows)
    if run.skipped:
        shown = "; ".join(f"{entry} ({why})" for entry, why in run.skipped[:5])
        more = f"; +{len(run.skipped) - 5} more" if len(run.skipped) > 5 else ""
        print(f"not graded: {shown}{more} (listed in summary.json)", file=sys.stderr)
    print((f"shard {shard[0]}/{shard[1]}: " if shard else "") + f"{len(run.rows)} submissions: {counts.get('pass', 0)} pass, {counts.get('fail', 0)} fail, "
          f"{counts.get('error', 0)} error" + (f", {counts['internal']} internal" if counts.get("internal") else "")
          + f" in {time.perf_counter() - start:.1f} s; {out / 'grades.csv'}, {out / 'summary.png'}, "
          "one feedback file per student (grades.csv's feedback column)")
    if run.internal:
        who = ", ".join(f"{g.student.name} ({g.internal})" for g in run.internal[:3])
        more = f" and {len(run.internal) - 3} more" if len(run.internal) > 3 else ""
        print(f"grade: internal error on {len(run.internal)} student(s): {who}{more}; their rows say "
              "'internal' (not a verdict), every other row stands", file=sys.stderr)
        return cli.EXIT_INTERNAL
    return 0


if __name__ == "__main__":
    sys.exit(main())
