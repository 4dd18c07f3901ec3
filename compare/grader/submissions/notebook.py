"""The definitions of a student's Jupyter notebook, as a Python module — read, never run.

A notebook submission usually loads its data, trains and plots beside the code to be graded. The
grader keeps only what defines things — imports, functions, classes, constants — and lists the
rest, so the worker can load the submission as a module without running the experiment. This runs
in the trusted grader process: the notebook is parsed with ``ast``, nothing of it is imported,
compiled into a running interpreter or executed here.

Cells are numbered as a user counts them in Jupyter: 1-based, counting every cell from the top
(markdown and raw cells too). Lines are 1-based within a cell.

What is kept, at the top level of each code cell (compound statements are judged whole):

- ``import`` / ``from … import`` whose top-level module ``available(top)`` accepts. An import of
  an unavailable module is skipped and noted (``import numpy as np, pandas as pd`` keeps
  ``import numpy as np``). Relative imports are skipped. ``from __future__`` imports of known
  features go first in the module.
- ``def``, ``async def`` and ``class``, with their decorators, as written. Their bodies (default
  arguments, class bodies) are not judged: they run when the worker loads the module.
- Assignments of constant expressions: ``=`` to plain names (or tuples/lists of names), annotated
  assignments to a name (with or without a value), and augmented assignments (``LR *= 0.5``) to a
  name that is itself a kept constant. A constant expression is built from literals; tuples,
  lists, sets, dicts, f-strings, subscripts, unary/binary/boolean operations, comparisons and
  conditional expressions of constants; names bound by earlier kept statements and builtin type
  names, and attributes of those (``np.pi``); lambdas whose default values are constant (their
  body runs only when called: ``relu = lambda z: np.maximum(z, 0)``, ``make_mlp = lambda sizes,
  activation: MLP(sizes, activation)``); calls with constant arguments of a short allowlist
  (``SAFE_CALLS``): numpy constructors, scalar types and pure functions (``np.array``,
  ``np.zeros``, ``np.float64``, ``np.sqrt``, ``np.finfo``, ``np.random.default_rng``…), a few
  ``math`` functions, ``functools.partial`` and pure builtins (``float('inf')``, ``range``,
  ``dict``…). Anything reading files (``np.loadtxt``, ``np.load``, ``open``…) or drawing random
  numbers (``np.random.randn``…) is not in it: such assignments make data and are skipped. So
  dicts and tuples of kept functions are kept (``ACT = {"relu": (relu, relu_grad)}``).
- What is attached after a definition: ``=`` of a constant expression to an attribute of a kept
  function or class (``MLP.loss_and_grads = loss_and_grads``, ``MLP.forward = forward``) or to an
  item of a kept constant or definition (``ACT["tanh"] = (tanh, tanh_grad)``), and
  ``setattr(MLP, "forward", forward)`` with constant arguments.
- ``np.random.seed(…)`` / ``random.seed(…)`` with constant arguments (an expression statement):
  seeding is cheap and makes the student's initialisation what they expect.
- ``try:`` blocks whose handlers catch only ``ImportError``/``ModuleNotFoundError`` and whose
  every branch holds only imports, definitions, constant assignments and ``pass`` (the usual
  ``try: import cupy as xp`` / ``except ImportError: import numpy as xp``). Imports inside them
  are kept whatever ``available`` says: the sandbox refuses them with an ``ImportError``, which
  the student's own handler catches.

Skipped silently: ``pass`` and bare string/``...`` expressions (cell docstrings), markdown and raw
cells. Everything else at the top level is skipped and noted: expression statements (``train()``,
``plt.plot(x)``, a bare ``model``), loops, ``with``, ``if`` blocks (``if __name__ == "__main__"``
too), assignments from anything but a constant expression (``data = np.loadtxt(…)``, ``net =
MLP(…)``), a statement the compiler refuses (``'break' outside loop``), a cell whose syntax is
broken or that is nested too deeply to parse. A cell that does not parse is also listed in
``Extracted.syntax_errors``, with its cell, line and cause ("Python 2 syntax (print statement)" for
Python 2 code): when it is what hides the factory, ``Extracted.why_missing`` says so.

IPython syntax: a cell whose first line is a ``%%`` cell magic is skipped whole; when a cell is
not plain Python, lines starting with ``%`` or ``!`` (with their ``\\`` continuations),
``x = !cmd`` / ``x = %magic`` and ``obj?`` help lines are replaced by ``pass`` at their
indentation, so line numbers stay those of the notebook, and each is noted.
"""

