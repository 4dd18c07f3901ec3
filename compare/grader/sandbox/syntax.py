"""Why Python would refuse a student's file, in one line with the cause and the place:

    SyntaxError: invalid syntax at alice.py:12
    Python 2 syntax (print statement) at eve.py:84
    SyntaxError: invalid syntax at hw.ipynb in cell 4, line 2

The file is read through ``sources`` (bounded, no link followed) and only compiled, never run.
The worker imports this module too, to name a Python 2 construct in a traceback
(``python2_construct``, ``is_print_chevron``). Standard library only.
"""

from __future__ import annotations

import ast
import re

from .errors import clean_text
from .sources import SourceError, display_name, is_notebook, notebook_code_cells, parse_cell, read_source

_PY2_LINE_CHARS = 1000  # of the offending line looked at to name a Python 2 construct


def syntax_problem(path) -> str | None:
    """None when Python would compile the file (for a notebook: every code cell, IPython lines
    aside, ``%%`` cells skipped), else one line with the cause and the place:

        SyntaxError: invalid syntax at alice.py:12
        Python 2 syntax (print statement) at eve.py:84
        SyntaxError: invalid syntax at hw.ipynb in cell 4, line 2

    or the ``SourceError`` line when the file cannot be read. Compiling runs nothing.
    """
    name = display_name(path)
    try:
        text = read_source(path)
        if not is_notebook(path):
            return _compile_problem(text, name, lambda line: f"{name}:{line}")
        for number, source in notebook_code_cells(text, path):
            if source is None:
                continue
            tree, error = parse_cell(source, name)
            if tree is not None:
                error = _compile_error(tree, name)
            if error is not None:
                return _describe(error, lambda line, n=number: f"{name} in cell {n}, line {line}",
                                 f"{name} in cell {number}")
        return None
    except SourceError as error:
        return str(error)


def _compile_problem(text: str, name: str, where) -> str | None:
    try:
        compile(text, name, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as error:
        return _describe(error, where, name)
    return None


def _compile_error(tree: ast.Module, name: str):
    """What only the compiler refuses in a cell that parsed ('break' outside loop), or None."""
    try:
        compile(tree, name, "exec", dont_inherit=True)
    except (RecursionError, MemoryError):
        # Compiling a tree checks it recursively, deeper than compiling its text does: a cell the
        # parser took (a sum of 1,500 terms) compiles from its text, as the worker and Jupyter do.
        return None
    except (SyntaxError, ValueError, OverflowError) as error:
        return error
    return None


def _describe(error: BaseException, where, place: str) -> str:
    if isinstance(error, SyntaxError) and error.lineno:
        return describe_syntax_error(error, where(error.lineno))
    if isinstance(error, SyntaxError):
        return f"{type(error).__name__}: {clean_text(error.msg, 150)} in {place}"
    if isinstance(error, (RecursionError, MemoryError)):
        return f"nested too deeply for Python to compile: {place}"
    return f"not Python source ({clean_text(error, 100)}): {place}"


def describe_syntax_error(error: SyntaxError, where: str) -> str:
    """One line for a SyntaxError at ``where`` ("eve.py:84"): "Python 2 syntax (print
    statement) at eve.py:84" for Python 2 code, else "SyntaxError: invalid syntax at eve.py:84"."""
    return f"{syntax_cause(error)} at {where}"


def syntax_cause(error: SyntaxError) -> str:
    """"Python 2 syntax (print statement)" for Python 2 code, else "SyntaxError: invalid syntax"
    (the error's class and message, one clean line)."""
    construct = python2_construct(error)
    if construct:
        return f"Python 2 syntax ({construct})"
    message = error.msg if isinstance(error.msg, str) and error.msg else "invalid syntax"
    return f"{type(error).__name__}: {clean_text(message, 150)}"


_EXCEPT_COMMA = re.compile(r"[ \t]*except\b[^:]*,[ \t]*[^\W\d]\w*[ \t]*:")
_RAISE_COMMA = re.compile(r"[ \t]*raise[ \t]+[\w.]+[ \t]*,")
_ZERO_LITERAL = re.compile(r"(?<![\w.])0\d+")
_LONG_LITERAL = re.compile(r"(?<![\w.])(?:0[xX][0-9a-fA-F]+|\d+)[lL]\b")


def python2_construct(error: SyntaxError) -> str | None:
    """The Python 2 construct a SyntaxError met ("print statement", "exec statement",
    "except X, e", "backticks", "<> operator", "octal literal 0777", "ur'' string",
    "long literal 10L", "raise E, message", "tuple parameter"), or None."""
    message = error.msg if isinstance(error.msg, str) else ""
    line = (error.text or "")[:_PY2_LINE_CHARS]
    offset = max(0, (error.offset or 1) - 1)  # 0-based; none said (or a hand-made one below 1): the start
    if message.startswith("Missing parentheses in call to 'print'"):
        return "print statement"
    if message.startswith("Missing parentheses in call to 'exec'"):
        return "exec statement"
    if message.startswith("multiple exception types must be parenthesized") and _EXCEPT_COMMA.match(line):
        return "except X, e"
    if message.startswith("leading zeros in decimal integer literals"):
        # The offset is where the literal starts, counted in bytes (in characters only for an ASCII
        # line): the literal is the last one that starts no later (an earlier '0644' in a string is not).
        literals = [m.group() for m in _ZERO_LITERAL.finditer(line) if m.start() <= offset]
        return f"octal literal {literals[-1]}" if literals else "octal literal"
    if message.startswith("invalid decimal literal") or message.startswith("invalid hexadecimal literal"):
        literal = _LONG_LITERAL.search(line)
        return f"long literal {literal.group()}" if literal else None
    if "parameters cannot be parenthesized" in message:
        return "tuple parameter"
    if message.startswith("invalid syntax"):
        at = line[offset: offset + 2]
        if at.startswith("`"):
            return "backticks"
        if at == "<>":  # Python >= 3.10 puts the offset at its "<"
            return "<> operator"
        if re.search(r"(?<![\w])[uU][rR]$", line[:offset]) and at[:1] in ("'", '"'):
            return "ur'' string"
        if _RAISE_COMMA.match(line):
            return "raise E, message"
    return None


# "print >>f, x" parses in Python 3 (a tuple of a shift) and fails when it runs.
_PRINT_CHEVRON = re.compile(r"[ \t]*print[ \t]*>>")


def is_print_chevron(line: str) -> bool:
    """Whether a line is Python 2's ``print >>file, …`` (a TypeError when Python 3 runs it)."""
    return bool(_PRINT_CHEVRON.match(line[:_PY2_LINE_CHARS]))
