"""compare.grader.results.gradescope, piece by piece and fast: the settings a bundle carries (its TOML and
options, every bad value refused by name), the zip (its members, modes, dates and bytes, from a small
source tree of our own) and results.json (every field Gradescope reads, the Markdown a student sees).
tests/test_autograder.py runs the real zip end to end."""

from __future__ import annotations

import json
import math
import os
import stat
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from test_report_units import RTOL, bad_w2, finding, good

from compare.grader.course.assignment import PRESETS, Assignment, load_assignment
from compare.grader.course.points import CasePoints, Score
from compare.grader.judging.records import Report
from compare.grader.results import gradescope as G
from compare.grader.results.report import format_case

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
OPTIONS = {"timeout": 10, "budget": 120.5, "memory_mb": 2048, "isolation": "auto", "allow_imports": ["scipy"], "seed": 0}


# ----------------------------------------------------------------------------- the settings
@pytest.mark.parametrize("text", ['say "hi"', "back\\slash", "line\nbreak\ttab", "del\x7fete", "é ∂L/∂W", "\x01", ""])
def test_a_toml_string_reads_back_as_the_same_text(text):
    written = G._toml_string(text)
    assert tomllib.loads(f"x = {written}")["x"] == text
    assert "\x7f" not in written and ("é" not in text or "é" in written)  # DEL escaped, the rest kept as it is


def test_toml_values_of_every_kind_the_assignment_holds():
    assert [G._toml_value(v) for v in (True, False, 3, 0.5, 1e-07, 2.0, "a")] == [
        "true", "false", "3", "0.5", "1e-07", "2.0", '"a"']
    assert G._toml_value([("input_dim", "d"), ("reg", 0.5)]) == '[["input_dim", "d"], ["reg", 0.5]]'
    assert G._toml_value(()) == "[]"
    assert tomllib.loads("x = " + G._toml_value([1, [True, "x"]]))["x"] == [1, [True, "x"]]
    for bad, kind in (({"a": 1}, "dict"), (None, "NoneType"), (b"x", "bytes")):
        with pytest.raises(G.BundleError, match=rf"cannot write .* \({kind}\) as TOML"):
            G._toml_value(bad)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_reads_back_equal_from_its_toml(name, tmp_path):
    a = replace(PRESETS[name], points=(("*/regularised", 5.0), ("relu/*", 1)), total=20.0, visibility="hidden")
    text = G.assignment_toml(a)
    (tmp_path / "a.toml").write_text(text)
    assert load_assignment(tmp_path / "a.toml") == a
    lines = text.splitlines()
    assert lines[0].startswith("# The course's assignment") and lines[1].startswith("# Its keys")
    assert lines[-3:] == ["[points]", '"*/regularised" = 5.0', '"relu/*" = 1.0']
    assert lines[-4] == "" and text.endswith("\n")
    assert "extends" not in text and "file =" not in text  # None: left out, never written as a value
    assert f"name = \"{name}\"" in lines and "total = 20.0" in lines
    assert f"relu_grad_at_zero = {list(a.relu_grad_at_zero)}" in lines  # integers, written as integers


def test_the_toml_writes_every_key_that_has_a_value():
    a = Assignment(name="course", file="hw/mlp.py", extends="homework", conventions_cost_points=False,
                   activations=("tanh", "relu"), log_epsilon=1e-07)
    parsed = tomllib.loads(G.assignment_toml(a))
    assert parsed["file"] == "hw/mlp.py" and parsed["extends"] == "homework"
    assert parsed["conventions_cost_points"] is False and parsed["activations"] == ["tanh", "relu"]
    assert parsed["log_epsilon"] == 1e-07 and parsed["points"] == {}


def test_good_options_come_back_with_the_modules_as_a_list():
    checked = G.check_options({**OPTIONS, "allow_imports": ("scipy", "sklearn")})
    assert checked == {**OPTIONS, "allow_imports": ["scipy", "sklearn"]}
    assert G.check_options({**OPTIONS, "memory_mb": 256, "timeout": 0.001, "budget": 1e300, "seed": -3})["memory_mb"] == 256
    for isolation in ("auto", "bubblewrap", "process"):
        assert G.check_options({**OPTIONS, "isolation": isolation})["isolation"] == isolation


