"""A class folder as an instructor receives it: one ``Student`` per submission, every other entry
with the reason it is not graded.

Nothing in the folder is trusted. Entries are listed, never followed: a symbolic link is a
student's error (it could point at a classmate's file or anywhere on the machine), a FIFO or
device is never opened, and a student's folder is walked without recursion, within bounds
(depth, entries, path length). Names are taken as the bytes the filesystem holds (a zip made
on Windows unpacks to names that are not UTF-8) and shown printable. Suffixes match without
regard to case (``Bob.PY``). Finding what a student submitted never runs their code: files
are read with a size cap and parsed (``sources``).

In a student's folder, the file graded is chosen deliberately and said in the notes: the
assignment's ``file`` if it names one, else the files that define the factory — the shallowest
first, a name that looks like an old attempt last, ``.py`` before ``.ipynb``. A file inside a
package (``cs231n/classifiers/fc_net.py``, with or without ``__init__.py``) is loaded as that
package's module, so its relative and absolute imports of its own package work.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from compare.grader.sandbox.errors import StudentError, clean_text
from compare.grader.sandbox.sources import SourceError, defined_names, read_source
from compare.grader.sandbox.syntax import syntax_problem
from compare.grader.submissions.submission import Submission, from_notebook, package_context, plan_stubs

SUFFIXES = (".py", ".ipynb")
MAX_DEPTH = 8  # folders below a student's folder
MAX_ENTRIES = 5000  # entries looked at in one student's folder
MAX_PATH_BYTES = 3800  # under Linux's PATH_MAX (4096), with room for the grader's own prefix
OUTPUT_MARKER = ".backprop-grade"  # written into every output folder: never taken for a student
NOT_WALKED = {"__pycache__": "Python's cache", ".ipynb_checkpoints": "Jupyter's autosaves",
              "__MACOSX": "macOS metadata added by a zip", "node_modules": "JavaScript packages",
              ".git": "a git repository's internals"}
OLD_LOOKING = re.compile(r"old|backup|bak|copy|draft|attempt|scratch|tmp|temp|test|v\d|\(\d\)", re.I)


@dataclass
class Student:
    """One row of the class: what to grade, or the student's error that stops it."""

    name: str  # printable, unique in the class
    path: Path  # the entry in the class folder
    submission: Submission | None = None
    problem: StudentError | None = None
    notes: list = field(default_factory=list)


@dataclass
class ClassFolder:
    students: list
    skipped: list  # (printable entry name, why it is not graded)


def printable(name: str) -> str:
    """A file name as a person can read it: bytes that are not UTF-8 shown as \\xNN, control and
    bidi characters removed, cut to 120 characters."""
    try:
        text = os.fsencode(name).decode("utf-8", "backslashreplace")
    except (UnicodeError, TypeError):
        text = repr(name)
    return clean_text(text, 120) or "(unnamed)"


def is_output_folder(path: Path) -> bool:
    try:
        return (path / OUTPUT_MARKER).is_file() and not (path / OUTPUT_MARKER).is_symlink()
    except OSError:
        return False


def _suffix(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def scan(folder: Path, exclude: Path | None = None) -> ClassFolder:
    """Every entry of ``folder``: a ``Student`` per submission (not yet prepared), the rest skipped."""
    students, skipped = [], []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: os.fsencode(e.name))
    except OSError as error:
        raise OSError(f"cannot list the class folder {folder}: {error.strerror or error}") from None
    for entry in entries:
        name, shown = entry.name, printable(entry.name)
        path = Path(folder) / name
        try:
            is_link = entry.is_symlink()
            is_dir = not is_link and entry.is_dir(follow_symlinks=False)
            is_file = not is_link and entry.is_file(follow_symlinks=False)
        except OSError as error:
            students.append(Student(shown, path, problem=StudentError("load", f"{shown}: cannot be read "
                                                                               f"({error.strerror or error})")))
            continue
        if exclude is not None and is_dir and _same(path, exclude):
            skipped.append((shown, "the grader's output folder"))
        elif is_dir and is_output_folder(path):
            skipped.append((shown, "an earlier grading run's output folder"))
        elif name in NOT_WALKED:
            skipped.append((shown, NOT_WALKED[name]))
        elif name.startswith("."):
            skipped.append((shown, "hidden (its name starts with '.')"))
        elif is_link:
            students.append(Student(_stem(shown), path, problem=StudentError(
                "load", f"{shown} is a symbolic link: links are never followed (one could point at a "
                        "classmate's file); submit the file itself")))
        elif is_dir:
            students.append(Student(shown, path))
        elif _suffix(name) in SUFFIXES:
            if name in ("__init__.py",):
                skipped.append((shown, "a package marker, not a submission"))
            elif not is_file:
                students.append(Student(_stem(shown), path, problem=StudentError(
                    "load", f"{shown} is not a regular file ({_file_type(path)}); it is not opened")))
            else:
                students.append(Student(_stem(shown), path))
        elif _suffix(name) in (".zip", ".tar", ".gz", ".tgz", ".7z", ".rar"):
            skipped.append((shown, "an archive: unpack it into a folder of the same name to grade it"))
        elif not (is_file or is_dir):
            skipped.append((shown, f"not a regular file or folder ({_file_type(path)})"))
        else:
            skipped.append((shown, "not a .py, .ipynb or folder"))
    _unique_names(students)
    return ClassFolder(students, skipped)


