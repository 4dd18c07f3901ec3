"""The course's words, piece by piece (``compare.grader.course.words``): each course's coefficients,
penalty and symbols, the slots a finding's numbers fill, and which phrase of a dict a course reads.
Fast: no submission runs here (``test_course_words.py`` reads whole reports)."""

from __future__ import annotations

import dataclasses

import pytest

from compare.grader.course.assignment import Assignment
from compare.grader.course.words import (
    HOMEWORK,
    HOMEWORK_SYMBOLS,
    PLAIN_SYMBOLS,
    CourseWords,
    by_value,
    factor_name,
    label_words,
    render,
    sci,
)

L2 = CourseWords(penalty="l2")  # reg·Σ‖W‖², CS231n assignment 1
HALF = CourseWords(penalty="l2", l2_factor=0.5, homework=False, weights="in_out")  # 0.5·reg·Σ‖W‖², assignment 2
NONE = CourseWords(penalty="none")


# ----------------------------------------------------------------------------- a course's words
def test_the_homework_words_are_the_default_and_frozen():
    assert HOMEWORK == CourseWords("elastic_net", 1.0, "mean", True, "out_in")
    with pytest.raises(dataclasses.FrozenInstanceError):
        HOMEWORK.reduction = "sum"
    assert L2.pen_grad == "2·reg·W"  # l2_factor 1 by default


def test_the_words_of_an_assignment():
    a = Assignment(name="mine", penalty="l2", l2_factor=0.5, reduction="sum", weights="in_out")
    assert CourseWords.of(a) == CourseWords("l2", 0.5, "sum", False, "in_out")
    assert CourseWords.of(Assignment()) == HOMEWORK


def test_a_course_extending_the_homework_cites_it_and_one_extending_another_does_not():
    assert CourseWords.of(Assignment(name="mine", extends="homework")).homework
    assert not CourseWords.of(Assignment(name="homework", extends="cs231n")).homework


def test_one_reg_is_any_penalty_but_the_elastic_net():
    assert (HOMEWORK.one_reg, L2.one_reg, NONE.one_reg) == (False, True, True)


@pytest.mark.parametrize("words, expected", [
    (HOMEWORK, HOMEWORK_SYMBOLS | {"last_affine": "W_L h^s + b_L", "back_W2": "∂L/∂h^s = W2ᵀ ∂L/∂o^a",
                                   "grad_W_out": "∂L/∂o^a · h^sᵀ"}),
    (CourseWords(weights="in_out"), HOMEWORK_SYMBOLS | {"last_affine": "h^s·W_L + b_L",
                                                        "back_W2": "∂L/∂h^s = ∂L/∂o^a·W2ᵀ", "grad_W_out": "h^sᵀ · ∂L/∂o^a"}),
    (HALF, {"ha": "hidden_pre", "hs": "hidden", "oa": "scores", "os": "probs", "rect": "ReLU",
            "last_affine": "hidden·W_L + b_L", "back_W2": "∂L/∂hidden = ∂L/∂scores·W2ᵀ",
            "grad_W_out": "hiddenᵀ · ∂L/∂scores"}),
    (CourseWords(homework=False), PLAIN_SYMBOLS | {"last_affine": "W_L hidden + b_L",
                                                   "back_W2": "∂L/∂hidden = W2ᵀ ∂L/∂scores",
                                                   "grad_W_out": "∂L/∂scores · hiddenᵀ"}),
])
def test_each_courses_symbols_and_formulas(words, expected):
    assert words.symbols == expected
    assert render("{ha} {hs} {oa} {os} {rect}", [], words) == " ".join(expected[k] for k in ("ha", "hs", "oa", "os", "rect"))


@pytest.mark.parametrize("words, layer, term, multiple, expected", [
    (HOMEWORK, "l", "2", 1.0, "λ_l2"), (HOMEWORK, "l", "2", 2.0, "2λ_l2"), (HOMEWORK, "1", "2", 1.0, "λ12"),
    (HOMEWORK, "2", "1", 2.0, "2·λ21"), (HOMEWORK, "1", "2", 0.5, "0.5·λ12"),
    (L2, "1", "1", 2.0, "0"), (L2, "l", "2", 1.0, "reg"), (L2, "1", "2", 2.0, "2·reg"),
    (HALF, "l", "2", 2.0, "reg"), (HALF, "1", "2", 1.0, "0.5·reg"),
    (CourseWords(penalty="l2", l2_factor=2.0), "l", "2", 1.0, "2·reg"),
])
def test_a_coefficient_in_each_course(words, layer, term, multiple, expected):
    assert words.coefficient(layer, term, multiple) == expected


def test_a_coefficient_is_once_unless_told():
    assert HOMEWORK.coefficient("1", "2") == "λ12" and L2.coefficient("l", "2") == "reg"
    assert render("{lam:12} {lam:l2x2} {lam:21x0.5} {lam:11}", [], HOMEWORK) == "λ12 2λ_l2 0.5·λ21 λ11"


