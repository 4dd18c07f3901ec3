"""Run a student's implementation at arm's length: in a worker process, with a time limit.

The validator never calls student code directly. A ``Runner`` owns the student's objects and
answers three requests — load the factory, build a network, call ``loss_and_grads`` — and
every answer is plain data (floats and float64 arrays) or a ``StudentError`` saying plainly
what went wrong. Student code can raise anything, print anything, loop forever (also inside C,
holding the GIL), call ``sys.exit`` or crash the interpreter: the worker is killed after
``timeout`` seconds and the validator reports why.

- ``SubprocessRunner`` (the default) starts ``python compare/sandbox.py FD``: a fresh
  interpreter that imports NumPy and the student's module, nothing else — not torch, whose
  thread pool does not survive ``fork``. Requests travel over a socket pair as pickles.
- ``InProcessRunner`` calls the factory in this process, in a daemon thread with the same
  time limit (a runaway call is abandoned, not killed). It is for factories that cannot be
  named by ``module:attr`` (closures, lambdas, classes defined inside a function).

This file imports only the standard library and NumPy, so it can run as a script.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Mapping, MutableMapping
from pathlib import Path

import numpy as np

LOAD_TIMEOUT = 30.0  # importing the student's module may import torch (a few seconds)


class StudentError(Exception):
    """The implementation broke the contract; ``str()`` is a one-line reason for the user.

    ``kind`` is "load" (spec cannot be loaded), "raised" (student code raised), "contract"
    (wrong types, keys, shapes, mutated inputs), "timeout" or "died".
    """

    def __init__(self, kind: str, message: str, exc_type: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.exc_type = exc_type


# ----------------------------------------------------------------------------- loading
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


def _is_path(target: str) -> bool:
    return target.endswith(".py") or os.sep in target or "/" in target


def load_factory(spec: str):
    """Import the module (or file) of ``spec`` and return the factory it names."""
    target, attr = parse_spec(spec)
    if _is_path(target):
        path = Path(target)
        if not path.is_file():
            raise StudentError("load", f"no such file: {target}")
        name = f"_student_{abs(hash(str(path.resolve())))}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise StudentError("load", f"cannot load {target} as a Python module")
        module = importlib.util.module_from_spec(module_spec)
        sys.path.insert(0, str(path.resolve().parent))  # its own sibling imports work
        sys.modules[name] = module
        what = f"file {target}"
        loader = module_spec.loader.exec_module
        load = lambda: loader(module)  # noqa: E731
    else:
        what = f"module {target!r}"
        load = lambda: importlib.import_module(target)  # noqa: E731
    try:
        loaded = load()
    except ModuleNotFoundError as error:
        if error.name and target.startswith(error.name):
            raise StudentError("load", f"no module named {error.name!r} (from {spec!r})") from None
        raise StudentError("load", f"importing {what} failed: {describe_exception(error)}") from None
    except BaseException as error:  # noqa: BLE001 - student code: anything can come out
        raise StudentError("load", f"importing {what} failed: {describe_exception(error)}") from None
    module = loaded if loaded is not None else module
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise StudentError("load", f"{what} has no attribute {part!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise StudentError("load", f"{spec} is not a callable factory (it is {type(obj).__name__} {obj!r:.40})")
    return obj


def describe_exception(error: BaseException) -> str:
    """'ValueError: bad thing (student.py:12 in loss_and_grads)': the student's own last frame."""
    if isinstance(error, SystemExit):
        text = f"SystemExit (it called sys.exit({error.code!r}))"
    else:
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        text = type(error).__name__ + (f": {message}" if message else "")
    frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename).resolve() != _HERE]
    if frames:
        last = frames[-1]
        text += f" ({Path(last.filename).name}:{last.lineno} in {last.name})"
    return text


_HERE = Path(__file__).resolve()


# ----------------------------------------------------------------------------- the host
def _as_float_array(value, what: str) -> np.ndarray:
    if isinstance(value, str | bytes) or value is None:
        raise StudentError("contract", f"{what} must be an array of numbers, got {type(value).__name__}")
    try:
        array = np.asarray(value)
    except Exception as error:  # noqa: BLE001 - e.g. a torch tensor that requires grad
        raise StudentError("contract", f"{what} is a {type(value).__name__} that NumPy cannot read "
                                       f"({describe_exception(error)}); return NumPy arrays") from None
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise StudentError("contract", f"{what} must hold real numbers, got dtype {array.dtype}")
    return np.array(array, dtype=np.float64)  # a copy: later calls cannot change it


