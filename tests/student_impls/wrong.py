"""Deliberately wrong implementations: each breaks exactly one step of ``student.StudentMLP``.

``tests/test_validate.py`` holds, for each class, the phrase its diagnosis must contain.
"""

from __future__ import annotations

import numpy as np
from fc_net import TwoLayerNet, affine_backward, affine_forward, relu_backward, relu_forward, softmax_loss
from student import StudentMLP, _sigmoid


class SumNotMean(StudentMLP):
    def average(self, total, K):
        return dict(total)


class MeanTwice(StudentMLP):
    def average(self, total, K):
        return {name: g / K / K for name, g in total.items()}


class ReluGradAtZero(StudentMLP):
    def act_grad(self, a):
        return (a >= 0).astype(float) if self.activation == "relu" else super().act_grad(a)


class ReluNoMask(StudentMLP):
    def act_grad(self, a):
        return np.ones_like(a) if self.activation == "relu" else super().act_grad(a)


class BiasRegularised(StudentMLP):
    def penalty(self, lambdas):
        total = super().penalty(lambdas)
        for layer in range(1, self.L + 1):
            total += lambdas[2 * layer - 2] * np.abs(self.b(layer)).sum() + lambdas[2 * layer - 1] * (self.b(layer) ** 2).sum()
        return total

    def add_penalty(self, grads, lambdas):
        super().add_penalty(grads, lambdas)
        for layer in range(1, self.L + 1):
            lam1, lam2 = lambdas[2 * layer - 2], lambdas[2 * layer - 1]
            grads[f"b{layer}"] = grads[f"b{layer}"] + lam1 * np.sign(self.b(layer)) + 2 * lam2 * self.b(layer)


class L2FactorTwo(StudentMLP):
    def penalty_grad(self, layer, lam1, lam2):
        return lam1 * np.sign(self.W(layer)) + lam2 * self.W(layer)  # λW instead of 2λW


class L1Missing(StudentMLP):
    def penalty_grad(self, layer, lam1, lam2):
        return 2 * lam2 * self.W(layer)


class PenaltyMissingFromGrad(StudentMLP):
    def add_penalty(self, grads, lambdas):
        pass


class PenaltyMissingFromLoss(StudentMLP):
    def penalty(self, lambdas):
        return 0.0


class NoPenaltyOnLayer2(StudentMLP):
    """Regularises W1 only (loss and gradient)."""

    def penalty(self, lambdas):
        return lambdas[0] * np.abs(self.W(1)).sum() + lambdas[1] * (self.W(1) ** 2).sum()

    def add_penalty(self, grads, lambdas):
        grads["W1"] = grads["W1"] + self.penalty_grad(1, lambdas[0], lambdas[1])


class LambdasSwapped(StudentMLP):
    def penalty_grad(self, layer, lam1, lam2):
        return lam2 * np.sign(self.W(layer)) + 2 * lam1 * self.W(layer)


class TransposedW1(StudentMLP):
    """Computes ∂L/∂W1 as inputᵀ·δ: the (in, out) transpose, returned as is."""

    def loss_and_grads(self, X, y, lambdas):
        loss, grads = super().loss_and_grads(X, y, lambdas)
        grads["W1"] = grads["W1"].T.copy()
        return loss, grads


class NaiveSoftmax(StudentMLP):
    def softmax(self, o):
        e = np.exp(o)
        return e / e.sum()

    def nll(self, o, y):
        return -np.log(self.softmax(o)[y])


class SignFlipped(StudentMLP):
    def grad_output(self, o, y):
        return self.onehot(y, len(o)) - self.softmax(o)


class SigmoidGradFromX(StudentMLP):
    def act_grad(self, a):
        return a * (1 - a) if self.activation == "sigmoid" else super().act_grad(a)


class TanhGradNoSquare(StudentMLP):
    def act_grad(self, a):
        return 1 - np.tanh(a) if self.activation == "tanh" else super().act_grad(a)


class SoftplusGradSign(StudentMLP):
    def act_grad(self, a):
        return _sigmoid(-a) if self.activation == "softplus" else super().act_grad(a)


class LabelOffByOne(StudentMLP):
    def grad_output(self, o, y):
        return self.softmax(o) - self.onehot((y + 1) % len(o), len(o))


class OnehotMissing(StudentMLP):
    def grad_output(self, o, y):
        return self.softmax(o)


class LastExampleOnly(StudentMLP):
    def accumulate(self, total, grads):
        total.update(grads)  # = instead of +=


