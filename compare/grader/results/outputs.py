"""A class run's output folder: claimed before anything runs, replaced whole by the next run, and
written so that every file is safe to open.

- **One feedback file per row, whatever the names.** A student's files are ``NAME.md`` and
  ``NAME.json`` where ``NAME`` is their name when it is already a plain file name (letters,
  digits, ``.``, ``_``, ``-``; not one of the run's own files; unique in the class without
  regard to case), else a readable slug and eight hex digits of a hash of the name. The
  mapping depends on the name alone (stable when students are added) and is shown in
  ``grades.csv``'s ``feedback`` column.
- **Safe to open.** CSV cells that a spreadsheet would read as a formula (starting with
  ``= + - @``, a tab or a carriage return) get a leading ``'``, as OWASP recommends; student
  text in Markdown is escaped (no raw HTML, no links or emphasis of theirs).
- **No stale feedback.** The folder holds a marker (``.backprop-grade``) listing every file a run
  wrote. A new run into it deletes exactly those files first; a folder that holds anything else
  is refused (a usage error), so no unrelated file is ever deleted.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import threading
from pathlib import Path

from compare.grader.sandbox.errors import clean_text
from compare.grader.submissions.classfolder import OUTPUT_MARKER

RUN_FILES = ("grades.csv", "summary.json", "summary.png")
RESERVED = {"grades", "summary"}
MARKER_HEADER = ("# backprop-grade output folder: the files below were written by one grading run;\n"
                 "# the next run into this folder deletes exactly them first.\n")
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


class OutputError(Exception):
    """The output folder cannot be used (a usage error: the message names the folder and why)."""


# ----------------------------------------------------------------------------- names and cells
def feedback_names(students: list) -> dict:
    """{student name: file stem} for a class, one distinct stem per student (see the module's doc)."""
    lowered: dict = {}
    for name in students:
        lowered.setdefault(name.lower(), []).append(name)
    names = {}
    for name in students:
        plain = (_PLAIN.fullmatch(name) is not None and name.lower() not in RESERVED
                 and not name.endswith(".") and len(lowered[name.lower()]) == 1)
        names[name] = name if plain else _hashed(name)
    return names


def _hashed(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")[:40] or "student"
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{slug}-{digest}"


def csv_cell(value):
    """A value for a CSV cell: text made one printable line, and a leading ``'`` where a spreadsheet
    would read it as a formula."""
    if not isinstance(value, str):
        return value
    text = clean_text(value, 2000)
    if text.startswith(("=", "+", "-", "@", "\t", "\r")):
        text = "'" + text
    return text


# What could make student text into a link, an image, raw HTML, code or a table cell. Emphasis
# (* and _) is left alone: at worst cosmetic, and escaping it would litter every message.
_MARKDOWN_SPECIAL = re.compile(r"([\\`\[\]|<>])")


def markdown_text(value, limit: int = 2000) -> str:
    """Student text for a Markdown file: one printable line, no HTML, no Markdown of its own."""
    text = clean_text(value, limit).replace("&", "&amp;")
    return _MARKDOWN_SPECIAL.sub(lambda m: {"<": "&lt;", ">": "&gt;"}.get(m.group(1), "\\" + m.group(1)), text)


# ----------------------------------------------------------------------------- the folder
class OutputFolder:
    """The folder a class run writes into, claimed by ``claim()``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.replaced = 0  # files of an earlier run deleted by claim()

    def claim(self) -> None:
        """Make the folder ready: create it, delete an earlier run's files, check that it is
        writable. ``OutputError`` when it holds other files or cannot be written."""
        path = self.path
        try:  # exists() too can fail: a path too long, a parent the instructor may not search
            if path.exists() and not path.is_dir():
                raise OutputError(f"--out {path}: exists and is not a folder")
            path.mkdir(parents=True, exist_ok=True)
            present = os.listdir(path)
        except OSError as error:
            raise OutputError(f"--out {path}: cannot be created or listed ({error.strerror or error})") from None
        earlier = self._earlier_run(present)
        foreign = [name for name in present if name not in earlier and name != OUTPUT_MARKER]
        if foreign:
            shown = ", ".join(clean_text(n, 40) for n in sorted(foreign)[:3])
            raise OutputError(f"--out {path}: already holds files that no grading run wrote ({shown}"
                              f"{', …' if len(foreign) > 3 else ''}); give a new or empty folder")
        for name in earlier:
            try:
                os.unlink(path / name)
                self.replaced += 1
            except FileNotFoundError:
                pass
            except OSError as error:
                raise OutputError(f"--out {path}: cannot delete the earlier run's {name} "
                                  f"({error.strerror or error})") from None
        try:
            with open(path / OUTPUT_MARKER, "w", encoding="utf-8") as fh:
                fh.write(MARKER_HEADER)
        except OSError as error:
            raise OutputError(f"--out {path}: cannot be written ({error.strerror or error})") from None

    def _earlier_run(self, present: list) -> set:
        """The files an earlier run wrote: those its marker lists (plain names in this folder only);
        for a run made before markers existed, its grades.csv and the files beside it."""
        marker = self.path / OUTPUT_MARKER
        if OUTPUT_MARKER in present:
            try:
                listed = marker.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                listed = []
            return {n for n in listed if n and not n.startswith("#") and "/" not in n and n not in (".", "..")
                    and n in present}
        if "grades.csv" in present:
            return {n for n in present if n in RUN_FILES or n.endswith((".md", ".json"))}
        return set()

    def record(self, name: str) -> None:
        """Add ``name`` to the marker before it is written (a killed run still lists it)."""
        with open(self.path / OUTPUT_MARKER, "a", encoding="utf-8") as fh:
            fh.write(name + "\n")

    def write_text(self, name: str, text: str) -> None:
        """Write a file of the run in one step (a temporary file beside it, then a rename)."""
        self.record(name)
        tmp = self.path / f".{name}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
            os.replace(tmp, self.path / name)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


class GradesCsv:
    """grades.csv, a row appended (and flushed) as each student finishes: a killed run keeps the rows
    it had; ``finish`` rewrites it sorted by student."""

    def __init__(self, folder: OutputFolder, columns: tuple):
        self.folder, self.columns = folder, columns
        self.lock = threading.Lock()
        folder.record("grades.csv")
        self.fh = open(folder.path / "grades.csv", "w", newline="", encoding="utf-8")  # noqa: SIM115
        self.writer = csv.DictWriter(self.fh, fieldnames=columns)
        self.writer.writeheader()
        self.fh.flush()

    def append(self, row: dict) -> None:
        """Append one row and flush it (from any grading thread)."""
        with self.lock:
            self.writer.writerow({k: csv_cell(row[k]) for k in self.columns})
            self.fh.flush()

    def finish(self, rows: list) -> None:
        with self.lock:
            self.fh.close()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns)
        writer.writeheader()
        writer.writerows({k: csv_cell(row[k]) for k in self.columns} for row in rows)
        self.folder.write_text("grades.csv", buffer.getvalue())
