"""A student's source read safely: bounded, never following a link, never run.

Everything here reads a ``.py`` file or a Jupyter notebook that a student handed in, so any
content must be expected: a symbolic link to ``/dev/zero``, a FIFO, a 100 GB sparse file, bytes
that are not UTF-8, a notebook whose ``cells`` is a number, a cell of 100,000 nested ``not``.

- ``read_source`` opens without following a symbolic link and without blocking, refuses
  anything but a regular file, reads at most a cap, and decodes a ``.py`` as Python does (BOM,
  PEP 263 coding cookie) and a notebook as UTF-8. It raises ``SourceError`` (one line).
- ``defined_names`` lists the names a file or notebook binds at its top level (for a grader
  looking for the factory in a folder). It never raises, and runs in time linear in the file.
- ``syntax.syntax_problem`` (beside this module) says in one line why Python would refuse the
  file, reading it through here.

Nothing here imports, executes or compiles into a running interpreter what it reads: ``compile``
only turns text into a code object, which is dropped. Standard library only: the sandbox's
modules may import it.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import stat
import tokenize

from .errors import clean_text

MAX_SOURCE_BYTES = 8 * 1024 * 1024  # a .py file
MAX_NOTEBOOK_BYTES = 32 * 1024 * 1024  # an .ipynb file, its outputs (images) included
_CHUNK = 1024 * 1024


class SourceError(ValueError):
    """The file cannot be read as source; ``str()`` is one line naming the file and the reason."""


def display_name(path) -> str:
    """The file's name, printable (any bytes a file name may hold), at most 80 characters."""
    return clean_text(os.path.basename(os.fsdecode(path)), 80) or "?"


def is_notebook(path) -> bool:
    return os.fsdecode(path).lower().endswith(".ipynb")


# ---------------------------------------------------------------------------------------------
# Reading


def read_bytes(path, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them, else ``SourceError``.

    The open neither follows a symbolic link (at the last component) nor blocks (a FIFO, a
    device); ``fstat`` after the open refuses anything but a regular file; the size is checked
    before reading and again while reading (a file may grow).
    """
    name = display_name(path)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if os.path.islink(path):
            raise SourceError(f"{name}: a symbolic link, not read (hand in the file itself)") from None
        raise SourceError(f"{name}: cannot open: {clean_text(error.strerror or error, 80)}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SourceError(f"{name}: not a regular file ({_file_kind(info.st_mode)}), not read")
        if info.st_size > limit:
            raise SourceError(f"{name}: {_size(info.st_size)}, over the {_size(limit)} a source file may have")
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise SourceError(f"{name}: over the {_size(limit)} a source file may have")
        return b"".join(chunks)
    except OSError as error:
        raise SourceError(f"{name}: cannot read: {clean_text(error.strerror or error, 80)}") from None
    finally:
        os.close(fd)


def read_source(path, limit: int | None = None) -> str:
    """The text of a ``.py`` file (decoded as Python decodes it) or of a notebook (UTF-8, a BOM
    tolerated), read by ``read_bytes``; ``SourceError`` when it cannot be read or decoded.

    ``limit``: bytes at most; by default ``MAX_NOTEBOOK_BYTES`` for an ``.ipynb`` (any case),
    else ``MAX_SOURCE_BYTES``.
    """
    notebook = is_notebook(path)
    if limit is None:
        limit = MAX_NOTEBOOK_BYTES if notebook else MAX_SOURCE_BYTES
    data = read_bytes(path, limit)
    return decode_notebook(data, path) if notebook else decode_python(data, path)


def decode_python(data: bytes, path="<source>") -> str:
    """``data`` decoded as Python decodes a source file: a UTF-8 BOM, else a PEP 263 coding
    cookie on line 1 or 2, else UTF-8."""
    name = display_name(path)
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:  # an unknown encoding, or a BOM with another cookie
        raise SourceError(f"{name}: {clean_text(error.msg, 120)}") from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        hint = " and declares no other encoding" if encoding in ("utf-8", "utf-8-sig") else ""
        raise SourceError(f"{name}: {_undecodable(error, encoding)}{hint}") from None
    except LookupError:  # detect_encoding checks the codec; a codec that vanished since is the same
        raise SourceError(f"{name}: unknown encoding {clean_text(encoding, 40)!r}") from None


def decode_notebook(data: bytes, path="<notebook>") -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SourceError(f"{display_name(path)}: not a Jupyter notebook: {_undecodable(error, 'UTF-8')}") from None


def _undecodable(error: UnicodeDecodeError, encoding: str) -> str:
    # error.start counts in what the codec decoded: after the BOM that utf-8-sig consumed, if any.
    decoded = error.object
    line = decoded.count(b"\n", 0, error.start) + 1
    byte = decoded[error.start: error.start + 1].hex()
    return f"line {line} is not {clean_text(encoding, 30)} text (byte 0x{byte})"


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "a special file"


def _size(count: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if count >= 1 << shift:
            return f"{count / (1 << shift):.3g} {unit}"
    return f"{count} bytes"


# ---------------------------------------------------------------------------------------------
# Notebook cells and IPython syntax

_SHELL_OR_MAGIC = re.compile(r"[ \t]*[%!]")
_ASSIGN_MAGIC = re.compile(r"[ \t]*[\w.]+([ \t]*,[ \t]*[\w.]+)*[ \t]*=[ \t]*[%!]")
_HELP = re.compile(r"[ \t]*(\?{1,2}[\w.*%]|[\w.*%\[\]()]+\?{1,2}[ \t]*$)")


def notebook_code_cells(text: str, path="<notebook>") -> list[tuple[int, str | None]]:
    """(cell number, source) for each code cell of a notebook's JSON text; the source is None
    when it is not text. Numbers count every cell from 1, as a user does in Jupyter. Reads the
    v4 layout (``cells``) and the v3 one (``worksheets[].cells``, source in ``input``);
    ``SourceError`` for anything that is not a notebook."""
    name = display_name(path)
    try:
        notebook = json.loads(text)
    except (ValueError, RecursionError, MemoryError) as error:
        where = f" at line {error.lineno}" if isinstance(error, json.JSONDecodeError) else ""
        raise SourceError(f"{name}: not a Jupyter notebook: invalid JSON{where}") from None
    if not isinstance(notebook, dict):
        raise SourceError(f"{name}: not a Jupyter notebook: the JSON is not an object")
    cells, key = notebook.get("cells"), "source"
    if cells is None and isinstance(notebook.get("worksheets"), list):
        sheets = [s for s in notebook["worksheets"] if isinstance(s, dict) and isinstance(s.get("cells"), list)]
        cells, key = [cell for sheet in sheets for cell in sheet["cells"]], "input"
    if not isinstance(cells, list):
        raise SourceError(f"{name}: not a Jupyter notebook: no list of cells")
    code = []
    for number, cell in enumerate(cells, start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            code.append((number, cell_text(cell.get(key))))
    return code


def cell_text(source) -> str | None:
    """A cell's ``source`` as one string (a string, or a list of strings), else None."""
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(part, str) for part in source):
        return "".join(source)
    return None


