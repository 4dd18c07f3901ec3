"""Findings are data told in the course's own words: the homework's λ and equations under the
homework; reg, the course's l2 form, its W layout and no homework reference under CS231n; sum or
mean wording from the assignment's reduction. And the bugs real code has are named as such."""

from __future__ import annotations

import functools
import json
import re
import sys
from pathlib import Path

import pytest

from compare.grader.course.assignment import Assignment, preset
from compare.grader.course.words import HOMEWORK, CourseWords, render
from compare.grader.results.report import format_markdown, format_report
from compare.validate import validate

sys.path.insert(0, str(Path(__file__).parent / "student_impls"))
import student as S  # noqa: E402
import wrong as W  # noqa: E402

CS231N = "cs231n-a2"  # 0.5·reg·Σ‖W‖², W1 (D, H), reg given to the constructor
HOMEWORK_ONLY = re.compile(r"λ|homework|elastic|L1|sign\(W\)")


@functools.cache
def report(bug, assignment="homework"):
    return validate(bug, assignment=assignment)


def only(found, key):
    assert [f.key for f in found if f.key == key], f"no {key!r} in {[f.key for f in found]}"
    return next(f for f in found if f.key == key)


# ----------------------------------------------------------------------------- the renderer
def test_course_words_of_each_preset():
    assert CourseWords.of(preset("homework")) == HOMEWORK and HOMEWORK.homework
    a2, a1 = CourseWords.of(preset(CS231N)), CourseWords.of(preset("cs231n"))
    assert (a2.pen_grad, a1.pen_grad, HOMEWORK.pen_grad) == ("reg·W", "2·reg·W", "λ_l1·sign(W) + 2λ_l2·W")
    assert a2.pen_loss == "0.5·reg·Σ_l ‖W_l‖²" and a1.pen_loss == "reg·Σ_l ‖W_l‖²"
    assert not a2.homework and a2.weights == "in_out" and a2.penalty_name == "L2 penalty"


@pytest.mark.parametrize("spec, homework, a2, a1", [
    ("12", "λ12", "0.5·reg", "reg"), ("12x2", "2·λ12", "reg", "2·reg"), ("l2x0.5", "0.5λ_l2", "0.25·reg", "0.5·reg"),
    ("21", "λ21", "0", "0"),
])
def test_a_coefficient_in_each_course(spec, homework, a2, a1):
    phrase = "{lam:" + spec + "}"
    assert render(phrase, [], HOMEWORK) == homework
    assert render(phrase, [], CourseWords.of(preset(CS231N))) == a2
    assert render(phrase, [], CourseWords.of(preset("cs231n"))) == a1


def test_homework_references_only_under_the_homework():
    phrase = "rect'(0) = 0{hw:1.7} (∇‖W‖² = 2W{hw:,1.8})"
    assert render(phrase, [], HOMEWORK) == "rect'(0) = 0 (homework 1.7) (∇‖W‖² = 2W, homework 1.8)"
    assert render(phrase, [], CourseWords.of(preset(CS231N))) == "rect'(0) = 0 (∇‖W‖² = 2W)"


def test_a_phrase_by_reduction_and_by_layout():
    by_reduction = {"mean": "the mean", "sum": "the sum"}
    assert render(by_reduction, [], CourseWords(reduction="sum")) == "the sum"
    assert render(by_reduction, [], HOMEWORK) == "the mean"
    by_layout = {"out_in": "(out, in)", "in_out": "(in, out)"}
    assert render(by_layout, [], CourseWords.of(preset(CS231N))) == "(in, out)"


def test_an_unknown_slot_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown slot {nope}"):
        render("{nope}", [], HOMEWORK)


# ----------------------------------------------------------------------------- the penalty only in the update step
def test_penalty_missing_from_the_gradient_under_cs231n():
    r = report(W.Cs231nRegOnlyInUpdate, CS231N)
    f = only(r.diagnosis, "penalty-missing-grad")
    assert "no reg·W term (your loss includes it)" in f.message and "update step" in f.message
    assert not HOMEWORK_ONLY.search(f.message)
    assert "it fails only when reg ≠ 0: the bug is in the L2 penalty" in only(r.diagnosis, "pattern-regularised").message


