"""Name the likely bug behind a failed comparison, from the numbers alone.

The diagnosis is a list of small detectors, each asking one question of one failing case:

- **parameter detectors** look at one gradient (the student's array ``s`` beside autograd's
  ``r``) and return a ``Finding`` when ``s`` is exactly what a known bug produces: ``-r``;
  ``K·data + penalty``; the right backprop plus ``c·sign(W) + c'·W`` for some wrong ``c, c'``;
  or the gradient autograd computes for a deliberately broken network (``Hypothesis``:
  rect'(0) = 1, σ' written from x, labels shifted by one, only the last example, ...);
- **case detectors** look at the loss and at which layers fail (loss right but layer 1 wrong,
  loss wrong but gradients right, the loss value that a known bug produces);
- **pattern detectors** look at which *cases* fail (only at large logits, only where some
  pre-activation is exactly 0, only when λ ≠ 0, only for K > 1, only for one activation).

"Exactly" is the float64 tolerance of ``compare.lab.diff`` — a hypothesis matches when the
student's numbers agree with it to rounding, so a finding is evidence, not a guess. Detectors
run in order of specificity and the first parameter detector that matches wins. ``diagnose``
aggregates the findings of a run, most specific first.

Every alternative gradient here comes from autograd on an altered network or loss; the only
arrays built by hand are the bases ``sign(W)`` and ``W`` that a penalty gradient is made of.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
from torch.nn import functional as F

from compare.grader.course import cases as C
from compare.grader.diagnosis.words import HOMEWORK, CourseWords, factor_name, render
from compare.lab.diff import TOLERANCES, compare_arrays
from reference import TorchMLP, autograd_loss_and_grads

TOL = TOLERANCES["float64"]


def matches(actual, expected) -> bool:
    """The student's numbers are ``expected`` up to float64 rounding (and are finite)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape or not np.all(np.isfinite(expected)):
        return False
    return compare_arrays(actual, expected, TOL).passed


def _close(value: float, target: float, scale: float | None = None) -> bool:
    """Equal to 6 digits, relative to ``scale`` (default: the target itself)."""
    scale = abs(target) if scale is None else abs(scale)
    return abs(value - target) <= 1e-6 * max(scale, 1e-12)


EXACT, PATTERN, HINT = "exact", "pattern", "hint"  # how sure a finding is


@dataclass
class Finding:
    """One likely cause, as data. ``key`` names the cause (stable: the class summary groups by it).

    ``phrase`` is its wording with named slots (``diagnosis.words``); ``numbers`` holds the
    values behind it, one record per place it was seen ({"where", "case", "K", "factor",
    "shifts", "rel", ...}); ``certainty`` says how sure it is: "exact" (the student's numbers
    are what the bug produces, to rounding), "pattern" (which cases fail), "hint" (which
    parameters fail). ``follow_ons`` are the findings this one explains (an all-zero gradient
    that the bug predicts). ``message`` is the finding told in ``words``, the course's.
    """

    key: str
    phrase: str | dict
    rank: int = 0  # lower is more specific; set from the detector's position
    where: list = field(default_factory=list)  # "case:param" (or "case" for case detectors)
    numbers: list = field(default_factory=list, repr=False)
    certainty: str = EXACT
    follow_ons: list = field(default_factory=list, repr=False)
    hypothesis: object = field(default=None, repr=False, compare=False)  # the Hypothesis it matched, if one
    words: CourseWords = field(default=HOMEWORK, repr=False)

    @property
    def message(self) -> str:
        return self.told(self.words)

    def told(self, words: CourseWords) -> str:
        """The finding in ``words``; the follow-on findings it explains named after it."""
        text = render(self.phrase, self.numbers, words)
        by_key: dict = {}
        for follow_on in self.follow_ons:
            by_key.setdefault(follow_on.key, []).append(follow_on)
        for same in by_key.values():
            where = [w for f in same for w in f.where]
            shown = ", ".join(where[:4]) + (f" (+{len(where) - 4} more)" if len(where) > 4 else "")
            text += f"; {'this also explains' if same is next(iter(by_key.values())) else 'and'}: " \
                    f"{same[0].told(words)} ({shown})"
        return text

    def to_dict(self) -> dict:
        return {"key": self.key, "message": self.message, "where": list(self.where), "certainty": self.certainty,
                "numbers": [dict(r) for r in self.numbers], "follow_ons": [f.to_dict() for f in self.follow_ons]}


# ----------------------------------------------------------------------------- the reference
def _with_K(key: str, phrase, case: C.Case, **numbers) -> Finding:
    """A finding whose phrase may name this case's batch size K ("{K}")."""
    return Finding(key, phrase, numbers=[{"case": case.name, "K": case.K, **numbers}])


def reference_model(case: C.Case, activation=None, params=None) -> TorchMLP:
    """reference.TorchMLP in float64 holding the case's parameters (or ``params``)."""
    model = TorchMLP(case.sizes, activation or case.activation, dtype=torch.float64)
    return model.load_params(case.params if params is None else params)


def reference_loss_and_grads(case: C.Case, with_penalty: bool = True):
    """Autograd on the reference, the case's own parameters; the NLL alone if not ``with_penalty``."""
    lambdas = case.lambdas if with_penalty else None
    return autograd_loss_and_grads(reference_model(case), np.array(case.X), np.array(case.y), lambdas)


