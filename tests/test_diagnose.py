"""compare.grader.diagnosis: every diagnosis, each from a submission that has exactly that bug.

Each test runs a small implementation with one bug (``tests/student_impls/wrong.py`` or a
subclass of ``student.StudentMLP`` below) on a few cases of the battery, in this process,
compares it with autograd as ``compare.validate`` does, and checks the words that tell that
diagnosis apart from its neighbours — and that a nearby, different bug does not get it.
Detectors whose boundary is a number (a threshold, a tolerance) are also tested on both sides
with crafted gradients. Everything here is fast: the battery's large cases are left out.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from pathlib import Path

import numpy as np
import pytest

from compare.grader.course import cases as C
from compare.grader.course.words import HOMEWORK, CourseWords, factor_name, label_words, sci
from compare.grader.diagnosis.aggregation import _patterns, diagnose, diagnose_case
from compare.grader.diagnosis.detectors import (
    PARAM_DETECTORS,
    ParamView,
    detect_accumulated,
    detect_all_zero,
    detect_bias_regularised,
    detect_constant_factor,
    detect_hypotheses,
    detect_nonfinite,
    detect_penalty_terms,
    detect_precision,
    detect_scaled,
    detect_sign,
    detect_transposed,
    detect_zero_units,
    transposed_message,
)
from compare.grader.diagnosis.evidence import Evidence, close, matches
from compare.grader.diagnosis.findings import PATTERN, Finding
from compare.grader.diagnosis.hypotheses import HYPOTHESES
from compare.grader.diagnosis.loss import diagnose_loss
from compare.grader.diagnosis.variants import altered_loss_and_grads
from compare.grader.judging.outcome import CaseOutcome
from compare.grader.judging.reference import REFERENCES, reference_loss_and_grads
from compare.lab.diff import TOLERANCES, compare_arrays

sys.path.insert(0, str(Path(__file__).resolve().parent / "student_impls"))
import wrong as W  # noqa: E402
from student import StudentMLP, _sigmoid  # noqa: E402

TOL = TOLERANCES["float64"]
CASES = {c.name: c for act in C.ACTIVATIONS for c in C.battery(act)}
ONE, MINI, REG, ZERO, LARGE, NEG, MIXED, DEEP, MNIST = (
    "relu/one-example", "relu/minibatch", "relu/regularised", "relu/zero-preactivation", "relu/large-logits",
    "relu/large-negative-logits", "relu/mixed-scales", "relu/two-hidden", "relu/mnist-width")
SMALL = (ONE, MINI, REG)


# ----------------------------------------------------------------------------- running a submission here
@functools.cache
def reference(name):
    return reference_loss_and_grads(CASES[name])


def outcome(case, loss, grads, initial=None, previous=None) -> CaseOutcome:
    """What compare.validate hands the diagnosis (a transposed weight is transposed back)."""
    ref_loss, ref_grads = reference(case.name)
    diffs, student, transposed = {"loss": compare_arrays(loss, ref_loss, TOL)}, {}, []
    for name, ref in ref_grads.items():
        g = np.asarray(grads[name], dtype=np.float64)
        if g.shape != ref.shape:
            g = g.T
            transposed.append(name)
        student[name] = g
        diffs[name] = compare_arrays(g, ref, TOL)
    return CaseOutcome(case, REFERENCES.of(case), loss, student,
                       {n: d.passed for n, d in diffs.items()}, {n: d.max_rel_error for n, d in diffs.items()},
                       tuple(transposed), previous, initial)


def run(factory, names) -> list:
    """The factory's answers on these cases, one object per network as the validator keeps them."""
    made, previous, outcomes = {}, {}, []
    for name in names:
        case = CASES[name]
        key = (case.activation, case.sizes)
        if key not in made:
            net = factory(case.sizes, case.activation)
            made[key] = net, {k: np.array(v) for k, v in net.params.items()}  # the params it was made with
            previous[key] = None
        net, initial = made[key]
        for k, v in case.params.items():
            net.params[k] = np.array(v)
        with np.errstate(all="ignore"):
            loss, grads = net.loss_and_grads(np.array(case.X), np.array(case.y), list(case.lambdas))
        o = outcome(case, float(loss), {k: np.array(v) for k, v in grads.items()}, initial, previous[key])
        previous[key] = o.student_grads
        outcomes.append(o)
    return outcomes


@functools.cache
def diagnosis(factory, names=SMALL) -> list:
    return diagnose(run(factory, names))


def keys(findings) -> list:
    return [f.key for f in findings]


def finding(findings, key) -> Finding:
    found = [f for f in findings if f.key == key]
    assert found, f"no {key!r} in {keys(findings)}: " + "\n".join(f.message for f in findings)
    return found[0]


def view(name, s, param, **kwargs) -> ParamView:
    case = CASES[name]
    ref_loss, ref_grads = reference(name)
    return ParamView(case, param, s, ref_grads[param], Evidence(case, ref_loss, ref_grads), **kwargs)


def evidence(name) -> Evidence:
    return Evidence(CASES[name], *reference(name))


# ----------------------------------------------------------------------------- one-bug submissions
class PenaltySign(StudentMLP):
    def penalty_grad(self, layer, lam1, lam2):
        return -super().penalty_grad(layer, lam1, lam2)


class PenaltyTwice(StudentMLP):
    def add_penalty(self, grads, lambdas):
        super().add_penalty(grads, lambdas)
        super().add_penalty(grads, lambdas)


class _ScaledLambdas(StudentMLP):
    """The penalty (loss and gradient) scaled by a power of K."""

    power = 0

    def loss_and_grads(self, X, y, lambdas):
        K = X.shape[0]
        return super().loss_and_grads(X, y, [lam * K ** self.power for lam in lambdas])


class PenaltyOverK(_ScaledLambdas):
    power = -1


class PenaltyTimesK(_ScaledLambdas):
    power = 1


class _KnowsK(StudentMLP):
    def loss_and_grads(self, X, y, lambdas):
        self.K = X.shape[0]
        return super().loss_and_grads(X, y, lambdas)


class L2OverK(_KnowsK):
    def penalty_grad(self, layer, lam1, lam2):
        return lam1 * np.sign(self.W(layer)) + 2 * lam2 * self.W(layer) / self.K


class L1TimesK(_KnowsK):
    def penalty_grad(self, layer, lam1, lam2):
        return self.K * lam1 * np.sign(self.W(layer)) + 2 * lam2 * self.W(layer)


def _penalty_grad(f1=1.0, f2=2.0, l1=np.sign):
    class Bug(StudentMLP):
        def penalty_grad(self, layer, lam1, lam2):
            return f1 * lam1 * l1(self.W(layer)) + f2 * lam2 * self.W(layer)
    return Bug


L2Doubled, L2Missing, L1Sign, L2Sign = _penalty_grad(f2=4.0), _penalty_grad(f2=0.0), _penalty_grad(f1=-1.0), \
    _penalty_grad(f2=-2.0)
L1Doubled, L1UsesW, L1Odd, L2Odd = _penalty_grad(f1=2.0), _penalty_grad(l1=lambda W: W), _penalty_grad(f1=3.0), \
    _penalty_grad(f2=3.0)


def _loss_penalty(f1=1.0, f2=1.0, norm=lambda W: (W ** 2).sum(), swap=False, sign=1.0):
    class Bug(StudentMLP):
        def penalty(self, lambdas):
            total = 0.0
            for layer in range(1, self.L + 1):
                lam1, lam2 = lambdas[2 * layer - 2], lambdas[2 * layer - 1]
                if swap:
                    lam1, lam2 = lam2, lam1
                total += f1 * lam1 * np.abs(self.W(layer)).sum() + f2 * lam2 * norm(self.W(layer))
            return sign * total
    return Bug


LossL2Halved, LossL2Doubled, LossL1Missing, LossL2Missing = (_loss_penalty(f2=0.5), _loss_penalty(f2=2.0),
                                                             _loss_penalty(f1=0.0), _loss_penalty(f2=0.0))
LossL2NotSquared, LossLambdasSwapped = _loss_penalty(norm=lambda W: np.sqrt((W ** 2).sum())), _loss_penalty(swap=True)


class LossSign(StudentMLP):
    def loss_and_grads(self, X, y, lambdas):
        loss, grads = super().loss_and_grads(X, y, lambdas)
        return -loss, grads


class LossMeanTwice(StudentMLP):
    def reduce_loss(self, loss_sum, K):
        return loss_sum / K / K


class DataMissing(StudentMLP):
    def average(self, total, K):
        return {name: np.zeros_like(g) for name, g in total.items()}


class AllZero(StudentMLP):
    def loss_and_grads(self, X, y, lambdas):
        loss, grads = super().loss_and_grads(X, y, lambdas)
        return loss, {name: np.zeros_like(g) for name, g in grads.items()}


