"""The Gradescope autograder: the zip ``backprop-autograder`` writes, and that zip's own
``run_autograder`` run here under a temporary ``AUTOGRADER_ROOT`` on a correct, a buggy and a
broken submission, each ``results.json`` checked field by field against Gradescope's
specification. ``setup.sh`` is never run (it needs the network): it is parsed (``bash -n``) and
its commands are read.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from test_class_run import CORRECT

from compare.grader import autograder
from compare.grader.course import points
from compare.grader.course.assignment import Assignment, load_assignment, preset
from compare.grader.results import gradescope

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO), "AUTOGRADER_PYTHON": sys.executable}

# The course: the homework's contract, 20 points, the regularised case worth 5 of 13 raw points (8 other
# scored cases at 1; the two-hidden case scores only when a glob names it).
COURSE = """
total = 20
visibility = "after_due_date"
[points]
"*/regularised" = 5
"""
TOTAL, REGULARISED = 20.0, 20.0 * 5 / 13

# Forgets the factor 2 of d(λ‖W‖²)/dW: only the regularised case disagrees.
BUGGY = CORRECT.replace("+ 2 * l2 * W", "+ l2 * W")
assert BUGGY != CORRECT

# The homework's skeleton, handed in as it was given; its message holds HTML and a Markdown link.
SKELETON = '''
import numpy as np


class MLP:
    def __init__(self, sizes, activation):
        self.params = {}
        for l in range(1, len(sizes)):
            self.params[f"W{l}"] = np.zeros((sizes[l], sizes[l - 1]))
            self.params[f"b{l}"] = np.zeros(sizes[l])

    def loss_and_grads(self, X, y, lambdas):
        raise NotImplementedError("TODO <b>backward</b> [see](http://x.example)")


def make_mlp(sizes, activation):
    return MLP(sizes, activation)
'''

TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
            "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_KEYS = {"name", "score", "max_score", "status", "output", "visibility", "number", "tags", "output_format",
             "name_format", "extra_data"}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_against_spec(results: dict) -> None:
    """The fields and types of Gradescope's results.json, whatever was graded."""
    assert set(results) <= TOP_KEYS, set(results) - TOP_KEYS
    assert is_number(results["score"]) and results["score"] >= 0
    assert is_number(results["execution_time"]) and results["execution_time"] >= 0
    assert isinstance(results["output"], str) and results["output"].strip()
    assert results["output_format"] == "md" and results.get("test_output_format", "md") in FORMATS
    assert results["stdout_visibility"] in VISIBILITIES
    assert isinstance(results["tests"], list)
    for test in results["tests"]:
        assert set(test) <= TEST_KEYS, set(test) - TEST_KEYS
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert is_number(test["score"]) and is_number(test["max_score"])
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in VISIBILITIES
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]), abs=1e-4)


def extract(bundle: Path, root: Path) -> None:
    """Unpack the zip as Gradescope does: into ROOT/source, with the members' modes."""
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
        for info in archive.infolist():
            os.chmod(root / "source" / info.filename, (info.external_attr >> 16) & 0o777)


def course_assignment() -> Assignment:
    return load_assignment_from_text(COURSE, base=preset("homework"))


