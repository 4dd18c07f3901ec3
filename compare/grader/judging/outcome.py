"""One case judged: the student's numbers beside the reference's, parameter by parameter.

``battery.compare_case`` makes a ``CaseOutcome`` for every case it runs; ``harmless`` may find
that a difference the course accepts explains it; the diagnosis reads it (and nothing else of the
judging) to name the bug, and hands back the case's findings (``findings``).
"""

from __future__ import annotations

from dataclasses import dataclass

from compare.grader.course import cases as C
from compare.grader.judging.reference import CaseReference


@dataclass
class CaseOutcome:
    """The judged data of one case, in the reference layout."""

    case: C.Case
    reference: CaseReference  # autograd's numbers for the case (loss, grads, data term, tape)
    student_loss: float
    student_grads: dict  # in the reference layout (a transposed-shape answer already transposed back)
    passed: dict  # name ("loss", "W1", ...) -> bool
    max_rel_error: dict  # name -> float
    transposed_shape: tuple = ()  # names the student returned with the (in, out) shape
    previous: dict | None = None  # the student's gradients on the previous call of the same network
    initial_params: dict | None = None  # the parameters the student's network was made with
    findings: tuple = ()  # the diagnosis of this case (``diagnosis.aggregation.diagnose`` sets it, once)

    @property
    def ok(self) -> bool:
        return all(self.passed.values()) and not self.transposed_shape
