"""The reference a student's numbers are judged against: autograd on ``reference.TorchMLP``, float64.

``reference_loss_and_grads(case)`` is autograd's (loss, grads) for a case's own parameters,
batch and λs. ``CaseReference`` holds everything the grader asks autograd about one case (the
loss and gradients, the same without the penalty, every layer's pre-activations and deltas), each
computed at most once; ``ReferenceCache`` hands out one ``CaseReference`` per case, thread-safe,
so that a class of submissions — and the thread that warms the cache while a worker starts —
share them. ``REFERENCES`` is the grader's one cache.

A case is known by its content (``Case.fingerprint``: name, sizes, activation, λs and the bytes
of X, y and the parameters), never by ``id()``: two equal cases share one reference, and a case
that is freed cannot lend its id to another.

torch (and the ``reference`` package) is imported when a reference is first computed, not with
this module: the commands import the judging to refuse a bad flag or folder, which must not wait
seconds for torch.
"""

from __future__ import annotations

import threading

import numpy as np

from compare.grader.course import cases as C
from compare.grader.course import conventions as V
from compare.grader.course.assignment import Assignment


def reference_model(case: C.Case, activation=None, params=None):
    """reference.TorchMLP in float64 holding the case's parameters (or ``params``)."""
    import torch

    from reference import TorchMLP

    model = TorchMLP(case.sizes, activation or case.activation, dtype=torch.float64)
    return model.load_params(case.params if params is None else params)


def reference_loss_and_grads(case: C.Case, with_penalty: bool = True):
    """Autograd on the reference, the case's own parameters; the NLL alone if not ``with_penalty``."""
    from reference import autograd_loss_and_grads

    lambdas = case.lambdas if with_penalty else None
    return autograd_loss_and_grads(reference_model(case), np.array(case.X), np.array(case.y), lambdas)


def _tape(case: C.Case) -> dict:
    """Pre-activations a_l and deltas δ_l = ∂NLL/∂a_l of every layer (a_L are the logits)."""
    import torch
    from torch.nn import functional as F

    model = reference_model(case)
    h = torch.from_numpy(np.array(case.X, dtype=np.float64))
    pre = []
    for index, layer in enumerate(model.layers):
        a = layer(h)
        a.retain_grad()
        pre.append(a)
        h = model.activation(a) if index < len(model.layers) - 1 else a
    F.cross_entropy(h, torch.from_numpy(np.array(case.y, dtype=np.int64))).backward()

    def as_numpy(t):
        return t.detach().numpy().copy()

    return {"pre": [as_numpy(a) for a in pre], "delta": [as_numpy(a.grad) for a in pre]}


class CaseReference:
    """Autograd's numbers for one case, each computed on first use and kept.

    ``remember(key, compute)`` keeps any other value derived from the case alone (the diagnosis
    keeps what a known bug computes on it), under the same rule: computed once, by one thread.
    """

    def __init__(self, case: C.Case):
        self.case = case
        self._values: dict = {}
        self._lock = threading.RLock()  # reentrant: a value may be computed from another one

    def remember(self, key, compute):
        """``compute()``, the first time ``key`` is asked for; the same value every time after."""
        with self._lock:
            if key not in self._values:
                self._values[key] = compute()
            return self._values[key]

    @property
    def loss_and_grads(self) -> tuple:
        """(loss, {name: gradient}) of the whole loss, the penalty included."""
        return self.remember("loss_and_grads", lambda: reference_loss_and_grads(self.case))

    @property
    def loss(self) -> float:
        return self.loss_and_grads[0]

    @property
    def grads(self) -> dict:
        return self.loss_and_grads[1]

    @property
    def data(self) -> tuple:
        """(NLL, grads of the NLL): the data term alone, without the penalty."""
        return self.remember("data", lambda: reference_loss_and_grads(self.case, with_penalty=False))

    @property
    def penalty_grads(self) -> dict:
        """The penalty's part of each gradient (the whole gradient minus the data term's)."""
        return self.remember("penalty_grads", lambda: {name: self.grads[name] - self.data[1][name]
                                                       for name in self.grads})

    @property
    def tape(self) -> dict:
        """{"pre": [a_1, ..., a_L], "delta": [δ_1, ..., δ_L]}: each layer's pre-activations
        (a_L the logits) and ∂NLL/∂a_l, each (K, units)."""
        return self.remember("tape", lambda: _tape(self.case))

    @property
    def pre_activations(self) -> list:
        """Hidden pre-activations h^a of layers 1..L-1, each (K, units)."""
        return self.tape["pre"][:-1]


class ReferenceCache:
    """One ``CaseReference`` per case (by content), and one canonical case per assignment penalty
    and case; safe to share between threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._references: dict = {}  # case.fingerprint -> CaseReference
        self._canonicals: dict = {}  # (penalty, l2_factor, case.fingerprint) -> canonical case

    def of(self, case: C.Case) -> CaseReference:
        """The case's reference (its numbers are computed when first asked for)."""
        key = case.fingerprint
        with self._lock:
            found = self._references.get(key)
            if found is None:
                found = self._references[key] = CaseReference(case)
        return found

    def canonical(self, a: Assignment, case: C.Case) -> C.Case:
        """The case as the homework's elastic net under the assignment's penalty: the case itself
        when it is one already, else one object per penalty and case (its fingerprint worked out once)."""
        key = (a.penalty, float(a.l2_factor), case.fingerprint)
        with self._lock:
            found = self._canonicals.get(key)
            if found is None:
                found = self._canonicals[key] = V.canonical_case(a, case)
        return case if found.fingerprint == case.fingerprint else found

    def __len__(self) -> int:
        with self._lock:
            return len(self._references)


REFERENCES = ReferenceCache()
