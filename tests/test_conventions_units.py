"""How a course's conventions map a submission's answers onto the reference
(``compare.grader.course.conventions``), function by function, by the values a grader reads back:
the factory call and its message, each layout's shapes, a gradient read back in the homework's
layout (a transposed one left transposed, so that the comparison flags it), a summed loss and its
gradients read back as means with the penalty counted once, the words of a convention."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from compare.grader.course import cases as C
from compare.grader.course import conventions as V
from compare.grader.course.assignment import Assignment
from compare.grader.sandbox.host import KEYWORDS

HOMEWORK = Assignment()
SHAPES = {"W1": (4, 5), "b1": (4,), "W2": (3, 4), "b2": (3,)}  # d=5, h=4, m=3: no square W


def hand_case(lambdas=(0.5, 0.25, 0.125, 2.0), K=2) -> C.Case:
    """A 2-2-1 case whose penalty is worked out by hand below."""
    params = {"W1": np.array([[1.0, -2.0], [0.0, 3.0]]), "b1": np.array([0.5, -0.5]),
              "W2": np.array([[2.0, -1.0]]), "b2": np.array([0.25])}
    X = np.arange(2.0 * K).reshape(K, 2)
    return C.Case("relu/hand", "by hand", (2, 2, 1), "relu", X, np.zeros(K, dtype=np.int64), tuple(lambdas), params,
                  frozenset({C.BATCH, C.REGULARISED}))


HAND_PENALTY = 0.5 * 6 + 0.25 * 14 + 0.125 * 3 + 2.0 * 5  # λ11‖W1‖₁ + λ12‖W1‖² + λ21‖W2‖₁ + λ22‖W2‖² = 16.875
HAND_PENALTY_GRADS = {"W1": np.array([[1.0, -1.5], [0.0, 2.0]]),  # λ11 sign(W1) + 2 λ12 W1
                      "W2": np.array([[8.125, -4.125]])}  # λ21 sign(W2) + 2 λ22 W2


# ----------------------------------------------------------------------------- the factory call
def test_the_homework_factory_is_given_sizes_and_activation():
    args, call = V.factory_call(HOMEWORK, "make_mlp", (5.0, 4, 3), "tanh")
    assert args == [[5, 4, 3], "tanh"] and all(type(n) is int for n in args[0])
    assert call == "make_mlp((5, 4, 3), 'tanh')"


def test_a_sizes_factory_is_given_sizes_only():
    assert V.factory_call(Assignment(call="sizes"), "net", (5, 4, 3), "tanh") == ([[5, 4, 3]], "net((5, 4, 3))")


def test_a_dims_factory_is_given_each_size():
    assert V.factory_call(Assignment(call="dims"), "Net", (5, 4, 3), "relu") == ([5, 4, 3], "Net(5, 4, 3)")


KEYWORDS_CALL = Assignment(call="keywords", keywords=(
    ("input_dim", "d"), ("hidden_dim", "h"), ("hidden_dims", "hidden"), ("num_classes", "m"), ("layers", "sizes"),
    ("act", "activation"), ("reg", "reg")), constants=(("dtype", "float64"),), penalty="l2", penalty_in="constructor")


def test_a_keywords_factory_is_given_each_quantity_by_name():
    args, call = V.factory_call(KEYWORDS_CALL, "Net", (6, 5, 4, 3), "sigmoid", reg=0.25)
    assert args == [{KEYWORDS: {"input_dim": 6, "hidden_dim": 5, "hidden_dims": [5, 4], "num_classes": 3,
                                "layers": [6, 5, 4, 3], "act": "sigmoid", "reg": 0.25, "dtype": "float64"}}]
    assert call == ("Net(input_dim=6, hidden_dim=5, hidden_dims=[5, 4], num_classes=3, layers=[6, 5, 4, 3], "
                    "act='sigmoid', reg=0.25, dtype='float64')")


def test_a_keywords_factory_is_given_reg_0_unless_told():
    args, call = V.factory_call(KEYWORDS_CALL, "Net", (5, 4, 3), "relu")
    assert args[0][KEYWORDS]["reg"] == 0.0 and type(args[0][KEYWORDS]["reg"]) is float
    assert args[0][KEYWORDS]["hidden_dims"] == [4] and "reg=0.0" in call


@pytest.mark.parametrize("a, sizes, builds", [
    (KEYWORDS_CALL, (5, 4, 3), True),  # one hidden size "h": one hidden layer only
    (KEYWORDS_CALL, (6, 5, 4, 3), False),
    (KEYWORDS_CALL, (5, 3), False),
    (Assignment(call="keywords", keywords=(("sizes", "sizes"),)), (6, 5, 4, 3), True),  # no "h": any depth
    (HOMEWORK, (6, 5, 4, 3), True),
    (Assignment(call="dims"), (6, 5, 4, 3), True),
])
def test_which_sizes_a_factory_call_builds(a, sizes, builds):
    assert V.builds(a, sizes) is builds


# ----------------------------------------------------------------------------- reg
def test_reg_is_the_cases_lambda12_or_0():
    assert V.reg(C.regularised("relu")) == C.LAMBDAS_1[1] == 0.013
    assert V.reg(C.minibatch("relu")) == 0.0


L2_CONSTRUCTOR = replace(KEYWORDS_CALL, l2_factor=0.5)


def test_a_constructor_is_given_reg_for_a_canonical_case():
    case = V.canonical_case(L2_CONSTRUCTOR, C.regularised("relu"))
    assert case.lambdas == (0.0, 0.0065, 0.0, 0.0065)
    assert V.constructor_reg(L2_CONSTRUCTOR, case) == pytest.approx(0.013, rel=1e-15)
    assert V.constructor_reg(L2_CONSTRUCTOR, C.regularised("relu")) == pytest.approx(0.026, rel=1e-15)


@pytest.mark.parametrize("a", [Assignment(penalty="l2", l2_factor=0.5), Assignment(penalty="none"), HOMEWORK])
def test_no_constructor_reg_unless_l2_in_the_constructor(a):
    value = V.constructor_reg(a, C.regularised("relu"))
    assert value == 0.0 and type(value) is float


# ----------------------------------------------------------------------------- layouts
@pytest.mark.parametrize("weights, biases, W2, b2", [
    ("out_in", "vector", (3, 4), (3,)), ("in_out", "vector", (4, 3), (3,)),
    ("out_in", "column", (3, 4), (3, 1)), ("in_out", "row", (4, 3), (1, 3)),
])
def test_each_layouts_shapes(weights, biases, W2, b2):
    a = Assignment(weights=weights, biases=biases)
    assert V.student_shape(a, "W2", [3, 4]) == W2 and V.student_shape(a, "b2", [3]) == b2
    assert type(V.student_shape(a, "b2", [3])) is tuple


def test_params_go_to_an_in_out_row_course_with_their_values_moved():
    params = {"W1": np.arange(20.0).reshape(4, 5), "b1": np.arange(4.0)}
    theirs = V.to_student(Assignment(weights="in_out", biases="row"), params)
    assert np.array_equal(theirs["W1"], params["W1"].T) and theirs["W1"].shape == (5, 4)
    assert np.array_equal(theirs["b1"], [[0.0, 1.0, 2.0, 3.0]])
    theirs["W1"][0, 0] = 99.0  # copies: the case's own params are never written to
    assert params["W1"][0, 0] == 0.0


def test_params_go_to_the_homework_course_as_they_are():
    params = {"W1": np.arange(20.0).reshape(4, 5), "b1": np.arange(4.0)}
    theirs = V.to_student(Assignment(biases="column"), params)
    assert np.array_equal(theirs["W1"], params["W1"]) and np.array_equal(theirs["b1"], [[0.0], [1.0], [2.0], [3.0]])


@pytest.mark.parametrize("weights", ["out_in", "in_out"])
def test_a_gradient_in_the_courses_layout_reads_back_in_the_homeworks(weights):
    a = Assignment(weights=weights, biases="column")
    W = np.arange(20.0).reshape(4, 5)  # the homework's (out, in)
    theirs = W.T.copy() if weights == "in_out" else W
    back = V.from_student(a, "W1", theirs, (4, 5))
    assert back.shape == (4, 5) and np.array_equal(back, W)
    b = V.from_student(a, "b1", np.array([[1.0], [2.0], [3.0], [4.0]]), (4,))
    assert b.shape == (4,) and np.array_equal(b, [1.0, 2.0, 3.0, 4.0])


def test_an_in_out_gradient_read_back_is_a_copy():
    theirs = np.arange(20.0).reshape(5, 4)
    back = V.from_student(Assignment(weights="in_out"), "W1", theirs, (4, 5))
    back[0, 0] = 99.0
    assert theirs[0, 0] == 0.0


def test_a_transposed_gradient_stays_transposed_for_the_comparison_to_flag():
    """A course asking (in, out) gets (out, in) back: read back, it is the transpose of the
    homework's layout — never silently the right matrix."""
    W = np.arange(20.0).reshape(4, 5)  # what a student of an (in, out) course returns in (out, in)
    back = V.from_student(Assignment(weights="in_out"), "W1", W, (4, 5))
    assert back.shape == (5, 4) and np.array_equal(back, W.T)
    back = V.from_student(HOMEWORK, "W1", W.T, (4, 5))  # the homework's (out, in) asked, (in, out) given
    assert back.shape == (5, 4) and np.array_equal(back, W.T)


