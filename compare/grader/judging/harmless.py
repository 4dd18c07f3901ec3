"""Differences a course may call harmless: found in the student's answers, accepted or named.

Each is a way the numbers can differ from the reference without a bug in the backprop:

- a gradient in a broadcast-equal shape, (1, H) for an (H,) bias (``gradient_shapes``);
- an ε inside the log of the loss, −log(p_y + ε) (``log_epsilon``: the largest ε accepted);
- rect'(0) = 1, the mask h^a >= 0, on the batch where some h^a are exactly 0 (``relu_grad_at_zero``);
- the L2 term with another factor, 0.5·reg·‖W‖² for reg·‖W‖², in the loss and the gradients
  alike (``accept_l2_factors``).

When the assignment accepts one, the cases it explains pass and the report says what was
accepted; when it does not, those cases fail as a convention — "a convention, not a bug" — and
the diagnosis looks only at the cases nothing explains, so a real bug is still named.

The rect'(0) = 1 reference is autograd on the judging reference with its own ReLU (the one
derivative changed), not one of the diagnosis's broken networks: judging never imports the
diagnosis, which is built on top of it. torch is imported only when that reference is computed.
"""

from __future__ import annotations

import numpy as np

from compare.grader.course import cases as C
from compare.grader.course import conventions as V
from compare.grader.course.assignment import Assignment
from compare.grader.course.words import CourseWords, render
from compare.grader.judging.records import TOL, CaseReport, Report
from compare.grader.judging.reference import reference_model
from compare.lab.diff import compare_arrays

LARGEST_EPSILON = 1e-2  # a larger "ε" is no longer a guard against log 0


# ----------------------------------------------------------------------------- gradient shapes
def shape_differences(a: Assignment, case: C.Case, grads: dict) -> dict:
    """{name: (its shape, the assignment's)} for each gradient holding the right number of entries
    in a broadcast-equal shape other than the assignment's (the same shape once 1s are dropped)."""
    out = {}
    for name in case.params:  # in the params' order: W1, b1, W2, ...
        value = grads.get(name)
        if value is None:
            continue
        expected = V.student_shape(a, name, case.params[name].shape)
        if value.shape != expected and _squeezed(value.shape) == _squeezed(expected):
            out[name] = (tuple(value.shape), tuple(expected))
    return out


def _squeezed(shape) -> tuple:
    return tuple(n for n in shape if n != 1)


def shape_words(differences: dict) -> str:
    """"grads['b1'] has shape (1, 4) where params['b1'] is (4,); ..."."""
    return "; ".join(f"grads[{name!r}] has shape {got} where params[{name!r}] is {expected}"
                     for name, (got, expected) in differences.items())


def as_assignment_shapes(a: Assignment, case: C.Case, grads: dict) -> dict:
    """The gradients with each broadcast-equal shape replaced by the assignment's."""
    differences = shape_differences(a, case, grads)
    return {name: value.reshape(differences[name][1]) if name in differences else value
            for name, value in grads.items()}


# ----------------------------------------------------------------------------- per-case readings
def _agrees(loss: float, grads: dict, ref_loss: float, ref_grads: dict) -> bool:
    return compare_arrays(loss, ref_loss, TOL).passed and all(
        name in grads and grads[name].shape == ref.shape and compare_arrays(grads[name], ref, TOL).passed
        for name, ref in ref_grads.items())


def _loss_only(result: CaseReport) -> bool:
    return not result.outcome.passed["loss"] and all(ok for name, ok in result.outcome.passed.items() if name != "loss")


def _log_epsilon(result: CaseReport) -> float | None:
    """The ε that makes the student's loss −mean log(p_y + ε) + penalty, when 0 < ε ≤ 1e-2."""
    outcome, case = result.outcome, result.case
    reference = outcome.reference
    nll = reference.data[0]
    target = outcome.student_loss - (reference.loss - nll)  # the student's data term
    if not np.isfinite(target) or not target < nll:
        return None
    logits = reference.tape["pre"][-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    p_y = np.exp(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))[np.arange(case.K), case.y]

    def data_term(eps):
        return float(np.mean(-np.log(p_y + eps)))

    low, high = -20.0, np.log10(LARGEST_EPSILON)  # log10 ε; the data term falls as ε grows
    if data_term(10 ** high) > target:
        return None
    for _ in range(80):
        middle = (low + high) / 2
        low, high = (middle, high) if data_term(10 ** middle) > target else (low, middle)
    eps = 10 ** ((low + high) / 2)
    if not compare_arrays(data_term(eps), target, TOL).passed:
        return None
    return eps


def _relu_at_zero_reference(case: C.Case):
    """The reference under the other ReLU convention, rect'(0) = 1 (the mask h^a >= 0): autograd on
    the same network with each ReLU written as where(h^a >= 0, h^a, 0), whose derivative at 0 is 1.
    A convention the course may accept, not a bug: the diagnosis's broken networks
    (``diagnosis.variants``) are not used here (judging never imports the diagnosis)."""
    import torch
    from torch.nn import functional as F

    model = reference_model(case)
    h = torch.from_numpy(np.array(case.X, dtype=np.float64))
    for layer in model.layers[:-1]:
        a = layer(h)
        h = torch.where(a >= 0, a, torch.zeros_like(a))
    y = torch.from_numpy(np.array(case.y, dtype=np.int64))
    loss = F.cross_entropy(model.layers[-1](h), y) + model.penalty(case.lambdas)
    loss.backward()
    return float(loss.item()), {name: p.grad.detach().numpy().copy() for name, p in model.named_manual_parameters().items()}


