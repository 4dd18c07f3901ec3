"""The worker's side: load the student's factory and perform requests on the objects it makes.

Every method returns plain data (floats, float64 arrays, short strings) or raises
``StudentError``. Nothing here is trusted by the grader, which re-checks every reply: these
checks exist to give the student a precise message, not to protect the grader.

Standard library and NumPy only: this file runs inside the sandbox.
"""

from __future__ import annotations

import importlib
import importlib.util
import linecache
import os
import sys
import traceback
import types
from collections.abc import Mapping, MutableMapping
from pathlib import Path

import numpy as np

from .errors import StudentError, clean_text

KEYWORDS = "**"  # make's arguments may end with {KEYWORDS: {name: value}}: the factory's keyword arguments
MAX_PARAMS = 64  # entries of a params or grads dict
MAX_ELEMENTS = 4 * 1024 * 1024  # numbers in one returned array (32 MB of float64)
_OURS = {str(Path(__file__).resolve().parent)}


# ----------------------------------------------------------------------------- describing errors
_ROOT = []  # the submission's folder, once known: its frames are the student's lines


def _student_frame(tb_frames):
    """The student's line: the last frame in the submission's own files (not NumPy's, not the
    grader's), else the last frame that is not the grader's, else None."""
    frames = [f for f in tb_frames if str(Path(f.filename).resolve().parent) not in _OURS
              and not f.filename.startswith("<frozen ")]
    own = [f for f in frames if _ROOT and str(Path(f.filename).resolve()).startswith(_ROOT[0])]
    return (own or frames or [None])[-1]


def _where(filename, lineno, name=None, text=None) -> str:
    line = text if text is not None else linecache.getline(filename, lineno or 0)
    place = f"{clean_text(Path(filename).name, 60)}:{lineno}" + (
        f" in {clean_text(name, 60)}" if name and name != "<module>" else "")
    line = clean_text(line, 120) if line else ""
    return f" ({place}: {line})" if line else f" ({place})"


def describe_exception(error: BaseException) -> str:
    """'ValueError: bad thing (student.py:12 in loss_and_grads: return a @ b)': one clean line."""
    if isinstance(error, SystemExit):
        text = f"SystemExit (it called sys.exit({clean_text(repr(error.code), 60)}))"
    else:
        lines = str(error).strip().splitlines()
        message = clean_text(lines[0]) if lines else ""
        text = type(error).__name__ + (f": {message}" if message else "")
    if isinstance(error, SyntaxError) and error.filename and error.lineno:
        return text.split(" (", 1)[0] + _where(error.filename, error.lineno, text=error.text)
    frame = _student_frame(traceback.extract_tb(error.__traceback__))
    if frame is not None and isinstance(error, TypeError) and _is_print_chevron(frame.line or ""):
        return f"Python 2 syntax (print >>file) at {Path(frame.filename).name}:{frame.lineno}"
    if frame is not None:
        text += _where(frame.filename, frame.lineno, frame.name, frame.line)
    return text


def _is_print_chevron(line: str) -> bool:
    from .syntax import is_print_chevron  # here: most workers never need it

    return is_print_chevron(line)


def _python2_syntax(error: SyntaxError) -> str | None:
    """"Python 2 syntax (print statement) at eve.py:84" for Python 2 code, else None."""
    from .syntax import python2_construct

    construct = python2_construct(error)
    if construct is None or not error.filename or not error.lineno:
        return None
    return f"Python 2 syntax ({construct}) at {clean_text(Path(error.filename).name, 80)}:{error.lineno}"


