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
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import cases as C
from .diff import TOLERANCES, ArrayDiff, compare_arrays
from .grading.errors import StudentError, clean_text
from .grading.isolation import Limits
from .grading.runner import InProcessRunner, WorkerRunner
from .grading.submission import resolve

if TYPE_CHECKING:
    from .diagnose import CaseOutcome, Finding

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
    error_kind: str | None = None  # StudentError.kind: load, forbidden, raised, contract, timeout, died
    isolation: str | None = None  # how the implementation was run (bubblewrap, process, in-process)
    notes: list = field(default_factory=list)  # e.g. files too large to copy into the sandbox
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
            "error_kind": self.error_kind,
            "isolation": self.isolation,
            "notes": list(self.notes),
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
    if obj is not factory or not getattr(module, "__file__", None):
        return None
    return f"{module.__file__}:{qualname}"


def _runner(target, options: dict):
    """(the target's name, a runner): a spec, or a factory importable by name, runs in an isolated
    worker; any other callable (a closure, a lambda) is trusted code and runs in this process."""
    if not isinstance(target, str):
        spec = _importable_spec(target)
        if spec is None:
            name = getattr(target, "__qualname__", repr(target))
            return name, InProcessRunner(target, timeout=options["timeout"], budget=options["budget"])
        target = spec
    submission = resolve(target)
    return target, WorkerRunner(submission, **options)


def _check_params(initial: dict, shapes: dict, call: str) -> None:
    """The factory's params: the contract's names, each of the contract's shape."""
    if set(initial) != set(shapes):
        raise StudentError("contract", f"params of {call} has keys {sorted(initial)}, expected {sorted(shapes)}")
    for name, shape in shapes.items():
        if initial[name].shape != tuple(shape):
            layout = " (out, in), like torch.nn.Linear.weight" if name.startswith("W") else ""
            raise StudentError("contract", f"params[{name!r}] of {call} has shape {tuple(initial[name].shape)}, "
                                           f"expected {tuple(shape)}{layout}")


def _check_grads(grads: dict, shapes: dict, method: str) -> None:
    """The gradients: exactly the params' names, each of its param's shape (a weight's transpose is let
    through: the diagnosis names it)."""
    missing = [name for name in shapes if name not in grads]
    extra = sorted(name for name in grads if name not in shapes)
    if missing or extra:
        parts = ([f"missing {missing}"] if missing else []) + ([f"unexpected keys {extra}"] if extra else [])
        raise StudentError("contract", f"grads has keys {sorted(grads)}: {'; '.join(parts)} "
                                       f"(expected {list(shapes)})")
    for name, shape in shapes.items():
        got = grads[name].shape
        if got != tuple(shape) and not (len(got) == 2 and got == tuple(shape)[::-1]):
            raise StudentError("contract", f"grads[{name!r}] has shape {got}, expected "
                                           f"{tuple(shape)} (the shape of params[{name!r}])")