def test_penalty_missing_from_the_gradient_under_the_homework():
    f = only(report(W.PenaltyMissingFromGrad).diagnosis, "penalty-missing-grad")
    assert "no λ_l1·sign(W) + 2λ_l2·W term (your loss includes it)" in f.message


# ----------------------------------------------------------------------------- a scalar added to a gradient
def test_the_penalty_value_added_to_the_gradient_under_cs231n():
    r = report(W.Cs231nRegValueInGrad, CS231N)
    f = r.diagnosis[0]
    assert f.key == "scalar-added" and "the penalty's value" in f.message
    assert "instead of the penalty's gradient reg·W" in f.message and not HOMEWORK_ONLY.search(f.message)
    assert "weight-outer-product" not in [g.key for g in r.diagnosis]  # no more "δᵀ·X product"
    assert f.certainty == "exact" and all("scalar" in n for n in f.numbers)


def test_the_penalty_value_added_to_the_gradient_under_the_homework():
    f = report(W.PenaltyValueInGrad).diagnosis[0]
    assert f.key == "scalar-added" and "instead of the penalty's gradient λ_l1·sign(W) + 2λ_l2·W" in f.message


# ----------------------------------------------------------------------------- an activation on the output scores
@pytest.mark.parametrize("bug, assignment", [
    (W.ActivationOnScores, "homework"), (W.ActivationOnScoresForwardOnly, "homework"),
    (W.Cs231nReluOnScores, CS231N), (W.Cs231nReluOnScoresForwardOnly, CS231N),
])
def test_an_activation_on_the_scores_is_named(bug, assignment):
    r = report(bug, assignment)
    keys = [f.key for f in r.diagnosis]
    assert keys[0] == "activation-on-scores", keys
    assert "all-zero" not in keys  # a follow-on, not a second bug
    assert "the activation is applied to the output scores too" in r.diagnosis[0].message
    # which of the two: backprop through the activation too, or from the softmax as if it were not there
    forward_only = "ForwardOnly" in bug.__name__
    assert ("backprop starts from the softmax as if it were not" in r.diagnosis[0].message) == forward_only
    assert r.diagnosis[0].certainty == "exact"


def test_the_all_zero_gradient_it_causes_is_folded_under_it():
    for bug, assignment in ((W.ActivationOnScores, "homework"), (W.Cs231nReluOnScores, CS231N)):
        f = report(bug, assignment).diagnosis[0]
        (follow_on,) = {g.key for g in f.follow_ons}
        assert follow_on == "all-zero" and "relu/large-negative-logits:W1" in [w for g in f.follow_ons for w in g.where]
        assert "; this also explains: the gradient is all zeros" in f.message
        assert f.to_dict()["follow_ons"][0]["key"] == "all-zero"


# ----------------------------------------------------------------------------- sum or mean
SUM = Assignment(reduction="sum")


@pytest.mark.parametrize("bug", [S.StudentMLP, W.MeanTwice, W.SumNotMean])
def test_a_sum_course_reads_no_mean(bug):
    r = report(bug, SUM)
    assert r.diagnosis
    for f in r.diagnosis:
        assert "mean" not in f.message, f.message


def test_a_sum_course_tells_a_submission_that_returns_the_mean():
    """The right backprop averaged over the batch, graded by a course that sums: the verdict says
    the math is right and names the reduction, not a bug."""
    r = report(S.StudentMLP, SUM)
    said = "it returns the mean over the batch where the assignment asks the sum (loss and gradients 1/K times the assignment's)"
    assert r.exit_code == 1 and r.conventions == [said]
    assert r.verdict == f"FAIL — the backprop is right (all 37 cases agree once read in its own conventions), but {said}"