def _fmt_shape(shape) -> str:
    return str(tuple(int(s) for s in shape))


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
    """Holds the student's objects and performs requests on them (in whichever process).

    Every method returns plain data or raises ``StudentError``.
    """

    def __init__(self, factory):
        self.factory = factory
        self.objects = {}
        self.written = {}  # key -> the params we last wrote (to spot updates by loss_and_grads)

    def _student(self, what: str, fn, *args):
        try:
            return fn(*args)
        except StudentError:
            raise
        except BaseException as error:  # noqa: BLE001 - SystemExit, KeyboardInterrupt... all say "raised"
            raise StudentError("raised", f"{what} raised {describe_exception(error)}",
                               exc_type=type(error).__name__) from None

    def make(self, key, sizes, activation, shapes: dict) -> dict:
        """factory(sizes, activation); check ``params`` has the contract's names and shapes.

        Returns copies of the object's own initial parameters.
        """
        call = f"factory({tuple(sizes)!r}, {activation!r})"
        obj = self._student(call, self.factory, tuple(sizes), activation)
        params = self._student(f"reading .params of what {call} returned", getattr, obj, "params", None)
        if params is None:
            raise StudentError("contract", f"{call} returned a {type(obj).__name__} without a `params` dict")
        if not isinstance(params, Mapping):
            raise StudentError("contract", f"the `params` of {call} is a {type(params).__name__}, not a dict")
        method = getattr(obj, "loss_and_grads", None)
        if not callable(method):
            raise StudentError("contract", f"{call} returned a {type(obj).__name__} without a loss_and_grads method")
        keys = list(params.keys())
        if set(keys) != set(shapes):
            raise StudentError("contract", f"params of {call} has keys {sorted(map(str, keys))}, "
                                           f"expected {sorted(shapes)}")
        initial = {}
        for name, shape in shapes.items():
            value = _as_float_array(params[name], f"params[{name!r}]")
            if value.shape != tuple(shape):
                layout = " (out, in), like torch.nn.Linear.weight" if name.startswith("W") else ""
                raise StudentError("contract", f"params[{name!r}] of {call} has shape {_fmt_shape(value.shape)}, "
                                               f"expected {_fmt_shape(shape)}{layout}")
            initial[name] = value
        self.objects[key] = obj
        return initial

    def set_params(self, key, values: dict) -> None:
        """Write ``values`` into the object's params: into its own arrays when it has float64 ones
        of the right shape (so aliases it keeps see them), else as new arrays."""
        obj = self.objects[key]
        params = obj.params
        for name, value in values.items():
            current = params.get(name) if isinstance(params, Mapping) else None
            if (isinstance(current, np.ndarray) and current.dtype == np.float64
                    and current.shape == value.shape and current.flags.writeable):
                current[...] = value
            elif isinstance(params, MutableMapping):
                params[name] = value.copy()
            else:
                raise StudentError("contract", "params is read-only; the validator must be able to "
                                               f"write params[{name!r}]")
        name = _first_not_holding(obj.params, values)
        if name is not None:
            raise StudentError("contract", f"params is not writable: params[{name!r}] does not keep the values "
                                           "written into it (is `params` a property returning copies?)")
        self.written[key] = values

    def call(self, key, X, y, lambdas, shapes: dict):
        """loss_and_grads(X, y, lambdas) on copies; returns (loss, {name: float64 array})."""
        obj = self.objects[key]
        X_arg, y_arg, lambdas_arg = X.copy(), y.copy(), list(lambdas)
        result = self._student("loss_and_grads(X, y, lambdas)", obj.loss_and_grads, X_arg, y_arg, lambdas_arg)
        self._check_untouched(key, X, X_arg, y, y_arg, lambdas, lambdas_arg)
        return self._normalise(result, shapes)

    def _check_untouched(self, key, X, X_arg, y, y_arg, lambdas, lambdas_arg):
        if not (X_arg.shape == X.shape and np.array_equal(X_arg, X)):
            where = ""
            if X_arg.shape == X.shape:
                i, j = (int(v) for v in np.argwhere(X_arg != X)[0])
                where = f" (X[{i}, {j}] was {float(X[i, j])!r}, is now {float(X_arg[i, j])!r})"
            raise StudentError("contract", f"loss_and_grads modified its input X in place{where}; work on a copy")
        if not (y_arg.shape == y.shape and np.array_equal(y_arg, y)):
            raise StudentError("contract", "loss_and_grads modified its input y in place; work on a copy")
        if list(lambdas_arg) != list(lambdas):
            raise StudentError("contract", f"loss_and_grads modified its lambdas list in place "
                                           f"({list(lambdas)} became {list(lambdas_arg)})")
        name = _first_not_holding(self.objects[key].params, self.written[key])
        if name is not None:
            raise StudentError("contract", f"loss_and_grads changed params[{name!r}]: it must compute the "
                                           "loss and gradients, not update the parameters")

    @staticmethod
    def _normalise(result, shapes: dict):
        if not isinstance(result, tuple | list) or len(result) != 2:
            got = f"a {type(result).__name__}" + (f" of length {len(result)}" if isinstance(result, tuple | list) else "")
            raise StudentError("contract", f"loss_and_grads must return a pair (loss, grads), got {got}")
        loss, grads = result
        if isinstance(loss, bool) or not isinstance(loss, int | float | np.number | np.ndarray):
            kind = f"{type(loss).__module__}.{type(loss).__name__}".removeprefix("builtins.")
            raise StudentError("contract", f"the loss must be a real number (float or NumPy scalar), got {kind}")
        loss_array = _as_float_array(loss, "the loss")
        if loss_array.size != 1:
            raise StudentError("contract", f"the loss must be one number, got an array of shape "
                                           f"{_fmt_shape(loss_array.shape)}")
        if not isinstance(grads, Mapping):
            raise StudentError("contract", f"grads must be a dict keyed like params, got {type(grads).__name__}")
        missing = [name for name in shapes if name not in grads]
        extra = sorted(str(k) for k in grads if k not in shapes)
        if missing or extra:
            parts = ([f"missing {missing}"] if missing else []) + ([f"unexpected keys {extra}"] if extra else [])
            raise StudentError("contract", f"grads has keys {sorted(map(str, grads))}: {'; '.join(parts)} "
                                           f"(expected {list(shapes)})")
        out = {}
        for name, shape in shapes.items():
            value = grads[name]
            if not isinstance(value, np.ndarray):
                kind = f"{type(value).__module__}.{type(value).__name__}".removeprefix("builtins.")
                raise StudentError("contract", f"grads[{name!r}] is a {kind}, not a NumPy array "
                                               "(return np.ndarray gradients)")
            raw_shape = value.shape
            if raw_shape not in (tuple(shape), tuple(shape)[::-1]):
                # Say it before copying: a wrong shape may be a huge one.
                raise StudentError("contract", f"grads[{name!r}] has shape {_fmt_shape(raw_shape)}, expected "
                                               f"{_fmt_shape(shape)} (the shape of params[{name!r}])")
            array = _as_float_array(value, f"grads[{name!r}]")
            # The transpose of a weight's shape is let through: the diagnosis names it.
            if array.shape != tuple(shape) and not (array.ndim == 2 and array.shape == tuple(shape)[::-1]):
                raise StudentError("contract", f"grads[{name!r}] has shape {_fmt_shape(array.shape)}, expected "
                                               f"{_fmt_shape(shape)} (the shape of params[{name!r}])")
            out[name] = array
        return float(loss_array.reshape(-1)[0]), out


