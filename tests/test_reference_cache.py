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


# ----------------------------------------------------------------------------- the numbers themselves
REG = next(c for c in C.battery("tanh") if c.name == "tanh/regularised")
DEEP = next(c for c in C.battery("tanh") if c.name == "tanh/two-hidden")


def by_hand(case: C.Case) -> dict:
    """The forward and backward pass written out in NumPy (W as (out, in), the mean NLL): each layer's
    pre-activation a_l and δ_l = ∂NLL/∂a_l."""
    assert case.activation == "tanh"
    L, h, pre = case.n_layers, np.array(case.X), []
    for layer in range(1, L + 1):
        a = h @ case.params[f"W{layer}"].T + case.params[f"b{layer}"]
        pre.append(a)
        h = np.tanh(a)
    logits = pre[-1]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    delta = [None] * L
    delta[-1] = (p - np.eye(case.sizes[-1])[case.y]) / case.K
    for layer in range(L - 1, 0, -1):
        delta[layer - 1] = (delta[layer] @ case.params[f"W{layer + 1}"]) * (1 - np.tanh(pre[layer - 1]) ** 2)
    return {"pre": pre, "delta": delta}


@pytest.mark.parametrize("case", [MINI, DEEP], ids=lambda c: c.name)
def test_the_tape_holds_every_layers_pre_activations_and_deltas(case):
    """What the diagnosis reads (which layer's δ goes wrong first) is each layer's a_l and ∂NLL/∂a_l,
    the logits last, in float64 copies a reader may keep."""
    tanh_case = replace(case, activation="tanh") if case.activation != "tanh" else case
    expected, found = by_hand(tanh_case), R.ReferenceCache().of(tanh_case)
    tape = found.tape
    assert sorted(tape) == ["delta", "pre"] and len(tape["pre"]) == len(tape["delta"]) == tanh_case.n_layers
    for ours, theirs in zip(tape["pre"] + tape["delta"], expected["pre"] + expected["delta"], strict=True):
        assert ours.dtype == np.float64 and ours.flags.writeable
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    hidden = found.pre_activations
    assert len(hidden) == tanh_case.n_layers - 1
    for ours, theirs in zip(hidden, expected["pre"][:-1], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert found.tape is tape  # computed once


def test_the_reference_loss_includes_the_penalty_and_the_data_term_leaves_it_out():
    """loss = mean NLL + Σ λ1‖W‖₁ + λ2‖W‖²: the default reading is the whole loss, ``data`` the NLL alone,
    and ``penalty_grads`` the penalty's own gradient (λ1 sign W + 2 λ2 W, nothing for a bias)."""
    from compare.grader.course import conventions as V

    penalty, penalty_grads = V.penalty_parts(REG)
    assert penalty > 0.05
    loss, grads = R.reference_loss_and_grads(REG)
    nll, nll_grads = R.reference_loss_and_grads(REG, with_penalty=False)
    assert loss == pytest.approx(nll + penalty, rel=1e-12)
    expected_nll = by_hand(REG)
    p = np.exp(expected_nll["pre"][-1])
    p /= p.sum(axis=1, keepdims=True)
    assert nll == pytest.approx(float(np.mean(-np.log(p[np.arange(REG.K), REG.y]))), rel=1e-12)
    found = R.ReferenceCache().of(REG)
    assert found.loss == pytest.approx(loss, rel=1e-15) and found.data[0] == pytest.approx(nll, rel=1e-15)
    for name in grads:
        want = penalty_grads.get(name, np.zeros_like(grads[name]))
        np.testing.assert_allclose(found.penalty_grads[name], want, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(grads[name] - nll_grads[name], want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("first", "second"), [
    ("cs231n", "cs231n-2016"),  # one penalty, reg·‖W‖² then 0.5·reg·‖W‖²
    ("cs231n-2016", "cs231n"),
    ("cs231n", "no-penalty"),  # one l2_factor, the L2 penalty then none
])
def test_the_canonical_case_of_one_assignment_is_never_handed_to_another(first, second):
    """A cache shared by a class (or an autograder process) that grades under two assignments: each gets
    the case restated under its own penalty and factor (λ_l2 = reg·l2_factor; 0 without a penalty)."""
    assignments = {"cs231n": preset("cs231n"), "cs231n-2016": preset("cs231n-2016"),
                   "no-penalty": replace(preset("cs231n"), name="no-penalty", penalty="none")}
    cache = R.ReferenceCache()
    reg = next(c for c in C.battery("relu") if c.name == "relu/regularised")
    l2 = reg.layer_lambdas(1)[1]
    want = {"cs231n": (0.0, l2, 0.0, l2), "cs231n-2016": (0.0, l2 / 2, 0.0, l2 / 2), "no-penalty": (0.0,) * 4}
    for name in (first, second, first):
        assert cache.canonical(assignments[name], reg).lambdas == pytest.approx(want[name], rel=1e-15)


def test_the_canonical_case_is_the_case_asked_for():
    """Two cases under one assignment: each gets its own restatement (its own batch and parameters)."""
    cache, cs231n = R.ReferenceCache(), preset("cs231n")
    first, second = (next(c for c in C.battery("relu") if c.name == f"relu/{n}") for n in ("regularised", "minibatch"))
    one, two = cache.canonical(cs231n, first), cache.canonical(cs231n, second)
    assert one.name == first.name and two.name == second.name
    np.testing.assert_array_equal(two.X, second.X)


def test_every_case_holds_float64_inputs_and_int64_labels():
    """What the reference's arrays are built from (the equivalents argued in tests/mutate.py rest on it)."""
    for activation in C.ACTIVATIONS:
        for case in C.battery(activation):
            assert case.X.dtype == np.float64 and case.y.dtype == np.int64, case.name