@pytest.mark.parametrize("a, name, shape, homework, message", [
    (HOMEWORK, "b1", (4, 1), (4,), r"^shape \(4, 1\), expected \(4,\)$"),
    (Assignment(biases="row"), "b1", (4, 1), (4,), r"^shape \(4, 1\), expected \(1, 4\)$"),
    (Assignment(biases="column"), "b1", (1, 4), (4,), r"^shape \(1, 4\), expected \(4, 1\)$"),
    (HOMEWORK, "W1", (4, 4), (4, 5), r"^shape \(4, 4\), expected \(4, 5\)$"),
    (HOMEWORK, "W1", (20,), (4, 5), r"^shape \(20,\), expected \(4, 5\)$"),
    (HOMEWORK, "W1", (5, 4, 1), (4, 5), r"^shape \(5, 4, 1\), expected \(4, 5\)$"),
])
def test_a_gradient_of_no_layout_is_refused_naming_its_shape(a, name, shape, homework, message):
    with pytest.raises(ValueError, match=message):
        V.from_student(a, name, np.zeros(shape), homework)


def found(weights, biases):
    a = Assignment(weights=weights, biases=biases)
    return {name: np.zeros(V.student_shape(a, name, shape)) for name, shape in SHAPES.items()}


def test_the_layout_a_factory_stores_is_detected():
    assert V.detect_layout(HOMEWORK, found("in_out", "column"), SHAPES) == Assignment(weights="in_out", biases="column")
    assert V.detect_layout(HOMEWORK, found("out_in", "row"), SHAPES) == Assignment(biases="row")
    assert V.detect_layout(Assignment(weights="in_out"), found("out_in", "vector"), SHAPES) == HOMEWORK