# ----------------------------------------------------------------------------- autograd of altered nets
class _WithDerivative(torch.autograd.Function):
    """``fn(x)`` forward, but ``grad · dfn(x)`` backward: an activation with a chosen derivative."""

    @staticmethod
    def forward(ctx, x, fn, dfn):
        ctx.save_for_backward(x)
        ctx.dfn = dfn
        return fn(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ctx.dfn(x), None, None


class _LinearUntransposedBackward(torch.autograd.Function):
    """``h Wᵀ + b`` forward, but backprop to ``h`` through W instead of Wᵀ (needs W square)."""

    @staticmethod
    def forward(ctx, h, weight, bias):
        ctx.save_for_backward(h, weight)
        return h @ weight.T + bias

    @staticmethod
    def backward(ctx, grad):
        h, weight = ctx.saved_tensors
        return grad @ weight.T, grad.T @ h, grad.sum(0)


def altered_loss_and_grads(case: C.Case, *, activation=None, derivative=None, labels=None, rows=None,
                           scale=None, params=None, lambdas=None, onehot=True, output_grad=None,
                           untransposed=False, scores_activation=None):
    """(loss, grads) autograd gives for the case's network altered in one way.

    ``activation``: another hidden activation; ``derivative(x)``: the activation's backward
    uses this instead of its true derivative; ``labels``: other labels; ``rows``: only these
    examples enter the loss, whose sum is multiplied by ``scale`` (default 1/K: the mean);
    ``params``/``lambdas``: other values; ``onehot=False``: the NLL without its -o^a_y term;
    ``output_grad(logits, y)``: backprop starts from this ∂L/∂o^a (the loss is then unknown, NaN);
    ``untransposed``: backprop into a hidden layer goes through W_l, not W_lᵀ (square W_l only);
    ``scores_activation``: the hidden activation applied to the output scores too, "backprop"
    through it or "forward" only (backprop starts from the softmax as if it were not there).
    """
    model = reference_model(case, activation, params)
    X = torch.from_numpy(np.array(case.X, dtype=np.float64))
    y = torch.from_numpy(np.array(case.y if labels is None else labels, dtype=np.int64))
    act = model.activation
    if derivative is not None:
        act = lambda a: _WithDerivative.apply(a, model.activation, derivative)  # noqa: E731

    def linear(index, layer, h):
        square = layer.weight.shape[0] == layer.weight.shape[1]
        if untransposed and index > 0 and square:
            return _LinearUntransposedBackward.apply(h, layer.weight, layer.bias)
        return layer(h)

    h = X
    for index, layer in enumerate(model.layers[:-1]):
        h = act(linear(index, layer, h))
    logits = linear(len(model.layers) - 1, model.layers[-1], h)
    if scores_activation == "backprop":
        logits = model.activation(logits)
    elif scores_activation == "forward":
        logits = _WithDerivative.apply(logits, model.activation, torch.ones_like)
    if output_grad is not None:
        penalty = model.penalty(case.lambdas if lambdas is None else lambdas)
        outputs, seeds = [logits], [output_grad(logits.detach(), y)]
        if penalty.requires_grad:
            outputs.append(penalty)
            seeds.append(torch.ones_like(penalty))
        torch.autograd.backward(outputs, seeds)
        grads = {name: p.grad.detach().numpy().copy() for name, p in model.named_manual_parameters().items()}
        return float("nan"), grads
    index = slice(None) if rows is None else list(rows)
    per_example = (F.cross_entropy(logits[index], y[index], reduction="none") if onehot
                   else torch.logsumexp(logits[index], dim=1))
    data = per_example.sum() * (1.0 / case.K if scale is None else scale)
    loss = data + model.penalty(case.lambdas if lambdas is None else lambdas)
    loss.backward()
    grads = {name: p.grad.detach().numpy().copy() for name, p in model.named_manual_parameters().items()}
    return float(loss.item()), grads


@dataclass(frozen=True)
class Hypothesis:
    """A known bug, as the (loss, grads) autograd computes for a network that has it."""

    key: str
    message: str
    applies: Callable  # (Case, Evidence) -> bool
    compute: Callable  # (Evidence) -> (loss, grads)
    shift: int = 0  # a label hypothesis: the labels y + shift (mod m)
    per_submission: bool = False  # depends on the submission (its initial params), not on the case alone


def _relu_has_zeros(case, ev):
    return case.activation == "relu" and any(np.any(a == 0) for a in ev.pre_activations)


def _is(*activations):
    return lambda case, ev: case.activation in activations


def _always(case, ev):
    return True


def _batch(case, ev):
    return case.K > 1


def _derivative(fn):
    return lambda ev: altered_loss_and_grads(ev.case, derivative=fn)


_TRUE_DERIVATIVE = {  # for the activations whose derivative can be evaluated at the wrong place
    "tanh": lambda x: 1 - torch.tanh(x) ** 2,
    "sigmoid": lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x)),
    "softplus": lambda x: torch.sigmoid(x),
}
_FUNCTION = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "softplus": F.softplus}


def _at_output(ev):
    """The derivative evaluated at h^s = act(h^a) instead of at h^a."""
    true, fn = _TRUE_DERIVATIVE[ev.case.activation], _FUNCTION[ev.case.activation]
    return altered_loss_and_grads(ev.case, derivative=lambda x: true(fn(x)))


def _function_as_derivative(ev):
    fn = _FUNCTION[ev.case.activation]
    return altered_loss_and_grads(ev.case, derivative=fn)


def _shifted(shift):
    return lambda ev: altered_loss_and_grads(ev.case, labels=(ev.case.y + shift) % ev.case.sizes[-1])


LABEL_SHIFTS = (+1, -1, +2, -2)  # the label hypotheses, in this order


def _label_finding(case: C.Case, shift: int) -> Finding:
    """Labels y + shift fit this case; so does every other shift equal to it mod m."""
    m = case.sizes[-1]
    shifts = [t for t in LABEL_SHIFTS if (t - shift) % m == 0]
    return Finding("label-shift", "{labels}", numbers=[{"case": case.name, "shifts": shifts}])


def _only(row, per_example):
    def compute(ev):
        K = ev.case.K
        return altered_loss_and_grads(ev.case, rows=[row % K], scale=1.0 if per_example else 1.0 / K)
    return compute


def _other_activation(name):
    return Hypothesis(
        f"ignores-activation-{name}",
        f"the results are those of a {name} network: the factory ignores its activation argument "
        f"(or uses {name} somewhere instead of the requested activation)",
        lambda case, ev: case.activation != name,
        lambda ev: altered_loss_and_grads(ev.case, activation=name),
    )


