"""Judging one submission: run the battery on it in an isolated worker, compare with the
reference, and diagnose — what ``backprop-validate`` (``compare.validate``) does for one
implementation and ``backprop-grade`` and the Gradescope autograder do for each student.

``validate(target, ...)`` is the Python entry point (a ``Report``); ``assert_matches_reference``
is the one for a course's own pytest file; ``judge`` runs the battery once the limits and
permissions are set (``compare.grader.options.grading_options``).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from compare.grader.course.assignment import Assignment, as_assignment
from compare.grader.judging import battery
from compare.grader.judging.records import Report
from compare.grader.options import DEFAULT_BUDGET, DEFAULT_TIMEOUT, LOAD_CPU_SECONDS, grading_options
from compare.grader.results.report import format_report
from compare.grader.sandbox.errors import StudentError, clean_text
from compare.grader.sandbox.sources import defined_names, names_in
from compare.grader.submissions.submission import Submission, definitions_only, is_path, resolve
from compare.grader.workers.runner import InProcessRunner, WorkerRunner

__all__ = ["DEFAULT_BUDGET", "DEFAULT_TIMEOUT", "LOAD_CPU_SECONDS", "assert_matches_reference", "grading_options",
           "judge", "own_modules_first", "validate"]


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


def _runner(target, assignment: Assignment, options: dict):
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
    submission = resolve(target, allow_imports=options["allow_imports"], also_factories=names[1:])
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
    options = grading_options(assignment, timeout=timeout, budget=budget, memory_mb=memory_mb, isolation=isolation,
                              allow_imports=allow_imports)
    import torch

    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only spin (10x slower on a busy machine)
    try:
        return judge(target, assignment, options, seed, start)
    finally:
        torch.set_num_threads(threads)


def judge(target, assignment: Assignment, options: dict, seed: int, start: float) -> Report:
    """``target``'s report under ``options`` (``grading_options``): the battery, the comparison with
    the reference and the diagnosis. Never raises for anything the implementation does."""
    from compare.grader.course.words import CourseWords
    from compare.grader.diagnosis.aggregation import diagnose

    words = CourseWords.of(assignment)

    name = target if isinstance(target, str) else getattr(target, "spec", None) or getattr(
        target, "__qualname__", repr(target))
    report = Report(target=name, assignment=assignment.describe(), words=words)
    runner = None
    try:
        report.target, factory, runner = _runner(target, assignment, options)
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
    references = threading.Thread(target=battery.prepare, args=(assignment, seed, stop), name="references", daemon=True)
    references.start()
    try:
        with runner:
            battery.run(runner, report, assignment, factory, seed)
    finally:
        stop.set()
        references.join()  # it stops between two cases; a thread left inside torch at exit aborts the process


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

        from compare.grader.validation import assert_matches_reference

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


def own_modules_first() -> None:
    """``python -m`` puts the current folder first on sys.path, so a student's ``reference.py`` or
    ``manual/`` there would be imported by the grader instead of the project's. Drop that entry
    (the project is found through its installation); the console script never adds it."""
    project = Path(__file__).resolve().parents[2]  # compare/grader/validation.py
    cwd = Path.cwd().resolve()
    if cwd != project:
        sys.path[:] = [p for p in sys.path if p not in ("", ".") and Path(p).resolve() != cwd]