# ----------------------------------------------------------------------------- loading
def load_factory(module: str | None, file: str | None, attr, module_name: str = "submission"):
    """Import the student's module (by dotted name, or from ``file``) and return its factory.

    ``attr`` is the factory's name (dotted: ``Class.create``) or a list of names tried in order
    (the assignment's name, then the ones it also accepts). When none is defined, the message
    names the module's plausible factories (``--factory NAME`` grades one of them).
    """
    names = [attr] if isinstance(attr, str) else list(attr)
    try:
        if file is not None:
            path = Path(file)
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise StudentError("load", f"cannot load {path.name} as a Python module")
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = loaded
            what, where = f"file {path.name}", path.name
            spec.loader.exec_module(loaded)
        else:
            what, where = f"module {module!r}", f"module {module!r}"
            loaded = importlib.import_module(module)
    except StudentError:
        raise
    except ModuleNotFoundError as error:
        missing = (error.name or "").split(".")[0]
        if module is not None and missing and module.split(".")[0] == missing:
            raise StudentError("load", f"no module named {missing!r}") from None
        frame = _student_frame(traceback.extract_tb(error.__traceback__))
        where = _where(frame.filename, frame.lineno, frame.name, frame.line) if frame else ""
        raise StudentError("load", f"importing {what} failed: it imports {clean_text(missing, 60)!r}, which "
                                   f"is not installed for grading{where}") from None
    except SyntaxError as error:
        raise StudentError("load", _python2_syntax(error) or f"importing {what} failed: {describe_exception(error)}") from None
    except BaseException as error:  # noqa: BLE001 - student code: anything can come out
        kind = "forbidden" if getattr(error, "forbidden", False) else "raised"  # its own code raised
        raise StudentError(kind, f"importing {what} failed: {describe_exception(error)}") from None
    for name in names:
        obj = _attribute(loaded, name, what)
        if obj is not _MISSING:
            break
    else:
        raise StudentError("load", _no_factory_message(loaded, names, where))
    if not callable(obj):
        raise StudentError("load", f"{name} in {what} is not a callable factory "
                                   f"(it is {type(obj).__name__} {clean_text(repr(obj), 40)})")
    return obj


_MISSING = object()
FACTORY_METHODS = ("loss_and_grads", "loss")  # what a network's class has, whatever the course calls it


def _attribute(loaded, dotted: str, what: str):
    """``loaded.a.b`` for 'a.b'; ``_MISSING`` when ``a`` is not there (the next name is tried)."""
    obj = loaded
    for index, part in enumerate(dotted.split(".")):
        try:
            obj = getattr(obj, part)
        except BaseException:  # noqa: BLE001 - includes a module __getattr__ that raises anything (SystemExit too)
            if index == 0:
                return _MISSING
            raise StudentError("load", f"{what} has no attribute {dotted!r}") from None
    return obj


def _parameters(obj) -> list | None:
    """The names of a function's parameters, or of a class's constructor's (without self)."""
    import inspect  # here: only a module without the factory needs it (the worker starts faster)

    try:
        return list(inspect.signature(obj).parameters)
    except Exception:  # noqa: BLE001 - no signature (a builtin), or a class whose own code raises
        return None


def plausible_factories(loaded) -> list:
    """'build_net(sizes, activation)' for the public classes and functions defined in the module
    that look most like a network's factory: functions taking (sizes, activation) if there are
    any, else such classes, else classes whose instances have a loss_and_grads (or loss) method."""
    tiers = ([], [], [])
    for name, obj in sorted(vars(loaded).items()):
        if name.startswith("_") or not isinstance(obj, type | types.FunctionType):
            continue
        if getattr(obj, "__module__", None) != loaded.__name__:
            continue  # imported from elsewhere (NumPy, a helper module)
        params = _parameters(obj)
        if params is None:
            continue
        takes_sizes = len(params) >= 2 and "size" in params[0].lower() and "activ" in params[1].lower()
        try:
            has_method = isinstance(obj, type) and any(callable(getattr(obj, m, None)) for m in FACTORY_METHODS)
        except Exception:  # noqa: BLE001 - a class's own __getattr__ may raise anything
            has_method = False
        text = f"{name}({', '.join(params)})"
        if takes_sizes:
            tiers[1 if isinstance(obj, type) else 0].append(text)
        elif has_method:
            tiers[2].append(text)
    return next((tier for tier in tiers if tier), [])


def _no_factory_message(loaded, names: list, where: str) -> str:
    """"no 'make_mlp' (nor 'factory') in alice.py; it defines build_net(sizes, activation): grade it
    with --factory build_net"."""
    text = f"no {names[0]!r}" + (f" (nor {', '.join(map(repr, names[1:]))})" if len(names) > 1 else "")
    text += f" in {where}"
    candidates = plausible_factories(loaded)
    if len(candidates) == 1:
        text += f"; it defines {candidates[0]}: grade it with --factory {candidates[0].split('(')[0]}"
    elif candidates:
        shown = ", ".join(candidates[:4]) + (f" (+{len(candidates) - 4} more)" if len(candidates) > 4 else "")
        text += f"; it defines {shown}: grade one of them with --factory NAME"
    return text