def cell_lines(source: str) -> list[str]:
    return source.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def is_cell_magic(lines: list[str]) -> bool:
    """Whether the cell's first non-blank line is a ``%%`` cell magic (the cell is not Python)."""
    first = next((line.strip() for line in lines if line.strip()), "")
    return first.startswith("%%")


def strip_ipython(lines: list[str]) -> tuple[list[str], list[int]]:
    """The lines with IPython-only lines (``%magic``, ``!cmd``, ``x = !cmd``, ``obj?``, with their
    ``\\`` continuations) replaced by ``pass`` at their indentation, and their 1-based numbers:
    line numbers stay those of the notebook."""
    out, removed = list(lines), []
    continued = False
    for index, line in enumerate(lines):
        stripped = line.lstrip()
        if continued or (not stripped.startswith("#") and (
            _SHELL_OR_MAGIC.match(line) or _ASSIGN_MAGIC.match(line) or _HELP.match(line)
        )):
            out[index] = line[: len(line) - len(stripped)] + "pass" if not continued else ""
            if not continued:
                removed.append(index + 1)
            continued = line.rstrip().endswith("\\")
    return out, removed


def parse_cell(source: str, filename: str = "<cell>"):
    """(tree, None) when a cell parses (IPython lines replaced by ``pass`` if that is what it
    takes), else (None, the error): a SyntaxError, or what a hostile cell makes the parser raise
    (ValueError, RecursionError, MemoryError). A ``%%`` cell magic gives (None, None)."""
    lines = cell_lines(source)
    if is_cell_magic(lines):
        return None, None
    tree, error = _parse("\n".join(lines), filename)
    if tree is None and isinstance(error, SyntaxError):
        stripped, magics = strip_ipython(lines)
        if magics:
            retried, _ = _parse("\n".join(stripped), filename)
            if retried is not None:
                return retried, None
    return tree, error


def _parse(text: str, filename: str):
    try:
        return ast.parse(text, filename=filename), None
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as error:
        return None, error


# ---------------------------------------------------------------------------------------------
# The names a file defines

