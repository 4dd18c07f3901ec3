"""Grade a whole class: every submission in a folder, each isolated, one table and feedback per student.

    backprop-grade SUBMISSIONS_DIR [--assignment FILE | --preset NAME] [--jobs N] [--out DIR]

Each entry of the folder is one student: ``NAME.py``, ``NAME.ipynb`` (its definitions only), or
a folder ``NAME/`` (the factory is looked for in its ``.py`` then ``.ipynb`` files). Each runs
exactly as ``compare.validate`` runs one submission — in its own isolated worker, with the same
limits — and gets the same exit code. The reference is computed once per case for the class.

Writes into ``--out`` (default ``grades/``):

- ``grades.csv`` — ``student,status,exit_code,cases_passed,cases_total,seconds,summary``
  (``status`` is pass, fail or error; ``exit_code`` is what ``compare.validate`` gives);
- ``NAME.md`` — the feedback a student reads; ``NAME.json`` — the full report;
- ``summary.json`` and ``summary.png`` — pass/fail/error counts and the most frequent diagnoses.

Exit status: 0 when grading ran (whatever the students got), 2 on bad usage, 3 when the grader
itself failed.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import re
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import cli  # before NumPy and torch: from here on, Ctrl-C during start-up exits 130 on one line
from .grading.assignment import PRESETS, Assignment, AssignmentError, load_assignment, preset
from .grading.errors import clean_text

CSV_COLUMNS = ("student", "status", "exit_code", "cases_passed", "cases_total", "seconds", "summary")


@dataclass
class Entry:
    """One student: the spec to validate, or why there is none."""

    student: str
    spec: str | None
    problem: str | None = None
    alone: bool = True  # a file in the class folder is copied without its neighbours (other students)


def _defines(path: Path, name: str) -> bool:
    """Whether a .py file or notebook defines ``name`` at its top level (read with ast, never run)."""
    try:
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text(encoding="utf-8", errors="replace")).get("cells", [])
            sources = ["".join(c.get("source", "")) if isinstance(c.get("source"), list) else str(c.get("source", ""))
                       for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"]
            return any(re.search(rf"^\s*(def|class)\s+{re.escape(name)}\b|^{re.escape(name)}\s*=", s, re.M)
                       for s in sources)
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError, SyntaxError, RecursionError, AttributeError):
        return False
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return True
    return False


def find_submissions(folder: Path, assignment: Assignment) -> list:
    """One ``Entry`` per student, sorted by name."""
    entries = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.startswith((".", "_")) or path.is_symlink():
            continue
        if path.is_file() and path.suffix in (".py", ".ipynb"):
            entries.append(Entry(path.stem, f"{path}:{assignment.factory}"))
        elif path.is_dir():
            files = sorted(path.rglob("*.py"), key=lambda p: (len(p.parts), p.name))
            files += sorted(path.rglob("*.ipynb"), key=lambda p: (len(p.parts), p.name))
            files = [f for f in files if "__pycache__" not in f.parts and ".ipynb_checkpoints" not in f.parts]
            found = next((f for f in files if _defines(f, assignment.factory)), None)
            if found is None:
                entries.append(Entry(path.name, None, f"no .py or .ipynb file in {path.name}/ defines "
                                                      f"{assignment.factory!r}"))
            else:
                entries.append(Entry(path.name, f"{found}:{assignment.factory}", alone=False))
    return entries


def safe_name(student: str) -> str:
    """A file name for a student's feedback: letters, digits, '.', '_' and '-' only."""
    name = re.sub(r"[^\w.-]", "_", student).strip(".") or "student"
    return name[:100]


def _row(student: str, report) -> dict:
    passed = len(report.cases) - len(report.failed_cases)
    return {"student": student, "status": report.status, "exit_code": report.exit_code,
            "cases_passed": passed,
            "cases_total": len(report.cases), "seconds": f"{report.elapsed_s:.2f}",
            "summary": clean_text(report.summary, 300)}


def _diagnosis_key(report) -> str | None:
    """What a report counts as in the class summary: its convention, error kind or first finding."""
    if report.error is not None:
        return "error: " + ERROR_KINDS.get(report.error_kind, "breaks the contract")
    if report.conventions:
        return "right backprop, other conventions"
    if report.diagnosis:
        return report.diagnosis[0].message.split(" (")[0].split(": ")[0][:70]
    return None


ERROR_KINDS = {"load": "cannot be loaded", "forbidden": "imports a forbidden module", "raised": "raises",
               "contract": "breaks the contract", "channel": "writes to the grader's channel", "timeout": "too slow or hangs", "died": "its process died"}


