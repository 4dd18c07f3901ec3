"""A class folder read entry by entry, fast (nothing is run): who is a student, why every other
entry is not graded, the names shown, the bounds of a student's folder (depth, entries, path
length) at the cap and one over, and which file of a folder is graded."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path

import pytest

from compare.grader.course.assignment import Assignment
from compare.grader.submissions import classfolder as CF

FACTORY = "def make_mlp(sizes, activation):\n    return None\n"
ALIAS = "def factory(sizes, activation):\n    return None\n"


def put(path: Path, text: str = FACTORY) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def prepared(folder: Path, assignment=None):
    (student,) = CF.scan(folder).students
    CF.prepare(student, assignment or Assignment())
    return student


# ----------------------------------------------------------------------------- names
def test_a_name_is_shown_printable():
    assert CF.printable("alice") == "alice"
    assert CF.printable(os.fsdecode(b"caf\xe9")) == "caf\\xe9"
    assert CF.printable("a\x1b[31m\u202eb") == "a [31mb"
    assert CF.printable("x" * 120) == "x" * 120
    assert CF.printable("x" * 121) == "x" * 119 + "…"
    assert CF.printable("") == "(unnamed)" and CF.printable("\x07") == "(unnamed)"


def test_a_name_no_filesystem_could_hold_is_shown_as_python_writes_it():
    assert CF.printable("a\ud800b") == "'a\\ud800b'"  # a lone surrogate that no byte stands for
    assert CF.printable(None) == "None"


# ----------------------------------------------------------------------------- the scan
def test_every_entry_is_a_student_or_skipped_with_its_reason(tmp_path):
    put(tmp_path / "amy.py")
    put(tmp_path / "Bob.PY")
    put(tmp_path / "cat.IPYNB", "{}")
    (tmp_path / "dan").mkdir()
    put(tmp_path / "__init__.py")
    for archive in ("a.zip", "b.tar", "c.gz", "d.tgz", "e.7z", "f.RAR"):
        put(tmp_path / archive, "x")
    put(tmp_path / "notes.txt", "x")
    put(tmp_path / "Makefile", "x")
    put(tmp_path / ".DS_Store", "x")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "node_modules").mkdir()
    (tmp_path / ".git").mkdir()
    os.mkfifo(tmp_path / "pipe")
    found = CF.scan(tmp_path)
    assert [(s.name, s.path.name, s.problem) for s in found.students] == [
        ("Bob", "Bob.PY", None), ("amy", "amy.py", None), ("cat", "cat.IPYNB", None), ("dan", "dan", None)]
    archive = "an archive: unpack it into a folder of the same name to grade it"
    assert found.skipped == [
        (".DS_Store", "hidden (its name starts with '.')"), (".git", "a git repository's internals"),
        (".ipynb_checkpoints", "Jupyter's autosaves"), ("Makefile", "not a .py, .ipynb or folder"),
        ("__MACOSX", "macOS metadata added by a zip"), ("__init__.py", "a package marker, not a submission"),
        ("__pycache__", "Python's cache"), ("a.zip", archive), ("b.tar", archive), ("c.gz", archive),
        ("d.tgz", archive), ("e.7z", archive), ("f.RAR", archive), ("node_modules", "JavaScript packages"),
        ("notes.txt", "not a .py, .ipynb or folder"), ("pipe", "not a regular file or folder (a FIFO)")]


def test_a_link_is_the_students_error_and_never_followed(tmp_path):
    put(tmp_path / "real" / "mlp.py")
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "amy.py").symlink_to(tmp_path / "real" / "mlp.py")
    (tmp_path / "class" / "bob").symlink_to(tmp_path / "real")
    (tmp_path / "class" / "cat.txt").symlink_to(tmp_path / "nowhere")
    found = CF.scan(tmp_path / "class")
    assert [s.name for s in found.students] == ["amy", "bob", "cat.txt"] and found.skipped == []
    for student, entry in zip(found.students, ("amy.py", "bob", "cat.txt")):
        assert student.problem.kind == "load"
        assert str(student.problem) == (f"{entry} is a symbolic link: links are never followed (one could point "
                                        "at a classmate's file); submit the file itself")
        CF.prepare(student, Assignment())
        assert student.submission is None and str(student.problem).startswith(f"{entry} is a symbolic link:")


def test_a_submission_that_is_no_regular_file_is_the_students_error(tmp_path):
    os.mkfifo(tmp_path / "amy.py")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "bob.ipynb"))
        found = CF.scan(tmp_path)
    assert [(s.name, str(s.problem)) for s in found.students] == [
        ("amy", "amy.py is not a regular file (a FIFO); it is not opened"),
        ("bob", "bob.ipynb is not a regular file (a socket); it is not opened")]


@pytest.mark.parametrize("kind, what", [(stat.S_IFCHR, "a character device"), (stat.S_IFBLK, "a block device")])
def test_a_device_is_never_opened(tmp_path, kind, what):
    try:
        os.mknod(tmp_path / "amy.py", kind | 0o600, os.makedev(1, 3))
        os.mknod(tmp_path / "disk", kind | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("this user cannot make device nodes")
    found = CF.scan(tmp_path)
    assert [(s.name, str(s.problem)) for s in found.students] == [("amy", f"amy.py is not a regular file ({what}); "
                                                                            "it is not opened")]
    assert found.skipped == [("disk", f"not a regular file or folder ({what})")]


def test_the_output_folder_and_earlier_runs_are_never_students(tmp_path):
    (tmp_path / "grades").mkdir()
    (tmp_path / "old-run").mkdir()
    (tmp_path / "old-run" / CF.OUTPUT_MARKER).write_text("")
    (tmp_path / "linked-marker").mkdir()
    (tmp_path / "linked-marker" / CF.OUTPUT_MARKER).symlink_to(tmp_path / "old-run" / CF.OUTPUT_MARKER)
    (tmp_path / "folder-marker" / CF.OUTPUT_MARKER).mkdir(parents=True)
    found = CF.scan(tmp_path, exclude=tmp_path / "grades")
    assert found.skipped == [("grades", "the grader's output folder"),
                             ("old-run", "an earlier grading run's output folder")]
    assert [s.name for s in found.students] == ["folder-marker", "linked-marker"]
    assert [s.name for s in CF.scan(tmp_path, exclude=tmp_path / "absent").students] == [
        "folder-marker", "grades", "linked-marker"]


def test_an_entry_whose_path_is_too_long_to_look_into_is_a_student(tmp_path, monkeypatch):
    """A class folder 3950 bytes deep: looking for a marker inside an entry fails (ENAMETOOLONG);
    the entry is a student, not an earlier run."""
    folder = long_top(tmp_path, 3950)
    monkeypatch.chdir(folder)
    os.mkdir("s" * 150)
    found = CF.scan(folder)
    assert [s.name for s in found.students] == ["s" * 119 + "…"]
    assert found.skipped == []


class Unreadable:
    """An entry whose type cannot be read (as lstat fails on a file the grader may not see)."""

    name = "amy.py"
    path = "amy.py"

    def is_symlink(self):
        raise PermissionError(13, "Permission denied")


def test_an_entry_that_cannot_be_read_is_the_students_error(tmp_path, monkeypatch):
    monkeypatch.setattr(CF.os, "scandir", lambda folder: iter([Unreadable()]))
    (student,) = CF.scan(tmp_path).students
    assert (student.name, student.path) == ("amy.py", tmp_path / "amy.py")
    assert (student.problem.kind, str(student.problem)) == ("load", "amy.py: cannot be read (Permission denied)")


def test_a_file_named_like_the_output_folder_is_a_student(tmp_path):
    put(tmp_path / "grades")
    assert CF.scan(tmp_path, exclude=tmp_path / "grades").skipped == [("grades", "not a .py, .ipynb or folder")]


def test_a_class_folder_that_cannot_be_listed_is_named(tmp_path):
    with pytest.raises(OSError, match=f"^cannot list the class folder {tmp_path / 'absent'}: No such file"):
        CF.scan(tmp_path / "absent")


def test_students_come_in_the_order_of_their_names_bytes(tmp_path):
    for name in ("b.py", "B.py", "a.py", "é.py", "_a.py"):
        put(tmp_path / name)
    assert [s.name for s in CF.scan(tmp_path).students] == ["B", "_a", "a", "b", "é"]


def test_names_that_would_be_alike_keep_their_entry_names_or_a_number(tmp_path):
    put(tmp_path / "hw.py")
    put(tmp_path / "hw.ipynb", "{}")
    put(tmp_path / "zed.py")
    os.mkdir(os.fsencode(tmp_path) + b"/a\x1b")
    os.mkdir(os.fsencode(tmp_path) + b"/a\x07")
    os.mkdir(os.fsencode(tmp_path) + b"/a\x08")
    assert [s.name for s in CF.scan(tmp_path).students] == ["a", "a (2)", "a (3)", "hw.ipynb", "hw.py", "zed"]


def test_a_name_that_is_only_a_suffix_keeps_it(tmp_path):
    put(tmp_path / "x" / ".py")  # hidden at the top, but the stem of a shown name is never emptied
    assert CF._stem(".py") == ".py" and CF._stem("a.PY") == "a" and CF._stem("a.txt") == "a.txt"


# ----------------------------------------------------------------------------- a file of the class folder
def test_a_file_is_graded_alone_by_the_factory_it_defines(tmp_path):
    put(tmp_path / "amy.py", ALIAS)
    sub = prepared(tmp_path).submission
    assert (sub.spec, sub.root, sub.attr, sub.file, sub.only) == ("amy.py:factory", tmp_path, "factory", "amy.py",
                                                                  ("amy.py",))
    assert sub.generated == {}


def test_starter_code_imports_are_stood_in_for(tmp_path):
    put(tmp_path / "amy.py", "import matplotlib.pyplot as plt\n" + FACTORY)
    assert prepared(tmp_path).submission.stubs == ("matplotlib",)
    (tmp_path / "amy.py").unlink()
    put(tmp_path / "bob" / "mlp.py", "from tqdm import tqdm\n" + FACTORY)
    assert prepared(tmp_path).submission.stubs == ("tqdm",)


def test_a_file_without_the_factory_names_the_first_name(tmp_path):
    put(tmp_path / "amy.py", "x = 1\n")
    assert prepared(tmp_path).submission.attr == "make_mlp"


def test_an_upper_case_suffix_is_loaded_as_a_py_copy(tmp_path):
    put(tmp_path / "Bob.PY", FACTORY)
    sub = prepared(tmp_path).submission
    assert sub.generated == {"Bob.py": FACTORY} and sub.file == "Bob.py"
    assert "Bob.PY is loaded as Bob.py" in sub.notes
    (tmp_path / "Bob.PY").unlink()
    put(tmp_path / "my-hw.Py", FACTORY)
    sub = prepared(tmp_path).submission
    assert sub.generated == {"submission.py": FACTORY} and sub.file == "submission.py"


def test_a_notebook_file_is_read_for_its_definitions(tmp_path):
    import json

    cells = [{"cell_type": "code", "metadata": {}, "source": FACTORY, "outputs": [], "execution_count": 1}]
    put(tmp_path / "amy.ipynb", json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    sub = prepared(tmp_path).submission
    assert sub.attr == "make_mlp" and sub.file == "amy.py" and list(sub.generated) == ["amy.py"]
    assert "def make_mlp" in sub.generated["amy.py"] and '"cells"' not in sub.generated["amy.py"]


def notebook_of(source: str) -> str:
    import json

    cells = [{"cell_type": "code", "metadata": {}, "source": source, "outputs": [], "execution_count": 1}]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


@pytest.mark.parametrize("where", ["amy.ipynb", "amy/hw.ipynb"])
def test_a_notebooks_allowed_imports_are_kept(tmp_path, where):
    put(tmp_path / where, notebook_of("import scipy\nimport sklearn\n" + FACTORY))
    (student,) = CF.scan(tmp_path).students
    CF.prepare(student, Assignment(), allow_imports=("scipy",))
    (source,) = student.submission.generated.values()
    assert "import scipy" in source and "import sklearn" not in source


def test_a_file_that_cannot_be_read_is_the_students_error(tmp_path):
    (tmp_path / "amy.py").write_bytes(b"x = '\xff\xfe'\n")
    student = prepared(tmp_path)
    assert student.submission is None and student.problem.kind == "load"
    assert str(student.problem) == "amy.py: invalid or missing encoding declaration"


# ----------------------------------------------------------------------------- walking a student's folder
def test_a_folder_is_walked_eight_folders_deep_and_no_deeper(tmp_path):
    eight = tmp_path.joinpath(*[f"d{i}" for i in range(1, 9)])
    put(eight / "deep.py")
    (eight / "d9").mkdir()
    put(eight / "d9" / "deeper.py")
    found = CF.walk(tmp_path)
    assert found.files == [(8, tuple(f"d{i}" for i in range(1, 9)) + ("deep.py",))]
    assert found.left_out == [("d1/d2/d3/d4/d5/d6/d7/d8/d9", "deeper than 8 folders")]


@pytest.fixture(scope="module")
def five_thousand():
    """A student's folder of exactly 5000 entries: 4998 files, ``sub/`` and ``sub/mlp.py`` (in memory
    where the machine offers it: 5000 files on a slow disk take seconds)."""
    top = Path(tempfile.mkdtemp(prefix="five-thousand-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    for i in range(4998):
        os.close(os.open(top / f"f{i:04d}.txt", os.O_CREAT | os.O_WRONLY))
    put(top / "sub" / "mlp.py")
    yield top
    shutil.rmtree(top)


def test_a_folder_of_5000_entries_is_looked_at_whole(five_thousand):
    found = CF.walk(five_thousand)
    assert found.left_out == [] and found.files == [(1, ("sub", "mlp.py"))] and found.seen == 5000


def test_the_entry_after_5000_stops_the_walk_and_says_so(five_thousand):
    extra = five_thousand / "zz.txt"  # sorted after sub/: the 5001st entry is sub/mlp.py
    extra.touch()
    try:
        found = CF.walk(five_thousand)
    finally:
        extra.unlink()
    assert found.left_out == [("sub", "more than 5000 entries: the rest was not looked at")]
    assert found.files == [] and found.seen == 5001


def long_top(tmp_path: Path, length: int) -> Path:
    """A folder whose path is ``length`` bytes long."""
    top = tmp_path
    while len(os.fsencode(top)) < length - 200:
        top = top / ("t" * 200)
    top = top / ("u" * (length - len(os.fsencode(top)) - 1))
    top.mkdir(parents=True)
    assert len(os.fsencode(top)) == length
    return top


def test_a_path_of_3800_bytes_is_walked_and_one_over_is_left_out(tmp_path):
    top = long_top(tmp_path, 3700)
    put(top / ("a" * 96 + ".py"))  # 3700 + 1 + 99 = 3800
    put(top / ("b" * 97 + ".py"))  # 3801
    (top / ("c" * 99)).mkdir()  # a folder of 3800
    (top / ("d" * 100)).mkdir()  # 3801
    found = CF.walk(top)
    assert found.files == [(0, ("a" * 96 + ".py",))]
    assert found.left_out == [("b" * 80 + "…", "its path is too long"), ("d" * 80 + "…", "its path is too long")]


def test_links_are_collected_hidden_or_not_and_skipped_entries_are_silent(tmp_path):
    put(tmp_path / "mlp.py")
    (tmp_path / "z.py").symlink_to(tmp_path / "mlp.py")
    (tmp_path / ".hidden-link").symlink_to(tmp_path / "mlp.py")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "up").symlink_to(tmp_path)
    put(tmp_path / ".ipynb_checkpoints" / "mlp-checkpoint.py")
    put(tmp_path / "__pycache__" / "x.py")
    put(tmp_path / ".hidden" / "x.py")
    put(tmp_path / ".x.py")
    put(tmp_path / "venv" / "lib" / "x.py")
    put(tmp_path / "venv" / "pyvenv.cfg", "home = /usr\n")
    put(tmp_path / "notes.txt")
    found = CF.walk(tmp_path)
    assert found.links == [".hidden-link", "z.py", "sub/up"]
    assert found.files == [(0, ("mlp.py",))] and found.left_out == []


def test_an_entry_whose_type_cannot_be_read_is_left_out(tmp_path, monkeypatch):
    monkeypatch.setattr(CF.os, "scandir", lambda folder: iter([Unreadable()]))
    found = CF.walk(tmp_path)
    assert found.left_out == [("amy.py", "cannot be read")] and found.files == [] and found.links == []


def test_a_folder_that_cannot_be_listed_is_left_out(tmp_path):
    found = CF.walk(tmp_path / "absent")
    assert found.left_out == [(".", "cannot be listed (No such file or directory)")]


# ----------------------------------------------------------------------------- the file graded in a folder
def test_a_folder_with_links_is_refused_naming_three(tmp_path):
    put(tmp_path / "amy" / "mlp.py")
    for name in ("a", "b", "c", "d"):
        (tmp_path / "amy" / name).symlink_to(tmp_path / "amy" / "mlp.py")
    student = prepared(tmp_path)
    assert str(student.problem) == ("amy/ holds symbolic links (a, b, c (+1 more)): links are never followed (one "
                                    "could point at a classmate's file); submit the files themselves")
    (tmp_path / "amy" / "d").unlink()
    assert "(a, b, c):" in str(prepared(tmp_path).problem)


def test_the_shallowest_file_defining_the_factory_is_graded_and_the_others_named(tmp_path):
    put(tmp_path / "amy" / "sub" / "a.py")
    put(tmp_path / "amy" / "z.py")
    put(tmp_path / "amy" / "helpers.py", "x = 1\n")
    student = prepared(tmp_path)
    sub = student.submission
    assert (sub.spec, sub.root, sub.file, sub.attr) == ("amy/z.py:make_mlp", tmp_path / "amy", "z.py", "make_mlp")
    assert sub.notes == ["2 files define the factory: graded z.py; not graded: sub/a.py (the shallowest is graded, "
                         "names like old/backup/test last; the assignment's `file` key chooses)"]


@pytest.mark.parametrize("names, graded", [
    (("mlp_old.py", "zz.py"), "zz.py"), (("backup.py", "mlp.py"), "mlp.py"), (("mlp(2).py", "mlp.py"), "mlp.py"),
    (("a.ipynb", "b.py"), "b.py"), (("b.py", "a.py"), "a.py"), (("B.py", "a.py"), "B.py"),
    (("hw_v2.py", "hw.py"), "hw.py"), (("TEST_net.py", "net.py"), "net.py")])
def test_old_looking_names_and_notebooks_come_last(tmp_path, names, graded):
    import json

    cells = [{"cell_type": "code", "metadata": {}, "source": FACTORY, "outputs": [], "execution_count": 1}]
    notebook = json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    for name in names:
        put(tmp_path / "amy" / name, notebook if name.endswith(".ipynb") else FACTORY)
    student = prepared(tmp_path)
    assert student.submission.spec == f"amy/{graded}:make_mlp"


def test_five_candidates_name_three_not_graded_and_more(tmp_path):
    for name in ("a", "b", "c", "d", "e"):
        put(tmp_path / "amy" / f"{name}.py")
    note = prepared(tmp_path).submission.notes[0]
    assert note.startswith("5 files define the factory: graded a.py; not graded: b.py, c.py, d.py… (the shallowest")
    (tmp_path / "amy" / "e.py").unlink()
    assert "not graded: b.py, c.py, d.py (the" in prepared(tmp_path).submission.notes[0]


def test_a_folder_graded_by_an_alias_says_so_in_its_attr(tmp_path):
    put(tmp_path / "amy" / "mlp.py", ALIAS)
    sub = prepared(tmp_path).submission
    assert sub.attr == "factory" and sub.notes == []  # one candidate: nothing to say


def test_files_alike_in_all_else_are_chosen_by_their_path(tmp_path):
    put(tmp_path / "amy" / "b" / "net.py")
    put(tmp_path / "amy" / "a" / "net.py")
    assert prepared(tmp_path).submission.spec == "amy/a/net.py:make_mlp"


def test_the_walks_notes_come_before_the_submissions_own(tmp_path):
    put(tmp_path / "amy" / "mlp.py", "from tqdm import tqdm\n" + FACTORY)
    (tmp_path / "amy").joinpath(*[f"d{i}" for i in range(1, 10)]).mkdir(parents=True)
    notes = prepared(tmp_path).submission.notes
    assert notes[0] == "not looked at: d1/d2/d3/d4/d5/d6/d7/d8/d9 (deeper than 8 folders)"
    assert notes[1].startswith("stubbed: ") and len(notes) == 2


def test_what_was_not_looked_at_is_in_the_notes(tmp_path):
    folder = tmp_path / "amy"
    put(folder / "mlp.py")
    base = folder
    for i in range(1, 10):
        base = base / f"d{i}"
    for i in range(6):
        (base.parent / f"e{i}").mkdir(parents=True)
    base.mkdir()
    notes = prepared(tmp_path).submission.notes
    assert notes[:5] == [f"not looked at: d1/d2/d3/d4/d5/d6/d7/d8/{n} (deeper than 8 folders)"
                         for n in ("d9", "e0", "e1", "e2", "e3")]
    assert not any("e4" in n for n in notes)


@pytest.mark.parametrize("wanted", ["sub/net.py", "SUB/NET.PY", "net.py", "sub\\net.py", "sub.net", "net", " net.py "])
def test_the_assignments_file_chooses_by_path_name_or_module(tmp_path, wanted):
    put(tmp_path / "amy" / "mlp.py")
    put(tmp_path / "amy" / "sub" / "net.py", "x = 1\n")
    sub = prepared(tmp_path, Assignment(file=wanted)).submission
    assert sub.spec == "amy/sub/net.py:make_mlp" and sub.root == tmp_path / "amy" / "sub" and sub.file == "net.py"


@pytest.mark.parametrize("wanted", ["et.py", "b/net.py", "net.ipynb", "ub.net", "sub", "mlp.py.py"])
def test_the_assignments_file_matches_whole_names_only(tmp_path, wanted):
    put(tmp_path / "amy" / "sub" / "net.py")
    put(tmp_path / "amy" / "mlp.py", "x = 1\n")
    student = prepared(tmp_path, Assignment(file=wanted))
    assert str(student.problem) == (f"the assignment names the file {wanted!r}, which is not in amy/ (its .py and "
                                    ".ipynb files: mlp.py, sub/net.py)")


def test_the_assignments_file_takes_the_shallowest_match_alone(tmp_path):
    put(tmp_path / "amy" / "net.py")
    put(tmp_path / "amy" / "sub" / "net.py")
    sub = prepared(tmp_path, Assignment(file="net.py")).submission
    assert sub.spec == "amy/net.py:make_mlp" and not any("define the factory" in n for n in sub.notes)


def test_a_missing_file_of_the_assignment_lists_five_files(tmp_path):
    for name in "abcdef":
        put(tmp_path / "amy" / f"{name}.py")
    assert str(prepared(tmp_path, Assignment(file="net.py")).problem).endswith(
        "(its .py and .ipynb files: a.py, b.py, c.py, d.py, e.py)")


def test_a_missing_file_of_the_assignment_in_an_empty_folder_lists_none(tmp_path):
    (tmp_path / "amy").mkdir()
    assert str(prepared(tmp_path, Assignment(file="net.py")).problem).endswith("(its .py and .ipynb files: none)")


def test_an_empty_folder_is_the_students_error(tmp_path):
    put(tmp_path / "amy" / "notes.txt")
    assert str(prepared(tmp_path).problem) == "amy/ holds no .py or .ipynb file"
    put(tmp_path / "amy" / "d1/d2/d3/d4/d5/d6/d7/d8/d9/mlp.py")
    assert str(prepared(tmp_path).problem) == ("amy/ holds no .py or .ipynb file (some of it was not looked at: "
                                               "see the notes)")


def test_no_file_defining_the_factory_lists_the_files(tmp_path):
    for name in ("a", "b", "c", "d", "e"):
        put(tmp_path / "amy" / f"{name}.py", "x = 1\n")
    assert str(prepared(tmp_path).problem) == ("no .py or .ipynb file in amy/ defines 'make_mlp' or 'factory' "
                                               "(its files: a.py, b.py, c.py, d.py, e.py)")
    put(tmp_path / "amy" / "f.py", "x = 1\n")
    assert str(prepared(tmp_path).problem).endswith("(its files: a.py, b.py, c.py, d.py, e.py…)")


def test_files_that_do_not_parse_are_named_as_the_likely_cause(tmp_path):
    put(tmp_path / "amy" / "a.py", "x = 1\n")
    put(tmp_path / "amy" / "b.py", "x = (\n")
    assert str(prepared(tmp_path).problem) == ("no .py or .ipynb file in amy/ defines 'make_mlp' or 'factory'; "
                                               "SyntaxError: '(' was never closed at b.py:1")
    put(tmp_path / "amy" / "c.py", "y = [\n")
    assert str(prepared(tmp_path).problem).endswith("b.py:1 (and 1 more file(s) that do not parse)")
    put(tmp_path / "amy" / "d.py", "z = {\n")
    assert str(prepared(tmp_path).problem).endswith(" (and 2 more file(s) that do not parse)")


def test_a_file_of_a_package_is_loaded_as_its_module(tmp_path):
    put(tmp_path / "amy" / "cs231n" / "__init__.py", "")
    put(tmp_path / "amy" / "cs231n" / "classifiers" / "__init__.py", "")
    put(tmp_path / "amy" / "cs231n" / "classifiers" / "fc_net.py")
    sub = prepared(tmp_path).submission
    assert (sub.root, sub.module, sub.package, sub.file) == (tmp_path / "amy", "cs231n.classifiers.fc_net", "cs231n",
                                                             None)
    assert sub.spec == "amy/cs231n/classifiers/fc_net.py:make_mlp"


def test_a_notebook_in_a_folder_is_read_for_its_definitions(tmp_path):
    import json

    cells = [{"cell_type": "code", "metadata": {}, "source": FACTORY, "outputs": [], "execution_count": 1}]
    put(tmp_path / "amy" / "sub" / "hw.ipynb", json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                                            "nbformat_minor": 5}))
    sub = prepared(tmp_path).submission
    assert sub.root == tmp_path / "amy" / "sub" and sub.generated and sub.file != "hw.ipynb"
    assert sub.spec == "amy/sub/hw.ipynb:make_mlp"