def _act_grad(fn, activation="relu"):
    class Bug(StudentMLP):
        def act_grad(self, a):
            return fn(self, a) if self.activation == activation else super().act_grad(a)
    return Bug


ReluMaskInverted = _act_grad(lambda self, a: (a <= 0).astype(float))
ReluTimesOutput = _act_grad(lambda self, a: a * (a > 0))
ReluHalfAtZero = _act_grad(lambda self, a: (a > 0) + 0.5 * (a == 0))
ReluHalfWhereInactive = _act_grad(lambda self, a: (a > 0) + 0.5 * (a < 0))
SigmoidMissingFactor = _act_grad(lambda self, a: _sigmoid(a), "sigmoid")
SigmoidTanhFormula = _act_grad(lambda self, a: 1 - _sigmoid(a) ** 2, "sigmoid")
TanhFromX = _act_grad(lambda self, a: 1 - a ** 2, "tanh")
TanhAtOutput = _act_grad(lambda self, a: 1 - np.tanh(np.tanh(a)) ** 2, "tanh")
SigmoidAtOutput = _act_grad(lambda self, a: _sigmoid(_sigmoid(a)) * (1 - _sigmoid(_sigmoid(a))), "sigmoid")
SoftplusAtOutput = _act_grad(lambda self, a: _sigmoid(np.logaddexp(0.0, a)), "softplus")
TanhAsDerivative = _act_grad(lambda self, a: np.tanh(a), "tanh")
SoftplusNoDerivative = _act_grad(lambda self, a: np.ones_like(a), "softplus")


class LastExampleNoMean(StudentMLP):
    def accumulate(self, total, grads):
        total.update(grads)

    def average(self, total, K):
        return dict(total)


class FirstExampleOnly(StudentMLP):
    def accumulate(self, total, grads):
        if not any(np.any(g) for g in total.values()):
            total.update(grads)


class FirstExampleNoMean(FirstExampleOnly):
    def average(self, total, K):
        return dict(total)


class StaleGradients(StudentMLP):
    def loss_and_grads(self, X, y, lambdas):
        loss, grads = super().loss_and_grads(X, y, lambdas)
        if not hasattr(self, "cache"):
            self.cache = grads
        return loss, {name: g.copy() for name, g in self.cache.items()}


def _noisy(*names):
    class Bug(StudentMLP):
        def loss_and_grads(self, X, y, lambdas):
            loss, grads = super().loss_and_grads(X, y, lambdas)
            for name in names:
                grads[name] = grads[name] + 1e-3 * np.cos(np.arange(grads[name].size)).reshape(grads[name].shape)
            return loss, grads
    return Bug


NoisyLayer1, NoisyOutput, NoisyW1, NoisyBoth = _noisy("W1", "b1"), _noisy("W2", "b2"), _noisy("W1"), \
    _noisy("W1", "b1", "W2", "b2")


def _times(c):
    class Bug(StudentMLP):
        def average(self, total, K):
            return {name: c * g / K for name, g in total.items()}
    return Bug


Times3, Times1p0002, HalfGrad = _times(3.0), _times(1.0002), _times(0.5)


# ----------------------------------------------------------------------------- the batch size: per case, per run
def test_sum_not_mean_names_each_cases_own_K():
    f = diagnosis(W.SumNotMean)[0]
    assert f.key == "sum-not-mean" and "sum over the examples instead of the mean" in f.message
    assert "K = 10 (minibatch), 8 (regularised)" in f.message
    outcomes = run(W.SumNotMean, (MINI,))
    diagnose(outcomes)
    assert "(K = 10)" in outcomes[0].findings[0].message  # a case's own finding names its own K


def test_mean_twice_names_each_cases_own_K():
    f = diagnosis(W.MeanTwice)[0]
    assert f.key == "mean-twice" and "divided by K twice" in f.message and "K = 10 (minibatch), 8 (regularised)" in f.message


def test_fixed_divisor_is_told_apart_from_K():
    found = diagnosis(W.FixedBatch100)
    f = found[0]
    assert f.key == "fixed-divisor" and "divides by a fixed 100 instead of the batch size K" in f.message
    assert f.rank == 0
    assert "0.01 at K = 1, 0.08 at K = 8, 0.1 at K = 10" in f.message and "and the loss" in f.message
    assert {w.partition(":")[2] for w in f.where} == {"W1", "b1", "W2", "b2", "loss"}
    assert f"{REG}:loss" in f.where and f.where[0] == f"{ONE}:W1"  # the penalised loss too; in the cases' order
    # K = 10 gives 1/K = 1/10: no "divided by K twice", no "0.01 times" for every case
    assert not {"mean-twice", "constant-factor", "sum-not-mean"} & set(keys(found)), keys(found)
    for near in (W.SumNotMean, W.MeanTwice, W.GradientTimesM):
        assert "fixed-divisor" not in keys(diagnosis(near))


def test_fixed_divisor_needs_two_different_K():
    found = diagnosis(W.FixedBatch100, (ONE,))
    assert "fixed-divisor" not in keys(found) and keys(found)[0] == "constant-factor"
    assert "0.01 times" in found[0].message
    found = diagnosis(W.FixedBatch100, (LARGE, NEG))  # K = 5 twice
    assert "fixed-divisor" not in keys(found)


def test_fixed_divisor_with_two_different_K():
    assert keys(diagnosis(W.FixedBatch100, (ONE, MINI)))[0] == "fixed-divisor"


class FixedBatch8(W.FixedBatch100):
    """A batch size of 8 written into the code: right on the K = 8 case."""

    def average(self, total, K):
        return {name: g / 8 for name, g in total.items()}

    def reduce_loss(self, loss_sum, K):
        return loss_sum / 8


def test_fixed_divisor_leaves_the_case_it_gets_right_alone():
    f = diagnosis(FixedBatch8)[0]
    assert f.key == "fixed-divisor" and "a fixed 8 instead" in f.message
    assert not any(w.startswith(REG) for w in f.where)  # K = 8: right there


class FixedGradsLossSum(W.FixedBatch100):
    def reduce_loss(self, loss_sum, K):
        return loss_sum  # another bug, in the loss


class FixedGradsPenaltyLoss(W.FixedBatch100):
    def reduce_loss(self, loss_sum, K):
        return 0.0  # the loss is the penalty alone: its data part is 0 times the right one


def test_fixed_divisor_does_not_swallow_another_loss_bug():
    found = diagnosis(FixedGradsLossSum)
    assert keys(found)[0] == "fixed-divisor" and "the gradients are K/100" in found[0].message
    assert not any(w.endswith(":loss") for w in found[0].where)
    assert finding(found, "sum-not-mean").where == (f"{MINI}:loss", f"{REG}:loss")
    found = diagnosis(FixedGradsPenaltyLoss)
    assert keys(found)[0] == "fixed-divisor" and not any(w.endswith(":loss") for w in found[0].where)


def test_fixed_divisor_without_the_loss():
    class GradsOnly(W.FixedBatch100):
        def reduce_loss(self, loss_sum, K):
            return loss_sum / K

    f = diagnosis(GradsOnly)[0]
    assert f.key == "fixed-divisor" and "the gradients are K/100" in f.message and "loss" not in f.message


def test_constant_factor_names_the_number_of_classes_per_case():
    f = diagnosis(W.GradientTimesM, (ONE, MINI, REG, MIXED))[0]
    assert f.key == "constant-factor" and "(= m, the number of classes)" in f.message
    assert "2 (one-example, minibatch), 3 (regularised), 5 (mixed-scales)" in f.message


class WeightsTimesM(StudentMLP):
    """The backprop part of each weight gradient times m, the number of classes; biases right."""

    def average(self, total, K):
        m = self.sizes[-1]
        return {name: g / K * (m if name.startswith("W") else 1) for name, g in total.items()}


def test_constant_factor_of_the_backprop_part_in_every_case():
    f = diagnosis(WeightsTimesM, (REG, MNIST))[0]
    assert f.key == "constant-factor" and f.message.startswith(
        "the backprop part of the gradient is a constant multiple of the right one, its own in each case (= m")
    assert "3 (regularised), 10 (mnist-width)" in f.message


def test_constant_factor_same_in_every_case_keeps_its_message():
    f = diagnosis(Times3)[0]
    assert f.key == "constant-factor" and f.message.startswith("the gradient is exactly 3 times the right one")
    assert "its own in each case" not in f.message


@pytest.mark.parametrize("c, name", [(10.0, "K, the batch size"), (0.1, "1/K"), (2.0, "m, the number"),
                                     (0.5, "1/m"), (-1.0, "-1: the wrong sign"), (7.0, None)])