class PreActivationAsInput(StudentMLP):
    def weight_grad(self, layer, delta, inp, pre):
        return np.outer(delta, pre if pre is not None else inp)


class IgnoresParams(StudentMLP):
    """Keeps its own copies of the parameters and never looks at ``params`` again."""

    def __init__(self, sizes, activation="relu"):
        super().__init__(sizes, activation)
        self._own = {name: v.copy() for name, v in self.params.items()}

    def W(self, layer):
        return self._own[f"W{layer}"]

    def b(self, layer):
        return self._own[f"b{layer}"]


class AccumulatesAcrossCalls(StudentMLP):
    """Keeps its gradient buffers on the object and never resets them."""

    def loss_and_grads(self, X, y, lambdas):
        if not hasattr(self, "grads"):
            self.grads = self.zeros()
        K, loss = X.shape[0], 0.0
        for i in range(K):
            loss_i, grads_i = self.backprop_one(X[i], int(y[i]))
            loss += loss_i / K
            for name, g in grads_i.items():
                self.grads[name] += g / K
        self.add_penalty(self.grads, lambdas)
        return loss + self.penalty(lambdas), dict(self.grads)


class Float32(StudentMLP):
    def backprop_one(self, x, y):
        saved = self.params
        self.params = {n: v.astype(np.float32) for n, v in saved.items()}
        try:
            loss, grads = super().backprop_one(x.astype(np.float32), y)
        finally:
            self.params = saved
        return loss, {n: g.astype(np.float64) for n, g in grads.items()}


class IgnoresActivation(StudentMLP):
    """Accepts any activation name but always computes ReLU."""

    def __init__(self, sizes, activation="relu"):
        super().__init__(sizes, "relu")
        self.asked = activation


class LossSumNotMean(StudentMLP):
    def reduce_loss(self, loss_sum, K):
        return loss_sum


class _MatrixStudent:
    """A matrix (whole-batch) implementation; ``probabilities_and_loss`` is where each subclass's bug sits."""

    def __init__(self, sizes, activation="relu"):
        self.net = StudentMLP(sizes, activation)
        self.params = self.net.params

    def probabilities_and_loss(self, oa, y, K):
        raise NotImplementedError

    def loss_and_grads(self, X, y, lambdas):
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        K = X.shape[0]
        ha = X @ W1.T + b1
        hs = self.net.act(ha)
        oa = hs @ W2.T + b2
        os_, nll = self.probabilities_and_loss(oa, y, K)
        loss = nll + self.net.penalty(lambdas)
        d_oa = (os_ - np.eye(oa.shape[1])[y]) / K
        d_ha = (d_oa @ W2) * self.net.act_grad(ha)
        grads = {"W1": d_ha.T @ X, "b1": d_ha.sum(0), "W2": d_oa.T @ hs, "b2": d_oa.sum(0)}
        self.net.add_penalty(grads, lambdas)
        return loss, grads


class MatrixSoftmaxAxis(_MatrixStudent):
    """A matrix (whole-batch) implementation whose softmax normalises over the batch axis."""

    def probabilities_and_loss(self, oa, y, K):
        shifted = oa - oa.max(axis=1, keepdims=True)
        log_os = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        e = np.exp(oa - oa.max(axis=0))
        return e / e.sum(axis=0), -log_os[np.arange(K), y].mean()  # bug: axis 0 is the batch


class GradientTimesM(StudentMLP):
    def average(self, total, K):
        m = self.sizes[-1]
        return {name: g / K * m for name, g in total.items()}


class UntransposedBackprop(StudentMLP):
    """∂L/∂h^s = W δ instead of Wᵀ δ: runs while W2 is square, then crashes on its own."""

    def backprop_matrix(self, layer):
        return self.W(layer)


class FixedBatch100(StudentMLP):
    """Divides the loss and the gradients by a batch size of 100 written into the code, not by K."""

    def average(self, total, K):
        return {name: g / 100 for name, g in total.items()}

    def reduce_loss(self, loss_sum, K):
        return loss_sum / 100


class WholeBatchMax(_MatrixStudent):
    """A matrix implementation whose softmax subtracts ONE max over the whole batch (o - o.max()),
    not each example's own max: right until two examples' logits are ~1000 apart."""

    def probabilities_and_loss(self, oa, y, K):
        with np.errstate(divide="ignore", invalid="ignore"):
            e = np.exp(oa - oa.max())  # bug: one max for the whole batch
            os_ = e / e.sum(axis=1, keepdims=True)
            return os_, -np.log(os_[np.arange(K), y]).mean()