# In order of specificity. Messages name the bug in the homework's notation.
HYPOTHESES = [
    Hypothesis("relu-zero",
               "ReLU derivative at 0: your gradients match rect'(0) = 1 (a mask h^a >= 0); the convention "
               "is rect'(0) = 0, i.e. the mask 1[h^a > 0]{hw:1.7}, as torch has it",
               _relu_has_zeros, _derivative(lambda x: (x >= 0).to(x.dtype))),
    Hypothesis("relu-mask-inverted",
               "ReLU mask inverted: ∂L/∂h^a uses 1[h^a <= 0] instead of 1[h^a > 0]",
               _is("relu"), _derivative(lambda x: (x <= 0).to(x.dtype))),
    Hypothesis("relu-times-output",
               "ReLU derivative: ∂L/∂h^s is multiplied by h^s = rect(h^a) instead of by rect'(h^a) = 1[h^a > 0]",
               _is("relu"), _derivative(torch.relu)),
    Hypothesis("no-activation-derivative",
               "the activation's derivative is missing: ∂L/∂h^a = ∂L/∂h^s ⊙ act'(h^a) (for ReLU the mask "
               "1[h^a > 0]), you use ∂L/∂h^a = ∂L/∂h^s",
               _always, _derivative(torch.ones_like)),
    Hypothesis("sigmoid-derivative-from-x",
               "sigmoid derivative written from x: you use x(1 - x) on the pre-activation, it is "
               "σ'(x) = σ(x)(1 - σ(x)){hw:1.3}",
               _is("sigmoid"), _derivative(lambda x: x * (1 - x))),
    Hypothesis("sigmoid-derivative-missing-factor",
               "sigmoid derivative: you use σ(x), it is σ'(x) = σ(x)(1 - σ(x))",
               _is("sigmoid"), _derivative(torch.sigmoid)),
    Hypothesis("sigmoid-derivative-tanh-formula",
               "sigmoid derivative: you use 1 - σ(x)² (tanh's formula), it is σ'(x) = σ(x)(1 - σ(x))",
               _is("sigmoid"), _derivative(lambda x: 1 - torch.sigmoid(x) ** 2)),
    Hypothesis("tanh-derivative-from-x",
               "tanh derivative written from x: you use 1 - x² on the pre-activation, it is "
               "tanh'(x) = 1 - tanh(x)²{hw:1.4}",
               _is("tanh"), _derivative(lambda x: 1 - x ** 2)),
    Hypothesis("tanh-derivative-no-square",
               "tanh derivative: you use 1 - tanh(x), it is tanh'(x) = 1 - tanh(x)²",
               _is("tanh"), _derivative(lambda x: 1 - torch.tanh(x))),
    Hypothesis("softplus-derivative-sign",
               "softplus derivative: you use σ(-x) = 1/(1 + e^x), it is softplus'(x) = σ(x) = 1/(1 + e^-x)",
               _is("softplus"), _derivative(lambda x: torch.sigmoid(-x))),
    Hypothesis("derivative-at-output",
               "activation derivative evaluated at h^s (after the activation) instead of at h^a: "
               "e.g. σ'(h^s) where σ'(h^a) = h^s(1 - h^s) is meant",
               _is("sigmoid", "tanh", "softplus"), _at_output),
    Hypothesis("function-as-derivative",
               "the activation itself is used as its derivative: ∂L/∂h^a = ∂L/∂h^s ⊙ act(h^a) instead of act'(h^a)",
               _is("sigmoid", "tanh", "softplus"), _function_as_derivative),
    *[Hypothesis("label-shift", "", _always, _shifted(shift), shift) for shift in LABEL_SHIFTS],
    Hypothesis("activation-on-scores",
               "the activation is applied to the output scores too: the softmax must get the last layer's "
               "o^a = W_L h^s + b_L as it is (no activation after the last layer)",
               _always, lambda ev: altered_loss_and_grads(ev.case, scores_activation="backprop")),
    Hypothesis("activation-on-scores",
               "the activation is applied to the output scores too (and backprop starts from the softmax as if it "
               "were not): the softmax must get the last layer's o^a = W_L h^s + b_L as it is (no activation "
               "after the last layer)",
               _always, lambda ev: altered_loss_and_grads(ev.case, scores_activation="forward")),
    Hypothesis("onehot-missing",
               "onehot(y) is not subtracted: you use ∂L/∂o^a = o^s, it is o^s - onehot(y){hw:2.7}",
               _always, lambda ev: altered_loss_and_grads(ev.case, onehot=False)),
    Hypothesis("untransposed-weight-in-backprop",
               "backprop into the hidden layer goes through W instead of Wᵀ: ∂L/∂h^s = W2ᵀ ∂L/∂o^a "
               "{hw:2.12} (batched: δ W2); the shapes only agree because this W2 is square",
               lambda case, ev: any(case.sizes[i] == case.sizes[i + 1] for i in range(1, case.n_layers)),
               lambda ev: altered_loss_and_grads(ev.case, untransposed=True)),
    Hypothesis("softmax-axis",
               "softmax over the wrong axis: your o^s is normalised over the batch (axis 0) instead of over "
               "the classes of each example (axis 1 when X is (K, d))",
               _always, lambda ev: altered_loss_and_grads(
                   ev.case, output_grad=lambda o, y: (torch.softmax(o, dim=0) - F.one_hot(y, o.shape[1])) / len(y))),
    Hypothesis("last-example-only",
               "only the last example counts: the loop over the batch overwrites the gradient instead of "
               "accumulating it (grads = … instead of grads += …)",
               _batch, _only(-1, per_example=True)),
    Hypothesis("last-example-only",
               "only the last example counts (then divided by K): the loop over the batch overwrites the "
               "gradient instead of accumulating it (grads = … instead of grads += …)",
               _batch, _only(-1, per_example=False)),
    Hypothesis("first-example-only",
               "only the first example counts: the loop over the batch stops (or returns) after one example",
               _batch, _only(0, per_example=True)),
    Hypothesis("first-example-only",
               "only the first example counts (then divided by K): the loop over the batch stops after one example",
               _batch, _only(0, per_example=False)),
    *[_other_activation(name) for name in C.ACTIVATIONS],
    Hypothesis("ignores-params",
               "your numbers are those of the object's initial parameters: loss_and_grads does not read the "
               "values written into `params` (keep the parameters in params, or alias them)",
               lambda case, ev: ev.initial_params is not None,
               lambda ev: altered_loss_and_grads(ev.case, params=ev.initial_params), per_submission=True),
]


# ----------------------------------------------------------------------------- evidence of one case
_SHARED: dict = {}  # id(case) -> (the case, kept alive so its id stays its own; {what: computed value})


class Evidence:
    """What the detectors may ask about one case; everything torch computes is cached."""

    def __init__(self, case: C.Case, reference_loss: float, reference_grads: dict, initial_params=None):
        self.case = case
        self.reference_loss = reference_loss
        self.reference_grads = reference_grads
        self.initial_params = initial_params
        self._hypotheses = {}
        # What depends on the case alone is shared by every submission checked on it (a class).
        self._shared = _SHARED.setdefault(id(case), (case, {}))[1]

    def _case_cached(self, key, compute):
        if key not in self._shared:
            self._shared[key] = compute()
        return self._shared[key]

    @cached_property
    def data(self):
        """(NLL, grads of the NLL) without the penalty."""
        return self._case_cached("data", lambda: reference_loss_and_grads(self.case, with_penalty=False))

    @cached_property
    def penalty_grads(self) -> dict:
        return {name: self.reference_grads[name] - self.data[1][name] for name in self.reference_grads}

    @cached_property
    def tape(self) -> dict:
        """Pre-activations a_l and deltas δ_l = ∂NLL/∂a_l of every layer (a_L are the logits)."""
        return self._case_cached("tape", self._tape)

    def _tape(self) -> dict:
        model = reference_model(self.case)
        h = torch.from_numpy(np.array(self.case.X, dtype=np.float64))
        pre = []
        for index, layer in enumerate(model.layers):
            a = layer(h)
            a.retain_grad()
            pre.append(a)
            h = model.activation(a) if index < len(model.layers) - 1 else a
        F.cross_entropy(h, torch.from_numpy(np.array(self.case.y, dtype=np.int64))).backward()
        as_np = lambda t: t.detach().numpy().copy()  # noqa: E731
        return {"pre": [as_np(a) for a in pre], "delta": [as_np(a.grad) for a in pre]}

    @property
    def pre_activations(self) -> list:
        """Hidden pre-activations h^a of layers 1..L-1, each (K, units)."""
        return self.tape["pre"][:-1]

    def hypothesis(self, hyp: Hypothesis):
        """(loss, grads) of the hypothesis, or None where it does not apply."""
        ident = id(hyp)
        if ident not in self._hypotheses:
            compute = lambda: hyp.compute(self) if hyp.applies(self.case, self) else None  # noqa: E731
            self._hypotheses[ident] = compute() if hyp.per_submission else self._case_cached(ident, compute)
        return self._hypotheses[ident]


