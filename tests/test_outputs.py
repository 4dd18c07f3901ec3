"""A class run's output folder, unit by unit and fast (no worker runs): the feedback file names,
the CSV cells a spreadsheet would run, the Markdown a student's text lands in, the folder a run
claims (its marker, what a re-run deletes, what it refuses) and grades.csv as rows come in."""

from __future__ import annotations

import csv
import hashlib
import os

import pytest

from compare.grader.results.outputs import (
    MARKER_HEADER,
    GradesCsv,
    OutputError,
    OutputFolder,
    csv_cell,
    feedback_names,
    markdown_text,
)
from compare.grader.submissions.classfolder import OUTPUT_MARKER


def hashed(slug: str, name: str) -> str:
    return f"{slug}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def marker_lines(folder) -> list:
    return (folder / OUTPUT_MARKER).read_text(encoding="utf-8").splitlines()


# ----------------------------------------------------------------------------- feedback file names
@pytest.mark.parametrize("name", ["alice", "A", "9lives", "ok.v2", "a_b", "a-b", "x" * 80, "Grades2", "summary_",
                                  "a.b.c"])
def test_a_plain_name_is_its_own_file_name(name):
    assert feedback_names([name]) == {name: name}


@pytest.mark.parametrize("name, slug", [
    ("x" * 81, "x" * 40),  # one over the 80 characters of a plain name
    ("a b", "a_b"), ("_dave", "dave"), (".hidden", "hidden"), ("-rf", "rf"), ("end.", "end"),
    ("grades", "grades"), ("SUMMARY", "SUMMARY"), ("Ünïcode", "n_code"), ("", "student"), ("!!!", "student"),
    ("=1+1", "1_1"), ("a/b", "a_b"), ("\udcff", "student"), ("  __a  b__ ", "a_b"),
])
def test_any_other_name_is_a_slug_and_a_hash_of_the_name(name, slug):
    assert feedback_names([name]) == {name: hashed(slug, name)}


def test_the_slug_keeps_forty_characters():
    name = "abc" * 20 + " "
    assert feedback_names([name])[name] == hashed(("abc" * 20)[:40], name)


def test_names_that_differ_only_in_case_are_both_hashed():
    names = feedback_names(["Bob", "bob", "carol"])
    assert names == {"Bob": hashed("Bob", "Bob"), "bob": hashed("bob", "bob"), "carol": "carol"}


def test_the_mapping_depends_on_the_name_alone():
    alone = feedback_names(["a b"])
    assert feedback_names(["zed", "a b", "alice"])["a b"] == alone["a b"]


# ----------------------------------------------------------------------------- CSV cells
@pytest.mark.parametrize("text", ["=1+1", "+SUM(A1)", "-2", "@cmd", "\t=1", "\r=1"])
def test_a_cell_a_spreadsheet_would_run_gets_a_leading_quote(text):
    assert csv_cell(text) == "'" + " ".join(text.split())


@pytest.mark.parametrize("value", [3, 2.5, None, 0])
def test_a_number_is_left_as_it_is(value):
    assert csv_cell(value) is value


def test_plain_text_is_one_printable_line_of_2000_characters():
    assert csv_cell("a=b") == "a=b" and csv_cell(" =b") == "'=b" and csv_cell("a\nb\x1b") == "a b"
    assert csv_cell("x" * 2000) == "x" * 2000
    assert csv_cell("x" * 2001) == "x" * 1999 + "…"


# ----------------------------------------------------------------------------- Markdown
def test_markdown_escapes_every_special_character():
    assert markdown_text("a & <b> [c](d) `e` f|g \\h") == "a &amp; &lt;b&gt; \\[c\\](d) \\`e\\` f\\|g \\\\h"
    assert markdown_text("*emphasis* and _this_") == "*emphasis* and _this_"


def test_markdown_text_is_cut_at_its_limit():
    assert markdown_text("y" * 2000) == "y" * 2000
    assert markdown_text("y" * 2001) == "y" * 1999 + "…"
    assert markdown_text("y" * 11, 10) == "y" * 9 + "…"
    assert markdown_text("a\nb\x1b[1m") == "a b \\[1m"


