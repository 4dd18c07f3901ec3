"""The layout docs/layout.md describes, checked on the tree: the five command modules and the
shared CLI module alone at the top of compare/, small modules, imports that point one way, the
sandbox standing alone, and a page that names every module. Read from the source (ast), nothing
imported."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ("train_both", "gradcheck", "bench", "validate", "grade")
MAX_LINES = 600  # any module of manual/, reference/ or compare/ (the aim is ~500)
MAX_COMMAND_LINES = 250
# grader packages in dependency order: each may import those before it (and itself), never after.
GRADER_ORDER = ("sandbox", "submissions", "workers", "course", "judging", "diagnosis", "results")
# what each package really needs of the earlier ones (a tighter rule than the order alone).
MAY_IMPORT = {
    "sandbox": set(),
    "submissions": {"sandbox"},
    "workers": {"sandbox", "submissions"},
    "course": {"sandbox"},
    "judging": {"sandbox", "course"},
    "diagnosis": {"course", "judging"},
    "results": {"sandbox", "submissions", "course", "judging"},
}


def modules(*folders) -> list:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def imported(path: Path, package: str | None = None) -> list:
    """Every module ``path`` imports, lazy imports included, relative ones resolved; not those
    under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    tree = ast.parse(path.read_text())
    skipped = {id(node) for stmt in ast.walk(tree) if isinstance(stmt, ast.If)
               and getattr(stmt.test, "id", None) == "TYPE_CHECKING" for node in ast.walk(stmt)}
    package = package or ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            found.append(base)
            found += [f"{base}.{alias.name}" for alias in node.names]  # `from compare import grade`
    return found


def test_the_top_of_compare_holds_the_five_commands_and_the_cli_module():
    files = {p.name for p in (ROOT / "compare").iterdir() if p.suffix == ".py"}
    folders = {p.name for p in (ROOT / "compare").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert files == {"__init__.py", "cli.py", *(f"{c}.py" for c in COMMANDS)}
    assert folders == {"lab", "grader"}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_module_is_thin(command):
    lines = len((ROOT / "compare" / f"{command}.py").read_text().splitlines())
    assert lines <= MAX_COMMAND_LINES, f"compare/{command}.py has {lines} lines"


def test_no_module_is_over_the_size_limit():
    big = {str(p.relative_to(ROOT)): n for p in modules("manual", "reference", "compare")
           if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, big


def test_nothing_inside_lab_or_grader_imports_a_command_module():
    commands = {f"compare.{c}" for c in COMMANDS}
    offenders = {str(p.relative_to(ROOT)): sorted(set(imported(p)) & commands)
                 for p in modules("compare/lab", "compare/grader")}
    assert not {k: v for k, v in offenders.items() if v}


def test_the_lab_never_imports_the_grader():
    offenders = [str(p.relative_to(ROOT)) for p in modules("compare/lab")
                 if any(name.startswith("compare.grader") for name in imported(p))]
    assert not offenders


def _grader_package(name: str) -> str | None:
    match = re.match(r"compare\.grader\.(\w+)\.", name + ".")
    return match[1] if match and match[1] in GRADER_ORDER else None


@pytest.mark.parametrize("package", GRADER_ORDER)
def test_grader_packages_import_only_those_below_them(package):
    allowed = MAY_IMPORT[package] | {package}
    assert all(GRADER_ORDER.index(p) < GRADER_ORDER.index(package) for p in MAY_IMPORT[package])
    wrong = {}
    for path in modules(f"compare/grader/{package}"):
        reached = {p for name in imported(path) if (p := _grader_package(name))} - allowed
        reached |= {"(the grader's glue)" for name in imported(path)
                    if name.split(".")[:3] in (["compare", "grader", m] for m in ("validation", "classrun",
                                                                                   "autograder", "options"))}
        if reached:
            wrong[str(path.relative_to(ROOT))] = sorted(reached)
    assert not wrong


def test_the_sandbox_imports_only_the_standard_library_numpy_and_itself():
    """The worker loads compare/grader/sandbox/ alone, as a package of its own: an absolute
    import of compare (or of anything not installed in the sandbox) would fail there."""
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for path in modules("compare/grader/sandbox"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                continue  # relative: within the sandbox
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.partition(".")[0]
                assert top in stdlib or top in ("numpy", "_grader"), f"{path.name} imports {name}"


def test_the_layout_page_names_every_module_and_only_existing_ones():
    page = (ROOT / "docs" / "layout.md").read_text()
    for path in modules("compare"):
        if path.name == "__init__.py":
            continue
        assert re.search(rf"\b{re.escape(path.stem)}\b", page), f"docs/layout.md does not name {path}"
    for folder in re.findall(r"`compare/([\w/]+)/`", page):
        assert (ROOT / "compare" / folder).is_dir(), folder


def test_the_import_reader_sees_lazy_relative_and_from_imports(tmp_path):
    """The checks above are only as good as ``imported``: a lazy import, a relative one and a
    module named in a from-import are all seen; one under TYPE_CHECKING is not."""
    sample = tmp_path / "probe.py"
    sample.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import compare.grade\n"
                      "def f():\n    from ..judging import battery\n    from compare import validate\n")
    found = imported(sample, package="compare.grader.course")
    assert "compare.grader.judging.battery" in found and "compare.validate" in found
    assert "compare.grade" not in found
