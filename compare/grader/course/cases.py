"""The battery of cases ``compare.validate`` runs a student implementation through.

Every case is a full problem — sizes, activation, parameters, batch, labels, lambdas — drawn
from a seeded generator, so a run is reproducible and the validator, not the student's
initialisation, decides the parameter values. Each case is built to expose one family of bugs:

| case                     | what it catches                                                   |
| ------------------------ | ----------------------------------------------------------------- |
| one-example  (2-2-2, K=1) | the backprop formulas themselves (homework 3.2)                  |
| minibatch    (2-2-2, K=10)| combining examples: mean, accumulation, square W (transposes)    |
| regularised  (5-4-3, K=8) | the elastic-net penalty, term by term (distinct λ in each slot)  |
| zero-preactivation (relu) | rect'(0): integer X, W1, b1 make some h^a exactly 0.0            |
| large-logits ±1000        | softmax/log-softmax overflow (o^a ≈ ±1000, moderate gaps)        |
| mixed-scale logits        | one max over the whole batch: examples at ≈ +1000, ≈ 0, ≈ -1000  |
| mnist-width (784-32-10)   | MNIST-sized layers, sparse pixel-like inputs                     |
| large-batch (K=1024)      | a full-sized minibatch at MNIST width (code that is O(K²), hangs)|
| two-hidden   (4-5-3-3)    | more than one hidden layer (when the factory builds it)          |

Biases are non-zero everywhere (a regularised bias shows), every hidden pre-activation stays
within ±5 outside the relu-only integer case (so sigmoid/tanh/softplus derivatives are
well-conditioned and torch's softplus threshold of 20 never matters), and the λs are chosen
so that no two of them, or their doubles and halves, coincide: a wrong penalty term names
the λ it used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from compare.grader.course.words import HOMEWORK, CourseWords, render
from compare.lab.config import flat_lambdas, lambda_pair

ACTIVATIONS = ("relu", "tanh", "sigmoid", "softplus")  # relu first: it must be supported

# Distinct, with no ratio of 2, 4 or 1/2 between any two, so a coefficient names its λ.
LAMBDAS_1 = (0.011, 0.013, 0.017, 0.019)
LAMBDAS_2 = (0.011, 0.013, 0.017, 0.019, 0.023, 0.029)
LAMBDAS_MNIST = (0.0011, 0.0013, 0.0017, 0.0019)

# Tags: what a case exercises (diagnosis reads them).
BATCH = "batch"  # K > 1
REGULARISED = "regularised"  # some λ != 0
ZERO_PREACT = "zero-preactivation"  # some hidden pre-activations are exactly 0.0
LARGE_LOGITS = "large-logits"  # |o^a| ≈ 1000: a numerical stress case
MIXED_SCALES = "mixed-scales"  # examples' logits sit at very different scales (+1000, 0, -1000)
MNIST = "mnist-width"
TWO_HIDDEN = "two-hidden"


@dataclass(frozen=True)
class Case:
    """One problem to solve: the student's answer is compared with autograd's on it."""

    name: str  # "relu/minibatch"
    title: str | dict  # a phrase in the course's words (``words.render``): what the case exercises
    sizes: tuple
    activation: str
    X: np.ndarray
    y: np.ndarray
    lambdas: tuple
    params: dict = field(repr=False)
    tags: frozenset = frozenset()

    @property
    def K(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def regularised(self) -> bool:
        return any(self.lambdas)

    @property
    def stress(self) -> bool:
        """A numerical stress case: NaN/inf there is a diagnosable bug, not a broken contract."""
        return LARGE_LOGITS in self.tags

    def lambda_names(self) -> tuple:
        """("λ11", "λ12", "λ21", ...) in the order of ``lambdas``."""
        return flat_lambdas((f"λ{layer}1", f"λ{layer}2") for layer in range(1, self.n_layers + 1))

    def layer_lambdas(self, layer: int) -> tuple:
        """(λ_l1, λ_l2) of weight matrix ``layer`` (1 = W1)."""
        return lambda_pair(self.lambdas, layer)

    @cached_property
    def fingerprint(self) -> str:
        """What the case is, as a digest of its content (the name, sizes, activation, λs, tags and
        the bytes of X, y and every parameter): a stable key for what is computed from it."""
        digest = hashlib.sha256(repr((self.name, self.sizes, self.activation, tuple(map(float, self.lambdas)),
                                      sorted(self.tags))).encode())
        for name, value in (("X", self.X), ("y", self.y), *sorted(self.params.items())):
            value = np.ascontiguousarray(value)
            digest.update(f"{name}{value.dtype.str}{value.shape}".encode())
            digest.update(value.tobytes())
        return digest.hexdigest()

    def describe(self, words: CourseWords = HOMEWORK) -> str:
        """One line for the report, in the course's words: its title, sizes, K and penalty (the
        homework's λ list, or one ``reg``)."""
        if words.one_reg:
            penalty = f"reg {self.layer_lambdas(1)[1] / words.l2_factor if self.regularised else 0.0:g}"
        else:
            penalty = "lambdas " + (", ".join(f"{v:g}" for v in self.lambdas) if self.regularised else "0")
        return f"{self.name}: {render(self.title, [], words)} — sizes {self.sizes}, K={self.K}, {penalty}"

    def to_dict(self, words: CourseWords = HOMEWORK) -> dict:
        return {
            "name": self.name,
            "title": render(self.title, [], words),
            "sizes": list(self.sizes),
            "activation": self.activation,
            "K": self.K,
            "lambdas": list(self.lambdas),
            "tags": sorted(self.tags),
        }