from __future__ import annotations
import __future__

import ast
import builtins
from collections.abc import Callable
from dataclasses import dataclass, field

from compare.grader.sandbox.errors import clean_text
from compare.grader.sandbox.sources import (
    MAX_NOTEBOOK_BYTES,
    SourceError,
    cell_lines,
    cell_text,
    display_name,
    is_cell_magic,
    names_in,
    read_source,
    strip_ipython,
    syntax_cause,
    top_level_names,
)

MAX_FILE_BYTES = MAX_NOTEBOOK_BYTES  # the .ipynb file, outputs (images) included
MAX_SOURCE_CHARS = 2 * 1024 * 1024  # all code cells together
MAX_CELLS = 2000
MAX_NOTES = 200  # then one line says how many more were skipped
NOTE_LIMIT = 120  # characters of one note
MAX_DEPTH = 60  # nesting of a constant expression judged here

# Calls whose result is a constant when their arguments are (qualified by where the name comes from).
SAFE_CALLS = frozenset(
    [f"numpy.{name}" for name in (
        "array asarray zeros ones full empty eye identity arange linspace logspace "
        "float16 float32 float64 longdouble int8 int16 int32 int64 uint8 uint16 uint32 uint64 "
        "bool_ complex64 complex128 dtype finfo iinfo sqrt exp log log2 log10 log1p abs tanh sign "
        "maximum minimum clip power square prod sum mean cumsum diag concatenate stack "
        "zeros_like ones_like full_like "
        "random.default_rng random.RandomState random.Generator random.PCG64 random.MT19937 "
        "random.SeedSequence"
    ).split()]
    + [f"math.{name}" for name in "sqrt exp log log2 log10 pow fabs floor ceil cos sin tan tanh isqrt".split()]
    + ["functools.partial"]
    + [f"builtins.{name}" for name in (
        "float int complex bool str bytes tuple list dict set frozenset range abs min max round len"
    ).split()]
)
# Expression statements kept: seeding the random generators.
SEED_CALLS = frozenset(["numpy.random.seed", "random.seed"])
# Builtin names a constant expression may use (types, for annotations, and the calls above).
BUILTIN_NAMES = frozenset(
    "float int complex bool str bytes tuple list dict set frozenset range abs min max round len object type".split()
)
IMPORT_ERRORS = frozenset(["ImportError", "ModuleNotFoundError"])


class NotebookError(ValueError):
    """The file is not a notebook this grader reads; ``str()`` is one line naming the file and why."""


@dataclass
class SyntaxProblem:
    """A cell that does not parse: where, why ("SyntaxError: invalid syntax", "Python 2 syntax
    (print statement)"), and the names it would define (scanned line by line)."""

    cell: int
    line: int
    cause: str
    names: frozenset = frozenset()

    def __str__(self) -> str:
        place = f"cell {self.cell}, line {self.line}" if self.line else f"cell {self.cell}"
        return f"{place}: {self.cause}"