def test_factor_names(c, name):
    text = factor_name(c, 10, 2)
    assert (name in text) if name else text == ""
    assert factor_name(4.0, 10, 3) == ""  # 4 is none of K, 1/K, m, 1/m, 2, 1/2, -1
    assert factor_name(2.0, 10, 3) == " (= 2)" and factor_name(0.5, 10, 3) == " (= 1/2)"


def test_constant_factor_threshold_is_1e_4():
    r = reference(MINI)[1]["W2"]
    assert detect_constant_factor(view(MINI, r * 1.0002, "W2")).key == "constant-factor"
    assert detect_constant_factor(view(MINI, r * (1 + 5e-5), "W2")) is None
    assert detect_constant_factor(view(MINI, r * 1.01, "W2")) is not None
    assert detect_constant_factor(view(MINI, np.zeros_like(r), "W2")) is None  # c = 0 is "all zero"
    assert "1.0002 times" in finding(diagnosis(Times1p0002), "constant-factor").message


def test_constant_factor_of_the_backprop_part_only():
    r = reference(REG)[1]
    ev = evidence(REG)
    s = 3 * ev.data[1]["b1"] + ev.penalty_grads["b1"]  # a bias: no penalty terms to read off
    f = detect_constant_factor(view(REG, s, "b1"))
    assert f is not None and "exactly 3 times" in f.message
    f = detect_constant_factor(view(REG, 3 * ev.data[1]["W1"] + ev.penalty_grads["W1"], "W1"))
    assert "backprop part of the gradient is exactly 3 times" in f.message
    assert detect_constant_factor(view(REG, r["W1"] + 1e-3, "W1")) is None
    p = view(REG, 3 * ev.data[1]["W1"] + ev.penalty_grads["W1"], "W1")
    p.r = np.zeros_like(p.r)  # a zero base is skipped, not divided by
    assert "backprop part of the gradient is exactly 3 times" in detect_constant_factor(p).message


def test_precision_threshold_is_1e_4():
    r = reference(MINI)[1]["W2"]
    assert detect_precision(view(MINI, r, "W2", max_rel_error=9e-5)).key == "precision"
    assert detect_precision(view(MINI, r, "W2", max_rel_error=2e-4)) is None
    assert detect_precision(view(MINI, r, "W2", max_rel_error=1e-4)) is None  # below 1e-4, not at it
    assert "max relative 9.0e-05" in detect_precision(view(MINI, r, "W2", max_rel_error=9e-5)).message
    f = diagnosis(W.Float32)[0]
    assert f.key == "precision" and "float32" in f.message
    assert "precision" not in keys(diagnosis(Times1p0002))  # 2e-4 relative: a factor, not rounding


# ----------------------------------------------------------------------------- the penalty
@pytest.mark.parametrize("bug, key, words", [
    (PenaltySign, "penalty-sign", "subtracted instead of added"),
    (PenaltyTwice, "penalty-twice", "penalty gradient added twice"),
    (PenaltyOverK, "penalty-over-K", "penalty gradient divided by K"),
    (PenaltyTimesK, "penalty-times-K", "penalty gradient added once per example (K times, K = 8)"),
    (W.PenaltyMissingFromGrad, "penalty-missing-grad", "penalty missing from the gradient: no λ_l1·sign(W) + 2λ_l2·W "
                                                       "term (your loss includes it)"),
    (DataMissing, "data-missing", "only the penalty is in this gradient"),
    (W.BiasRegularised, "biases-regularised", "biases are regularised: the penalty covers the weights W only"),
])
def test_penalty_gradient_diagnoses(bug, key, words):
    found = diagnosis(bug, (REG,))
    assert finding(found, key).where and words in finding(found, key).message
    assert keys(found)[0] == key


@pytest.mark.parametrize("bug, key, words", [
    (W.L1Missing, "l1-missing", "the L1 term (λ11·sign(W)) is missing"),
    (L2Missing, "l2-missing", "the L2 term (2·λ12·W) is missing"),
    (L1Sign, "l1-sign", "the L1 term has the wrong sign (-λ11·sign(W))"),
    (L2Sign, "l2-sign", "the L2 term has the wrong sign (-2·λ12·W)"),
    (L1Doubled, "l1-factor-2", "the L1 term is doubled: 2·λ11·sign(W)"),
    (W.L2FactorTwo, "l2-factor-2", "λ12·W instead of 2·λ12·W"),
    (L2Doubled, "l2-factor-2", "4·λ12·W instead of 2·λ12·W"),
    (L1UsesW, "l1-uses-W", "the L1 gradient is λ11·W instead of λ11·sign(W)"),
    (W.LambdasSwapped, "lambda-slot", "the L1 term uses λ12 = 0.013 where it should use λ11"),
    (L1Odd, "l1-wrong", "the L1 coefficient is 0.033 instead of 0.011"),
    (L2Odd, "l2-wrong", "the L2 coefficient is 0.039 instead of 0.026"),
    (L2OverK, "penalty-over-K", "the L2 term is divided by K (2·λ12·W/K)"),
    (L1TimesK, "penalty-times-K", "the L1 term is multiplied by K"),
])
def test_penalty_term_diagnoses(bug, key, words):
    found = diagnosis(bug, (REG,))
    f = found[0]
    assert f.key == key and words in f.message, (keys(found), f.message)
    assert "W1" in {w.partition(":")[2] for w in f.where}


def test_penalty_terms_read_both_coefficients_and_the_factor():
    ev = evidence(REG)
    W1 = CASES[REG].params["W1"]
    lam1, lam2 = CASES[REG].lambdas[:2]
    s = 2 * ev.data[1]["W1"] + 2 * lam2 * W1  # backprop doubled, L1 missing
    f = detect_penalty_terms(view(REG, s, "W1"))
    assert f.key == "constant-factor+l1-missing" and "exactly 2 times" in f.message and "L1 term" in f.message
    assert detect_penalty_terms(view(REG, ev.reference_grads["W1"], "W1")) is None
    assert detect_penalty_terms(view(ONE, reference(ONE)[1]["W1"] * 2, "W1")) is None  # no penalty
    assert detect_penalty_terms(view(REG, ev.reference_grads["b1"] + 1, "b1")) is None  # a bias


def test_data_missing_is_tried_only_with_a_penalty():
    found = diagnosis(DataMissing, (ONE, MINI))
    assert keys(found)[0] == "all-zero" and "data-missing" not in keys(found)
    assert "the gradient is all zeros" in found[0].message
    found = diagnosis(DataMissing, (REG,))
    assert keys(found)[0] == "data-missing" and finding(found, "all-zero").where == (f"{REG}:b1", f"{REG}:b2")


def test_all_zero():
    found = diagnosis(AllZero, (REG,))
    assert keys(found)[0] == "all-zero" and "data-missing" not in keys(found)
    found = diagnosis(AllZero, (ONE,))  # K = 1, both units active: an inverted mask also gives zeros in layer 1
    assert keys(found) == ["all-zero"]


def test_penalty_over_and_times_K_in_the_loss():
    assert "the loss divides the penalty by K" in finding(diagnosis(PenaltyOverK, (REG,)), "penalty-over-K").where \
        or any("the loss divides the penalty by K" in o.message for o in run_findings(PenaltyOverK, REG, "loss"))
    (f,) = run_findings(PenaltyTimesK, REG, "loss")
    assert f.key == "penalty-times-K" and "adds the penalty once per example (K times, K = 8)" in f.message


def run_findings(bug, name, param) -> list:
    (o,) = run(bug, (name,))
    return [f for f in diagnose_case(o) if f.where == (f"{name}:{param}",)]


@pytest.mark.parametrize("bug, key, words", [
    (W.PenaltyMissingFromLoss, "loss-no-penalty", "the loss has no penalty term"),
    (LossL2Halved, "loss-l2-factor-2", "the loss's L2 term is halved"),
    (LossL2Doubled, "loss-l2-factor-2", "the loss's L2 term is doubled"),
    (LossL2NotSquared, "loss-l2-not-squared", "the loss uses ‖W‖₂ where the penalty is the squared norm"),
    (LossL1Missing, "loss-l1-missing", "the loss has no L1 term"),
    (LossL2Missing, "loss-l2-missing", "the loss has no L2 term"),
    (LossLambdasSwapped, "lambda-slot", "the loss swaps the L1 and L2 weights"),
    (PenaltyOverK, "penalty-over-K", "the loss divides the penalty by K"),
    (W.LossSumNotMean, "sum-not-mean", "the loss is the sum over the batch instead of the mean (K times too large, "
                                       "K = 8)"),
    (LossMeanTwice, "mean-twice", "the loss is divided by K twice (1/K of the right value, K = 8)"),
    (LossSign, "loss-sign", "the loss has the wrong sign"),
    (W.BiasRegularised, "biases-regularised", "biases are regularised in the loss"),
])
def test_loss_diagnoses(bug, key, words):
    (f,) = run_findings(bug, REG, "loss")
    assert f.key == key and words in f.message, (f.key, f.message)