def test_a_coefficient_slot_is_a_layer_then_its_term():
    assert render("{lam:102} {lam:101x2}", [], HOMEWORK) == "λ102 2·λ101"  # W10's L2 and L1


@pytest.mark.parametrize("words, pen_grad, pen_loss, bias, name, lam_on", [
    (HOMEWORK, "λ_l1·sign(W) + 2λ_l2·W", "Σ_l λ_l1‖W_l‖₁ + λ_l2‖W_l‖₂²", "λ·sign(b) / 2λ·b", "elastic-net penalty",
     "λ ≠ 0"),
    (L2, "2·reg·W", "reg·Σ_l ‖W_l‖²", "2·reg·b", "L2 penalty", "reg ≠ 0"),
    (HALF, "reg·W", "0.5·reg·Σ_l ‖W_l‖²", "reg·b", "L2 penalty", "reg ≠ 0"),
])
def test_the_penalty_in_each_course(words, pen_grad, pen_loss, bias, name, lam_on):
    assert (words.pen_grad, words.pen_loss, words.bias_pen_grad, words.penalty_name, words.lam_on) == (
        pen_grad, pen_loss, bias, name, lam_on)
    assert render("{pen_grad}|{pen_loss}|{bias_pen_grad}|{penalty}|{lam_on}|{reduce}", [], words) == (
        f"{pen_grad}|{pen_loss}|{bias}|{name}|{lam_on}|mean")


def test_the_homework_is_cited_only_under_the_homework():
    assert render("a{hw:3.2} (b{hw:,1.8})", [], HOMEWORK) == "a (homework 3.2) (b, homework 1.8)"
    assert render("a{hw:3.2} (b{hw:,1.8})", [], HALF) == "a (b)"


# ----------------------------------------------------------------------------- small helpers
def test_by_value_groups_the_cases_of_each_value_once():
    records = [{"case": "relu/minibatch", "K": 10}, {"case": "relu/regularised", "K": 8},
               {"case": "tanh/minibatch", "K": 10}, {"case": "relu/minibatch", "K": 10}, {"case": "plain", "K": 8}]
    assert by_value(records, lambda r: r["K"], str) == "10 (minibatch), 8 (regularised, plain)"


@pytest.mark.parametrize("x, text", [(3e-09, "3e-9"), (1.23e-5, "1e-5"), (7e12, "7e12"), (0.5, "5e-1"),
                                     (float("nan"), "nan"), (float("inf"), "inf"), (float("-inf"), "-inf")])
def test_sci(x, text):
    assert sci(x) == text


@pytest.mark.parametrize("c, reduction, name", [
    (10.0, "mean", " (= K, the batch size: a sum instead of a mean?)"),
    (0.1, "mean", " (= 1/K: divided by K twice?)"),
    (10.0, "sum", " (= K, the batch size: counted K times?)"),
    (0.1, "sum", " (= 1/K: divided by K where the assignment sums?)"),
    (3.0, "mean", " (= m, the number of classes)"), (1 / 3, "sum", " (= 1/m, one over the number of classes)"),
    (2.0, "mean", " (= 2)"), (0.5, "mean", " (= 1/2)"), (-1.0, "mean", " (= -1: the wrong sign)"),
    (2.0 * (1 + 5e-7), "mean", " (= 2)"),  # within 1e-6, relative
    (2.0 * (1 + 5e-6), "mean", ""), (0.2, "mean", ""), (1.7, "mean", ""), (-2.0, "mean", ""), (1.0, "mean", ""),
])
def test_a_factor_is_named_when_it_is_a_telling_number(c, reduction, name):
    assert factor_name(c, 10, 3, reduction) == name


def test_k_is_named_before_anything_else_it_equals():
    assert factor_name(2.0, 2, 5) == " (= K, the batch size: a sum instead of a mean?)"


@pytest.mark.parametrize("shifts, symbols, words", [
    ([1], HOMEWORK_SYMBOLS, "onehot/labels off by one: your numbers match the labels y + 1 (mod m) instead of y; "
                            "∂L/∂o^a = o^s - onehot(y) with each example's own label"),
    ([1, -1], PLAIN_SYMBOLS, "onehot/labels off by one: your numbers match the labels y + 1 or y - 1 (mod m) "
                             "(the same labels with this few classes) instead of y; ∂L/∂scores = probs - onehot(y) "
                             "with each example's own label"),
    ([-2], HOMEWORK_SYMBOLS, "onehot/labels off by two: your numbers match the labels y - 2 (mod m) instead of y; "
                             "∂L/∂o^a = o^s - onehot(y) with each example's own label"),
    ([1, 2], HOMEWORK_SYMBOLS, "onehot/labels shifted: your numbers match the labels y + 1 or y + 2 (mod m) (the same "
                               "labels with this few classes) instead of y; ∂L/∂o^a = o^s - onehot(y) with each "
                               "example's own label"),
    ([3], HOMEWORK_SYMBOLS, "onehot/labels shifted: your numbers match the labels y + 3 (mod m) instead of y; "
                            "∂L/∂o^a = o^s - onehot(y) with each example's own label"),
])
def test_label_words(shifts, symbols, words):
    assert label_words(shifts, symbols) == words


