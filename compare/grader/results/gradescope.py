"""Gradescope's autograder format: the zip an instructor uploads, and the ``results.json`` it writes.

Gradescope's specification (gradescope-autograders.readthedocs.io, "Autograder Specifications"):
the zip holds ``setup.sh``, run once as root on Gradescope's Ubuntu image to install what grading
needs, and ``run_autograder``, an executable run once per submission with the zip's contents in
``/autograder/source`` and the student's files in ``/autograder/submission``. It must leave
``/autograder/results/results.json``: the ``score``, the ``execution_time`` (seconds), an ``output``
for the whole submission (here Markdown: ``output_format`` ``"md"``) and one entry in ``tests`` per
graded part (``name``, ``score``, ``max_score``, ``status`` ``"passed"``/``"failed"``, ``output``,
``visibility``). What ``run_autograder`` prints goes to ``/autograder/results/stdout``, shown to the
instructor only (``stdout_visibility`` ``"hidden"``).

The zip made here bundles this project as a source tree (``setup.sh`` installs it with pip) and
the course's settings: the assignment as TOML (read back and compared before the zip is written,
so the bundle grades exactly the assignment the instructor resolved) and the grading options as
JSON. Student text that reaches the Markdown is escaped (``outputs.markdown_text``).
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
import zipfile
from dataclasses import fields
from pathlib import Path

from compare import cli
from compare.grader.course.assignment import Assignment, load_assignment
from compare.grader.results.outputs import markdown_text as md

PROJECT = Path(__file__).resolve().parents[3]  # the source tree this module belongs to
BUNDLED = ("manual", "reference", "compare", "pyproject.toml", "README.md")  # never tests/ or .git
SETTINGS = "course"  # the folder of the zip that holds the course's settings
ASSIGNMENT_FILE = "assignment.toml"
OPTIONS_FILE = "options.json"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # every member's date: the same settings give the same bytes
ISOLATIONS = ("auto", "bubblewrap", "process")


class BundleError(ValueError):
    """The bundle cannot be made or its settings read; the message names the bad value or file."""


# ----------------------------------------------------------------------------- the settings
def _toml_string(text: str) -> str:
    # JSON's escapes are TOML's, but for the characters TOML wants escaped that JSON leaves (DEL).
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise BundleError(f"cannot write {value!r} ({type(value).__name__}) as TOML")


def assignment_toml(assignment: Assignment) -> str:
    """The assignment as a TOML file that ``load_assignment`` reads back equal: every key written
    (none left to a default that could change), ``points`` last as a table."""
    lines = ["# The course's assignment, resolved when this autograder was built (backprop-autograder).",
             "# Its keys are documented in compare/grader/course/assignment.py."]
    for f in fields(Assignment):
        value = getattr(assignment, f.name)
        if f.name != "points" and value is not None:
            lines.append(f"{f.name} = {_toml_value(value)}")
    lines.append("")
    lines.append("[points]")
    lines += [f"{_toml_string(glob)} = {_toml_value(points)}" for glob, points in assignment.points]
    return "\n".join(lines) + "\n"


def check_options(options: dict) -> dict:
    """The grading options a bundle carries, checked; ``BundleError`` names the first bad one."""
    expected = {"timeout", "budget", "memory_mb", "isolation", "allow_imports", "seed"}
    if not isinstance(options, dict) or set(options) != expected:
        got = sorted(options) if isinstance(options, dict) else type(options).__name__
        raise BundleError(f"grading options must have exactly the keys {sorted(expected)}, got {got}")
    for key in ("timeout", "budget"):
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
            raise BundleError(f"{key} = {value!r} must be a positive number of seconds")
    memory = options["memory_mb"]
    if isinstance(memory, bool) or not isinstance(memory, int) or memory < 256:
        raise BundleError(f"memory_mb = {memory!r} must be a whole number of MiB, at least 256")
    if options["isolation"] not in ISOLATIONS:
        raise BundleError(f"isolation = {options['isolation']!r} is not one of {', '.join(ISOLATIONS)}")
    modules = options["allow_imports"]
    if not isinstance(modules, list | tuple) or not all(isinstance(m, str) and m.isidentifier() for m in modules):
        raise BundleError(f"allow_imports = {modules!r} must be a list of module names")
    if isinstance(options["seed"], bool) or not isinstance(options["seed"], int):
        raise BundleError(f"seed = {options['seed']!r} must be a whole number")
    return {**options, "allow_imports": list(modules)}


def read_settings(folder: Path) -> tuple[Assignment, dict]:
    """(the assignment, the grading options) a bundle carries in ``folder``."""
    folder = Path(folder)
    assignment = load_assignment(folder / ASSIGNMENT_FILE)  # AssignmentError names the file and key
    try:
        options = json.loads((folder / OPTIONS_FILE).read_text(encoding="utf-8"))
    except OSError as error:
        raise BundleError(f"cannot read {folder / OPTIONS_FILE}: {error.strerror or error}") from None
    except ValueError as error:
        raise BundleError(f"{folder / OPTIONS_FILE} is not valid JSON: {error}") from None
    return assignment, check_options(options)


# ----------------------------------------------------------------------------- the two scripts
SETUP_SH = f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu 22.04 or later:
# the project needs Python >= 3.10). The zip's contents are in /autograder/source.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"

apt-get update
# bubblewrap: the sandbox each submission runs in, where the container lets it create namespaces
# (otherwise the grader falls back to a plain process and results.json says so).
apt-get install -y --no-install-recommends python3 python3-pip python3-venv bubblewrap

python3 -m venv "$ROOT/venv"
PIP="$ROOT/venv/bin/pip"
"$PIP" install --no-cache-dir --upgrade pip
# The CPU build of torch: the reference needs no GPU, and it is a few hundred MB instead of the
# CUDA build's gigabytes. A CPU torch must pair with the torchvision built for it: install both in
# one command from the same index, so that pip picks a matching pair ({{pins}}).
"$PIP" install --no-cache-dir --index-url {CPU_INDEX} torch torchvision
# This project, bundled in the zip as a source tree (manual/, reference/, compare/, pyproject.toml).
"$PIP" install --no-cache-dir "$ROOT/source"
# Fail the build here, not on the first submission, if anything is missing.
"$ROOT/venv/bin/python3" -c "import torch, torchvision, compare.grader.autograder; print('torch', torch.__version__)"
"""

