"""The options every grading command takes (``backprop-grade``, ``backprop-autograder``), written
once: the course (``--preset``, ``--assignment``, ``--factory``), what a submission may import, and
its limits. ``course(args)`` checks them all before anything runs and raises ``UsageError`` or
``AssignmentError`` naming the bad value; ``grading_options`` turns the limits into what every
submission of a run gets (``backprop-validate`` gives one submission the same).
"""

from __future__ import annotations

import argparse

from compare import cli
from compare.grader.course.assignment import PRESETS, Assignment, load_assignment, preset
from compare.grader.workers.isolation import Limits
from compare.grader.workers.packages import NEVER_SHOWN

DEFAULT_TIMEOUT = 10.0  # seconds per call into the student's code
DEFAULT_BUDGET = 25.0  # seconds for all of it (a correct implementation needs ~1 s)
LOAD_CPU_SECONDS = 35  # CPU seconds on top of the budget: importing the module, NumPy, start-up
UNBUDGETED_CPU_SECONDS = 600  # the CPU time of a run without a budget (budget=None), before the load's


def grading_options(assignment: Assignment, *, timeout: float = DEFAULT_TIMEOUT, budget: float | None = DEFAULT_BUDGET,
                    memory_mb: int = 2048, isolation: str = "auto", allow_imports=()) -> dict:
    """The limits and permissions a submission gets, the same for every student of a run: each call
    may take ``timeout`` seconds, all of them ``budget`` (None: no total); the worker gets the
    budget's CPU seconds plus ``LOAD_CPU_SECONDS`` (whole seconds), ``memory_mb`` of memory, and may
    import the assignment's modules and ``allow_imports`` besides NumPy."""
    limits = Limits(memory_mb=memory_mb, cpu_seconds=int((budget or UNBUDGETED_CPU_SECONDS) + LOAD_CPU_SECONDS))
    allowed = tuple(dict.fromkeys((*assignment.allow_imports, *allow_imports)))
    return {"timeout": timeout, "budget": budget, "limits": limits, "allow_imports": allowed, "isolation": isolation}


def add_course_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=sorted(PRESETS), help="named conventions (default: homework)")
    parser.add_argument("--assignment", metavar="FILE", help="TOML file of the course's conventions, points and "
                                                             "visibility (with --preset: its keys change the preset's)")
    parser.add_argument("--factory", metavar="NAME", help="the factory each submission defines (default: the "
                                                         "assignment's)")
    parser.add_argument("--allow-import", action="append", default=[], metavar="MODULE",
                        help="let submissions import MODULE besides NumPy (repeatable)")
    parser.add_argument("--timeout", type=cli.number(float, 1e-3, "a positive number of seconds"), default=DEFAULT_TIMEOUT,
                        metavar="S", help="seconds per call into a submission (default 10)")
    parser.add_argument("--budget", type=cli.number(float, 1e-3, "a positive number of seconds"), default=DEFAULT_BUDGET,
                        metavar="S", help="seconds for all calls of one submission (default 25)")
    parser.add_argument("--memory", type=cli.number(int, 256, "a whole number of MiB ≥ 256"), default=2048,
                        metavar="MIB", help="memory of one submission, all its processes together (MiB, default 2048)")
    parser.add_argument("--isolation", choices=("auto", "bubblewrap", "process"), default="auto",
                        help="bubblewrap, process, or auto: the best available (default; says so when it falls "
                             "back to process)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the case battery (default 0)")


def course(args) -> Assignment:
    """The assignment the options name (the preset, the TOML's keys over it, then ``--factory``),
    with its points checked against the battery and every allowed import a module name."""
    from compare.grader.course import points

    for module in args.allow_import:
        if not module.isidentifier():
            raise cli.UsageError(f"--allow-import {module!r}: not a module name")
        if module in NEVER_SHOWN:
            raise cli.UsageError(f"--allow-import {module}: the answer key and the grader are never shown to a "
                                 "submission")
    base = preset(args.preset) if args.preset else None
    assignment = load_assignment(args.assignment, base=base) if args.assignment else base or preset("homework")
    if args.factory is not None:
        if not all(part.isidentifier() for part in args.factory.split(".")):
            raise cli.UsageError(f"--factory {args.factory!r}: not a Python name")
        assignment = assignment.with_factory(args.factory)
    points.case_points(assignment, points.scored_case_names(assignment, args.seed))  # a bad key, named
    return assignment