def test_loss_penalty_missing_on_one_layer():
    (f,) = run_findings(W.NoPenaltyOnLayer2, REG, "loss")
    assert f.key == "loss-layer-penalty-missing" and "no penalty on layer 2 (W2)" in f.message


def test_loss_sign_on_an_unregularised_batch():
    (f,) = run_findings(LossSign, MINI, "loss")
    assert f.key == "loss-sign"
    assert [f.key for f in run_findings(LossSign, ONE, "loss")] == ["loss-sign"]


def test_loss_detector_unknown_value():
    ev = evidence(REG)
    assert diagnose_loss(ev, ev.reference_loss + 0.123) is None
    assert diagnose_loss(evidence(MINI), float("inf")).key == "nonfinite"
    assert diagnose_loss(evidence(LARGE), float("nan")).key == "softmax-overflow"


# ----------------------------------------------------------------------------- loss only
def test_loss_epsilon_states_its_size():
    found = diagnosis(W.LogEpsilon)
    f = found[0]
    assert f.key == "loss-epsilon" and "gradients exact: an ε inside the log?" in f.message
    assert "-log(o^s_y + 1e-09)" in f.message
    rel = [abs(o.student_loss - o.reference.loss) / o.reference.loss for o in run(W.LogEpsilon, SMALL)]
    assert f"loss off by {sci(min(rel))} to {sci(max(rel))} relative" in f.message
    assert "loss-only" not in keys(found)


@pytest.mark.parametrize("name", [DEEP, LARGE, MIXED])
def test_loss_epsilon_on_every_kind_of_case(name):
    """Two hidden layers (the logits are the last pre-activation), logits of 1000 and of mixed scales."""
    (o,) = run(W.LogEpsilon, (name,))
    assert [f.key for f in diagnose_case(o)] == ["loss-epsilon"]


@pytest.mark.parametrize("eps, key", [(1e-3, "loss-epsilon"), (1e-2, "loss-only")])
def test_loss_epsilon_range(eps, key):
    """An ε up to 1e-3 is a guard against log 0; 1e-2 moves the loss by percents: another bug."""
    class Eps(StudentMLP):
        def nll(self, o, y):
            return -np.log(self.softmax(o)[y] + eps)

    (o,) = run(Eps, (MINI,))
    (f,) = diagnose_case(o)
    assert f.key == key and (f"+ {eps:.0e})" in f.message) == (key == "loss-epsilon")


def test_loss_only_states_its_size_without_an_epsilon():
    class LossPlus(StudentMLP):
        def reduce_loss(self, loss_sum, K):
            return loss_sum / K * (1 + 3e-6)

    (o,) = run(LossPlus, (MINI,))
    (f,) = diagnose_case(o)
    assert f.key == "loss-only" and f.message.startswith("loss off by 3e-6 relative, gradients exact")
    assert "ε" not in f.message
    found = diagnosis(LossPlus, (MINI, REG))
    assert finding(found, "loss-only").message.startswith("loss off by 3e-6 relative")


def test_sci():
    assert sci(3e-9) == "3e-9" and sci(2.6e-3) == "3e-3" and sci(1e12) == "1e12"


# ----------------------------------------------------------------------------- softmax
def test_whole_batch_max():
    found = diagnosis(W.WholeBatchMax, (ONE, MINI, LARGE, NEG, MIXED))
    f = found[0]
    assert f.key == "softmax-batch-max" and f.where == (MIXED,) and f.rank == 0
    assert "subtracts one max over the whole batch instead of each example's own max" in f.message
    assert "softmax-overflow" not in keys(found)
    (o,) = [o for o in run(W.WholeBatchMax, (MIXED,))]
    near = diagnosis(W.NaiveSoftmax, (ONE, LARGE, NEG, MIXED))
    assert keys(near)[0] == "softmax-overflow" and "softmax-batch-max" not in keys(near)


def test_whole_batch_max_needs_every_control_to_pass():
    outcomes = []
    for name in (ONE, LARGE, NEG, MIXED):
        loss, grads = reference(name)
        if name in (NEG, MIXED):  # fails at -1000 too: not a whole-batch max
            loss, grads = float("nan"), {k: np.full_like(v, np.nan) for k, v in grads.items()}
        outcomes.append(outcome(CASES[name], loss, grads))
    found = diagnose(outcomes)
    assert "softmax-batch-max" not in keys(found) and keys(found)[0] == "softmax-overflow"


def test_whole_batch_max_needs_the_control():
    found = diagnosis(W.WholeBatchMax, (ONE, MINI, MIXED))  # no evenly shifted large-logit case ran
    assert "softmax-batch-max" not in keys(found) and keys(found)[0] == "softmax-overflow"


def test_mixed_scales_case():
    case = C.mixed_scales()
    logits = evidence(MIXED).tape["pre"][-1]
    centres = logits.mean(axis=1)
    assert centres.max() > 990 and centres.min() < -990 and np.abs(centres).min() < 20
    assert np.ptp(logits, axis=1).max() < 15  # gaps of a few units inside each example
    assert C.LARGE_LOGITS in case.tags and case.stress and not case.regularised
    assert MIXED in {c.name for c in C.battery("relu")} and MIXED.replace("relu", "tanh") in CASES  # every activation


def test_softmax_overflow_and_nonfinite():
    found = diagnosis(W.NaiveSoftmax, (ONE, LARGE))
    assert "exp(o^a) overflows" in found[0].message
    r = reference(MINI)[1]["W1"]
    f = detect_nonfinite(view(MINI, np.full_like(r, np.nan), "W1"))
    assert f.key == "nonfinite" and "ordinary batch" in f.message
    one_nan = r.copy()
    one_nan[0, 0] = np.inf
    assert detect_nonfinite(view(MINI, one_nan, "W1")).key == "nonfinite"
    assert detect_nonfinite(view(MINI, r, "W1")) is None


def test_softmax_axis():
    found = diagnosis(W.MatrixSoftmaxAxis, (MINI, REG))
    assert found[0].key == "softmax-axis" and "normalised over the batch (axis 0)" in found[0].message
    assert {f"{REG}:W1", f"{REG}:W2", f"{MINI}:W1"} <= set(found[0].where)  # with the penalty in W


def test_onehot_missing():
    found = diagnosis(W.OnehotMissing)
    assert found[0].key == "onehot-missing" and "onehot(y) is not subtracted" in found[0].message
    assert "onehot-missing" not in keys(diagnosis(W.LabelOffByOne))


# ----------------------------------------------------------------------------- labels
LABEL_CASES = (ONE, MINI, REG, MIXED)


@pytest.mark.parametrize("bug, words", [
    (W.LabelOffByOne, "off by one: your numbers match the labels y + 1 (mod m) instead"),
    (W.LabelShiftedBackByOne, "off by one: your numbers match the labels y - 1 (mod m) instead"),
    (W.LabelShiftedByTwo, "off by two: your numbers match the labels y + 2 (mod m) instead"),
])
def test_label_shifts_by_direction_and_amount(bug, words):
    f = diagnosis(bug, LABEL_CASES)[0]
    assert f.key == "label-shift" and words in f.message, f.message


def test_label_shift_by_two_is_not_off_by_one():
    found = diagnosis(W.LabelShiftedByTwo, LABEL_CASES)
    assert "off by one" not in "\n".join(f.message for f in found)
    assert "pattern-batch" not in keys(found)  # it passes on m = 2 (one-example, minibatch), K is not why


class LabelShiftByClasses(StudentMLP):
    """y + 2 with five classes, y + 1 otherwise: no one shift explains every case."""

    def grad_output(self, o, y):
        return self.softmax(o) - self.onehot((y + (2 if len(o) == 5 else 1)) % len(o), len(o))


def test_label_shifts_that_disagree_keep_the_first_cases_words():
    f = diagnosis(LabelShiftByClasses, (ONE, REG, MIXED))[0]
    assert f.key == "label-shift" and "the labels y + 1 or y - 1 (mod m)" in f.message


def test_label_shift_ambiguous_with_few_classes():
    f = diagnosis(W.LabelShiftedByTwo, (REG,))[0]  # m = 3: y + 2 = y - 1
    assert "shifted: your numbers match the labels y - 1 or y + 2 (mod m) (the same labels" in f.message
    f = diagnosis(W.LabelOffByOne, (ONE, MINI))[0]  # m = 2: y + 1 = y - 1
    assert "off by one: your numbers match the labels y + 1 or y - 1" in f.message
    assert label_words([2, -2]).startswith("onehot/labels off by two")


