"""Which installed packages a worker may see: NumPy, what the course allows, and what those need.

The worker's path holds one folder (``/opt/site`` in the sandbox, a private folder of links at
the process level) with one entry per visible top-level package, module, bundled-library folder
(``numpy.libs``) and ``.dist-info`` folder — never the grader's site-packages as a whole, where a
regular install of this project puts the answer key (``manual/``, ``reference/``, ``compare/``).

``visible_packages(["scipy"])`` is NumPy's entries plus SciPy's and those of every installed
distribution SciPy requires (found through ``importlib.metadata``; a requirement for an extra is
followed only when that extra was asked for). The answer key is never among them, whatever is
allowed: naming it raises ``ValueError``.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import re
import sys
import sysconfig
from pathlib import Path

ALWAYS = ("numpy",)  # the assignment is NumPy
NEVER_SHOWN = ("manual", "reference", "compare")  # the answer key and the grader
PROJECT = Path(__file__).resolve().parents[3]  # a source checkout of this project (never shown)
_REQUIREMENT = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def check_allowed(allow_imports) -> None:
    """ValueError when an allowed import names the answer key (a course can never allow it)."""
    for name in allow_imports:
        if name in NEVER_SHOWN:
            raise ValueError(f"allow_imports names {name!r}: {', '.join(NEVER_SHOWN)} are the answer key and "
                             "the grader, never shown to a submission")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.lru_cache(maxsize=4)
def _distributions_of(path: tuple) -> dict:
    """{top-level import name: [distribution names]} for the grader's ``sys.path`` (``path``)."""
    return importlib.metadata.packages_distributions()


def _distribution(import_name: str):
    """The installed distribution that provides the top-level ``import_name``, or None."""
    try:
        found = importlib.metadata.distribution(import_name)
        if import_name in {top.split(".")[0] for top in _top_levels(found)}:
            return found
    except importlib.metadata.PackageNotFoundError:
        pass
    for name in _distributions_of(tuple(sys.path)).get(import_name, []):
        try:
            return importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _top_levels(dist) -> set:
    """The top-level entries a distribution installed (packages, modules, .libs, .dist-info)."""
    tops = set()
    for file in dist.files or ():
        top = file.parts[0] if file.parts else ""
        if top and top not in ("..", "__pycache__") and not top.endswith(".pth"):
            tops.add(top)
    return tops


def _requirements(dist, extras: set):
    """(distribution name, its extras) of each requirement that applies to these ``extras``."""
    for requirement in dist.requires or ():
        name_part, _, marker = requirement.partition(";")
        match = _REQUIREMENT.match(name_part)
        if match is None:
            continue
        wanted = set(_EXTRA.findall(marker))
        if wanted and not wanted & extras:
            continue
        yield match.group(1), {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}


def _hidden(path: Path) -> bool:
    """The answer key, or a file of a source checkout of this project (outside its virtual
    environment's site-packages)."""
    if path.name.split(".")[0] in NEVER_SHOWN:
        return True
    inside = path == PROJECT or PROJECT in path.parents
    return inside and not any(parent.name in ("site-packages", "dist-packages") for parent in path.parents)


def _stdlib(path: Path) -> bool:
    roots = {Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib")}
    return any(root == path or root in path.parents for root in roots)


def _module_path(name: str) -> Path | None:
    """Where an installed top-level package or module lives, found without importing it."""
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if found is None or not found.origin or found.origin in ("built-in", "frozen"):
        return None
    if found.submodule_search_locations:
        return Path(next(iter(found.submodule_search_locations))).resolve()
    return Path(found.origin).resolve()


def _installed(name: str):
    try:
        return importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def visible_packages(allow_imports=()) -> dict:
    """{entry name: host path} of what the worker's site folder holds: NumPy (and its bundled
    libraries), each allowed import and the installed distributions they require. Worked out once
    per set of allowed imports (reading the installed metadata costs ~0.1 s: once per class, not
    per student)."""
    check_allowed(allow_imports)
    return dict(_visible(tuple(dict.fromkeys(allow_imports))))


@functools.lru_cache(maxsize=16)
def _visible(allow_imports: tuple) -> dict:
    entries, seen = {}, set()
    todo = []  # (distribution, the extras asked of it)
    names = tuple(dict.fromkeys((*ALWAYS, *allow_imports)))
    for name in names:
        dist = _distribution(name)
        if dist is not None:
            todo.append((dist, set()))
    while todo:
        dist, extras = todo.pop(0)
        key = (_normal(dist.metadata["Name"] or ""), frozenset(extras))
        if key in seen:
            continue
        seen.add(key)
        tops = _top_levels(dist)
        if any(top.split(".")[0] in NEVER_SHOWN for top in tops):
            continue  # this project itself, reached as a requirement: never shown
        for top in sorted(tops):
            path = Path(dist.locate_file(top)).resolve()
            if path.exists() and not _hidden(path):
                entries[top] = path
        for requirement, wanted in _requirements(dist, extras):
            required = _installed(requirement)
            if required is not None:
                todo.append((required, wanted))
    for name in names:  # installed without metadata, or with metadata that lists no files
        if not any(entry.split(".")[0] == name for entry in entries):
            path = _module_path(name)
            if path is not None and not _stdlib(path) and not _hidden(path):
                entries[path.name] = path
    if "numpy" not in entries:
        raise RuntimeError("NumPy is not installed in the grader's Python")
    return entries