def test_dividing_by_K_under_a_sum_course():
    f = only(report(S.StudentMLP, SUM).diagnosis, "mean-twice")
    assert "divided by K, but the assignment's loss is the sum over the batch" in f.message
    assert "K = 10 (minibatch)" in f.message


# ----------------------------------------------------------------------------- reports
def test_a_cs231n_report_in_its_own_words_and_layout():
    r = report(W.Cs231nRegValueInGrad, CS231N)
    text, page = format_report(r, brief=True), format_markdown(r, "alice")
    for shown in (text, page):
        assert "K=8, reg 0.013" in shown and "lambdas" not in shown
        assert "W1    (5, 4)" in shown and "W1    (4, 5)" not in shown  # W1 (D, H), as the student's params hold it
        assert not HOMEWORK_ONLY.search(shown)
    data = json.loads(json.dumps(r.to_dict()))
    assert data["status"] == data["verdict"] == "fail" and data["verdict_text"].startswith("FAIL — ")
    assert data["summary"] == r.summary and data["summary"].startswith("a number, the penalty's value")
    (first, *_) = data["diagnosis"]
    assert first["key"] == "scalar-added" and first["certainty"] == "exact" and "reg·W" in first["message"]
    assert first["numbers"][0]["case"] == "relu/regularised" and first["numbers"][0]["K"] == 8


def test_a_homework_report_keeps_its_lambdas():
    text = format_report(report(W.PenaltyValueInGrad), brief=True)
    assert "K=8, lambdas 0.011, 0.013, 0.017, 0.019" in text and "elastic net" in text
    assert "W1    (4, 5)" in text  # (out, in)


HOMEWORK_NOTATION = re.compile(r"λ|homework|elastic|h\^[as]|o\^[as]|rect'|d_h|W_L h|[{}]")


def _strings(data, key=None):
    """Every text a JSON report holds, but the target's path and a finding's phrase (its slots are data)."""
    if isinstance(data, dict):
        return [text for k, v in data.items() if k not in ("target", "phrase") for text in _strings(v, k)]
    if isinstance(data, list):
        return [text for v in data for text in _strings(v, key)]
    return [data] if isinstance(data, str) else []


def test_a_whole_cs231n_report_has_none_of_the_homeworks_notation():
    """Every case title, table and finding of a full (not brief) report, text, Markdown and JSON:
    CS231n's scores/hidden and its (in, out) formulas, never the homework's h^a, o^a or λ."""
    r = report(W.Cs231nReluOnScores, CS231N)
    text, page = format_report(r, brief=False), format_markdown(r, "alice")
    data = "\n".join(_strings(json.loads(json.dumps(r.to_dict()))))
    for shown in (text, page, data):
        assert not HOMEWORK_NOTATION.search(shown), HOMEWORK_NOTATION.search(shown)
    assert "relu/one-example: one example — sizes" in text and "relu/minibatch: a minibatch of 10 — sizes" in text
    assert "logits scores ≈ +1000" in text and "a minibatch with the L2 penalty" in text
    assert "the softmax must get the last layer's scores = hidden·W_L + b_L as it is" in r.diagnosis[0].message
    titles = {case["name"]: case["title"] for case in r.to_dict()["cases"]}
    assert titles["relu/zero-preactivation"] == "integer X, W1, b1: some hidden_pre are exactly 0.0 (ReLU'(0) = 0)"


def test_the_same_report_under_the_homework_in_its_notation():
    r = report(W.ActivationOnScores)
    text = format_report(r, brief=False)
    assert "relu/one-example: one example (homework 3.2) — sizes (2, 2, 2), K=1, lambdas 0" in text
    assert "relu/zero-preactivation: integer X, W1, b1: some h^a are exactly 0.0 (rect'(0) = 0)" in text
    assert "a minibatch with elastic net, a distinct λ in each slot" in text
    assert "the softmax must get the last layer's o^a = W_L h^s + b_L as it is" in r.diagnosis[0].message
    assert not re.search(r"hidden_pre|probs|[{}]", text)