# ----------------------------------------------------------------------------- parameter detectors
@dataclass
class ParamView:
    """One failing gradient: the student's ``s`` (in the reference layout) beside autograd's ``r``."""

    case: C.Case
    name: str
    s: np.ndarray
    r: np.ndarray
    ev: Evidence
    previous: np.ndarray | None = None  # the student's answer for this name on the previous call
    loss_passed: bool = True
    max_rel_error: float = np.inf

    @property
    def layer(self) -> int:
        return int(self.name[1:])

    @property
    def is_weight(self) -> bool:
        return self.name.startswith("W")

    @property
    def data(self) -> np.ndarray:
        return self.ev.data[1][self.name]

    @property
    def pen(self) -> np.ndarray:
        return self.ev.penalty_grads[self.name]

    def layer_lambdas(self) -> tuple:
        return self.case.lambdas[2 * self.layer - 2], self.case.lambdas[2 * self.layer - 1]


def detect_nonfinite(p: ParamView):
    if np.all(np.isfinite(p.s)):
        return None
    if p.case.stress:
        return Finding("softmax-overflow",
                       "softmax overflow at large logits (|o^a| ≈ 1000): exp(o^a) overflows to inf (or underflows "
                       "to 0) and inf/inf or 0/0 gives NaN; subtract max(o^a) from each row before exp "
                       "(softmax(o) = softmax(o - max o), log-sum-exp)")
    return Finding("nonfinite", "the gradient holds NaN or inf on an ordinary batch")


def transposed_message(name: str, shape=None, words: CourseWords = HOMEWORK) -> str:
    return render(transposed_phrase(name, shape), [], words)


def transposed_phrase(name: str, shape=None) -> dict:
    """The phrase, in the course's weight layout ({"out_in": ..., "in_out": ...})."""
    layer = name[1:]
    below = "x" if layer == "1" else f"h^s{int(layer) - 1}"
    inputs = "X" if layer == "1" else "H^s"
    what = f"grads[{name!r}] has the transposed shape {shape}" if shape else f"your ∂L/∂{name} is the transpose of the right one"
    return {"out_in": f"transposed weight gradient: {what}; W is (out, in) like nn.Linear.weight, so "
                      f"∂L/∂{name} = δ {below}ᵀ (batched: δᵀ·{inputs}), not {below} δᵀ",
            "in_out": f"transposed weight gradient: {what}; {name} is (in, out) like its params entry, so "
                      f"d{name} = {inputs}ᵀ·δ (the layer's input transposed times the upstream gradient), not δᵀ·{inputs}"}


def detect_transposed(p: ParamView):
    if p.is_weight and p.s.shape == p.r.T.shape and matches(p.s.T, p.r):
        return Finding("transposed", transposed_phrase(p.name))
    return None


def detect_sign(p: ParamView):
    if matches(p.s, -p.r):
        return Finding("sign-flipped",
                       "gradient has the wrong sign (= -reference): ∂L/∂o^a = o^s - onehot(y), not onehot(y) - o^s "
                       "(or the descent step's minus sign moved into the gradient)")
    return None


def detect_scaled(p: ParamView):
    """s = a·(backprop part) + b·(penalty part) for a few telling (a, b).

    A candidate equal to the right answer (K = 1, or no penalty and b ≠ 1) never matches a
    failing gradient, so none is left out for that; -r itself is ``detect_sign``'s.
    """
    K = p.case.K
    has_pen = bool(np.any(p.pen))
    candidates = [
        ((K, 1), "sum-not-mean", {"mean": "gradient off by a factor K ({K}): the batch gradient is the sum over the "
                                          "examples instead of the mean (divide by K)",
                                  "sum": "gradient off by a factor K ({K}): the sum over the batch is multiplied by K "
                                         "(the examples counted K times)"}),
        ((K, K), "sum-not-mean", {"mean": "gradient off by a factor K ({K}): sum over the batch instead of the mean "
                                          "(penalty included, K times)",
                                  "sum": "gradient off by a factor K ({K}): the whole gradient, penalty included, "
                                         "is multiplied by K"}),
        ((1 / K, 1), "mean-twice", {"mean": "gradient off by a factor 1/K ({K}): divided by K twice (a mean of a mean)",
                                    "sum": "gradient off by a factor 1/K ({K}): divided by K, but the assignment's "
                                           "loss is the sum over the batch (reduction = \"sum\"), not an average"}),
        ((1 / K, 1 / K), "mean-twice", {"mean": "gradient off by a factor 1/K ({K}): divided by K twice",
                                        "sum": "gradient off by a factor 1/K ({K}), penalty included: divided by K, "
                                               "but the assignment's loss is the sum over the batch (reduction = \"sum\")"}),
        ((1, 1 / K), "penalty-over-K", "penalty gradient divided by K: the {penalty}'s term is not averaged over "
                                       "the batch; add {pen_grad} once, after the {reduce} over the batch"),
        ((1, K), "penalty-times-K", "penalty gradient added once per example (K times, {K}); add it once"),
        ((1, 0), "penalty-missing-grad", "penalty missing from the gradient: no {pen_grad} term"
                                         + (" (your loss includes it): add it to the gradient you return, not only "
                                            "in the update step" if p.loss_passed else "")),
        ((0, 1), "data-missing", "only the penalty is in this gradient: the backprop part is missing"),
        ((1, 2), "penalty-twice", "penalty gradient added twice"),
        ((1, -1), "penalty-sign", "penalty gradient subtracted instead of added (wrong sign)"),
        ((-1, 1), "sign-flipped", "backprop part of the gradient has the wrong sign: ∂L/∂o^a = o^s - onehot(y), "
                                  "not onehot(y) - o^s (the penalty part is right)"),
    ]
    for (a, b), key, message in candidates:
        if a == 0 and not has_pen:
            continue  # no penalty: an all-zero gradient, its own finding
        if matches(p.s, a * p.data + b * p.pen):
            return _with_K(key, message, p.case, factor=a)
    return None


_factor_name = factor_name


def detect_constant_factor(p: ParamView):
    """s = c·r, or s = c·(backprop part) + penalty, for some constant c."""
    for base, rest, what in ((p.r, 0.0, "gradient"), (p.data, p.pen, "backprop part of the gradient")):
        target = p.s - rest
        norm = float(np.vdot(base, base))
        if norm == 0:
            continue
        c = float(np.vdot(base, target)) / norm
        if abs(c - 1) > 1e-4 and c != 0 and matches(target, c * base):  # c ≈ 1 is rounding, not a factor
            return Finding("constant-factor", "the {what} {times}",
                           numbers=[{"case": p.case.name, "K": p.case.K, "m": p.case.sizes[-1], "factor": c,
                                     "what": what}])
    return None


