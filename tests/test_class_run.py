"""A class run always ends, with one honest row per student, whatever the class folder holds.

The class folders here are built the way instructors receive them: names that are not UTF-8
(a zip made on Windows), long CJK names, upper-case suffixes, links (to a classmate's file, to
/dev/zero), a FIFO, a sparse 100 GB file, hostile notebooks and sources, a folder nested 1,100
deep, names that collide once made file names, names that a spreadsheet would run as a formula
or that hold terminal escapes. Every student must get a row (their own ``error`` when their
entry is broken), every other entry a reason, and every output must be safe to open.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compare import grade as G
from compare.grader.course.assignment import preset
from compare.grader.results.outputs import OUTPUT_MARKER, csv_cell, feedback_names, markdown_text
from compare.grader.submissions import classfolder
from compare.grader.workers import isolation

REPO = Path(__file__).resolve().parent.parent

# A correct vectorised student of the homework's contract (written for these tests).
CORRECT = '''
import numpy as np

ACT = {"relu": (lambda a: np.maximum(a, 0), lambda a: (a > 0) * 1.0),
       "tanh": (np.tanh, lambda a: 1 - np.tanh(a) ** 2)}


class Net:
    def __init__(self, sizes, activation):
        if activation not in ACT:
            raise ValueError(activation)
        self.f, self.df = ACT[activation]
        rng = np.random.default_rng(0)
        self.L = len(sizes) - 1
        self.params = {}
        for l in range(1, self.L + 1):
            self.params[f"W{l}"] = rng.normal(0, 0.5, (sizes[l], sizes[l - 1]))
            self.params[f"b{l}"] = np.zeros(sizes[l])

    def nll(self, o, y):
        z = o - o.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -logp[np.arange(len(y)), y], np.exp(logp)

    def loss_and_grads(self, X, y, lambdas):
        K, P = len(y), self.params
        hs, pre = [X], [None]
        for l in range(1, self.L):
            pre.append(hs[-1] @ P[f"W{l}"].T + P[f"b{l}"])
            hs.append(self.f(pre[-1]))
        o = hs[-1] @ P[f"W{self.L}"].T + P[f"b{self.L}"]
        losses, p = self.nll(o, y)
        loss = losses.mean()
        delta = p.copy()
        delta[np.arange(K), y] -= 1
        delta /= K
        grads = {}
        for l in range(self.L, 0, -1):
            W = P[f"W{l}"]
            l1, l2 = lambdas[2 * l - 2], lambdas[2 * l - 1]
            loss += l1 * np.abs(W).sum() + l2 * (W ** 2).sum()
            grads[f"W{l}"] = delta.T @ hs[l - 1] + l1 * np.sign(W) + 2 * l2 * W
            grads[f"b{l}"] = delta.sum(axis=0)
            if l > 1:
                delta = (delta @ W) * self.df(pre[l - 1])
        return loss, grads


def make_mlp(sizes, activation):
    return Net(sizes, activation)


factory = make_mlp
'''

# Right gradients, but the loss computed as -log(softmax) without the log-sum-exp: inf at large logits.
INF_LOSS = CORRECT.replace(
    "        return -logp[np.arange(len(y)), y], np.exp(logp)",
    "        with np.errstate(over='ignore'):\n"
    "            lse = np.log(np.exp(o).sum(axis=1))\n"
    "        return lse - o[np.arange(len(y)), y], np.exp(logp)")


def remove_nested(folder: Path) -> None:
    """Remove ``folder/d/d/…`` level by level (pytest's own clean-up recurses once per level and
    would overflow Python's stack on 1,100 of them)."""
    while (folder / "d").is_dir():
        if (folder / "d" / "d").is_dir():
            os.rename(folder / "d" / "d", folder / "next")
            os.rmdir(folder / "d")
            os.rename(folder / "next", folder / "d")
        else:
            os.rmdir(folder / "d")


@pytest.fixture
def class_folder(tmp_path):
    folder = tmp_path / "class"
    yield folder
    if (folder / "deep").is_dir():
        remove_nested(folder / "deep")


def notebook_json(cells) -> str:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def grade(folder: Path, out: Path, *args, cwd=None) -> tuple[int, str, str]:
    """backprop-grade in its own process, as an instructor runs it: (exit code, stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "compare.grade", str(folder), "--out", str(out), "--no-progress",
                             "--timeout", "5", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    return result.returncode, result.stdout, result.stderr


def rows_of(out: Path) -> dict:
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


# ----------------------------------------------------------------------------- units: names and cells
def test_feedback_names_are_plain_names_or_hashed_and_never_collide():
    names = feedback_names(["alice", "a b", "a_b", "grades", "Summary", "Bob", "bob", "x" * 300, "=1+1", "ok.v2"])
    assert names["alice"] == "alice" and names["a_b"] == "a_b" and names["ok.v2"] == "ok.v2"
    assert names["a b"].startswith("a_b-") and len(names["a b"]) == len("a_b-") + 8
    assert names["grades"] != "grades" and names["Summary"].lower() != "summary"
    assert names["Bob"] != names["bob"] and "bob" not in {names["Bob"].lower(), names["bob"].lower()}
    assert len(names["x" * 300]) <= 60
    assert len({n.lower() for n in names.values()}) == len(names)  # distinct even on a case-blind disk
    assert feedback_names(["a b"]) == {"a b": names["a b"]}  # depends on the name alone


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\")", "+SUM(A1)", "-2+3", "@cmd", "\t=1", "\r=1"])
def test_a_cell_a_spreadsheet_would_run_starts_with_a_quote(text):
    cell = csv_cell(text)
    assert cell.startswith("'") and cell[1:].strip() != ""


def test_cells_keep_plain_text_and_numbers():
    assert csv_cell("all cases agree") == "all cases agree" and csv_cell(3) == 3
    assert csv_cell("a\x1b[31mb\nc") == "a [31mb c"


def test_student_text_in_markdown_is_inert():
    assert markdown_text("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    assert markdown_text("[click](http://x) ![img](y) `code` a|b") == \
        "\\[click\\](http://x) !\\[img\\](y) \\`code\\` a\\|b"
    assert "\x1b" not in markdown_text("\x1b]8;;http://x\x1b\\link")


# ----------------------------------------------------------------------------- units: the class folder
def test_the_scan_lists_every_entry_with_a_reason(tmp_path):
    (tmp_path / "Bob.PY").write_text(CORRECT)
    (tmp_path / "Erin.Ipynb").write_text(notebook_json([]))
    (tmp_path / "_dave.py").write_text(CORRECT)
    (tmp_path / "frank.zip").write_bytes(b"PK")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "hw.py").write_text(CORRECT)
    (tmp_path / "hw.ipynb").write_text(notebook_json([]))
    (tmp_path / "link.py").symlink_to(tmp_path / "Bob.PY")
    os.mkfifo(tmp_path / "pipe.py")
    found = classfolder.scan(tmp_path)
    names = {s.name: s for s in found.students}
    assert set(names) == {"Bob", "Erin", "_dave", "hw.py", "hw.ipynb", "link", "pipe"}
    assert "symbolic link" in str(names["link"].problem) and "FIFO" in str(names["pipe"].problem)
    skipped = dict(found.skipped)
    assert set(skipped) == {"frank.zip", ".DS_Store", "notes.txt", "__MACOSX"}
    assert "archive" in skipped["frank.zip"] and "hidden" in skipped[".DS_Store"]


def test_a_name_that_is_not_utf8_is_shown_with_its_bytes(tmp_path):
    os.mkdir(os.fsencode(tmp_path) + b"/caf\xe9")
    found = classfolder.scan(tmp_path)
    assert [s.name for s in found.students] == ["caf\\xe9"]


def test_the_file_graded_in_a_folder_is_chosen_and_said(tmp_path):
    student = tmp_path / "alice"
    (student / "old").mkdir(parents=True)
    (student / "aaa_old_attempt.py").write_text(CORRECT.replace("delta /= K", "delta /= 2 * K"))
    (student / "mlp.py").write_text(CORRECT)
    (student / "old" / "mlp.py").write_text(CORRECT)
    s = classfolder.scan(tmp_path).students[0]
    classfolder.prepare(s, preset("homework"))
    assert s.problem is None and s.submission.file == "mlp.py"
    note = " ".join(s.submission.notes)
    assert "3 files define the factory: graded mlp.py" in note and "aaa_old_attempt.py" in note


def test_a_package_module_is_loaded_in_its_package(tmp_path):
    pkg = tmp_path / "alice" / "cs231n"
    (pkg / "classifiers").mkdir(parents=True)
    (pkg / "layers.py").write_text("def affine(x, w):\n    return x @ w\n")
    (pkg / "classifiers" / "fc_net.py").write_text("from ..layers import affine\n" + CORRECT)
    s = classfolder.scan(tmp_path).students[0]
    classfolder.prepare(s, preset("homework"))
    assert s.problem is None
    assert s.submission.module == "cs231n.classifiers.fc_net" and s.submission.root == tmp_path / "alice"


# ----------------------------------------------------------------------------- a messy class, end to end
def make_messy_class(folder: Path) -> dict:
    """The class; returns {student: status} as each must end."""
    folder.mkdir()
    expected = {}

    def put(name, text, student, status):
        path = folder / (os.fsdecode(name) if isinstance(name, bytes) else name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        expected[student] = status

    put("alice.py", CORRECT, "alice", "pass")
    put(b"caf\xe9.py", CORRECT, "caf\\xe9", "pass")
    put("学" * 84 + ".py", CORRECT, "学" * 84, "pass")
    put("Bob.PY", CORRECT, "Bob", "pass")
    put("_dave.py", CORRECT, "_dave", "pass")
    put("a b.py", CORRECT, "a b", "pass")
    put("a_b.py", INF_LOSS, "a_b", "fail")
    put("summary.py", CORRECT, "summary", "pass")
    put("grades.py", INF_LOSS, "grades", "fail")
    put('=HYPERLINK("evil").py', CORRECT, '=HYPERLINK("evil")', "pass")
    put("\x1b[31mred.py", CORRECT, "[31mred", "pass")
    put("gus/mlp.py", "\ufeff" + CORRECT, "gus", "pass")
    put("hw.py", CORRECT, "hw.py", "pass")
    (folder / "hw.ipynb").write_text(notebook_json([{"cell_type": "code", "source": CORRECT, "metadata": {},
                                                     "outputs": [], "execution_count": None}]))
    expected["hw.ipynb"] = "pass"
    # accidents and attacks: each the student's own error
    (folder / "mallory").mkdir()
    (folder / "mallory" / "a.py").symlink_to("../alice.py")
    expected["mallory"] = "error"
    (folder / "zed.py").symlink_to("/dev/zero")
    expected["zed"] = "error"
    os.mkfifo(folder / "pipe.py")
    expected["pipe"] = "error"
    with open(folder / "sparse.py", "wb") as fh:
        fh.truncate(100 * 1024 ** 3)
    expected["sparse"] = "error"
    (folder / "cells.ipynb").write_text(json.dumps({"cells": 7, "nbformat": 4}))
    expected["cells"] = "error"
    (folder / "ints.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": [1, 2]}],
                                                   "nbformat": 4}))
    expected["ints"] = "error"
    put("nots.py", "x = " + "not " * 100_000 + "1\n", "nots", "error")
    (folder / "blank.ipynb").write_text(notebook_json([{"cell_type": "code", "source": "\n" * 150_000 + "x = 1",
                                                        "metadata": {}, "outputs": []}]))
    expected["blank"] = "error"
    deep = folder / "deep"
    deep.mkdir()
    (deep / "mlp.py").write_text(CORRECT)
    fd = os.open(deep, os.O_RDONLY)
    try:  # 1,100 nested folders, made relative to each other (the whole path is far over PATH_MAX)
        for _ in range(1100):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)
    expected["deep"] = "pass"
    # not students
    (folder / "frank.zip").write_bytes(b"PK\x03\x04")
    (folder / ".DS_Store").write_bytes(b"\0")
    return expected


def test_a_messy_class_ends_with_one_honest_row_per_student(tmp_path, class_folder):
    expected = make_messy_class(class_folder)
    out = tmp_path / "out"
    code, stdout, stderr = grade(class_folder, out)
    assert code == 0, stderr
    rows = rows_of(out)
    got = {name.lstrip("'"): row["status"] for name, row in rows.items()}
    assert got == expected
    # every student's cause in their own row
    assert "symbolic links" in rows["mallory"]["summary"] and "symbolic link" in rows["zed"]["summary"]
    assert "FIFO" in rows["pipe"]["summary"] and "MiB" in rows["sparse"]["summary"]
    # one feedback file per row, none overwriting the run's own files
    stems = [row["feedback"] for row in rows.values()]
    assert len(set(stems)) == len(rows)
    for stem in stems:
        assert (out / f"{stem}.md").is_file() and (out / f"{stem}.json").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_students"] == len(expected) and summary["counts"]["internal"] == 0
    assert {e["entry"] for e in summary["not_graded"]} == {"frank.zip", ".DS_Store"}
    md = (out / f"{rows['alice']['feedback']}.md").read_text()
    assert md.startswith("# alice: pass")
    # safe to open: no escape byte anywhere, no formula cell, no raw HTML
    for path in out.iterdir():
        if path.suffix != ".png":
            assert b"\x1b" not in path.read_bytes(), path
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row), row
    assert "\x1b" not in stdout + stderr and "Traceback" not in stderr
    assert "not graded: .DS_Store" in stderr and "frank.zip" in stderr


def test_running_inside_the_class_folder_never_grades_the_output(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.py").write_text(CORRECT)
    for _ in range(2):
        code, _, stderr = grade(Path("."), Path("grades"), cwd=folder)
        assert code == 0, stderr
        assert set(rows_of(folder / "grades")) == {"alice"}


def test_a_rerun_replaces_the_earlier_run_whole(tmp_path):
    folder, out = tmp_path / "class", tmp_path / "out"
    folder.mkdir()
    (folder / "alice.py").write_text(CORRECT)
    (folder / "bob.py").write_text(CORRECT)
    assert grade(folder, out)[0] == 0
    (folder / "bob.py").unlink()
    code, _, stderr = grade(folder, out)
    assert code == 0 and "replacing an earlier run" in stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [OUTPUT_MARKER, "alice.json", "alice.md", "grades.csv", "summary.json", "summary.png"])


def test_an_output_folder_that_is_not_a_run_is_refused_before_anything_runs(tmp_path):
    folder, out = tmp_path / "class", tmp_path / "mine"
    folder.mkdir()
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    code, _, stderr = grade(folder, out)
    assert code == 2 and "thesis.tex" in stderr and stderr.count("\n") == 1
    assert (out / "thesis.tex").read_text() == "precious"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    script = ("import sys; from compare import grade; rc = grade.main(sys.argv[1:]); "
              "print(rc, 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script, str(folder), "--out", str(blocker / "out")],
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.stdout.split() == ["2", "False"]  # refused before torch is even imported
    assert "--out" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args, named", [(["--jobs", "0"], "'0'"), (["--timeout", "-1"], "'-1'"),
                                         (["--memory", "100"], "'100'"), (["--budget", "nan"], "'nan'"),
                                         (["--allow-import", "a-b"], "'a-b'"), (["--factory", "1x"], "'1x'")])
def test_every_bad_value_is_named(tmp_path, capsys, args, named):
    (tmp_path / "class").mkdir()
    assert G.main([str(tmp_path / "class"), "--out", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err
    assert named in err and err.count("\n") == 1


def test_bubblewrap_asked_for_where_there_is_none_is_a_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(isolation, "_bubblewrap_problem", lambda: "`bwrap` is not installed (a test)")
    (tmp_path / "class").mkdir()
    assert G.main([str(tmp_path / "class"), "--out", str(tmp_path / "out"), "--isolation", "bubblewrap"]) == 2
    assert "bubblewrap" in capsys.readouterr().err


def test_auto_says_when_it_falls_back_to_the_process_level(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(isolation, "_bubblewrap_problem", lambda: "`bwrap` is not installed (a test)")
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "alice.py").write_text(CORRECT)
    out = tmp_path / "out"
    assert G.main([str(tmp_path / "class"), "--out", str(out), "--no-progress"]) == 0
    assert "warning: bubblewrap is not available (`bwrap` is not installed (a test))" in capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["isolation"].startswith("process")


def test_the_graders_own_failure_costs_one_row_and_exit_3(tmp_path, capsys, monkeypatch):
    from compare.grader import validation

    real = validation.judge

    def flaky(target, *args, **kwargs):
        if "bob" in str(getattr(target, "spec", target)):
            raise TypeError("'<' not supported between instances of 'int' and 'str'")
        return real(target, *args, **kwargs)

    monkeypatch.setattr(validation, "judge", flaky)
    folder, out = tmp_path / "class", tmp_path / "out"
    folder.mkdir()
    for name in ("alice", "bob", "carol"):
        (folder / f"{name}.py").write_text(CORRECT)
    assert G.main([str(folder), "--out", str(out), "--no-progress"]) == 3
    err = capsys.readouterr().err
    rows = rows_of(out)
    assert "internal error on 1 student(s): bob (TypeError" in err, (err, rows)  # the whole story if it fails
    assert {s: r["status"] for s, r in rows.items()} == {"alice": "pass", "bob": "internal", "carol": "pass"}, rows
    assert rows["bob"]["exit_code"] == "3" and "not a verdict" in rows["bob"]["summary"]
    assert json.loads((out / "summary.json").read_text())["counts"]["internal"] == 1


def test_rows_are_written_as_students_finish_and_an_interrupt_keeps_them(tmp_path, capsys, monkeypatch):
    folder, out = tmp_path / "class", tmp_path / "out"
    folder.mkdir()
    for name in ("alice", "bob", "carol"):
        (folder / f"{name}.py").write_text(CORRECT)
    real, seen = classfolder.prepare, []

    def prepare(student, *args):
        if student.name == "carol":  # alice and bob are done: their rows must be on disk already
            seen.append(set(rows_of(out)))
            raise KeyboardInterrupt
        return real(student, *args)

    monkeypatch.setattr(classfolder, "prepare", prepare)
    assert G.main([str(folder), "--out", str(out), "--no-progress", "--jobs", "1"]) == 130
    assert seen == [{"alice", "bob"}]
    assert set(rows_of(out)) == {"alice", "bob"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["n_students"] == 2


def test_the_assignment_chooses_the_file_graded(tmp_path):
    student = tmp_path / "class" / "alice"
    (student / "final").mkdir(parents=True)
    (student / "mlp.py").write_text(CORRECT.replace("delta /= K", "delta /= 2 * K"))
    (student / "final" / "mlp.py").write_text(CORRECT)
    course = tmp_path / "course.toml"
    course.write_text('extends = "homework"\nfile = "final/mlp.py"\n')
    out = tmp_path / "out"
    code, _, stderr = grade(tmp_path / "class", out, "--assignment", str(course))
    assert code == 0, stderr
    assert rows_of(out)["alice"]["status"] == "pass"
    course.write_text('file = "solution.py"\n')
    code, _, stderr = grade(tmp_path / "class", out, "--assignment", str(course))
    summary = rows_of(out)["alice"]["summary"]
    assert code == 0 and "names the file 'solution.py', which is not in alice/" in summary
    assert "final/mlp.py" in summary and "mlp.py" in summary


def test_packages_are_graded_in_their_package(tmp_path):
    """A regular package with relative imports, and a namespace package (no __init__.py) importing
    itself by its absolute name, as CS231n's assignment 2 does."""
    folder = tmp_path / "class"
    regular = folder / "alice" / "cs231n"
    (regular / "classifiers").mkdir(parents=True)
    for init in (regular / "__init__.py", regular / "classifiers" / "__init__.py"):
        init.write_text("")
    (regular / "layers.py").write_text("SCALE = 1.0\n")
    (regular / "classifiers" / "fc_net.py").write_text("from ..layers import SCALE\n" + CORRECT)
    namespace = folder / "bob" / "assignment2" / "cs231n"
    (namespace / "classifiers").mkdir(parents=True)
    (namespace / "layers.py").write_text("SCALE = 1.0\n")
    (namespace / "classifiers" / "fc_net.py").write_text("from cs231n.layers import SCALE\n" + CORRECT)
    out = tmp_path / "out"
    code, _, stderr = grade(folder, out)
    assert code == 0, stderr
    rows = rows_of(out)
    assert {s: r["status"] for s, r in rows.items()} == {"alice": "pass", "bob": "pass"}, rows


def test_validate_loads_a_package_file_in_its_package(tmp_path, monkeypatch):
    from compare.validate import validate

    pkg = tmp_path / "cs231n" / "classifiers"
    pkg.mkdir(parents=True)
    (tmp_path / "cs231n" / "layers.py").write_text("SCALE = 1.0\n")
    (pkg / "fc_net.py").write_text("from ..layers import SCALE\n" + CORRECT)
    monkeypatch.chdir(tmp_path)
    report = validate("cs231n/classifiers/fc_net.py:make_mlp", timeout=5, budget=30)
    assert report.exit_code == 0, report.error


def test_validate_says_when_it_falls_back_and_refuses_missing_bubblewrap(tmp_path, capsys, monkeypatch):
    from compare.validate import main

    monkeypatch.setattr(isolation, "_bubblewrap_problem", lambda: "`bwrap` is not installed (a test)")
    (tmp_path / "alice.py").write_text(CORRECT)
    assert main([str(tmp_path / "alice.py"), "--isolation", "bubblewrap"]) == 2
    assert "bubblewrap isolation was asked for, but `bwrap` is not installed (a test)" in capsys.readouterr().err
    assert main([str(tmp_path / "alice.py"), "--brief"]) == 0
    err = capsys.readouterr().err
    assert "validate: warning: bubblewrap is not available (`bwrap` is not installed (a test))" in err


def test_validate_refuses_a_json_path_it_cannot_write_before_running(tmp_path, capsys):
    from compare.validate import main

    (tmp_path / "alice.py").write_text(CORRECT)
    assert main([str(tmp_path / "alice.py"), "--json", str(tmp_path)]) == 2
    assert f"--json {tmp_path}: is a folder" in capsys.readouterr().err


# ----------------------------------------------------------------------------- CS231n assignment 2, as received
FC_NET = (REPO / "tests" / "student_impls" / "fc_net.py").read_text()
_SPLIT = FC_NET.index("class TwoLayerNet")
LAYERS = FC_NET[:_SPLIT]  # the layer functions (cs231n/layers.py)
NETS = FC_NET[_SPLIT:]  # the networks (cs231n/classifiers/fc_net.py)


def make_a2_student(root: Path, imports: str, nets: str = NETS, inits: bool = True) -> None:
    package = root / "cs231n"
    (package / "classifiers").mkdir(parents=True)
    (package / "layers.py").write_text(LAYERS)
    (package / "layer_utils.py").write_text("from .layers import *\n" if inits else "from cs231n.layers import *\n")
    (package / "classifiers" / "fc_net.py").write_text(f"import numpy as np\n{imports}\n\n{nets}")
    if inits:
        (package / "__init__.py").write_text("")
        (package / "classifiers" / "__init__.py").write_text("")


def test_a_cs231n_assignment_2_class_graded_with_its_preset_alone(tmp_path):
    folder = tmp_path / "class"
    make_a2_student(folder / "alice", "from ..layers import *\nfrom ..layer_utils import *")
    make_a2_student(folder / "bob", "from cs231n.layers import *\nfrom cs231n.layer_utils import *", inits=False)
    make_a2_student(folder / "carol", "from ..layers import *",  # the penalty left out of the gradient
                    nets=NETS.replace('grads["W1"] += self.reg * W1', 'grads["W1"] += 0 * W1'))
    make_a2_student(folder / "dave" / "assignment2", "from cs231n.layers import *")  # the whole folder zipped
    (folder / "dave" / "assignment2" / "FullyConnectedNets.ipynb").write_text(notebook_json([
        {"cell_type": "code", "source": "from cs231n.classifiers.fc_net import *\nmodel = TwoLayerNet()",
         "metadata": {}, "outputs": []}]))
    out = tmp_path / "out"
    code, _, stderr = grade(folder, out, "--preset", "cs231n-a2")
    assert code == 0, stderr
    rows = rows_of(out)
    assert {s: r["status"] for s, r in rows.items()} == {"alice": "pass", "bob": "pass", "carol": "fail",
                                                         "dave": "pass"}, rows
    assert rows["alice"]["score"] == rows["alice"]["max_score"] != ""
    assert "penalty missing from the gradient" in rows["carol"]["summary"]
    assert float(rows["carol"]["score"]) < float(rows["carol"]["max_score"])


def test_a_cs231n_assignment_1_class_graded_with_its_preset_alone(tmp_path):
    """The stock starter filled in (its plotting and Python 2 imports kept), a notebook beside it,
    a Python 2 file, and an old attempt beside a right file."""
    from test_starter import NEURAL_NET

    folder = tmp_path / "class"
    (folder / "carol").mkdir(parents=True)
    (folder / "alice.py").write_text(NEURAL_NET)
    buggy = NEURAL_NET.replace("grads['W1'] = X.T.dot(dhidden) + 2 * reg * W1", "grads['W1'] = X.T.dot(dhidden)")
    assert buggy != NEURAL_NET
    (folder / "bob.py").write_text(buggy)
    (folder / "carol" / "neural_net.py").write_text(NEURAL_NET)
    (folder / "carol" / "old_attempt.py").write_text("class TwoLayerNet:\n    pass\n\nprint 'unfinished'\n")
    (folder / "eve.py").write_text("import numpy as np\n\nclass TwoLayerNet(object):\n    def __init__(self, a, b, c):\n"
                                   "        print 'hello'\n")
    out = tmp_path / "out"
    code, _, stderr = grade(folder, out, "--preset", "cs231n")
    assert code == 0, stderr
    rows = rows_of(out)
    assert {s: r["status"] for s, r in rows.items()} == {"alice": "pass", "bob": "fail", "carol": "pass",
                                                         "eve": "error"}, rows
    assert rows["eve"]["summary"].startswith("Python 2 syntax (print statement) at eve.py:5")
    assert rows["alice"]["score"] == rows["alice"]["max_score"]


SETPRIV = shutil.which("setpriv")
WITHOUT_OVERRIDE = [SETPRIV, "--bounding-set=-dac_override,-dac_read_search",
                    "--inh-caps=-dac_override,-dac_read_search"]  # root that file permissions apply to


def _permissions_can_apply() -> bool:
    if os.geteuid() != 0 or SETPRIV is None:
        return os.geteuid() != 0  # an ordinary user: permissions apply already
    probe = subprocess.run([*WITHOUT_OVERRIDE, "cat", "/proc/self/status"], capture_output=True, text=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _permissions_can_apply(), reason="root without setpriv: file permissions do not apply")
def test_an_entry_the_instructor_cannot_read_is_one_students_error(tmp_path):
    """Run by an instructor who is not root (or by root without CAP_DAC_OVERRIDE, where permission
    bits apply the same): a file or folder they cannot read is that student's row, named, and the
    rest of the class is graded."""
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.py").write_text(CORRECT)
    (folder / "bob.py").write_text(CORRECT)
    (folder / "carol").mkdir()
    (folder / "carol" / "mlp.py").write_text(CORRECT)
    os.chmod(folder / "bob.py", 0o000)
    os.chmod(folder / "carol", 0o000)
    out = tmp_path / "out"
    prefix = WITHOUT_OVERRIDE if os.geteuid() == 0 else []
    try:
        result = subprocess.run([*prefix, sys.executable, "-m", "compare.grade", str(folder), "--out", str(out),
                                 "--no-progress", "--timeout", "5"], capture_output=True, text=True, timeout=600,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
    finally:
        os.chmod(folder / "bob.py", 0o644)
        os.chmod(folder / "carol", 0o755)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = rows_of(out)
    assert {s: r["status"] for s, r in rows.items()} == {"alice": "pass", "bob": "error", "carol": "error"}
    assert "bob.py" in rows["bob"]["summary"] and "Permission denied" in rows["bob"]["summary"]
    assert rows["carol"]["summary"] == "carol/ cannot be listed (Permission denied)"
    assert "Traceback" not in result.stderr


def test_sigterm_ends_a_class_run_as_ctrl_c_does(tmp_path):
    """A scheduler's time limit (SIGTERM): the rows done are kept, the summary written, exit 143."""
    import signal
    import time

    folder, out = tmp_path / "class", tmp_path / "out"
    folder.mkdir()
    for i in range(30):
        (folder / f"s{i:02d}.py").write_text(CORRECT)
    scratch = tmp_path / "scratch"  # where the grader copies each submission (its TMPDIR)
    scratch.mkdir()
    process = subprocess.Popen([sys.executable, "-m", "compare.grade", str(folder), "--out", str(out), "--jobs", "2",
                                "--timeout", "5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(scratch)})
    try:
        while not (out / "grades.csv").is_file() or len(rows_of(out)) < 1:  # one student done: signal then
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)  # polling a condition, not racing a delay
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1].startswith("grade: interrupted (SIGTERM)")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and 1 <= summary["n_students"] < 30
    assert set(rows_of(out)) == {row["student"] for row in summary["students"]}
    assert all(row["status"] == "pass" for row in summary["students"])  # a stopped student is no row, not "died"
    assert list(scratch.iterdir()) == []  # the students being graded were stopped and their copies removed


@pytest.mark.parametrize("module", ["manual", "reference", "compare"])
def test_the_answer_key_cannot_be_allowed(tmp_path, capsys, module):
    (tmp_path / "class").mkdir()
    assert G.main([str(tmp_path / "class"), "--out", str(tmp_path / "out"), "--allow-import", module]) == 2
    err = capsys.readouterr().err
    assert f"--allow-import {module}: the answer key" in err and err.count("\n") == 1