def _l2_parts(case: C.Case) -> tuple[float, dict]:
    """The L2 terms alone: (Σ_l λ_l2‖W_l‖², {W_l: 2 λ_l2 W_l})."""
    value, grads = 0.0, {}
    for layer in range(1, case.n_layers + 1):
        W, (_, l2) = case.params[f"W{layer}"], case.layer_lambdas(layer)
        value += l2 * float((W ** 2).sum())
        grads[f"W{layer}"] = 2 * l2 * W
    return value, grads


def _l2_words(a: Assignment, factor: float) -> str:
    def form(f):
        if a.penalty == "l2":
            return ("" if f == 1 else f"{f:g}·") + "reg·Σ‖W‖²"
        return ("" if f == 1 else f"{f:g}·") + "λ_l2‖W_l‖²"

    return f"its L2 term is {form(factor)} where the assignment asks {form(a.l2_factor)}"


# ----------------------------------------------------------------------------- the judgement
def judge(report: Report, a: Assignment) -> None:
    """Mark the failing cases a harmless difference explains: accepted (they pass, said in
    ``report.accepted``) or a convention (they fail, said in ``report.conventions``)."""
    failing = [c for c in report.cases if not c.passed and not c.harmless]
    if not failing:
        return
    _relu_at_zero(report, a, failing)
    _epsilon(report, a, [c for c in failing if not c.harmless])
    _l2_factor(report, a, [c for c in failing if not c.harmless])


def _mark(report: Report, cases: list, words: str, accepted: bool, key: str) -> None:
    for result in cases:
        result.harmless, result.accepted = words, accepted
        result.outcome.passed = {name: True for name in result.outcome.passed}  # nothing for the diagnosis
    if accepted:
        report.accepted.append(f"{words} (the assignment accepts it: {key})")
    else:
        report.conventions.append(f"{words} — a convention, not a bug")


def _relu_at_zero(report: Report, a: Assignment, failing: list) -> None:
    explained = []
    for result in failing:
        if C.ZERO_PREACT not in result.case.tags or result.case.activation != "relu":
            continue
        ref_loss, ref_grads = _relu_at_zero_reference(result.case)
        if _agrees(result.outcome.student_loss, result.outcome.student_grads, ref_loss, ref_grads):
            explained.append(result)
    if explained:
        _mark(report, explained, render("its ReLU derivative at 0 is 1 (the mask {ha} >= 0) where the assignment "
                                        "takes {rect}'(0) = 0 (the mask {ha} > 0)", [], CourseWords.of(a)),
              1 in a.relu_grad_at_zero, "relu_grad_at_zero = [0, 1]")


def _epsilon(report: Report, a: Assignment, failing: list) -> None:
    found = [(result, _log_epsilon(result)) for result in failing if _loss_only(result)]
    found = [(result, eps) for result, eps in found if eps is not None]
    if not found:
        return
    values = [eps for _, eps in found]
    if max(values) > 1.01 * min(values):  # not one ε: some other bug in the loss
        return
    eps = float(np.exp(np.mean(np.log(values))))
    words = f"its loss has an ε inside the log, −log(p_y + ε) with ε ≈ {eps:.1g}, where the assignment asks −log p_y"
    _mark(report, [result for result, _ in found], words, eps <= a.log_epsilon * 1.01,
          f"log_epsilon = {a.log_epsilon:g}" if a.log_epsilon else f"log_epsilon ≥ {eps:.1g}")


def _l2_factor(report: Report, a: Assignment, failing: list) -> None:
    regularised = [result for result in failing if result.case.regularised]
    if not regularised or a.penalty == "none":
        return
    for factor in dict.fromkeys((*a.accept_l2_factors, 0.5 * a.l2_factor, 2.0 * a.l2_factor)):
        ratio = factor / a.l2_factor  # the student's L2 terms are ``ratio`` times the assignment's
        if all(_agrees_with_l2_ratio(result, ratio) for result in regularised):
            _mark(report, regularised, _l2_words(a, factor), factor in a.accept_l2_factors,
                  f"accept_l2_factors = [{factor:g}]")
            return


def _agrees_with_l2_ratio(result: CaseReport, ratio: float) -> bool:
    """The answer is the reference's once its L2 terms are taken as ``ratio`` times the assignment's."""
    l2_loss, l2_grads = _l2_parts(result.case)
    loss = result.outcome.student_loss - (ratio - 1) * l2_loss
    grads = {n: g - (ratio - 1) * l2_grads[n] if n in l2_grads else g for n, g in result.outcome.student_grads.items()}
    reference = result.outcome.reference
    return _agrees(loss, grads, reference.loss, reference.grads)