def plot_summary(rows: list, diagnoses: Counter, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = Counter(r["status"] for r in rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1, 2.6]})
    statuses = ["pass", "fail", "error"]
    bars = left.bar(statuses, [counts.get(s, 0) for s in statuses], color=["#2a9d4b", "#e07b00", "#c0392b"])
    left.bar_label(bars)
    left.set_ylabel("students")
    left.yaxis.get_major_locator().set_params(integer=True)
    left.set_title(f"{len(rows)} submissions")
    left.margins(y=0.15)
    common = diagnoses.most_common(10)[::-1]
    if common:
        labels = [label if len(label) <= 60 else label[:57] + "…" for label, _ in common]
        hbars = right.barh(range(len(common)), [n for _, n in common], color="#4a6fa5")
        right.bar_label(hbars, padding=2)
        right.set_yticks(range(len(common)), labels, fontsize=8)
        right.set_xlabel("students")
        right.xaxis.get_major_locator().set_params(integer=True)
    else:
        right.text(0.5, 0.5, "no failures to diagnose", ha="center", va="center", transform=right.transAxes)
        right.set_axis_off()
    right.set_title("most frequent first diagnosis (failing students)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def grade(folder: Path, out: Path, assignment: Assignment, *, jobs: int = 2, timeout: float = 10.0,
          budget: float = 25.0, memory_mb: int = 2048, isolation: str = "auto", seed: int = 0,
          progress: bool = True) -> list:
    """Grade every submission of ``folder`` into ``out``; returns the CSV rows."""
    import torch
    from tqdm import tqdm

    from .grading import battery
    from .grading.isolation import Limits
    from .grading.report import Report, format_markdown
    from .validate import LOAD_CPU_SECONDS, _validate, write_json_atomic

    entries = find_submissions(folder, assignment)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    limits = Limits(memory_mb=memory_mb, cpu_seconds=int(budget + LOAD_CPU_SECONDS))
    options = {"timeout": timeout, "budget": budget, "limits": limits, "allow_imports": assignment.allow_imports,
               "isolation": isolation}
    for activation in assignment.tried_activations:  # the reference, once per case for the class
        for case in battery.battery(activation, seed):
            battery.reference(battery.canonical(assignment, case))

    def one(entry: Entry):
        start = time.perf_counter()
        if entry.spec is None:
            report = Report(target=entry.student, assignment=assignment.describe(), error=entry.problem,
                            error_kind="load")
        else:
            report = _validate(entry.spec, assignment, options, seed, start, alone=entry.alone)
        report.elapsed_s = time.perf_counter() - start
        name = safe_name(entry.student)
        (out / f"{name}.md").write_text(format_markdown(report, entry.student), encoding="utf-8")
        write_json_atomic(str(out / f"{name}.json"), {"student": entry.student, **report.to_dict()})
        return entry, report

    results = []
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        with tqdm(total=len(entries), desc="grading", unit="student", disable=not progress, file=sys.stderr) as bar:
            for entry, report in pool.map(one, entries):
                results.append((entry, report))
                bar.set_postfix_str(f"{entry.student[:20]}: {report.status}")
                bar.update()
    except KeyboardInterrupt:  # Ctrl-C: the students not started yet are not started at all
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    rows = [_row(entry.student, report) for entry, report in results]
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    diagnoses = Counter(k for _, report in results if (k := _diagnosis_key(report)) is not None)
    counts = Counter(r["status"] for r in rows)
    summary = {"assignment": assignment.to_dict(), "folder": str(folder), "n_students": len(rows),
               "counts": {s: counts.get(s, 0) for s in ("pass", "fail", "error")},
               "diagnoses": [{"diagnosis": k, "students": n} for k, n in diagnoses.most_common()],
               "jobs": jobs, "students": rows}
    write_json_atomic(str(out / "summary.json"), summary)
    plot_summary(rows, diagnoses, out / "summary.png", f"{folder.name} — {assignment.describe()}")
    return rows


# ----------------------------------------------------------------------------- the command line
class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="backprop-grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="the folder of submissions: NAME.py, NAME.ipynb or NAME/ per student")
    course = parser.add_mutually_exclusive_group()
    course.add_argument("--assignment", metavar="FILE", help="TOML file of the course's conventions")
    course.add_argument("--preset", choices=sorted(PRESETS), help="named conventions (default: homework)")
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded at once (default 2)")
    parser.add_argument("--out", default="grades", help="output folder (default ./grades)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per call into a submission (default 10)")
    parser.add_argument("--budget", type=float, default=25.0, help="seconds for all calls of one submission (default 25)")
    parser.add_argument("--memory", type=int, default=2048, metavar="MIB", help="address space per submission (MiB)")
    parser.add_argument("--isolation", choices=("auto", "bubblewrap", "process"), default="auto")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv=None) -> int:
    return cli.run_guarded("grade", _main, argv, internal="internal error")


def _main(argv) -> int:
    try:
        args = build_parser().parse_args(argv)
        folder = Path(args.folder)
        if not folder.is_dir():
            raise UsageError(f"{folder}: no such folder of submissions")
        if args.jobs < 1 or args.timeout <= 0 or args.budget <= 0 or args.memory < 256:
            raise UsageError("--jobs must be ≥ 1, --timeout and --budget > 0, --memory ≥ 256 MiB")
        assignment = load_assignment(args.assignment) if args.assignment else preset(args.preset or "homework")
    except (UsageError, AssignmentError) as error:
        print(f"grade: error: {error}", file=sys.stderr)
        return 2
    from .validate import own_modules_first

    own_modules_first()
    out = Path(args.out)
    print(f"grading {folder.resolve()} ({assignment.describe()}) into {out.resolve()}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    rows = grade(folder, out, assignment, jobs=args.jobs, timeout=args.timeout, budget=args.budget,
                 memory_mb=args.memory, isolation=args.isolation, progress=not args.no_progress)
    counts = Counter(r["status"] for r in rows)
    print(f"{len(rows)} submissions: {counts.get('pass', 0)} pass, {counts.get('fail', 0)} fail, "
          f"{counts.get('error', 0)} error in {time.perf_counter() - start:.1f} s; "
          f"{out / 'grades.csv'}, {out / 'summary.png'}, one NAME.md per student")
    return 0


if __name__ == "__main__":
    sys.exit(main())