def _lambda_phrase(value, own_name, own_value, case, term, K):
    """Name the coefficient ``value`` that should be ``own_value`` (λ or 2λ): (key, phrase) or None.

    ``own_name`` is the coefficient's slot place ("12": layer 1's L2), rendered in the course's words.
    """
    scale = max(abs(own_value), max(case.lambdas))
    if _close(value, own_value, scale):  # a λ of 0 is matched by a coefficient at rounding level, too
        return None
    right = f"{{lam:{own_name}}}·sign(W)" if term == "L1" else f"{{lam:{own_name}x2}}·W"
    checks = [
        (0.0, f"{term.lower()}-missing", f"the {term} term ({right}) is missing from the gradient"),
        (-own_value, f"{term.lower()}-sign", f"the {term} term has the wrong sign (-{right})"),
        (own_value / K, "penalty-over-K", f"the {term} term is divided by K ({right}/K)"),
        (own_value * K, "penalty-times-K", f"the {term} term is multiplied by K (added once per example)"),
    ]
    if term == "L1":
        checks.append((2 * own_value, "l1-factor-2", f"the L1 term is doubled: {{lam:{own_name}x2}}·sign(W) instead of {right}"))
    else:
        checks.append((own_value / 2, "l2-factor-2", f"the L2 term is off by a factor 2: {{lam:{own_name}}}·W instead of "
                                                     f"{right} (∇‖W‖₂² = 2W{{hw:,1.8}})"))
        checks.append((own_value * 2, "l2-factor-2", f"the L2 term is off by a factor 2: {{lam:{own_name}x4}}·W instead of "
                                                     f"{right} (∇‖W‖₂² = 2W)"))
    for name, lam in zip(case.lambda_names(), case.lambdas):
        if name[1:] != own_name:
            for factor in ((1.0, 2.0) if term == "L2" else (1.0,)):
                checks.append((factor * lam, "lambda-slot", f"the {term} term uses {{lam:{name[1:]}}} = {lam:g} where it "
                                                            f"should use {{lam:{own_name}}} (lambdas are L1, L2 for each "
                                                            "layer in order)"))
    for target, key, phrase in checks:
        if _close(value, target, scale):
            return key, phrase
    return f"{term.lower()}-wrong", f"the {term} coefficient is {value:.6g} instead of {own_value:g}"


def detect_scalar_added(p: ParamView):
    """s = (backprop part, or the whole right gradient) + one number c in every entry.

    The telling c is the penalty's value: ``dW += reg·np.sum(W*W)`` where its gradient was meant.
    """
    if p.s.size < 2 or p.s.shape != p.r.shape:
        return None
    W = np.asarray(p.case.params[f"W{p.layer}"])
    lam1, lam2 = p.layer_lambdas()
    layer_value = lam1 * float(np.abs(W).sum()) + lam2 * float((W * W).sum())
    total_value = p.ev.reference_loss - p.ev.data[0]
    for base, rest in ((p.data, "instead of"), (p.r, "on top of")):
        c = float(np.mean(p.s - base))
        if c == 0 or not matches(p.s, base + c):
            continue
        numbers = [{"case": p.case.name, "K": p.case.K, "scalar": c}]
        for value in (layer_value, total_value):
            if value and any(_close(c, f * value) for f in (1.0, 2.0, 0.5)):
                return Finding("scalar-added", f"a number, the penalty's value ({c:.6g}), is added to every entry of "
                                               f"∂L/∂{p.name} {rest} the penalty's gradient {{pen_grad}}: the gradient "
                                               "of a sum of squares is an array (∇‖W‖² = 2W), not the sum itself",
                               numbers=numbers)
        return Finding("scalar-added", f"a number ({c:.6g}) is added to every entry of ∂L/∂{p.name}: a scalar where "
                                       "an array of the parameter's shape was meant", numbers=numbers)
    return None


def detect_penalty_terms(p: ParamView):
    """s = c0·(backprop part) + c1·sign(W) + c2·W exactly: read off c1 (should be λ_l1) and c2 (2λ_l2)."""
    if not p.is_weight or not p.case.regularised or not np.any(p.s):
        return None  # (all zeros is its own finding)
    W = np.asarray(p.case.params[p.name])
    basis = np.column_stack([p.data.ravel(), np.sign(W).ravel(), W.ravel()])
    if basis.shape[0] < basis.shape[1] + 2 or np.linalg.matrix_rank(basis) < basis.shape[1]:
        return None
    coef = np.linalg.lstsq(basis, p.s.ravel(), rcond=None)[0]
    if not matches(p.s, (basis @ coef).reshape(p.s.shape)):
        return None  # not "backprop part + a penalty made of sign(W) and W"
    c0, c1, c2 = (float(c) for c in coef)
    lam1, lam2 = p.layer_lambdas()
    layer = p.layer
    phrases = []
    if not _close(c0, 1.0):
        phrases.append(("constant-factor", f"the backprop part of the gradient is exactly {c0:.6g} times the right "
                                           f"one{_factor_name(c0, p.case.K, p.case.sizes[-1])}"))
    if lam1 and _close(c1, 0.0, lam1) and _close(c2, 2 * lam2 + lam1):
        phrases.append(("l1-uses-W", f"the L1 gradient is {{lam:{layer}1}}·W instead of {{lam:{layer}1}}·sign(W) "
                                     "(abs'(x) = sign(x))"))
    else:
        for phrase in (_lambda_phrase(c1, f"{layer}1", lam1, p.case, "L1", p.case.K),
                       _lambda_phrase(c2, f"{layer}2", 2 * lam2, p.case, "L2", p.case.K)):
            if phrase:
                phrases.append(phrase)
    if not phrases:
        return None
    keys = sorted({key for key, _ in phrases})
    if keys == ["constant-factor"]:  # told with each case's own factor when grouped
        return Finding("constant-factor", "the {what} {times}", numbers=[{
            "case": p.case.name, "K": p.case.K, "m": p.case.sizes[-1], "factor": c0,
            "what": "backprop part of the gradient"}])
    return Finding("+".join(keys), "; ".join(text for _, text in phrases))


def detect_bias_regularised(p: ParamView):
    if p.is_weight or not p.case.regularised:
        return None
    b = np.asarray(p.case.params[p.name])
    lam1, lam2 = p.layer_lambdas()
    for c1, c2 in ((lam1, 2 * lam2), (0, 2 * lam2), (lam1, 0), (lam1, lam2), (0, lam2)):
        if matches(p.s, p.r + c1 * np.sign(b) + c2 * b):
            return Finding("biases-regularised",
                           "biases are regularised: the penalty covers the weights W only, biases are free "
                           "{hw:2.18} — drop the {bias_pen_grad} term from ∂/∂b")
    return None


def detect_accumulated(p: ParamView):
    if p.previous is None or p.previous.shape != p.r.shape:
        return None
    if matches(p.s, p.r + p.previous):
        return Finding("accumulates-across-calls",
                       "gradients accumulate across calls: this call's gradient is added to the previous call's "
                       "(reset the gradient buffers to zero at the start of loss_and_grads)")
    if np.any(p.previous) and matches(p.s, p.previous):
        return Finding("stale-gradients", "loss_and_grads returns the gradients of the previous call (a stale cache)")
    return None


