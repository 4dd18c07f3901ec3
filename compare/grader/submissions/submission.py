"""What a spec names, found without running it, and its bounded copy into a private folder.

``path/to/file.py:NAME`` names a file (its folder is the submission: sibling modules and data
files come along); ``pkg.module:NAME`` names a module found from the current folder or the
grader's ``sys.path`` — a package is copied whole, a single module with its folder. Finding a
module never imports it: only the finders' path lookups run, no code of the submission's.
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
import os
import re
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from compare.grader.sandbox.errors import StudentError, clean_text
from compare.grader.sandbox.sources import read_source

# Never copied into a sandbox (unless it is the submission itself): the answer key and torch.
ANSWER_KEY = ("manual", "reference", "compare", "torch")
AUTOGRAD_LIBRARIES = ("jax", "jaxlib", "tensorflow", "autograd", "mxnet", "theano", "tinygrad", "mlx")  # refused too
MAX_COPY_BYTES = 64 * 1024 * 1024
MAX_COPY_FILES = 2000
MAX_COPY_DEPTH = 4


@dataclass
class Submission:
    spec: str  # as the user wrote it
    root: Path  # the folder copied into the sandbox
    attr: str  # the factory's name (dotted: Class.create)
    module: str | None = None  # import by dotted name from the copy of root ...
    file: str | None = None  # ... or load this file (relative to root)
    package: str | None = None  # the submission's own top-level package (copied, never denied)
    only: tuple | None = None  # copy only these entries of root
    notes: list = field(default_factory=list)  # what the copy left out, for the report
    generated: dict = field(default_factory=dict)  # files written into the copy: {relative path: source}
    locations: dict = field(default_factory=dict)  # {file name: line -> "notebook.ipynb cell N, line M"}
    stubs: tuple = ()  # top-level modules the worker stands in for when missing (see stubs.py)

    def locate(self, message: str) -> str:
        """A message naming a generated file's line, rewritten to the notebook's cell and line."""
        for name, where in self.locations.items():
            message = re.sub(rf"\b{re.escape(name)}:(\d+)", lambda m, where=where: where(int(m.group(1))), message)
        return message

    @property
    def module_name(self) -> str:
        """The name the file is loaded under: its stem, so siblings that import it share it."""
        stem = Path(self.file).stem if self.file else ""
        return stem if stem.isidentifier() else "submission"


def parse_spec(spec: str) -> tuple[str, str]:
    """'pkg.module:factory' or 'path/to/file.py:factory' → (target, attribute path)."""
    if not isinstance(spec, str) or ":" not in spec:
        raise StudentError("load", f"expected MODULE:FACTORY or path/to/file.py:FACTORY, got {spec!r} (no colon)")
    target, attr = spec.rsplit(":", 1)
    if not target.strip():
        raise StudentError("load", f"{spec!r} names no module or file before the colon")
    if not attr.strip() or not all(part.isidentifier() for part in attr.split(".")):
        raise StudentError("load", f"{spec!r}: {attr!r} after the colon is not a Python name")
    return target, attr


def is_path(target: str) -> bool:
    return target.endswith((".py", ".ipynb")) or os.sep in target or "/" in target


def _find_top_level(top: str, cwd: Path):
    """The ModuleSpec of a top-level module, from cwd first, then sys.path, then any other finder."""
    try:
        found = importlib.machinery.PathFinder.find_spec(top, [str(cwd)] + [p for p in sys.path if p])
        return found or importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None


def resolve(spec: str, cwd: str | os.PathLike | None = None, allow_imports=(), alone: bool = False,
            also_factories=()) -> Submission:
    """The ``Submission`` a spec names; ``StudentError("load", ...)`` when there is none.

    ``alone``: a file is copied without its folder (a class folder holds the other students'
    files, which one student's code must not see).
    """
    target, attr = parse_spec(spec)
    cwd = Path(cwd or os.getcwd())
    if is_path(target):
        path = (cwd / target).resolve()
        if not path.is_file():
            raise StudentError("load", f"no such file: {target}")
        if path.suffix not in (".py", ".ipynb"):
            raise StudentError("load", f"cannot load {path.name} as a Python module (expected .py or .ipynb)")
        if not alone and path.suffix == ".py" and cwd.resolve() in path.parents:  # a module of a package?
            top = cwd.resolve()
            root, module = package_context(top, path.relative_to(top).parts)
            if module is not None:
                sub = Submission(spec, root, attr, module=module, package=module.split(".")[0])
                plan_stubs(sub, allow_imports)
                return sub
        sub = Submission(spec, path.parent, attr, file=path.name, only=(path.name,) if alone else None)
        if path.suffix == ".ipynb":
            from_notebook(sub, allow_imports, also_factories)
        plan_stubs(sub, allow_imports)
        return sub
    if not all(part.isidentifier() for part in target.split(".")):
        raise StudentError("load", f"{target!r} is not a module name (nor a path to a .py file)")
    top = target.split(".")[0]
    found = _find_top_level(top, cwd)
    if found is None or found.origin in (None, "built-in", "frozen"):
        raise StudentError("load", f"no module named {top!r} (from {spec!r})")
    if found.submodule_search_locations:
        package_dir = Path(next(iter(found.submodule_search_locations))).resolve()
        sub = Submission(spec, package_dir.parent, attr, module=target, package=top, only=(package_dir.name,))
    else:
        sub = Submission(spec, Path(found.origin).resolve().parent, attr, module=target, package=top)
    plan_stubs(sub, allow_imports)
    return sub


def _imports(path: Path) -> tuple[set, int]:
    """(top-level names it imports absolutely, the deepest relative import's level)."""
    try:
        tree = ast.parse(read_source(path))
    except (ValueError, SyntaxError, RecursionError, MemoryError):  # SourceError is a ValueError
        return set(), 0
    tops, level = set(), 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                level = max(level, node.level)
            elif node.module:
                tops.add(node.module.split(".")[0])
    return tops, level


def package_context(top: Path, rel: tuple) -> tuple[Path, str | None]:
    """(the folder to put on sys.path, the dotted module name) for the file ``top/rel``; the module is
    None when the file is best loaded alone. The package reaches up as far as its ``__init__.py``
    files, its relative imports (``from ..layers import *``) or an absolute import of an
    enclosing folder's name (``from cs231n.layers import *``) say — never above ``top``."""
    folders, stem = rel[:-1], os.path.splitext(rel[-1])[0]
    if not folders or not rel[-1].lower().endswith(".py"):
        return top.joinpath(*folders), None
    need = 0
    while need < len(folders) and (top.joinpath(*folders[: len(folders) - need]) / "__init__.py").is_file():
        need += 1
    tops, level = _imports(top.joinpath(*rel))
    need = max(need, level)
    for i, folder in enumerate(folders):
        if folder in tops:
            need = max(need, len(folders) - i)
            break
    need = min(need, len(folders))
    chain = [*folders[len(folders) - need:], stem]
    if need == 0 or not all(part.isidentifier() for part in chain):
        return top.joinpath(*folders), None
    return top.joinpath(*folders[: len(folders) - need]), ".".join(chain)


def _skip(entry: os.DirEntry, depth: int, own: str | None) -> bool:
    name = entry.name
    if name.startswith(".") or name in ("__pycache__", "__MACOSX") or entry.is_symlink():
        return True
    if entry.is_dir(follow_symlinks=False):
        if depth >= MAX_COPY_DEPTH or os.path.exists(os.path.join(entry.path, "pyvenv.cfg")):
            return True
        if name in ANSWER_KEY and name != own:
            return True
    elif Path(name).stem in ANSWER_KEY and name.endswith(".py") and Path(name).stem != own:
        return True
    return not (entry.is_dir(follow_symlinks=False) or entry.is_file(follow_symlinks=False))


def _copy_regular_file(src: Path, to: Path, limit: int) -> int:
    """Copy ``src`` to ``to`` if it is a regular file (never through a link, never a FIFO or device)
    of at most ``limit`` bytes; returns the bytes copied, or -1 when it is not copied."""
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return -1
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return -1
        to.parent.mkdir(parents=True, exist_ok=True)
        copied = 0
        with open(to, "xb") as out:
            while copied <= limit:
                chunk = os.read(fd, min(1 << 20, limit + 1 - copied))
                if not chunk:
                    break
                out.write(chunk)
                copied += len(chunk)
        if copied > limit:  # it grew while being read
            to.unlink()
            return -1
        return copied
    except OSError:
        return -1
    finally:
        os.close(fd)


def copy_submission(sub: Submission, dest: Path) -> None:
    """Copy ``sub.root`` into ``dest``: regular files and folders only (no links, FIFOs or devices,
    nothing read through a link), walked without recursion, within the caps.

    The submission's own file (or its module and the package around it) is copied first, so a
    cap never leaves it out; what the caps leave out is added to ``sub.notes``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    budget = {"bytes": MAX_COPY_BYTES, "files": MAX_COPY_FILES}
    left_out = []

    def copy_file(relative: Path) -> None:
        to = dest / relative
        if to.exists() or budget["files"] <= 0:
            if not to.exists():
                left_out.append(str(relative))
            return
        copied = _copy_regular_file(sub.root / relative, to, budget["bytes"])
        if copied < 0:
            left_out.append(str(relative))
            return
        budget["bytes"] -= copied
        budget["files"] -= 1

    for relative, source in sub.generated.items():
        (dest / relative).write_text(source, encoding="utf-8")
    first = [Path(sub.file)] if sub.file is not None and sub.file not in sub.generated else []
    if sub.module is not None:  # the module's file and its packages' __init__.py files
        parts = sub.module.split(".")
        first += [Path(*parts[:i], "__init__.py") for i in range(1, len(parts))]
        first.append(Path(*parts[:-1], parts[-1] + ".py"))
    for relative in first:
        if (sub.root / relative).is_file():
            copy_file(relative)
    stack = [(sub.root, Path(), 0)]
    while stack:
        folder, relative, depth = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: os.fsencode(e.name))
        except OSError:
            continue
        for entry in entries:
            if depth == 0 and sub.only is not None and entry.name not in sub.only:
                continue
            try:
                if _skip(entry, depth, sub.package):
                    continue
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                stack.append((Path(entry.path), relative / entry.name, depth + 1))
            elif not entry.name.endswith(".ipynb"):
                copy_file(relative / entry.name)
    if left_out:
        shown = ", ".join(clean_text(p, 80) for p in left_out[:5]) + (
            f" (+{len(left_out) - 5} more)" if len(left_out) > 5 else "")
        sub.notes.append(f"not copied into the sandbox (over {MAX_COPY_BYTES >> 20} MiB or {MAX_COPY_FILES} "
                         f"files in all, or not a regular file): {shown}")


def available_in_sandbox(root: Path, allow_imports=()) -> Callable[[str], bool]:
    """Whether a top-level module can be imported in the worker: the standard library, NumPy, the
    allowed modules and the submission's own sibling modules."""
    allowed = {"numpy", *allow_imports}

    def available(top: str) -> bool:
        return (top in sys.stdlib_module_names or top in allowed or (root / f"{top}.py").is_file()
                or (root / top / "__init__.py").is_file()) and top not in ANSWER_KEY

    return available


MAX_SCANNED_FILES = 500  # .py files whose imports are read to plan the stubs


def plan_stubs(sub: Submission, allow_imports=()) -> None:
    """Starter code as distributed: the modules the submission's ``.py`` files import that the
    sandbox does not offer (plotting, ``past``/``future``, ``IPython``, ``sklearn``, ``tqdm`` …)
    become ``sub.stubs``, which the worker stands in for (``stubs.py``), and a note says so.
    Never the denied ones (the answer key, torch, autograd libraries: refused by the worker), nor
    a module imported only under ``try: … except ImportError`` (the student's fallback runs).

    Call it once the submission is complete (after ``from_notebook``, with ``sub.generated``
    set): it reads the generated files, then the ``.py`` files the copy would hold. A notebook's
    own unavailable imports are already skipped; its sibling modules' are stubbed here."""
    from compare.grader.sandbox.sources import imported_modules, modules_imported_by
    from compare.grader.sandbox.stubs import SHIMS

    available = available_in_sandbox(sub.root, allow_imports)
    denied = set(ANSWER_KEY) | set(AUTOGRAD_LIBRARIES)
    modules = set()
    for relative, source in sub.generated.items():
        if relative.endswith(".py"):
            modules |= modules_imported_by(source)
    for path in _python_files(sub):
        if path.relative_to(sub.root).as_posix() not in sub.generated:
            modules |= imported_modules(path)
    missing = sorted(m for m in modules if _top(m) not in denied and not available(_top(m))
                     and not (sub.root / _top(m)).is_dir())  # a folder of the submission: a namespace package
    sub.stubs = tuple(sorted({_top(m) for m in missing}))
    shimmed = [m for m in missing if m in SHIMS]
    stubbed = [m for m in missing if m not in SHIMS and not any(s.startswith(m + ".") for s in missing)]
    if stubbed:
        sub.notes.append(f"stubbed: {_listed(stubbed)} (not available to graded code; used only if called)")
    if shimmed:
        sub.notes.append(f"Python 2 compatibility: {_listed(shimmed)} mapped to Python 3 builtins "
                         "(xrange is range, basestring is str)")


def _top(module: str) -> str:
    return module.partition(".")[0]


def _listed(names: list, shown: int = 8) -> str:
    return ", ".join(names[:shown]) + (f" (+{len(names) - shown} more)" if len(names) > shown else "")


def _python_files(sub: Submission) -> list:
    """The ``.py`` files the copy would hold, within the copy's caps: the file loaded, then its
    folder's (symbolic links are listed here and refused when read)."""
    files = [sub.root / sub.file] if sub.file and sub.file.endswith(".py") else []
    budget = MAX_COPY_BYTES
    for folder, dirs, names in os.walk(sub.root):
        depth = len(Path(folder).relative_to(sub.root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__" and depth < MAX_COPY_DEPTH
                         and (depth or sub.only is None or d in sub.only))
        for name in sorted(names):
            if name.endswith(".py") and (depth or sub.only is None or name in sub.only):
                try:
                    budget -= os.lstat(os.path.join(folder, name)).st_size
                except OSError:
                    continue
                files.append(Path(folder) / name)
        if len(files) > MAX_SCANNED_FILES or budget < 0:
            break
    return list(dict.fromkeys(files))[:MAX_SCANNED_FILES]


def from_notebook(sub: Submission, allow_imports=(), also_factories=()) -> None:
    """Load a notebook's definitions only: a module written beside it in the sandbox's copy, the
    skipped cells in the notes, and its line numbers told back as the notebook's cells."""
    from compare.grader.submissions.notebook import NotebookError, extract_definitions

    notebook = sub.file
    try:
        extracted = extract_definitions(sub.root / notebook, available=available_in_sandbox(sub.root, allow_imports))
    except NotebookError as error:
        raise StudentError("load", str(error)) from None
    names = [n.split(".")[0] for n in (sub.attr, *also_factories)]
    missing = None if any(n in extracted.names for n in names) else extracted.why_missing(names[0])
    if missing:  # a cell that does not parse hides the factory
        raise StudentError("load", f"{notebook} {missing}")
    stem = Path(notebook).stem
    name = f"{stem}.py" if stem.isidentifier() and not (sub.root / f"{stem}.py").exists() else "_notebook.py"
    sub.generated[name] = extracted.source
    sub.file = name
    sub.locations[name] = lambda line: f"{notebook} {extracted.where(line)}"
    if extracted.skipped:
        sub.notes.append(f"{notebook}: only its definitions are graded; skipped {len(extracted.skipped)} "
                         "statement(s) that load data, train, plot or cannot be imported here")
        sub.notes.extend(extracted.skipped)


def definitions_only(sub: Submission, why: str, allow_imports=()) -> Submission | None:
    """The same ``.py`` submission, loaded as its definitions only (imports, functions, classes,
    constants): for a module that runs its experiment at import. None when that is not possible."""
    from dataclasses import replace

    from compare.grader.submissions.notebook import NotebookError, extract_module_definitions

    if sub.file is None or not sub.file.endswith(".py") or sub.generated:
        return None
    available = available_in_sandbox(sub.root, allow_imports)
    try:  # a stubbed module stays imported: a function that uses it says what it used
        extracted = extract_module_definitions(sub.root / sub.file, lambda top: top in sub.stubs or available(top))
    except NotebookError:
        return None
    if not extracted.skipped or extracted.syntax_errors:
        return None  # nothing to leave out: the same module would fail the same way
    notes = [f"{sub.file}: {why}; graded on its definitions only, skipping {len(extracted.skipped)} "
             "top-level statement(s)", *extracted.skipped]
    return replace(sub, generated={sub.file: extracted.source}, notes=[*sub.notes, *notes])
