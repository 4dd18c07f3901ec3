"""A Gradescope autograder for a course's backprop homework, in one command.

    backprop-autograder --preset cs231n -o autograder.zip
    backprop-autograder --assignment course.toml [--factory NAME] [--allow-import M ...]
                        [--timeout S] [--budget S] [--memory MIB] [--isolation auto|bubblewrap|process]
                        [--seed N] -o autograder.zip

writes the zip to upload as the assignment's autograder (Gradescope's specification; see
``compare.grader.results.gradescope`` and docs/gradescope.md): ``setup.sh`` installs this project,
bundled in the zip, and the CPU build of torch; ``run_autograder`` grades each submission with
the course's settings, which the zip carries as resolved here (the preset, the TOML's keys, the
factory, every option). Bad options and an output that cannot be written are refused (exit 2,
one line naming the value) before anything is written.

    python -m compare.grader.autograder run [--settings DIR]

is what ``run_autograder`` calls: it grades ``$AUTOGRADER_ROOT/submission/`` (default
``/autograder``) as one student's folder, exactly as ``backprop-grade`` grades a student of a
class, and writes ``$AUTOGRADER_ROOT/results/results.json``. A student's error is a score of 0
with its cause (exit 0); the grader's own failure still writes a results.json saying so, and
exits 3.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from compare import cli
from compare.grader import options as course_options
from compare.grader.course.assignment import AssignmentError
from compare.grader.results.gradescope import SETTINGS, BundleError
from compare.grader.sandbox.errors import clean_text

NAME = "autograder"


def build_parser() -> argparse.ArgumentParser:
    parser = cli.Parser(prog="backprop-autograder", description=__doc__.split("\n\n")[0],
                     epilog="`python -m compare.grader.autograder run` is what the zip's run_autograder calls: it grades "
                            "$AUTOGRADER_ROOT/submission/ (default /autograder) into results/results.json.")
    course_options.add_course_options(parser)
    parser.add_argument("-o", "--out", default="autograder.zip", metavar="ZIP",
                        help="the zip to write (default ./autograder.zip)")
    return parser


def _writable(out: Path) -> None:
    """``cli.UsageError`` unless ``out`` can be written (tried, not guessed: root passes os.access)."""
    if os.path.isdir(out):  # os.path's tests are False on any OSError (Path's raise on a name too long)
        raise cli.UsageError(f"-o {out}: is a folder; give the zip's file name (autograder.zip)")
    if os.path.exists(out) and not os.path.isfile(out):
        raise cli.UsageError(f"-o {out}: exists and is not a regular file")
    try:
        fd, probe = tempfile.mkstemp(prefix=".autograder-probe-", dir=out.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise cli.UsageError(f"-o {out}: cannot be written in {out.parent} ({error.strerror or error})") from None


def _torch_versions() -> dict:
    """The torch and torchvision beside which the bundle is built (their public version: no +cu130)."""
    from importlib import metadata

    found = {}
    for name in ("torch", "torchvision"):
        try:
            found[name] = metadata.version(name).split("+")[0]
        except metadata.PackageNotFoundError:
            pass
    return found


def _build(argv) -> int:
    from compare.grader.results import gradescope

    try:
        args = build_parser().parse_args(argv)
        assignment = course_options.course(args)
        out = Path(args.out)
        _writable(out)
        settings = gradescope.check_options({"timeout": args.timeout, "budget": args.budget, "memory_mb": args.memory,
                                            "isolation": args.isolation, "allow_imports": args.allow_import,
                                            "seed": args.seed})
        members = gradescope.build_bundle(out, assignment, settings, _torch_versions())
    except (cli.UsageError, AssignmentError, BundleError) as error:
        print(f"{NAME}: error: {clean_text(error, 500)}", file=sys.stderr)
        return cli.EXIT_USAGE
    source = sum(1 for m in members if not m.startswith(("setup.sh", "run_autograder", f"{SETTINGS}/")))
    print(f"wrote {out} ({assignment.describe()}): setup.sh, run_autograder, {SETTINGS}/ (the assignment and "
          f"options) and the project's {source} source files; upload it as the assignment's autograder "
          "(docs/gradescope.md)")
    return 0


# ----------------------------------------------------------------------------- in Gradescope's container
def _grade(root: Path, settings: Path, start: float) -> dict:
    """results.json for the submission in ``root``; raises for the grader's own failures only."""
    import warnings

    from compare.grader.results import gradescope

    assignment, options = gradescope.read_settings(settings)
    folder = root / "submission"
    if not folder.is_dir() or folder.is_symlink():
        raise FileNotFoundError(f"no submission folder at {folder} (Gradescope puts the student's files there)")
    import torch

    from compare.grader.classrun import grade_student, grading_options, isolation_level
    from compare.grader.submissions.classfolder import Student
    from compare.grader.validation import own_modules_first

    own_modules_first()
    warnings.simplefilter("ignore")  # a student's numbers may overflow in the grader's arithmetic: quietly
    torch.set_num_threads(1)  # tiny tensors: more threads only spin
    level, warning = isolation_level(options["isolation"])
    grading = grading_options(assignment, timeout=options["timeout"], budget=options["budget"],
                              memory_mb=options["memory_mb"], isolation=level, allow_imports=options["allow_imports"])
    report = grade_student(Student("submission", folder), assignment, grading, options["seed"])
    return gradescope.results(report, assignment, time.perf_counter() - start, level, warning)


def _run(argv) -> int:
    from compare.grader.results import gradescope

    parser = cli.Parser(prog="python -m compare.grader.autograder run", description="grade $AUTOGRADER_ROOT/submission/")
    parser.add_argument("--settings", metavar="DIR", help=f"the bundle's settings (default "
                                                           f"$AUTOGRADER_ROOT/source/{SETTINGS})")
    try:
        args = parser.parse_args(argv)
    except cli.UsageError as error:
        print(f"{NAME}: error: {error}", file=sys.stderr)
        return cli.EXIT_USAGE
    start = time.perf_counter()
    root = Path(os.environ.get("AUTOGRADER_ROOT") or "/autograder")
    settings = Path(args.settings) if args.settings else root / "source" / SETTINGS
    try:
        data = _grade(root, settings, start)
        status = 0
    except Exception as error:  # noqa: BLE001 - the grader's own failure: still a results.json, and exit 3
        why = f"{type(error).__name__}: {clean_text(error, 400)}"
        print(f"{NAME}: internal error (not a verdict on the submission): {why}", file=sys.stderr)
        data, status = gradescope.failure_results(why, time.perf_counter() - start), cli.EXIT_INTERNAL
    try:
        path = gradescope.write_results(root / "results", data)
    except OSError as error:
        print(f"{NAME}: internal error: cannot write {root / 'results' / 'results.json'} "
              f"({error.strerror or error})", file=sys.stderr)
        return cli.EXIT_INTERNAL
    print(f"{path}: score {data['score']:.4g}" + (f" of {data['extra_data']['max_score']:.4g}, "
                                                  f"{data['extra_data']['status']}" if status == 0 else "")
          + f" in {data['execution_time']:.1f} s")
    return status


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["run"]:
        return cli.run(NAME, _run, argv[1:])
    return cli.run_guarded(NAME, _build, argv, internal="internal error")


if __name__ == "__main__":
    sys.exit(main())