def _stem(shown: str) -> str:
    stem, suffix = os.path.splitext(shown)
    return stem if suffix.lower() in SUFFIXES and stem else shown


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _file_type(path: Path) -> str:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "unreadable"
    for test, what in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a link")):
        if test(mode):
            return what
    return "not a regular file"


def _unique_names(students: list) -> None:
    """``hw.py`` and ``hw.ipynb`` (or two names that print alike) keep their full entry names."""
    seen: dict = {}
    for s in students:
        seen.setdefault(s.name, []).append(s)
    for same in seen.values():
        if len(same) > 1:
            for s in same:
                s.name = printable(s.path.name)
    counts: dict = {}
    for s in students:  # still alike (names that differ only in unprintable characters)
        counts[s.name] = counts.get(s.name, 0) + 1
        if counts[s.name] > 1:
            s.name = f"{s.name} ({counts[s.name]})"


# ----------------------------------------------------------------------------- one student
def prepare(student: Student, assignment, allow_imports=()) -> None:
    """Find what ``student`` submitted: ``student.submission``, or ``student.problem``."""
    if student.problem is not None:
        return
    try:
        if student.path.is_dir() and not student.path.is_symlink():
            _prepare_folder(student, assignment, allow_imports)
        else:
            _prepare_file(student, assignment, allow_imports)
    except StudentError as error:
        student.problem = error
        student.submission = None


def _factory_names(assignment) -> tuple:
    return assignment.factory_names


def _prepare_file(student: Student, assignment, allow_imports) -> None:
    """A file of the class folder: graded alone (its neighbours are other students)."""
    path = student.path
    try:
        source = read_source(path)  # regular, readable, within the cap: refused here, not in the sandbox
    except SourceError as error:
        raise StudentError("load", clean_text(error, 300)) from None
    names = _factory_names(assignment)
    found = defined_names(path)
    attr = next((n for n in names if n in found), names[0])
    sub = Submission(f"{path.name}:{attr}", path.parent, attr, file=path.name, only=(path.name,))
    if _suffix(path.name) == ".ipynb":
        from_notebook(sub, allow_imports, names)
    elif not path.name.endswith(".py"):  # Bob.PY: Python loads only a .py, so the copy is named so
        stem = os.path.splitext(path.name)[0]
        name = f"{stem}.py" if stem.isidentifier() else "submission.py"
        sub.generated[name] = source
        sub.file = name
        sub.notes.append(f"{printable(path.name)} is loaded as {name}")
    plan_stubs(sub, allow_imports)
    student.submission = sub


@dataclass
class _Walk:
    files: list = field(default_factory=list)  # (depth, relative path)
    links: list = field(default_factory=list)
    left_out: list = field(default_factory=list)  # (relative path, why)
    seen: int = 0


def walk(top: Path) -> _Walk:
    """The .py and .ipynb files under ``top`` (iteratively, within the bounds), its links, and what
    was left out."""
    found = _Walk()
    stack = [(top, (), 0)]
    while stack:
        folder, parts, depth = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: os.fsencode(e.name))
        except OSError as error:
            found.left_out.append(("/".join(parts) or ".", f"cannot be listed ({error.strerror or error})"))
            continue
        for entry in entries:
            found.seen += 1
            if found.seen > MAX_ENTRIES:
                found.left_out.append(("/".join(parts) or ".", f"more than {MAX_ENTRIES} entries: the rest "
                                                                 "was not looked at"))
                return found
            rel = (*parts, entry.name)
            try:
                if entry.is_symlink():
                    found.links.append("/".join(rel))
                    continue
                is_dir = entry.is_dir(follow_symlinks=False)
                is_file = entry.is_file(follow_symlinks=False)
            except OSError:
                found.left_out.append(("/".join(rel), "cannot be read"))
                continue
            if entry.name in NOT_WALKED or entry.name.startswith("."):
                continue
            if len(os.fsencode(entry.path)) > MAX_PATH_BYTES:
                found.left_out.append(("/".join(rel)[:80] + "…", "its path is too long"))
                continue
            if is_dir:
                if os.path.exists(os.path.join(entry.path, "pyvenv.cfg")):
                    continue  # a virtual environment
                if depth + 1 > MAX_DEPTH:
                    found.left_out.append(("/".join(rel), f"deeper than {MAX_DEPTH} folders"))
                    continue
                stack.append((Path(entry.path), rel, depth + 1))
            elif is_file and _suffix(entry.name) in SUFFIXES:
                found.files.append((depth, rel))
    return found