def test_no_layout_is_detected_for_the_assignments_own_or_none():
    assert V.detect_layout(HOMEWORK, found("out_in", "vector"), SHAPES) is None
    mixed = found("out_in", "vector") | {"b2": np.zeros((3, 1))}
    assert V.detect_layout(HOMEWORK, mixed, SHAPES) is None
    missing = {n: v for n, v in found("in_out", "vector").items() if n != "b2"}
    assert V.detect_layout(HOMEWORK, missing, SHAPES) is None


def test_the_layout_words_name_each_difference_with_its_shapes():
    other = Assignment(weights="in_out", biases="column")
    assert V.layout_words(HOMEWORK, other, SHAPES) == (
        "it stores W1 as (in, out) (5, 4) where the assignment asks (out, in) (4, 5); "
        "it stores b1 as a column (4, 1) where the assignment asks a vector (4,)")
    assert V.layout_words(other, HOMEWORK, SHAPES) == (
        "it stores W1 as (out, in) (4, 5) where the assignment asks (in, out) (5, 4); "
        "it stores b1 as a vector (4,) where the assignment asks a column (4, 1)")
    assert V.layout_words(HOMEWORK, Assignment(biases="row"), SHAPES) == (
        "it stores b1 as a row (1, 4) where the assignment asks a vector (4,)")
    assert V.layout_words(HOMEWORK, Assignment(weights="in_out"), SHAPES) == (
        "it stores W1 as (in, out) (5, 4) where the assignment asks (out, in) (4, 5)")


# ----------------------------------------------------------------------------- the penalty
def test_an_elastic_net_course_is_the_case_itself():
    case = C.regularised("relu")
    assert V.canonical_case(HOMEWORK, case) is case


def test_an_l2_course_is_the_elastic_net_with_reg_times_its_factor_on_every_layer():
    case = C.two_hidden("tanh")
    canonical = V.canonical_case(Assignment(penalty="l2", l2_factor=0.5), case)
    assert canonical.lambdas == (0.0, 0.0065, 0.0, 0.0065, 0.0, 0.0065)
    assert canonical.tags == case.tags and C.REGULARISED in canonical.tags
    assert (canonical.name, canonical.sizes, canonical.X is case.X) == (case.name, case.sizes, True)