def test_label_words_default_to_the_homeworks_symbols():
    assert label_words([2, -2]).startswith("onehot/labels off by two: your numbers match the labels y + 2 or y - 2")
    assert "∂L/∂o^a = o^s" in label_words([2, -2])


# ----------------------------------------------------------------------------- slots filled from a finding's numbers
def record(case="relu/minibatch", K=10, m=3, **numbers):
    return {"case": case, "K": K, "m": m} | numbers


def test_k_of_one_case_or_of_each():
    assert render("{K}", [record(), record()]) == "K = 10"
    assert render("{K}", [record(), record("relu/regularised", K=8)]) == "K = 10 (minibatch), 8 (regularised)"
    assert render("{K}", [record(), record("relu/regularised", K=8), record("tanh/one-example", K=1)]) == (
        "K = 10 (minibatch), 8 (regularised), 1 (one-example)")


def test_rel_is_one_number_or_a_range():
    assert render("{rel}", [record(rel=3e-9), record(rel=3.4e-9)]) == "3e-9"
    assert render("{rel}", [record(rel=5e-7), record(rel=1e-9), record(rel=2e-8)]) == "1e-9 to 5e-7"


def test_labels_name_the_shifts_every_record_shares_in_the_first_records_order():
    assert render("{labels}", [record(shifts=[-1, 1]), record(shifts=[1, -1])]).startswith(
        "onehot/labels off by one: your numbers match the labels y - 1 or y + 1")
    assert render("{labels}", [record(shifts=[1, -1]), record(shifts=[1])]).startswith(
        "onehot/labels off by one: your numbers match the labels y + 1 (mod m) instead of y")
    assert render("{labels}", [record(shifts=[1]), record(shifts=[2])]).startswith(  # none shared: the first's
        "onehot/labels off by one: your numbers match the labels y + 1 (mod m) instead of y")
    assert render("{labels}", [record(shifts=[1])], HALF).endswith("∂L/∂scores = probs - onehot(y) with each example's "
                                                                    "own label")


def test_what_is_the_one_thing_named_or_the_gradient():
    assert render("{what}", [record(what="loss"), record(what="loss")]) == "loss"
    assert render("{what}", [record(what="loss"), record(what="W1")]) == "gradient"


def test_times_one_factor():
    assert render("it {times}", [record(factor=10.0)]) == (
        "it is exactly 10 times the right one (= K, the batch size: a sum instead of a mean?)")
    assert render("it {times}", [record(factor=10.0)], CourseWords(reduction="sum")) == (
        "it is exactly 10 times the right one (= K, the batch size: counted K times?)")
    assert render("it {times}", [record(factor=1.7)]) == "it is exactly 1.7 times the right one"
    assert render("it {times}", [record(K=10, m=3, factor=3.0)]) == (
        "it is exactly 3 times the right one (= m, the number of classes)")


def test_times_one_factor_is_named_by_the_first_records_k_and_m():
    records = [record(K=2, m=5, factor=2.0), record("relu/regularised", K=10, m=5, factor=2.0000001)]
    assert render("{times}", records) == "is exactly 2 times the right one (= K, the batch size: a sum instead of a mean?)"


def test_times_a_factor_of_each_case():
    records = [record(factor=10.0), record("relu/regularised", K=8, factor=8.0)]
    assert render("{times}", records) == ("is a constant multiple of the right one, its own in each case (= K, the "
                                          "batch size: a sum instead of a mean?): 10 (minibatch), 8 (regularised)")
    records = [record(m=5, factor=2.0), record("relu/regularised", K=8, m=5, factor=3.0)]
    assert render("{times}", records) == ("is a constant multiple of the right one, its own in each case: "
                                          "2 (minibatch), 3 (regularised)")


def test_cases_are_listed_once_in_order():
    assert render("{cases}", [record("tanh/b"), record("relu/a"), record("tanh/b")]) == "tanh/b, relu/a"


def test_an_unknown_slot_is_a_key_error_naming_it():
    with pytest.raises(KeyError, match=r"^'a diagnosis phrase has the unknown slot \{nope\}'$"):
        render("{nope}", [record()])


# ----------------------------------------------------------------------------- which phrase a course reads
def test_a_phrase_by_reduction_layout_or_penalty():
    by_reduction = {"mean": "the mean", "sum": "the sum"}
    assert render(by_reduction, [], CourseWords(reduction="sum")) == "the sum"
    by_layout = {"out_in": "(out, in)", "in_out": "(in, out)"}
    assert render(by_layout, [], HALF) == "(in, out)" and render(by_layout, [], HOMEWORK) == "(out, in)"
    by_penalty = {"elastic_net": "λ", "l2": "reg"}
    assert render(by_penalty, [], L2) == "reg" and render(by_penalty, [], HOMEWORK) == "λ"
    assert render(by_penalty, [], NONE) == "λ"  # no entry of its own: the first
