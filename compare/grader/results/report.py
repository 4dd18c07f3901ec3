"""What a validation found, for a person (text, Markdown) and for a program (JSON).

Exit codes: 0 every case agrees (under the assignment's conventions); 1 some case disagrees,
or the numbers agree only under other conventions than the assignment's; 2 the implementation
cannot be loaded or breaks the contract; 3 (the CLIs') the validator itself failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from compare.grader.course import cases as C
from compare.grader.course.words import HOMEWORK, CourseWords
from compare.lab.diff import TOLERANCES, ArrayDiff

if TYPE_CHECKING:
    from compare.grader.diagnosis.findings import Finding
    from compare.grader.judging.outcome import CaseOutcome

TOL = TOLERANCES["float64"]


@dataclass
class Row:
    name: str  # "loss", "W1", "b1", ...
    diff: ArrayDiff
    note: str = ""  # e.g. the student's array came transposed

    @property
    def passed(self) -> bool:
        return self.diff.passed and not self.note

    def to_dict(self) -> dict:
        return {"name": self.name, **self.diff.to_dict(), "passed": self.passed, "note": self.note}


@dataclass
class CaseReport:
    case: C.Case
    rows: list
    outcome: CaseOutcome = field(repr=False)
    answer: tuple = field(default=None, repr=False)  # the student's (loss, grads) as returned (its layout)
    harmless: str = ""  # the harmless difference that explains its failing rows (``harmless``), if one does
    accepted: bool = False  # ... and the assignment accepts it: the case passes

    @property
    def agrees(self) -> bool:
        """Every row agrees with the reference as it is."""
        return all(row.passed for row in self.rows)

    @property
    def passed(self) -> bool:
        return self.agrees or (bool(self.harmless) and self.accepted)

    def to_dict(self, words: CourseWords = HOMEWORK) -> dict:
        return {**self.case.to_dict(words), "passed": self.passed, "harmless": self.harmless or None,
                "accepted": self.accepted, "rows": [row.to_dict() for row in self.rows],
                "findings": [f.to_dict() for f in self.outcome.findings]}


@dataclass
class Report:
    target: str
    assignment: str = "homework (the homework's contract)"
    cases: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # one line each: what was not run and why
    conventions: list = field(default_factory=list)  # how the submission departs from the assignment's conventions
    explained: bool = False  # the failing cases all agree once read in those conventions
    diagnosis: list = field(default_factory=list)  # Findings, most likely first
    error: str | None = None  # set when the implementation broke the contract
    error_kind: str | None = None  # StudentError.kind: load, forbidden, raised, contract, timeout, died
    isolation: str | None = None  # how the implementation was run (bubblewrap, process, in-process)
    notes: list = field(default_factory=list)  # e.g. notebook cells skipped, files too large to copy
    accepted: list = field(default_factory=list)  # harmless differences the assignment accepts, one line each
    elapsed_s: float = 0.0
    score: object = None  # points.Score, when the run gives points (backprop-grade, the autograder)
    words: CourseWords = field(default=HOMEWORK, repr=False)  # the course's conventions, for the tables

    @property
    def failed_cases(self) -> list:
        return [c for c in self.cases if not c.passed]

    @property
    def bug_cases(self) -> list:
        """The failing cases that no convention explains: where the bugs are."""
        return [c for c in self.failed_cases if not c.harmless]

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return 2
        return 1 if self.failed_cases or self.conventions else 0

    @property
    def status(self) -> str:
        return {0: "pass", 1: "fail", 2: "error"}[self.exit_code]

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return f"ERROR — cannot validate {self.target}: {self.error}"
        n, bad = len(self.cases), len(self.bug_cases)
        tol = f"float64, rtol {TOL.rtol:g}"
        if self.conventions and (not bad or self.explained):
            return (f"FAIL — the backprop is right (all {n} cases agree once read in its own conventions), but "
                    f"{'; '.join(self.conventions)}")
        if bad:
            besides = f"; besides, {'; '.join(self.conventions)}" if self.conventions else ""
            return f"FAIL — {bad} of {n} cases disagree with the torch reference ({tol}){besides}"
        accepted = f"; accepted: {'; '.join(self.accepted)}" if self.accepted else ""
        return f"PASS — all {n} cases agree with the torch reference ({tol}){accepted}"

    @property
    def summary(self) -> str:
        """One line for a class table: the error, the first diagnosis (then any convention), or the convention."""
        if self.error is not None:
            return self.error
        conventions = "; ".join(self.conventions)
        if self.bug_cases and self.diagnosis:
            return self.diagnosis[0].message + (f"; besides, {conventions}" if conventions else "")
        if self.conventions:
            return "right backprop, other conventions: " + conventions
        if self.diagnosis:
            return self.diagnosis[0].message
        return "all cases agree" + (f" (accepted: {'; '.join(self.accepted)})" if self.accepted else "")

    def to_dict(self) -> dict:
        return json_safe({
            "target": self.target,
            "assignment": self.assignment,
            "exit_code": self.exit_code,
            "status": self.status,
            "verdict": self.status,  # the old name of "status", kept: tests/test_isolation.py and test_validate.py read it
            "verdict_text": self.verdict,
            "summary": self.summary,
            "error": self.error,
            "error_kind": self.error_kind,
            "conventions": list(self.conventions),
            "accepted": list(self.accepted),
            "isolation": self.isolation,
            "notes": list(self.notes),
            "tolerance": {"rtol": TOL.rtol, "atol": TOL.atol, "why": TOL.why},
            "n_cases": len(self.cases),
            "n_failed": len(self.failed_cases),
            "skipped": list(self.skipped),
            "diagnosis": [f.to_dict() for f in self.diagnosis],
            "cases": [c.to_dict(self.words) for c in self.cases],
            "elapsed_s": round(self.elapsed_s, 3),
            **({"score": self.score.to_dict()} if self.score is not None else {}),
        })


def json_safe(obj):
    """Strict JSON: NaN and ±inf become the strings "NaN", "Infinity", "-Infinity" (never null, which
    would read as 'no value')."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if obj != obj else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------- text