def _rank(depth: int, rel: tuple) -> tuple:
    name = rel[-1]
    return (depth, bool(OLD_LOOKING.search(os.path.splitext(name)[0])), _suffix(name) != ".py",
            os.fsencode("/".join(rel)))


def _prepare_folder(student: Student, assignment, allow_imports) -> None:
    top = student.path
    found = walk(top)
    shown = student.name
    unreadable = next((why for where, why in found.left_out if where == "."), None)
    if unreadable is not None:
        raise StudentError("load", f"{shown}/ {unreadable}")
    if found.links:
        links = ", ".join(printable(p) for p in found.links[:3]) + (
            f" (+{len(found.links) - 3} more)" if len(found.links) > 3 else "")
        raise StudentError("load", f"{shown}/ holds symbolic links ({links}): links are never followed "
                                   "(one could point at a classmate's file); submit the files themselves")
    student.notes += [f"not looked at: {printable(p)} ({why})" for p, why in found.left_out[:5]]
    names = _factory_names(assignment)
    wanted = getattr(assignment, "file", None)
    files = sorted(found.files, key=lambda f: _rank(*f))
    if wanted:
        chosen = [f for f in files if _matches(f[1], wanted)]
        if not chosen:
            listed = ", ".join(printable("/".join(rel)) for _, rel in files[:5]) or "none"
            raise StudentError("load", f"the assignment names the file {wanted!r}, which is not in {shown}/ "
                                       f"(its .py and .ipynb files: {listed})")
        candidates = chosen[:1]
    else:
        candidates = [f for f in files if set(names) & defined_names(top.joinpath(*f[1]))]
    if not candidates:
        listed = [printable("/".join(rel)) for _, rel in files]
        why = f"no .py or .ipynb file in {shown}/ defines {' or '.join(map(repr, names))}"
        if not listed:
            raise StudentError("load", f"{shown}/ holds no .py or .ipynb file"
                                       + (" (some of it was not looked at: see the notes)" if found.left_out else ""))
        broken = [p for _, rel in files if (p := syntax_problem(top.joinpath(*rel)))]
        if broken:
            why += f"; {broken[0]}" + (f" (and {len(broken) - 1} more file(s) that do not parse)"
                                       if len(broken) > 1 else "")
        else:
            why += f" (its files: {', '.join(listed[:5])}{'…' if len(listed) > 5 else ''})"
        raise StudentError("load", why)
    depth, rel = candidates[0]
    path = top.joinpath(*rel)
    if len(candidates) > 1:
        others = ", ".join(printable("/".join(r)) for _, r in candidates[1:4])
        student.notes.append(f"{len(candidates)} files define the factory: graded {printable('/'.join(rel))}; "
                             f"not graded: {others}{'…' if len(candidates) > 4 else ''} (the shallowest is "
                             "graded, names like old/backup/test last; the assignment's `file` key chooses)")
    attr = next((n for n in names if n in defined_names(path)), names[0])
    root, module = package_context(top, rel)
    display = f"{shown}/{printable('/'.join(rel))}"
    if module is not None:
        sub = Submission(f"{display}:{attr}", root, attr, module=module, package=module.split(".")[0])
    else:
        sub = Submission(f"{display}:{attr}", path.parent, attr, file=path.name)
        if _suffix(path.name) == ".ipynb":
            from_notebook(sub, allow_imports, names)
    plan_stubs(sub, allow_imports)
    sub.notes[:0] = student.notes
    student.submission = sub


def _matches(rel: tuple, wanted: str) -> bool:
    """The assignment's ``file``: a relative path ('cs231n/classifiers/fc_net.py'), a file name, or a
    dotted module ('cs231n.classifiers.fc_net'); without regard to case."""
    path = "/".join(rel).lower()
    wanted = wanted.strip().lower().replace("\\", "/")
    if not wanted.endswith(SUFFIXES):
        dotted = os.path.splitext(path)[0].replace("/", ".")
        return dotted == wanted or dotted.endswith("." + wanted)
    return path == wanted or path.endswith("/" + wanted)