@dataclass
class Extracted:
    source: str  # a Python module: the kept statements, in notebook order (``__future__`` first)
    skipped: list[str] = field(default_factory=list)  # one line (≤ 120 characters) per skipped thing
    line_map: dict[int, tuple[int, int]] = field(default_factory=dict)  # source line -> (cell, cell line)
    names: set[str] = field(default_factory=set)  # bound by the kept statements
    star_import: bool = False  # a kept ``from m import *`` may bind any name
    syntax_errors: list[SyntaxProblem] = field(default_factory=list)  # cells that do not parse, in order
    skipped_binders: dict[str, str] = field(default_factory=dict)  # name -> the note of a skipped statement binding it

    def where(self, line: int) -> str:
        """'cell 4, line 2' for a line of ``source`` (as a traceback of it gives), or 'line N'."""
        if line in self.line_map:
            cell, cell_line = self.line_map[line]
            return f"cell {cell}, line {cell_line}"
        return f"line {line}"

    def why_missing(self, name: str) -> str | None:
        """Why the module does not define ``name`` (the factory), in one line, when the notebook
        says why: a cell that does not parse and defines it ("cell 7, line 3: SyntaxError: invalid
        syntax (the factory 'make_mlp' is defined in no cell that parses)"), or a skipped statement
        that binds it. None when the name is defined, or when nothing here explains its absence."""
        if name in self.names or self.star_import:
            return None
        broken = [problem for problem in self.syntax_errors if name in problem.names]
        if broken:
            return f"{broken[0]} (the factory {name!r} is defined in no cell that parses)"
        if name in self.skipped_binders:
            return (f"{self.skipped_binders[name]} (it binds the factory {name!r}, and no kept statement does: "
                    "the grader keeps imports, functions, classes and constants)")
        return None


def extract_definitions(path, available: Callable[[str], bool] = lambda top: True) -> Extracted:
    """The definitions of the notebook at ``path`` (see the module docstring for the rules).

    ``available(top)`` says whether a top-level module name ("numpy", "matplotlib") can be
    imported in the grading sandbox. Raises ``NotebookError`` for a file that is not a notebook,
    is too large (20 MB, 2 MB of code, 2000 cells) or is not a Python notebook.
    """
    name = display_name(path)
    cells = _read_cells(path, name)
    state = _State(available)
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell_text(cell.get("source"))
        if source is None:
            state.note(number, 0, "", "source is not text, cell skipped")
            continue
        _extract_cell(number, source, state)
    return state.result()


def extract_module_definitions(path, available: Callable[[str], bool] = lambda top: True) -> Extracted:
    """The same rules on a plain ``.py`` file, read as one cell (its notes say "line N").

    For a module that runs its experiment when imported (loads data, trains): the grader can
    still load its definitions. Raises ``NotebookError`` for an unreadable or oversized file (its
    text is decoded as Python decodes it: BOM, coding cookie).
    """
    try:
        text = read_source(path, limit=MAX_SOURCE_CHARS)
    except SourceError as error:
        raise NotebookError(str(error)) from None
    state = _State(available)
    _extract_cell(1, text, state, ipython=False)
    result = state.result()
    result.skipped = [note.replace("cell 1, ", "", 1) for note in result.skipped]
    return result


# ---------------------------------------------------------------------------------------------
# Reading the file


def _read_cells(path, name: str) -> list:
    """The cells of a v4 notebook, after bounded reading; NotebookError on anything else.

    ``nbformat`` reads and converts (v3 notebooks become v4) without its schema validation, which
    would only log: a notebook Jupyter opens despite stray metadata is graded, not refused.
    """
    import nbformat  # here: the worker never loads this module, the grader only when it meets a notebook

    try:
        text = read_source(path, limit=MAX_FILE_BYTES)  # bounded, no link followed, UTF-8 (a BOM tolerated)
    except SourceError as error:
        raise NotebookError(str(error)) from None
    try:
        notebook = nbformat.convert(nbformat.reader.reads(text), 4)
    except nbformat.reader.NotJSONError as error:
        cause = error.__cause__
        where = f" at line {cause.lineno}" if isinstance(getattr(cause, "lineno", None), int) else ""
        raise NotebookError(f"{name}: not a Jupyter notebook: invalid JSON{where}") from None
    except (RecursionError, MemoryError):
        raise NotebookError(f"{name}: not a Jupyter notebook: JSON nested too deeply") from None
    except Exception as error:  # nbformat meets arbitrary JSON: any failure means "not a notebook"
        why = clean_text(str(error) or type(error).__name__, 100)
        raise NotebookError(f"{name}: not a Jupyter notebook: {why}") from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise NotebookError(f"{name}: not a Jupyter notebook: no list of cells")
    language = _language(notebook.get("metadata"))
    if language and "python" not in language:
        raise NotebookError(f"{name}: not graded: a {clean_text(language, 30)} notebook, not Python")
    if len(cells) > MAX_CELLS:
        raise NotebookError(f"{name}: not graded: {len(cells)} cells (at most {MAX_CELLS})")
    total = sum(_length(cell.get("source")) for cell in cells if isinstance(cell, dict))
    if total > MAX_SOURCE_CHARS:
        raise NotebookError(f"{name}: not graded: more than {MAX_SOURCE_CHARS >> 20} MB of source")
    return cells