def random_params(rng, sizes, weight_scale=1.0, bias_scale=0.5) -> dict:
    """W_l ~ U(±weight_scale/√fan_in) of shape (out, in), b_l ~ U(±bias_scale): all non-zero."""
    params = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        bound = weight_scale / np.sqrt(fan_in)
        params[f"W{layer}"] = rng.uniform(-bound, bound, size=(fan_out, fan_in))
        params[f"b{layer}"] = rng.uniform(-bias_scale, bias_scale, size=fan_out)
    return params


def labels(rng, K, m) -> np.ndarray:
    """K labels in [0, m) that use every class when K ≥ m (so an off-by-one label shows)."""
    y = np.arange(K) % m
    return rng.permutation(y).astype(np.int64)


def _case(name, title, sizes, activation, X, y, lambdas, params, tags) -> Case:
    for value in (X, y, *params.values()):
        value.setflags(write=False)  # a case is shared by everyone who reads it
    return Case(f"{activation}/{name}", title, tuple(sizes), activation, X, y, tuple(lambdas), params,
                frozenset(tags))


def _rng(seed, activation, index):
    return np.random.default_rng([seed, ACTIVATIONS.index(activation), index])


def one_example(activation, seed=0) -> Case:
    rng = _rng(seed, activation, 0)
    sizes = (2, 2, 2)
    return _case("one-example", "one example{hw:3.2}", sizes, activation,
                 rng.standard_normal((1, 2)), np.array([1]), (0.0,) * 4,
                 random_params(rng, sizes, weight_scale=1.5), set())


def minibatch(activation, seed=0) -> Case:
    rng = _rng(seed, activation, 1)
    sizes = (2, 2, 2)
    return _case("minibatch", "a minibatch of 10{hw:3.4}", sizes, activation,
                 rng.standard_normal((10, 2)), labels(rng, 10, 2), (0.0,) * 4,
                 random_params(rng, sizes, weight_scale=1.5), {BATCH})


def regularised(activation, seed=0) -> Case:
    rng = _rng(seed, activation, 2)
    sizes = (5, 4, 3)
    return _case("regularised", {"l2": "a minibatch with the L2 penalty",
                                    "elastic_net": "a minibatch with elastic net, a distinct λ in each slot"}, sizes, activation,
                 rng.standard_normal((8, 5)), labels(rng, 8, 3), LAMBDAS_1,
                 random_params(rng, sizes, weight_scale=1.5), {BATCH, REGULARISED})