def load_assignment_from_text(text: str, base=None) -> Assignment:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "course.toml"
        path.write_text(text)
        return load_assignment(path, base=base)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bundle")
    (folder / "course.toml").write_text(COURSE)
    done = subprocess.run([sys.executable, "-m", "compare.grader.autograder", "--preset", "homework", "--assignment",
                           str(folder / "course.toml"), "-o", str(folder / "autograder.zip")],
                          env=ENV, capture_output=True, text=True, timeout=300, cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "autograder.zip" in done.stdout
    return folder / "autograder.zip"


@pytest.fixture(scope="module")
def graded(bundle, tmp_path_factory) -> dict:
    """{kind: (exit status, results.json, stdout)} for the three submissions, run at once."""
    runs = {}
    for kind, source in (("correct", CORRECT), ("buggy", BUGGY), ("broken", SKELETON)):
        root = tmp_path_factory.mktemp(kind)
        extract(bundle, root)
        (root / "submission").mkdir()
        (root / "submission" / "mlp.py").write_text(source)
        process = subprocess.Popen([str(root / "source" / "run_autograder")], env={**ENV, "AUTOGRADER_ROOT": str(root)},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root)
        runs[kind] = (root, process)
    found = {}
    for kind, (root, process) in runs.items():
        out, err = process.communicate(timeout=600)
        results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
        found[kind] = (process.returncode, results, out + err)
    return found


# ----------------------------------------------------------------------------- the zip
def test_the_zip_holds_the_scripts_the_settings_and_the_project_only(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        names = set(infos)
        assert {"setup.sh", "run_autograder", "course/assignment.toml", "course/options.json", "pyproject.toml",
                "README.md", "compare/grader/autograder.py", "compare/grader/results/gradescope.py", "manual/__init__.py",
                "reference/__init__.py"} <= names
        tops = {name.split("/")[0] for name in names}
        assert tops == {"setup.sh", "run_autograder", "course", "manual", "reference", "compare", "pyproject.toml",
                        "README.md"}
        assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
        for script in ("setup.sh", "run_autograder"):
            mode = infos[script].external_attr >> 16
            assert stat.S_ISREG(mode) and mode & 0o111 == 0o111, oct(mode)
        assert infos["course/options.json"].external_attr >> 16 & 0o111 == 0
        assert archive.read("compare/grade.py") == (REPO / "compare" / "grade.py").read_bytes()
        options = json.loads(archive.read("course/options.json"))
    assert options == {"timeout": 10.0, "budget": 25.0, "memory_mb": 2048, "isolation": "auto",
                       "allow_imports": [], "seed": 0}
    extract(bundle, tmp_path)
    assert gradescope.read_settings(tmp_path / "source" / "course") == (course_assignment(), options)


def test_the_same_settings_make_the_same_bytes(bundle, tmp_path):
    (tmp_path / "course.toml").write_text(COURSE)
    again = tmp_path / "again.zip"
    assert autograder.main(["--preset", "homework", "--assignment", str(tmp_path / "course.toml"),
                            "-o", str(again)]) == 0
    assert again.read_bytes() == bundle.read_bytes()


def test_setup_installs_python_bubblewrap_cpu_torch_and_the_bundled_project(bundle, tmp_path):
    extract(bundle, tmp_path)
    for script in ("setup.sh", "run_autograder"):
        parsed = subprocess.run(["bash", "-n", str(tmp_path / "source" / script)], capture_output=True, text=True)
        assert parsed.returncode == 0, parsed.stderr
    setup = (tmp_path / "source" / "setup.sh").read_text()
    commands = [line.strip() for line in setup.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert setup.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in commands
    apt = next(c for c in commands if c.startswith("apt-get install"))
    assert {"python3", "python3-pip", "python3-venv", "bubblewrap"} <= set(apt.split())
    torch = next(c for c in commands if "download.pytorch.org" in c)
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch and torch.split()[-2:] == ["torch", "torchvision"]
    assert "torchvision built for it" in setup  # the reason both come from one command, said
    project = next(c for c in commands if c.endswith('"$ROOT/source"'))
    assert " install " in project and commands.index(torch) < commands.index(project)
    run = (tmp_path / "source" / "run_autograder").read_text()
    assert '"${AUTOGRADER_PYTHON:-python3}" -m compare.grader.autograder run --settings "$ROOT/source/course"' in run


@pytest.mark.parametrize("argv, named", [
    (["--timeout", "-1"], "'-1'"),
    (["--memory", "255"], "'255'"),
    (["--allow-import", "os.path"], "'os.path'"),
    (["--factory", "make-mlp"], "'make-mlp'"),
    (["--isolation", "docker"], "'docker'"),
    (["--preset", "cs231n", "--assignment", "{course}"], "'*/nothing'"),
])
def test_bad_options_are_refused_by_name_before_anything_is_written(tmp_path, capsys, argv, named):
    (tmp_path / "course.toml").write_text('[points]\n"*/nothing" = 2\n')
    out = tmp_path / "autograder.zip"
    argv = [a.replace("{course}", str(tmp_path / "course.toml")) for a in argv]
    assert autograder.main([*argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("autograder: error: ") and named in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == [tmp_path / "course.toml"]


@pytest.mark.parametrize("where", ["folder", "missing-parent", "read-only"])
def test_an_output_that_cannot_be_written_is_refused(tmp_path, capsys, where):
    if where == "folder":
        out = tmp_path
    elif where == "missing-parent":
        out = tmp_path / "no" / "such" / "autograder.zip"
    elif os.geteuid() == 0:  # root writes anywhere but where the kernel says no: sysfs makes no files
        if not Path("/sys").is_dir():
            pytest.skip("no /sys here")
        out = Path("/sys/autograder.zip")
    else:
        (tmp_path / "ro").mkdir(mode=0o555)
        out = tmp_path / "ro" / "autograder.zip"
    assert autograder.main(["-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("autograder: error: -o ") and str(out) in err and err.count("\n") == 1
    assert not (tmp_path / "no").exists()


def test_the_assignment_toml_reads_back_equal():
    tricky = Assignment(name='course "A" — été\x7f', factory="TwoLayerNet", factory_aliases=(), call="dims",
                        method="loss", weights="in_out", penalty="l2", l2_factor=0.5, activations=("relu", "tanh"),
                        allow_imports=("scipy",), extends="cs231n", file="cs231n/classifiers/fc_net.py",
                        points=(("relu/*", 2.5), ("*/mnist-width", 0)), total=7, conventions_cost_points=False,
                        visibility="hidden")
    assert load_assignment_from_text(gradescope.assignment_toml(tricky)) == tricky
    assert load_assignment_from_text(gradescope.assignment_toml(preset("cs231n"))) == preset("cs231n")


# ----------------------------------------------------------------------------- run_autograder, locally
def test_results_follow_the_specification_for_every_submission(graded):
    names = points.scored_case_names(course_assignment())
    for kind, (status, results, log) in graded.items():
        assert status == 0, (kind, log)
        check_against_spec(results)
        tests = results["tests"]
        assert [t["name"] for t in tests] == names  # one test per scored case, in the battery's order
        assert {t["visibility"] for t in tests} == {"after_due_date"}  # the assignment's
        assert sum(t["max_score"] for t in tests) == pytest.approx(TOTAL, abs=1e-3)
        worth = {t["name"]: t["max_score"] for t in tests}
        assert worth["relu/regularised"] == pytest.approx(REGULARISED, abs=1e-4)
        assert results["stdout_visibility"] == "hidden"
        assert "results.json: score" in log  # for the instructor, in Gradescope's stdout


def test_a_correct_submission_scores_in_full(graded):
    _, results, _ = graded["correct"]
    assert results["score"] == TOTAL
    assert all(t["status"] == "passed" and t["score"] == t["max_score"] for t in results["tests"])
    assert results["output"].startswith("## PASS: ")
    isolation = results["extra_data"]["isolation"]
    assert isolation.split(":")[0] in ("bubblewrap", "process")
    assert f"- isolation: the submission ran at the **{isolation.split(':')[0]}** level (" in results["output"]


def test_a_buggy_submission_scores_in_part_with_the_diagnosis(graded):
    _, results, _ = graded["buggy"]
    failed = [t for t in results["tests"] if t["status"] == "failed"]
    # The cases with a penalty disagree (the regularised one among them); the others score in full.
    assert "relu/regularised" in {t["name"] for t in failed} and len(failed) < len(results["tests"])
    assert all(t["score"] == 0 and "disagrees with the reference in W1" in t["output"] for t in failed)
    assert all("\n```\n" in t["output"] and "FAIL" in t["output"] for t in failed)  # the case's table
    assert results["score"] == pytest.approx(TOTAL - sum(t["max_score"] for t in failed), abs=1e-4)
    assert 0 < results["score"] <= TOTAL - REGULARISED + 1e-4
    output = results["output"]
    assert output.startswith("## FAIL: ") and "### Diagnosis (most likely first)\n\n1. " in output
    assert "factor 2" in output.split("### Diagnosis")[1]


def test_a_broken_submission_scores_zero_with_the_cause_escaped(graded):
    _, results, _ = graded["broken"]
    assert results["score"] == 0 and all(t["status"] == "failed" for t in results["tests"])
    assert results["extra_data"]["error_kind"] == "raised"
    output = results["output"]
    assert output.startswith("## ERROR: ") and "NotImplementedError" in output
    assert "&lt;b&gt;backward&lt;/b&gt;" in output and "<b>" not in output
    assert "\\[see\\](http" in output and "[see](" not in output  # no link of theirs
    assert all("could not be graded" in t["output"] and "<b>" not in t["output"] for t in results["tests"])


def test_a_submission_without_code_scores_zero_and_says_nothing_of_it_ran(tmp_path):
    from compare.grader.classrun import grade_student, grading_options
    from compare.grader.submissions.classfolder import Student

    (tmp_path / "answers.pdf").write_bytes(b"%PDF-1.4\n")  # the written part, uploaded to the code's assignment
    assignment = course_assignment()
    report = grade_student(Student("submission", tmp_path), assignment, grading_options(assignment), 0)
    results = gradescope.results(report, assignment, 1.5, "process", "bubblewrap is not available (no userns)")
    check_against_spec(results)
    assert results["score"] == 0 and results["output"].startswith("## ERROR: ")
    assert "holds no .py or .ipynb file" in results["output"]
    assert "none of the submission's code ran (it would have run at the process level)" in results["output"]
    assert "Warning: bubblewrap is not available (no userns)" in results["output"]


def test_the_graders_own_failure_still_writes_results_and_exits_nonzero(bundle, tmp_path):
    extract(bundle, tmp_path)
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "mlp.py").write_text(CORRECT)
    (tmp_path / "source" / "course" / "options.json").write_text("{")
    done = subprocess.run([str(tmp_path / "source" / "run_autograder")], env={**ENV, "AUTOGRADER_ROOT": str(tmp_path)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stderr
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    check_against_spec(results)
    assert results["score"] == 0 and results["tests"] == []
    assert "autograder itself failed; this is not a verdict on your submission" in results["output"]
    assert "options.json is not valid JSON" in results["output"] and "internal error" in done.stderr


def test_a_python_that_cannot_start_still_leaves_results(bundle, tmp_path):
    extract(bundle, tmp_path)
    (tmp_path / "submission").mkdir()
    done = subprocess.run([str(tmp_path / "source" / "run_autograder")],
                          env={**ENV, "AUTOGRADER_ROOT": str(tmp_path), "AUTOGRADER_PYTHON": str(tmp_path / "none")},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    check_against_spec(results)
    assert results["score"] == 0 and "could not start" in results["output"]


def test_results_json_is_written_whole_with_mode_0644_whatever_the_umask(tmp_path):
    folder = tmp_path / "results"
    previous = os.umask(0o077)
    try:
        path = gradescope.write_results(folder, {"score": 1.5, "output": "λ"})
        assert path == folder / "results.json" and stat.S_IMODE(path.stat().st_mode) == 0o644
        assert json.loads(path.read_text(encoding="utf-8")) == {"score": 1.5, "output": "λ"}
        with pytest.raises(ValueError):
            gradescope.write_results(folder, {"score": float("nan")})  # never a results.json Gradescope rejects
    finally:
        os.umask(previous)
    assert json.loads(path.read_text())["score"] == 1.5 and os.listdir(folder) == ["results.json"]
