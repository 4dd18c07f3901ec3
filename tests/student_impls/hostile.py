"""Implementations that break the contract: each must give exit status 2 and a clear reason.

``tests/test_validate.py`` holds, for each factory, the phrase its one-line reason must contain.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from student import StudentMLP

NOT_A_FACTORY = 42


def raises(sizes, activation):
    raise RuntimeError("my network is not ready")


def returns_none(sizes, activation):
    return None


class NoLossAndGrads:
    def __init__(self, sizes, activation):
        self.params = StudentMLP(sizes, activation).params


class ParamsTransposed(StudentMLP):
    """Stores W as (in, out): the X @ W convention, not nn.Linear's."""

    def __init__(self, sizes, activation):
        super().__init__(sizes, activation)
        self.params = {k: (v.T.copy() if k.startswith("W") else v) for k, v in self.params.items()}


class RaisesInLossAndGrads(StudentMLP):
    def loss_and_grads(self, X, y, lambdas):
        return 1 / 0


class ReturnsLossOnly(StudentMLP):
    def loss_and_grads(self, X, y, lambdas):
        return super().loss_and_grads(X, y, lambdas)[0]


class LossIsString(StudentMLP):
    def loss_and_grads(self, X, y, lambdas):
        return "small", super().loss_and_grads(X, y, lambdas)[1]


class GradsAsList(StudentMLP):
    def loss_and_grads(self, X, y, lambdas):
        loss, grads = super().loss_and_grads(X, y, lambdas)
        return loss, list(grads.values())


class GradsAsLists(StudentMLP):
    def loss_and_grads(self, X, y, lambdas):
        loss, grads = super().loss_and_grads(X, y, lambdas)
        return loss, {k: v.tolist() for k, v in grads.items()}


class WrongKeys(StudentMLP):
    def loss_and_grads(self, X, y, lambdas):
        loss, grads = super().loss_and_grads(X, y, lambdas)
        return loss, {"d" + k: v for k, v in grads.items()}


class ColumnBiases(StudentMLP):
    """Returns the bias gradients as (h, 1) columns, as the homework's printout shows them."""

    def loss_and_grads(self, X, y, lambdas):
        loss, grads = super().loss_and_grads(X, y, lambdas)
        return loss, {k: (v.reshape(-1, 1) if k.startswith("b") else v) for k, v in grads.items()}


class ReturnsNaN(StudentMLP):
    def loss_and_grads(self, X, y, lambdas):
        loss, grads = super().loss_and_grads(X, y, lambdas)
        grads["b1"] = grads["b1"] * np.nan
        return loss, grads


class MutatesX(StudentMLP):
    def loss_and_grads(self, X, y, lambdas):
        X -= X.mean(axis=0)  # "normalise" the caller's batch in place
        return super().loss_and_grads(X, y, lambdas)


class UpdatesParams(StudentMLP):
    """Takes an SGD step inside loss_and_grads."""

    def loss_and_grads(self, X, y, lambdas):
        loss, grads = super().loss_and_grads(X, y, lambdas)
        for name, g in grads.items():
            self.params[name] -= 0.1 * g
        return loss, grads


class ParamsCopies:
    """``params`` is a property that builds a new dict of copies: writes to it are lost."""

    def __init__(self, sizes, activation):
        self._net = StudentMLP(sizes, activation)

    @property
    def params(self):
        return {k: v.copy() for k, v in self._net.params.items()}

    def loss_and_grads(self, X, y, lambdas):
        return self._net.loss_and_grads(X, y, lambdas)


class HangsOnHugeInput(StudentMLP):
    """Fine on small inputs; on MNIST-width ones it never returns (a pure-Python busy loop)."""

    def loss_and_grads(self, X, y, lambdas):
        if X.shape[1] > 100:
            while True:
                pass
        return super().loss_and_grads(X, y, lambdas)


class HangsOnLargeBatch(StudentMLP):
    """Fine on small batches; from K = 500 on it never returns."""

    def loss_and_grads(self, X, y, lambdas):
        if X.shape[0] >= 500:
            time.sleep(3600)
        return super().loss_and_grads(X, y, lambdas)


class HangsInC(StudentMLP):
    """Never returns, inside one C call that holds the GIL (no thread can interrupt it)."""

    def loss_and_grads(self, X, y, lambdas):
        return sum(range(10**15)), {}


class Sleeps(StudentMLP):
    def loss_and_grads(self, X, y, lambdas):
        time.sleep(3600)


class SlowEveryCall(StudentMLP):
    """Each call well within the per-call limit, all of them together far over the budget."""

    def loss_and_grads(self, X, y, lambdas):
        time.sleep(0.6)
        return super().loss_and_grads(X, y, lambdas)


class ExitsProcess(StudentMLP):
    def loss_and_grads(self, X, y, lambdas):
        os._exit(3)


class CallsSysExit(StudentMLP):
    def loss_and_grads(self, X, y, lambdas):
        sys.exit("giving up")


class PrintsALot(StudentMLP):
    """Correct, but chatty: its prints must not reach (or break) the validator's output."""

    def loss_and_grads(self, X, y, lambdas):
        print("debug:", X.shape, file=sys.stdout)
        print("debug:", y, file=sys.stderr)
        return super().loss_and_grads(X, y, lambdas)