# ----------------------------------------------------------------------------- runners
class _Limits:
    """A time limit per request and a budget for all requests together."""

    def __init__(self, timeout: float, budget: float | None):
        if not timeout > 0 or (budget is not None and not budget > 0):
            raise ValueError(f"timeout and budget must be > 0 seconds, got {timeout!r} and {budget!r}")
        self.timeout = float(timeout)
        self.budget = None if budget is None else float(budget)
        self.deadline = float("inf")

    def begin(self):
        if self.budget is not None:
            self.deadline = time.monotonic() + self.budget

    def limit(self, what: str, timeout: float | None = None) -> tuple[float, bool]:
        """(seconds this request may take, whether the budget rather than the timeout sets it)."""
        per_call = self.timeout if timeout is None else timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise StudentError("timeout", f"the total time budget of {self.budget:g} s ran out before {what} "
                                          "(far too slow: the whole battery takes a few seconds)")
        return (left, True) if left < per_call else (per_call, False)

    def expired(self, what: str, limit: float, by_budget: bool) -> StudentError:
        if by_budget:
            return StudentError("timeout", f"{what} did not return before the total time budget of "
                                           f"{self.budget:g} s ran out (far too slow, or stuck in a loop?)")
        return StudentError("timeout", f"{what} did not return within {limit:g} s (stuck in a loop, or far too slow?)")