def detect_hypotheses(p: ParamView):
    """The first known bug whose gradient this is (a bug that predicts all zeros here tells nothing)."""
    for hyp in HYPOTHESES:
        result = p.ev.hypothesis(hyp)
        if result is not None and np.any(result[1][p.name]) and matches(p.s, result[1][p.name]):
            finding = _label_finding(p.case, hyp.shift) if hyp.shift else Finding(hyp.key, hyp.message)
            finding.hypothesis = hyp
            return finding
    return None


def detect_all_zero(p: ParamView):
    if not np.any(p.s):
        return Finding("all-zero", "the gradient is all zeros: it is never computed (or never accumulated)")
    return None


def detect_preactivation_input(p: ParamView):
    """∂L/∂W_l built with the pre-activation h^a of the layer below instead of h^s."""
    if not p.is_weight or p.layer < 2:
        return None
    tape = p.ev.tape
    wrong = tape["delta"][p.layer - 1].T @ tape["pre"][p.layer - 2] + p.pen
    if matches(p.s, wrong):
        return Finding("preactivation-as-input",
                       f"∂L/∂W{p.layer} uses the pre-activation h^a of the layer below instead of its activation "
                       f"h^s: ∂L/∂W{p.layer} = ∂L/∂o^a · h^sᵀ{{hw:2.10}}")
    return None


def detect_zero_units(p: ParamView):
    """Errors confined to hidden units whose pre-activation is exactly 0 (or ≤ 0) somewhere."""
    if p.case.activation != "relu" or p.layer > len(p.ev.pre_activations):
        return None
    pre = p.ev.pre_activations[p.layer - 1]  # (K, units) of the layer this parameter produces
    err = np.abs(p.s - p.r).reshape(p.r.shape[0], -1).max(axis=1)
    scale = max(float(np.max(np.abs(p.r))), 1e-300)
    wrong_units = err > TOL.rtol * scale
    if not wrong_units.any():
        return None
    if np.all((pre == 0).any(axis=0)[wrong_units]):
        return Finding("relu-zero",
                       "errors only in hidden units whose pre-activation h^a is exactly 0 for some example: the ReLU "
                       "derivative at 0 must be 0 (rect'(0) = 0, mask 1[h^a > 0])")
    inactive = (pre <= 0).any(axis=0)
    if not inactive.all() and np.all(inactive[wrong_units]):
        return Finding("relu-mask",
                       "errors only in hidden units that are inactive (h^a ≤ 0) for some example: the ReLU "
                       "derivative/mask is wrong there (rect'(x) = 1[x > 0])")
    return None


def detect_precision(p: ParamView):
    if p.max_rel_error < 1e-4:
        return Finding("precision",
                       f"small errors only (max relative {p.max_rel_error:.1e}): float32 arithmetic, or an "
                       "approximation (finite differences, a textbook softplus above x = 20); compute in float64")
    return None


PARAM_DETECTORS = [
    detect_nonfinite,
    detect_precision,
    detect_transposed,
    detect_sign,
    detect_scaled,
    detect_penalty_terms,
    detect_bias_regularised,
    detect_hypotheses,
    detect_accumulated,
    detect_scalar_added,  # after the previous call's answer (a constant there is that answer)
    detect_constant_factor,
    detect_all_zero,
    detect_preactivation_input,
    detect_zero_units,
]


def diagnose_param(p: ParamView) -> Finding | None:
    """The first (most specific) detector that explains this gradient, or None."""
    for rank, detector in enumerate(PARAM_DETECTORS):
        finding = detector(p)
        if finding is not None:
            finding.rank = rank
            return finding
    return None


# ----------------------------------------------------------------------------- loss detector
LOSS_TIMES_K = {"mean": "the loss is the sum over the batch instead of the mean (K times too large, {K})",
                "sum": "the loss is K times the sum over the batch ({K})"}


def loss_candidates(ev: Evidence) -> list:
    """(key, message, value): the loss a known bug would report on this case."""
    case, K = ev.case, ev.case.K
    nll, ref = ev.data[0], ev.reference_loss
    pen = ref - nll
    lam = case.lambdas
    weights = [np.asarray(case.params[f"W{layer}"]) for layer in range(1, case.n_layers + 1)]
    biases = [np.asarray(case.params[f"b{layer}"]) for layer in range(1, case.n_layers + 1)]
    l1 = [float(np.abs(W).sum()) for W in weights]
    l2 = [float((W * W).sum()) for W in weights]
    lam1, lam2 = lam[0::2], lam[1::2]

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
    out.append(("loss-sign", "the loss has the wrong sign: L = -log o^s_y", -ref))
    return out


def diagnose_loss(ev: Evidence, student_loss: float) -> Finding | None:
    if not np.isfinite(student_loss):
        if ev.case.stress:
            return Finding("softmax-overflow",
                           "the loss overflows at large logits (|o^a| ≈ 1000): compute log o^s_y as "
                           "(o^a_y - max o^a) - log Σ exp(o^a - max o^a), never log(softmax) or exp(o^a) directly")
        return Finding("nonfinite", "the loss is NaN or inf on an ordinary batch")
    for key, message, value in loss_candidates(ev):
        if matches(student_loss, value):
            return _with_K(key, message, ev.case)
    for hyp in HYPOTHESES:
        result = ev.hypothesis(hyp)
        if result is not None and matches(student_loss, result[0]):
            finding = _label_finding(ev.case, hyp.shift) if hyp.shift else Finding(hyp.key, hyp.message)
            finding.hypothesis = hyp
            return finding
    return None


# ----------------------------------------------------------------------------- the whole run
@dataclass
class CaseOutcome:
    """What ``validate`` hands the diagnosis for one case."""

    case: C.Case
    evidence: Evidence
    student_loss: float
    student_grads: dict  # in the reference layout (a transposed-shape answer already transposed back)
    passed: dict  # name ("loss", "W1", ...) -> bool
    max_rel_error: dict  # name -> float
    transposed_shape: tuple = ()  # names the student returned with the (in, out) shape
    previous: dict | None = None
    findings: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(self.passed.values()) and not self.transposed_shape


