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

This module is the command line; the class run itself (``grade()``, ``grade_student``) is
``compare.grader.classrun``.

Exit status: 0 when every student got a verdict or a student error, 2 on bad usage (found before
anything runs: the folder, every option, the output folder, bubblewrap when asked for), 3 when
the grader itself failed on a student (the line names who), 130 on Ctrl-C (the rows graded so far
and the summary are written).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

from compare import cli  # before NumPy and torch: from here on, Ctrl-C during start-up exits 130 on one line
from compare.grader import options as course_options
from compare.grader.classrun import CSV_COLUMNS, grade, isolation_level
from compare.grader.course.assignment import load_assignment_dict
from compare.grader.results.outputs import OutputError, OutputFolder
from compare.grader.results.summary import STATUSES, write_summary
from compare.grader.sandbox.errors import clean_text

__all__ = ["CSV_COLUMNS", "build_parser", "grade", "main"]
NAME = "grade"


def build_parser() -> argparse.ArgumentParser:
    parser = cli.Parser(prog="backprop-grade", description=__doc__.split("\n\n")[0])
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
    return cli.run_guarded(NAME, _main, argv, internal="internal error", stop_signals=True)


def _usage(error: Exception) -> cli.UsageError:
    """A usage error as the one printable line the user reads (their own paths and values included)."""
    return cli.UsageError(clean_text(error, 500))


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
        raise _usage(error) from None
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
        raise _usage(error) from None
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
        if not os.path.isdir(folder):  # False for any OSError (Path.is_dir raises on a name too long)
            raise cli.UsageError(f"{folder}: no such folder of submissions")
        if not os.access(folder, os.R_OK | os.X_OK):
            raise cli.UsageError(f"{folder}: the folder of submissions cannot be read")
        assignment = course_options.course(args)
        level, warning = isolation_level(args.isolation)
        output = OutputFolder(Path(args.out))
        output.claim()
    except (cli.UsageError, OutputError, ValueError, RuntimeError) as error:  # AssignmentError is a ValueError
        raise _usage(error) from None
    from compare.grader.validation import own_modules_first

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
