"""Check anyone's backprop against the torch reference, and say what is probably wrong.

    python -m compare.validate MODULE:FACTORY            # e.g. manual:MLP
    python -m compare.validate path/to/student.py:FACTORY [--json report.json]

The contract a student implementation meets (``manual.MLP`` does):

- ``factory(sizes, activation)`` — sizes ``(d, h1, ..., m)``, activation one of relu, tanh,
  sigmoid, softplus — returns an object with
- ``params``: a writable dict ``{"W1": (h1, d), "b1": (h1,), "W2": ..., "b2": ...}`` (weights
  (out, in) like ``nn.Linear.weight``), which ``loss_and_grads`` reads;
- ``loss_and_grads(X, y, lambdas)`` → ``(loss, grads)``: X (K, d) float64, y (K,) ints, lambdas
  the homework's flat list (λ11, λ12, λ21, λ22, ...); loss = mean NLL over the batch +
  Σ_l λ_l1‖W_l‖₁ + λ_l2‖W_l‖₂² (biases free, not divided by K); grads keyed like params.

The validator writes its own values into ``params`` for every case (``compare.cases``: one
example, minibatches, elastic net, exact-zero pre-activations, logits of ±1000, MNIST width,
two hidden layers), runs ``loss_and_grads`` in a worker process with a time limit
(``compare.sandbox``), compares the loss and every gradient with autograd on
``reference.TorchMLP`` in float64 (``compare.diff``), and for each failure names the likely
bug (``compare.diagnose``). relu must be supported; an activation the factory rejects (or
two hidden layers it cannot build) is skipped and said so.

Exit status: 0 every case agrees; 1 some case disagrees (tables + diagnosis); 2 the
implementation cannot be loaded or breaks the contract (raises, wrong types/keys/shapes, NaN on
an ordinary batch, modifies its inputs, too slow) — one line says why.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from . import cases as C
from .diagnose import CaseOutcome, Evidence, Finding, diagnose, reference_loss_and_grads
from .diff import TOLERANCES, ArrayDiff, compare_arrays
from .sandbox import InProcessRunner, StudentError, SubprocessRunner, load_factory

TOL = TOLERANCES["float64"]
DEFAULT_TIMEOUT = 10.0  # seconds per call into the student's code
DEFAULT_BUDGET = 25.0  # seconds for all of it (a correct implementation needs ~1 s)


@dataclass
class Row:
    name: str  # "loss", "W1", "b1", ...
    diff: ArrayDiff
    note: str = ""  # e.g. the student's array came transposed

    @property
    def passed(self) -> bool:
        return self.diff.passed and not self.note

    def to_dict(self) -> dict:
        return {"name": self.name, **self.diff.to_dict(), "passed": self.passed, "note": self.note}


@dataclass
class CaseReport:
    case: C.Case
    rows: list
    outcome: CaseOutcome = field(repr=False)

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    def to_dict(self) -> dict:
        return {**self.case.to_dict(), "passed": self.passed, "rows": [row.to_dict() for row in self.rows],
                "findings": [f.to_dict() for f in self.outcome.findings]}


@dataclass
class Report:
    target: str
    cases: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # one line each: what was not run and why
    diagnosis: list = field(default_factory=list)  # Findings, most likely first
    error: str | None = None  # set when the implementation broke the contract
    elapsed_s: float = 0.0

    @property
    def failed_cases(self) -> list:
        return [c for c in self.cases if not c.passed]

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return 2
        return 1 if self.failed_cases else 0

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return f"ERROR — cannot validate {self.target}: {self.error}"
        n, bad = len(self.cases), len(self.failed_cases)
        tol = f"float64, rtol {TOL.rtol:g}"
        if not bad:
            return f"PASS — all {n} cases agree with the torch reference ({tol})"
        return f"FAIL — {bad} of {n} cases disagree with the torch reference ({tol})"

    def to_dict(self) -> dict:
        return _finite({
            "target": self.target,
            "exit_code": self.exit_code,
            "verdict": "error" if self.error is not None else ("fail" if self.failed_cases else "pass"),
            "summary": self.verdict,
            "error": self.error,
            "tolerance": {"rtol": TOL.rtol, "atol": TOL.atol, "why": TOL.why},
            "n_cases": len(self.cases),
            "n_failed": len(self.failed_cases),
            "skipped": list(self.skipped),
            "diagnosis": [f.to_dict() for f in self.diagnosis],
            "cases": [c.to_dict() for c in self.cases],
            "elapsed_s": round(self.elapsed_s, 3),
        })


def _finite(obj):
    """JSON-safe: NaN and ±inf become null (strict JSON has no such numbers)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------- running the battery
def _importable_spec(factory) -> str | None:
    """'module:qualname' (or 'file.py:qualname') that names ``factory`` in a fresh interpreter."""
    module_name = getattr(factory, "__module__", None)
    qualname = getattr(factory, "__qualname__", None)
    if not module_name or not qualname or "<" in qualname or module_name == "__main__":
        return None
    module = sys.modules.get(module_name)
    obj = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if obj is not factory:
        return None
    try:
        found = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        found = None
    if found is not None and found.origin == getattr(module, "__file__", None):
        return f"{module_name}:{qualname}"
    if getattr(module, "__file__", None):
        return f"{module.__file__}:{qualname}"
    return None