def two_hidden(activation, seed=0) -> Case:
    rng = _rng(seed, activation, 3)
    sizes = (4, 5, 3, 3)
    return _case("two-hidden", {"l2": "two hidden layers, the L2 penalty on all three W",
                                   "elastic_net": "two hidden layers, elastic net on all three"}, sizes, activation,
                 rng.standard_normal((7, 4)), labels(rng, 7, 3), LAMBDAS_2,
                 random_params(rng, sizes, weight_scale=1.5), {BATCH, REGULARISED, TWO_HIDDEN})


def zero_preactivation(activation="relu", seed=0) -> Case:
    """Integer X, W1 and b1 (and an all-zero row of X) make many h^a exactly 0.0.

    Small integers are exact in float64 and so are their sums, whatever the order: the
    student's h^a and torch's are the same exact zeros, and only the convention rect'(0)
    decides the gradient there.
    """
    rng = _rng(seed, activation, 4)
    sizes = (4, 6, 3)
    K = 6
    for _ in range(1000):
        X = rng.integers(-2, 3, size=(K, 4)).astype(np.float64)
        X[0] = 0.0  # h^a = b1 for this row: exact zeros wherever b1 is 0
        W1 = rng.integers(-2, 3, size=(6, 4)).astype(np.float64)
        b1 = rng.integers(-1, 2, size=6).astype(np.float64)
        pre = X @ W1.T + b1
        zeros_per_unit = (pre == 0).sum(axis=0)
        # Enough zeros, in several units, and every unit active somewhere.
        if (pre == 0).sum() >= 6 and (zeros_per_unit > 0).sum() >= 3 and np.all((pre > 0).any(axis=0)):
            break
    params = random_params(rng, sizes)
    params["W1"], params["b1"] = W1, b1
    return _case("zero-preactivation", "integer X, W1, b1: some {ha} are exactly 0.0 ({rect}'(0) = 0)",
                 sizes, activation, X, labels(rng, K, 3), (0.0,) * 4, params, {BATCH, ZERO_PREACT})


def large_logits(activation="relu", sign=+1, seed=0) -> Case:
    """o^a ≈ ±1000 with gaps of a few units: exp(o^a) overflows (or underflows to 0) unless the
    max is subtracted first, while the loss and gradients themselves stay moderate."""
    rng = _rng(seed, activation, 5 if sign > 0 else 6)
    sizes = (3, 4, 3)
    params = random_params(rng, sizes, weight_scale=1.5)
    params["b2"] = sign * 1000.0 + rng.uniform(-2, 2, size=3)
    which = "large-logits" if sign > 0 else "large-negative-logits"
    return _case(which, f"logits {{oa}} ≈ {sign * 1000:+d} (softmax must subtract the max)", sizes, activation,
                 rng.standard_normal((5, 3)), labels(rng, 5, 3), (0.0,) * 4, params, {BATCH, LARGE_LOGITS})


_FUNCTIONS = {"relu": lambda x: np.maximum(x, 0.0), "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
              "softplus": lambda x: np.log1p(np.exp(x))}


def _unit_shift(activation) -> float:
    """What each "plus" or "minus" hidden unit adds to every logit in ``mixed_scales``: with
    h^a = ±4 at its switched-on units, an example's logits move by ±1000 (1000/12 for relu and
    softplus, whose act(4) − act(−4) = 4; about 167 for tanh, 346 for sigmoid)."""
    act = _FUNCTIONS[activation]
    return 1000.0 / (3 * (float(act(4.0)) - float(act(-4.0))))


