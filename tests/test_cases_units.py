"""The battery's cases (``compare.grader.course.cases``): each case is the problem its docstring
promises (sizes, K, λs, tags, the bug family it exposes: exact zeros, logits at ±1000, one scale
per example, MNIST width), drawn the same from one version to the next, read-only, and known by
its content; and a case says itself in each course's words."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import replace

import numpy as np
import pytest

from compare.grader.course import cases as C
from compare.grader.course.words import HOMEWORK, CourseWords

ACTS = ("relu", "tanh", "sigmoid", "softplus")


def SIGMOID(x):
    return 1 / (1 + np.exp(-x))


FUNCTIONS = {"relu": lambda x: np.where(x > 0, x, 0.0), "tanh": np.tanh, "sigmoid": SIGMOID,
             "softplus": lambda x: np.logaddexp(x, 0.0)}


def pre_activations(case) -> np.ndarray:
    return case.X @ case.params["W1"].T + case.params["b1"]


def logits(case) -> np.ndarray:
    act = FUNCTIONS[case.activation]
    z = pre_activations(case)
    for layer in range(2, case.n_layers + 1):
        z = act(z) @ case.params[f"W{layer}"].T + case.params[f"b{layer}"]
    return z


def content(case) -> str:
    """A digest of everything a case is (its own, not ``Case.fingerprint``): the golden table below."""
    words = (HOMEWORK, CourseWords(penalty="l2", homework=False))
    digest = hashlib.sha256(repr((case.name, [case.describe(w) for w in words], case.sizes, case.activation,
                                  [float(v) for v in case.lambdas], sorted(case.tags))).encode())
    for name, value in (("X", case.X), ("y", case.y), *sorted(case.params.items())):
        digest.update(f"{name}{value.dtype.str}{value.shape}".encode() + np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------- the battery
RELU_NAMES = ["one-example", "minibatch", "regularised", "zero-preactivation", "large-logits", "large-negative-logits",
              "mixed-scales", "mnist-width", "large-batch", "two-hidden"]


def test_the_activations_relu_first():
    assert C.ACTIVATIONS == ACTS


@pytest.mark.parametrize("activation", ACTS)
def test_each_activations_battery_smallest_first(activation):
    names = [c.name for c in C.battery(activation)]
    expected = [n for n in RELU_NAMES if activation == "relu" or n != "zero-preactivation"]
    assert names == [f"{activation}/{n}" for n in expected]
    assert all(c.activation == activation for c in C.battery(activation))
    assert [c.name for c in C.battery(activation, two_hidden_layers=False)] == names[:-1]


MAKERS = {"one-example": C.one_example, "minibatch": C.minibatch, "regularised": C.regularised,
          "zero-preactivation": C.zero_preactivation, "large-logits": lambda a, seed: C.large_logits(a, +1, seed),
          "large-negative-logits": lambda a, seed: C.large_logits(a, -1, seed), "mixed-scales": C.mixed_scales,
          "mnist-width": C.mnist_width, "large-batch": C.large_batch, "two-hidden": C.two_hidden}


@pytest.mark.parametrize("seed", [1, 2])
def test_the_seed_reaches_every_case(seed):
    zero, other = C.battery("relu", seed=0), C.battery("relu", seed=seed)
    for a, b in zip(zero, other, strict=True):
        assert a.name == b.name and not np.array_equal(a.X, b.X), a.name
        assert b.fingerprint == MAKERS[b.name.split("/")[1]]("relu", seed=seed).fingerprint, b.name


def test_the_same_seed_draws_the_same_cases_and_each_activation_its_own():
    again = C.battery("tanh")
    for a, b in zip(C.battery("tanh"), again, strict=True):
        assert a.fingerprint == b.fingerprint
    for a, b in itertools.combinations(ACTS, 2):
        assert not np.array_equal(C.minibatch(a).X, C.minibatch(b).X)


# The content of every case at seed 0. A change here changes what every student is graded on: the
# references, the points' case names, the reports. NumPy keeps Generator streams from version to
# version in practice; if one day it does not (NEP 19), regenerate this table and say so.
GOLDEN = {
    "relu/one-example": "b457855c2a473b04", "relu/minibatch": "45ebb4f8e2778dcc",
    "relu/regularised": "e172351eae112c34", "relu/zero-preactivation": "2bda587c66662843",
    "relu/large-logits": "d528b5dfded3badb", "relu/large-negative-logits": "53525307a68a5e93",
    "relu/mixed-scales": "66904831495948ce", "relu/mnist-width": "2e5edc2a20853784",
    "relu/large-batch": "cfce8899d38a20c2", "relu/two-hidden": "dc97f4e8e37fdf2e",
    "tanh/one-example": "752c7d73ed192e25", "tanh/minibatch": "30e941be996811d9",
    "tanh/regularised": "f6d1fed269867dd4", "tanh/large-logits": "686976d495b1c4b5",
    "tanh/large-negative-logits": "753343bf836e0719", "tanh/mixed-scales": "264603174770f091",
    "tanh/mnist-width": "4beab4cb8da5bb92", "tanh/large-batch": "474d5bdc4eb93a13",
    "tanh/two-hidden": "79dbc4ce50cebbc9",
    "sigmoid/one-example": "cd83a7c3336fe9db", "sigmoid/minibatch": "74b883d25e989e91",
    "sigmoid/regularised": "694a98491f98eb35", "sigmoid/large-logits": "dbb19236e1970ecf",
    "sigmoid/large-negative-logits": "e8d1a0421ca29e27", "sigmoid/mixed-scales": "5265e076b3228fc9",
    "sigmoid/mnist-width": "d27ade6a28480c29", "sigmoid/large-batch": "ac6022a16d117cbb",
    "sigmoid/two-hidden": "7afcf81da09ee83e",
    "softplus/one-example": "bed17d32f6ed348b", "softplus/minibatch": "e6f420143daeed04",
    "softplus/regularised": "13bf533efdc1d1e9", "softplus/large-logits": "3aee1ff541f88cf3",
    "softplus/large-negative-logits": "61d9531da50fdd1c", "softplus/mixed-scales": "bbccb675bf088ee9",
    "softplus/mnist-width": "ac0f5e84e0c63eb2", "softplus/large-batch": "842356dece6b0f1c",
    "softplus/two-hidden": "662a32e2e367cc24",
}


def test_the_zero_preactivation_case_is_drawn_the_same_for_every_seed():
    """Its integers are drawn until a draw has the zeros it needs: the first such draw, every seed."""
    drawn = hashlib.sha256("".join(content(C.zero_preactivation("relu", seed)) for seed in range(30)).encode())
    assert drawn.hexdigest()[:16] == "74d182e77ee1bfbe"


@pytest.mark.parametrize("activation", ACTS)
def test_the_battery_is_drawn_the_same_from_one_version_to_the_next(activation):
    drawn = {case.name: content(case) for case in C.battery(activation)}
    assert drawn == {name: value for name, value in GOLDEN.items() if name.startswith(f"{activation}/")}


# ----------------------------------------------------------------------------- each case is what it says
@pytest.mark.parametrize("make, sizes, K, lambdas, tags", [
    (C.one_example, (2, 2, 2), 1, (0.0,) * 4, set()),
    (C.minibatch, (2, 2, 2), 10, (0.0,) * 4, {C.BATCH}),
    (C.regularised, (5, 4, 3), 8, C.LAMBDAS_1, {C.BATCH, C.REGULARISED}),
    (C.two_hidden, (4, 5, 3, 3), 7, C.LAMBDAS_2, {C.BATCH, C.REGULARISED, C.TWO_HIDDEN}),
    (C.zero_preactivation, (4, 6, 3), 6, (0.0,) * 4, {C.BATCH, C.ZERO_PREACT}),
    (C.large_logits, (3, 4, 3), 5, (0.0,) * 4, {C.BATCH, C.LARGE_LOGITS}),
    (C.mixed_scales, (3, 8, 5), 6, (0.0,) * 4, {C.BATCH, C.LARGE_LOGITS, C.MIXED_SCALES}),
    (C.mnist_width, (784, 32, 10), 16, C.LAMBDAS_MNIST, {C.BATCH, C.REGULARISED, C.MNIST}),
    (C.large_batch, (784, 32, 10), 1024, (0.0,) * 4, {C.BATCH, C.MNIST}),
])
def test_each_cases_sizes_batch_lambdas_and_tags(make, sizes, K, lambdas, tags):
    case = make("relu")
    assert (case.sizes, case.K, case.lambdas, case.tags) == (sizes, K, lambdas, frozenset(tags))
    assert case.X.shape == (K, sizes[0]) and case.y.shape == (K,) and case.y.dtype == np.int64
    assert case.n_layers == len(sizes) - 1 and case.regularised is any(lambdas)
    assert case.stress is (C.LARGE_LOGITS in tags)
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        assert case.params[f"W{layer}"].shape == (fan_out, fan_in) and case.params[f"b{layer}"].shape == (fan_out,)
    assert set(case.params) == {f"{p}{layer}" for layer in range(1, len(sizes)) for p in "Wb"}
    assert np.all(case.y >= 0) and np.all(case.y < sizes[-1])
    if K >= sizes[-1]:
        assert np.array_equal(np.bincount(case.y, minlength=sizes[-1]),
                              [K // sizes[-1] + (c < K % sizes[-1]) for c in range(sizes[-1])])


def test_the_one_example_is_labelled_1():
    assert C.one_example("relu").y.tolist() == [1] and C.one_example("tanh").y.tolist() == [1]


def test_the_lambdas_name_the_slot_they_sit_in():
    """No two λs, nor one and the double, half or quadruple of another, are equal."""
    for lambdas in (C.LAMBDAS_1, C.LAMBDAS_2, C.LAMBDAS_MNIST):
        for a, b in itertools.permutations(lambdas, 2):
            assert all(abs(a - f * b) > 1e-12 for f in (1, 2, 4, 0.5))
    assert C.LAMBDAS_1 == (0.011, 0.013, 0.017, 0.019) and C.LAMBDAS_2 == C.LAMBDAS_1 + (0.023, 0.029)
    assert C.LAMBDAS_MNIST == (0.0011, 0.0013, 0.0017, 0.0019)


@pytest.mark.parametrize("activation", ACTS)
def test_every_case_has_non_zero_biases_and_moderate_hidden_pre_activations(activation):
    for case in C.battery(activation):
        for layer in range(1, case.n_layers + 1):
            assert np.all(case.params[f"W{layer}"] != 0) or case.name.endswith("zero-preactivation")
        if case.name.endswith("zero-preactivation"):
            continue
        assert all(np.all(case.params[f"b{layer}"] != 0) for layer in range(1, case.n_layers + 1)), case.name
        assert np.abs(pre_activations(case)).max() < 5, case.name


@pytest.mark.parametrize("make, weight_scale", [
    (C.one_example, 1.5), (C.minibatch, 1.5), (C.regularised, 1.5), (C.two_hidden, 1.5), (C.large_logits, 1.5),
    (C.mnist_width, 3.0), (C.large_batch, 3.0),
])
def test_each_cases_weights_within_their_scale(make, weight_scale):
    case = make("relu")
    for layer in range(1, case.n_layers + 1):
        W = case.params[f"W{layer}"]
        assert np.abs(W).max() <= weight_scale / np.sqrt(W.shape[1])
    biases = np.concatenate([case.params[f"b{layer}"] for layer in range(1, case.n_layers + 1)])
    biases = biases[np.abs(biases) < 500]  # large-logits' b2 apart
    assert np.abs(biases).max() <= 0.5


def test_random_params_fill_their_bounds():
    rng = np.random.default_rng(0)
    params = C.random_params(rng, (100, 50, 40), weight_scale=2.0, bias_scale=0.25)
    assert params["W1"].shape == (50, 100) and params["b2"].shape == (40,)
    for name, bound in (("W1", 0.2), ("W2", 2.0 / np.sqrt(50)), ("b1", 0.25), ("b2", 0.25)):
        value = params[name]
        assert np.abs(value).max() <= bound and np.abs(value).max() > 0.9 * bound, name
        assert value.min() < 0 < value.max()
    defaults = C.random_params(np.random.default_rng(0), (400, 300))
    assert 0.95 * 0.05 < np.abs(defaults["W1"]).max() <= 0.05 and 0.45 < np.abs(defaults["b1"]).max() <= 0.5


def test_labels_use_every_class_in_a_random_order():
    y = C.labels(np.random.default_rng(0), 30, 3)
    assert y.dtype == np.int64 and np.array_equal(np.bincount(y), [10, 10, 10])
    assert not np.array_equal(y, np.sort(y)) and not np.array_equal(y, np.arange(30) % 3)


# relu's 30 seeds, and seeds whose first draw with 6 zeros has them in only 2 units (drawn again)
@pytest.mark.parametrize("activation, seed", [("relu", seed) for seed in range(30)] + [
    ("tanh", 15), ("tanh", 96), ("sigmoid", 118), ("softplus", 92)])
def test_zero_preactivation_has_exact_zeros_in_several_units_and_every_unit_active(activation, seed):
    case = C.zero_preactivation(activation, seed)
    X, W1, b1 = case.X, case.params["W1"], case.params["b1"]
    for value, low, high in ((X, -2, 2), (W1, -2, 2), (b1, -1, 1)):
        assert np.array_equal(value, np.round(value)) and value.min() >= low and value.max() <= high
    assert not X[0].any()
    pre = pre_activations(case)
    assert (pre == 0).sum() >= 6 and ((pre == 0).sum(axis=0) > 0).sum() >= 3 and np.all((pre > 0).any(axis=0))
    assert not np.array_equal(case.params["W2"], np.round(case.params["W2"]))  # W2, b2 drawn as usual


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("sign", [+1, -1])
def test_large_logits_sit_at_plus_or_minus_1000_with_gaps_of_a_few_units(activation, sign):
    case = C.large_logits(activation, sign)
    o = logits(case)
    assert np.abs(o - sign * 1000).max() < 5
    assert np.ptp(o, axis=1).max() < 6 and np.ptp(o, axis=1).min() > 0.1
    b2 = case.params["b2"]
    assert np.abs(b2 - sign * 1000).max() <= 2 and np.ptp(b2) > 0.5
    assert case.name == f"{activation}/{'large-logits' if sign > 0 else 'large-negative-logits'}"


@pytest.mark.parametrize("activation", ACTS)
def test_mixed_scales_put_each_example_at_its_own_scale(activation):
    case = C.mixed_scales(activation)
    o = logits(case)
    own_max = o.max(axis=1)
    assert np.all(np.abs(own_max[:2] - 1000) < 30) and np.all(np.abs(own_max[2:4]) < 40)
    assert np.all(np.abs(own_max[4:] + 1000) < 35)
    assert np.ptp(o - own_max[:, None], axis=1).max() < 30  # gaps of a few units inside each example
    assert np.array_equal(case.X[:, 0], [1, 1, 0, 0, -1, -1]) and np.abs(case.X[:, 1:]).max() < 5
    pre = pre_activations(case)
    assert np.abs(pre).max() < 4.5
    W1 = case.params["W1"]
    assert np.array_equal(W1[:6, 0], [4, 4, 4, -4, -4, -4]) and np.abs(W1[:6, 1:]).max() <= 0.05
    assert np.all((np.abs(case.params["b1"][:6]) >= 0.05) & (np.abs(case.params["b1"][:6]) <= 0.15))


class FirstDrawLarge:
    """A generator whose first standard normal draw is 10 times too wide."""

    def __init__(self, rng):
        self.rng, self.normal_draws = rng, 0

    def standard_normal(self, size):
        self.normal_draws += 1
        return self.rng.standard_normal(size) * (10 if self.normal_draws == 1 else 1)

    def __getattr__(self, name):
        return getattr(self.rng, name)


def test_mixed_scales_draws_again_while_a_hidden_pre_activation_leaves_4_5(monkeypatch):
    made = []
    monkeypatch.setattr(C, "_rng", lambda seed, activation, index: made.append(
        FirstDrawLarge(np.random.default_rng([seed, ACTS.index(activation), index]))) or made[-1])
    case = C.mixed_scales("relu")
    assert made[0].normal_draws == 2 and np.abs(pre_activations(case)).max() < 4.5


@pytest.mark.parametrize("activation, shift", [("relu", 1000 / 12), ("softplus", 1000 / 12),
                                               ("tanh", 1000 / (6 * np.tanh(4))),
                                               ("sigmoid", 1000 / (3 * (SIGMOID(4.0) - SIGMOID(-4.0))))])
def test_the_unit_shift_moves_an_examples_logits_by_1000(activation, shift):
    assert C._unit_shift(activation) == pytest.approx(shift, rel=1e-12)


def test_the_mnist_cases_are_sparse_pixels_in_0_1():
    for case in (C.mnist_width("relu"), C.large_batch("tanh")):
        X = case.X
        assert X.min() == 0.0 and X.max() <= 1.0 and X.max() > 0.99
        assert 0.25 < (X > 0).mean() < 0.35
        assert len(np.unique(case.y)) == 10


# ----------------------------------------------------------------------------- a case as data
def test_a_cases_arrays_are_read_only():
    case = C.regularised("relu")
    for value in (case.X, case.y, *case.params.values()):
        with pytest.raises(ValueError, match="read-only"):
            value[0] = 1


def test_lambda_names_and_layer_lambdas():
    case = C.two_hidden("relu")
    assert case.lambda_names() == ("λ11", "λ12", "λ21", "λ22", "λ31", "λ32")
    assert [case.layer_lambdas(layer) for layer in (1, 2, 3)] == [(0.011, 0.013), (0.017, 0.019), (0.023, 0.029)]
    assert C.one_example("relu").lambda_names() == ("λ11", "λ12", "λ21", "λ22")


def test_a_fingerprint_is_the_cases_content():
    case = C.regularised("relu")
    assert case.fingerprint == C.regularised("relu").fingerprint and len(case.fingerprint) == 64
    X = np.array(case.X)
    changed = [
        replace(case, name="relu/other"), replace(case, sizes=(5, 4, 4)), replace(case, activation="tanh"),
        replace(case, lambdas=C.LAMBDAS_1[::-1]), replace(case, tags=case.tags | {C.MNIST}),
        replace(case, X=X + np.eye(*X.shape)), replace(case, y=(case.y + 1) % 3),
        replace(case, X=X.reshape(5, 8)), replace(case, X=X.astype(np.float32).astype(np.float64) + 0 * X),
        replace(case, params=case.params | {"b2": case.params["b2"] + 1}),
        replace(case, params=case.params | {"b2": case.params["b2"].astype(np.float32)}),
        replace(case, params={("V" if n == "W1" else n): v for n, v in case.params.items()}),
    ]
    prints = [c.fingerprint for c in changed]
    assert case.fingerprint not in prints and len(set(prints)) == len(prints)
    assert replace(case, title="another title").fingerprint == case.fingerprint  # what it is, not what it is called
    assert replace(case, X=np.asfortranarray(X)).fingerprint == case.fingerprint  # the values, whatever the memory order


def test_a_case_describes_itself_in_each_courses_words():
    case = C.regularised("relu")
    assert case.describe() == ("relu/regularised: a minibatch with elastic net, a distinct λ in each slot — "
                               "sizes (5, 4, 3), K=8, lambdas 0.011, 0.013, 0.017, 0.019")
    assert case.describe(CourseWords(penalty="l2", l2_factor=0.5)) == (
        "relu/regularised: a minibatch with the L2 penalty — sizes (5, 4, 3), K=8, reg 0.026")
    assert C.one_example("tanh").describe() == ("tanh/one-example: one example (homework 3.2) — sizes (2, 2, 2), "
                                                "K=1, lambdas 0")
    assert C.one_example("tanh").describe(CourseWords(penalty="l2", homework=False)) == (
        "tanh/one-example: one example — sizes (2, 2, 2), K=1, reg 0")


def test_a_case_as_json():
    case = C.zero_preactivation("relu")
    assert case.to_dict() == {"name": "relu/zero-preactivation",
                              "title": "integer X, W1, b1: some h^a are exactly 0.0 (rect'(0) = 0)",
                              "sizes": [4, 6, 3], "activation": "relu", "K": 6, "lambdas": [0.0] * 4,
                              "tags": ["batch", "zero-preactivation"]}
    words = CourseWords(penalty="l2", homework=False)
    assert C.two_hidden("relu").to_dict(words)["title"] == "two hidden layers, the L2 penalty on all three W"
    assert C.large_logits("relu", -1).to_dict(words)["title"] == "logits scores ≈ -1000 (softmax must subtract the max)"
    assert C.mnist_width("relu").to_dict()["lambdas"] == [0.0011, 0.0013, 0.0017, 0.0019]


@pytest.mark.parametrize("make, title", [
    (C.minibatch, "a minibatch of 10 (homework 3.4)"),
    (C.two_hidden, "two hidden layers, elastic net on all three"),
    (C.large_logits, "logits o^a ≈ +1000 (softmax must subtract the max)"),
    (C.mixed_scales, "examples' logits at +1000, 0 and -1000 (softmax must subtract each example's own max)"),
    (C.mnist_width, "MNIST-sized 784-32-10 on sparse pixels in [0, 1]"),
    (C.large_batch, "a large minibatch: 1024 examples of 784-32-10"),
])
def test_each_cases_title_under_the_homework(make, title):
    assert make("relu").to_dict()["title"] == title


def test_a_case_is_frozen_and_its_repr_leaves_the_parameters_out():
    case = C.minibatch("relu")
    with pytest.raises(AttributeError):
        case.K = 3
    with pytest.raises(AttributeError):
        case.lambdas = C.LAMBDAS_1
    assert repr(case).startswith("Case(name='relu/minibatch', title='a minibatch of 10{hw:3.4}', sizes=(2, 2, 2)")
    assert "params" not in repr(case) and "W1" not in repr(case)
    assert repr(case).endswith("tags=frozenset({'batch'}))")


def test_regularised_is_any_lambda_not_every_one():
    case = C.regularised("relu")
    assert replace(case, lambdas=(0.0, 0.013, 0.0, 0.013)).regularised is True  # an L2 course's canonical case
    assert replace(case, lambdas=(0.0, 0.0, 0.0, 0.0)).regularised is False


@pytest.mark.parametrize("name", RELU_NAMES)
def test_each_case_is_drawn_with_seed_0_unless_told(name):
    make = {"large-logits": C.large_logits, "large-negative-logits": lambda a: C.large_logits(a, -1)}.get(
        name, MAKERS[name])
    (expected,) = [c for c in C.battery("relu", seed=0) if c.name == f"relu/{name}"]
    assert make("relu").fingerprint == expected.fingerprint
