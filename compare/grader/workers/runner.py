"""The grader's side of a worker: one request at a time, one deadline each, every reply re-checked.

``WorkerRunner`` starts an isolated worker (``isolation``) on a submission and sends it
requests (``wire`` frames). It never blocks on the worker: it polls the channel and the
worker's stderr until a whole reply frame is in or the request's deadline passes (a partial
frame is a timeout, not a hang), and every ``CHECK_INTERVAL`` seconds meanwhile it asks the
worker what the submission as a whole uses (``Worker.overuse``: memory of all its processes,
their number, what it wrote) — over a limit, the worker is killed ("died"). A reply that is
malformed, over a cap, out of order or one too many is the implementation's fault ("channel",
"contract"). Whatever ends the run, ``close()`` kills the worker and everything it started
before anything is reported.

``InProcessRunner`` calls a factory object in this process, in a thread with the same time
limits — for trusted code only (a course's own closures): student code must go through a
``WorkerRunner``, since in-process code can change the grader itself.

Both answer the same three requests: ``make``, ``set_params`` and ``call``.
"""

from __future__ import annotations

import os
import select
import threading
import time
import warnings

import numpy as np

from compare.grader.sandbox import wire
from compare.grader.sandbox.errors import StudentError, clean_text
from compare.grader.sandbox.host import Host
from compare.grader.submissions.submission import Submission
from compare.grader.workers.isolation import Limits, start_worker
from compare.grader.workers.packages import check_allowed

LOAD_TIMEOUT = 10.0  # seconds to import the student's module (then it is retried as definitions only)
STDERR_TAIL = 4096  # bytes of the worker's stderr kept (the last ones)
CHECK_INTERVAL = 0.1  # seconds between two looks at what the submission as a whole uses
KINDS = ("load", "forbidden", "raised", "contract", "channel", "timeout", "died")


class Budget:
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


def _signature(args: list) -> str:
    return ", ".join(name for name, _ in args)