@pytest.mark.parametrize(("change", "words"), [
    ({"timeout": 0}, "timeout = 0 must be a positive number of seconds"),
    ({"timeout": -1.0}, "timeout = -1.0 must be"),
    ({"timeout": math.inf}, "timeout = inf must be"),
    ({"timeout": math.nan}, "timeout = nan must be"),
    ({"timeout": True}, "timeout = True must be"),
    ({"timeout": "10"}, "timeout = '10' must be"),
    ({"budget": 0.0}, "budget = 0.0 must be a positive number of seconds"),
    ({"budget": math.inf}, "budget = inf must be"),
    ({"budget": None}, "budget = None must be"),
    ({"memory_mb": 255}, "memory_mb = 255 must be a whole number of MiB, at least 256"),
    ({"memory_mb": 512.0}, "memory_mb = 512.0 must be"),
    ({"memory_mb": True}, "memory_mb = True must be"),
    ({"isolation": "docker"}, "isolation = 'docker' is not one of auto, bubblewrap, process"),
    ({"allow_imports": "scipy"}, "allow_imports = 'scipy' must be a list of module names"),
    ({"allow_imports": ["scipy", "os.path"]}, "allow_imports = \\['scipy', 'os.path'\\] must be"),
    ({"allow_imports": ["x", 3]}, "allow_imports = \\['x', 3\\] must be"),
    ({"seed": 1.0}, "seed = 1.0 must be a whole number"),
    ({"seed": False}, "seed = False must be a whole number"),
])
def test_each_bad_option_is_refused_by_name(change, words):
    with pytest.raises(G.BundleError, match=words):
        G.check_options({**OPTIONS, **change})


@pytest.mark.parametrize("key", sorted(OPTIONS))
def test_options_missing_a_key_or_with_one_more_are_refused(key):
    keys = "\\['allow_imports', 'budget', 'isolation', 'memory_mb', 'seed', 'timeout'\\]"
    fewer = {k: v for k, v in OPTIONS.items() if k != key}
    with pytest.raises(G.BundleError, match=f"grading options must have exactly the keys {keys}, got"):
        G.check_options(fewer)
    with pytest.raises(G.BundleError, match=f"exactly the keys {keys}, got \\[.*'zzz'\\]"):
        G.check_options({**OPTIONS, "zzz": 1})
    with pytest.raises(G.BundleError, match=f"exactly the keys {keys}, got list"):
        G.check_options([OPTIONS])


def test_the_settings_are_read_back_from_their_folder(tmp_path):
    a = replace(PRESETS["cs231n"], total=10.0)
    (tmp_path / "assignment.toml").write_text(G.assignment_toml(a))
    (tmp_path / "options.json").write_text(json.dumps(OPTIONS))
    assert G.read_settings(tmp_path) == (a, OPTIONS)
    assert G.read_settings(str(tmp_path)) == (a, OPTIONS)
    (tmp_path / "options.json").write_text("{not json")
    with pytest.raises(G.BundleError, match=f"{tmp_path / 'options.json'} is not valid JSON"):
        G.read_settings(tmp_path)
    (tmp_path / "options.json").write_text(json.dumps({**OPTIONS, "seed": "0"}))
    with pytest.raises(G.BundleError, match="seed = '0' must be a whole number"):
        G.read_settings(tmp_path)
    (tmp_path / "options.json").unlink()
    with pytest.raises(G.BundleError, match=f"cannot read {tmp_path / 'options.json'}: No such file or directory"):
        G.read_settings(tmp_path)


# ----------------------------------------------------------------------------- the scripts
def test_setup_names_the_torch_it_was_built_beside_or_says_how_to_pin_it():
    built = G.setup_script({"torch": "2.5.1", "torchvision": "0.20.1"})
    assert "(built beside torch 2.5.1, torchvision 0.20.1; pin both with ==VERSION to get exactly those)" in built
    for plain in (G.setup_script(), G.setup_script({})):
        assert "(pin both to fix them)" in plain
    assert "{pins}" not in built and "{pins}" not in G.setup_script()
    assert f"--index-url {G.CPU_INDEX} torch torchvision" in built and built.startswith("#!/usr/bin/env bash\n")


def test_the_project_is_this_source_tree():
    assert G.PROJECT == REPO
    assert G.BUNDLED == ("manual", "reference", "compare", "pyproject.toml", "README.md")


