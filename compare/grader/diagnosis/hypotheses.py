"""The catalogue of known bugs: each one the network (or loss) that has it, run through autograd.

A ``Hypothesis`` says when it applies to a case and how to compute the (loss, grads) of a
network with that bug (``diagnosis.variants``); a student's numbers that match them to rounding
are that bug. ``HYPOTHESES`` is the whole catalogue, most specific first: a new known bug is one
entry here (its key, its words, when it applies, what it computes) and nothing else — the
detectors try every entry, on each gradient and on the loss, and ``Hypothesis.finding`` turns a
match into its finding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from compare.grader.course import cases as C
from compare.grader.diagnosis.findings import Finding
from compare.grader.diagnosis.variants import altered_loss_and_grads

LABEL_SHIFTS = (+1, -1, +2, -2)  # the label hypotheses, in this order


@dataclass(frozen=True)
class Hypothesis:
    """A known bug, as the (loss, grads) autograd computes for a network that has it.

    Frozen and hashable: a hypothesis is the key of what it computes on a case (kept with the
    case's reference, shared by every submission unless ``per_submission``).
    """

    key: str
    message: str
    applies: Callable  # (Case, Evidence) -> bool
    compute: Callable  # (Evidence) -> (loss, grads)
    shift: int = 0  # a label hypothesis: the labels y + shift (mod m)
    per_submission: bool = False  # depends on the submission (its initial params), not on the case alone

    def finding(self, case: C.Case) -> Finding:
        """The finding a match on ``case`` gives: labels y + shift also name every shift equal to it mod m."""
        if not self.shift:
            return Finding(self.key, self.message, hypothesis=self)
        m = case.sizes[-1]
        shifts = [t for t in LABEL_SHIFTS if (t - self.shift) % m == 0]
        return Finding(self.key, "{labels}", numbers=[{"case": case.name, "shifts": shifts}], hypothesis=self)


# ----------------------------------------------------------------------------- when a hypothesis applies
def _relu_has_zeros(case, ev):
    return case.activation == "relu" and any(np.any(a == 0) for a in ev.pre_activations)


def _is(*activations):
    return lambda case, ev: case.activation in activations


def _always(case, ev):
    return True


def _batch(case, ev):
    return case.K > 1


def _has_square_hidden_weight(case, ev):
    return any(case.sizes[i] == case.sizes[i + 1] for i in range(1, case.n_layers))


# ----------------------------------------------------------------------------- what it computes
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
    return altered_loss_and_grads(ev.case, derivative=_FUNCTION[ev.case.activation])


def _shifted(shift):
    return lambda ev: altered_loss_and_grads(ev.case, labels=(ev.case.y + shift) % ev.case.sizes[-1])


def _only(row, per_example):
    def compute(ev):
        K = ev.case.K
        return altered_loss_and_grads(ev.case, rows=[row % K], scale=1.0 if per_example else 1.0 / K)
    return compute


def _softmax_over_batch(ev):
    def output_grad(o, y):
        return (torch.softmax(o, dim=0) - F.one_hot(y, o.shape[1])) / len(y)
    return altered_loss_and_grads(ev.case, output_grad=output_grad)


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
               "ReLU derivative at 0: your gradients match {rect}'(0) = 1 (a mask {ha} >= 0); the convention "
               "is {rect}'(0) = 0, i.e. the mask 1[{ha} > 0]{hw:1.7}, as torch has it",
               _relu_has_zeros, _derivative(lambda x: (x >= 0).to(x.dtype))),
    Hypothesis("relu-mask-inverted",
               "ReLU mask inverted: ∂L/∂{ha} uses 1[{ha} <= 0] instead of 1[{ha} > 0]",
               _is("relu"), _derivative(lambda x: (x <= 0).to(x.dtype))),
    Hypothesis("relu-times-output",
               "ReLU derivative: ∂L/∂{hs} is multiplied by {hs} = {rect}({ha}) instead of by {rect}'({ha}) = 1[{ha} > 0]",
               _is("relu"), _derivative(torch.relu)),
    Hypothesis("no-activation-derivative",
               "the activation's derivative is missing: ∂L/∂{ha} = ∂L/∂{hs} ⊙ act'({ha}) (for ReLU the mask "
               "1[{ha} > 0]), you use ∂L/∂{ha} = ∂L/∂{hs}",
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
               "activation derivative evaluated at {hs} (after the activation) instead of at {ha}: "
               "e.g. σ'({hs}) where σ'({ha}) = {hs}(1 - {hs}) is meant",
               _is("sigmoid", "tanh", "softplus"), _at_output),
    Hypothesis("function-as-derivative",
               "the activation itself is used as its derivative: ∂L/∂{ha} = ∂L/∂{hs} ⊙ act({ha}) instead of act'({ha})",
               _is("sigmoid", "tanh", "softplus"), _function_as_derivative),
    *[Hypothesis("label-shift", "", _always, _shifted(shift), shift) for shift in LABEL_SHIFTS],
    Hypothesis("activation-on-scores",
               "the activation is applied to the output scores too: the softmax must get the last layer's "
               "{oa} = {last_affine} as it is (no activation after the last layer)",
               _always, lambda ev: altered_loss_and_grads(ev.case, scores_activation="backprop")),
    Hypothesis("activation-on-scores",
               "the activation is applied to the output scores too (and backprop starts from the softmax as if it "
               "were not): the softmax must get the last layer's {oa} = {last_affine} as it is (no activation "
               "after the last layer)",
               _always, lambda ev: altered_loss_and_grads(ev.case, scores_activation="forward")),
    Hypothesis("onehot-missing",
               "onehot(y) is not subtracted: you use ∂L/∂{oa} = {os}, it is {os} - onehot(y){hw:2.7}",
               _always, lambda ev: altered_loss_and_grads(ev.case, onehot=False)),
    Hypothesis("untransposed-weight-in-backprop",
               "backprop into the hidden layer goes through W instead of Wᵀ: {back_W2} "
               "{hw:2.12} (batched: δ W2); the shapes only agree because this W2 is square",
               _has_square_hidden_weight, lambda ev: altered_loss_and_grads(ev.case, untransposed=True)),
    Hypothesis("softmax-axis",
               "softmax over the wrong axis: your {os} is normalised over the batch (axis 0) instead of over "
               "the classes of each example (axis 1 when X is (K, d))",
               _always, _softmax_over_batch),
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