RUN_AUTOGRADER = f"""#!/usr/bin/env bash
# Gradescope runs this once per submission: it grades $ROOT/submission/ with the course's settings
# bundled in $ROOT/source/{SETTINGS}/ and writes $ROOT/results/results.json.
# AUTOGRADER_ROOT (default /autograder) and AUTOGRADER_PYTHON let it be tried outside Gradescope.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
export AUTOGRADER_ROOT="$ROOT"
if [ -x "$ROOT/venv/bin/python3" ]; then
    export PATH="$ROOT/venv/bin:$PATH"  # the environment setup.sh made
fi
mkdir -p "$ROOT/results"
rm -f "$ROOT/results/results.json"
cd "$ROOT"
"${{AUTOGRADER_PYTHON:-python3}}" -m compare.grader.autograder run --settings "$ROOT/source/{SETTINGS}"
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
    # Python could not even start the grader: still tell Gradescope, and the student, whose fault it is.
    printf '{{"score": 0.0, "execution_time": %d, "output": "**The autograder itself failed (it could not start); this is not a verdict on your submission.** Your instructor has been told through the autograder log.", "output_format": "md", "stdout_visibility": "hidden", "tests": []}}\\n' "$SECONDS" > "$ROOT/results/results.json"
    [ "$status" -ne 0 ] || status=3
fi
exit $status
"""


def setup_script(torch_versions: dict | None = None) -> str:
    """``setup.sh``; ``torch_versions`` ({"torch": "2.5.1", ...}) are named in a comment: the
    versions the bundle was built beside, to pin if the course wants exactly those."""
    built = ", ".join(f"{name} {version}" for name, version in (torch_versions or {}).items())
    pins = f"built beside {built}; pin both with ==VERSION to get exactly those" if built else "pin both to fix them"
    return SETUP_SH.replace("{pins}", pins)


# ----------------------------------------------------------------------------- the zip
def _source_files(project: Path) -> list:
    """(path in the zip, file) for the bundled source tree: no caches, no hidden files."""
    missing = [name for name in BUNDLED if not (project / name).exists()]
    if missing:
        raise BundleError(f"the project's source tree is not complete at {project} (missing: {', '.join(missing)}); "
                          "build the autograder from a clone of the project")
    found = []
    for name in BUNDLED:
        top = project / name
        if top.is_file():
            found.append((name, top))
            continue
        for folder, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            for file in sorted(files):
                path = Path(folder) / file
                if not file.startswith(".") and not file.endswith((".pyc", ".pyo")) and path.is_file() \
                        and not path.is_symlink():
                    found.append((path.relative_to(project).as_posix(), path))
    return found


