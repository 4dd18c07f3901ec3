"""Shards, unit by unit and fast (no worker runs): ``--shard I/N`` read and refused by value, the
split of a class by name, and the parts of a run checked and merged from hand-made output folders."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from compare.grader.results import shards
from compare.grader.results.outputs import OutputFolder
from compare.grader.submissions.classfolder import OUTPUT_MARKER

COLUMNS = ("student", "status", "feedback")
ASSIGNMENT = {"name": "homework", "activations": ["relu"]}


@pytest.mark.parametrize("text, expected", [("1/1", (1, 1)), ("2/3", (2, 3)), ("3/3", (3, 3)), ("1/3", (1, 3)),
                                            (" 2/3", (2, 3)), ("10/12", (10, 12))])
def test_a_shard_is_i_of_n(text, expected):
    assert shards.parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "2", "a/b", "1/", "/1", "1/0", "0/0", "-1/2", "2/-3", "2/3/4",
                                  "", "1.0/2"])
def test_any_other_shard_is_refused_by_value(text):
    with pytest.raises(shards.ShardError, match=f"^--shard {text!r}: expected I/N"):
        shards.parse_shard(text)


def test_a_shard_that_is_no_number_says_how_to_write_one():
    with pytest.raises(shards.ShardError, match=r"e\.g\. 2/3 \(the second of three\)"):
        shards.parse_shard("a/b")
    with pytest.raises(shards.ShardError, match="1 ≤ I ≤ N$"):
        shards.parse_shard("4/3")


@pytest.mark.parametrize("name, by_count", [("alice", (1, 2, 3, 2)), ("bob", (1, 1, 3, 2)), ("carol", (1, 1, 3, 7)),
                                            ("dave", (1, 2, 2, 5)), ("\udcff", (1, 2, 3, 4)), ("é", (1, 2, 1, 4))])
def test_a_students_shard_is_the_same_on_every_machine(name, by_count):
    """A hash of the name alone (SHA-256's first 8 bytes, big-endian): these values never change."""
    assert tuple(shards.shard_of(name, count) for count in (1, 2, 3, 7)) == by_count


# ----------------------------------------------------------------------------- parts and merging
def make_part(folder, index, count, students, *, assignment=ASSIGNMENT, interrupted=False, diagnoses=None,
              files=True):
    """An output folder as ``backprop-grade --shard index/count`` leaves it."""
    folder.mkdir(parents=True)
    (folder / OUTPUT_MARKER).write_text("")
    rows = [{"student": s, "status": "pass", "feedback": s} for s in students]
    summary = {"assignment": assignment, "shard": {"index": index, "count": count}, "interrupted": interrupted,
               "students": rows, "first_diagnosis": diagnoses or {}}
    (folder / "summary.json").write_text(json.dumps(summary))
    if files:
        for s in students:
            (folder / f"{s}.md").write_text(f"# {s}")
            (folder / f"{s}.json").write_text(f"{{\"student\": \"{s}\"}}")
    return folder


def test_parts_that_are_each_shard_once_give_their_count(tmp_path):
    parts = [make_part(tmp_path / f"p{i}", i, 3, []) for i in (3, 1, 2)]
    assert shards.check_parts(parts) == 3
    assert shards.check_parts([make_part(tmp_path / "one", 1, 1, [])]) == 1


def test_a_missing_shard_is_named(tmp_path):
    parts = [make_part(tmp_path / "p1", 1, 4, []), make_part(tmp_path / "p3", 3, 4, [])]
    with pytest.raises(shards.ShardError, match=r"^--merge: shard\(s\) 2/4, 4/4 missing$"):
        shards.check_parts(parts)


def test_a_missing_first_shard_is_named(tmp_path):
    with pytest.raises(shards.ShardError, match=r"^--merge: shard\(s\) 1/2 missing$"):
        shards.check_parts([make_part(tmp_path / "p2", 2, 2, [])])


def test_a_shard_given_twice_is_named_with_both_folders(tmp_path):
    a, b = make_part(tmp_path / "a", 2, 2, []), make_part(tmp_path / "b", 2, 2, [])
    with pytest.raises(shards.ShardError, match=f"^--merge: {a} and {b} are both shard 2/2$"):
        shards.check_parts([make_part(tmp_path / "c", 1, 2, []), a, b])


def test_parts_split_differently_are_refused(tmp_path):
    parts = [make_part(tmp_path / "a", 1, 2, []), make_part(tmp_path / "b", 2, 3, [])]
    with pytest.raises(shards.ShardError, match=r"different numbers of shards \(\[2, 3\]\)"):
        shards.check_parts(parts)


def test_parts_graded_under_different_assignments_are_refused(tmp_path):
    parts = [make_part(tmp_path / "a", 1, 2, []), make_part(tmp_path / "b", 2, 2, [], assignment={"name": "other"})]
    with pytest.raises(shards.ShardError, match="^--merge: the shards were graded under different assignments$"):
        shards.check_parts(parts)


def test_the_same_assignment_written_in_another_key_order_is_one_assignment(tmp_path):
    flipped = dict(reversed(list(ASSIGNMENT.items())))
    parts = [make_part(tmp_path / "a", 1, 2, []), make_part(tmp_path / "b", 2, 2, [], assignment=flipped)]
    assert shards.check_parts(parts) == 2


def test_a_folder_that_is_not_a_runs_output_is_refused_by_name(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(shards.ShardError, match=f"^--merge {tmp_path / 'plain'}: not the output folder of a grading"):
        shards.read_part(tmp_path / "plain")
    only_summary = tmp_path / "summary-only"
    only_summary.mkdir()
    (only_summary / "summary.json").write_text("{}")
    with pytest.raises(shards.ShardError, match="not the output folder"):
        shards.read_part(only_summary)
    only_marker = tmp_path / "marker-only"
    only_marker.mkdir()
    (only_marker / OUTPUT_MARKER).write_text("")
    with pytest.raises(shards.ShardError, match="not the output folder"):
        shards.read_part(only_marker)


def test_a_summary_that_cannot_be_read_is_named(tmp_path):
    part = make_part(tmp_path / "p", 1, 1, [])
    (part / "summary.json").write_text("{not json")
    with pytest.raises(shards.ShardError, match=f"^--merge {part}: its summary.json cannot be read \\(Expecting"):
        shards.read_part(part)


def test_a_summary_the_grader_may_not_read_is_named(tmp_path, monkeypatch):
    part = make_part(tmp_path / "p", 1, 1, [])
    read = Path.read_text

    def refuse(self, *args, **kwargs):
        if self.name == "summary.json":
            raise PermissionError(13, "Permission denied")
        return read(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(shards.ShardError, match=r"its summary.json cannot be read \(\[Errno 13\] Permission denied\)$"):
        shards.read_part(part)


def test_a_whole_run_is_not_a_shard(tmp_path):
    part = make_part(tmp_path / "p", 1, 1, [])
    (part / "summary.json").write_text(json.dumps({"shard": None, "students": []}))
    with pytest.raises(shards.ShardError, match=r"a whole run, not a shard \(graded without --shard\)$"):
        shards.read_part(part)


def test_an_interrupted_shard_is_refused_by_its_index(tmp_path):
    part = make_part(tmp_path / "p", 2, 3, [], interrupted=True)
    with pytest.raises(shards.ShardError, match=f"^--merge {part}: shard 2 was interrupted; grade it again$"):
        shards.read_part(part)
    assert shards.read_part(make_part(tmp_path / "q", 2, 3, ["x"]))["students"][0]["student"] == "x"


def test_a_merge_copies_every_feedback_file_and_writes_the_rows_sorted(tmp_path):
    parts = [make_part(tmp_path / "p2", 2, 2, ["zed", "amy"], diagnoses={"zed": {"key": "k", "label": "L"}}),
             make_part(tmp_path / "p1", 1, 2, ["bob"], diagnoses={"bob": None}, files=False)]
    (parts[0] / "amy.json").unlink()  # a feedback file the shard did not write is not invented
    out = OutputFolder(tmp_path / "out")
    out.claim()
    rows, merged = shards.merge(parts, out, COLUMNS)
    assert [r["student"] for r in rows] == ["amy", "bob", "zed"]
    assert merged["diagnoses"] == {"zed": ("k", "L"), "amy": None, "bob": None}
    assert merged["first"]["shard"] == {"index": 2, "count": 2}
    assert sorted(os.listdir(out.path)) == [OUTPUT_MARKER, "amy.md", "grades.csv", "zed.json", "zed.md"]
    assert (out.path / "zed.md").read_text() == "# zed"
    listed = (out.path / OUTPUT_MARKER).read_text().splitlines()
    assert {"amy.md", "zed.md", "zed.json", "grades.csv"} <= set(listed) and "amy.json" not in listed
    with open(out.path / "grades.csv", newline="", encoding="utf-8") as fh:
        assert [r["student"] for r in csv.DictReader(fh)] == ["amy", "bob", "zed"]


def test_a_merge_of_parts_that_do_not_fit_writes_nothing(tmp_path):
    parts = [make_part(tmp_path / "p1", 1, 2, ["amy"])]
    out = OutputFolder(tmp_path / "out")
    out.claim()
    with pytest.raises(shards.ShardError, match="2/2 missing"):
        shards.merge(parts, out, COLUMNS)
    assert os.listdir(out.path) == [OUTPUT_MARKER]