def _length(source) -> int:
    if isinstance(source, list):
        return sum(len(part) for part in source if isinstance(part, str))
    return len(source) if isinstance(source, str) else 0


def _language(metadata) -> str:
    """The kernel's language as the metadata states it, lower case, or ''."""
    if not isinstance(metadata, dict):
        return ""
    for key, inner in (("kernelspec", "language"), ("language_info", "name")):
        value = metadata.get(key)
        if isinstance(value, dict) and isinstance(value.get(inner), str):
            return value[inner].strip().lower()
    return ""


# ---------------------------------------------------------------------------------------------
# One cell


def _extract_cell(number: int, source: str, state: _State, ipython: bool = True) -> None:
    lines = cell_lines(source)
    if ipython and is_cell_magic(lines):
        first = next(line.strip() for line in lines if line.strip())
        state.note(number, 0, first, "cell magic, whole cell skipped")
        return
    tree, error = _parse("\n".join(lines), number)
    if tree is None and isinstance(error, SyntaxError) and ipython:
        stripped, magics = strip_ipython(lines)
        if magics:
            tree, error = _parse("\n".join(stripped), number)
            if tree is not None:
                for line_no in magics:
                    state.note(number, line_no, lines[line_no - 1], "IPython syntax, not Python")
                lines = stripped
    if tree is None:
        state.note_parse_error(number, error, source)
        return
    for stmt in tree.body:
        state.judge(number, stmt, lines)


def _parse(text: str, number: int):
    """(tree, None) or (None, the error): SyntaxError, or what a hostile cell makes the parser raise."""
    try:
        return ast.parse(text, filename=f"<cell {number}>"), None
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:  # null bytes, surrogates, depth
        return None, error


# ---------------------------------------------------------------------------------------------
# Judging statements