# ----------------------------------------------------------------------------- values
def _kind(value) -> str:
    return f"{type(value).__module__}.{type(value).__name__}".removeprefix("builtins.")


def as_float_array(value, what: str) -> np.ndarray:
    """A float64 C-ordered copy of a real-valued array (any ndarray subclass, any order/flags)."""
    if isinstance(value, str | bytes) or value is None:
        raise StudentError("contract", f"{what} must be an array of numbers, got {type(value).__name__}")
    try:
        array = np.asarray(value)
    except Exception as error:  # noqa: BLE001 - e.g. a torch tensor that requires grad
        raise StudentError("contract", f"{what} is a {_kind(value)} that NumPy cannot read "
                                       f"({describe_exception(error)}); return NumPy arrays") from None
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise StudentError("contract", f"{what} must hold real numbers, got dtype {clean_text(array.dtype, 40)}")
    if array.size > MAX_ELEMENTS or array.ndim > 4:
        raise StudentError("contract", f"{what} has shape {tuple(array.shape)}: far larger than any parameter")
    copy = np.array(array, dtype=np.float64, order="C")  # a copy: later calls cannot change it
    if isinstance(value, np.ma.MaskedArray) and np.ma.is_masked(value):  # np.asarray dropped the mask
        copy[np.ma.getmaskarray(value)] = np.nan
    return copy