class LogEpsilon(StudentMLP):
    """The loss is -log(o^s_y + 1e-9) (an ε "to avoid log 0"); the gradients are exact."""

    def nll(self, o, y):
        return -np.log(self.softmax(o)[y] + 1e-9)


class LabelShiftedByTwo(StudentMLP):
    def grad_output(self, o, y):
        return self.softmax(o) - self.onehot((y + 2) % len(o), len(o))


class LabelShiftedBackByOne(StudentMLP):
    def grad_output(self, o, y):
        return self.softmax(o) - self.onehot((y - 1) % len(o), len(o))


class ActivationOnScores(StudentMLP):
    """The hidden activation applied to the output scores too, and backpropagated through."""

    def nll(self, o, y):
        return super().nll(self.act(o), y)

    def grad_output(self, o, y):
        return super().grad_output(self.act(o), y) * self.act_grad(o)


class ActivationOnScoresForwardOnly(ActivationOnScores):
    """... in the forward pass only: backprop starts from the softmax as if it were not there."""

    def grad_output(self, o, y):
        return StudentMLP.grad_output(self, self.act(o), y)


class PenaltyValueInGrad(StudentMLP):
    """Adds the penalty's value (a number) to ∂L/∂W where its gradient was meant."""

    def penalty_grad(self, layer, lam1, lam2):
        W = self.W(layer)
        return lam1 * np.abs(W).sum() + lam2 * (W ** 2).sum()


# ----------------------------------------------------------------------------- CS231n assignment 2's API
class Cs231nNet(TwoLayerNet):
    """``fc_net.TwoLayerNet`` as a student writes it, one step at a time, so that each bug below
    changes one step (graded with ``--preset cs231n-a2``: 0.5·reg·Σ‖W‖², W1 (D, H))."""

    def scores_of(self, X):
        hidden, cache1 = affine_forward(X, self.params["W1"], self.params["b1"])
        hidden, relu_cache = relu_forward(hidden)
        scores, cache2 = affine_forward(hidden, self.params["W2"], self.params["b2"])
        return scores, (cache1, relu_cache, cache2)

    def data_loss(self, scores, y):
        return softmax_loss(scores, y)

    def backward(self, dscores, caches, grads):
        cache1, relu_cache, cache2 = caches
        dhidden, grads["W2"], grads["b2"] = affine_backward(dscores, cache2)
        dhidden = relu_backward(dhidden, relu_cache)
        _, grads["W1"], grads["b1"] = affine_backward(dhidden, cache1)

    def add_reg(self, grads):
        grads["W1"] += self.reg * self.params["W1"]
        grads["W2"] += self.reg * self.params["W2"]

    def loss(self, X, y=None):
        scores, caches = self.scores_of(X)
        if y is None:
            return scores
        loss, dscores = self.data_loss(scores, y)
        W1, W2 = self.params["W1"], self.params["W2"]
        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        grads = {}
        self.backward(dscores, caches, grads)
        self.add_reg(grads)
        return loss, grads


class Cs231nRegOnlyInUpdate(Cs231nNet):
    """reg·W left out of grads (the student adds it in the SGD step instead)."""

    def add_reg(self, grads):
        pass


class Cs231nRegValueInGrad(Cs231nNet):
    """grads['W'] += 0.5·reg·np.sum(W*W): the penalty's value where its gradient reg·W was meant."""

    def add_reg(self, grads):
        for name in ("W1", "W2"):
            grads[name] += 0.5 * self.reg * np.sum(self.params[name] * self.params[name])


class Cs231nReluOnScores(Cs231nNet):
    """ReLU after the last affine layer too, backpropagated through."""

    def scores_of(self, X):
        scores, caches = super().scores_of(X)
        relu_scores, score_cache = relu_forward(scores)
        return relu_scores, (*caches, score_cache)

    def backward(self, dscores, caches, grads):
        *caches, score_cache = caches
        super().backward(relu_backward(dscores, score_cache), tuple(caches), grads)


class Cs231nReluOnScoresForwardOnly(Cs231nReluOnScores):
    """... backprop from dscores as if the ReLU were not there."""

    def backward(self, dscores, caches, grads):
        Cs231nNet.backward(self, dscores, tuple(caches[:3]), grads)


class Cs231nSumNotMean(Cs231nNet):
    """The data loss and its gradient summed over the batch, not averaged."""

    def data_loss(self, scores, y):
        loss, dscores = softmax_loss(scores, y)
        return loss * len(y), dscores * len(y)