def mixed_scales(activation="relu", seed=0) -> Case:
    """Each example's logits sit at its own scale — ≈ +1000, ≈ 0 or ≈ -1000 — with gaps of a few
    units inside each example. A softmax that subtracts each example's own max is exact; one that
    subtracts ONE max over the whole batch sends the lower examples to exp(-1000) = 0 (0/0, log 0).

    The scale comes from the hidden layer, not from b2: input 0 is +1, 0 or -1 and switches on
    three "plus" or three "minus" hidden units (h^a ≈ ±4, within ±5 like every case); every row of
    W2 adds the same amount per unit (``_unit_shift``: 1000/12 for relu), which moves all logits of
    an example together by about ±1000, whatever the activation. The common
    part cancels in backprop (Σ_k ∂L/∂o^a_k = 0), so the gradients stay moderate.
    """
    rng = _rng(seed, activation, 9)
    sizes = (3, 8, 5)
    K = 6
    scale = np.array([1.0, 1.0, 0.0, 0.0, -1.0, -1.0])
    for _ in range(1000):
        X = np.column_stack([scale, rng.standard_normal((K, 2))])
        params = random_params(rng, sizes, weight_scale=1.0, bias_scale=0.5)
        W1, b1 = params["W1"], params["b1"]
        W1[:6, 0] = [4.0, 4.0, 4.0, -4.0, -4.0, -4.0]  # units 0-2 "plus", 3-5 "minus"
        W1[:6, 1:] = rng.uniform(-0.05, 0.05, size=(6, 2))
        b1[:6] = rng.choice([-1, 1], size=6) * rng.uniform(0.05, 0.15, size=6)
        params["W2"] = params["W2"] + _unit_shift(activation) * np.array([1, 1, 1, -1, -1, -1, 0, 0])
        pre = X @ W1.T + b1
        if np.abs(pre).max() < 4.5:
            break
    return _case("mixed-scales", "examples' logits at +1000, 0 and -1000 (softmax must subtract each "
                 "example's own max)", sizes, activation, X, labels(rng, K, 5), (0.0,) * 4, params,
                 {BATCH, LARGE_LOGITS, MIXED_SCALES})


def mnist_width(activation="relu", seed=0) -> Case:
    """784-32-10 on sparse pixel-like inputs in [0, 1], as MNIST feeds the network."""
    rng = _rng(seed, activation, 7)
    sizes = (784, 32, 10)
    K = 16
    X = rng.uniform(0, 1, size=(K, 784)) * (rng.uniform(size=(K, 784)) < 0.3)
    params = random_params(rng, sizes, weight_scale=3.0)
    return _case("mnist-width", "MNIST-sized 784-32-10 on sparse pixels in [0, 1]", sizes, activation, X,
                 labels(rng, K, 10), LAMBDAS_MNIST, params, {BATCH, REGULARISED, MNIST})


def large_batch(activation="relu", seed=0) -> Case:
    """A full-sized minibatch, K=1024 at MNIST width: the validator's largest input."""
    rng = _rng(seed, activation, 8)
    sizes = (784, 32, 10)
    K = 1024
    X = rng.uniform(0, 1, size=(K, 784)) * (rng.uniform(size=(K, 784)) < 0.3)
    return _case("large-batch", "a large minibatch: 1024 examples of 784-32-10", sizes, activation, X,
                 labels(rng, K, 10), (0.0,) * 4, random_params(rng, sizes, weight_scale=3.0), {BATCH, MNIST})


def battery(activation, seed=0, two_hidden_layers=True) -> list:
    """The cases for one activation, smallest first: every activation gets the stability cases,
    the MNIST width and the large batch (its own code may differ: a tanh-only network's softmax is
    as likely to overflow); relu also gets the exact zeros of rect'(0)."""
    cases = [one_example(activation, seed), minibatch(activation, seed), regularised(activation, seed)]
    if activation == "relu":
        cases.append(zero_preactivation(activation, seed))
    cases += [large_logits(activation, +1, seed), large_logits(activation, -1, seed), mixed_scales(activation, seed),
              mnist_width(activation, seed), large_batch(activation, seed)]
    if two_hidden_layers:
        cases.append(two_hidden(activation, seed))
    return cases