def _add(archive: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_bundle(out: Path, assignment: Assignment, options: dict, torch_versions: dict | None = None,
                 project: Path = PROJECT) -> list:
    """Write the autograder zip to ``out`` (a temporary file beside it, then a rename); return the
    names of its members."""
    options = check_options(options)
    toml = assignment_toml(assignment)
    with tempfile.TemporaryDirectory() as scratch:  # the TOML must read back as the same assignment
        (Path(scratch) / ASSIGNMENT_FILE).write_text(toml, encoding="utf-8")
        if load_assignment(Path(scratch) / ASSIGNMENT_FILE) != assignment:
            raise BundleError(f"the assignment {assignment.name!r} does not read back equal from its TOML")
    members = [("setup.sh", setup_script(torch_versions).encode(), True),
               ("run_autograder", RUN_AUTOGRADER.encode(), True),
               (f"{SETTINGS}/{ASSIGNMENT_FILE}", toml.encode(), False),
               (f"{SETTINGS}/{OPTIONS_FILE}", (json.dumps(options, indent=2) + "\n").encode(), False)]
    members += [(name, path.read_bytes(), False) for name, path in _source_files(Path(project))]
    out = Path(out)
    fd, tmp = tempfile.mkstemp(prefix=".autograder-", suffix=".zip", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w") as archive:
            for name, data, executable in members:
                _add(archive, name, data, executable)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return [name for name, _, _ in members]


# ----------------------------------------------------------------------------- results.json
def _case_output(entry, case, words=None) -> str:
    """A test's output: why it scored what it did, then (when it disagrees) its table, in the
    course's layout and words (``words``: the report's)."""
    from compare.grader.results.report import format_case

    text = md(entry.output, 600)
    if case is not None and not case.passed:
        table = (format_case(case, words) if words is not None else format_case(case)).replace("`", "'")
        text += "\n\n```\n" + table + "\n```"
    return text


def isolation_line(report, level: str, warning: str | None) -> str:
    """Which isolation level the submission's code ran at (or that none of it ran)."""
    if report.isolation:  # "bubblewrap: read-only filesystem, ..." or "process: own session, ..."
        name, _, detail = report.isolation.partition(":")
        line = f"the submission ran at the **{md(name)}** level" + (f" ({md(detail.strip())})" if detail else "")
    else:
        line = f"none of the submission's code ran (it would have run at the {md(level)} level)"
    return line + (f". Warning: {md(warning, 600)}" if warning else "")


def summary_markdown(report, level: str, warning: str | None) -> str:
    """The results' ``output``: the verdict, the points, what was graded, the diagnosis, the notes."""
    _, rest = report.verdict_parts  # the status says the grader's word; the rest may quote the student
    lines = [f"## {report.status.upper()}: {md(rest)}", ""]
    score = report.score
    if score is not None:
        passed = sum(1 for c in score.cases if c.status == "passed")
        lines += [f"Score: **{score.score:.4g} of {score.max_score:.4g}** ({passed} of {len(score.cases)} "
                  "scored cases pass).", ""]
    lines += [f"- graded: {md(report.target, 300)}", f"- conventions: {md(report.assignment)}",
              f"- isolation: {isolation_line(report, level, warning)}"]
    if report.diagnosis:
        lines += ["", "### Diagnosis (most likely first)", ""]
        lines += [f"{i}. {md(f.message)}" for i, f in enumerate(report.diagnosis, start=1)]
    for title, items in (("Conventions", report.conventions), ("Notes", report.notes), ("Skipped", report.skipped)):
        if items:
            lines += ["", f"### {title}", ""] + [f"- {md(item)}" for item in items]
    return "\n".join(lines).rstrip() + "\n"


def results(report, assignment: Assignment, seconds: float, level: str, warning: str | None = None) -> dict:
    """``results.json`` for a graded submission (a student's error included: it scores 0)."""
    by_name = {c.case.name: c for c in report.cases}
    tests = [{"name": entry.name, "score": entry.points, "max_score": entry.max_points,
              "status": "passed" if entry.status == "passed" else "failed",
              "output": _case_output(entry, by_name.get(entry.name), getattr(report, "words", None)),
              "visibility": assignment.visibility}
             for entry in report.score.cases]
    return {"score": round(report.score.score, 4), "execution_time": round(seconds, 2),
            "output": summary_markdown(report, level, warning), "output_format": "md", "test_output_format": "md",
            "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"status": report.status, "exit_code": report.exit_code, "error_kind": report.error_kind,
                           "isolation": report.isolation or "", "max_score": round(report.score.max_score, 4)}}


def failure_results(why: str, seconds: float) -> dict:
    """``results.json`` when the autograder itself failed: 0, and a student told it is not their fault."""
    return {"score": 0.0, "execution_time": round(seconds, 2),
            "output": ("**The autograder itself failed; this is not a verdict on your submission.** Your instructor "
                       f"can see why in the autograder's log.\n\n- cause: {md(why, 500)}\n"),
            "output_format": "md", "stdout_visibility": "hidden", "tests": [],
            "extra_data": {"status": "internal"}}


def write_results(folder: Path, data: dict) -> Path:
    """Write ``results.json`` into ``folder`` in one step (a temporary file, then a rename), mode 0644
    whatever the umask (readable by all, writable by the grader only)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cli.write_json_atomic(folder / "results.json", data, mode=0o644)
    return folder / "results.json"