def _layer_localisation(o: CaseOutcome, explained: set) -> list:
    """Case-level hints from *which* parameters fail, for the ones no detector explained."""
    out = []
    failing = [n for n, ok in o.passed.items() if n != "loss" and not ok]
    L = o.case.n_layers
    if o.passed["loss"] and failing and not (set(failing) & explained):
        layers = sorted({int(n[1:]) for n in failing})
        if len(layers) == 1 and layers[0] < L:
            layer = layers[0]
            above = f"W{layer + 1}, b{layer + 1}" + ("…" if layer + 1 < L else "")
            out.append(Finding(
                f"layer-{layer}-wrong",
                f"the loss and the gradients of the layers above ({above}) are right but layer {layer} ({', '.join(failing)}) "
                f"is wrong: the error enters when backpropagating from layer {layer + 1} into layer {layer}: "
                f"∂L/∂h^s = W{layer + 1}ᵀ ∂L/∂o^a, ∂L/∂h^a = ∂L/∂h^s ⊙ act'(h^a), ∂L/∂W{layer} = ∂L/∂h^a · inputᵀ"))
        elif layers == [L]:
            out.append(Finding(
                "output-layer-wrong",
                f"the loss is right but the output layer's gradients ({', '.join(failing)}) are wrong while the layers "
                f"below are right: check ∂L/∂W{L} = ∂L/∂o^a · h^sᵀ and ∂L/∂b{L} = ∂L/∂o^a"))
        else:  # several layers
            top = max(layers)
            where = ("the output layer, where backprop starts" if top == L
                     else f"layer {top} (the layers above it are right)")
            out.append(Finding(
                "grads-wrong-loss-right",
                f"the loss is right but the gradients of layers {', '.join(map(str, layers))} are wrong "
                f"({', '.join(failing)}): the error enters at {where} and propagates down"))
    for layer in range(1, L + 1):
        w, b = f"W{layer}", f"b{layer}"
        if not o.passed[w] and o.passed[b] and w not in explained and w not in o.transposed_shape:
            inputs = "X" if layer == 1 else "H^s"
            right = f"∂L/∂b{layer} is right but ∂L/∂W{layer} is wrong: the backpropagated δ is right, its product with the "
            out.append(Finding("weight-outer-product", {
                "out_in": right + f"layer's input is wrong (∂L/∂W{layer} = δᵀ·{inputs}, an outer product over the batch)",
                "in_out": right + f"layer's input is wrong (dW{layer} = {inputs}ᵀ·δ, a sum of outer products "
                                  "over the batch)"}))
    if not o.passed["loss"] and not failing and not o.transposed_shape:
        out.append(_loss_only(o))
    return out


LOG_EPSILONS = tuple(10.0 ** -k for k in range(3, 17))  # the ε a student puts in log(p + ε)


def _loss_only(o: CaseOutcome) -> Finding:
    """Every gradient is exact, only the loss differs: say by how much, and name an ε inside the log."""
    ref = o.evidence.reference_loss
    rel = abs(o.student_loss - ref) / max(abs(ref), 1e-300)
    size = "loss off by {rel} relative, gradients exact"
    numbers = [{"case": o.case.name, "rel": rel}]
    logits = o.evidence.tape["pre"][-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    p_y = np.exp(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))[np.arange(o.case.K), o.case.y]
    pen = ref - o.evidence.data[0]
    for eps in LOG_EPSILONS:
        if matches(o.student_loss, float(np.mean(-np.log(p_y + eps))) + pen):
            return Finding("loss-epsilon", size + f": an ε inside the log? Your loss is -log(o^s_y + {eps:.0e}); "
                           "log o^s_y needs no ε when computed as (o^a_y - max o^a) - log Σ exp(o^a - max o^a)",
                           numbers=numbers)
    return Finding("loss-only", size + ": the bug is in how the loss value is computed, not in backprop",
                   numbers=numbers, certainty=HINT)


def _fold_follow_ons(o: CaseOutcome, findings: list, explained: set) -> list:
    """A known bug matched in this case explains every gradient it predicts: a finding there (an
    all-zero gradient, a layer's hint) is a follow-on, told under the bug, not a second bug."""
    causes = [f for f in findings if f.hypothesis is not None]
    out = []
    for finding in findings:
        _, _, name = finding.where[0].partition(":")
        cause = next((c for c in causes if c is not finding and c.key != finding.key and name in o.student_grads
                      and _predicts(o, c.hypothesis, name)), None)
        if cause is None:
            out.append(finding)
        else:
            cause.follow_ons.append(finding)
    for name, ok in o.passed.items():  # a failing gradient no detector named, which the bug predicts
        if not ok and name != "loss" and name not in explained:
            cause = next((c for c in causes if _predicts(o, c.hypothesis, name)), None)
            if cause is not None:
                cause.where.append(f"{o.case.name}:{name}")
                explained.add(name)
    return out


def _predicts(o: CaseOutcome, hyp: Hypothesis, name: str) -> bool:
    result = o.evidence.hypothesis(hyp)
    return result is not None and matches(o.student_grads[name], result[1][name])


def diagnose_case(o: CaseOutcome) -> list:
    """Findings for one failing case: per parameter, the loss, then case-level hints."""
    findings, explained = [], set()
    for name in o.transposed_shape:
        findings.append(Finding("transposed", transposed_phrase(name, tuple(o.student_grads[name].shape[::-1])),
                                rank=PARAM_DETECTORS.index(detect_transposed), where=[f"{o.case.name}:{name}"]))
        explained.add(name)
    for name, ok in o.passed.items():
        if ok or name == "loss":
            continue
        view = ParamView(o.case, name, o.student_grads[name], o.evidence.reference_grads[name], o.evidence,
                         previous=None if o.previous is None else o.previous.get(name),
                         loss_passed=o.passed["loss"], max_rel_error=o.max_rel_error[name])
        finding = diagnose_param(view)
        if finding is not None:
            finding.where = [f"{o.case.name}:{name}"]
            findings.append(finding)
            explained.add(name)
    if not o.passed["loss"]:
        finding = diagnose_loss(o.evidence, o.student_loss)
        if finding is not None:
            finding.rank = len(PARAM_DETECTORS)
            finding.where = [f"{o.case.name}:loss"]
            findings.append(finding)
    findings = _fold_follow_ons(o, findings, explained)
    for finding in _layer_localisation(o, explained):
        finding.rank = len(PARAM_DETECTORS) + 1
        finding.certainty = HINT
        finding.where = [o.case.name]
        findings.append(finding)
    o.findings = findings
    return findings


def _batch_control(failing, passing) -> bool:
    """An unregularised minibatch fails while an unregularised K = 1 case of the same network passes:
    only K differs between them."""
    return any(f.K > 1 and not f.regularised and any(
        p.K == 1 and not p.regularised and p.sizes == f.sizes and p.activation == f.activation for p in passing)
        for f in failing)


PATTERNS = [
    # (test of a case, key, message[, control]): "it fails only where ..." when every failing case
    # passes the test and some passing case does not (and ``control(failing, passing)`` holds).
    (lambda c: c.stress, "pattern-large-logits",
     "it fails only at large logits (|o^a| ≈ 1000): a numerically unstable softmax / log-softmax (subtract the max)"),
    (lambda c: C.ZERO_PREACT in c.tags, "pattern-zero-preactivation",
     "it fails only on the batch where some pre-activations are exactly 0: the ReLU derivative at 0 "
     "(rect'(0) = 0, mask 1[h^a > 0])"),
    (lambda c: c.regularised, "pattern-regularised",
     "it fails only when {lam_on}: the bug is in the {penalty} (its loss term or its gradient)"),
    (lambda c: c.K > 1, "pattern-batch",
     "it fails only on minibatches (K > 1): the bug is in how the examples are combined ({reduce} over the batch, "
     "accumulation in the loop)", _batch_control),
    (lambda c: C.TWO_HIDDEN in c.tags, "pattern-two-hidden",
     "it fails only with two hidden layers: the backprop loop over layers (indices, inputs of each layer)"),
    (lambda c: C.MNIST in c.tags, "pattern-mnist", "it fails only at MNIST width (784-32-10): sizes hard-coded?"),
]


