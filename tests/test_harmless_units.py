"""compare.grader.judging.harmless: the differences a course may call harmless (a broadcast-equal gradient
shape, an ε inside the log, rect'(0) = 1, another factor on the L2 term), each found in the student's
answers and then accepted (the cases pass, the report says what was accepted) or named a convention (exit
1, "a convention, not a bug"); anything else stays a bug. Run on the trusted test students of
tests/battery_students.py, in this process, under a "dims" assignment (relu only)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from battery_students import factory

from compare.grader.course import cases as C
from compare.grader.course import conventions as V
from compare.grader.course.assignment import Assignment, preset
from compare.grader.judging import harmless as H
from compare.grader.validation import validate

DIMS = Assignment(name="course", factory="TwoLayerNet", call="dims")
EPSILON = "its loss has an ε inside the log, −log(p_y + ε) with ε ≈ {}, where the assignment asks −log p_y"
RELU = ("its ReLU derivative at 0 is 1 (the mask hidden_pre >= 0) where the assignment takes ReLU'(0) = 0 (the mask "
        "hidden_pre > 0)")
CONVENTION = " — a convention, not a bug"
REGULARISED = {"relu/regularised", "relu/mnist-width"}


def graded(assignment=DIMS, **choices):
    return validate(factory(call="dims", **choices), assignment=assignment)


def explained(report) -> dict:
    return {c.case.name: (c.harmless, c.accepted) for c in report.cases if c.harmless}


# ----------------------------------------------------------------------------- gradient shapes
REG = next(c for c in C.battery("relu") if c.name == "relu/regularised")  # W1 (4, 5), b1 (4,), W2 (3, 4), b2 (3,)


def test_broadcast_equal_gradient_shapes_are_found_in_the_params_order():
    grads = {"b2": np.zeros((1, 3)), "W1": np.zeros((4, 5)), "b1": np.zeros((4, 1)), "W2": np.zeros((3, 4))}
    found = H.shape_differences(DIMS, REG, grads)
    assert list(found.items()) == [("b1", ((4, 1), (4,))), ("b2", ((1, 3), (3,)))]
    assert H.shape_words(found) == ("grads['b1'] has shape (4, 1) where params['b1'] is (4,); "
                                    "grads['b2'] has shape (1, 3) where params['b2'] is (3,)")
    restored = H.as_assignment_shapes(DIMS, REG, {**grads, "b2": np.arange(3.0).reshape(1, 3)})
    assert {n: v.shape for n, v in restored.items()} == {"b2": (3,), "W1": (4, 5), "b1": (4,), "W2": (3, 4)}
    np.testing.assert_array_equal(restored["b2"], [0.0, 1.0, 2.0])
    assert restored["W1"] is grads["W1"]


def test_other_shapes_are_not_broadcast_equal():
    """A transposed weight, a missing gradient, one entry too many: none is a shape convention."""
    grads = {"W1": np.zeros((5, 4)), "b1": np.zeros((1, 5)), "W2": np.zeros((3, 4, 1))}
    assert H.shape_differences(DIMS, REG, grads) == {"W2": ((3, 4, 1), (3, 4))}
    in_out = replace(DIMS, weights="in_out", biases="column")
    assert H.shape_differences(in_out, REG, {"W1": np.zeros((5, 4)), "b1": np.zeros(4), "b2": np.zeros((3, 1))}) == {
        "b1": ((4,), (4, 1))}
    assert H.shape_differences(DIMS, REG, {}) == {} and H.shape_words({}) == ""


def test_the_l2_terms_alone_are_the_penalty_without_its_l1_terms():
    value, grads = H._l2_parts(REG)
    l2 = [REG.layer_lambdas(layer)[1] for layer in (1, 2)]
    assert value == pytest.approx(sum(lam * float((REG.params[f"W{i}"] ** 2).sum()) for i, lam in zip((1, 2), l2)),
                                  rel=1e-15)
    assert list(grads) == ["W1", "W2"]
    for i, lam in zip((1, 2), l2):
        np.testing.assert_allclose(grads[f"W{i}"], 2 * lam * REG.params[f"W{i}"], rtol=1e-15)
    only_l2 = replace(REG, lambdas=(0.0, REG.lambdas[1], 0.0, REG.lambdas[3]))
    assert V.penalty_parts(only_l2)[0] == pytest.approx(value, rel=1e-14)


# ----------------------------------------------------------------------------- an ε inside the log
@pytest.mark.parametrize(("eps", "shown"), [(1e-9, "1e-09"), (3e-5, "3e-05"), (1e-8, "1e-08")])
def test_an_epsilon_inside_the_log_is_found_and_named_with_its_value(eps, shown):
    report = graded(bug="log_eps", eps=eps)
    assert report.exit_code == 1 and report.conventions == [EPSILON.format(shown) + CONVENTION]
    assert report.accepted == [] and report.explained is False
    assert set(explained(report)) == {c.name for c in C.battery("relu")[:-1]}
    assert report.verdict.startswith("FAIL — the backprop is right (all 9 cases agree")


@pytest.mark.parametrize(("eps", "bound", "accepted"), [
    (1e-7, 1e-7, True),  # at the course's bound
    (1.009e-7, 1e-7, True),  # within the 1 % the ε is read to
    (1.02e-7, 1e-7, False),  # over it
    (1e-9, 1e-7, True),
])
def test_an_epsilon_up_to_the_courses_bound_is_accepted(eps, bound, accepted):
    report = graded(replace(DIMS, log_epsilon=bound), bug="log_eps", eps=eps)
    words = EPSILON.format(f"{eps:.1g}")
    if accepted:
        assert report.exit_code == 0 and report.conventions == []
        assert report.accepted == [f"{words} (the assignment accepts it: log_epsilon = {bound:g})"]
        assert all(c.passed and c.accepted for c in report.cases)
    else:
        assert report.exit_code == 1 and report.conventions == [words + CONVENTION] and report.accepted == []


def test_the_largest_epsilon_is_still_a_guard_and_a_larger_one_is_a_bug():
    at = graded(bug="log_eps", eps=1e-2)
    assert at.conventions == [EPSILON.format("0.01") + CONVENTION]
    over = graded(bug="log_eps", eps=2e-2)
    assert over.conventions == [] and explained(over) == {} and len(over.bug_cases) == 9
    assert over.summary.startswith("loss off by")


def test_an_epsilon_that_changes_from_case_to_case_is_a_bug_in_the_loss():
    report = graded(bug="log_eps_by_K", eps=1e-6)
    assert report.conventions == [] and explained(report) == {} and report.summary.startswith("loss off by")


def test_a_loss_too_large_is_no_epsilon():
    """An ε makes −log(p_y + ε) smaller than the NLL: a loss that is larger (an L2 term twice too large in
    the loss only is not an ε) is never read as one."""
    report = graded(bug="log_eps", eps=-1e-9)
    assert report.conventions == [] and explained(report) == {}


# ----------------------------------------------------------------------------- rect'(0)
@pytest.mark.parametrize(("accepts", "exit_code"), [((0,), 1), ((0, 1), 0)])
def test_relu_derivative_one_at_zero_is_found_on_the_exact_zeros_case_only(accepts, exit_code):
    report = graded(replace(DIMS, relu_grad_at_zero=accepts), bug="relu_ge")
    assert report.exit_code == exit_code
    assert explained(report) == {"relu/zero-preactivation": (RELU, exit_code == 0)}
    if exit_code:
        assert report.conventions == [RELU + CONVENTION] and report.accepted == []
    else:
        assert report.accepted == [RELU + " (the assignment accepts it: relu_grad_at_zero = [0, 1])"]
        assert report.conventions == []
    assert report.diagnosis == []  # nothing left for the diagnosis: the case is explained


def test_a_homework_course_names_the_pre_activation_as_the_homework_does():
    report = validate(factory(bug="relu_ge", only="relu"), assignment=Assignment(activations=("relu",)))
    assert report.conventions == ["its ReLU derivative at 0 is 1 (the mask h^a >= 0) where the assignment takes "
                                  "rect'(0) = 0 (the mask h^a > 0)" + CONVENTION]


# ----------------------------------------------------------------------------- the L2 factor
@pytest.mark.parametrize(("factor", "words"), [
    (0.5, "its L2 term is 0.5·λ_l2‖W_l‖² where the assignment asks λ_l2‖W_l‖²"),
    (2.0, "its L2 term is 2·λ_l2‖W_l‖² where the assignment asks λ_l2‖W_l‖²"),
])
def test_another_l2_factor_under_the_elastic_net_is_a_convention(factor, words):
    report = graded(l2_factor=factor)
    assert report.exit_code == 1 and report.conventions == [words + CONVENTION]
    assert explained(report) == {name: (words, False) for name in REGULARISED}
    accepting = graded(replace(DIMS, accept_l2_factors=(factor,)), l2_factor=factor)
    assert accepting.exit_code == 0 and accepting.conventions == []
    assert accepting.accepted == [f"{words} (the assignment accepts it: accept_l2_factors = [{factor:g}])"]


def test_an_l2_factor_no_course_uses_is_a_bug():
    report = graded(l2_factor=3.0)
    assert report.conventions == [] and explained(report) == {} and {c.case.name for c in report.bug_cases} == REGULARISED


@pytest.mark.parametrize(("course", "student", "words"), [
    ("cs231n-2016", 1.0, "its L2 term is reg·Σ‖W‖² where the assignment asks 0.5·reg·Σ‖W‖²"),
    ("cs231n", 0.5, "its L2 term is 0.5·reg·Σ‖W‖² where the assignment asks reg·Σ‖W‖²"),
    ("cs231n", 2.0, "its L2 term is 2·reg·Σ‖W‖² where the assignment asks reg·Σ‖W‖²"),
])
def test_an_l2_course_hears_of_its_one_reg(course, student, words):
    a = replace(preset(course), factory="TwoLayerNet")
    report = graded(a, weights="in_out", penalty="l2", l2_factor=student)
    assert report.exit_code == 1 and report.conventions == [words + CONVENTION]
    accepting = graded(replace(a, accept_l2_factors=(student,)), weights="in_out", penalty="l2", l2_factor=student)
    assert accepting.exit_code == 0
    assert accepting.accepted == [f"{words} (the assignment accepts it: accept_l2_factors = [{student:g}])"]


def test_two_harmless_differences_are_each_said_for_the_cases_they_explain():
    report = graded(bug="relu_ge", l2_factor=0.5)
    l2 = "its L2 term is 0.5·λ_l2‖W_l‖² where the assignment asks λ_l2‖W_l‖²"
    assert report.conventions == [RELU + CONVENTION, l2 + CONVENTION]
    assert explained(report) == {"relu/zero-preactivation": (RELU, False),
                                 **{name: (l2, False) for name in REGULARISED}}


def test_a_harmless_difference_does_not_hide_a_bug_in_other_cases():
    """A wrong bias gradient in every case: no harmless difference explains any of them."""
    report = graded(bug="half_b2")
    assert report.conventions == [] and len(report.bug_cases) == 9


def test_an_answer_is_judged_on_the_references_scale_not_its_own():
    """Small entries are judged against a floor of 1e-3 · max|reference|: a student's own larger entry (still
    within the tolerance) does not widen it."""
    ref = {"W1": np.array([1000.0, 0.0])}
    student = {"W1": np.array([1000.0 * (1 + 0.9e-10), 1.00000000005e-10])}
    assert not H._agrees(1.0, student, 1.0, ref)  # 1.00000000005e-10 / 1.0 is over rtol = 1e-10
    assert H._agrees(1.0, {"W1": np.array([1000.0 * (1 + 0.9e-10), 0.99999999e-10])}, 1.0, ref)
    assert not H._agrees(1.0, {"W1": ref["W1"].copy()}, 1.0 + 1e-9, ref)  # the loss is judged too
    assert not H._agrees(1.0, {}, 1.0, ref) and not H._agrees(1.0, {"W1": np.zeros((2, 1))}, 1.0, ref)


def test_an_epsilon_is_found_behind_two_hidden_layers_too():
    """The ε is read from the logits, the last layer's output, however many layers come before it."""
    sizes = Assignment(name="course", factory="make_mlp", call="sizes")  # relu only, any depth
    report = validate(factory(call="sizes", only="relu", bug="log_eps", eps=1e-9), assignment=sizes)
    assert report.conventions == [EPSILON.format("1e-09") + CONVENTION]
    assert "relu/two-hidden" in explained(report) and len(explained(report)) == 10


def test_relu_used_for_every_activation_is_a_bug_not_a_relu_convention():
    """Told tanh, it computes relu: its numbers are a ReLU network's, yet only the relu exact-zeros case is ever
    read under rect'(0) = 1, so the other activations' cases stay bugs."""
    report = validate(factory(bug="always_relu"), assignment=Assignment(name="course"))
    assert report.conventions == [] and explained(report) == {} and report.exit_code == 1
    assert {c.case.activation for c in report.bug_cases} == {"tanh", "sigmoid", "softplus"}
