"""Check anyone's backprop against the torch reference, and say what is probably wrong.

    backprop-validate path/to/student.py [--json report.json]     # it defines make_mlp (or factory)
    backprop-validate path/to/student.py:FACTORY                  # or --factory FACTORY
    backprop-validate path/to/student.ipynb --preset cs231n [--assignment changes.toml]
    backprop-validate manual:MLP                                  # the project's own net, as a check

The contract by default (the homework's; ``--assignment FILE`` or ``--preset NAME`` states a
course's own, see ``compare.grader.course.assignment``):

- ``make_mlp(sizes, activation)`` (``factory`` is accepted too) — sizes ``(d, h1, ..., m)``,
  activation one of relu, tanh, sigmoid, softplus — returns an object with
- ``params``: a writable dict ``{"W1": (h1, d), "b1": (h1,), "W2": ..., "b2": ...}`` (weights
  (out, in) like ``nn.Linear.weight``), which ``loss_and_grads`` reads;
- ``loss_and_grads(X, y, lambdas)`` → ``(loss, grads)``: X (K, d) float64, y (K,) ints, lambdas
  the homework's flat list (λ11, λ12, λ21, λ22, ...); loss = mean NLL over the batch +
  Σ_l λ_l1‖W_l‖₁ + λ_l2‖W_l‖₂² (biases free, not divided by K); grads keyed like params.

The implementation runs only in an isolated worker (``compare.grader``: bubblewrap where
installed, resource limits, NumPy only). The validator writes its own values into ``params``
for every case (``compare.grader.course.cases``), compares the loss and every gradient with autograd on
``reference.TorchMLP`` in float64 (``compare.lab.diff``), says when the numbers are right under
other conventions than the assignment's, and names the likely bug (``compare.grader.diagnosis``).

Exit status: 0 every case agrees; 1 some case disagrees, or agrees only under other
conventions (tables + diagnosis); 2 the implementation cannot be loaded or breaks the contract
(raises, wrong types/keys/shapes, NaN on an ordinary batch, modifies its inputs, too slow,
imports what it may not) — one line says why; 3 the validator itself failed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import replace
from pathlib import Path

from compare import cli  # before NumPy and torch: from here on, Ctrl-C during start-up exits 130 on one line
from compare.grader.course.assignment import (
    PRESETS,
    Assignment,
    AssignmentError,
    as_assignment,
    load_assignment,
    preset,
)
from compare.grader.judging import battery
from compare.grader.results.report import Report, format_report
from compare.grader.sandbox.errors import StudentError, clean_text
from compare.grader.sandbox.sources import defined_names, names_in
from compare.grader.submissions.submission import Submission, definitions_only, is_path, resolve
from compare.grader.workers.isolation import Limits
from compare.grader.workers.runner import InProcessRunner, WorkerRunner

DEFAULT_TIMEOUT = 10.0  # seconds per call into the student's code
DEFAULT_BUDGET = 25.0  # seconds for all of it (a correct implementation needs ~1 s)
LOAD_CPU_SECONDS = 35  # CPU seconds on top of the budget: importing the module, NumPy, start-up


def _importable_spec(factory) -> str | None:
    """'file.py:qualname' that names ``factory`` in a fresh interpreter, else None."""
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


def _runner(target, assignment: Assignment, options: dict, alone: bool = False):
    """(the target's name, the factory's name, a runner): a spec, or a factory importable by name,
    runs in an isolated worker; any other callable (a closure, a lambda) is trusted code, run here.
    A ``Submission`` (what ``backprop-grade`` found in a class folder) runs in a worker as it is."""
    if isinstance(target, Submission):
        also = tuple(n for n in assignment.factory_names if n != target.attr)
        return target.spec, target.attr.rsplit(".", 1)[-1], WorkerRunner(target, also_factories=also, **options)
    if not isinstance(target, str):
        spec = _importable_spec(target)
        if spec is None:
            name = getattr(target, "__qualname__", repr(target))
            runner = InProcessRunner(target, timeout=options["timeout"], budget=options["budget"])
            return name, getattr(target, "__name__", "factory"), runner
        target = spec
    names = ()
    if ":" not in target and is_path(target):
        names = assignment.factory_names  # the assignment names the factory
        target = f"{target}:{names[0]}"
    submission = resolve(target, allow_imports=options["allow_imports"], alone=alone, also_factories=names[1:])
    also = ()
    if len(names) > 1:
        defined = _defined_names(submission)
        found = next((n for n in names if n.split(".")[0] in defined), None)
        if found is not None:  # the name it does define, said in every message
            target = f"{target.rsplit(':', 1)[0]}:{found}"
            submission = replace(submission, spec=target, attr=found)
        else:  # not seen by reading it (defined at run time?): the worker tries each in turn
            also = names[1:]
    return target, submission.attr.rsplit(".", 1)[-1], WorkerRunner(submission, also_factories=also, **options)


def _defined_names(submission) -> set:
    """The names a submission's file binds at its top level (read with a size cap, never run, never
    through a link); empty if unreadable."""
    source = submission.generated.get(submission.file)
    if source is not None:
        return names_in(source, submission.file)
    if submission.file is None:
        return set()
    return defined_names(submission.root / submission.file)


def validate(target, *, assignment: Assignment | str | os.PathLike | None = None, timeout: float = DEFAULT_TIMEOUT,
             budget: float | None = DEFAULT_BUDGET, seed: int = 0, memory_mb: int = 2048, allow_imports=(),
             isolation: str = "auto") -> Report:
    """Run the battery on ``target``: a 'path/file.py:factory' / 'module:factory' string (a bare
    path takes the assignment's factory name), or a factory importable by name — run in an
    isolated worker; any other callable is trusted code, run here.

    ``assignment`` states the course's conventions: an ``Assignment``, a preset's name ("cs231n") or
    a TOML file's path ("course.toml"); default the homework's. Each call into the
    implementation may take ``timeout`` seconds, all of them together ``budget`` seconds (None:
    no total limit); the worker may use ``memory_mb`` of address space and import NumPy, its own
    files and ``allow_imports`` (plus the assignment's) only. Never raises for anything the
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
    assignment = as_assignment(assignment)
    limits = Limits(memory_mb=memory_mb, cpu_seconds=int(math.ceil((budget or 600) + LOAD_CPU_SECONDS)))
    options = {"timeout": timeout, "budget": budget, "limits": limits,
               "allow_imports": tuple(dict.fromkeys((*assignment.allow_imports, *allow_imports))),
               "isolation": isolation}
    import torch

    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only spin (10x slower on a busy machine)
    try:
        return _validate(target, assignment, options, seed, start)
    finally:
        torch.set_num_threads(threads)


def _validate(target, assignment: Assignment, options: dict, seed: int, start: float, alone: bool = False) -> Report:
    from compare.grader.course.words import CourseWords
    from compare.grader.diagnosis.aggregation import diagnose

    words = CourseWords.of(assignment)

    name = target if isinstance(target, str) else getattr(target, "spec", None) or getattr(
        target, "__qualname__", repr(target))
    report = Report(target=name, assignment=assignment.describe(), words=words)
    runner = None
    try:
        report.target, factory, runner = _runner(target, assignment, options, alone)
        try:
            try:
                _run(runner, report, assignment, factory, seed)
            except StudentError as error:
                retry = _definitions_only(runner, error, options)
                if retry is None:
                    raise
                runner = retry
                report.cases, report.skipped, report.conventions = [], [], []
                try:
                    _run(runner, report, assignment, factory, seed)
                except StudentError:
                    if not runner.loaded:  # its definitions alone do not load either: the first error says more
                        raise error from None
                    raise
        finally:
            if runner is not None:
                report.isolation = runner.level
                if isinstance(runner, WorkerRunner):
                    report.notes = [clean_text(note, 300) for note in runner.submission.notes]
    except StudentError as error:
        report.error = clean_text(str(error), 1000)
        report.error_kind = error.kind
        if report.conventions:  # a layout found first explains what follows
            report.error = f"{'; '.join(report.conventions)}; in that layout, {report.error}"
        if report.failed_cases:  # what the cases that did run already show
            report.diagnosis = diagnose([c.outcome for c in report.cases], words)
            if report.diagnosis:
                report.error += (f"; before that, {len(report.failed_cases)} of {len(report.cases)} cases "
                                 f"disagreed with the reference: {report.diagnosis[0].message}")
    else:
        report.diagnosis = diagnose([c.outcome for c in report.cases], words)
    report.elapsed_s = time.perf_counter() - start
    return report


def _run(runner, report: Report, assignment: Assignment, factory: str, seed: int) -> None:
    """The battery on a started runner; the cases and their references are computed meanwhile in a
    thread (while the worker starts, this process would only wait)."""
    stop = threading.Event()
    threading.Thread(target=battery.prepare, args=(assignment, seed, stop), name="references", daemon=True).start()
    try:
        with runner:
            battery.run(runner, report, assignment, factory, seed)
    finally:
        stop.set()


def _definitions_only(runner, error: StudentError, options: dict):
    """A module that fails or hangs while it is imported (it runs its experiment at import, reads a
    data file it was not given) is tried once more as its definitions only; else None."""
    if not isinstance(runner, WorkerRunner) or runner.loaded or error.kind not in ("raised", "timeout", "died"):
        return None
    why = {"timeout": "importing it did not finish in time (it runs an experiment at import?)",
           "died": "its process died while it was imported"}.get(error.kind, f"importing it raised ({error})")
    sub = definitions_only(runner.submission, clean_text(why, 200), options["allow_imports"])
    return None if sub is None else WorkerRunner(sub, also_factories=runner.also_factories, **options)


def assert_matches_reference(spec, *, assignment: Assignment | str | os.PathLike | None = None, timeout: float = DEFAULT_TIMEOUT,
                             budget: float | None = DEFAULT_BUDGET, seed: int = 0, memory_mb: int = 2048,
                             allow_imports=()) -> Report:
    """For a course's own pytest file: fail with the diagnosis unless the implementation passes every case.

        from compare.validate import assert_matches_reference

        def test_backprop():
            assert_matches_reference("submissions/alice/mlp.py:make_mlp")

    ``assignment`` is the course's conventions as ``validate`` takes them: a preset's name
    (``assignment="cs231n"``), a TOML file's path (``assignment="course.toml"``) or an
    ``Assignment``. ``spec`` names the implementation ('path/to/file.py:NAME' or 'module:NAME'); it is loaded
    and run only in an isolated worker, never imported into the test process (an import alone
    could change the grader). A callable is accepted for trusted code only (a course's own
    reference, a closure): unless importable by name, it runs in this process, where a runaway
    call can be abandoned but not killed.
    """
    report = validate(spec, assignment=assignment, timeout=timeout, budget=budget, seed=seed, memory_mb=memory_mb,
                      allow_imports=allow_imports)
    if report.exit_code == 2:
        raise AssertionError(f"{report.target} breaks the contract: {report.error}")
    if report.exit_code == 1:
        raise AssertionError(f"{report.target} disagrees with the torch reference\n"
                             + format_report(report, brief=True))
    return report


# ----------------------------------------------------------------------------- the command line


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
        description="Check an implementation of the course MLP (make_mlp(sizes, activation) -> object with "
                    "params and loss_and_grads(X, y, lambdas)) against autograd, and diagnose mismatches. "
                    "The implementation runs isolated in a worker (bubblewrap where installed). "
                    "Exit 0: all agree; 1: mismatch; 2: cannot load, or breaks the contract; "
                    "3: the validator itself failed.",
    )
    parser.add_argument("spec", help="path/to/file.py:FACTORY (or .ipynb), MODULE:FACTORY (e.g. manual:MLP), or "
                                     "a bare path/to/file.py whose factory the assignment names")
    parser.add_argument("--assignment", metavar="FILE", help="TOML file of the course's conventions (layouts, "
                                                             "sum or mean, penalty form, ...); with --preset, its "
                                                             "keys override the preset's")
    parser.add_argument("--preset", choices=list(PRESETS), help="named conventions: homework (the default), "
                                                                "cs231n and cs231n-2016 (assignment 1's TwoLayerNet), "
                                                                "cs231n-a2 and cs231n-a2-fc (assignment 2's TwoLayerNet "
                                                                "and FullyConnectedNet)")
    parser.add_argument("--factory", metavar="NAME", help="the name of the factory a bare path/to/file.py defines "
                                                          "(default: the assignment's: make_mlp, else factory)")
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
    return cli.run_guarded("validate", _main, argv, internal="internal error (not a verdict on the implementation)")


def _main(argv) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as error:
        print(f"validate: error: {error}", file=sys.stderr)
        return 2
    own_modules_first()
    try:
        base = preset(args.preset) if args.preset else None
        assignment = load_assignment(args.assignment, base=base) if args.assignment else base or preset("homework")
        if args.factory is not None:
            assignment = assignment.with_factory(args.factory)
    except AssignmentError as error:
        print(f"validate: error: {error}", file=sys.stderr)
        return 2
    to_stdout = args.json in ("-", "/dev/stdout")
    if args.json and not to_stdout:
        folder = os.path.dirname(os.path.abspath(args.json))
        problem = ("its folder does not exist" if not os.path.isdir(folder) else
                   "its folder is not writable" if not os.access(folder, os.W_OK) else
                   "is a folder" if os.path.isdir(args.json) else None)
        if problem:
            print(f"validate: error: --json {args.json}: {problem}", file=sys.stderr)
            return 2
    from compare.grader.workers import isolation

    try:
        level = isolation.choose_level(args.isolation)  # before anything runs: bubblewrap asked for and missing
    except (ValueError, RuntimeError) as error:
        print(f"validate: error: {error}", file=sys.stderr)
        return 2
    if args.isolation == "auto" and level == isolation.PROCESS:
        print(f"validate: warning: bubblewrap is not available ({isolation.fallback_reason() or 'bwrap cannot run here'}"
              "): the implementation runs at the process level only (resource limits and a private folder; no "
              "read-only filesystem, no network isolation)", file=sys.stderr)
    warnings.simplefilter("ignore")  # an implementation's numbers may overflow in the grader's arithmetic: quietly
    try:
        report = validate(args.spec, assignment=assignment, timeout=args.timeout, budget=args.budget, seed=args.seed,
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