# ----------------------------------------------------------------------------- the folder
def test_a_new_folder_is_created_with_its_marker(tmp_path):
    out = OutputFolder(tmp_path / "a" / "b")
    out.claim()
    assert (tmp_path / "a" / "b" / OUTPUT_MARKER).read_text(encoding="utf-8") == MARKER_HEADER
    assert out.replaced == 0 and os.listdir(tmp_path / "a" / "b") == [OUTPUT_MARKER]


def test_an_empty_existing_folder_is_claimed(tmp_path):
    out = OutputFolder(tmp_path)
    out.claim()
    assert os.listdir(tmp_path) == [OUTPUT_MARKER] and out.replaced == 0


def test_a_file_in_the_way_is_refused_by_name(tmp_path):
    (tmp_path / "out").write_text("x")
    with pytest.raises(OutputError, match=r"^--out .*out: exists and is not a folder$"):
        OutputFolder(tmp_path / "out").claim()


def test_a_folder_that_cannot_be_created_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=r"--out .*file/out: cannot be created or listed \(Not a directory\)"):
        OutputFolder(tmp_path / "file" / "out").claim()


def test_a_path_too_long_is_refused_by_name(tmp_path):
    too_long = tmp_path / ("x" * 300)  # a name longer than the 255 bytes a folder may hold
    with pytest.raises(OutputError, match=r"^--out .*x: cannot be created or listed \(File name too long\)$"):
        OutputFolder(too_long).claim()


@pytest.mark.parametrize("present, shown", [
    (["notes.txt"], "(notes.txt)"),
    (["c", "b", "a"], "(a, b, c)"),
    (["d", "c", "b", "a"], "(a, b, c, …)"),
    (["n" * 40], "(" + "n" * 40 + ")"),
    (["n" * 41], "(" + "n" * 39 + "…)"),
])
def test_a_folder_with_files_no_run_wrote_is_refused_and_kept(tmp_path, present, shown):
    for name in present:
        (tmp_path / name).write_text("mine")
    with pytest.raises(OutputError) as raised:
        OutputFolder(tmp_path).claim()
    assert str(raised.value) == (f"--out {tmp_path}: already holds files that no grading run wrote {shown}; "
                                 "give a new or empty folder")
    assert sorted(os.listdir(tmp_path)) == sorted(present)


def test_a_rerun_deletes_exactly_what_the_marker_lists(tmp_path):
    first = OutputFolder(tmp_path)
    first.claim()
    first.write_text("alice.md", "a")
    first.write_text("bob.json", "b")
    with open(tmp_path / OUTPUT_MARKER, "a", encoding="utf-8") as fh:  # a listed file already gone
        fh.write("gone.md\n")
    second = OutputFolder(tmp_path)
    second.claim()
    assert os.listdir(tmp_path) == [OUTPUT_MARKER] and second.replaced == 2
    assert (tmp_path / OUTPUT_MARKER).read_text(encoding="utf-8") == MARKER_HEADER


def test_a_marker_names_nothing_outside_its_folder(tmp_path):
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "x.md").write_text("mine")
    (tmp_path / "x.md").write_text("mine too")
    out = tmp_path / "out"
    out.mkdir()
    (out / OUTPUT_MARKER).write_text("# comment\n\n../x.md\nkeep/x.md\n.\n..\n#grades.csv\n")
    (out / "#grades.csv").write_text("not listed: a comment")
    with pytest.raises(OutputError, match=r"\(#grades.csv\)"):
        OutputFolder(out).claim()
    assert (tmp_path / "x.md").exists() and (tmp_path / "keep" / "x.md").exists()


def test_a_listed_name_that_is_a_folder_stops_the_claim_by_name(tmp_path):
    (tmp_path / OUTPUT_MARKER).write_text("alice.md\n")
    (tmp_path / "alice.md").mkdir()
    with pytest.raises(OutputError, match=r"cannot delete the earlier run's alice.md \("):
        OutputFolder(tmp_path).claim()