def case_title(case: C.Case, words: CourseWords = HOMEWORK) -> str:
    """The case's one-line description in the course's words (its penalty as the course names it)."""
    return case.describe(words)


def _in_layout(name: str, index, words: CourseWords):
    """A weight's shape (or index) in the course's layout: reversed where W is (in, out)."""
    if name.startswith("W") and words.weights == "in_out" and isinstance(index, tuple) and len(index) == 2:
        return index[::-1]
    return index


def format_case(result: CaseReport, words: CourseWords = HOMEWORK) -> str:
    """The case's table: each row's shape and worst index in the course's own layout."""
    lines = [case_title(result.case, words),
             f"  {'param':<6}{'shape':<12}{'max abs err':>12}{'max rel err':>12}  {'worst index':<13}result"]
    for row in result.rows:
        d = row.diff
        verdict = "ok" if row.passed else "FAIL" + (f" ({row.note})" if row.note else "")
        if result.harmless and not row.passed:
            verdict = "accepted" if result.accepted else "differs (a convention, not a bug)"
        shape, worst = _in_layout(row.name, tuple(d.shape), words), _in_layout(row.name, d.worst_index, words)
        lines.append(f"  {row.name:<6}{str(shape):<12}{d.max_abs_error:>12.2e}{d.max_rel_error:>12.2e}  "
                     f"{str(worst):<13}{verdict}")
    if result.harmless:
        lines.append(f"  {'accepted' if result.accepted else 'a convention, not a bug'}: {result.harmless}")
    return "\n".join(lines)


def _where(finding: Finding) -> str:
    params, cases = [], []
    for item in finding.where:
        case, _, param = item.partition(":")
        if param and param not in params:
            params.append(param)
        if case not in cases:
            cases.append(case)
    shown = ", ".join(cases[:3]) + (f" (+{len(cases) - 3} more)" if len(cases) > 3 else "")
    return (f"{', '.join(params)} in " if params else "") + shown


def findings_lines(report: Report) -> list:
    lines = []
    for i, finding in enumerate(report.diagnosis, start=1):
        where = _where(finding)
        lines.append(f"  {i}. {finding.message}" + (f"\n     [{where}]" if where else ""))
    return lines


def format_report(report: Report, brief: bool = False) -> str:
    """The tables (only the failing ones when ``brief``), what was skipped, verdict, diagnosis."""
    if report.error is not None:
        return report.verdict
    head = (f"validating {report.target} ({report.assignment}): {len(report.cases)} cases against "
            f"reference.TorchMLP + autograd (float64, rtol {TOL.rtol:g})")
    blocks = [head] + [format_case(c, report.words) for c in report.cases if not (brief and c.passed and c.agrees)]
    tail = [f"note: {line}" for line in report.notes] + [f"skipped: {line}" for line in report.skipped]
    tail += [f"convention: {line}" for line in report.conventions]
    tail += [f"accepted: {line}" for line in report.accepted]
    tail.append(f"verdict: {report.verdict}")
    if report.diagnosis:
        tail.append("diagnosis (most likely first):")
        tail += findings_lines(report)
    return "\n\n".join(blocks + ["\n".join(tail)])


def format_markdown(report: Report, student: str) -> str:
    """The feedback file a student reads: verdict, what to fix, then the failing tables. Everything
    that comes from the student (their name, file names, messages) is escaped: no HTML, links or
    Markdown of theirs reach the page."""
    from compare.grader.results.outputs import markdown_text as md

    lines = [f"# {md(student, 200)}: {report.status}", "", f"**{md(report.verdict)}**", "",
             f"- implementation: {md(report.target, 300)}", f"- conventions: {md(report.assignment)}"]
    if report.isolation:
        lines.append(f"- ran in: {md(report.isolation)}")
    for title, items in (("Notes", report.notes), ("Skipped", report.skipped),
                         ("Conventions", report.conventions), ("Accepted", report.accepted)):
        if items:
            lines += ["", f"## {title}", ""] + [f"- {md(item)}" for item in items]
    if report.diagnosis:
        lines += ["", "## Diagnosis (most likely first)", ""]
        lines += [f"{i}. {md(f.message)}" + (f" — *{md(_where(f))}*" if f.where else "")
                  for i, f in enumerate(report.diagnosis, start=1)]
    if report.score is not None:
        s = report.score
        lines += ["", f"## Points: {s.score:.4g} of {s.max_score:.4g}", "", "| case | points | |", "|---|---|---|"]
        lines += [f"| {c.name} | {c.points:.4g} / {c.max_points:.4g} | {md(c.output, 200)} |" for c in s.cases]
    failing = [c for c in report.cases if not c.passed]
    if failing:
        lines += ["", "## Failing cases", ""]
        for case in failing:
            lines += ["```", format_case(case, report.words), "```", ""]
    passed = len(report.cases) - len(failing)
    if report.cases:
        lines += ["", f"{passed} of {len(report.cases)} cases agree with the reference "
                      f"(float64, rtol {TOL.rtol:g}).", ""]
    return "\n".join(lines).rstrip() + "\n"