# A broken file or cell is still scanned for what it defines at column 0, one line at a time
# (anchored, no nested repetition: linear), so that a grader finds it and reports its error.
_DEF_LINE = re.compile(r"(?:async[ \t]+)?(?:def|class)[ \t]+([^\W\d]\w*)")
_ASSIGN_LINE = re.compile(r"([^\W\d]\w*)[ \t]*(?::[^=]*)?=(?!=)")


def defined_names(path) -> set[str]:
    """The names a ``.py`` file or a notebook binds at its top level: ``def``/``class``,
    assignments to names (``make_mlp = lambda …``, ``factory = MLP``, ``A, B = …``), imports
    (``from net import MLP as factory``, ``from .net import make_mlp``), also inside top-level
    ``try`` and ``if`` blocks (but not under ``if __name__ == "__main__"``). A notebook's names
    are those of all its code cells. A file or cell that does not parse is scanned line by line
    for ``def``/``class``/``NAME =`` at column 0.

    Never raises: an unreadable file, a broken notebook or a hostile one gives what could be
    read (often the empty set).
    """
    try:
        text = read_source(path)
        if not is_notebook(path):
            return names_in(text, "<source>")
        names = set()
        for number, source in notebook_code_cells(text, path):
            if source is not None:
                names |= names_in(source, f"<cell {number}>", cell=True)
        return names
    except (SourceError, RecursionError, MemoryError):
        return set()


def names_in(source: str, filename: str = "<source>", cell: bool = False) -> set[str]:
    """The top-level names of one file's or cell's text (``cell``: IPython syntax allowed), by the
    line scan when it does not parse (see ``defined_names``)."""
    tree, _ = parse_cell(source, filename) if cell else _parse(source, filename)
    if tree is not None:
        return top_level_names(tree.body)
    if cell and is_cell_magic(cell_lines(source)):
        return set()
    names = set()
    for line in source.splitlines():
        match = _DEF_LINE.match(line) or _ASSIGN_LINE.match(line)
        if match:
            names.add(match.group(1))
    return names


def top_level_names(body: list[ast.stmt]) -> set[str]:
    """The names the statements bind (see ``defined_names``), walked without recursion."""
    names: set[str] = set()
    pending = list(body)
    while pending:
        stmt = pending.pop()
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, ast.Assign):
            names |= _target_names(stmt.targets)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            names |= _target_names([stmt.target])
        elif isinstance(stmt, ast.Import):
            names |= {alias.asname or alias.name.split(".")[0] for alias in stmt.names}
        elif isinstance(stmt, ast.ImportFrom):
            names |= {alias.asname or alias.name for alias in stmt.names if alias.name != "*"}
        elif isinstance(stmt, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            pending += stmt.body + stmt.orelse + stmt.finalbody
            for handler in stmt.handlers:
                pending += handler.body
        elif isinstance(stmt, ast.If) and not _is_main_guard(stmt.test):
            pending += stmt.body + stmt.orelse
    return names


def _target_names(targets: list) -> set[str]:
    names, pending = set(), list(targets)
    while pending:
        target = pending.pop()
        if isinstance(target, ast.Name):
            names.add(target.id)
        elif isinstance(target, ast.Starred):
            pending.append(target.value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            pending += target.elts
    return names


def _is_main_guard(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either way round)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    return (any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
            and any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides))


# ---------------------------------------------------------------------------------------------
# The modules a file imports

IMPORT_GUARDS = frozenset(["ImportError", "ModuleNotFoundError", "Exception", "BaseException"])


def imported_modules(path) -> set[str]:
    """The absolute modules a ``.py`` file imports anywhere (``matplotlib.pyplot``, ``past.builtins``),
    except those imported only under a ``try`` whose handler catches ``ImportError`` (the student
    has a fallback). Never raises: an unreadable or broken file gives the empty set."""
    try:
        return modules_imported_by(read_source(path))
    except SourceError:
        return set()


def modules_imported_by(source: str) -> set[str]:
    """``imported_modules`` for a module's text."""
    tree, _ = _parse(source, "<source>")
    if tree is None:
        return set()
    modules: set[str] = set()
    pending: list[tuple[ast.AST, bool]] = [(tree, False)]
    while pending:
        node, guarded = pending.pop()
        if isinstance(node, ast.Import) and not guarded:
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not guarded and not node.level and node.module:
            modules.add(node.module)
        elif isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            inner = guarded or any(_catches_import_errors(handler) for handler in node.handlers)
            pending += [(child, inner) for child in node.body]
            pending += [(child, guarded) for child in [*node.handlers, *node.orelse, *node.finalbody]]
        else:
            pending += [(child, guarded) for child in ast.iter_child_nodes(node)]
    return modules


def _catches_import_errors(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(kind, ast.Name) and kind.id in IMPORT_GUARDS for kind in kinds)