def test_an_unreadable_marker_lists_nothing(tmp_path):
    (tmp_path / OUTPUT_MARKER).mkdir()  # reading it fails: nothing is taken for an earlier run's
    (tmp_path / "alice.md").write_text("x")
    with pytest.raises(OutputError, match=r"\(alice.md\)"):
        OutputFolder(tmp_path).claim()


def test_a_folder_with_only_a_marker_that_cannot_be_rewritten_is_refused(tmp_path):
    (tmp_path / OUTPUT_MARKER).mkdir()
    with pytest.raises(OutputError, match=r"^--out .*: cannot be written \(Is a directory\)$"):
        OutputFolder(tmp_path).claim()


def test_a_run_from_before_markers_is_replaced_by_its_files(tmp_path):
    for name in ("grades.csv", "summary.json", "summary.png", "alice.md", "alice.json"):
        (tmp_path / name).write_text("old")
    out = OutputFolder(tmp_path)
    out.claim()
    assert os.listdir(tmp_path) == [OUTPUT_MARKER] and out.replaced == 5


def test_a_run_from_before_markers_with_other_files_is_refused(tmp_path):
    for name in ("grades.csv", "alice.md", "notes.txt", "summary.txt"):
        (tmp_path / name).write_text("old")
    with pytest.raises(OutputError, match=r"\(notes.txt, summary.txt\)"):
        OutputFolder(tmp_path).claim()
    assert len(os.listdir(tmp_path)) == 4


def test_md_and_json_files_alone_are_not_taken_for_a_run(tmp_path):
    (tmp_path / "alice.md").write_text("mine")
    with pytest.raises(OutputError, match=r"\(alice.md\)"):
        OutputFolder(tmp_path).claim()


def test_each_file_written_is_listed_before_it_is_written(tmp_path):
    out = OutputFolder(tmp_path)
    out.claim()
    out.write_text("a.md", "é\n")
    out.record("b.json")
    assert marker_lines(tmp_path)[-2:] == ["a.md", "b.json"]
    assert (tmp_path / "a.md").read_bytes() == "é\n".encode()
    assert sorted(os.listdir(tmp_path)) == [OUTPUT_MARKER, "a.md"]


def test_a_failed_write_leaves_no_temporary_file(tmp_path):
    out = OutputFolder(tmp_path)
    out.claim()
    (tmp_path / "a.md").mkdir()  # the rename onto a folder fails
    with pytest.raises(OSError):
        out.write_text("a.md", "text")
    assert sorted(os.listdir(tmp_path)) == [OUTPUT_MARKER, "a.md"]


def test_a_write_that_fails_before_the_rename_leaves_nothing(tmp_path):
    out = OutputFolder(tmp_path)
    out.claim()
    with pytest.raises(UnicodeEncodeError):
        out.write_text("a.md", "\udcff")
    assert sorted(os.listdir(tmp_path)) == [OUTPUT_MARKER]


# ----------------------------------------------------------------------------- grades.csv
def test_grades_csv_holds_each_row_as_it_comes_then_the_rows_sorted(tmp_path):
    out = OutputFolder(tmp_path)
    out.claim()
    grades = GradesCsv(out, ("student", "summary", "score"))
    assert (tmp_path / "grades.csv").read_bytes().decode() == "student,summary,score\r\n"
    assert marker_lines(tmp_path)[-1] == "grades.csv"
    grades.append({"student": "zed", "summary": "=cmd()", "score": 1, "extra": "dropped"})
    assert (tmp_path / "grades.csv").read_bytes().decode() == "student,summary,score\r\nzed,'=cmd(),1\r\n"  # flushed
    rows = [{"student": "amy", "summary": "+x", "score": 2}, {"student": "zed", "summary": "ok", "score": 1}]
    grades.finish(rows)
    with open(tmp_path / "grades.csv", newline="", encoding="utf-8") as fh:
        assert list(csv.reader(fh)) == [["student", "summary", "score"], ["amy", "'+x", "2"], ["zed", "ok", "1"]]
    assert grades.fh.closed