class WorkerRunner:
    """A submission loaded in an isolated worker, answering requests under time limits."""

    def __init__(self, submission: Submission, *, timeout: float = 10.0, budget: float | None = None,
                 load_timeout: float = LOAD_TIMEOUT, limits: Limits | None = None, allow_imports=(),
                 isolation: str = "auto", also_factories=()):
        self.submission = submission
        self.also_factories = tuple(also_factories)  # names tried after submission.attr (the assignment's)
        self.budget = Budget(timeout, budget)
        self.load_timeout = float(load_timeout)
        self.limits = limits or Limits()
        self.allow_imports = tuple(allow_imports)
        check_allowed(self.allow_imports)
        self.isolation = isolation
        self.worker = None
        self.level = None
        self.reader = wire.FrameReader()
        self.seq = 0
        self.stderr_tail = b""
        self.loaded = False  # the module was imported (a failure before that is a load failure)
        self.checked = 0.0  # when the worker's use of memory, processes and disk was last looked at

    # -------------------------------------------------------------- life
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self) -> None:
        self.budget.begin()
        self.worker = start_worker(self.submission, self.limits, self.allow_imports, self.isolation)
        self.level = self.worker.describe()
        sub = self.submission
        root = self.worker.root_inside
        header = {"module": sub.module, "attr": [sub.attr, *self.also_factories], "sys_path": [root], "cwd": root,
                  "file": f"{root}/{sub.file}" if sub.file else None, "module_name": sub.module_name,
                  "stubs": list(sub.stubs)}
        self._request("load", header, what=f"loading {sub.spec}", timeout=self.load_timeout)
        self.loaded = True

    def close(self) -> None:
        if self.worker is not None:
            self.worker.kill()
            self.worker = None

    # -------------------------------------------------------------- requests
    def make(self, key: str, call: str, args: list, method: str) -> dict:
        header, arrays = self._request("make", {"key": key, "call": call, "args": args, "method": method},
                                       what=call)
        names = header.get("names")
        if not _names(names) or sorted(names) != sorted(arrays):
            raise StudentError("contract", "the worker's reply to make does not list its params")
        return {name: arrays[name] for name in names}

    def set_params(self, key: str, values: dict, what: str) -> None:
        self._request("set_params", {"key": key}, values, what=what)

    def call(self, key: str, method: str, args: list, what: str):
        """``method(*args)`` where ``args`` is [(name, value)]; returns (loss, {name: float64 array})."""
        arrays = {name: value for name, value in args if isinstance(value, np.ndarray)}
        listed = [{"array": name} if isinstance(value, np.ndarray) else {"value": value} for name, value in args]
        header, out = self._request("call", {"key": key, "method": method, "signature": _signature(args),
                                             "args": listed}, arrays, what=what)
        names = header.get("names")
        expected = {"loss", *(f"g:{n}" for n in names)} if _names(names) else None
        if expected != set(out) or out["loss"].dtype != np.float64 or out["loss"].shape != ():
            raise StudentError("contract", "the worker's reply does not hold one loss and the gradients it lists")
        grads = {name: out[f"g:{name}"] for name in names}
        if any(g.dtype != np.float64 for g in grads.values()):
            raise StudentError("contract", "the worker's reply holds gradients that are not float64")
        return float(out["loss"]), grads

    def _request(self, op: str, header: dict, arrays: dict | None = None, *, what: str,
                 timeout: float | None = None):
        if self.worker is None:
            raise StudentError("died", f"the implementation's process is gone (before {what})")
        limit, by_budget = self.budget.limit(what, timeout)
        deadline = time.monotonic() + limit
        self.seq += 1
        try:
            self._send(wire.encode({"seq": self.seq, "op": op, **header}, arrays), deadline, what)
            reply, out = self._receive(deadline, what)
        except TimeoutError:
            self.close()
            raise self.budget.expired(what, limit, by_budget) from None
        except wire.WireError as error:
            self.close()
            raise StudentError("channel", f"the implementation's process sent a malformed reply during {what} "
                                           f"({clean_text(error, 120)})") from None
        seq, status = reply.get("seq"), reply.get("status")
        if type(seq) is not int or seq != self.seq or not isinstance(status, str) or status not in ("ok", "error"):
            self.close()
            raise StudentError("channel", f"the implementation's process sent a reply out of order during {what} "
                                           "(does the code write to the grader's channel?)")
        if status == "error":
            kind = reply.get("kind") if isinstance(reply.get("kind"), str) and reply.get("kind") in KINDS else "contract"
            exc_type = reply.get("exc_type") if isinstance(reply.get("exc_type"), str) else None
            message = self.submission.locate(clean_text(reply.get("message", "(no message)"), 600))
            raise StudentError(kind, message,
                               clean_text(exc_type, 60) if exc_type else None)
        return reply, out

    def _send(self, data: bytes, deadline: float, what: str) -> None:
        view = memoryview(data)
        sock = self.worker.sock
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            _, writable, _ = select.select([], [sock], [], left)
            if not writable:
                continue
            try:
                sent = sock.send(view)
            except BlockingIOError:
                continue
            except OSError:
                raise self._died(what) from None
            view = view[sent:]

    def _receive(self, deadline: float, what: str):
        sock, err = self.worker.sock, self.worker.stderr_fd
        watched = [sock, err]
        while True:
            if time.monotonic() - self.checked >= CHECK_INTERVAL:
                self._check_use(what)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            readable, _, _ = select.select(watched, [], [], min(left, CHECK_INTERVAL))
            if not readable and self.worker.ended():  # while something it started holds the channel open
                raise self._died(what)
            if err in readable:
                self._drain_stderr()
            if sock in readable:
                try:
                    data = sock.recv(min(self.reader.needed(), 1 << 20))
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    raise self._died(what)
                frames = self.reader.feed(data)
                if len(frames) > 1 or (frames and self.reader.buffer):
                    raise wire.WireError("more than one reply to one request")
                if frames:
                    if time.monotonic() - self.checked >= CHECK_INTERVAL:
                        self._check_use(what)  # what it did in a quick request counts too
                    return frames[0]

    def _check_use(self, what: str) -> None:
        """Kill the worker when the submission as a whole is over a limit (see ``Worker.overuse``)."""
        self.checked = time.monotonic()
        over = self.worker.overuse()
        if over is not None:
            self.close()
            raise StudentError("died", f"the implementation's process was stopped during {what}: it {over}")

    def _drain_stderr(self) -> None:
        try:
            while True:
                chunk = os.read(self.worker.stderr_fd, 65536)
                if not chunk:
                    return
                self.stderr_tail = (self.stderr_tail + chunk)[-STDERR_TAIL:]
        except (BlockingIOError, OSError):
            return

    def _died(self, what: str) -> StudentError:
        process = self.worker.process
        try:
            code = process.wait(timeout=2)
        except Exception:  # noqa: BLE001 - still running: it closed its end of the channel
            code = None
        self._drain_stderr()
        if code is None:
            how = "it closed the grader's channel"
        elif code >= 0:
            how = f"exit code {code}"
        else:
            how = f"killed by signal {-code}" + {24: ", its CPU time limit", 9: ""}.get(-code, "")
        lines = [line for line in self.stderr_tail.decode(errors="replace").splitlines() if line.strip()]
        tail = f": {clean_text(lines[-1], 200)}" if lines else ""
        self.close()
        return StudentError("died", f"the implementation's process ended during {what} ({how}){tail}")


def _names(names) -> bool:
    """A list of strings (the worker's list of params or gradients), as the grader needs it."""
    return isinstance(names, list) and all(isinstance(name, str) for name in names)


class InProcessRunner:
    """A factory object called in this process, each request in a daemon thread joined with a time
    limit. For trusted code only: code run here can change the grader itself, and a runaway call
    is abandoned, not killed."""

    level = "in-process (trusted code: no isolation)"

    def __init__(self, factory, *, timeout: float = 10.0, budget: float | None = None):
        self.host = Host(factory)
        self.budget = Budget(timeout, budget)

    def __enter__(self):
        self.budget.begin()
        return self

    def __exit__(self, *exc):
        self.host.objects.clear()

    def make(self, key: str, call: str, args: list, method: str) -> dict:
        return self._run(call, self.host.make, key, call, args, method)

    def set_params(self, key: str, values: dict, what: str) -> None:
        self._run(what, self.host.set_params, key, {k: np.array(v, dtype=np.float64) for k, v in values.items()})

    def call(self, key: str, method: str, args: list, what: str):
        loss, grads = self._run(what, self.host.call, key, method, _signature(args), [v for _, v in args])
        return float(loss), grads

    def _run(self, what: str, fn, *args):
        limit, by_budget = self.budget.limit(what)
        box = {}

        def work():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    box["value"] = fn(*args)
            except StudentError as error:
                box["error"] = error
            except BaseException as error:  # noqa: BLE001
                box["error"] = StudentError("raised", f"{what} raised {type(error).__name__}: {clean_text(error)}")

        thread = threading.Thread(target=work, name="trusted-call", daemon=True)
        thread.start()
        thread.join(limit)
        if thread.is_alive():
            raise self.budget.expired(what, limit, by_budget)
        if "error" in box:
            raise box["error"]
        return box["value"]
