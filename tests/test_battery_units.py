"""compare.grader.judging.battery: what a submission is told, run here on trusted test students
(tests/battery_students.py, a closure: ``validate`` runs it in this process, through the same battery,
judging and diagnosis a worker's answers go through). Each test holds the report a student or an
instructor reads: its exit code, verdict, conventions, skipped lines and error.

Most students here are graded under a "dims" assignment (TwoLayerNet(d, h, m), relu only: 10 cases),
which keeps each run well under a second once the references are computed."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import battery_students
import numpy as np
import pytest
from battery_students import factory

from compare.grader.course import cases as C
from compare.grader.course.assignment import Assignment, preset
from compare.grader.judging import battery as B
from compare.grader.judging.records import Report
from compare.grader.judging.reference import REFERENCES
from compare.grader.sandbox.errors import StudentError
from compare.grader.validation import assert_matches_reference, validate

DIMS = Assignment(name="course", factory="TwoLayerNet", call="dims")  # relu only, one hidden layer given
MEAN_OF = "it returns the {} over the batch where the assignment asks the {} (loss and gradients {} the assignment's)"
NO_PENALTY = ("its gradients leave out the penalty (added in the update step?) where the assignment asks {} for the "
              "gradient of the loss including the penalty")


def dims(**choices):
    return factory(call="dims", **choices)


def graded(student, assignment=DIMS) -> Report:
    return validate(student, assignment=assignment)


RAISE_LINE = 1 + Path(battery_students.__file__).read_text().splitlines().index(
    '            raise NotImplementedError("only relu here")')
REG = next(c for c in C.battery("relu") if c.name == "relu/regularised")
LARGE = next(c for c in C.battery("relu") if c.name == "relu/large-logits")


# ----------------------------------------------------------------------------- one case compared
def test_right_numbers_agree_on_every_row():
    loss, grads = REFERENCES.of(REG).loss_and_grads
    result = B.compare_case(REG, loss, {n: g.copy() for n, g in grads.items()}, initial_params={"W1": 1},
                            previous={"W1": 2}, answer=("as", "returned"))
    assert result.agrees and [r.name for r in result.rows] == ["loss", "W1", "b1", "W2", "b2"]
    assert result.outcome.ok and result.outcome.transposed_shape == ()
    assert (result.outcome.initial_params, result.outcome.previous, result.answer) == ({"W1": 1}, {"W1": 2},
                                                                                       ("as", "returned"))
    assert result.outcome.reference is REFERENCES.of(REG) and result.outcome.student_loss == loss
    assert result.outcome.passed == {"loss": True, "W1": True, "b1": True, "W2": True, "b2": True}


def test_a_weight_gradient_with_the_transposed_shape_fails_and_is_read_back_in_the_reference_layout():
    """The right numbers as an (in, out) array: the row says so and fails; what the diagnosis reads is the
    gradient transposed back (the reference's layout), not transposed twice."""
    loss, grads = REFERENCES.of(REG).loss_and_grads
    student = {**grads, "W1": grads["W1"].T.copy()}
    result = B.compare_case(REG, loss, student)
    row = result.rows[1]
    assert (row.name, row.diff.passed, row.passed) == ("W1", True, False)
    assert row.note == "returned with the transposed shape (5, 4)"
    assert [r.passed for r in result.rows] == [True, False, True, True, True] and not result.agrees
    assert result.outcome.transposed_shape == ("W1",) and not result.outcome.ok
    assert result.outcome.student_grads["W1"].shape == (4, 5)
    np.testing.assert_array_equal(result.outcome.student_grads["W1"], grads["W1"])
    assert result.outcome.passed["W1"] is True and result.outcome.max_rel_error["W1"] == 0.0


def test_a_wrong_gradient_fails_its_row_only():
    loss, grads = REFERENCES.of(REG).loss_and_grads
    result = B.compare_case(REG, loss * (1 + 1e-6), {**grads, "b2": grads["b2"] * 2})
    assert [r.passed for r in result.rows] == [False, True, True, True, False]
    assert not result.outcome.ok and result.outcome.max_rel_error["b2"] > 0.1
    loss_row, b2_row = result.rows[0].diff, result.rows[4].diff  # the student's number first, then autograd's
    assert (loss_row.actual_at_worst, loss_row.expected_at_worst) == (loss * (1 + 1e-6), loss)
    worst = b2_row.worst_index
    assert (b2_row.actual_at_worst, b2_row.expected_at_worst) == (grads["b2"][worst] * 2, grads["b2"][worst])
    assert b2_row.max_abs_error == pytest.approx(np.abs(grads["b2"]).max(), rel=1e-12)


@pytest.mark.parametrize(("where", "named"), [("loss", "loss"), ("W2", "W2"), ("both", "loss, W2")])
def test_nan_on_an_ordinary_batch_breaks_the_contract_and_names_what(where, named):
    loss, grads = REFERENCES.of(REG).loss_and_grads
    grads = dict(grads)
    if where in ("W2", "both"):
        grads["W2"] = grads["W2"].copy()
        grads["W2"][0, 0] = np.inf
    loss = np.nan if where in ("loss", "both") else loss
    with pytest.raises(StudentError, match=f"returned NaN or inf in {named} on case relu/regularised "
                                           r"\(an ordinary batch; expected finite numbers\)") as caught:
        B.compare_case(REG, loss, grads)
    assert caught.value.kind == "contract"


def test_nan_on_a_stress_batch_is_a_failing_case_for_the_diagnosis():
    loss, grads = REFERENCES.of(LARGE).loss_and_grads
    result = B.compare_case(LARGE, np.nan, {**grads, "b1": np.full_like(grads["b1"], np.nan)})
    assert [r.passed for r in result.rows] == [False, True, False, True, True]


# ----------------------------------------------------------------------------- the references
def test_prepare_computes_every_case_of_every_tried_activation_and_stops_when_told():
    seed = 987654
    before = len(REFERENCES)
    stop = threading.Event()
    stop.set()
    B.prepare(DIMS, seed, stop)
    assert len(REFERENCES) == before
    B.prepare(DIMS, seed)
    assert len(REFERENCES) == before + len(C.battery("relu", seed))
    assert B.battery("relu", seed) is B.battery("relu", seed)
    assert [c.name for c in B.battery("tanh", seed)] == [c.name for c in C.battery("tanh", seed)]


# ----------------------------------------------------------------------------- right math, other conventions
def test_right_code_passes_under_its_own_conventions():
    report = graded(dims())
    assert (report.exit_code, report.conventions, report.skipped) == (0, [], [
        "two hidden layers (sizes of length 4): not supported — TwoLayerNet(4, 5, 3, 3) raised TypeError: "
        "factory.<locals>.TwoLayerNet() takes 3 positional arguments but 4 were given"])
    assert [c.case.name for c in report.cases] == [c.name for c in C.battery("relu")][:-1]
    assert all(c.passed for c in report.cases)


def test_the_mean_under_a_sum_course_is_named_a_convention():
    """A course that asks the sum: a submission returning the mean is told so, its backprop right."""
    report = graded(dims(), replace(DIMS, reduction="sum"))
    words = MEAN_OF.format("mean", "sum", "1/K times")
    assert report.exit_code == 1 and report.conventions == [words] and report.explained
    assert report.verdict.startswith("FAIL — the backprop is right (all 9 cases agree once read in its own")
    assert all(c.harmless == words and not c.accepted for c in report.failed_cases)
    assert len(report.failed_cases) == 8 and not report.bug_cases  # one example: its mean is its sum


def test_the_sum_under_a_mean_course_is_named_a_convention():
    report = graded(dims(reduction="sum"))
    assert report.conventions == [MEAN_OF.format("sum", "mean", "K times")] and report.exit_code == 1
    assert report.summary.startswith("right backprop, other conventions: it returns the sum")


def test_right_math_under_other_conventions_never_passes_assert_matches_reference():
    with pytest.raises(AssertionError, match="disagrees with the torch reference") as caught:
        assert_matches_reference(dims(reduction="sum"), assignment=DIMS)
    assert "convention: it returns the sum over the batch" in str(caught.value)
    assert assert_matches_reference(dims(), assignment=DIMS).exit_code == 0


def test_a_penalty_left_out_of_the_gradients_is_named_a_convention():
    report = graded(dims(bug="no_penalty_grad"))
    assert report.conventions == [NO_PENALTY.format("loss_and_grads")] and report.exit_code == 1
    assert {c.case.name for c in report.failed_cases} == {"relu/regularised", "relu/mnist-width"}
    other_method = replace(DIMS, method="loss")
    assert graded(dims(bug="no_penalty_grad"), other_method).conventions == [NO_PENALTY.format("loss")]


def test_a_course_without_a_penalty_reads_no_penalty_into_a_bug():
    """Under penalty = "none" there is no penalty to leave out: a wrong bias gradient is a bug."""
    none = replace(DIMS, penalty="none")
    assert graded(dims(penalty="none"), none).exit_code == 0
    report = graded(dims(penalty="none", bug="half_b2"), none)
    assert report.exit_code == 1 and report.conventions == [] and len(report.bug_cases) == 9


def test_a_bug_beside_a_convention_is_not_explained_away():
    """Summed and with a wrong bias gradient: no reading makes every case agree, so the cases stay bugs."""
    report = graded(dims(reduction="sum", bug="half_b2"))
    assert report.conventions == [] and not report.explained and len(report.bug_cases) == 9
    assert report.verdict.startswith("FAIL — 9 of 9 cases disagree")


def test_a_reading_must_explain_every_failing_case():
    """Summed, and the penalty left out of the gradients: the sum explains the unregularised cases only."""
    report = graded(dims(reduction="sum", bug="no_penalty_grad"))
    assert report.conventions == [] and not report.explained
    assert report.verdict.startswith("FAIL — 8 of 9 cases disagree")  # one example: its mean is its sum


# ----------------------------------------------------------------------------- layouts and calls
@pytest.mark.parametrize(("choices", "words"), [
    ({"weights": "in_out"}, "it stores W1 as (in, out) (5, 4) where the assignment asks (out, in) (4, 5)"),
    ({"biases": "column"}, "it stores b1 as a column (4, 1) where the assignment asks a vector (4,)"),
    ({"weights": "in_out", "biases": "row"}, "it stores W1 as (in, out) (5, 4) where the assignment asks (out, in) "
                                             "(4, 5); it stores b1 as a row (1, 4) where the assignment asks a vector (4,)"),
    ({"inputs": "columns"}, "it takes X as (d, K) columns (5, 8) where the assignment gives (K, d) rows (8, 5)"),
    ({"labels": "one_hot"}, "it takes y as one-hot labels (8, 3) where the assignment gives integer labels (8,)"),
    ({"inputs": "columns", "labels": "one_hot"}, "it takes X as (d, K) columns (5, 8) where the assignment gives "
                                                 "(K, d) rows (8, 5); it takes y as one-hot labels (3, 8) where the "
                                                 "assignment gives integer labels (8,)"),
])
def test_another_layout_is_found_on_the_probe_and_every_case_is_judged_in_it(choices, words):
    report = graded(dims(**choices))
    assert report.conventions == [words] and report.exit_code == 1
    assert len(report.cases) == 9 and all(c.agrees for c in report.cases)  # judged in its own layout: right
    assert report.verdict.startswith("FAIL — the backprop is right (all 9 cases agree")


def test_the_assignments_own_layout_is_kept_when_it_is_the_submissions():
    columns = replace(DIMS, inputs="columns", labels="one_hot", weights="in_out", biases="column")
    report = graded(dims(inputs="columns", labels="one_hot", weights="in_out", biases="column"), columns)
    assert (report.exit_code, report.conventions) == (0, [])


def test_a_factory_called_another_way_is_found_and_said():
    report = graded(dims(), replace(DIMS, call="sizes_activation"))
    assert report.conventions == ["its factory is called as TwoLayerNet(5, 4, 3) where the assignment calls "
                                  "TwoLayerNet((5, 4, 3), 'relu')"]
    assert report.exit_code == 1 and len(report.cases) == 9 and all(c.agrees for c in report.cases)
    sizes_only = graded(factory(call="sizes", only="relu"), replace(DIMS, call="sizes_activation", factory="make_mlp"))
    assert sizes_only.conventions == ["its factory is called as make_mlp((5, 4, 3)) where the assignment calls "
                                      "make_mlp((5, 4, 3), 'relu')"]
    assert len(sizes_only.cases) == 10  # sizes alone build two hidden layers too


def test_a_factory_refusing_every_call_style_keeps_the_first_error():
    def TwoLayerNet(*args, **kwargs):  # noqa: N802
        raise TypeError("no way to call me")

    report = graded(TwoLayerNet, replace(DIMS, call="sizes_activation"))
    assert report.exit_code == 2 and report.error_kind == "raised" and report.conventions == []
    assert report.error.startswith("TwoLayerNet((5, 4, 3), 'relu') raised TypeError: no way to call me")


def test_a_keywords_call_is_never_retried_another_way():
    report = graded(dims(), preset("cs231n-a2"))
    assert report.exit_code == 2 and report.conventions == []
    assert report.error.startswith("TwoLayerNet(input_dim=5, hidden_dim=4, num_classes=3, reg=0.013) raised TypeError")


def test_a_factory_that_works_another_way_but_builds_no_method_is_told_both():
    class Bare:
        def __init__(self, *dims):
            self.params = {}

    def TwoLayerNet(*dims):  # noqa: N802
        if len(dims) != 3:
            raise TypeError("takes d, h, m")
        return Bare(*dims)

    report = graded(TwoLayerNet, replace(DIMS, call="sizes_activation"))
    assert report.exit_code == 2 and report.error_kind == "contract"
    assert report.error.startswith("its factory is called as TwoLayerNet(5, 4, 3), not as the assignment's "
                                   "TwoLayerNet((5, 4, 3), 'relu'); and TwoLayerNet(5, 4, 3) returned a test_battery_units.Bare "
                                   "without a loss_and_grads method")


def test_params_with_other_names_break_the_contract():
    class Net:
        def __init__(self, *dims):
            self.params = {"W1": np.zeros((4, 5)), "b1": np.zeros(4), "W2": np.zeros((3, 4)), "c2": np.zeros(3)}

        def loss_and_grads(self, X, y, lambdas):
            raise AssertionError("never called")

    def factory(*dims):
        return Net(*dims)

    report = graded(factory)
    assert report.exit_code == 2 and report.error_kind == "contract"
    assert report.error == ("params of factory(5, 4, 3) has keys ['W1', 'W2', 'b1', 'c2'], expected "
                            "['W1', 'W2', 'b1', 'b2']")


@pytest.mark.parametrize(("bad", "words"), [
    ("W1", "params['W1'] of factory(5, 4, 3) has shape (3, 3), expected (4, 5) (out, in), like torch.nn.Linear.weight"),
    ("b2", "params['b2'] of factory(5, 4, 3) has shape (3, 3), expected (3,) (biases as a vector)"),
])
def test_params_of_a_shape_no_layout_explains_break_the_contract(bad, words):
    class Net:
        def __init__(self, *dims):
            self.params = {"W1": np.zeros((4, 5)), "b1": np.zeros(4), "W2": np.zeros((3, 4)), "b2": np.zeros(3)}
            self.params[bad] = np.zeros((3, 3))

        def loss_and_grads(self, X, y, lambdas):
            raise AssertionError("never called")

    def factory(*dims):
        return Net(*dims)

    report = graded(factory)
    assert report.exit_code == 2 and report.error == words


def test_in_out_weights_under_an_in_out_course_name_the_in_out_layout():
    class Net:
        def __init__(self, *dims):
            self.params = {"W1": np.zeros((2, 2)), "b1": np.zeros(4), "W2": np.zeros((4, 3)), "b2": np.zeros(3)}

        def loss_and_grads(self, X, y, lambdas):
            raise AssertionError("never called")

    def factory(*dims):
        return Net(*dims)

    report = graded(factory, replace(DIMS, weights="in_out"))
    assert report.error == "params['W1'] of factory(5, 4, 3) has shape (2, 2), expected (5, 4) (in, out)"


def test_a_network_whose_layout_changes_between_networks_breaks_the_contract():
    calls = []

    def TwoLayerNet(*dims):  # noqa: N802
        calls.append(dims)
        return factory(call="dims", weights="in_out" if len(calls) > 3 else "out_in")(*dims)

    report = graded(TwoLayerNet)
    assert report.exit_code == 2 and report.error_kind == "contract"
    assert "params of TwoLayerNet(" in report.error and "changed layout between networks" in report.error


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize(("bug", "words"), [
    ("extra_key", "grads has keys ['W1', 'W2', 'X', 'b1', 'b2']: unexpected keys ['X'] (expected "
                  "['W1', 'b1', 'W2', 'b2']) [case relu/one-example]"),
    ("missing_b2", "grads has keys ['W1', 'W2', 'b1']: missing ['b2'] (expected ['W1', 'b1', 'W2', 'b2']) "
                   "[case relu/one-example]"),
    ("nan", "returned NaN or inf in loss on case relu/one-example (an ordinary batch; expected finite numbers)"),
])
def test_gradients_breaking_the_contract_are_named_with_their_case(bug, words):
    report = graded(dims(bug=bug))
    assert (report.exit_code, report.error_kind, report.error) == (2, "contract", words)


def test_both_missing_and_unexpected_gradients_are_named():
    with pytest.raises(StudentError, match=r"grads has keys \['W1', 'c'\]: missing \['b1'\]; unexpected keys "
                                           r"\['c'\] \(expected \['W1', 'b1'\]\)"):
        B._check_grad_keys({"W1": 0, "c": 0}, {"W1": (2, 2), "b1": (2,)})
    B._check_grad_keys({"W1": 0, "b1": 0}, {"W1": (2, 2), "b1": (2,)})


@pytest.mark.parametrize(("accepts", "exit_code"), [(False, 1), (True, 0)])
def test_row_shaped_bias_gradients_are_said_once_accepted_or_a_convention(accepts, exit_code):
    a = replace(DIMS, gradient_shapes="broadcast") if accepts else DIMS
    report = graded(dims(bug="row_bias_grad"), a)
    shapes = "grads['b1'] has shape (1, 4) where params['b1'] is (4,); grads['b2'] has shape (1, 3) where params['b2'] is (3,)"
    first = "grads['b1'] has shape (1, 2) where params['b1'] is (2,); grads['b2'] has shape (1, 2) where params['b2'] is (2,)"
    assert report.exit_code == exit_code and all(c.agrees for c in report.cases)
    if accepts:
        assert report.accepted == [f"{first} (the assignment accepts it: gradient_shapes = \"broadcast\")"]
        assert report.conventions == []
    else:
        assert report.conventions == [f"{first} — a convention, not a bug (the same entries, another shape)"]
        assert report.accepted == []
    assert shapes not in " ".join(report.conventions + report.accepted)  # said once: for the first case only


# ----------------------------------------------------------------------------- what the diagnosis is handed
def test_the_diagnosis_sees_the_previous_call_of_the_same_network():
    report = graded(dims(bug="accumulate"))
    assert report.summary.startswith("gradients accumulate across calls")
    assert report.cases[0].passed and not report.cases[1].passed  # the first call of a network is right


def test_the_diagnosis_sees_the_initial_parameters_in_the_reference_layout():
    report = graded(dims(bug="ignores_params", weights="in_out"), replace(DIMS, weights="in_out"))
    assert report.summary.startswith("your numbers are those of the object's initial parameters")


# ----------------------------------------------------------------------------- activations and depth
def test_an_activation_the_factory_refuses_is_skipped_unless_required():
    report = graded(factory(bug="raise_on_tanh"), Assignment(name="course"))
    assert report.exit_code == 0 and len(report.cases) == 28
    assert report.skipped == ["activation 'tanh': not supported — make_mlp((2, 2, 2), 'tanh') raised "
                              f"NotImplementedError: only relu here (battery_students.py:{RAISE_LINE} in __init__: "
                              "raise NotImplementedError(\"only relu here\"))"]
    assert {c.case.activation for c in report.cases} == {"relu", "sigmoid", "softplus"}
    required = graded(factory(bug="raise_on_tanh"), Assignment(name="course", activations=("relu", "tanh")))
    assert required.exit_code == 2 and required.error_kind == "raised"
    assert required.error.endswith(" [case tanh/one-example]") and len(required.cases) == 10


def test_a_one_hidden_size_factory_skips_the_deep_case_once_and_says_why():
    report = graded(factory(call="keywords", weights="in_out", penalty="l2", l2_factor=0.5), preset("cs231n-a2"))
    assert report.exit_code == 0 and len(report.cases) == 9
    assert report.skipped == ["two hidden layers (sizes of length 4): the assignment's TwoLayerNet takes one hidden size"]


def test_a_timeout_in_the_probe_is_the_reports_error_not_a_layout():
    """Only a raise or a broken contract sends the probe to another layout; a call that runs out of time
    is the submission's error."""
    release = threading.Event()

    class Slow:
        def __init__(self, *dims):
            self.inner = factory(call="dims")(*dims)
            self.params = self.inner.params

        def loss_and_grads(self, X, y, lambdas):
            release.wait(5)
            return self.inner.loss_and_grads(X, y, lambdas)

    try:
        report = validate(lambda *dims: Slow(*dims), assignment=DIMS, timeout=0.3)
    finally:
        release.set()
    assert report.exit_code == 2 and report.error_kind == "timeout" and report.conventions == []


def test_an_activation_that_worked_and_then_fails_is_an_error_not_a_skip():
    """tanh ran on the small cases: failing on a later one is the submission's error, named with the case."""
    report = graded(factory(bug="tanh_narrow_only"), Assignment(name="course"))
    assert report.exit_code == 2 and report.error_kind == "raised" and report.skipped == []
    assert report.error.startswith("make_mlp((784, 32, 10), 'tanh') raised MemoryError: tanh on 784 inputs")
    assert report.error.endswith("[case tanh/mnist-width]")


def test_two_hidden_layers_refused_once_are_skipped_for_every_activation_said_once():
    report = graded(factory(bug="one_hidden_only"), Assignment(name="course"))
    assert report.exit_code == 0 and len(report.cases) == 33  # 37, less the deep case of each activation
    assert len(report.skipped) == 1 and report.skipped[0].startswith(
        "two hidden layers (sizes of length 4): not supported — make_mlp((4, 5, 3, 3), 'relu') raised ValueError: "
        "one hidden layer only, got sizes (4, 5, 3, 3)")


def test_a_call_style_that_builds_something_else_is_passed_over_for_the_next():
    """TwoLayerNet((5, 4, 3)) builds an object with no params (a broken contract for that style): the grader
    goes on to TwoLayerNet(5, 4, 3), which works, and says that is how the factory is called."""
    class NotANet:
        pass

    def TwoLayerNet(*dims):  # noqa: N802
        if len(dims) == 1:
            return NotANet()
        if len(dims) != 3:
            raise TypeError("takes d, h, m")
        return factory(call="dims")(*dims)

    report = graded(TwoLayerNet, replace(DIMS, call="sizes_activation"))
    assert report.exit_code == 1 and report.error is None
    assert report.conventions == ["its factory is called as TwoLayerNet(5, 4, 3) where the assignment calls "
                                  "TwoLayerNet((5, 4, 3), 'relu')"]


def test_a_call_style_that_runs_out_of_time_is_the_submissions_error():
    release = threading.Event()

    def TwoLayerNet(*dims):  # noqa: N802
        if len(dims) == 1:
            release.wait(5)
        if len(dims) != 3:
            raise TypeError("takes d, h, m")
        return factory(call="dims")(*dims)

    try:
        report = validate(TwoLayerNet, assignment=replace(DIMS, call="sizes_activation"), timeout=0.3)
    finally:
        release.set()
    assert report.exit_code == 2 and report.error_kind == "timeout" and report.conventions == []


def test_a_call_style_that_builds_a_network_with_other_names_is_passed_over():
    class OtherNames:
        def __init__(self):
            self.params = {"weights": np.zeros((4, 5))}

        def loss_and_grads(self, X, y, lambdas):
            raise AssertionError("never called")

    def TwoLayerNet(*dims):  # noqa: N802
        if len(dims) == 1:
            return OtherNames()
        if len(dims) != 3:
            raise TypeError("takes d, h, m")
        return factory(call="dims")(*dims)

    report = graded(TwoLayerNet, replace(DIMS, call="sizes_activation"))
    assert report.exit_code == 1 and report.conventions == [
        "its factory is called as TwoLayerNet(5, 4, 3) where the assignment calls TwoLayerNet((5, 4, 3), 'relu')"]


def test_a_penalty_left_out_is_found_in_the_courses_own_layout():
    """W stored (in, out) as the course asks: the penalty's gradient is added in the reference layout."""
    in_out = replace(DIMS, weights="in_out")
    report = graded(dims(weights="in_out", bug="no_penalty_grad"), in_out)
    assert report.conventions == [NO_PENALTY.format("loss_and_grads")] and report.explained


def test_an_accepted_difference_everywhere_is_a_pass_with_no_convention_read_into_it():
    """Every case differs by an ε the course accepts: nothing is left failing, so no other reading is tried."""
    report = graded(dims(bug="log_eps", eps=1e-9), replace(DIMS, log_epsilon=1e-8))
    assert report.exit_code == 0 and report.conventions == [] and not report.explained
    assert len(report.accepted) == 1 and all(c.harmless and c.accepted for c in report.cases)


def test_an_answer_in_shapes_no_layout_reads_is_no_agreement_on_the_probe():
    """A submission taking X as columns that, given rows, answers with gradients of no readable shape: the probe
    does not take that for agreement, and finds the columns it does read."""
    class ColumnsOnly:
        def __init__(self, *dims):
            self.d, self.inner = dims[0], factory(call="dims", inputs="columns")(*dims)
            self.params = self.inner.params

        def loss_and_grads(self, X, y, lambdas):
            if X.shape[0] != self.d:
                return 0.0, {name: np.zeros((1, 1)) for name in self.params}
            return self.inner.loss_and_grads(X, y, lambdas)

    def TwoLayerNet(*dims):  # noqa: N802
        return ColumnsOnly(*dims)

    report = graded(TwoLayerNet)
    assert report.exit_code == 1 and report.error is None
    assert report.conventions == ["it takes X as (d, K) columns (5, 8) where the assignment gives (K, d) rows (8, 5)"]


def test_a_submission_reading_either_layout_is_judged_in_the_assignments():
    """X as rows or as columns, found by its shape: the assignment's own layout agrees first, and no other
    convention is read into it."""
    class EitherLayout:
        def __init__(self, *dims):
            self.d, self.inner = dims[0], factory(call="dims")(*dims)
            self.params = self.inner.params

        def loss_and_grads(self, X, y, lambdas):
            return self.inner.loss_and_grads(X.T if X.shape[0] == self.d else X, y, lambdas)

    def TwoLayerNet(*dims):  # noqa: N802
        return EitherLayout(*dims)

    report = graded(TwoLayerNet)
    assert (report.exit_code, report.conventions) == (0, [])


def test_a_probe_that_runs_out_of_time_once_is_the_error_even_if_later_calls_would_run():
    calls = []

    class SlowFirst:
        def __init__(self, *dims):
            self.inner = factory(call="dims")(*dims)
            self.params = self.inner.params

        def loss_and_grads(self, X, y, lambdas):
            calls.append(1)
            if len(calls) == 1:
                release.wait(5)
            return self.inner.loss_and_grads(X, y, lambdas)

    release = threading.Event()
    try:
        report = validate(lambda *dims: SlowFirst(*dims), assignment=DIMS, timeout=0.3)
    finally:
        release.set()
    assert report.exit_code == 2 and report.error_kind == "timeout" and report.error.startswith(
        "loss_and_grads on the layout probe")


def test_a_one_hidden_size_factory_told_its_activation_says_the_deep_case_once():
    from battery_students import Net

    def TwoLayerNet(input_dim, hidden_dim, num_classes, activation):  # noqa: N802
        return Net((input_dim, hidden_dim, num_classes), activation, {
            "weights": "out_in", "biases": "vector", "inputs": "rows", "labels": "int", "reduction": "mean",
            "penalty": "elastic_net", "l2_factor": 1.0, "bug": None, "eps": 0.0})

    told = Assignment(name="course", factory="TwoLayerNet", call="keywords",
                      keywords=(("input_dim", "d"), ("hidden_dim", "h"), ("num_classes", "m"),
                                ("activation", "activation")))
    report = graded(TwoLayerNet, told)
    assert report.exit_code == 0 and len(report.cases) == 33
    assert report.skipped == ["two hidden layers (sizes of length 4): the assignment's TwoLayerNet takes one hidden size"]


def test_a_broken_answer_in_the_assignments_layout_sends_the_probe_to_the_next():
    """Given rows, a columns submission answers with no pair at all (a broken contract): the probe goes on and
    finds the columns."""
    class ColumnsOnly:
        def __init__(self, *dims):
            self.d, self.inner = dims[0], factory(call="dims", inputs="columns")(*dims)
            self.params = self.inner.params

        def loss_and_grads(self, X, y, lambdas):
            return None if X.shape[0] != self.d else self.inner.loss_and_grads(X, y, lambdas)

    def TwoLayerNet(*dims):  # noqa: N802
        return ColumnsOnly(*dims)

    report = graded(TwoLayerNet)
    assert report.exit_code == 1 and report.error is None
    assert report.conventions == ["it takes X as (d, K) columns (5, 8) where the assignment gives (K, d) rows (8, 5)"]