class _State:
    """What has been kept so far: names bound, where imported names come from, and the notes."""

    def __init__(self, available: Callable[[str], bool]):
        self.available = available
        self.names: set[str] = set()  # bound by kept statements
        self.constants: set[str] = set()  # bound by kept constant assignments
        self.origins: dict[str, str] = {}  # local name -> qualified name ("np" -> "numpy")
        self.future: list[tuple[int, int, list[str]]] = []  # (cell, first line, text lines)
        self.kept: list[tuple[int, int, list[str]]] = []
        self.notes: list[tuple[int, int, str]] = []  # (cell, line, note): listed in that order
        self.defined: set[str] = set()  # bound by kept def/class: what may get attributes attached
        self.star_import = False
        self.syntax_errors: list[SyntaxProblem] = []
        self.skipped_binders: dict[str, str] = {}

    # -- notes

    def note(self, cell: int, line: int, text: str, reason: str) -> None:
        """One short printable line: where, the first line of what was skipped, and why."""
        prefix = f"cell {cell}, line {line}: " if line else f"cell {cell}: "
        reason = clean_text(reason, 90)
        room = max(20, NOTE_LIMIT - len(prefix) - len(reason) - 3)
        parts = text.strip().split("\n")
        quote = clean_text(parts[0], room)
        if len(parts) > 1 and not quote.endswith("…"):
            quote = clean_text(quote + " …", room)
        line_text = f"{prefix}{quote} — {reason}" if quote else f"{prefix}{reason}"
        self.notes.append((cell, line, clean_text(line_text, NOTE_LIMIT)))

    def note_parse_error(self, cell: int, error: BaseException, source: str) -> None:
        """Note a cell that does not parse, and keep it as a syntax problem (with the names it
        would define, scanned line by line) for ``Extracted.why_missing``."""
        line = 0
        if isinstance(error, SyntaxError):
            line = error.lineno or 0
            cause = syntax_cause(error)
            if cause.startswith("Python 2"):
                self.note(cell, line, "", f"{cause}, cell skipped")
            else:
                detail = error.msg if isinstance(error.msg, str) else "invalid syntax"
                self.note(cell, line, "", f"syntax error ({detail}), cell skipped")
        elif isinstance(error, (RecursionError, MemoryError)):
            cause = "nested too deeply for Python to parse"
            self.note(cell, 0, "", "nested too deeply to parse, cell skipped")
        else:
            cause = "not Python source (invalid characters)"
            self.note(cell, 0, "", "not Python source (invalid characters), cell skipped")
        self.syntax_errors.append(SyntaxProblem(cell, line, cause, frozenset(names_in(source, cell=True))))

    # -- statements

    def judge(self, cell: int, stmt: ast.stmt, lines: list[str]) -> None:
        """Keep ``stmt`` (its text, as written) or note why not."""
        text = _segment(stmt, lines)
        start = _first_line(stmt)
        if isinstance(stmt, ast.Pass) or (
            isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, (str, bytes, type(...)))
        ):
            return
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            text = self._judge_import(cell, stmt, text)
            if text is None:
                self._remember_skipped(stmt)
                return
        elif not self._keeps(stmt):
            self._skip(cell, start, stmt, text, "not a definition")
            return
        error = _compile_error(stmt, cell)
        if error:
            self._skip(cell, start, stmt, text, error)
            return
        self._bind(stmt)
        is_future = isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"
        (self.future if is_future else self.kept).append((cell, start, text))

    def _skip(self, cell: int, start: int, stmt: ast.stmt, text: list[str], reason: str) -> None:
        """Note a skipped statement, and remember it for the names it would have bound."""
        self.note(cell, start, "\n".join(text), reason)
        self._remember_skipped(stmt)

    def _remember_skipped(self, stmt: ast.stmt) -> None:
        """The names the statement just noted as skipped would bind → that note (the first one)."""
        for name in top_level_names([stmt]) - self.names:
            self.skipped_binders.setdefault(name, self.notes[-1][2])

    def _judge_import(self, cell: int, stmt, text: list[str]) -> list[str] | None:
        """The text to keep for an import (rewritten when only some of its modules are available)."""
        start, quote = stmt.lineno, "\n".join(text)
        if isinstance(stmt, ast.ImportFrom):
            if stmt.level:
                self.note(cell, start, quote, "relative import in a notebook")
                return None
            if stmt.module == "__future__":
                unknown = [a.name for a in stmt.names if a.name not in __future__.all_feature_names]
                if unknown:
                    self.note(cell, start, quote, f"unknown __future__ feature {unknown[0]}")
                    return None
                return text
            if not self.available(stmt.module.split(".")[0]):
                self.note(cell, start, quote, f"{stmt.module} is not available for grading")
                return None
            return text
        missing = [a for a in stmt.names if not self.available(a.name.split(".")[0])]
        if not missing:
            return text
        self.note(cell, start, quote, f"{', '.join(a.name for a in missing)} is not available for grading")
        if len(missing) == len(stmt.names):
            return None
        stmt.names = [a for a in stmt.names if a not in missing]  # bind only what is kept
        return [ast.unparse(stmt)]

    def _keeps(self, stmt: ast.stmt) -> bool:
        """Whether a statement other than an import is kept (see the module docstring)."""
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return True
        if isinstance(stmt, ast.Assign):
            return all(self._target(t) for t in stmt.targets) and self._constant(stmt.value)
        if isinstance(stmt, ast.AnnAssign):
            return (isinstance(stmt.target, ast.Name) and self._constant(stmt.annotation)
                    and (stmt.value is None or self._constant(stmt.value)))
        if isinstance(stmt, ast.AugAssign):
            return (isinstance(stmt.target, ast.Name) and stmt.target.id in self.constants
                    and self._constant(stmt.value))
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            call = stmt.value
            if self._is_setattr(call):
                return True
            return self._qualified(call.func) in SEED_CALLS and self._constant_arguments(call)
        if isinstance(stmt, ast.Try):
            return self._keeps_try(stmt)
        return False

    def _target(self, target: ast.AST) -> bool:
        """A plain target (names), or what attaches to a kept definition: ``MLP.forward`` (an
        attribute of a kept function or class) or ``ACT["tanh"]`` (an item of a kept name)."""
        if _plain_target(target):
            return True
        if isinstance(target, ast.Attribute):
            return isinstance(target.value, ast.Name) and target.value.id in self.defined
        if isinstance(target, ast.Subscript):
            base = target.value
            return (isinstance(base, ast.Name) and (base.id in self.constants or base.id in self.defined)
                    and self._constant(target.slice))
        return False

    def _is_setattr(self, call: ast.Call) -> bool:
        """``setattr(MLP, "forward", forward)`` on a kept function or class, constant arguments."""
        return (isinstance(call.func, ast.Name) and call.func.id == "setattr" and "setattr" not in self.names
                and len(call.args) == 3 and not call.keywords
                and isinstance(call.args[0], ast.Name) and call.args[0].id in self.defined
                and isinstance(call.args[1], ast.Constant) and isinstance(call.args[1].value, str)
                and self._constant(call.args[2]))

    def _keeps_try(self, stmt: ast.Try) -> bool:
        """A try whose handlers catch import errors and whose branches only define things."""
        for handler in stmt.handlers:
            kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            if not all(isinstance(k, ast.Name) and k.id in IMPORT_ERRORS for k in kinds):
                return False
        saved = (set(self.names), set(self.constants), dict(self.origins))
        body = stmt.body + stmt.orelse + stmt.finalbody + [s for h in stmt.handlers for s in h.body]
        for inner in body:
            if isinstance(inner, ast.ImportFrom) and (inner.level or inner.module == "__future__"):
                ok = False
            else:
                ok = isinstance(inner, (ast.Import, ast.ImportFrom, ast.Pass)) or self._keeps(inner)
            if not ok:
                self.names, self.constants, self.origins = saved
                return False
            self._bind(inner)
        return True

    def _bind(self, stmt: ast.stmt) -> None:
        """Record the names a kept statement binds (and where imported names come from)."""
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                local = alias.asname or alias.name.split(".")[0]
                self.names.add(local)
                self.origins[local] = alias.name if alias.asname else local
        elif isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                if alias.name == "*":
                    self.star_import = True
                else:
                    local = alias.asname or alias.name
                    self.names.add(local)
                    self.origins[local] = f"{stmt.module}.{alias.name}"
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.names.add(stmt.name)
            self.defined.add(stmt.name)
            self.constants.discard(stmt.name)
            self.origins.pop(stmt.name, None)
        elif isinstance(stmt, ast.Try):
            pass  # bound by _keeps_try while judging it
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is None:
            pass  # a bare annotation binds nothing
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if not _plain_target(target):
                    continue  # MLP.forward = …, ACT["tanh"] = …: binds no name
                for node in ast.walk(target):
                    if isinstance(node, ast.Name):
                        self.names.add(node.id)
                        self.constants.add(node.id)
                        self.defined.discard(node.id)
                        self.origins.pop(node.id, None)

    def _constant(self, node: ast.AST, depth: int = 0) -> bool:
        """Whether ``node`` is a constant expression (see the module docstring)."""
        if depth > MAX_DEPTH:
            return False
        depth += 1
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.Name):
            return node.id in self.names or node.id in BUILTIN_NAMES
        if isinstance(node, ast.Attribute):
            return self._constant(node.value, depth) and not isinstance(node.value, ast.Constant)
        if isinstance(node, ast.Call):
            return self._qualified(node.func) in SAFE_CALLS and self._constant_arguments(node, depth)
        if isinstance(node, ast.Lambda):  # its body runs when called; its defaults run now
            defaults = node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
            return all(self._constant(default, depth) for default in defaults)
        children = _CONSTANT_PARTS.get(type(node))
        if children is None:
            return False
        return all(self._constant(child, depth) for child in children(node) if child is not None)

    def _constant_arguments(self, call: ast.Call, depth: int = 0) -> bool:
        return all(self._constant(arg, depth + 1) for arg in call.args) and all(
            self._constant(keyword.value, depth + 1) for keyword in call.keywords
        )

    def _qualified(self, func: ast.AST, depth: int = 0) -> str:
        """'numpy.random.default_rng' for ``np.random.default_rng`` after ``import numpy as np``."""
        if isinstance(func, ast.Name):
            if func.id in self.origins:
                return self.origins[func.id]
            if func.id in BUILTIN_NAMES and func.id not in self.names and hasattr(builtins, func.id):
                return f"builtins.{func.id}"
            return ""
        if isinstance(func, ast.Attribute) and depth < MAX_DEPTH:
            base = self._qualified(func.value, depth + 1)
            return f"{base}.{func.attr}" if base else ""
        return ""

    # -- the module

    def result(self) -> Extracted:
        source_lines: list[str] = []
        line_map: dict[int, tuple[int, int]] = {}
        for cell, start, text in self.future + self.kept:
            for offset, line in enumerate(text):
                source_lines.append(line)
                line_map[len(source_lines)] = (cell, start + offset)
        notes = [note for _, _, note in sorted(self.notes, key=lambda n: n[:2])]
        if len(notes) > MAX_NOTES:
            notes[MAX_NOTES:] = [f"… and {len(notes) - MAX_NOTES} more skipped, not listed"]
        source = "\n".join(source_lines) + "\n" if source_lines else ""
        return Extracted(source=source, skipped=notes, line_map=line_map, names=set(self.names),
                         star_import=self.star_import, syntax_errors=list(self.syntax_errors),
                         skipped_binders={name: note for name, note in self.skipped_binders.items()
                                          if name not in self.names})


