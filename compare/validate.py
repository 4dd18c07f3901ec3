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
installed, resource limits, NumPy only). This module is the command line; the judging itself,
with ``validate()`` and ``assert_matches_reference()`` for Python, is ``compare.grader.validation``
(both are importable from here too). The validator writes its own values into ``params``
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
import os
import sys
import warnings

from compare import cli  # before NumPy and torch: from here on, Ctrl-C during start-up exits 130 on one line
from compare.grader.course.assignment import PRESETS, load_assignment, preset
from compare.grader.results.report import format_report
from compare.grader.validation import (
    DEFAULT_BUDGET,
    DEFAULT_TIMEOUT,
    assert_matches_reference,
    own_modules_first,
    validate,
)

__all__ = ["assert_matches_reference", "build_parser", "main", "validate"]
NAME = "validate"


def build_parser() -> argparse.ArgumentParser:
    parser = cli.Parser(
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
    parser.add_argument("--timeout", type=cli.number(float, 0, "a positive number of seconds", exclusive=True), default=DEFAULT_TIMEOUT,
                        help=f"seconds allowed per call into the implementation (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--budget", type=cli.number(float, 0, "a positive number of seconds", exclusive=True), default=DEFAULT_BUDGET,
                        help=f"seconds allowed for all calls together (default {DEFAULT_BUDGET:g})")
    parser.add_argument("--memory", type=cli.number(int, 256, "a whole number of MiB ≥ 256"), default=2048,
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


def main(argv=None) -> int:
    return cli.run_guarded(NAME, _main, argv, internal="internal error (not a verdict on the implementation)")


def _main(argv) -> int:
    args = build_parser().parse_args(argv)
    own_modules_first()
    try:
        base = preset(args.preset) if args.preset else None
        assignment = load_assignment(args.assignment, base=base) if args.assignment else base or preset("homework")
        if args.factory is not None:
            assignment = assignment.with_factory(args.factory)
    except ValueError as error:  # AssignmentError
        raise cli.UsageError(str(error)) from None
    to_stdout = args.json in ("-", "/dev/stdout")
    if args.json and not to_stdout:
        _check_json_path(args.json)
    _say_isolation(args.isolation)
    warnings.simplefilter("ignore")  # an implementation's numbers may overflow in the grader's arithmetic: quietly
    try:
        report = validate(args.spec, assignment=assignment, timeout=args.timeout, budget=args.budget, seed=args.seed,
                          memory_mb=args.memory, allow_imports=args.allow_import, isolation=args.isolation)
    except (ValueError, RuntimeError) as error:  # bad limits; --isolation bubblewrap where bwrap is missing
        raise cli.UsageError(str(error)) from None
    # The worker and all it started are dead here: nothing but the grader writes from now on.
    try:
        if report.error is not None:
            print(f"{NAME}: {args.spec}: {report.error}", file=sys.stderr)
        elif not to_stdout:
            print(format_report(report, brief=args.brief), flush=True)
        if to_stdout:
            print(json.dumps(report.to_dict(), indent=2, allow_nan=False), flush=True)
    except BrokenPipeError:  # e.g. piped into `head`: the verdict's exit code all the same, and no traceback
        sys.stderr.close()
    if args.json and not to_stdout:
        try:
            cli.write_json_atomic(args.json, report.to_dict())
        except OSError as error:
            print(f"{NAME}: cannot write {args.json}: {error.strerror or error}", file=sys.stderr)
            return cli.EXIT_USAGE
    return report.exit_code


def _check_json_path(path: str) -> None:
    """``cli.UsageError`` unless the report can be written at ``path``: checked before anything runs."""
    folder = os.path.dirname(os.path.abspath(path))
    problem = ("its folder does not exist" if not os.path.isdir(folder) else
               "its folder is not writable" if not os.access(folder, os.W_OK) else
               "is a folder" if os.path.isdir(path) else None)
    if problem:
        raise cli.UsageError(f"--json {path}: {problem}")


def _say_isolation(asked: str) -> None:
    """``cli.UsageError`` when bubblewrap is asked for and cannot run; a warning when 'auto' falls back
    to the process level."""
    from compare.grader.workers import isolation

    try:
        level = isolation.choose_level(asked)  # before anything runs: bubblewrap asked for and missing
    except (ValueError, RuntimeError) as error:
        raise cli.UsageError(str(error)) from None
    if asked == "auto" and level == isolation.PROCESS:
        print(f"{NAME}: warning: bubblewrap is not available ({isolation.fallback_reason() or 'bwrap cannot run here'}"
              "): the implementation runs at the process level only (resource limits and a private folder; no "
              "read-only filesystem, no network isolation)", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
