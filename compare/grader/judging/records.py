"""What judging a submission produces, as data: each case's rows (``Row``, ``CaseReport``) and
the whole ``Report`` with its verdict, exit code and JSON form (``to_dict``). Its renderings for
a person (text, Markdown) are ``compare.grader.results.report``.

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
        word, text = self.verdict_parts
        return f"{word} — {text}"

    @property
    def verdict_parts(self) -> tuple[str, str]:
        """(the grader's word: PASS, FAIL or ERROR; the sentence after it, which may quote the student)."""
        if self.error is not None:
            return "ERROR", f"cannot validate {self.target}: {self.error}"
        n, bad = len(self.cases), len(self.bug_cases)
        tol = f"float64, rtol {TOL.rtol:g}"
        if self.conventions and (not bad or self.explained):
            return "FAIL", (f"the backprop is right (all {n} cases agree once read in its own conventions), but "
                            f"{'; '.join(self.conventions)}")
        if bad:
            besides = f"; besides, {'; '.join(self.conventions)}" if self.conventions else ""
            return "FAIL", f"{bad} of {n} cases disagree with the torch reference ({tol}){besides}"
        accepted = f"; accepted: {'; '.join(self.accepted)}" if self.accepted else ""
        return "PASS", f"all {n} cases agree with the torch reference ({tol}){accepted}"

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