def _patterns(outcomes) -> list:
    """"It fails only where ...": tags shared by every failing case and missing from some passing one.

    Only the narrowest such patterns are kept: "only on the zero-pre-activation batch" makes
    "only on minibatches" (which that batch also is) redundant.
    """
    all_cases = [o.case for o in outcomes]
    failing = [o.case for o in outcomes if not o.ok]
    passing = [o.case for o in outcomes if o.ok]
    tests = list(PATTERNS)
    for act in C.ACTIVATIONS:
        tests.append((lambda c, act=act: c.activation == act, f"pattern-activation-{act}",
                      f"it fails only with activation={act!r}: its derivative in backprop (or the function "
                      "itself, if the loss is wrong too)"))
    found = []
    for test, key, message, *control in tests:
        if control and not control[0](failing, passing):
            continue
        if failing and all(test(c) for c in failing) and any(not test(c) for c in passing):
            found.append((frozenset(c.name for c in all_cases if test(c)), Finding(key, message, certainty=PATTERN)))
    return [f for cover, f in found if not any(other < cover for other, _ in found)]


BATCH_MAX = ("the softmax subtracts one max over the whole batch instead of each example's own max: it fails "
             "only where the examples' logits sit ~1000 apart ({cases}), while the cases that shift every example "
             "alike pass; subtract o^a.max(axis=1, keepdims=True), one max per example")


def _whole_batch_max(outcomes) -> list:
    """The mixed-scale cases, when they fail while every other large-logit case passes (the control)."""
    stress = [o for o in outcomes if o.case.stress]
    mixed = [o for o in stress if C.MIXED_SCALES in o.case.tags]
    controls = [o for o in stress if C.MIXED_SCALES not in o.case.tags]
    if controls and all(o.ok for o in controls):
        return [o for o in mixed if not o.ok]
    return []


def _case_findings(o: CaseOutcome, batch_max: list) -> list:
    if any(o is b for b in batch_max):
        o.findings = [Finding("softmax-batch-max", BATCH_MAX, where=[o.case.name], numbers=[{"case": o.case.name}],
                              certainty=PATTERN)]
        return o.findings
    findings = diagnose_case(o)
    for finding in findings:
        for record in finding.numbers:
            record["where"] = finding.where[0]
    return findings


FACTOR_KEYS = ("sum-not-mean", "mean-twice", "constant-factor")


def _fixed_divisor(outcomes, grouped: dict) -> Finding | None:
    """Per-case factors K/D with the same D in every case: a batch size D written into the code.

    ÷K missing gives the factor K (D = 1: the sum, named as such), ÷K twice 1/K (D = K², not
    constant); only a divisor that does not follow K gives one D across cases with different K.
    """
    records = [r for key in FACTOR_KEYS if key in grouped for r in grouped[key].numbers if "factor" in r]
    if len({r["K"] for r in records}) < 2:
        return None
    divisor = records[0]["K"] / records[0]["factor"]
    if _close(divisor, 1.0) or not all(_close(r["K"] / r["factor"], divisor) for r in records):
        return None
    explained = {r["where"] for r in records}
    for o in outcomes:  # the loss, when it is K/D times its data part too
        if not o.ok and not o.passed["loss"] and np.isfinite(o.student_loss):
            nll = o.evidence.data[0]
            factor = (o.student_loss - (o.evidence.reference_loss - nll)) / nll
            if factor != 0 and _close(o.case.K / factor, divisor):
                explained.add(f"{o.case.name}:loss")
    for key in list(grouped):  # what the divisor explains is no other finding's
        grouped[key].where = [w for w in grouped[key].where if w not in explained]
        if not grouped[key].where:
            del grouped[key]
    factors = ", ".join(dict.fromkeys(f"{r['factor']:.4g} at K = {r['K']}" for r in sorted(records, key=lambda r: r["K"])))
    what = "the gradients and the loss are" if any(w.endswith(":loss") for w in explained) else "the gradients are"
    place = {o.case.name: i for i, o in enumerate(outcomes)}
    return Finding("fixed-divisor",
                   f"divides by a fixed {divisor:g} instead of the batch size K: {what} K/{divisor:g} times the "
                   f"right ones in every case ({factors}); divide by K = X.shape[0]",
                   where=sorted(explained, key=lambda w: (place[w.partition(":")[0]], w)), numbers=records)


def diagnose(outcomes: list, words: CourseWords = HOMEWORK) -> list:
    """The run's diagnosis: findings grouped by cause, most specific first, then the patterns.

    A finding seen in several cases names each case's own numbers (its K, its factor); the
    run-level findings come from comparing cases: one softmax max over the whole batch (the
    mixed-scale case fails, the evenly shifted ones pass), a fixed divisor (the same K/factor
    in cases with different K). A student's inf or NaN is evidence like any other number: the
    arithmetic on it is quiet (no RuntimeWarning on the grader's stderr). Every finding (the
    run's and each case's) is told in ``words``, the course's.
    """
    with np.errstate(all="ignore"):
        findings = _diagnose(outcomes)
    for finding in findings + [f for o in outcomes for f in o.findings]:
        finding.words = words
        for follow_on in finding.follow_ons:
            follow_on.words = words
    return findings


def _diagnose(outcomes: list) -> list:
    grouped: dict[str, Finding] = {}
    batch_max = _whole_batch_max(outcomes)
    for o in outcomes:
        if o.ok:
            continue
        for finding in _case_findings(o, batch_max):
            if finding.key in grouped:
                grouped[finding.key].where.extend(finding.where)
                grouped[finding.key].numbers.extend(finding.numbers)
                grouped[finding.key].follow_ons.extend(finding.follow_ons)
                grouped[finding.key].rank = min(grouped[finding.key].rank, finding.rank)
            else:
                grouped[finding.key] = Finding(finding.key, finding.phrase, finding.rank, list(finding.where),
                                               list(finding.numbers), finding.certainty, list(finding.follow_ons))
    divisor = _fixed_divisor(outcomes, grouped)
    if divisor is not None:
        grouped = {divisor.key: divisor, **grouped}

    # The cause seen in most cases first (a coincidental match rarely repeats), then by rank:
    # parameter detectors, then the loss, then case-level hints, each by specificity.
    def order_key(f):
        return -len({w.partition(":")[0] for w in f.where}), f.rank

    specific = sorted(grouped.values(), key=order_key)
    patterns = _patterns(outcomes)
    for finding in patterns:
        finding.rank = len(PARAM_DETECTORS) + 2
    result = specific + patterns
    if not result and any(not o.ok for o in outcomes):
        worst = max((o for o in outcomes if not o.ok), key=lambda o: max(o.max_rel_error.values()))
        name = max(worst.max_rel_error, key=worst.max_rel_error.get)
        result.append(Finding("unrecognised", f"no known bug matches; the largest error is in {name} on "
                                              f"{worst.case.name} (see its table)", where=[f"{worst.case.name}:{name}"]))
    return result
