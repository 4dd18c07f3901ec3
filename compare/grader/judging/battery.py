"""Run the case battery on one submission, under an assignment's conventions, and judge it.

The order is the one a student needs: first the conventions, on a non-square net (5-4-3), so
that a network storing W as (in, out) is told exactly that before any value is compared; then
every case, in the assignment's layout (or the layout the submission was found to use); then,
if cases fail, whether another reading of the same numbers (the sum instead of the mean, the
penalty left out of the gradients) makes every case agree — the backprop is then right and
only a convention differs; then the diagnosis.

The reference (autograd on ``reference.TorchMLP``, float64) is computed once per case and
kept (``judging.reference.REFERENCES``): a class of submissions shares it.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import replace

import numpy as np

from compare.grader.course import cases as C
from compare.grader.course import conventions as V
from compare.grader.course.assignment import Assignment
from compare.grader.judging import harmless as H
from compare.grader.judging.outcome import CaseOutcome
from compare.grader.judging.records import TOL, CaseReport, Report, Row
from compare.grader.judging.reference import REFERENCES
from compare.grader.sandbox.errors import StudentError
from compare.lab.diff import compare_arrays

PROBE_SIZES = (5, 4, 3)  # every dimension distinct: a transposed weight cannot pass for the right one


@functools.lru_cache(maxsize=64)
def battery(activation: str, seed: int) -> tuple:
    return tuple(C.battery(activation, seed))


def canonical(a: Assignment, case: C.Case) -> C.Case:
    """The case as the homework's elastic net under the assignment's penalty (one object per
    penalty and case, kept by ``REFERENCES``)."""
    return REFERENCES.canonical(a, case)


def reference(case: C.Case):
    """Autograd's (loss, grads) for a canonical case, computed once per case per process."""
    return REFERENCES.of(case).loss_and_grads


def prepare(a: Assignment, seed: int = 0, stop: threading.Event | None = None) -> None:
    """Build every case the assignment may run and compute its reference (each once per process):
    for a class before its students, or in a thread while a worker starts (``stop`` ends it early)."""
    for activation in a.tried_activations:
        for case in battery(activation, seed):
            if stop is not None and stop.is_set():
                return
            reference(canonical(a, case))


def compare_case(case: C.Case, loss: float, grads: dict, initial_params=None, previous=None,
                 answer=None) -> CaseReport:
    """Compare one answer (homework layout) with autograd. Raises StudentError on NaN/inf outside a
    stress case."""
    case_reference = REFERENCES.of(case)
    ref_loss, ref_grads = case_reference.loss_and_grads
    bad = (["loss"] if not np.isfinite(loss) else []) + [n for n, g in grads.items() if not np.all(np.isfinite(g))]
    if bad and not case.stress:
        raise StudentError("contract", f"returned NaN or inf in {', '.join(bad)} on case {case.name} "
                                       "(an ordinary batch; expected finite numbers)")
    rows = [Row("loss", compare_arrays(loss, ref_loss, TOL))]
    student, transposed = {}, []
    for name, ref in ref_grads.items():
        g = grads[name]
        note = ""
        if g.shape != ref.shape:  # only the transpose of a weight gets here
            g, note = g.T, f"returned with the transposed shape {tuple(ref.shape[::-1])}"
            transposed.append(name)
        rows.append(Row(name, compare_arrays(g, ref, TOL), note))
        student[name] = g
    outcome = CaseOutcome(
        case=case,
        reference=case_reference,
        student_loss=loss,
        student_grads=student,
        passed={row.name: row.diff.passed for row in rows},
        max_rel_error={row.name: row.diff.max_rel_error for row in rows},
        transposed_shape=tuple(transposed),
        previous=previous,
        initial_params=initial_params,
    )
    return CaseReport(case, rows, outcome, answer)


# ----------------------------------------------------------------------------- conventions
def _check_params(a: Assignment, found: dict, shapes: dict, call: str) -> Assignment | None:
    """None when ``found`` has the assignment's names and shapes; else the layout it does follow
    (an Assignment); raises StudentError when no layout explains it."""
    if set(found) != set(shapes):
        raise StudentError("contract", f"params of {call} has keys {sorted(found)}, expected {sorted(shapes)}")
    if all(found[n].shape == V.student_shape(a, n, s) for n, s in shapes.items()):
        return None
    other = V.detect_layout(a, found, shapes)
    if other is not None:
        return other
    name = next(n for n, s in shapes.items() if found[n].shape != V.student_shape(a, n, s))
    layout = {"out_in": " (out, in), like torch.nn.Linear.weight", "in_out": " (in, out)"}[a.weights]
    raise StudentError("contract", f"params[{name!r}] of {call} has shape {tuple(found[name].shape)}, "
                                   f"expected {V.student_shape(a, name, shapes[name])}"
                                   + (layout if name.startswith("W") else f" (biases as a {a.biases})"))