# ----------------------------------------------------------------------------- activations
@pytest.mark.parametrize("bug, names, key, words", [
    (W.ReluGradAtZero, (ZERO,), "relu-zero", "rect'(0) = 1 (a mask h^a >= 0)"),
    (ReluMaskInverted, (MINI,), "relu-mask-inverted", "ReLU mask inverted"),
    (ReluMaskInverted, (ZERO,), "relu-mask-inverted", "ReLU mask inverted"),  # 1[h^a <= 0]: 1 at exact zeros
    (W.ReluNoMask, (REG,), "no-activation-derivative", "derivative is missing"),  # penalty in W1
    (ReluTimesOutput, (MINI,), "relu-times-output", "multiplied by h^s = rect(h^a)"),
    (W.ReluNoMask, (MINI,), "no-activation-derivative", "the activation's derivative is missing"),
    (SoftplusNoDerivative, ("softplus/minibatch",), "no-activation-derivative", "derivative is missing"),
    (W.SigmoidGradFromX, ("sigmoid/minibatch",), "sigmoid-derivative-from-x", "you use x(1 - x)"),
    (SigmoidMissingFactor, ("sigmoid/minibatch",), "sigmoid-derivative-missing-factor", "you use σ(x), it is"),
    (SigmoidTanhFormula, ("sigmoid/minibatch",), "sigmoid-derivative-tanh-formula", "1 - σ(x)² (tanh's formula)"),
    (TanhFromX, ("tanh/minibatch",), "tanh-derivative-from-x", "you use 1 - x² on the pre-activation"),
    (W.TanhGradNoSquare, ("tanh/minibatch",), "tanh-derivative-no-square", "you use 1 - tanh(x),"),
    (W.SoftplusGradSign, ("softplus/minibatch",), "softplus-derivative-sign", "you use σ(-x)"),
    (TanhAtOutput, ("tanh/minibatch",), "derivative-at-output", "evaluated at h^s"),
    (SigmoidAtOutput, ("sigmoid/minibatch",), "derivative-at-output", "evaluated at h^s"),
    (SoftplusAtOutput, ("softplus/minibatch",), "derivative-at-output", "evaluated at h^s"),
    (W.SigmoidGradFromX, ("sigmoid/regularised",), "sigmoid-derivative-from-x", "you use x(1 - x)"),
    (TanhAsDerivative, ("tanh/minibatch",), "function-as-derivative", "the activation itself is used as its derivative"),
    (W.IgnoresActivation, ("tanh/one-example", "tanh/minibatch"), "ignores-activation-relu", "those of a relu network"),
    (W.IgnoresParams, (ONE, MINI), "ignores-params", "does not read the values written into `params`"),
    (W.PreActivationAsInput, (MINI,), "preactivation-as-input", "∂L/∂W2 uses the pre-activation h^a"),
    (W.PreActivationAsInput, (REG,), "preactivation-as-input", "∂L/∂W2 uses the pre-activation h^a"),
    (W.AccumulatesAcrossCalls, (ONE, MINI), "accumulates-across-calls", "added to the previous call's"),
    (StaleGradients, (ONE, MINI), "stale-gradients", "returns the gradients of the previous call"),
    (W.SignFlipped, (MINI,), "sign-flipped", "gradient has the wrong sign (= -reference)"),
    (W.SignFlipped, (REG,), "sign-flipped", "backprop part of the gradient has the wrong sign"),
])
def test_single_bug_diagnoses(bug, names, key, words):
    found = diagnosis(bug, names)
    assert found[0].key == key and words in found[0].message, (keys(found), found[0].message)
    if key in ("ignores-params", "ignores-activation-relu"):
        assert f"{names[-1]}:loss" in found[0].where  # the loss tells it too
    if key == "preactivation-as-input":
        assert found[0].where == (f"{names[-1]}:W2",)
    elif key not in ("accumulates-across-calls", "stale-gradients"):
        assert f"{names[-1]}:W1" in found[0].where  # every layer of the last case, the penalty included


@pytest.mark.parametrize("bug, names, absent", [
    (ReluHalfAtZero, (ZERO,), "relu-zero-hypothesis"),  # rect'(0) = 0.5: no hypothesis, the units still tell
    (ReluMaskInverted, (MINI,), "relu-times-output"),
    (W.ReluNoMask, (MINI,), "relu-mask-inverted"),
    (SigmoidMissingFactor, ("sigmoid/minibatch",), "sigmoid-derivative-from-x"),
    (TanhFromX, ("tanh/minibatch",), "tanh-derivative-no-square"),
    (TanhAsDerivative, ("tanh/minibatch",), "derivative-at-output"),
    (W.MeanTwice, (MINI,), "last-example-only"),
    (W.SumNotMean, (ONE, MINI), "accumulates-across-calls"),
    (W.PenaltyMissingFromLoss, (REG,), "penalty-missing-grad"),
    (W.PenaltyMissingFromGrad, (REG,), "loss-no-penalty"),
    (PenaltySign, (REG,), "sign-flipped"),
    (W.SignFlipped, (REG,), "penalty-sign"),
    (W.L2FactorTwo, (REG,), "penalty-over-K"),
    (W.TransposedW1, (MINI,), "sign-flipped"),
    (NoisyOutput, (MINI,), "layer-1-wrong"),
    (NoisyLayer1, (MINI,), "output-layer-wrong"),
])
def test_not_given_for_a_nearby_bug(bug, names, absent):
    assert absent not in keys(diagnosis(bug, names))


def test_last_and_first_example_messages():
    f = diagnosis(W.LastExampleOnly, (MINI,))[0]
    assert f.key == "last-example-only" and "only the last example counts (then divided by K)" in f.message
    f = diagnosis(LastExampleNoMean, (MINI,))[0]
    assert f.key == "last-example-only" and "only the last example counts: the loop" in f.message
    assert "divided by K" not in f.message
    f = diagnosis(FirstExampleOnly, (MINI,))[0]
    assert f.key == "first-example-only" and "(then divided by K)" in f.message
    f = diagnosis(FirstExampleNoMean, (MINI,))[0]
    assert f.key == "first-example-only" and "stops (or returns) after one example" in f.message


def test_zero_units():
    found = diagnosis(ReluHalfAtZero, (ZERO,))
    assert found[0].key == "relu-zero" and "errors only in hidden units whose pre-activation h^a is exactly 0" \
        in found[0].message
    found = diagnosis(ReluHalfWhereInactive, (LARGE,))  # one unit is active on every example
    assert found[0].key == "relu-mask" and "inactive (h^a ≤ 0) for some example" in found[0].message
    found = diagnosis(ReluHalfWhereInactive, (MINI,))  # every unit inactive somewhere: no telling
    assert "relu-mask" not in keys(found) and "relu-zero" not in keys(found)
    r = reference(ZERO)[1]
    assert detect_zero_units(view(ZERO, r["W1"], "W1")) is None
    assert detect_zero_units(view(ZERO, r["W2"] + 1, "W2")) is None  # the output layer has no units below
    assert detect_zero_units(view("tanh/minibatch", reference("tanh/minibatch")[1]["W1"] + 1, "W1")) is None


def test_transposed():
    found = diagnosis(W.TransposedW1, (MINI, REG))
    f = found[0]
    assert f.key == "transposed" and f.where == ("relu/minibatch:W1", "relu/regularised:W1")
    found = diagnosis(W.TransposedW1, (REG,))
    f = found[0]
    assert f.key == "transposed" and "grads['W1'] has the transposed shape (5, 4)" in f.message
    assert keys(found) == ["transposed"]  # explained: no "layer 1 is wrong", no "outer product"
    assert f.rank == PARAM_DETECTORS.index(detect_transposed)
    assert "your ∂L/∂W1 is the transpose of the right one" not in f.message
    (o,) = run(W.TransposedW1, (MINI,))
    (g,) = diagnose_case(o)
    assert "your ∂L/∂W1 is the transpose of the right one" in g.message  # square: same shape, values transposed
    assert "∂L/∂W2 = δ h^s1ᵀ" in transposed_message("W2")


class UntransposedWhereSquare(StudentMLP):
    """W δ instead of Wᵀ δ wherever the shapes let it through (W square)."""

    def backprop_matrix(self, layer):
        W = self.W(layer)
        return W if W.shape[0] == W.shape[1] else W.T


def test_untransposed_backprop():
    found = diagnosis(W.UntransposedBackprop, (MINI,))
    assert found[0].key == "untransposed-weight-in-backprop" and "goes through W instead of Wᵀ" in found[0].message
    found = diagnosis(UntransposedWhereSquare, (DEEP,))  # 4-5-3-3: only W3 is square
    assert found[0].key == "untransposed-weight-in-backprop" and f"{DEEP}:W1" in found[0].where


