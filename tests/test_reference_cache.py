"""compare.grader.judging.reference: the reference of each case is computed once, shared by threads,
and known by the case's content (never by ``id()``)."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from compare.grader.course import cases as C
from compare.grader.course.assignment import preset
from compare.grader.judging import battery
from compare.grader.judging import reference as R
from compare.lab.config import lambda_pairs

MINI = next(c for c in C.battery("relu") if c.name == "relu/minibatch")


def copy_of(case: C.Case) -> C.Case:
    """Another object with the same content (new arrays, equal values)."""
    return replace(case, X=np.array(case.X), y=np.array(case.y), params={k: np.array(v) for k, v in case.params.items()})


def test_a_case_is_known_by_its_content():
    cache = R.ReferenceCache()
    twin = copy_of(MINI)
    assert twin is not MINI and twin.fingerprint == MINI.fingerprint
    assert cache.of(twin) is cache.of(MINI) and len(cache) == 1
    params = dict(twin.params)
    params["b2"] = params["b2"] + np.array([0.0, 2.0 ** -40])  # one entry, one rounding step away
    other = replace(twin, params=params)
    assert other.fingerprint != MINI.fingerprint and cache.of(other) is not cache.of(MINI) and len(cache) == 2
    assert replace(MINI, lambdas=(0.0, 0.011, 0.0, 0.013)).fingerprint != MINI.fingerprint


def test_the_reference_is_autograds_and_each_part_is_computed_once(monkeypatch):
    calls = []
    real = R.reference_loss_and_grads

    def counted(case, with_penalty=True):
        calls.append(with_penalty)
        return real(case, with_penalty)

    monkeypatch.setattr(R, "reference_loss_and_grads", counted)
    found = R.ReferenceCache().of(MINI)
    loss, grads = found.loss_and_grads
    assert (loss, list(grads)) == (real(MINI)[0], ["W1", "b1", "W2", "b2"])
    assert found.loss == loss and found.grads is grads and found.data[0] < loss + 1e-12
    np.testing.assert_array_equal(found.penalty_grads["W1"], grads["W1"] - found.data[1]["W1"])
    again = [(found.loss_and_grads, found.data, found.penalty_grads) for _ in range(3)]
    assert all(a[0] is again[0][0] and a[1] is again[0][1] for a in again) and calls == [True, False]
    assert found.remember("x", lambda: 1) == 1 and found.remember("x", lambda: 2) == 1


def test_threads_asking_for_one_case_share_one_computation(monkeypatch):
    """Eight threads ask at once: one computes, the others wait for its answer. (If a second thread
    ever got in, it would release the first at once; with the lock, the first waits out its bound.)"""
    calls, second_entered = [], threading.Event()
    real = R.reference_loss_and_grads

    def slow(case, with_penalty=True):
        calls.append(threading.current_thread().name)
        if len(calls) > 1:
            second_entered.set()
        second_entered.wait(timeout=0.5)  # only a broken lock lets a second thread in here
        return real(case, with_penalty)

    monkeypatch.setattr(R, "reference_loss_and_grads", slow)
    cache, start, answers = R.ReferenceCache(), threading.Barrier(8), []

    def ask():
        start.wait()
        answers.append(cache.of(copy_of(MINI)).loss_and_grads)

    threads = [threading.Thread(target=ask, name=f"asker-{i}") for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and not second_entered.is_set()
    assert len(answers) == 8 and all(answer is answers[0] for answer in answers)


def test_canonical_cases_are_one_object_per_penalty_and_case():
    cs231n, homework = preset("cs231n-a2"), preset("homework")
    reg = next(c for c in C.battery("relu") if c.name == "relu/regularised")
    assert battery.canonical(homework, reg) is reg  # the homework's own elastic net
    once = battery.canonical(cs231n, reg)
    assert once is battery.canonical(cs231n, copy_of(reg)) and once is not reg
    assert {l1 for l1, _ in lambda_pairs(once.lambdas)} == {0.0} and battery.reference(once) is battery.reference(copy_of(once))


def test_a_case_cannot_be_asked_for_with_a_bad_layer():
    with pytest.raises(ValueError, match="layer must be an int from 1 to 2"):
        MINI.layer_lambdas(3)