def _runner(target, timeout, budget):
    if isinstance(target, str):
        if os.name != "posix":  # no fd passing: load it here and run it in a thread
            return target, InProcessRunner(load_factory(target), timeout=timeout, budget=budget)
        return target, SubprocessRunner(target, timeout=timeout, budget=budget)
    spec = _importable_spec(target)
    name = getattr(target, "__qualname__", repr(target))
    if spec is not None and os.name == "posix":
        return spec, SubprocessRunner(spec, timeout=timeout, budget=budget)
    return name, InProcessRunner(target, timeout=timeout, budget=budget)


def compare_case(case: C.Case, loss: float, grads: dict, initial_params=None, previous=None) -> CaseReport:
    """Compare one answer with autograd. Raises StudentError on NaN/inf outside a stress case."""
    ref_loss, ref_grads = reference_loss_and_grads(case)
    bad = (["loss"] if not np.isfinite(loss) else []) + [n for n, g in grads.items() if not np.all(np.isfinite(g))]
    if bad and not case.stress:
        raise StudentError("contract", f"returned NaN or inf in {', '.join(bad)} on case {case.name} "
                                       "(an ordinary batch; expected finite numbers)")
    rows = [Row("loss", compare_arrays(loss, ref_loss, TOL))]
    student, transposed = {}, []
    for name, ref in ref_grads.items():
        g = grads[name]
        note = ""
        if g.shape != ref.shape:  # the sandbox lets only the transpose of a weight through
            g, note = g.T, f"returned with the transposed shape {tuple(ref.shape[::-1])}"
            transposed.append(name)
        rows.append(Row(name, compare_arrays(g, ref, TOL), note))
        student[name] = g
    outcome = CaseOutcome(
        case=case,
        evidence=Evidence(case, ref_loss, ref_grads, initial_params),
        student_loss=loss,
        student_grads=student,
        passed={row.name: row.diff.passed for row in rows},
        max_rel_error={row.name: row.diff.max_rel_error for row in rows},
        transposed_shape=tuple(transposed),
        previous=previous,
    )
    return CaseReport(case, rows, outcome)


def _run_battery(runner, report: Report, seed: int) -> None:
    made = {}  # object key -> the object's initial params
    previous = {}  # object key -> the student's last answer (reference layout)
    unsupported = set()
    working = set()  # activations with at least one successful call
    deep_skipped = False
    for activation in C.ACTIVATIONS:
        for case in C.battery(activation, seed):
            deep = C.TWO_HIDDEN in case.tags
            if activation in unsupported or (deep and deep_skipped):
                continue
            key = f"{activation}:{case.sizes}"
            shapes = {name: tuple(v.shape) for name, v in case.params.items()}
            try:
                if key not in made:
                    made[key] = runner.request("make", key, case.sizes, activation, shapes,
                                               what=f"factory({case.sizes}, {activation!r})")
                runner.request("set_params", key, {k: np.array(v) for k, v in case.params.items()},
                               what=f"writing params for case {case.name}")
                loss, grads = runner.request("call", key, np.array(case.X), np.array(case.y), list(case.lambdas),
                                             shapes, what=f"loss_and_grads on case {case.name}")
            except StudentError as error:
                optional = deep or (activation != "relu" and activation not in working)
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
            result = compare_case(case, loss, grads, made[key], previous.get(key))
            previous[key] = result.outcome.student_grads
            report.cases.append(result)


