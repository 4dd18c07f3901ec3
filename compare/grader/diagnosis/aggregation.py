"""The diagnosis of a whole run: each failing case's findings, then what only the run shows.

``diagnose_case`` runs the detectors on one case (every failing gradient, then the loss), folds
the findings a matched known bug explains under it (an all-zero gradient the bug predicts is a
follow-on, not a second bug) and adds hints from *which* parameters fail. ``diagnose`` groups the
cases' findings by key, adds what comes from comparing cases — one softmax max over the whole
batch, a fixed divisor in place of K, "it fails only where ..." patterns — and orders them, most
likely first. Every finding it hands out is final (``Finding`` is frozen), told in the course's
words.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from compare.grader.course import cases as C
from compare.grader.course.words import HOMEWORK, CourseWords
from compare.grader.diagnosis.detectors import (
    PARAM_DETECTORS,
    ParamView,
    detect_transposed,
    diagnose_param,
    transposed_phrase,
)
from compare.grader.diagnosis.evidence import Evidence, close, matches
from compare.grader.diagnosis.findings import HINT, PATTERN, Finding
from compare.grader.diagnosis.loss import LOSS_RANK, diagnose_loss
from compare.grader.judging.outcome import CaseOutcome

HINT_RANK = LOSS_RANK + 1  # which parameters fail: after the loss
PATTERN_RANK = LOSS_RANK + 2  # which cases fail: last


# ----------------------------------------------------------------------------- one case
def diagnose_case(o: CaseOutcome, ev: Evidence | None = None) -> list:
    """Findings for one failing case: per parameter, the loss, then case-level hints."""
    ev = Evidence.of(o) if ev is None else ev
    findings, explained = [], set()
    for name in o.transposed_shape:
        findings.append(Finding("transposed", transposed_phrase(name, tuple(o.student_grads[name].shape[::-1])),
                                rank=PARAM_DETECTORS.index(detect_transposed), where=[f"{o.case.name}:{name}"]))
        explained.add(name)
    for name, ok in o.passed.items():
        if ok or name == "loss":
            continue
        view = ParamView(o.case, name, o.student_grads[name], ev.reference_grads[name], ev,
                         previous=None if o.previous is None else o.previous.get(name),
                         loss_passed=o.passed["loss"], max_rel_error=o.max_rel_error[name])
        finding = diagnose_param(view)
        if finding is not None:
            findings.append(finding.placed(f"{o.case.name}:{name}"))
            explained.add(name)
    if not o.passed["loss"]:
        finding = diagnose_loss(ev, o.student_loss)
        if finding is not None:
            findings.append(finding.placed(f"{o.case.name}:loss"))
    findings = _fold_follow_ons(o, ev, findings, explained)
    findings += [f.placed(o.case.name, rank=HINT_RANK, certainty=HINT) for f in _layer_localisation(o, ev, explained)]
    return findings


def _fold_follow_ons(o: CaseOutcome, ev: Evidence, findings: list, explained: set) -> list:
    """A known bug matched in this case explains every gradient it predicts: a finding there (an
    all-zero gradient, a layer's hint) is a follow-on, told under the bug, not a second bug; a
    failing gradient no detector named, which the bug predicts, is one more place of the bug."""
    causes = [i for i, f in enumerate(findings) if f.hypothesis is not None]
    under: dict = {}  # index of a finding -> index of the cause it is told under
    for i, finding in enumerate(findings):
        _, _, name = finding.where[0].partition(":")
        cause = next((c for c in causes if c != i and findings[c].key != finding.key and name in o.student_grads
                      and _predicts(o, ev, findings[c].hypothesis, name)), None)
        if cause is not None:
            under[i] = cause
    places: dict = {c: [] for c in causes}
    for name, ok in o.passed.items():
        if not ok and name != "loss" and name not in explained:
            cause = next((c for c in causes if _predicts(o, ev, findings[c].hypothesis, name)), None)
            if cause is not None:
                places[cause].append(f"{o.case.name}:{name}")
                explained.add(name)

    def final(i: int, seen: frozenset) -> Finding:
        follow_ons = [final(j, seen | {j}) for j, c in under.items() if c == i and j not in seen]
        return findings[i].explaining(follow_ons, places.get(i, ()))

    return [final(i, frozenset({i})) for i in range(len(findings)) if i not in under]


def _predicts(o: CaseOutcome, ev: Evidence, hyp, name: str) -> bool:
    result = ev.hypothesis(hyp)
    return result is not None and matches(o.student_grads[name], result[1][name])


def _layer_localisation(o: CaseOutcome, ev: Evidence, explained: set) -> list:
    """Case-level hints from *which* parameters fail, for the ones no detector explained."""
    out = []
    failing = [n for n, ok in o.passed.items() if n != "loss" and not ok]
    L = o.case.n_layers
    if o.passed["loss"] and failing and not (set(failing) & explained):
        layers = sorted({int(n[1:]) for n in failing})
        if len(layers) == 1 and layers[0] < L:
            layer = layers[0]
            above = f"W{layer + 1}, b{layer + 1}" + ("…" if layer + 1 < L else "")
            told = (f"the loss and the gradients of the layers above ({above}) are right but layer {layer} "
                    f"({', '.join(failing)}) is wrong: the error enters when backpropagating from layer {layer + 1} "
                    f"into layer {layer}: ")
            out.append(Finding(f"layer-{layer}-wrong", {
                "out_in": told + f"∂L/∂{{hs}} = W{layer + 1}ᵀ ∂L/∂{{oa}}, ∂L/∂{{ha}} = ∂L/∂{{hs}} ⊙ act'({{ha}}), "
                                 f"∂L/∂W{layer} = ∂L/∂{{ha}} · inputᵀ",
                "in_out": told + f"∂L/∂{{hs}} = ∂L/∂{{oa}}·W{layer + 1}ᵀ, ∂L/∂{{ha}} = ∂L/∂{{hs}} ⊙ act'({{ha}}), "
                                 f"∂L/∂W{layer} = inputᵀ · ∂L/∂{{ha}}"}))
        elif layers == [L]:
            out.append(Finding(
                "output-layer-wrong",
                f"the loss is right but the output layer's gradients ({', '.join(failing)}) are wrong while the layers "
                f"below are right: check ∂L/∂W{L} = {{grad_W_out}} and ∂L/∂b{L} = ∂L/∂{{oa}}"))
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
        out.append(_loss_only(o, ev))
    return out


LOG_EPSILONS = tuple(10.0 ** -k for k in range(3, 17))  # the ε a student puts in log(p + ε)


def _loss_only(o: CaseOutcome, ev: Evidence) -> Finding:
    """Every gradient is exact, only the loss differs: say by how much, and name an ε inside the log."""
    ref = ev.reference_loss
    rel = abs(o.student_loss - ref) / max(abs(ref), 1e-300)
    size = "loss off by {rel} relative, gradients exact"
    numbers = [{"case": o.case.name, "rel": rel}]
    logits = ev.tape["pre"][-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    p_y = np.exp(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))[np.arange(o.case.K), o.case.y]
    pen = ref - ev.data[0]
    for eps in LOG_EPSILONS:
        if matches(o.student_loss, float(np.mean(-np.log(p_y + eps))) + pen):
            return Finding("loss-epsilon", size + f": an ε inside the log? Your loss is -log({{os}}_y + {eps:.0e}); "
                           "log {os}_y needs no ε when computed as ({oa}_y - max {oa}) - log Σ exp({oa} - max {oa})",
                           numbers=numbers)
    return Finding("loss-only", size + ": the bug is in how the loss value is computed, not in backprop",
                   numbers=numbers, certainty=HINT)


# ----------------------------------------------------------------------------- what only the run shows
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
     "it fails only at large logits (|{oa}| ≈ 1000): a numerically unstable softmax / log-softmax (subtract the max)"),
    (lambda c: C.ZERO_PREACT in c.tags, "pattern-zero-preactivation",
     "it fails only on the batch where some pre-activations are exactly 0: the ReLU derivative at 0 "
     "({rect}'(0) = 0, mask 1[{ha} > 0])"),
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
            cover = frozenset(c.name for c in all_cases if test(c))
            found.append((cover, Finding(key, message, rank=PATTERN_RANK, certainty=PATTERN)))
    return [f for cover, f in found if not any(other < cover for other, _ in found)]


BATCH_MAX = ("the softmax subtracts one max over the whole batch instead of each example's own max: it fails "
             "only where the examples' logits sit ~1000 apart ({cases}), while the cases that shift every example "
             "alike pass; subtract {oa}.max(axis=1, keepdims=True), one max per example")


def _whole_batch_max(outcomes) -> list:
    """The mixed-scale cases, when they fail while every other large-logit case passes (the control)."""
    stress = [o for o in outcomes if o.case.stress]
    mixed = [o for o in stress if C.MIXED_SCALES in o.case.tags]
    controls = [o for o in stress if C.MIXED_SCALES not in o.case.tags]
    if controls and all(o.ok for o in controls):
        return [o for o in mixed if not o.ok]
    return []


FACTOR_KEYS = ("sum-not-mean", "mean-twice", "constant-factor")


def _fixed_divisor(failing: list, grouped: dict) -> Finding | None:
    """Per-case factors K/D with the same D in every case: a batch size D written into the code.

    ÷K missing gives the factor K (D = 1: the sum, named as such), ÷K twice 1/K (D = K², not
    constant); only a divisor that does not follow K gives one D across cases with different K.
    ``failing`` is [(outcome, evidence)] in the run's order; the finding's ``where`` is every place
    the divisor explains.
    """
    records = [r for key in FACTOR_KEYS if key in grouped for r in grouped[key].numbers if "factor" in r]
    if len({r["K"] for r in records}) < 2:
        return None
    divisor = records[0]["K"] / records[0]["factor"]
    if close(divisor, 1.0) or not all(close(r["K"] / r["factor"], divisor) for r in records):
        return None
    explained = {r["where"] for r in records}
    for o, ev in failing:  # the loss, when it is K/D times its data part too
        if not o.passed["loss"] and np.isfinite(o.student_loss):
            nll = ev.data[0]
            factor = (o.student_loss - (ev.reference_loss - nll)) / nll
            if factor != 0 and close(o.case.K / factor, divisor):
                explained.add(f"{o.case.name}:loss")
    factors = ", ".join(dict.fromkeys(f"{r['factor']:.4g} at K = {r['K']}" for r in sorted(records, key=lambda r: r["K"])))
    what = "the gradients and the loss are" if any(w.endswith(":loss") for w in explained) else "the gradients are"
    place = {o.case.name: i for i, (o, _) in enumerate(failing)}
    return Finding("fixed-divisor",
                   f"divides by a fixed {divisor:g} instead of the batch size K: {what} K/{divisor:g} times the "
                   f"right ones in every case ({factors}); divide by K = X.shape[0]",
                   where=sorted(explained, key=lambda w: (place[w.partition(":")[0]], w)), numbers=records)


def _without(grouped: dict, places: set) -> dict:
    """The grouped findings, each without ``places`` (a finding left with no place is dropped)."""
    out = {}
    for key, finding in grouped.items():
        where = [w for w in finding.where if w not in places]
        if where:
            out[key] = finding if len(where) == len(finding.where) else replace(finding, where=where)
    return out


# ----------------------------------------------------------------------------- the run
def diagnose(outcomes: list, words: CourseWords = HOMEWORK) -> list:
    """The run's diagnosis: findings grouped by cause, most specific first, then the patterns.

    A finding seen in several cases names each case's own numbers (its K, its factor); the
    run-level findings come from comparing cases: one softmax max over the whole batch (the
    mixed-scale case fails, the evenly shifted ones pass), a fixed divisor (the same K/factor
    in cases with different K). A student's inf or NaN is evidence like any other number: the
    arithmetic on it is quiet (no RuntimeWarning on the grader's stderr). Every finding (the
    run's, and each case's, set once on its outcome) is told in ``words``, the course's.
    """
    with np.errstate(all="ignore"):
        findings, per_case = _diagnose(outcomes)
    for o, found in per_case:
        o.findings = tuple(f.told_in(words) for f in found)
    return [f.told_in(words) for f in findings]


def _diagnose(outcomes: list) -> tuple:
    failing = [(o, Evidence.of(o)) for o in outcomes if not o.ok]
    batch_max = _whole_batch_max(outcomes)
    grouped: dict[str, Finding] = {}
    per_case = []
    for o, ev in failing:
        if any(o is b for b in batch_max):
            found = [Finding("softmax-batch-max", BATCH_MAX, where=[o.case.name], numbers=[{"case": o.case.name}],
                             certainty=PATTERN)]
        else:
            found = diagnose_case(o, ev)
        per_case.append((o, found))
        for finding in found:
            grouped[finding.key] = grouped[finding.key].merged(finding) if finding.key in grouped else finding
    divisor = _fixed_divisor(failing, grouped)
    if divisor is not None:
        grouped = {divisor.key: divisor, **_without(grouped, set(divisor.where))}

    # The cause seen in most cases first (a coincidental match rarely repeats), then by rank:
    # parameter detectors, then the loss, then case-level hints, each by specificity.
    def order_key(f):
        return -len({w.partition(":")[0] for w in f.where}), f.rank

    result = sorted(grouped.values(), key=order_key) + _patterns(outcomes)
    if not result and failing:
        worst = max((o for o, _ in failing), key=lambda o: max(o.max_rel_error.values()))
        name = max(worst.max_rel_error, key=worst.max_rel_error.get)
        result.append(Finding("unrecognised", f"no known bug matches; the largest error is in {name} on "
                                              f"{worst.case.name} (see its table)", where=[f"{worst.case.name}:{name}"]))
    return result, per_case
