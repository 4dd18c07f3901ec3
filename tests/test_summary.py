"""A class run's summary, unit by unit and fast (reports and rows built by hand): what each report
counts as, the score distribution, summary.json field by field and what summary.png shows."""

from __future__ import annotations

import json
from types import SimpleNamespace

import matplotlib
import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from compare.grader.course.assignment import Assignment
from compare.grader.judging.records import Report
from compare.grader.results import summary as S
from compare.grader.results.outputs import OutputFolder


def Finding(key, message):  # what the report holds of a diagnose.Finding
    return SimpleNamespace(key=key, message=message)


# ----------------------------------------------------------------------------- diagnosis_of
def test_no_report_is_the_graders_failure():
    assert S.diagnosis_of(None) == ("internal", "internal: the grader failed")


@pytest.mark.parametrize("kind, label", [("load", "cannot be loaded"), ("forbidden", "imports a forbidden module"),
                                         ("raised", "raises"), ("contract", "breaks the contract"),
                                         ("channel", "writes to the grader's channel"),
                                         ("timeout", "too slow or hangs"), ("died", "its process died"),
                                         ("new-kind", "breaks the contract"), (None, "breaks the contract")])
def test_an_error_counts_as_its_kind(kind, label):
    report = Report(target="t", error="boom", error_kind=kind, conventions=["x"], diagnosis=[Finding("k", "m")])
    assert S.diagnosis_of(report) == (f"error:{kind}", f"error: {label}")


def test_other_conventions_count_before_a_finding():
    report = Report(target="t", conventions=["W as (in, out)"], diagnosis=[Finding("k", "m")])
    assert S.diagnosis_of(report) == ("conventions", "right backprop, other conventions")


def test_a_finding_counts_by_its_key_and_reads_as_its_message_cut_to_70():
    report = Report(target="t", diagnosis=[Finding("sign", "m" * 80 + "\x1b"), Finding("other", "o")])
    assert S.diagnosis_of(report) == ("finding:sign", "m" * 69 + "…")
    assert S.diagnosis_of(Report(target="t", diagnosis=[Finding("k", "m" * 70)]))[1] == "m" * 70


def test_a_pass_counts_as_nothing():
    assert S.diagnosis_of(Report(target="t")) is None


# ----------------------------------------------------------------------------- distribution
def rows(*pairs, status="pass"):
    return [{"student": f"s{i}", "status": status, "score": s, "max_score": m} for i, (s, m) in enumerate(pairs)]


def test_no_scores_is_no_distribution():
    assert S.distribution([], rows(("", ""))) == {"max_score": 0.0, "n": 0}
    assert S.distribution([], []) == {"max_score": 0.0, "n": 0}
    assert S.distribution([0.0], rows(("0", "0"))) == {"max_score": 0.0, "n": 0}
    assert S.distribution([], rows(("", ""), ("", "4"))) == {"max_score": 4.0, "n": 0}


def test_the_distribution_of_scores_by_tenths_of_the_full_score():
    found = S.distribution([0.0, 2.5, 9.99, 10.0, 5.0], rows(("0", "10"), ("", ""), ("2.5", "8")))
    assert found["max_score"] == 10.0 and found["n"] == 5
    assert (found["mean"], found["median"], found["min"], found["max"]) == (5.498, 5.0, 0.0, 10.0)
    assert [b["students"] for b in found["histogram"]] == [1, 0, 1, 0, 0, 1, 0, 0, 0, 2]
    assert found["histogram"][0] == {"from": 0.0, "to": 1.0, "students": 1}
    assert found["histogram"][-1] == {"from": 9.0, "to": 10.0, "students": 2}


def test_a_full_score_below_one_is_a_distribution():
    found = S.distribution([0.25], rows(("0.25", "0.5")))
    assert found["n"] == 1 and found["max_score"] == 0.5 and found["histogram"][5]["students"] == 1


def test_every_number_is_rounded_to_four_places():
    found = S.distribution([1.0, 1.123456], rows(("1", "1.23456")))
    assert found["mean"] == 1.0617 and found["median"] == 1.0617
    assert found["histogram"][1] == {"from": 0.1235, "to": 0.2469, "students": 0}


def test_the_mean_and_median_are_rounded_to_four_places():
    found = S.distribution([1.0, 1.0, 2.0], rows(("1", "3")))
    assert found["mean"] == 1.3333 and found["median"] == 1.0
    assert found["histogram"][3] == {"from": 0.9, "to": 1.2, "students": 2}


# ----------------------------------------------------------------------------- write_summary
@pytest.fixture
def drawn(monkeypatch):
    """The figures saved as summary.png, kept to look at what they show."""
    figures = []
    save = Figure.savefig

    def keep(self, *args, **kwargs):
        figures.append(self)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


