"""Which statements of a notebook's code cells are kept, and the module they make (``_State``):
the rules are in ``notebook``'s docstring. ``Extracted`` is what reading a notebook gives; a cell
that does not parse is a ``SyntaxProblem``. Parsed with ``ast``, never run.
"""

from __future__ import annotations
import __future__

import ast
import builtins
from collections.abc import Callable
from dataclasses import dataclass, field

from compare.grader.sandbox.errors import clean_text
from compare.grader.sandbox.sources import names_in, top_level_names
from compare.grader.sandbox.syntax import syntax_cause

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
    except (RecursionError, MemoryError):
        # Compiling a tree checks it recursively, deeper than compiling its text does (a sum of 1,500
        # terms in a function): the worker compiles the module's text, as Jupyter runs the cell's.
        return ""
    except ValueError:
        return "does not compile: not Python source"
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