def test_a_penalty_free_course_has_every_lambda_0_and_no_regularised_tag():
    case = C.regularised("relu")
    canonical = V.canonical_case(Assignment(penalty="none"), case)
    assert canonical.lambdas == (0.0,) * 4 and canonical.tags == frozenset({C.BATCH})
    assert not canonical.regularised
    minibatch = V.canonical_case(Assignment(penalty="l2"), C.minibatch("relu"))
    assert minibatch.lambdas == (0.0,) * 4 and minibatch.tags == frozenset({C.BATCH})


def test_the_penalty_and_its_gradients_worked_by_hand():
    value, grads = V.penalty_parts(hand_case())
    assert value == HAND_PENALTY == 16.875 and type(value) is float
    assert set(grads) == {"W1", "W2"}
    for name, expected in HAND_PENALTY_GRADS.items():
        np.testing.assert_array_equal(grads[name], expected)


def test_no_penalty_is_0_with_zero_gradients():
    value, grads = V.penalty_parts(hand_case(lambdas=(0.0,) * 4))
    assert value == 0.0 and all(not g.any() for g in grads.values()) and set(grads) == {"W1", "W2"}


# ----------------------------------------------------------------------------- the method's arguments
def test_the_homework_method_is_given_rows_int_labels_and_the_lambdas():
    case = C.regularised("relu")
    args = V.call_args(HOMEWORK, case)
    assert [name for name, _ in args] == ["X", "y", "lambdas"]
    assert np.array_equal(args[0][1], case.X) and np.array_equal(args[1][1], case.y)
    assert args[2][1] == [0.011, 0.013, 0.017, 0.019] and all(type(v) is float for v in args[2][1])


def test_a_columns_one_hot_course_is_given_transposed_contiguous_arrays():
    case = C.regularised("relu")  # K=8, d=5, m=3
    args = dict(V.call_args(Assignment(inputs="columns", labels="one_hot", penalty="none"), case))
    assert list(args) == ["X", "y"]
    assert args["X"].shape == (5, 8) and np.array_equal(args["X"], case.X.T) and args["X"].flags.c_contiguous
    assert args["y"].shape == (3, 8) and args["y"].flags.c_contiguous
    assert np.array_equal(args["y"].argmax(axis=0), case.y) and args["y"].sum() == 8


def test_a_rows_one_hot_course_is_given_k_by_m_labels():
    case = C.regularised("relu")
    y = dict(V.call_args(Assignment(labels="one_hot"), case))["y"]
    assert y.shape == (8, 3) and np.array_equal(y.argmax(axis=1), case.y) and y.sum() == 8


def test_a_columns_int_course_is_given_int_labels_as_they_are():
    case = C.regularised("relu")
    y = dict(V.call_args(Assignment(inputs="columns"), case))["y"]
    assert np.array_equal(y, case.y) and y.shape == (8,)


def test_an_l2_method_is_given_reg_and_a_constructor_course_nothing():
    a = Assignment(penalty="l2", l2_factor=0.5)
    case = V.canonical_case(a, C.regularised("relu"))
    args = V.call_args(a, case)
    assert [name for name, _ in args] == ["X", "y", "reg"] and args[2][1] == pytest.approx(0.013, rel=1e-15)
    assert [name for name, _ in V.call_args(L2_CONSTRUCTOR, case)] == ["X", "y"]
    assert [name for name, _ in V.call_args(Assignment(penalty="none", penalty_in="method"), case)] == ["X", "y"]


# ----------------------------------------------------------------------------- reading answers back
def hand_grads(scale=1.0):
    """Some data gradients of the hand case, times ``scale`` (K for a summed course)."""
    return {"W1": scale * np.array([[0.1, 0.2], [0.3, 0.4]]), "b1": scale * np.array([0.5, 0.6]),
            "W2": scale * np.array([[0.7, 0.8]]), "b2": scale * np.array([0.9])}


def test_a_mean_answer_reads_back_unchanged():
    loss, grads = V.read_back(HOMEWORK, hand_case(), 1.25, hand_grads())
    assert loss == 1.25 and set(grads) == set(hand_grads())
    for name, g in hand_grads().items():
        np.testing.assert_array_equal(grads[name], g)


def test_a_summed_answer_reads_back_as_the_mean_with_the_penalty_once():
    """loss_sum = K·data + P reads back as data + P; ∂W likewise, ∂b as ∂b / K."""
    case, K, data = hand_case(K=4), 4, 1.25
    summed = {n: g + HAND_PENALTY_GRADS.get(n, 0.0) for n, g in hand_grads(scale=K).items()}
    for a, reduction in ((Assignment(reduction="sum"), None), (HOMEWORK, "sum")):
        loss, grads = V.read_back(a, case, K * data + HAND_PENALTY, summed, reduction=reduction)
        assert loss == pytest.approx(data + HAND_PENALTY, rel=1e-15)
        for name, g in hand_grads().items():
            np.testing.assert_allclose(grads[name], g + HAND_PENALTY_GRADS.get(name, 0.0), rtol=1e-14)