# ----------------------------------------------------------------------------- the zip
@pytest.fixture
def project(tmp_path) -> Path:
    """A small source tree shaped like this project, with what must stay out of a bundle."""
    root = tmp_path / "project"
    for name, text in {"manual/__init__.py": "# manual\n", "manual/mlp.py": "x = 1\n", "reference/model.py": "y = 2\n",
                       "compare/__init__.py": "", "compare/grader/sub/deep.py": "z = 3\n", "pyproject.toml": "[x]\n",
                       "README.md": "# readme\n", "compare/__pycache__/a.cpython-311.pyc": "bytecode",
                       "compare/.hidden/secret.py": "s\n", "compare/.env": "KEY=1\n", "compare/old.pyc": "pyc",
                       "compare/old.pyo": "pyo", "tests/test_x.py": "t\n", ".git/config": "g\n"}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "compare" / "link.py").symlink_to(root / "manual" / "mlp.py")
    return root


SOURCE_MEMBERS = ["manual/__init__.py", "manual/mlp.py", "reference/model.py", "compare/__init__.py",
                  "compare/grader/sub/deep.py", "pyproject.toml", "README.md"]


def test_the_zip_holds_the_scripts_the_settings_and_the_source_tree_only(project, tmp_path):
    out = tmp_path / "autograder.zip"
    a = replace(PRESETS["cs231n"], total=20.0)
    members = G.build_bundle(out, a, OPTIONS, {"torch": "2.5.1"}, project=project)
    assert members == ["setup.sh", "run_autograder", "course/assignment.toml", "course/options.json", *SOURCE_MEMBERS]
    with zipfile.ZipFile(out) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == members
        read = {i.filename: archive.read(i) for i in infos}
    assert read["setup.sh"] == G.setup_script({"torch": "2.5.1"}).encode()
    assert read["run_autograder"] == G.RUN_AUTOGRADER.encode()
    assert read["course/assignment.toml"] == G.assignment_toml(a).encode()
    assert json.loads(read["course/options.json"]) == OPTIONS and read["course/options.json"].endswith(b"}\n")
    assert read["course/options.json"].startswith(b'{\n  "timeout": 10,')
    assert read["manual/mlp.py"] == b"x = 1\n" and read["compare/__init__.py"] == b""
    for info in infos:
        executable = info.filename in ("setup.sh", "run_autograder")
        assert info.external_attr >> 16 == stat.S_IFREG | (0o755 if executable else 0o644), info.filename
        assert info.date_time == (2020, 1, 1, 0, 0, 0) and info.compress_type == zipfile.ZIP_DEFLATED
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".autograder-")] == []


def test_the_same_settings_make_the_same_bytes(project, tmp_path):
    G.build_bundle(tmp_path / "a.zip", PRESETS["homework"], OPTIONS, project=project)
    os.utime(project / "manual" / "mlp.py", (1e9, 1e9))  # another date on disk: the same zip
    G.build_bundle(tmp_path / "b.zip", PRESETS["homework"], OPTIONS, project=project)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


@pytest.mark.parametrize("missing", ["manual", "reference", "compare", "pyproject.toml", "README.md"])
def test_a_source_tree_missing_a_part_is_refused_by_name(project, tmp_path, missing):
    path = project / missing
    if path.is_dir():
        import shutil

        shutil.rmtree(path)
    else:
        path.unlink()
    with pytest.raises(G.BundleError, match=f"not complete at {project} \\(missing: {missing}\\); build the "
                                            "autograder from a clone of the project"):
        G.build_bundle(tmp_path / "x.zip", PRESETS["homework"], OPTIONS, project=project)
    assert not (tmp_path / "x.zip").exists()


def test_bad_options_or_an_assignment_that_does_not_read_back_write_nothing(project, tmp_path, monkeypatch):
    with pytest.raises(G.BundleError, match="memory_mb = 1 must be"):
        G.build_bundle(tmp_path / "x.zip", PRESETS["homework"], {**OPTIONS, "memory_mb": 1}, project=project)
    monkeypatch.setattr(G, "load_assignment", lambda path: PRESETS["cs231n"])
    with pytest.raises(G.BundleError, match="the assignment 'homework' does not read back equal from its TOML"):
        G.build_bundle(tmp_path / "x.zip", PRESETS["homework"], OPTIONS, project=project)
    assert list(tmp_path.iterdir()) == [project]


