"""What the detectors may ask about one case, and what "the numbers match" means.

``matches`` is the diagnosis's one test of a hypothesis: the student's numbers agree with what
the bug produces to the float64 tolerance of ``compare.lab.diff`` (and the bug's numbers are
finite), so a finding is evidence, not a guess. ``Evidence`` is one case's evidence for one
submission: the reference's numbers (shared by every submission, from the judging cache) and
what each known bug computes on the case — kept with the case's reference when it depends on
the case alone, kept here when it depends on the submission (its initial parameters).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from compare.grader.course import cases as C
from compare.grader.judging.reference import REFERENCES
from compare.lab.diff import TOLERANCES, compare_arrays

TOL = TOLERANCES["float64"]


def matches(actual, expected) -> bool:
    """The student's numbers are ``expected`` up to float64 rounding (and are finite)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape or not np.all(np.isfinite(expected)):
        return False
    return compare_arrays(actual, expected, TOL).passed


def close(value: float, target: float, scale: float | None = None) -> bool:
    """Equal to 6 digits, relative to ``scale`` (default: the target itself)."""
    scale = abs(target) if scale is None else abs(scale)
    return abs(value - target) <= 1e-6 * max(scale, 1e-12)


class Evidence:
    """What the detectors may ask about one case; everything torch computes is computed once."""

    def __init__(self, case: C.Case, reference_loss: float, reference_grads: dict, initial_params=None):
        self.case = case
        self.reference_loss = reference_loss
        self.reference_grads = reference_grads
        self.initial_params = initial_params
        self.shared = REFERENCES.of(case)  # what depends on the case alone: every submission's
        self._own: dict = {}  # Hypothesis -> its (loss, grads) for this submission

    @classmethod
    def of(cls, outcome) -> Evidence:
        """The evidence of a judged case (``judging.outcome.CaseOutcome``)."""
        return cls(outcome.case, outcome.reference.loss, outcome.reference.grads, outcome.initial_params)

    @property
    def data(self) -> tuple:
        """(NLL, grads of the NLL) without the penalty."""
        return self.shared.data

    @cached_property
    def penalty_grads(self) -> dict:
        return {name: self.reference_grads[name] - self.data[1][name] for name in self.reference_grads}

    @property
    def tape(self) -> dict:
        """Pre-activations a_l and deltas δ_l = ∂NLL/∂a_l of every layer (a_L are the logits)."""
        return self.shared.tape

    @property
    def pre_activations(self) -> list:
        """Hidden pre-activations h^a of layers 1..L-1, each (K, units)."""
        return self.shared.pre_activations

    def hypothesis(self, hyp):
        """(loss, grads) of the hypothesis (a ``Hypothesis``), or None where it does not apply."""
        def compute():
            return hyp.compute(self) if hyp.applies(self.case, self) else None

        if not hyp.per_submission:
            return self.shared.remember(("hypothesis", hyp), compute)
        if hyp not in self._own:
            self._own[hyp] = compute()
        return self._own[hyp]
