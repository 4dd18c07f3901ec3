"""A class split over machines: which students a shard grades, and the shards' outputs merged.

``--shard I/N`` (``I`` from 1 to ``N``) grades the students whose name hashes to ``I``: the split
depends on each name alone, so it is the same on every machine and a student added later does
not move the others. Every shard reads the whole class folder (cheap: nothing is run to list
it), so the entries not graded and the feedback file names are the same in every shard.

``--merge OUT_1 … OUT_N --out OUT`` checks that the parts are the N shards of one run (same
assignment, same N, each index once), copies their feedback files and writes the same
``grades.csv``, ``summary.json`` and ``summary.png`` as a one-machine run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from compare.grader.results.outputs import GradesCsv
from compare.grader.sandbox.errors import clean_text
from compare.grader.submissions.classfolder import OUTPUT_MARKER


class ShardError(ValueError):
    """A bad ``--shard`` or a set of parts that are not the shards of one run (the message says why)."""


def parse_shard(text: str) -> tuple[int, int]:
    """'2/3' → (2, 3); ``ShardError`` naming the value otherwise."""
    index, sep, count = str(text).partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise ShardError(f"--shard {text!r}: expected I/N, e.g. 2/3 (the second of three)") from None
    if not sep or n < 1 or not 1 <= i <= n:
        raise ShardError(f"--shard {text!r}: expected I/N with 1 ≤ I ≤ N")
    return i, n


def shard_of(student: str, count: int) -> int:
    """The shard (1 … count) that grades ``student``: a hash of the name alone."""
    digest = hashlib.sha256(student.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def read_part(folder: Path) -> dict:
    """The summary of one shard's output folder; ``ShardError`` when it is not one."""
    folder = Path(folder)
    if not (folder / OUTPUT_MARKER).is_file() or not (folder / "summary.json").is_file():
        raise ShardError(f"--merge {folder}: not the output folder of a grading run (no summary.json)")
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ShardError(f"--merge {folder}: its summary.json cannot be read ({clean_text(error, 100)})") from None
    if not isinstance(summary.get("shard"), dict):
        raise ShardError(f"--merge {folder}: a whole run, not a shard (graded without --shard)")
    if summary.get("interrupted"):
        raise ShardError(f"--merge {folder}: shard {summary['shard'].get('index')} was interrupted; grade it again")
    return summary


def check_parts(parts: list) -> int:
    """The shard count, once the parts are each shard of one run exactly once."""
    summaries = [read_part(p) for p in parts]
    counts = {s["shard"]["count"] for s in summaries}
    if len(counts) != 1:
        raise ShardError(f"--merge: the parts were split in different numbers of shards ({sorted(counts)})")
    count = counts.pop()
    seen: dict = {}
    for folder, summary in zip(parts, summaries):
        index = summary["shard"]["index"]
        if index in seen:
            raise ShardError(f"--merge: {seen[index]} and {folder} are both shard {index}/{count}")
        seen[index] = folder
    missing = sorted(set(range(1, count + 1)) - set(seen))
    if missing:
        raise ShardError(f"--merge: shard(s) {', '.join(f'{i}/{count}' for i in missing)} missing")
    if len({json.dumps(s["assignment"], sort_keys=True) for s in summaries}) != 1:
        raise ShardError("--merge: the shards were graded under different assignments")
    return count


def merge(parts: list, output, columns: tuple) -> tuple[list, dict]:
    """Copy the parts' feedback files into ``output`` (an ``OutputFolder``, claimed) and write the
    merged grades.csv; returns (rows, the first part's summary with the merged students)."""
    check_parts(parts)
    rows, diagnoses, first = [], {}, None
    for folder in parts:
        folder = Path(folder)
        summary = read_part(folder)
        first = first or summary
        for raw in summary["students"]:
            stem = raw["feedback"]
            for suffix in (".md", ".json"):
                if (folder / f"{stem}{suffix}").is_file():
                    output.record(f"{stem}{suffix}")
                    shutil.copyfile(folder / f"{stem}{suffix}", output.path / f"{stem}{suffix}")
            rows.append(raw)
            found = summary.get("first_diagnosis", {}).get(raw["student"])
            diagnoses[raw["student"]] = None if found is None else (found["key"], found["label"])
    rows.sort(key=lambda r: r["student"])
    grades = GradesCsv(output, columns)
    grades.finish(rows)
    return rows, {"first": first, "diagnoses": diagnoses}