def write(tmp_path, class_rows, diagnoses, **extra):
    out = OutputFolder(tmp_path / "out")
    out.claim()
    fields = {"skipped": [("notes.txt", "not a .py, .ipynb or folder")], "isolation": "process", "interrupted": False,
              "assignment": Assignment(), "folder": str(tmp_path / "class\x1b"), "jobs": 3} | extra
    returned = S.write_summary(out, class_rows, diagnoses, **fields)
    written = json.loads((out.path / "summary.json").read_text(encoding="utf-8"))
    assert returned == written and (out.path / "summary.json").read_text().endswith("}\n")
    assert (out.path / "summary.json").read_text().startswith('{\n  "assignment"')  # indented
    assert "summary.png" in (out.path / ".backprop-grade").read_text().splitlines()
    assert (out.path / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return written


CLASS = [{"student": "amy", "status": "pass", "score": "9", "max_score": "9"},
         {"student": "bob", "status": "fail", "score": "4", "max_score": "9"},
         {"student": "cat", "status": "fail", "score": "3", "max_score": "9"},
         {"student": "dan", "status": "error", "score": "0", "max_score": "9"},
         {"student": "eve", "status": "fail", "score": "5", "max_score": "9"},
         {"student": "fay", "status": "internal", "score": "", "max_score": ""}]
DIAGNOSES = {"eve": ("finding:sign", "the sign of dW (eve's words)"), "amy": None,
             "bob": ("finding:sign", "the sign of dW (bob's words)"), "cat": ("finding:scale", "a factor K"),
             "dan": ("error:raised", "error: raises"), "fay": ("internal", "internal: the grader failed")}


def test_summary_json_holds_every_count_and_diagnosis(tmp_path, drawn):
    written = write(tmp_path, CLASS, DIAGNOSES)
    assert written["counts"] == {"pass": 1, "fail": 3, "error": 1, "internal": 1}
    assert written["n_students"] == 6
    assert written["diagnoses"] == [
        {"key": "finding:sign", "diagnosis": "the sign of dW (bob's words)", "students": 2},  # the first by student
        {"key": "error:raised", "diagnosis": "error: raises", "students": 1},  # then by key
        {"key": "finding:scale", "diagnosis": "a factor K", "students": 1},
        {"key": "internal", "diagnosis": "internal: the grader failed", "students": 1}]
    assert written["not_graded"] == [{"entry": "notes.txt", "why": "not a .py, .ipynb or folder"}]
    assert written["scores"]["n"] == 5 and written["scores"]["mean"] == 4.2 and written["scores"]["max_score"] == 9
    assert (written["isolation"], written["interrupted"], written["jobs"], written["shard"]) == ("process", False, 3,
                                                                                                 None)
    assert written["folder"] == str(tmp_path / "class") and written["students"] == CLASS
    assert written["assignment"] == Assignment().to_dict()
    assert list(written["first_diagnosis"]) == ["amy", "bob", "cat", "dan", "eve", "fay"]
    assert written["first_diagnosis"]["amy"] is None
    assert written["first_diagnosis"]["cat"] == {"key": "finding:scale", "label": "a factor K"}


@pytest.mark.parametrize("folder, shown", [("f" * 500, "f" * 500), ("f" * 501, "f" * 499 + "…")])
def test_the_class_folder_is_said_in_500_characters(tmp_path, monkeypatch, folder, shown):
    monkeypatch.setattr(S, "plot_summary", lambda *args: None)
    out = OutputFolder(tmp_path / "out")
    out.claim()
    written = S.write_summary(out, [], {}, skipped=[], isolation="", interrupted=False, assignment=Assignment(),
                              folder=folder, jobs=1)
    assert written["folder"] == shown


def test_a_shard_and_an_interrupt_are_said(tmp_path, drawn):
    written = write(tmp_path, CLASS[:1], {"amy": None}, shard={"index": 2, "count": 3}, interrupted=True)
    assert written["shard"] == {"index": 2, "count": 3} and written["interrupted"] is True
    assert written["counts"] == {"pass": 1, "fail": 0, "error": 0, "internal": 0} and written["diagnoses"] == []


def texts(axes) -> list:
    return [t.get_text() for t in axes.texts]


def test_summary_png_shows_the_counts_the_scores_and_the_diagnoses(tmp_path, drawn):
    write(tmp_path, CLASS, DIAGNOSES)
    (figure,) = drawn
    left, middle, right = figure.axes
    assert figure._suptitle.get_text() == f"class — {Assignment().describe()}"
    png = (tmp_path / "out" / "summary.png").read_bytes()
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (1320, 935)  # 12 × 8.5 in at 110 dpi
    assert [t.get_text() for t in left.get_xticklabels()] == ["pass", "fail", "error", "internal"]
    assert [p.get_height() for p in left.patches] == [1, 3, 1, 1]
    assert [matplotlib.colors.to_hex(p.get_facecolor()) for p in left.patches] == [
        "#2a9d4b", "#e07b00", "#c0392b", "#555555"]
    assert left.get_title() == "6 submissions" and left.get_ylabel() == "students"
    assert left.get_ylim() == pytest.approx((0, 3.45))  # room above the tallest bar for its label
    assert [t.get_text() for t in left.texts] == ["1", "3", "1", "1"]
    assert middle.get_title() == "scores: mean 4.2" and middle.get_xlabel() == "score (of 9)"
    assert middle.get_ylabel() == "students"
    assert [p.get_height() for p in middle.patches] == [1, 0, 0, 1, 1, 1, 0, 0, 0, 1]
    assert middle.get_xlim()[0] <= 0 and middle.get_xlim()[1] >= 9
    assert [t.get_text() for t in right.get_yticklabels()] == [
        "internal: the grader failed", "a factor K", "error: raises", "the sign of dW (bob's words)"]
    assert [p.get_width() for p in right.patches] == [1, 1, 1, 2]
    assert right.get_title() == "most frequent first diagnosis (failing students)"
    assert right.get_xlabel() == "students"
    for ticks in (left.get_yticks(), middle.get_yticks(), right.get_xticks()):  # counts of students: whole
        assert all(float(t).is_integer() for t in ticks)
    assert [t.get_text() for t in right.texts] == ["1", "1", "1", "2"]
    assert [tuple(t.xyann) for t in right.texts] == [(2, 0)] * 4  # 2 points right of each bar
    assert {t.get_fontsize() for t in right.get_yticklabels()} == {8}
    assert plt.get_fignums() == []  # closed: a long run does not keep every figure
    boxes = [axes.get_position() for axes in (left, middle, right)]  # counts and scores above, diagnoses below
    assert boxes[1].width / boxes[0].width == pytest.approx(1.6, rel=0.02)
    assert boxes[0].y0 > boxes[2].y1 and boxes[1].y0 > boxes[2].y1
    assert boxes[2].width > boxes[0].width + boxes[1].width  # the diagnoses' long labels get the whole width


def test_scores_of_different_full_scores_are_shown_out_of_the_largest(tmp_path, drawn):
    class_rows = [{"student": "amy", "status": "pass", "score": "4", "max_score": "4"},
                  {"student": "bob", "status": "fail", "score": "3", "max_score": "9"}]
    written = write(tmp_path, class_rows, {"amy": None, "bob": None})
    assert written["scores"]["max_score"] == 9
    assert drawn[0].axes[1].get_xlabel() == "score (of 9)"


def test_a_course_whose_cases_are_worth_nothing_shows_no_scores(tmp_path, drawn):
    written = write(tmp_path, [{"student": "amy", "status": "pass", "score": "0", "max_score": "0"}], {"amy": None})
    assert written["scores"] == {"max_score": 0.0, "n": 0}
    assert texts(drawn[0].axes[1]) == ["no scores"]


def test_rows_with_a_full_score_but_no_scores_show_no_scores(tmp_path, drawn):
    """(Rows as a hand-edited shard could hold them: never a division by zero.)"""
    write(tmp_path, [{"student": "amy", "status": "error", "score": "", "max_score": "9"}], {"amy": None})
    assert texts(drawn[0].axes[1]) == ["no scores"]


def test_summary_png_without_internal_rows_scores_or_failures_says_so(tmp_path, drawn):
    write(tmp_path, [{"student": "amy", "status": "pass", "score": "", "max_score": ""}], {"amy": None},
          folder="x" * 200)
    left, middle, right = drawn[0].axes
    assert [t.get_text() for t in left.get_xticklabels()] == ["pass", "fail", "error"]
    assert [p.get_height() for p in left.patches] == [1, 0, 0]
    assert texts(middle) == ["no scores"] and not middle.axison
    assert texts(right) == ["no failures to diagnose"] and not right.axison
    for axes in (middle, right):  # in the middle of the empty panel
        (note,) = axes.texts
        assert note.get_position() == (0.5, 0.5) and note.get_transform() == axes.transAxes
        assert (note.get_ha(), note.get_va()) == ("center", "center")
    assert drawn[0]._suptitle.get_text() == ("x" * 200 + " — " + Assignment().describe())[:119] + "…"


def test_a_label_of_60_characters_is_shown_whole_and_61_cut(tmp_path, drawn):
    found = {"amy": ("finding:a", "a" * 60), "bob": ("finding:b", "b" * 61)}
    write(tmp_path, [{"student": s, "status": "fail", "score": "0", "max_score": "1"} for s in found], found)
    assert [t.get_text() for t in drawn[0].axes[2].get_yticklabels()] == ["b" * 57 + "…", "a" * 60]


def test_summary_png_shows_ten_diagnoses_with_long_labels_cut(tmp_path, drawn):
    many = {f"s{i:02d}": (f"finding:{i:02d}", f"{i:02d}" + "y" * 70) for i in range(12)}
    many["s12"] = ("finding:short", "z" * 60)
    class_rows = [{"student": s, "status": "fail", "score": "0", "max_score": "1"} for s in many]
    write(tmp_path, class_rows, many)
    right = drawn[0].axes[2]
    labels = [t.get_text() for t in right.get_yticklabels()]
    assert len(labels) == 10 and labels[-1] == "00" + "y" * 55 + "…" and labels[0] == "09" + "y" * 55 + "…"
    assert len(labels[0]) == 58
    middle = drawn[0].axes[1]
    assert middle.get_title() == "scores: mean 0" and middle.get_xlabel() == "score (of 1)"
