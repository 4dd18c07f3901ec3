"""Points: what each case of the battery is worth under an assignment, and what a report scores.

The scored cases are those of the assignment's required activations (``activations``); the
cases of the other activations, tried when the factory accepts them, are reported but score
nothing, and so is the two-hidden-layer case (the battery runs it only when the factory builds
such a network) unless a ``points`` glob names it (``"*/two-hidden" = 2``): then a network that
cannot build it loses those points. Each scored case is worth the points of the first ``points`` glob that matches its name
(``fnmatch``: ``"*/regularised"``, ``"relu/*"``, ``"relu/large-logits"``), else 1. With a
``total``, every case's points are rescaled so that a full pass scores ``total``.

A passing case scores its points, a failing one 0. A report that breaks the contract (exit 2)
scores 0. When the backprop is right but in other conventions than the assignment's (a layout
found before the cases, or a reading that makes the failing cases agree), the cases that agree
only in those conventions score 0, unless ``conventions_cost_points = false``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from compare.grader.course.assignment import Assignment, AssignmentError


@dataclass
class CasePoints:
    name: str
    max_points: float
    points: float = 0.0
    status: str = "failed"  # passed | failed | not run
    output: str = ""  # one line: why it scored what it did

    def to_dict(self) -> dict:
        return {"name": self.name, "points": round(self.points, 4), "max_points": round(self.max_points, 4),
                "status": self.status, "output": self.output}


@dataclass
class Score:
    score: float
    max_score: float
    cases: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"score": round(self.score, 4), "max_score": round(self.max_score, 4),
                "cases": [c.to_dict() for c in self.cases]}


def scored_case_names(assignment: Assignment, seed: int = 0) -> list:
    """The names of the cases that score, in the battery's order: the required activations' cases;
    the two-hidden-layer case (optional in the battery: a one-hidden-layer network is not wrong)
    only when a ``points`` glob names it (``"*/two-hidden" = 2``) and the factory can build it."""
    from compare.grader.course import cases as C
    from compare.grader.course import conventions as V

    named_deep = any(C.TWO_HIDDEN in glob for glob, _ in assignment.points)
    return [case.name for activation in assignment.activations for case in C.battery(activation, seed)
            if C.TWO_HIDDEN not in case.tags or (named_deep and V.builds(assignment, case.sizes))]


def case_points(assignment: Assignment, names: list) -> dict:
    """{case name: points}; ``AssignmentError`` naming a ``points`` glob that matches no scored case."""
    for glob, _ in assignment.points:
        if not any(fnmatchcase(name, glob) for name in names):
            raise AssignmentError(f"points key {glob!r} matches no case that scores (the cases: "
                                  f"{', '.join(names)})")
    raw = {name: next((value for glob, value in assignment.points if fnmatchcase(name, glob)), 1.0)
           for name in names}
    full = sum(raw.values())
    if assignment.total is None or full == 0:
        return raw
    return {name: value * assignment.total / full for name, value in raw.items()}


def score(report, assignment: Assignment, seed: int = 0) -> Score:
    """What ``report`` scores under the assignment's points."""
    names = scored_case_names(assignment, seed)
    worth = case_points(assignment, names)
    ran = {c.case.name: c for c in report.cases}
    convention = "; ".join(report.conventions)
    forgiven = bool(convention) and not assignment.conventions_cost_points
    # A layout found before the cases (W as (in, out), ...): every case ran in the student's layout,
    # so none agrees in the assignment's own.
    in_own_layout = bool(convention) and not report.explained
    cases = []
    for name in names:
        entry = CasePoints(name, worth[name])
        result = ran.get(name)
        if report.error is not None:
            entry.status, entry.output = "failed", "the implementation could not be graded: " + report.error[:200]
        elif result is None:
            entry.status, entry.output = "not run", "this case was not run"
        elif result.passed and not in_own_layout:
            entry.status, entry.points, entry.output = "passed", entry.max_points, "agrees with the reference"
        elif forgiven:
            entry.status, entry.points = "passed", entry.max_points
            entry.output = "agrees once read in its own conventions (the course does not take points for that)"
        elif result.passed:
            entry.output = f"agrees only in its own conventions: {convention}"
        else:
            bad = [row.name for row in result.rows if not row.passed]
            entry.output = "disagrees with the reference in " + ", ".join(bad)
        cases.append(entry)
    return Score(sum(c.points for c in cases), sum(c.max_points for c in cases), cases)