# ----------------------------------------------------------------------------- which layers fail
def test_layer_localisation():
    f = finding(diagnosis(NoisyLayer1, (MINI,)), "layer-1-wrong")
    assert "layer 1 (W1, b1) is wrong: the error enters when backpropagating from layer 2 into layer 1" in f.message
    f = finding(diagnosis(NoisyOutput, (MINI,)), "output-layer-wrong")
    assert "the output layer's gradients (W2, b2) are wrong while the layers below are right" in f.message
    f = finding(diagnosis(NoisyBoth, (MINI,)), "grads-wrong-loss-right")
    assert "layers 1, 2 are wrong" in f.message and "the output layer, where backprop starts" in f.message
    f = finding(diagnosis(NoisyW1, (MINI,)), "weight-outer-product")
    assert "∂L/∂b1 is right but ∂L/∂W1 is wrong" in f.message and "δᵀ·X" in f.message
    assert "weight-outer-product" not in keys(diagnosis(NoisyLayer1, (MINI,)))
    assert "layer-1-wrong" in keys(diagnosis(NoisyW1, (MINI,)))


def test_layer_localisation_two_hidden():
    f = finding(diagnosis(_noisy("W2", "b2"), (DEEP,)), "layer-2-wrong")
    assert "(W3, b3)" in f.message and "from layer 3 into layer 2" in f.message
    f = finding(diagnosis(_noisy("W1", "W2"), (DEEP,)), "grads-wrong-loss-right")
    assert "layer 2 (the layers above it are right)" in f.message
    f = finding(diagnosis(_noisy("W1", "b1"), (DEEP,)), "layer-1-wrong")
    assert "(W2, b2, W3, b3…)" not in f.message and "(W2, b2…)" in f.message
    f = finding(diagnosis(_noisy("W3"), (DEEP,)), "output-layer-wrong")
    assert "∂L/∂W3 = ∂L/∂o^a · h^sᵀ" in f.message
    assert "δᵀ·H^s" in finding(diagnosis(_noisy("W3"), (DEEP,)), "weight-outer-product").message


def test_no_layer_hint_when_the_loss_is_wrong_too():
    class Both(NoisyLayer1):
        def reduce_loss(self, loss_sum, K):
            return loss_sum / K + 0.1

    found = diagnosis(Both, (MINI,))
    assert not {"layer-1-wrong", "loss-only"} & set(keys(found))


# ----------------------------------------------------------------------------- the run: patterns, order
def pattern_keys(bug, names):
    return [f.key for f in diagnosis(bug, names) if f.key.startswith("pattern-")]


def test_patterns():
    assert pattern_keys(W.NaiveSoftmax, (ONE, MINI, LARGE)) == ["pattern-large-logits"]
    assert pattern_keys(W.ReluGradAtZero, (MINI, ZERO)) == ["pattern-zero-preactivation"]
    assert pattern_keys(W.L1Missing, (ONE, MINI, REG)) == ["pattern-regularised"]
    assert pattern_keys(W.SumNotMean, (ONE, MINI)) == ["pattern-batch"]
    assert pattern_keys(W.SigmoidGradFromX, (MINI, "sigmoid/minibatch")) == ["pattern-activation-sigmoid"]
    assert pattern_keys(W.SumNotMean, (MINI, REG)) == []  # nothing passes: no "only"


def test_batch_pattern_needs_a_clean_control():
    # the K = 1 case passes, but the failing ones differ from it in more than K
    assert "pattern-batch" not in pattern_keys(W.PenaltyMissingFromGrad, (ONE, REG))
    assert "pattern-batch" not in pattern_keys(W.SumNotMean, ("tanh/one-example", MINI))  # another network
    assert "pattern-batch" in pattern_keys(W.SumNotMean, (ONE, MINI, REG))
    assert "pattern-batch" in pattern_keys(W.SumNotMean, (ONE, MINI, "tanh/one-example", "tanh/minibatch"))


def test_patterns_two_hidden_and_mnist():
    outcomes = []
    for name in (ONE, MINI, REG, DEEP, MNIST):
        loss, grads = reference(name)
        if name in (DEEP, MNIST):
            grads = {k: v + 1.0 for k, v in grads.items()}
        outcomes.append(outcome(CASES[name], loss, grads))
    assert [f.key for f in _patterns(outcomes[:4])] == ["pattern-two-hidden"]
    assert [f.key for f in _patterns(outcomes[:3] + outcomes[4:])] == ["pattern-mnist"]
    assert "pattern-mnist" not in [f.key for f in _patterns(outcomes)]


def test_order_of_findings():
    found = diagnosis(W.PenaltyMissingFromLoss, (ONE, MINI, REG, DEEP))
    assert keys(found) == ["loss-no-penalty", "loss-only", "pattern-regularised"]
    assert [f.rank for f in found] == [len(PARAM_DETECTORS), len(PARAM_DETECTORS) + 1,
                                       len(PARAM_DETECTORS) + 2]
    # the cause seen in more cases comes first, whatever its rank
    found = diagnosis(W.NoPenaltyOnLayer2, (REG, DEEP))
    assert keys(found)[0] == "penalty-missing-grad" and len({w.split(":")[0] for w in found[0].where}) == 2
    assert found.index(finding(found, "penalty-missing-grad")) < found.index(finding(found, "loss-layer-penalty-missing"))


def test_order_same_count_parameter_before_case_hint():
    found = diagnosis(NoisyW1, (MINI,))
    assert keys(found) == ["layer-1-wrong", "weight-outer-product"]
    found = diagnose(run(W.PenaltyMissingFromGrad, (REG,)) + run(LossSign, (MINI,)))
    assert keys(found)[:2] == ["penalty-missing-grad", "loss-sign"]  # tier, then rank


def test_grouping_keeps_the_lowest_rank_of_a_cause():
    """The loss says "sum" on one case (loss rank), a gradient on the next (a lower rank): the group
    ranks as its most specific sighting."""
    loss, grads = reference(MINI)
    first = outcome(CASES[MINI], CASES[MINI].K * loss, grads)
    ev = evidence(REG)
    grads = dict(reference(REG)[1])
    grads["W1"] = CASES[REG].K * ev.data[1]["W1"] + ev.penalty_grads["W1"]
    second = outcome(CASES[REG], reference(REG)[0], grads)
    f = finding(diagnose([first, second]), "sum-not-mean")
    assert f.where == (f"{MINI}:loss", f"{REG}:W1") and f.rank == PARAM_DETECTORS.index(detect_scaled)


def test_order_counts_cases_not_places():
    """Four wrong parameters in one case come after one wrong parameter in each of two cases."""
    loss, grads = reference(MINI)
    outcomes = [outcome(CASES[MINI], loss, {k: -v for k, v in grads.items()})]
    for name in (REG, DEEP):
        ev = evidence(name)
        grads = dict(reference(name)[1])
        grads["W1"] = CASES[name].K * ev.data[1]["W1"] + ev.penalty_grads["W1"]
        outcomes.append(outcome(CASES[name], ev.reference_loss, grads))
    assert keys(diagnose(outcomes))[:2] == ["sum-not-mean", "sign-flipped"]


def test_grouping_keeps_the_lowest_rank_and_every_place():
    found = diagnosis(W.SumNotMean, (MINI, REG))
    f = finding(found, "sum-not-mean")
    assert f.rank == PARAM_DETECTORS.index(detect_scaled)
    assert {"relu/minibatch:W1", "relu/regularised:W1", "relu/regularised:b2"} <= set(f.where)


def test_unrecognised_points_at_the_worst_error():
    rng = np.random.default_rng(0)
    outcomes = []
    for name, size in ((ONE, 0.05), (MINI, 1e-3)):  # one-example: all wrong; minibatch: b1 far worse
        loss, grads = reference(name)
        grads = {k: v + size * rng.normal(size=v.shape) * (1e4 if k == "b1" and name == MINI else 1)
                 for k, v in grads.items()}
        outcomes.append(outcome(CASES[name], loss + 0.1234, grads))
    outcomes.append(outcome(CASES[REG], *reference(REG)))  # a passing case: no pattern applies to it
    (f,) = diagnose(outcomes)
    assert f.key == "unrecognised" and f.where == (f"{MINI}:b1",) and "in b1 on relu/minibatch" in f.message
    assert diagnose(run(StudentMLP, (ONE, MINI))) == []


# ----------------------------------------------------------------------------- "exactly": the float64 tolerance
def test_matches_is_the_float64_tolerance():
    r = reference(MINI)[1]["W1"]
    assert matches(r * (1 + 1e-12), r) and not matches(r * (1 + 1e-7), r)
    assert not matches(r, np.full_like(r, np.nan)) and not matches(r[:1], r)
    partly_infinite = np.array([1.0, np.inf])
    assert not matches(partly_infinite, partly_infinite)  # a known bug's NaN/inf is no evidence