def compare_case(case: C.Case, loss: float, grads: dict, initial_params=None, previous=None) -> CaseReport:
    """Compare one answer with autograd. Raises StudentError on NaN/inf outside a stress case."""
    from .diagnose import CaseOutcome, Evidence, reference_loss_and_grads

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
        if g.shape != ref.shape:  # only the transpose of a weight gets here
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
            call = f"factory({case.sizes}, {activation!r})"
            try:
                if key not in made:
                    made[key] = runner.make(key, call, [list(case.sizes), activation], "loss_and_grads")
                    _check_params(made[key], shapes, call)
                runner.set_params(key, {k: np.array(v) for k, v in case.params.items()},
                                  what=f"writing params for case {case.name}")
                loss, grads = runner.call(key, "loss_and_grads", [("X", np.array(case.X)), ("y", np.array(case.y)),
                                                                   ("lambdas", list(case.lambdas))],
                                          what=f"loss_and_grads on case {case.name}")
                _check_grads(grads, shapes, "loss_and_grads")
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
             seed: int = 0, memory_mb: int = 2048, allow_imports=(), isolation: str = "auto") -> Report:
    """Run the battery on ``target``: a 'module:factory' / 'path/file.py:factory' string (or a factory
    importable by name), run in an isolated worker; any other callable is trusted code, run here.

    Each call into the implementation may take ``timeout`` seconds, all of them together
    ``budget`` seconds (None: no total limit); the worker may use ``memory_mb`` of address space
    and import NumPy, its own files and ``allow_imports`` only. Never raises for anything the
    implementation does: a broken contract is ``report.error`` (exit code 2). Bad arguments to
    this function raise ``ValueError``/``TypeError``.
    """
    if isinstance(timeout, bool) or not (isinstance(timeout, int | float) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if budget is not None and (isinstance(budget, bool) or not (isinstance(budget, int | float) and budget > 0)):
        raise ValueError(f"budget must be a positive number of seconds (or None), got {budget!r}")
    if not (isinstance(target, str) or callable(target)):
        raise TypeError(f"expected a factory (callable) or a 'module:factory' string, got {type(target).__name__}")
    if isinstance(allow_imports, str) or not all(isinstance(n, str) and n.isidentifier() for n in allow_imports):
        raise ValueError(f"allow_imports must be a list of module names, got {allow_imports!r}")
    limits = Limits(memory_mb=memory_mb, cpu_seconds=int(math.ceil((budget or 600) + LOAD_CPU_SECONDS)))
    options = {"timeout": timeout, "budget": budget, "limits": limits, "allow_imports": tuple(allow_imports),
               "isolation": isolation}
    import torch

    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only spin (10x slower on a busy machine)
    try:
        return _validate(target, options, seed, start)
    finally:
        torch.set_num_threads(threads)


LOAD_CPU_SECONDS = 35  # CPU seconds on top of the budget: importing the module, NumPy, start-up


def _validate(target, options, seed, start) -> Report:
    from .diagnose import diagnose

    report = Report(target=target if isinstance(target, str) else getattr(target, "__qualname__", repr(target)))
    try:
        report.target, runner = _runner(target, options)
        if isinstance(runner, WorkerRunner):
            report.notes = runner.submission.notes
        try:
            with runner:
                _run_battery(runner, report, seed)
        finally:
            report.isolation = runner.level
    except StudentError as error:
        report.error = clean_text(str(error), 1000)
        report.error_kind = error.kind
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


def assert_matches_reference(spec, *, timeout: float = DEFAULT_TIMEOUT, budget: float | None = DEFAULT_BUDGET,
                             seed: int = 0, memory_mb: int = 2048, allow_imports=()) -> Report:
    """For a course's own pytest file: fail with the diagnosis unless the implementation passes every case.

        from compare.validate import assert_matches_reference

        def test_backprop():
            assert_matches_reference("submissions/alice/mlp.py:make_mlp")

    ``spec`` names the implementation ('path/to/file.py:NAME' or 'module:NAME'); it is loaded
    and run only in an isolated worker, never imported into the test process (an import alone
    could change the grader). A callable is accepted for trusted code only (a course's own
    reference, a closure): unless importable by name, it runs in this process, where a runaway
    call can be abandoned but not killed.
    """
    report = validate(spec, timeout=timeout, budget=budget, seed=seed, memory_mb=memory_mb,
                      allow_imports=allow_imports)
    if report.exit_code == 2:
        raise AssertionError(f"{report.target} breaks the contract: {report.error}")
    if report.exit_code == 1:
        raise AssertionError(f"{report.target} disagrees with the torch reference\n"
                             + format_report(report, brief=True))
    return report


# ----------------------------------------------------------------------------- the command line
EXIT_INTERNAL = 3  # the validator itself failed: never a verdict on the implementation


class UsageError(Exception):
    """A bad command line: one line on stderr, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _positive(convert, what):
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not value > 0 or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="backprop-validate",
        description="Check an implementation of the course MLP (factory(sizes, activation) -> object with "
                    "params and loss_and_grads(X, y, lambdas)) against autograd, and diagnose mismatches. "
                    "The implementation runs isolated in a worker (bubblewrap where installed). "
                    "Exit 0: all agree; 1: mismatch; 2: cannot load, or breaks the contract; "
                    "3: the validator itself failed.",
    )
    parser.add_argument("spec", help="path/to/file.py:FACTORY or MODULE:FACTORY (e.g. manual:MLP)")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON ('-': only the JSON, "
                                                       "on stdout)")
    parser.add_argument("--timeout", type=_positive(float, "a positive number of seconds"), default=DEFAULT_TIMEOUT,
                        help=f"seconds allowed per call into the implementation (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--budget", type=_positive(float, "a positive number of seconds"), default=DEFAULT_BUDGET,
                        help=f"seconds allowed for all calls together (default {DEFAULT_BUDGET:g})")
    parser.add_argument("--memory", type=_positive(int, "a whole number of MiB ≥ 256"), default=2048,
                        metavar="MIB", help="address space the implementation may use (default 2048 MiB)")
    parser.add_argument("--allow-import", action="append", default=[], metavar="MODULE",
                        help="let the implementation import MODULE (by default only NumPy: torch, jax, "
                             "tensorflow, autograd and this project's answer key are refused); repeatable")
    parser.add_argument("--isolation", choices=("auto", "bubblewrap", "process"), default="auto",
                        help="bubblewrap (read-only filesystem, no network, own PID namespace), process "
                             "(rlimits and a private folder only), or auto: the best available (default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the case battery (default 0)")
    parser.add_argument("--brief", action="store_true", help="print only the tables of failing cases")
    return parser


def own_modules_first() -> None:
    """``python -m`` puts the current folder first on sys.path, so a student's ``reference.py`` or
    ``manual/`` there would be imported by the grader instead of the project's. Drop that entry
    (the project is found through its installation); the console script never adds it."""
    project = Path(__file__).resolve().parent.parent
    cwd = Path.cwd().resolve()
    if cwd != project:
        sys.path[:] = [p for p in sys.path if p not in ("", ".") and Path(p).resolve() != cwd]


def write_json_atomic(path: str, data: dict) -> None:
    """Write ``data`` to ``path`` in one step (a temporary file beside it, then a rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, allow_nan=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv=None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("validate: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the validator's own failure is never a verdict
        print(f"validate: internal error (not a verdict on the implementation): {type(error).__name__}: "
              f"{clean_text(error, 300)}", file=sys.stderr)
        return EXIT_INTERNAL


def _main(argv) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as error:
        print(f"validate: error: {error}", file=sys.stderr)
        return 2
    own_modules_first()
    to_stdout = args.json in ("-", "/dev/stdout")
    if args.json and not to_stdout and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        print(f"validate: error: --json {args.json}: its folder does not exist", file=sys.stderr)
        return 2
    try:
        report = validate(args.spec, timeout=args.timeout, budget=args.budget, seed=args.seed,
                          memory_mb=args.memory, allow_imports=args.allow_import, isolation=args.isolation)
    except ValueError as error:
        print(f"validate: error: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:  # e.g. --isolation bubblewrap where bwrap is missing
        print(f"validate: error: {error}", file=sys.stderr)
        return 2
    # The worker and all it started are dead here: nothing but the grader writes from now on.
    try:
        if report.error is not None:
            print(f"validate: {args.spec}: {report.error}", file=sys.stderr)
        elif not to_stdout:
            print(format_report(report, brief=args.brief), flush=True)
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
    if to_stdout:
        print(json.dumps(report.to_dict(), indent=2, allow_nan=False), flush=True)
    elif args.json:
        try:
            write_json_atomic(args.json, report.to_dict())
        except OSError as error:
            print(f"validate: cannot write {args.json}: {error.strerror or error}", file=sys.stderr)
            return 2
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