def test_the_reduction_asked_overrides_the_assignments():
    loss, grads = V.read_back(Assignment(reduction="sum"), hand_case(K=4), 2.0, hand_grads(), reduction="mean")
    assert loss == 2.0 and np.array_equal(grads["b1"], hand_grads()["b1"])


def test_a_sum_course_given_a_mean_reads_it_back_k_times_too_small():
    """A submission that returns the mean to a sum course is read back divided by K: the
    comparison then finds 1/K of the right gradients."""
    case, K = hand_case(lambdas=(0.0,) * 4, K=4), 4
    loss, grads = V.read_back(Assignment(reduction="sum"), case, 2.0, hand_grads())
    assert loss == 0.5
    for name, g in hand_grads().items():
        np.testing.assert_allclose(grads[name], g / K, rtol=1e-15)


def test_a_summed_transposed_gradient_is_only_divided_by_k():
    """A transposed W cannot have the penalty taken out (another shape): it is divided by K and
    left transposed for the comparison to flag."""
    case, K = hand_case(K=4), 4
    with pytest.raises(ValueError, match=r"^grads\['W1'\] has shape \(3, 2\), expected \(2, 2\)$"):
        V.read_back(Assignment(reduction="sum"), case, 1.0, hand_grads(scale=K) | {"W1": np.ones((3, 2))})
    W2 = np.array([[4.0], [8.0]])  # (2, 1): W2 (1, 2) transposed
    _, back = V.read_back(Assignment(reduction="sum"), case, 1.0, hand_grads(scale=K) | {"W2": W2})
    assert back["W2"].shape == (2, 1) and np.array_equal(back["W2"], W2 / K)


def test_a_summed_in_out_answer_is_transposed_then_averaged():
    case, K = hand_case(K=4), 4
    a = Assignment(reduction="sum", weights="in_out", biases="row")
    theirs = {n: (g + HAND_PENALTY_GRADS.get(n, 0.0)) for n, g in hand_grads(scale=K).items()}
    theirs = {n: g.T.copy() if n.startswith("W") else g.reshape(1, -1) for n, g in theirs.items()}
    _, grads = V.read_back(a, case, 1.0, theirs)
    for name, g in hand_grads().items():
        np.testing.assert_allclose(grads[name], g + HAND_PENALTY_GRADS.get(name, 0.0), rtol=1e-14)
        assert grads[name].shape == g.shape


def test_an_answer_with_an_unknown_or_misshapen_gradient_is_refused_by_name():
    with pytest.raises(ValueError, match=r"^grads has an unexpected key 'W3'$"):
        V.read_back(HOMEWORK, hand_case(), 1.0, hand_grads() | {"W3": np.zeros(2)})
    with pytest.raises(ValueError, match=r"^grads\['b1'\] has shape \(2, 1\), expected \(2,\)$"):
        V.read_back(HOMEWORK, hand_case(), 1.0, hand_grads() | {"b1": np.zeros((2, 1))})


# ----------------------------------------------------------------------------- the input words
@pytest.mark.parametrize("a, other, words", [
    (HOMEWORK, Assignment(inputs="columns", labels="one_hot"),
     "it takes X as (d, K) columns (5, 8) where the assignment gives (K, d) rows (8, 5); "
     "it takes y as one-hot labels (3, 8) where the assignment gives integer labels (8,)"),
    (Assignment(inputs="columns", labels="one_hot"), HOMEWORK,
     "it takes X as (K, d) rows (8, 5) where the assignment gives (d, K) columns (5, 8); "
     "it takes y as integer labels (8,) where the assignment gives one-hot labels"),
    (HOMEWORK, Assignment(labels="one_hot"),
     "it takes y as one-hot labels (8, 3) where the assignment gives integer labels (8,)"),
    (HOMEWORK, Assignment(inputs="columns"),
     "it takes X as (d, K) columns (5, 8) where the assignment gives (K, d) rows (8, 5)"),
    (HOMEWORK, HOMEWORK, ""),
])
def test_the_input_words_name_each_difference_with_its_shapes(a, other, words):
    assert V.input_words(a, other, C.regularised("relu")) == words