def _check_grad_keys(grads: dict, shapes: dict) -> None:
    missing = [name for name in shapes if name not in grads]
    extra = sorted(name for name in grads if name not in shapes)
    if missing or extra:
        parts = ([f"missing {missing}"] if missing else []) + ([f"unexpected keys {extra}"] if extra else [])
        raise StudentError("contract", f"grads has keys {sorted(grads)}: {'; '.join(parts)} "
                                       f"(expected {list(shapes)})")


def _readings(a: Assignment) -> list:
    """Other ways to read the same numbers: (what it says, how to read an answer)."""
    other = "sum" if a.reduction == "mean" else "mean"
    readings = [(f"it returns the {other} over the batch where the assignment asks the {a.reduction} "
                 f"(loss and gradients {'K times' if other == 'sum' else '1/K times'} the assignment's)",
                 lambda case, loss, grads: V.read_back(a, case, loss, H.as_assignment_shapes(a, case, grads),
                                                       reduction=other))]
    if a.penalty != "none":
        def without_penalty(case, loss, grads):
            loss, grads = V.read_back(a, case, loss, H.as_assignment_shapes(a, case, grads))
            pen_loss, pen_grads = V.penalty_parts(case)
            return loss, {n: g + pen_grads[n] if n in pen_grads and g.shape == pen_grads[n].shape else g
                          for n, g in grads.items()}

        readings.append(("its gradients leave out the penalty (added in the update step?) where the assignment "
                         f"asks {a.method} for the gradient of the loss including the penalty", without_penalty))
    return readings


def _explain(report: Report, a: Assignment) -> None:
    """If one other reading makes every case agree that nothing explains yet, say so: the math is
    right, a convention is not."""
    failing = report.bug_cases
    unexplained = [c for c in report.cases if not c.harmless]
    if not failing or any(c.answer is None for c in unexplained):
        return
    for words, read in _readings(a):
        agrees = True
        for result in unexplained:
            loss, grads = read(result.case, *result.answer)
            ref_loss, ref_grads = reference(result.case)
            if not compare_arrays(loss, ref_loss, TOL).passed or any(
                    grads[n].shape != r.shape or not compare_arrays(grads[n], r, TOL).passed
                    for n, r in ref_grads.items()):
                agrees = False
                break
        if agrees:
            report.conventions.append(words)
            report.explained = True
            for result in failing:  # explained (the diagnosis still says what it sees in them)
                result.harmless = words
            return


# ----------------------------------------------------------------------------- the battery
def _agrees(a: Assignment, case: C.Case, answer) -> bool:
    """Every number of ``answer`` (the assignment's layout) is the reference's."""
    try:
        loss, grads = V.read_back(a, case, answer[0], H.as_assignment_shapes(a, case, answer[1]))
    except ValueError:
        return False
    ref_loss, ref_grads = reference(case)
    return compare_arrays(loss, ref_loss, TOL).passed and all(
        name in grads and grads[name].shape == ref.shape and compare_arrays(grads[name], ref, TOL).passed
        for name, ref in ref_grads.items())


def _probe_inputs(runner, a: Assignment, case: C.Case) -> Assignment:
    """On a non-square batch (K ≠ d ≠ m), try the assignment's input and label layouts; if they
    fail or disagree but another layout gives the reference's numbers, that is the one it uses."""
    runner.set_params("probe", V.to_student(a, case.params), what="writing params for the layout probe")
    what = f"{a.method} on the layout probe (sizes {case.sizes}, K={case.K})"
    try:
        answer = runner.call("probe", a.method, V.call_args(a, case), what=what)
    except StudentError as error:
        if error.kind not in ("raised", "contract"):
            raise
        answer = None
    if answer is not None and _agrees(a, case, answer):
        return a
    for inputs, labels in (("columns", a.labels), ("rows", "one_hot" if a.labels == "int" else "int"),
                           ("columns", "one_hot" if a.labels == "int" else "int")):
        other = replace(a, inputs=inputs if a.inputs == "rows" else "rows", labels=labels)
        try:
            answer = runner.call("probe", a.method, V.call_args(other, case), what=what)
        except StudentError as error:
            if error.kind not in ("raised", "contract"):
                raise
            continue
        if _agrees(other, case, answer):
            return other
    return a


def _other_call(runner, a: Assignment, factory: str, activation: str, error: StudentError, shapes: dict):
    """When the factory refuses the assignment's call with a TypeError, the call style it takes (one
    that builds a network with the right parameter names)."""
    if error.kind != "raised" or error.exc_type != "TypeError" or a.call == "keywords":
        return None  # a keywords call names its arguments: the TypeError says which one it lacks
    for style in ("sizes_activation", "sizes", "dims"):
        if style == a.call:
            continue
        other = replace(a, call=style, activations=a.activations[:1])
        args, call = V.factory_call(other, factory, PROBE_SIZES, activation)
        try:
            found = runner.make("probe-call", call, args, a.method)
        except StudentError as again:
            if again.kind == "contract" and f"without a {a.method} method" in str(again):
                raise StudentError("contract", f"its factory is called as {call}, not as the assignment's "
                                               f"{V.factory_call(a, factory, PROBE_SIZES, activation)[1]}; "
                                               f"and {again}") from None
            if again.kind in ("raised", "contract"):
                continue
            raise
        if set(found) == set(shapes):
            return other
    return None