def test_a_zip_that_fails_half_way_leaves_no_file_behind(project, tmp_path, monkeypatch):
    (tmp_path / "x.zip").write_bytes(b"the earlier zip")
    written = []

    def fail_after_two(archive, name, data, executable=False):
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        written.append(name)

    monkeypatch.setattr(G, "_add", fail_after_two)
    with pytest.raises(OSError, match="No space left"):
        G.build_bundle(tmp_path / "x.zip", PRESETS["homework"], OPTIONS, project=project)
    assert (tmp_path / "x.zip").read_bytes() == b"the earlier zip"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project", "x.zip"]


# ----------------------------------------------------------------------------- results.json
def scored(report: Report, passed: int = 1) -> Report:
    cases = [CasePoints("relu/minibatch", 2.0, 2.0 if passed else 0.0, "passed" if passed else "failed", "agrees"),
             CasePoints("relu/regularised", 3.0, 0.0, "failed", "W2 disagrees <b>"),
             CasePoints("relu/two-hidden", 1.0, 0.0, "not run", "not run: two hidden layers skipped")]
    report.score = Score(sum(c.points for c in cases) + 1 / 3, 6.0, cases)
    return report


def failing_report() -> Report:
    return scored(Report("bob/mlp.py", assignment="cs231n", cases=[good(), bad_w2()], isolation="bubblewrap: read-only, no network",
                         conventions=["W | (in, out)"], notes=["cell 3 skipped"], skipped=["two hidden layers"],
                         diagnosis=[finding("W2's gradient <i>is</i> transposed"), finding("second")]))


def test_results_hold_every_field_gradescope_reads():
    report = failing_report()
    data = G.results(report, replace(PRESETS["cs231n"], visibility="after_due_date"), 12.3456, "bubblewrap")
    assert data["score"] == 2.3333 and data["execution_time"] == 12.35
    assert (data["output_format"], data["test_output_format"], data["stdout_visibility"]) == ("md", "md", "hidden")
    assert data["output"] == G.summary_markdown(report, "bubblewrap", None)
    assert data["extra_data"] == {"status": "fail", "exit_code": 1, "error_kind": None,
                                  "isolation": "bubblewrap: read-only, no network", "max_score": 6.0}
    assert [(t["name"], t["score"], t["max_score"], t["status"], t["visibility"]) for t in data["tests"]] == [
        ("relu/minibatch", 2.0, 2.0, "passed", "after_due_date"),
        ("relu/regularised", 0.0, 3.0, "failed", "after_due_date"),
        ("relu/two-hidden", 0.0, 1.0, "failed", "after_due_date")]  # "not run" is a failure to Gradescope
    assert data["tests"][0]["output"] == "agrees"  # a case that agrees: no table
    assert data["tests"][1]["output"] == ("W2 disagrees &lt;b&gt;\n\n```\n" + format_case(report.cases[1]) + "\n```")
    assert data["tests"][2]["output"] == "not run: two hidden layers skipped"  # no case of that name ran
    json.dumps(data, allow_nan=False)


def test_a_case_table_in_results_is_in_the_courses_layout_and_cannot_close_its_code_block():
    from test_report_units import CS231N_WORDS

    report = scored(Report("x", cases=[good(), bad_w2(note="returned ``` transposed")], words=CS231N_WORDS))
    output = G.results(report, PRESETS["cs231n"], 1.0, "process")["tests"][1]["output"]
    table = format_case(report.cases[1], CS231N_WORDS).replace("`", "'")
    assert output.endswith("\n\n```\n" + table + "\n```") and "(4, 3)" in table and "returned ''' transposed" in table
    assert output.count("```") == 2


def test_a_case_without_the_reports_words_is_told_in_the_homeworks():
    class Bare:  # a report from before words were kept: the homework's layout
        def __init__(self, report):
            self.__dict__.update({k: getattr(report, k) for k in ("cases", "score", "verdict", "verdict_parts", "status", "target",
                                                                  "assignment", "isolation", "diagnosis", "conventions",
                                                                  "notes", "skipped", "exit_code", "error_kind")})

    report = failing_report()
    data = G.results(Bare(report), PRESETS["homework"], 1.0, "process")
    assert data["tests"][1]["output"].endswith("```\n" + format_case(report.cases[1]) + "\n```")