def validate(target, *, timeout: float = DEFAULT_TIMEOUT, budget: float | None = DEFAULT_BUDGET,
             seed: int = 0) -> Report:
    """Run the battery on ``target`` (a 'module:factory' / 'file.py:factory' string, or a factory).

    Each call into the implementation may take ``timeout`` seconds, all of them together
    ``budget`` seconds (None: no total limit). Never raises for anything the implementation
    does: a broken contract is ``report.error`` (exit code 2). Bad arguments to this function
    raise ``ValueError``/``TypeError``.
    """
    if not (isinstance(timeout, int | float) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if budget is not None and not (isinstance(budget, int | float) and budget > 0):
        raise ValueError(f"budget must be a positive number of seconds (or None), got {budget!r}")
    if not (isinstance(target, str) or callable(target)):
        raise TypeError(f"expected a factory (callable) or a 'module:factory' string, got {type(target).__name__}")
    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only spin (10x slower on a busy machine)
    try:
        return _validate(target, timeout, budget, seed, start)
    finally:
        torch.set_num_threads(threads)


def _validate(target, timeout, budget, seed, start) -> Report:
    report = Report(target=target if isinstance(target, str) else getattr(target, "__qualname__", repr(target)))
    try:
        report.target, runner = _runner(target, timeout, budget)
        with runner:
            _run_battery(runner, report, seed)
    except StudentError as error:
        report.error = str(error)
        if report.failed_cases:  # what the cases that did run already show
            report.diagnosis = diagnose([c.outcome for c in report.cases])
            if report.diagnosis:
                report.error += (f"; before that, {len(report.failed_cases)} of {len(report.cases)} cases "
                                 f"disagreed with the reference: {report.diagnosis[0].message}")
    else:
        report.diagnosis = diagnose([c.outcome for c in report.cases])
    report.elapsed_s = time.perf_counter() - start
    return report


# ----------------------------------------------------------------------------- output
def format_case(result: CaseReport) -> str:
    lines = [result.case.describe(),
             f"  {'param':<6}{'shape':<12}{'max abs err':>12}{'max rel err':>12}  {'worst index':<13}result"]
    for row in result.rows:
        d = row.diff
        verdict = "ok" if row.passed else "FAIL" + (f" ({row.note})" if row.note else "")
        lines.append(f"  {row.name:<6}{str(d.shape):<12}{d.max_abs_error:>12.2e}{d.max_rel_error:>12.2e}  "
                     f"{str(d.worst_index):<13}{verdict}")
    return "\n".join(lines)


def _where(finding: Finding) -> str:
    params, cases = [], []
    for item in finding.where:
        case, _, param = item.partition(":")
        if param and param not in params:
            params.append(param)
        if case not in cases:
            cases.append(case)
    shown = ", ".join(cases[:3]) + (f" (+{len(cases) - 3} more)" if len(cases) > 3 else "")
    return (f"{', '.join(params)} in " if params else "") + shown


def format_report(report: Report, brief: bool = False) -> str:
    """The tables (only the failing ones when ``brief``), what was skipped, verdict, diagnosis."""
    if report.error is not None:
        return report.verdict
    head = (f"validating {report.target}: {len(report.cases)} cases against reference.TorchMLP + autograd "
            f"(float64, rtol {TOL.rtol:g})")
    blocks = [head] + [format_case(c) for c in report.cases if not (brief and c.passed)]
    tail = [f"skipped: {line}" for line in report.skipped]
    tail.append(f"verdict: {report.verdict}")
    if report.diagnosis:
        tail.append("diagnosis (most likely first):")
        for i, finding in enumerate(report.diagnosis, start=1):
            where = _where(finding)
            tail.append(f"  {i}. {finding.message}" + (f"\n     [{where}]" if where else ""))
    return "\n\n".join(blocks + ["\n".join(tail)])


def assert_matches_reference(factory, *, timeout: float = DEFAULT_TIMEOUT,
                             budget: float | None = DEFAULT_BUDGET, seed: int = 0) -> Report:
    """For a course's own pytest file: fail with the diagnosis unless ``factory`` passes every case.

        from compare.validate import assert_matches_reference
        from student import make_mlp

        def test_backprop():
            assert_matches_reference(make_mlp)

    ``factory`` is a callable (or a 'module:factory' string). A factory importable by name runs
    in a worker process (killed after ``timeout`` s); others (closures, lambdas) run in this
    process, in a thread, where a runaway call can be abandoned but not killed.
    """
    report = validate(factory, timeout=timeout, budget=budget, seed=seed)
    if report.exit_code == 2:
        raise AssertionError(f"{report.target} breaks the contract: {report.error}")
    if report.exit_code == 1:
        raise AssertionError(f"{report.target} disagrees with the torch reference\n"
                             + format_report(report, brief=True))
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m compare.validate",
        description="Check an implementation of the course MLP (factory(sizes, activation) -> object with "
                    "params and loss_and_grads(X, y, lambdas)) against autograd, and diagnose mismatches. "
                    "Exit 0: all agree; 1: mismatch; 2: cannot load, or breaks the contract.",
    )
    parser.add_argument("spec", help="MODULE:FACTORY (e.g. manual:MLP) or path/to/file.py:FACTORY")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON (for graders)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds allowed per call into the implementation (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET,
                        help=f"seconds allowed for all calls together (default {DEFAULT_BUDGET:g})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the case battery (default 0)")
    parser.add_argument("--brief", action="store_true", help="print only the tables of failing cases")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    for flag, value in (("--timeout", args.timeout), ("--budget", args.budget)):
        if not value > 0:
            print(f"validate: error: {flag} must be > 0, got {value:g}", file=sys.stderr)
            return 2
    report = validate(args.spec, timeout=args.timeout, budget=args.budget, seed=args.seed)
    try:
        if report.error is not None:
            print(f"validate: {args.spec}: {report.error}", file=sys.stderr)
        else:
            print(format_report(report, brief=args.brief), flush=True)
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
    if args.json:
        try:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(report.to_dict(), fh, indent=2, allow_nan=False)
                fh.write("\n")
        except OSError as error:
            print(f"validate: cannot write {args.json}: {error.strerror or error}", file=sys.stderr)
            return 2
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
