"""A training run's output folder: where it goes, checked before any work, and what it holds."""

from __future__ import annotations

import os
import time
from pathlib import Path


def default_out(dataset: str, sweep: bool) -> Path:
    """runs/<dataset>[-sweep]-<timestamp>: a new folder for each run."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{dataset}{'-sweep' if sweep else ''}-{stamp}"


def check_out_folder(out: Path) -> None:
    """Refuse, before the data is loaded, a folder that cannot be made or written into.

    ``out`` may exist (a folder) or not yet (made at the run's start); raises ``ValueError``
    saying what is in the way. Nothing is created here.
    """
    if out.exists() and not out.is_dir():
        raise ValueError("it is a file, not a folder")
    existing = out
    while not existing.exists() and existing != existing.parent:  # the nearest one there: made in it
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{str(existing)!r} is a file, so no folder can be made in it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write into {str(existing.resolve())!r}")


def files_line(out: Path) -> str:
    """'files: curves.png, decision_regions.png, metrics.json in runs/circles/': the run's files."""
    return f"files: {', '.join(sorted(p.name for p in out.iterdir() if not p.name.startswith('.')))} in {out}/"
