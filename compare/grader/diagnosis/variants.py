"""Deliberately broken networks: what autograd computes for the case's network altered in one way.

A known bug is recognised by computing what it produces: the case's own network (the judging
reference, ``reference.TorchMLP`` in float64) with one thing changed — an activation whose
backward uses another derivative, other labels, only some examples, another activation, backprop
through W instead of Wᵀ, an activation on the output scores — and autograd run through it. The
hypotheses (``diagnosis.hypotheses``) are built from these; nothing here is written by hand but
the altered pieces themselves.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from compare.grader.course import cases as C
from compare.grader.judging.reference import reference_model


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
    lambdas = case.lambdas if lambdas is None else lambdas

    def act(a):
        return model.activation(a) if derivative is None else _WithDerivative.apply(a, model.activation, derivative)

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
        penalty = model.penalty(lambdas)
        outputs, seeds = [logits], [output_grad(logits.detach(), y)]
        if penalty.requires_grad:
            outputs.append(penalty)
            seeds.append(torch.ones_like(penalty))
        torch.autograd.backward(outputs, seeds)
        return float("nan"), _grads(model)
    index = slice(None) if rows is None else list(rows)
    per_example = (F.cross_entropy(logits[index], y[index], reduction="none") if onehot
                   else torch.logsumexp(logits[index], dim=1))
    data = per_example.sum() * (1.0 / case.K if scale is None else scale)
    loss = data + model.penalty(lambdas)
    loss.backward()
    return float(loss.item()), _grads(model)


def _grads(model) -> dict:
    return {name: p.grad.detach().numpy().copy() for name, p in model.named_manual_parameters().items()}
