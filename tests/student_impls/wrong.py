"""Deliberately wrong implementations: each breaks exactly one step of ``student.StudentMLP``.

``tests/test_validate.py`` holds, for each class, the phrase its diagnosis must contain.
"""

from __future__ import annotations

import numpy as np
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