def test_a_hypothesis_is_matched_to_float64_only():
    """A gradient 1e-6 away from a known bug's is not that bug (the float32 tolerance would say it is)."""
    case = CASES[MINI]
    _, wrong = altered_loss_and_grads(case, derivative=lambda x: (x <= 0).to(x.dtype))
    assert detect_hypotheses(view(MINI, wrong["W1"], "W1")).key == "relu-mask-inverted"
    assert detect_hypotheses(view(MINI, wrong["W1"] * (1 + 1e-6), "W1")) is None
    s = -reference(MINI)[1]["W1"] * (1 + 1e-6)
    assert detect_sign(view(MINI, s, "W1")) is None and detect_scaled(view(MINI, s, "W1")) is None


def test_a_per_submission_hypothesis_is_never_shared_between_submissions():
    """Two students graded in one process, same case: "ignores-params" is computed from EACH one's own
    initial parameters (a cache shared across students would show the second the first one's numbers),
    while a hypothesis of the case alone is computed once for both (the same object)."""
    case = CASES[MINI]
    ignores = next(h for h in HYPOTHESES if h.key == "ignores-params")
    shared = next(h for h in HYPOTHESES if not h.per_submission and h.applies(case, evidence(MINI)))
    first, second = ({name: value * factor for name, value in case.params.items()} for factor in (2.0, 3.0))
    loss, grads = reference(MINI)
    ev_first, ev_second = Evidence(case, loss, grads, first), Evidence(case, loss, grads, second)
    for ev, params in ((ev_first, first), (ev_second, second), (ev_first, first)):
        want_loss, want_grads = altered_loss_and_grads(case, params=params)
        got_loss, got_grads = ev.hypothesis(ignores)
        assert got_loss == want_loss and all(np.array_equal(got_grads[n], want_grads[n]) for n in want_grads)
    assert ev_first.hypothesis(shared) is ev_second.hypothesis(shared)


def test_a_loss_k_times_too_large_is_told_in_the_courses_reduction():
    """The same wrong number, two courses: the homework (mean) hears "the sum instead of the mean",
    a course whose loss is the sum hears "K times the sum" (never told to take a mean it never asked for)."""
    from compare.grader.course.assignment import Assignment

    ev = evidence(MINI)
    nll, pen = ev.data[0], ev.reference_loss - ev.data[0]
    f = diagnose_loss(ev, ev.case.K * nll + pen)
    assert f.key == "sum-not-mean"
    mean_told, sum_told = f.told(HOMEWORK), f.told(CourseWords.of(Assignment(reduction="sum")))
    assert mean_told.startswith("the loss is the sum over the batch instead of the mean"), mean_told
    assert sum_told.startswith("the loss is K times the sum over the batch"), sum_told
    assert str(ev.case.K) in mean_told and str(ev.case.K) in sum_told
    f = diagnose_loss(ev, nll / ev.case.K + pen)
    assert f.key == "mean-twice"
    assert f.told(HOMEWORK).startswith("the loss is divided by K twice")
    assert f.told(CourseWords.of(Assignment(reduction="sum"))).startswith("the loss is divided by K (1/K")


def test_close():
    assert close(1.0 + 5e-7, 1.0) and not close(1.0 + 2e-6, 1.0)
    assert close(1e-6, 0.0, 1.0)  # the bound itself is close
    assert close(5e-19, 0.0) and not close(5e-18, 0.0)  # a zero target: scale 1e-12
    assert close(1e-3, 0.0, 1e4) and not close(1e-3, 0.0, 1.0)
    assert close(0.0, 0.0) and not close(1e-11, 0.0)


def test_finding_to_dict():
    f = Finding("k", "m", 3, ["a:W1"], [{"case": "a", "K": 1}], PATTERN)
    assert f.to_dict() == {"key": "k", "message": "m", "where": ["a:W1"], "certainty": "pattern",
                           "numbers": [{"case": "a", "K": 1}], "follow_ons": []}
    assert "numbers" not in repr(f) and "words" not in repr(f)
    assert "follow_ons" not in repr(f) and "hypothesis" not in repr(Finding("k", "m", hypothesis=HYPOTHESES[0]))
    assert Finding("k", "m").rank == 0 and Finding("k", "m").where == ()
    # which Hypothesis object matched is bookkeeping: two findings saying the same thing are equal
    assert Finding("k", "m", hypothesis=HYPOTHESES[0]) == Finding("k", "m", hypothesis=HYPOTHESES[1])


def test_a_finding_keeps_what_it_is_given_as_tuples():
    f = Finding("k", "m", where=["a:W1"], numbers=[{"case": "a"}], follow_ons=[Finding("z", "zero")])
    assert type(f.where) is tuple and type(f.numbers) is tuple and type(f.follow_ons) is tuple
    assert [g.key for g in f.explaining([Finding("s", "sign")]).follow_ons] == ["z", "s"]  # list + tuple would raise
    placed = Finding("k", "m", rank=4, numbers=[{"case": "a"}], certainty=PATTERN).placed("b:W2")
    assert (placed.where, placed.rank, placed.certainty) == (("b:W2",), 4, PATTERN)  # kept unless given
    assert placed.numbers[0]["where"] == "b:W2"
    moved = Finding("k", "m", rank=4).placed("b", rank=1, certainty="hint")
    assert (moved.rank, moved.certainty) == (1, "hint")


def test_a_finding_names_the_follow_ons_it_explains_grouped_by_cause_with_at_most_four_places():
    zero = [Finding("all-zero", "the gradient is zero", where=(f"c{i}:W1",)) for i in range(5)]
    sign = Finding("sign", "the sign is flipped", where=("d:W2",))
    told = Finding("cause", "the cause").explaining([*zero, sign]).message
    assert told == ("the cause; this also explains: the gradient is zero (c0:W1, c1:W1, c2:W1, c3:W1 (+1 more))"
                    "; and: the sign is flipped (d:W2)")
    four = Finding("cause", "the cause").explaining(zero[:4]).message
    assert four == "the cause; this also explains: the gradient is zero (c0:W1, c1:W1, c2:W1, c3:W1)"
    assert Finding("cause", "the cause").message == "the cause"