class InProcessRunner:
    """The host in this process; each request in a daemon thread joined with a time limit."""

    def __init__(self, factory, timeout: float = 10.0, budget: float | None = None):
        self.host = Host(factory)
        self.limits = _Limits(timeout, budget)

    def __enter__(self):
        self.limits.begin()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.host.objects.clear()

    def request(self, op: str, *args, what: str = ""):
        what = what or op
        limit, by_budget = self.limits.limit(what)
        box = {}

        def work():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    box["value"] = getattr(self.host, op)(*args)
            except StudentError as error:
                box["error"] = error
            except BaseException as error:  # noqa: BLE001
                box["error"] = StudentError("raised", f"{what} raised {describe_exception(error)}")

        thread = threading.Thread(target=work, name=f"student-{op}", daemon=True)
        thread.start()
        thread.join(limit)
        if thread.is_alive():
            raise self.limits.expired(what, limit, by_budget)
        if "error" in box:
            raise box["error"]
        return box["value"]


class SubprocessRunner:
    """The host in a fresh worker interpreter, killed when a request outlives its time limit."""

    def __init__(self, spec: str, timeout: float = 10.0, budget: float | None = None,
                 load_timeout: float = LOAD_TIMEOUT):
        parse_spec(spec)  # a malformed spec fails here, before any process starts
        self.spec = spec
        self.limits = _Limits(timeout, budget)
        self.load_timeout = float(load_timeout)
        self.process = None
        self.conn = None
        self._stderr = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        from multiprocessing import Pipe

        self.limits.begin()
        parent, child = Pipe(duplex=True)
        self._stderr = tempfile.TemporaryFile()
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, "1")  # tiny matrices; do not fight the validator for cores
        self.process = subprocess.Popen(
            [sys.executable, str(_HERE), str(child.fileno())],
            pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self._stderr, env=env, close_fds=True,
        )
        child.close()
        self.conn = parent
        self.request("load", self.spec, list(sys.path), os.getcwd(), what=f"loading {self.spec}",
                     timeout=self.load_timeout)

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
            self.conn = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.process = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _died(self, what: str) -> StudentError:
        code = self.process.wait() if self.process is not None else None
        how = f"exit code {code}" if code is None or code >= 0 else f"killed by signal {-code}"
        tail = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            lines = self._stderr.read().decode(errors="replace").strip().splitlines()
            if lines:
                tail = f": {lines[-1][:200]}"
        self.close()
        return StudentError("died", f"the implementation's process ended during {what} ({how}){tail}")

    def request(self, op: str, *args, what: str = "", timeout: float | None = None):
        what = what or op
        if self.conn is None:
            raise StudentError("died", f"the implementation's process is gone (before {what})")
        limit, by_budget = self.limits.limit(what, timeout)
        try:
            self.conn.send((op, args))
            ready = self.conn.poll(limit)
        except (OSError, EOFError):
            raise self._died(what) from None
        if not ready:
            self.close()
            raise self.limits.expired(what, limit, by_budget)
        try:
            status, payload = self.conn.recv()
        except (OSError, EOFError):
            raise self._died(what) from None
        if status == "ok":
            return payload
        kind, message, exc_type = payload
        raise StudentError(kind, message, exc_type)


# ----------------------------------------------------------------------------- worker side
def _die_with_parent() -> None:
    """Linux: have the kernel kill this worker if the validator dies (even mid-C-loop)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the socket's EOF still ends an idle worker
        pass


def serve(fd: int) -> None:
    """The worker's loop: answer requests on the socket ``fd`` until it closes."""
    from multiprocessing.connection import Connection

    conn = Connection(fd)
    _die_with_parent()
    warnings.simplefilter("ignore")  # student RuntimeWarnings are noise here
    host = None
    while True:
        try:
            op, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if op == "load":
                spec, path, cwd = args
                sys.path[:] = path
                os.chdir(cwd)
                host = Host(load_factory(spec))
                reply = ("ok", None)
            else:
                reply = ("ok", getattr(host, op)(*args))
        except StudentError as error:
            reply = ("error", (error.kind, str(error), error.exc_type))
        except BaseException as error:  # noqa: BLE001 - e.g. SystemExit from a module's top level
            reply = ("error", ("raised", f"{op} raised {describe_exception(error)}", type(error).__name__))
        try:
            conn.send(reply)
        except Exception as error:  # noqa: BLE001
            conn.send(("error", ("contract", f"cannot send the result back: {describe_exception(error)}", None)))


if __name__ == "__main__":
    serve(int(sys.argv[1]))