# The sub-expressions of the other node types a constant expression may contain.
_CONSTANT_PARTS = {
    ast.Tuple: lambda n: n.elts,
    ast.List: lambda n: n.elts,
    ast.Set: lambda n: n.elts,
    ast.Starred: lambda n: [n.value],
    ast.Dict: lambda n: n.keys + n.values,
    ast.UnaryOp: lambda n: [n.operand],
    ast.BinOp: lambda n: [n.left, n.right],
    ast.BoolOp: lambda n: n.values,
    ast.Compare: lambda n: [n.left, *n.comparators],
    ast.IfExp: lambda n: [n.test, n.body, n.orelse],
    ast.Subscript: lambda n: [n.value, n.slice],
    ast.Slice: lambda n: [n.lower, n.upper, n.step],
    ast.JoinedStr: lambda n: n.values,
    ast.FormattedValue: lambda n: [n.value, n.format_spec],
}


def _plain_target(target: ast.AST) -> bool:
    """A name, or a tuple/list of names (``A, B = …``): nothing else is mutated by the assignment."""
    if isinstance(target, ast.Name):
        return True
    if isinstance(target, ast.Starred):
        return isinstance(target.value, ast.Name)
    if isinstance(target, (ast.Tuple, ast.List)):
        return all(_plain_target(elt) for elt in target.elts)
    return False


