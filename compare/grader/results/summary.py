"""A class run's summary: counts per status, the score distribution, the most frequent diagnoses
and what was not graded, as ``summary.json`` and ``summary.png``. Built from rows and per-student
diagnoses alone, so that a run split into shards and merged writes the same summary as one run.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from compare.grader.sandbox.errors import clean_text

STATUSES = ("pass", "fail", "error", "internal")
ERROR_KINDS = {"load": "cannot be loaded", "forbidden": "imports a forbidden module", "raised": "raises",
               "contract": "breaks the contract", "channel": "writes to the grader's channel", "timeout": "too slow or hangs", "died": "its process died"}


def diagnosis_of(report) -> tuple[str, str] | None:
    """(key, label) of what a report counts as in the class summary: its error kind, its convention
    or its first finding (grouped by the finding's key, labelled by its first message)."""
    if report is None:
        return "internal", "internal: the grader failed"
    if report.error is not None:
        kind = ERROR_KINDS.get(report.error_kind, "breaks the contract")
        return f"error:{report.error_kind}", f"error: {kind}"
    if report.bug_cases and report.diagnosis:  # a real bug first, even beside a convention
        finding = report.diagnosis[0]
        return f"finding:{finding.key}", clean_text(finding.message, 70)
    if report.conventions:
        return "conventions", "right backprop, other conventions"
    if report.diagnosis:
        finding = report.diagnosis[0]
        return f"finding:{finding.key}", clean_text(finding.message, 70)
    return None


def distribution(scores: list, rows: list) -> dict:
    """The class's scores: mean, median, range, and how many students per tenth of the full score."""
    import numpy as np

    full = max((float(r["max_score"]) for r in rows if r["max_score"] != ""), default=0.0)
    if not scores or full <= 0:
        return {"max_score": full, "n": 0}
    counts, edges = np.histogram(scores, bins=10, range=(0.0, full))
    return {"max_score": full, "n": len(scores), "mean": round(float(np.mean(scores)), 4),
            "median": round(float(np.median(scores)), 4), "min": min(scores), "max": max(scores),
            "histogram": [{"from": round(float(a), 4), "to": round(float(b), 4), "students": int(n)}
                          for a, b, n in zip(edges[:-1], edges[1:], counts)]}


def write_summary(output, rows: list, diagnoses: dict, *, skipped: list, isolation: str, interrupted: bool,
                  assignment, folder: str, jobs: int, shard: dict | None = None) -> dict:
    """summary.json and summary.png into ``output`` (an ``OutputFolder``). ``diagnoses``: {student:
    (key, label) of their first diagnosis, or None}. Returns the summary."""
    counts = Counter(r["status"] for r in rows)
    keys, labels = Counter(), {}
    for _, found in sorted(diagnoses.items()):  # by student: the same labels, however the run was split
        if found is not None:
            keys[found[0]] += 1
            labels.setdefault(found[0], found[1])
    common = sorted(keys.items(), key=lambda kv: (-kv[1], kv[0]))
    scores = [float(r["score"]) for r in rows if r["score"] != ""]
    summary = {"assignment": assignment.to_dict(), "folder": clean_text(folder, 500),
               "n_students": len(rows), "counts": {s: counts.get(s, 0) for s in STATUSES},
               "diagnoses": [{"key": k, "diagnosis": labels[k], "students": n} for k, n in common],
               "not_graded": [{"entry": entry, "why": why} for entry, why in skipped],
               "scores": distribution(scores, rows), "isolation": isolation, "interrupted": interrupted,
               "jobs": jobs, "shard": shard, "students": rows,
               "first_diagnosis": {s: (None if d is None else {"key": d[0], "label": d[1]})
                                   for s, d in sorted(diagnoses.items())}}
    output.write_text("summary.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")
    output.record("summary.png")
    plot_summary(rows, [(labels[k], n) for k, n in common], scores, output.path / "summary.png",
                 clean_text(f"{Path(folder).name} — {assignment.describe()}", 120))
    return summary


def plot_summary(rows: list, diagnoses: list, scores: list, path: Path, title: str) -> None:
    """Counts per status (top left), the scores (top right) and the most frequent first diagnoses,
    as (label, students) (below, the whole width: their labels are long)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = Counter(r["status"] for r in rows)
    fig = plt.figure(figsize=(12, 8.5))
    grid = fig.add_gridspec(2, 2, width_ratios=[1, 1.6], height_ratios=[1, 1.1])
    left, middle, right = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, :])
    full = max((float(r["max_score"]) for r in rows if r["max_score"] != ""), default=0.0)
    if scores and full > 0:
        middle.hist(scores, bins=10, range=(0, full), color="#4a6fa5", edgecolor="white")
        middle.set_xlabel(f"score (of {full:.4g})")
        middle.set_ylabel("students")
        middle.yaxis.get_major_locator().set_params(integer=True)
        middle.set_title(f"scores: mean {sum(scores) / len(scores):.3g}")
    else:
        middle.text(0.5, 0.5, "no scores", ha="center", va="center", transform=middle.transAxes)
        middle.set_axis_off()
    statuses = [s for s in STATUSES if s != "internal" or counts.get(s)]
    colours = {"pass": "#2a9d4b", "fail": "#e07b00", "error": "#c0392b", "internal": "#555555"}
    bars = left.bar(statuses, [counts.get(s, 0) for s in statuses], color=[colours[s] for s in statuses])
    left.bar_label(bars)
    left.set_ylabel("students")
    left.yaxis.get_major_locator().set_params(integer=True)
    left.set_title(f"{len(rows)} submissions")
    left.margins(y=0.15)
    common = diagnoses[:10][::-1]
    if common:
        labels = [label if len(label) <= 60 else label[:57] + "…" for label, _ in common]
        hbars = right.barh(range(len(common)), [n for _, n in common], color="#4a6fa5")
        right.bar_label(hbars, padding=2)
        right.set_yticks(range(len(common)), labels, fontsize=8)
        right.set_xlabel("students")
        right.xaxis.get_major_locator().set_params(integer=True)
    else:
        right.text(0.5, 0.5, "no failures to diagnose", ha="center", va="center", transform=right.transAxes)
        right.set_axis_off()
    right.set_title("most frequent first diagnosis (failing students)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