def _check_mapping(value, what: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise StudentError("contract", f"{what} must be a dict, got {_kind(value)}")
    if len(value) > MAX_PARAMS:
        raise StudentError("contract", f"{what} has {len(value)} entries; a network has a few")
    bad = [k for k in value if not isinstance(k, str) or not 0 < len(k) <= 64]
    if bad:
        raise StudentError("contract", f"{what} has a key that is not a short string: {clean_text(repr(bad[0]), 40)}")
    return value


def _first_not_holding(params, values: dict):
    """The first name whose entry in the student's ``params`` no longer equals ``values[name]``, else None."""
    for name, value in values.items():
        got = params.get(name) if isinstance(params, Mapping) else None
        try:
            same = got is not None and np.array_equal(np.asarray(got, dtype=np.float64), value)
        except Exception:  # noqa: BLE001 - a student's object may raise anything
            same = False
        if not same:
            return name
    return None


class Host:
    """Holds the student's objects and performs the grader's requests on them."""

    def __init__(self, factory):
        self.factory = factory
        self.objects = {}
        self.written = {}  # key -> the params last written (to spot updates by the method)

    def _student(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)  # the student's code only: no check of the grader's runs inside
        except BaseException as error:  # noqa: BLE001 - SystemExit, KeyboardInterrupt... all say "raised"
            # A StudentError from here was raised by the student's own code (the class is reachable through
            # sys.modules): it is what it raised, never a verdict of the grader's (a kind such as "timeout").
            kind = "forbidden" if getattr(error, "forbidden", False) else "raised"
            raise StudentError(kind, f"{what} raised {describe_exception(error)}",
                               exc_type=type(error).__name__) from None

    def make(self, key: str, call: str, args: list, method: str) -> dict:
        """``factory(*args)`` (``factory(*args[:-1], **keywords)`` when the last is ``{KEYWORDS: keywords}``);
        returns float64 copies of its ``params`` as they are (any names, any shapes)."""
        args, keywords = list(args), {}
        if args and isinstance(args[-1], dict) and set(args[-1]) == {KEYWORDS}:
            keywords = args.pop()[KEYWORDS]
        obj = self._student(call, self.factory, *args, **keywords)
        params = self._student(f"reading .params of what {call} returned", getattr, obj, "params", None)
        if params is None:
            raise StudentError("contract", f"{call} returned a {_kind(obj)} without a `params` dict")
        _check_mapping(params, f"the `params` of {call}")
        if not callable(getattr(obj, method, None)):
            raise StudentError("contract", f"{call} returned a {_kind(obj)} without a {method} method")
        initial = {name: as_float_array(value, f"params[{name!r}]") for name, value in params.items()}
        self.objects[key] = obj
        return initial

    def set_params(self, key: str, values: dict) -> None:
        """Write ``values`` into the object's params: into its own float64 arrays of the same shape
        when it has them (so aliases it keeps see them), else as new arrays."""
        params = self.objects[key].params
        for name, value in values.items():
            current = params.get(name) if isinstance(params, Mapping) else None
            if (isinstance(current, np.ndarray) and current.dtype == np.float64
                    and current.shape == value.shape and current.flags.writeable):
                current[...] = value
            elif isinstance(params, MutableMapping):
                params[name] = value.copy()
            else:
                raise StudentError("contract", "params is read-only; the grader must be able to "
                                               f"write params[{name!r}]")
        name = _first_not_holding(self.objects[key].params, values)
        if name is not None:
            raise StudentError("contract", f"params is not writable: params[{name!r}] does not keep the values "
                                           "written into it (is `params` a property returning copies?)")
        self.written[key] = values

    def call(self, key: str, method: str, signature: str, args: list):
        """``obj.method(*args)`` on copies of the arguments; returns (loss, {name: float64 array})."""
        obj = self.objects[key]
        copies = [a.copy() if isinstance(a, np.ndarray) else (list(a) if isinstance(a, list) else a) for a in args]
        result = self._student(f"{method}({signature})", getattr(obj, method), *copies)
        self._check_untouched(key, method, signature, args, copies)
        return self._normalise(result, method)

    def _check_untouched(self, key, method, signature, args, copies):
        names = [s.strip() for s in signature.split(",")]
        for name, original, passed in zip(names, args, copies):
            if isinstance(original, np.ndarray):
                same = passed.shape == original.shape and np.array_equal(passed, original)
                if not same:
                    where = ""
                    if passed.shape == original.shape and original.ndim == 2:
                        i, j = (int(v) for v in np.argwhere(passed != original)[0])
                        where = f" ({name}[{i}, {j}] was {float(original[i, j])!r}, is now {float(passed[i, j])!r})"
                    raise StudentError("contract", f"{method} modified its input {name} in place{where}; "
                                                   "work on a copy")
            elif isinstance(original, list) and list(passed) != original:
                raise StudentError("contract", f"{method} modified its {name} list in place "
                                               f"({original} became {clean_text(repr(list(passed)), 80)})")
        name = _first_not_holding(self.objects[key].params, self.written.get(key, {}))
        if name is not None:
            raise StudentError("contract", f"{method} changed params[{name!r}]: it must compute the "
                                           "loss and gradients, not update the parameters")

    @staticmethod
    def _normalise(result, method: str):
        if not isinstance(result, tuple | list) or len(result) != 2:
            got = f"a {_kind(result)}" + (f" of length {len(result)}" if isinstance(result, tuple | list) else "")
            raise StudentError("contract", f"{method} must return a pair (loss, grads), got {got}")
        loss, grads = result
        if isinstance(loss, bool) or not isinstance(loss, int | float | np.number | np.ndarray):
            raise StudentError("contract", f"the loss must be a real number (float or NumPy scalar), got {_kind(loss)}")
        loss_array = as_float_array(loss, "the loss")
        if loss_array.size != 1:
            raise StudentError("contract", f"the loss must be one number, got an array of shape "
                                           f"{tuple(loss_array.shape)}")
        _check_mapping(grads, "grads")
        out = {}
        for name, value in grads.items():
            if not isinstance(value, np.ndarray):
                raise StudentError("contract", f"grads[{name!r}] is a {_kind(value)}, not a NumPy array "
                                               "(return np.ndarray gradients)")
            out[name] = as_float_array(value, f"grads[{name!r}]")
        return loss_array.reshape(()), out


def prepare_process(sys_path: list, cwd: str) -> None:
    """Before the student's module is imported: its folder first on sys.path, and its cwd."""
    sys.path[:0] = [p for p in sys_path if p not in sys.path]
    os.chdir(cwd)
    _ROOT[:] = [str(Path(cwd).resolve()) + os.sep]