def test_the_summary_a_student_reads_first():
    report = failing_report()
    assert G.summary_markdown(report, "bubblewrap", None) == "\n".join([
        f"## FAIL: 1 of 2 cases disagree with the torch reference (float64, rtol {RTOL}); besides, W \\| (in, out)",
        "",
        "Score: **2.333 of 6** (1 of 3 scored cases pass).",
        "",
        "- graded: bob/mlp.py",
        "- conventions: cs231n",
        "- isolation: the submission ran at the **bubblewrap** level (read-only, no network)",
        "",
        "### Diagnosis (most likely first)",
        "",
        "1. W2's gradient &lt;i&gt;is&lt;/i&gt; transposed",
        "2. second",
        "",
        "### Conventions",
        "",
        "- W \\| (in, out)",
        "",
        "### Notes",
        "",
        "- cell 3 skipped",
        "",
        "### Skipped",
        "",
        "- two hidden layers",
    ]) + "\n"


def test_the_summary_of_a_pass_and_of_an_error():
    passing = scored(Report("alice/mlp.py", cases=[good()], isolation="process"), passed=1)
    assert G.summary_markdown(passing, "process", "bubblewrap is not available here").splitlines() == [
        f"## PASS: all 1 cases agree with the torch reference (float64, rtol {RTOL})",
        "",
        "Score: **2.333 of 6** (1 of 3 scored cases pass).",
        "",
        "- graded: alice/mlp.py",
        "- conventions: homework (the homework's contract)",
        "- isolation: the submission ran at the **process** level. Warning: bubblewrap is not available here"]
    broken = Report("zoe/mlp.py", error="FAIL — <b>PASS</b>", error_kind="load")
    text = G.summary_markdown(broken, "bubblewrap", None)
    assert text.splitlines()[0] == "## ERROR: cannot validate zoe/mlp.py: fail — &lt;b&gt;pass&lt;/b&gt;"
    assert "Score" not in text and "### " not in text
    assert text.splitlines()[-1] == ("- isolation: none of the submission's code ran (it would have run at the "
                                     "bubblewrap level)")


def test_the_summary_heads_with_the_status_then_the_verdicts_sentence():
    class Odd:  # the sentence is taken as the report gives it, never parsed back out of the verdict line
        verdict, status, score, target, assignment, isolation = "odd words", "fail", None, "t", "a", None
        verdict_parts = ("FAIL", "odd words")
        diagnosis = conventions = notes = skipped = ()

    assert G.summary_markdown(Odd(), "process", None).splitlines()[0] == "## FAIL: odd words"


def test_the_autograders_own_failure_is_zero_and_says_it_is_not_the_students():
    data = G.failure_results("TypeError: <boom> | x", 3.14159)
    assert data == {"score": 0.0, "execution_time": 3.14, "output_format": "md", "stdout_visibility": "hidden",
                    "tests": [], "extra_data": {"status": "internal"},
                    "output": ("**The autograder itself failed; this is not a verdict on your submission.** Your "
                               "instructor can see why in the autograder's log.\n\n- cause: TypeError: &lt;boom&gt; "
                               "\\| x\n")}


def test_results_json_is_written_whole_into_a_new_folder_readable_by_all(tmp_path):
    old = os.umask(0o077)
    try:
        path = G.write_results(tmp_path / "results" / "deep", {"score": 1.0, "tests": []})
    finally:
        os.umask(old)
    assert path == tmp_path / "results" / "deep" / "results.json"
    assert json.loads(path.read_text()) == {"score": 1.0, "tests": []}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert G.write_results(str(tmp_path / "results" / "deep"), {"score": 2.0}) == path
    assert json.loads(path.read_text()) == {"score": 2.0} and os.listdir(path.parent) == ["results.json"]


def test_a_cases_output_is_cut_at_600_characters():
    report = Report("x", cases=[good()])
    report.score = Score(1.0, 1.0, [CasePoints("relu/minibatch", 1.0, 1.0, "passed", "y" * 599),
                                    CasePoints("relu/one-example", 1.0, 0.0, "failed", "z" * 600),
                                    CasePoints("relu/regularised", 1.0, 0.0, "failed", "w" * 601)])
    outputs = [t["output"] for t in G.results(report, PRESETS["homework"], 1.0, "process")["tests"]]
    assert outputs == ["y" * 599, "z" * 600, "w" * 599 + "…"]


def test_the_scores_are_rounded_to_four_places():
    report = scored(Report("x", cases=[good()]))
    report.score = Score(2 / 3, 20 / 3, report.score.cases)
    data = G.results(report, PRESETS["homework"], 0.004, "process")
    assert (data["score"], data["extra_data"]["max_score"], data["execution_time"]) == (0.6667, 6.6667, 0.0)