def test_findings_are_never_changed_once_made():
    """A finding handed out (to a case, to the run's list) says the same thing for good: frozen,
    its records read-only; diagnosing the same outcomes again gives equal findings and leaves the
    first ones as they were."""
    outcomes = run(W.SumNotMean, (MINI, REG))
    first = diagnose(outcomes)
    told = [f.message for f in first]
    case_findings = outcomes[0].findings
    f = first[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.where = ("elsewhere",)
    with pytest.raises(TypeError):
        f.numbers[0]["K"] = 99
    with pytest.raises(AttributeError):
        f.where.append("elsewhere")
    again = diagnose(outcomes, CourseWords(reduction="sum"))
    assert [g.told_in(HOMEWORK) for g in again] == first and again != first  # new findings, told in the new words
    assert [f.message for f in first] == told  # ... the first ones as they were
    assert outcomes[0].findings is not case_findings and [g.message for g in case_findings] != \
        [g.message for g in outcomes[0].findings]
    assert len(f.where) == len(set(f.where)) and {w.partition(":")[0] for w in f.where} == {MINI, REG}


def test_hypotheses_are_frozen():
    with pytest.raises(AttributeError):
        HYPOTHESES[0].key = "other"  # shared by every case: each is the key of what it computes there


# ----------------------------------------------------------------------------- crafted gradients: every variant
def test_every_regularised_bias_variant():
    ev = evidence(REG)
    b, r = CASES[REG].params["b2"], ev.reference_grads["b2"]
    lam1, lam2 = CASES[REG].lambdas[2:4]
    for c1, c2 in ((lam1, 2 * lam2), (0, 2 * lam2), (lam1, 0), (lam1, lam2), (0, lam2)):
        f = detect_bias_regularised(view(REG, r + c1 * np.sign(b) + c2 * b, "b2"))
        assert f is not None and f.key == "biases-regularised", (c1, c2)
    assert detect_bias_regularised(view(REG, r + 3 * lam1 * np.sign(b), "b2")) is None
    assert detect_bias_regularised(view(MINI, reference(MINI)[1]["b2"] + 1, "b2")) is None  # no λ
    W2 = CASES[REG].params["W2"]
    assert detect_bias_regularised(view(REG, ev.reference_grads["W2"] + lam1 * np.sign(W2), "W2")) is None


@pytest.mark.parametrize("factor", [1.0, 2.0])
def test_l2_term_using_another_lambda(factor):
    ev = evidence(REG)
    W1 = CASES[REG].params["W1"]
    lam11, lam21 = CASES[REG].lambdas[0], CASES[REG].lambdas[2]
    s = ev.data[1]["W1"] + lam11 * np.sign(W1) + factor * lam21 * W1
    f = detect_penalty_terms(view(REG, s, "W1"))
    assert f.key == "lambda-slot" and "the L2 term uses λ21 = 0.017 where it should use λ12" in f.message


def test_every_sum_not_mean_loss():
    ev = evidence(REG)
    nll = ev.data[0]
    pen = ev.reference_loss - nll
    K = CASES[REG].K
    for value in (K * nll + pen, K * (nll + pen)):
        f = diagnose_loss(ev, value)
        assert f.key == "sum-not-mean" and "(K times too large, K = 8)" in f.message
    assert diagnose_loss(ev, nll / K + pen).key == "mean-twice"
    assert diagnose_loss(ev, nll + K * pen).key == "penalty-times-K"
    assert diagnose_loss(ev, -ev.reference_loss).key == "loss-sign"
    assert diagnose_loss(evidence(ONE), 1.0 * evidence(ONE).reference_loss * 2) is None  # K = 1: no K bugs


def test_every_scaled_variant():
    ev = evidence(REG)
    data, pen, K = ev.data[1]["W2"], ev.penalty_grads["W2"], CASES[REG].K
    for (a, b), key in (((K, 1), "sum-not-mean"), ((K, K), "sum-not-mean"), ((1 / K, 1), "mean-twice"),
                        ((1 / K, 1 / K), "mean-twice"), ((1, 1 / K), "penalty-over-K"), ((1, K), "penalty-times-K"),
                        ((1, 0), "penalty-missing-grad"), ((0, 1), "data-missing"), ((1, 2), "penalty-twice"),
                        ((1, -1), "penalty-sign"), ((-1, 1), "sign-flipped")):
        f = detect_scaled(view(REG, a * data + b * pen, "W2", loss_passed=False))
        assert f is not None and f.key == key, ((a, b), f)
    assert detect_sign(view(REG, -(data + pen), "W2")).key == "sign-flipped"
    f = detect_scaled(view(REG, data, "W2", loss_passed=False))
    assert "(your loss includes it)" not in f.message
    assert "(your loss includes it)" in detect_scaled(view(REG, data, "W2")).message  # loss_passed by default
    assert detect_scaled(view(REG, 3 * data + pen, "W2")) is None
    assert detect_scaled(view(ONE, np.zeros_like(reference(ONE)[1]["W1"]), "W1")) is None  # no penalty
    assert detect_scaled(view(MINI, 10 * reference(MINI)[1]["W1"], "W1")).key == "sum-not-mean"


def test_pre_activations_of_every_hidden_layer():
    pre = evidence(DEEP).pre_activations
    assert [a.shape for a in pre] == [(7, 5), (7, 3)]
    assert evidence(DEEP).tape["pre"][-1].shape == (7, 3) and len(evidence(MINI).pre_activations) == 1


def _variant(name, suffix, **params):
    """A copy of a battery case with some parameters replaced, registered under a new name."""
    import dataclasses

    case = CASES[name]
    new = dataclasses.replace(case, name=f"{case.name}-{suffix}", params={**case.params, **params})
    CASES[new.name] = new
    return new.name


def test_data_missing_with_a_penalty_that_is_zero_somewhere():
    W1 = np.array(CASES[REG].params["W1"])
    W1[0, 0] = 0.0  # sign(0) = 0 and 0·λ: the penalty gradient has a zero entry
    name = _variant(REG, "zero-weight", W1=W1)
    pen = evidence(name).penalty_grads["W1"]
    assert pen[0, 0] == 0 and np.all(pen.ravel()[1:] != 0)
    assert detect_scaled(view(name, pen.copy(), "W1")).key == "data-missing"


def test_penalty_terms_read_off_a_gradient_with_exact_zeros():
    """A dead unit (its row of ∂L/∂W1 is 0) and a zero weight make exact zeros in the student's answer."""
    W1, b1 = np.array(CASES[REG].params["W1"]), np.array(CASES[REG].params["b1"])
    W1[0, 0], b1[0] = 0.0, -100.0
    name = _variant(REG, "dead-unit", W1=W1, b1=b1)
    ev = evidence(name)
    s = ev.data[1]["W1"] + 2 * CASES[name].lambdas[1] * W1  # L1 missing
    assert s[0, 0] == 0 and np.any(s)
    assert detect_penalty_terms(view(name, s, "W1")).key == "l1-missing"
    assert detect_all_zero(view(name, s, "W1")) is None
    previous = s.copy()
    assert detect_accumulated(view(name, previous.copy(), "W1", previous=previous)).key == "stale-gradients"


def test_penalty_terms_need_two_more_entries_than_unknowns():
    """Three unknowns (backprop factor, L1, L2): 4 entries of a 2x2 W are too few to tell, 5 are enough."""
    import dataclasses

    name = "relu/one-example-regularised"
    CASES[name] = dataclasses.replace(CASES[ONE], name=name, lambdas=C.LAMBDAS_1)
    r, W1 = reference(name)[1]["W1"], CASES[name].params["W1"]
    assert detect_penalty_terms(view(name, r + 0.05 * np.sign(W1), "W1")) is None
    rng = np.random.default_rng(0)
    sizes = (1, 5, 3)
    params = C.random_params(rng, sizes, weight_scale=1.5)
    name = "relu/five-weights"
    CASES[name] = C.Case(name, "W1 is 5x1", sizes, "relu", rng.standard_normal((6, 1)), C.labels(rng, 6, 3),
                         C.LAMBDAS_1, params)
    r, W1 = reference(name)[1]["W1"], params["W1"]
    f = detect_penalty_terms(view(name, r - C.LAMBDAS_1[0] * np.sign(W1), "W1"))
    assert f is not None and f.key == "l1-missing"
    # W ∝ sign(W): the L1 and L2 bases are the same direction, the coefficients cannot be told apart
    W1 = 0.5 * np.sign(np.array(CASES[REG].params["W1"]))
    name = _variant(REG, "flat-weights", W1=W1)
    r = reference(name)[1]["W1"]
    assert detect_penalty_terms(view(name, r + 0.05 * W1, "W1")) is None


def test_zero_units_judge_each_unit_by_its_worst_entry():
    name = ZERO
    pre = evidence(name).pre_activations[0]
    r = reference(name)[1]["W1"]
    unit = int(np.flatnonzero((pre == 0).any(axis=0))[0])
    s = r * (1 + 1e-12)  # rounding everywhere
    s[unit, 0] += 1.0  # one wrong entry in one unit with exact zeros
    f = detect_zero_units(view(name, s, "W1"))
    assert f is not None and f.key == "relu-zero"
    never_zero = int(np.flatnonzero(~(pre == 0).any(axis=0))[0])
    scale = np.abs(r).max()
    assert scale < 1
    s[never_zero, 1] += 1e-10  # wrong beyond rtol·max|r| = 1e-10·scale, in a unit without zeros
    f = detect_zero_units(view(name, s, "W1"))
    assert f is None or f.key != "relu-zero"


def test_inactive_includes_exact_zeros():
    """A unit whose h^a is 0 (never negative) is inactive too: rect(0) = 0."""
    W1, b1 = np.array(CASES[ZERO].params["W1"]), np.array(CASES[ZERO].params["b1"])
    W1[0], b1[0] = 0.0, 0.0  # unit 0: h^a = 0 for every example
    W1[5], b1[5] = 0.0, 1.0  # unit 5: h^a = 1, always active
    name = _variant(ZERO, "flat-units", W1=W1, b1=b1)
    pre = evidence(name).pre_activations[0]
    assert not (pre < 0).any(axis=0)[0] and (pre < 0).any(axis=0)[3] and not (pre == 0).any(axis=0)[3]
    s = reference(name)[1]["W1"].copy()
    s[0, 0] += 1.0
    s[3, 0] += 1.0
    assert detect_zero_units(view(name, s, "W1")).key == "relu-mask"


def test_relu_zero_hypothesis_wherever_a_pre_activation_is_exactly_zero():
    """Doubled integer weights: exact zeros, no exact ones — the rect'(0) = 1 hypothesis is still tried."""
    name = _variant(ZERO, "even", W1=2 * CASES[ZERO].params["W1"], b1=2 * CASES[ZERO].params["b1"])
    pre = evidence(name).pre_activations[0]
    assert (pre == 0).any() and not (np.abs(pre) == 1).any()
    f = diagnosis(W.ReluGradAtZero, (name,))[0]
    assert f.key == "relu-zero" and "rect'(0) = 1 (a mask h^a >= 0)" in f.message


def test_a_batch_of_two_is_a_minibatch():
    """K = 2, the smallest minibatch: the sum, the last example and the minibatch pattern are all told."""
    import dataclasses

    name = "relu/minibatch-of-two"
    case = CASES[MINI]
    CASES[name] = dataclasses.replace(case, name=name, X=case.X[:2], y=np.array([0, 1]))
    ev = evidence(name)
    assert diagnose_loss(ev, 2 * ev.reference_loss).key == "sum-not-mean"
    assert "last-example-only" in keys(diagnosis(LastExampleNoMean, (name,)))
    assert pattern_keys(W.SumNotMean, (ONE, name)) == ["pattern-batch"]