def _conventions(runner, report: Report, a: Assignment, factory: str, seed: int) -> Assignment:
    """On the non-square probe: the conventions the submission follows (the assignment's, or those
    found — each said in ``report.conventions``)."""
    first = a.tried_activations[0]
    probe_case = canonical(a, next(c for c in battery(first, seed) if c.sizes == PROBE_SIZES))
    shapes = {name: value.shape for name, value in probe_case.params.items()}
    args, call = V.factory_call(a, factory, PROBE_SIZES, first, V.constructor_reg(a, probe_case))
    try:
        found = runner.make("probe", call, args, a.method)
    except StudentError as error:
        other = _other_call(runner, a, factory, first, error, shapes)
        if other is None:
            raise
        other_args, other_call = V.factory_call(other, factory, PROBE_SIZES, first)
        report.conventions.append(f"its factory is called as {other_call} where the assignment calls {call}")
        a, call = other, other_call
        found = runner.make("probe", call, other_args, a.method)
    layout = _check_params(a, found, shapes, call)
    if layout is not None:
        report.conventions.append(V.layout_words(a, layout, shapes))
        a = layout  # the rest runs in the layout it uses: is the math right?
    used = _probe_inputs(runner, a, probe_case)
    if used != a:
        report.conventions.append(V.input_words(a, used, probe_case))
    return used


def run(runner, report: Report, a: Assignment, factory: str, seed: int = 0) -> None:
    """Fill ``report`` with the conventions found and the cases' comparisons; raises StudentError
    when the implementation cannot be run or breaks the contract."""
    a = _conventions(runner, report, a, factory, seed)
    made, previous, shape_notes = {}, {}, set()
    unsupported, working = set(), set()
    deep_skipped = False
    for activation in a.tried_activations:
        required = activation in a.activations
        for original in battery(activation, seed):
            case = canonical(a, original)
            deep = C.TWO_HIDDEN in case.tags
            if activation in unsupported or (deep and deep_skipped):
                continue
            if not V.builds(a, case.sizes):
                deep_skipped = True
                report.skipped.append(f"two hidden layers (sizes of length 4): the assignment's {factory} takes "
                                      "one hidden size")
                continue
            shapes = {name: tuple(v.shape) for name, v in case.params.items()}
            args, call = V.factory_call(a, factory, case.sizes, activation, V.constructor_reg(a, case))
            key = call  # one network per call: per sizes and activation, and per reg given to the constructor
            try:
                if key not in made:
                    found = runner.make(key, call, args, a.method)
                    if _check_params(a, found, shapes, call) is not None:
                        raise StudentError("contract", f"params of {call} changed layout between networks")
                    made[key] = {n: V.from_student(a, n, v, shapes[n]) for n, v in found.items()}
                runner.set_params(key, V.to_student(a, case.params), what=f"writing params for case {case.name}")
                loss, grads = runner.call(key, a.method, V.call_args(a, case), what=f"{a.method} on case {case.name}")
                _check_grad_keys(grads, shapes)
                _gradient_shapes(report, a, case, grads, shape_notes)
                try:
                    canon_loss, canon_grads = V.read_back(a, case, loss, H.as_assignment_shapes(a, case, grads))
                except ValueError as error:
                    raise StudentError("contract", str(error)) from None
            except StudentError as error:
                optional = deep or (not required and activation not in working)
                if optional and error.kind in ("raised", "contract"):
                    if deep:
                        deep_skipped = True
                        report.skipped.append(f"two hidden layers (sizes of length 4): not supported — {error}")
                    else:
                        unsupported.add(activation)
                        report.skipped.append(f"activation {activation!r}: not supported — {error}")
                    continue
                if case.name not in str(error):
                    raise StudentError(error.kind, f"{error} [case {case.name}]", error.exc_type) from None
                raise
            working.add(activation)
            result = compare_case(case, canon_loss, canon_grads, made[key], previous.get(key), (loss, grads))
            previous[key] = result.outcome.student_grads
            report.cases.append(result)
    H.judge(report, a)
    _explain(report, a)


def _gradient_shapes(report: Report, a: Assignment, case: C.Case, grads: dict, said: set) -> None:
    """Gradients in a broadcast-equal shape ((1, H) for an (H,) bias) are compared all the same;
    it is said once, for the first case that has them: accepted, or a convention."""
    differences = H.shape_differences(a, case, grads)
    if not differences or said:
        return
    said.add(case.name)
    words = H.shape_words(differences)
    if a.gradient_shapes == "broadcast":
        report.accepted.append(f"{words} (the assignment accepts it: gradient_shapes = \"broadcast\")")
    else:
        report.conventions.append(f"{words} — a convention, not a bug (the same entries, another shape)")
