"""A class split in shards and merged writes what one machine writes, row for row and file for file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_class_run import CORRECT, INF_LOSS, REPO, grade, rows_of

from compare import grade as G
from compare.grader.results import shards

SLURM_SCRIPT = REPO / "docs" / "examples" / "grade-slurm.sh"


def test_a_shard_is_written_i_of_n():
    assert shards.parse_shard("2/3") == (2, 3) and shards.parse_shard("1/1") == (1, 1)
    for bad in ("0/3", "4/3", "3", "a/b", "1/0", "-1/2", "2/3/4"):
        with pytest.raises(shards.ShardError, match=f"--shard '{bad}'"):
            shards.parse_shard(bad)


def test_the_split_depends_on_each_name_alone():
    names = [f"student{i:03d}" for i in range(300)]
    split = {name: shards.shard_of(name, 3) for name in names}
    assert set(split.values()) == {1, 2, 3}
    assert all(60 <= list(split.values()).count(i) <= 140 for i in (1, 2, 3))  # roughly even
    assert {name: shards.shard_of(name, 3) for name in names + ["newcomer"]}.items() >= split.items()


def make_class(folder: Path) -> None:
    folder.mkdir()
    for name in ("alice", "bob", "carol", "dave", "erin", "frank", "gina"):
        (folder / f"{name}.py").write_text(CORRECT)
    (folder / "hank.py").write_text(INF_LOSS)
    (folder / "ivan.py").write_text("def make_mlp(sizes, activation):\n    return None\n")
    (folder / "judy").mkdir()
    (folder / "judy" / "notes.txt").write_text("I did not finish")
    (folder / "frank.zip").write_bytes(b"PK")


def comparable(summary: dict) -> dict:
    drop = {"jobs", "shard", "students"}
    rows = [{k: v for k, v in row.items() if k != "seconds"} for row in summary["students"]]
    return {**{k: v for k, v in summary.items() if k not in drop}, "students": rows}


def test_three_shards_merged_equal_one_run(tmp_path):
    folder = tmp_path / "class"
    make_class(folder)
    whole = tmp_path / "whole"
    assert grade(folder, whole)[0] == 0
    parts = []
    for i in (1, 2, 3):
        parts.append(tmp_path / f"shard-{i}")
        code, stdout, stderr = grade(folder, parts[-1], "--shard", f"{i}/3")
        assert code == 0 and stdout.startswith(f"shard {i}/3: "), stderr
    graded = [set(rows_of(p)) for p in parts]
    assert sum(len(g) for g in graded) == 10 and set.union(*graded) == set(rows_of(whole))
    merged = tmp_path / "merged"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "compare.grade", "--merge", *map(str, parts), "--out", str(merged)],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    one, joined = rows_of(whole), rows_of(merged)
    assert list(one) == list(joined)
    for student in one:
        assert {k: v for k, v in one[student].items() if k != "seconds"} == \
               {k: v for k, v in joined[student].items() if k != "seconds"}
    files = sorted(p.name for p in whole.iterdir())
    assert files == sorted(p.name for p in merged.iterdir())
    for name in files:
        if name.endswith(".md"):
            assert (whole / name).read_text() == (merged / name).read_text(), name
        elif name.endswith(".json") and name != "summary.json":
            a, b = (json.loads((f / name).read_text()) for f in (whole, merged))
            a.pop("elapsed_s"), b.pop("elapsed_s")
            assert a == b, name
    assert comparable(json.loads((whole / "summary.json").read_text())) == \
        comparable(json.loads((merged / "summary.json").read_text()))
    assert (merged / "summary.png").stat().st_size > 10_000


def test_a_merge_refuses_parts_that_are_not_one_runs_shards(tmp_path, capsys):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.py").write_text(CORRECT)
    for i in (1, 2):
        assert G.main([str(folder), "--shard", f"{i}/3", "--out", str(tmp_path / f"s{i}"), "--no-progress"]) == 0
    capsys.readouterr()
    assert G.main(["--merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "--out", str(tmp_path / "m")]) == 2
    assert "shard(s) 3/3 missing" in capsys.readouterr().err
    assert G.main(["--merge", str(tmp_path / "s1"), str(tmp_path / "s1"), "--out", str(tmp_path / "m")]) == 2
    assert "are both shard 1/3" in capsys.readouterr().err
    assert G.main(["--merge", str(folder), "--out", str(tmp_path / "m")]) == 2
    assert "not the output folder of a grading run" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_the_slurm_script_grades_its_task_shard(tmp_path):
    assert os.access(SLURM_SCRIPT, os.X_OK)
    folder = tmp_path / "class"
    make_class(folder)
    env = {**os.environ, "PYTHONPATH": str(REPO), "BACKPROP_GRADE": f"{sys.executable} -m compare.grade",
           "SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1",
           "SLURM_CPUS_PER_TASK": "1"}
    result = subprocess.run(["bash", str(SLURM_SCRIPT), str(folder), str(tmp_path / "parts"), "--timeout", "5"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "parts" / "shard-2" / "summary.json").read_text())
    assert summary["shard"] == {"index": 2, "count": 3} and summary["jobs"] == 1
    assert set(rows_of(tmp_path / "parts" / "shard-2")) == {
        s for s in [*(p.stem for p in folder.glob("*.py")), "judy"] if shards.shard_of(s, 3) == 2}