def _compile_error(stmt: ast.stmt, cell: int) -> str:
    """'' when the statement compiles on its own (nothing runs), else why not, shortly."""
    try:
        compile(ast.Module(body=[stmt], type_ignores=[]), f"<cell {cell}>", "exec", dont_inherit=True)
    except SyntaxError as error:
        return f"does not compile: {error.msg}"
    except (ValueError, RecursionError, MemoryError):
        return "does not compile: too complex"
    return ""


def _first_line(stmt: ast.stmt) -> int:
    decorators = getattr(stmt, "decorator_list", None) or []
    return min([stmt.lineno] + [d.lineno for d in decorators])


def _segment(stmt: ast.stmt, lines: list[str]) -> list[str]:
    """The statement's text as written: whole lines for compound statements (they start a line);
    for a simple one, from its first column to its last, with a trailing comment kept."""
    first, last = _first_line(stmt) - 1, stmt.end_lineno - 1
    text = lines[first: last + 1]
    if hasattr(stmt, "body") or hasattr(stmt, "cases") or not text:
        return text
    end = text[-1].encode("utf-8", "surrogatepass")
    rest = end[stmt.end_col_offset:].decode("utf-8", "replace").strip()
    if rest and not rest.startswith("#"):
        text[-1] = end[: stmt.end_col_offset].decode("utf-8", "replace")
    begin = text[0].encode("utf-8", "surrogatepass")
    text[0] = begin[stmt.col_offset:].decode("utf-8", "replace")
    return text
