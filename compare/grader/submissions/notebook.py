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

import ast
from collections.abc import Callable

from compare.grader.sandbox.errors import clean_text
from compare.grader.sandbox.sources import (
    MAX_NOTEBOOK_BYTES,
    SourceError,
    cell_lines,
    cell_text,
    display_name,
    is_cell_magic,
    read_source,
    strip_ipython,
)
from compare.grader.submissions.notebook_statements import NOTE_LIMIT, Extracted, SyntaxProblem, _State  # noqa: F401 - NOTE_LIMIT, SyntaxProblem: part of this module's API

MAX_FILE_BYTES = MAX_NOTEBOOK_BYTES  # the .ipynb file, outputs (images) included
MAX_SOURCE_CHARS = 2 * 1024 * 1024  # all code cells together
MAX_CELLS = 2000


class NotebookError(ValueError):
    """The file is not a notebook this grader reads; ``str()`` is one line naming the file and why."""


def extract_definitions(path, available: Callable[[str], bool] = lambda top: True) -> Extracted:
    """The definitions of the notebook at ``path`` (see the module docstring for the rules).

    ``available(top)`` says whether a top-level module name ("numpy", "matplotlib") can be
    imported in the grading sandbox. Raises ``NotebookError`` for a file that is not a notebook,
    is too large (32 MiB, 2 MiB of code, 2000 cells) or is not a Python notebook.
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
    # nbformat joined each list of lines into one string: a source that is not a string counts nothing.
    sources = [cell.get("source") for cell in cells if isinstance(cell, dict)]
    if sum(len(source) for source in sources if isinstance(source, str)) > MAX_SOURCE_CHARS:
        raise NotebookError(f"{name}: not graded: more than {MAX_SOURCE_CHARS >> 20} MB of source")
    return cells


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

