"""The loss's detector: the value a known bug gives the loss, on one case.

``loss_candidates`` lists the loss each known penalty or batch bug reports (computed from the
reference's data term and the case's weights); then every hypothesis's loss is tried
(``diagnosis.hypotheses``). A loss finding ranks after every parameter detector (``LOSS_RANK``):
a gradient says more about where the bug is than a number does.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from compare.grader.diagnosis.detectors import PARAM_DETECTORS
from compare.grader.diagnosis.evidence import Evidence, matches
from compare.grader.diagnosis.findings import Finding, with_K
from compare.grader.diagnosis.hypotheses import HYPOTHESES

LOSS_RANK = len(PARAM_DETECTORS)  # a loss finding ranks after every parameter detector

LOSS_TIMES_K = {"mean": "the loss is the sum over the batch instead of the mean (K times too large, {K})",
                "sum": "the loss is K times the sum over the batch ({K})"}


def loss_candidates(ev: Evidence) -> list:
    """(key, message, value): the loss a known bug would report on this case."""
    case, K = ev.case, ev.case.K
    nll, ref = ev.data[0], ev.reference_loss
    pen = ref - nll
    layers = range(1, case.n_layers + 1)
    weights = [np.asarray(case.params[f"W{layer}"]) for layer in layers]
    biases = [np.asarray(case.params[f"b{layer}"]) for layer in layers]
    l1 = [float(np.abs(W).sum()) for W in weights]
    l2 = [float((W * W).sum()) for W in weights]
    lam1, lam2 = ([case.layer_lambdas(layer)[term] for layer in layers] for term in (0, 1))

    def penalty(f1=1.0, f2=1.0, norm=lambda i: l2[i], swap=False):
        a, b = (lam2, lam1) if swap else (lam1, lam2)
        return sum(f1 * a[i] * l1[i] + f2 * b[i] * norm(i) for i in range(case.n_layers))

    out = []
    if case.regularised:
        out += [
            ("loss-no-penalty", "the loss has no penalty term: add {pen_loss}{hw:2.18}", nll),
            ("biases-regularised", "biases are regularised in the loss: the penalty covers the weights only",
             ref + sum(lam1[i] * np.abs(biases[i]).sum() + lam2[i] * (biases[i] ** 2).sum()
                       for i in range(case.n_layers))),
            ("loss-l2-factor-2", "the loss's L2 term is halved: {lam:l2x0.5}·‖W‖² instead of {lam:l2}·‖W‖²",
             nll + penalty(f2=0.5)),
            ("loss-l2-factor-2", "the loss's L2 term is doubled: {lam:l2x2}·‖W‖² instead of {lam:l2}·‖W‖²",
             nll + penalty(f2=2.0)),
            ("loss-l2-not-squared", "the loss uses ‖W‖₂ where the penalty is the squared norm ‖W‖₂²",
             nll + penalty(norm=lambda i: np.sqrt(l2[i]))),
            ("loss-l1-missing", "the loss has no L1 term λ_l1‖W_l‖₁", nll + penalty(f1=0.0)),
            ("loss-l2-missing", "the loss has no L2 term {lam:l2}·‖W_l‖₂²", nll + penalty(f2=0.0)),
            ("lambda-slot", "the loss swaps the L1 and L2 weights (lambdas are L1, L2 for each layer)",
             nll + penalty(swap=True)),
            ("penalty-over-K", "the loss divides the penalty by K (it is added once, not averaged)", nll + pen / K),
            ("penalty-times-K", "the loss adds the penalty once per example (K times, {K})", nll + K * pen),
        ]
        for i in range(case.n_layers):
            out.append(("loss-layer-penalty-missing", f"the loss has no penalty on layer {i + 1} (W{i + 1})",
                        ref - lam1[i] * l1[i] - lam2[i] * l2[i]))
    if K > 1:
        out += [
            ("sum-not-mean", LOSS_TIMES_K, K * nll + pen),
            ("sum-not-mean", LOSS_TIMES_K, K * (nll + pen)),
            ("mean-twice", {"mean": "the loss is divided by K twice (1/K of the right value, {K})",
                            "sum": "the loss is divided by K (1/K of the right value, {K}): the assignment's loss "
                                   "is the sum over the batch (reduction = \"sum\")"}, nll / K + pen),
        ]
    out.append(("loss-sign", "the loss has the wrong sign: L = -log {os}_y", -ref))
    return out


def diagnose_loss(ev: Evidence, student_loss: float) -> Finding | None:
    """What the student's loss value is, when a known bug gives it; ranked ``LOSS_RANK``."""
    finding = _loss_finding(ev, student_loss)
    return None if finding is None else replace(finding, rank=LOSS_RANK)


def _loss_finding(ev: Evidence, student_loss: float) -> Finding | None:
    if not np.isfinite(student_loss):
        if ev.case.stress:
            return Finding("softmax-overflow",
                           "the loss overflows at large logits (|{oa}| ≈ 1000): compute log {os}_y as "
                           "({oa}_y - max {oa}) - log Σ exp({oa} - max {oa}), never log(softmax) or exp({oa}) directly")
        return Finding("nonfinite", "the loss is NaN or inf on an ordinary batch")
    for key, message, value in loss_candidates(ev):
        if matches(student_loss, value):
            return with_K(key, message, ev.case)
    for hyp in HYPOTHESES:
        result = ev.hypothesis(hyp)
        if result is not None and matches(student_loss, result[0]):
            return hyp.finding(ev.case)
    return None
