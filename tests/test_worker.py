"""compare.grader.sandbox.worker, observed from inside a real worker.

A probe submission (``PROBE``) is started the way the grader starts one (``isolation.start_worker``)
and spoken to in ``wire`` frames. Its factory reports what the student's code can see and do —
its resource limits (read back, and an attempt to raise them), the parent-death signal, stdin,
which imports it is refused even when the module exists on its path — as the ``params`` the
grader reads back. Nothing here trusts the worker's own account of itself: each fact is what a
submission's code observes.
"""

from __future__ import annotations

import ctypes  # noqa: F401 - imported before a fork: the worker below needs no file it could not read
import os
import resource  # noqa: F401
import select
import shutil
import socket
import sys
import tempfile
import warnings  # noqa: F401
from pathlib import Path

import numpy as np
import pytest

from compare.grader.sandbox import wire
from compare.grader.submissions.submission import resolve
from compare.grader.workers import isolation

# What the course refuses by default: the answer key, torch, and every autograd library. Spelled out
# here (not read from the code under test), so that an entry dropped from the grader's list is noticed.
REFUSED = ("autograd", "compare", "jax", "jaxlib", "manual", "mlx", "mxnet", "reference", "tensorflow",
           "theano", "tinygrad", "torch")
ANSWER_KEY = ("compare", "manual", "reference")
LIMITS = isolation.Limits(memory_mb=1536, cpu_seconds=77, processes=29, file_mb=5, open_files=61)
EXPECTED = {"as": 1536 << 20, "cpu": 77, "nproc": 29, "fsize": 5 << 20, "nofile": 61, "core": 0}

PROBE = '''
import ctypes, os, resource, sys, tempfile, warnings
import numpy as np

LIMITS = {"as": resource.RLIMIT_AS, "cpu": resource.RLIMIT_CPU, "nproc": resource.RLIMIT_NPROC,
          "fsize": resource.RLIMIT_FSIZE, "nofile": resource.RLIMIT_NOFILE, "core": resource.RLIMIT_CORE}


def limits():
    seen = {}
    for name, which in LIMITS.items():
        seen[name + ".soft"], seen[name + ".hard"] = resource.getrlimit(which)
    for name, which in LIMITS.items():  # only after all are read: a raise that works changes them
        soft, hard = resource.getrlimit(which)
        try:
            resource.setrlimit(which, (soft, hard + 1))
            seen[name + ".raised"] = 1
        except (ValueError, OSError):
            seen[name + ".raised"] = 0
    return seen


def process():
    death = ctypes.c_int(-1)
    ctypes.CDLL(None, use_errno=True).prctl(2, ctypes.byref(death))  # PR_GET_PDEATHSIG
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    try:
        sys.stdin.readline()
        stdin = 1
    except (AttributeError, RuntimeError):
        stdin = 0
    try:
        input("learning rate? ")
        prompt = 1
    except (RuntimeError, EOFError):
        prompt = 0
    with warnings.catch_warnings(record=True) as shown:
        warnings.warn("overflow in exp", RuntimeWarning)  # a student's warnings: noise for the grader
    return {"pdeathsig": death.value, "cap_sys_resource": (int(status["CapEff"], 16) >> 24) & 1,
            "stdin_readable": stdin, "input_answers": prompt, "stdin_fd_bytes": len(os.read(0, 16)),
            "warnings_shown": len(shown), "uid": os.getuid(),
            "gid": os.getgid(), "groups": len(os.getgroups()),
            "isolated": sys.flags.isolated, "no_site": sys.flags.no_site,
            "dont_write_bytecode": sys.flags.dont_write_bytecode}


def imports(*names):
    """Each name as a real package on the path (a student may ship one): 1 refused, 0 imported, 2 other."""
    folder = tempfile.mkdtemp()
    sys.path.insert(0, folder)
    seen = {}
    for name in names:
        os.makedirs(os.path.join(folder, name))
        with open(os.path.join(folder, name, "__init__.py"), "w") as fh:
            fh.write("VALUE = 1\\n")
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[loaded]  # a forked worker inherits the test process's modules (torch, once imported)
        try:
            __import__(name)
            seen[name] = 0
        except ImportError as error:
            seen[name] = 1 if getattr(error, "forbidden", False) else 2
    return seen


def module_name():
    return {__name__: 0}


def sibling():
    import helper  # a file beside the submission: its folder is on the path

    return {"answer": helper.ANSWER}


def long_name():
    exec("def " + "f" * 3000 + "():\\n    raise ValueError('x')\\n" + "f" * 3000 + "()\\n", {})


def fail_import(name):
    __import__(name)


def set_reply(loss, grads):
    Probe.reply = (loss, {name: np.array(value) for name, value in grads.items()})


class Probe:
    def __init__(self, what, *args):
        values = globals()[what](*args)
        self.params = {key: np.array(float(value)) for key, value in (values or {}).items()}

    def loss_and_grads(self, *args):
        return self.reply

    def echo(self, X, y):
        """The loss is what it was given; the gradients are its params, as they are now."""
        return float(X.sum()) + y, dict(self.params)

    def huge(self, *args):
        half = np.zeros(wire_half)  # two of these fill the body to its cap; the loss is 8 bytes more
        return 0.0, {"a": half, "b": half.copy()}


wire_half = 4 * 1024 * 1024
'''


HELPER = "ANSWER = 42\n"


class Worker:
    """A real worker on the probe, spoken to as the grader does: one frame out, one frame back."""

    def __init__(self, folder: Path, limits=LIMITS, level: str = "auto"):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "probe.py").write_text(PROBE)
        (folder / "helper.py").write_text(HELPER)
        sub = resolve(f"{folder / 'probe.py'}:Probe")
        self.worker = isolation.start_worker(sub, limits, (), level)
        self.level = self.worker.level
        self.module_name = sub.module_name
        self.connect(self.worker.sock, self.worker.root_inside, sub.file)

    def connect(self, sock, root: str, file: str):
        self.sock = sock
        self.sock.setblocking(True)
        self.sock.settimeout(60)
        self.seq = 0
        header, _ = self.request({"op": "load", "module": None, "attr": "Probe", "sys_path": [root],
                                  "cwd": root, "file": f"{root}/{file}", "module_name": self.module_name})
        assert header["status"] == "ok", header

    def request(self, header: dict, arrays: dict | None = None):
        self.seq += 1
        wire.write_frame(self.sock, {"seq": self.seq, **header}, arrays)
        reply, out = wire.read_frame(self.sock)
        assert reply["seq"] == self.seq, reply  # every reply, ok or not, answers the request it follows
        return reply, out

    def make(self, *args, key="probe"):
        header, arrays = self.request({"op": "make", "key": key, "call": f"Probe{args}", "args": list(args),
                                       "method": "loss_and_grads"})
        assert header["status"] == "ok", header
        assert header["names"] == list(arrays)  # the grader reads the params by the names listed
        return {name: float(value) for name, value in arrays.items()}

    def close(self):
        self.worker.kill()

    def stderr(self) -> bytes:
        try:
            return os.read(self.worker.stderr_fd, 1 << 16)
        except BlockingIOError:
            return b""


@pytest.fixture(scope="module", params=[isolation.PROCESS, isolation.BUBBLEWRAP])
def worker(request, tmp_path_factory):
    """A worker at each level the machine has (the facts below hold at both)."""
    if request.param == isolation.BUBBLEWRAP and not isolation.bubblewrap_works():
        pytest.skip("bubblewrap cannot run here")
    started = Worker(tmp_path_factory.mktemp("probe") / "student", level=request.param)
    yield started
    started.close()


@pytest.fixture(scope="module")
def process(worker):
    return worker.make("process")


# ----------------------------------------------------------------------------- resource limits
@pytest.fixture(scope="module")
def limits(worker):
    return worker.make("limits", key="limits")


def skip_nproc_under_the_graders_own_user(name: str, process: dict) -> None:
    if name == "nproc" and process["uid"] == os.getuid():
        pytest.skip("RLIMIT_NPROC counts every process of a user id: it is for a worker under its own user id")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_limit_is_set_soft_and_hard(limits, process, name):
    skip_nproc_under_the_graders_own_user(name, process)
    assert (limits[f"{name}.soft"], limits[f"{name}.hard"]) == (EXPECTED[name], EXPECTED[name])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_student_code_cannot_raise_a_limit(limits, process, name):
    skip_nproc_under_the_graders_own_user(name, process)
    if process["cap_sys_resource"]:
        pytest.skip("the grader runs with CAP_SYS_RESOURCE and no sandbox: its worker could raise limits")
    assert limits[f"{name}.raised"] == 0


# ----------------------------------------------------------------------------- the process
def test_the_worker_dies_with_the_grader(process):
    assert process["pdeathsig"] == 9  # SIGKILL, set after any change of user id (which would clear it)


def test_stdin_is_closed(process):
    assert process["stdin_readable"] == 0 and process["input_answers"] == 0
    assert process["stdin_fd_bytes"] == 0  # fd 0 is /dev/null, never the grader's terminal


def test_a_module_beside_the_submission_can_be_imported(worker):
    assert worker.make("sibling", key="sibling") == {"answer": 42.0}


def test_params_written_by_the_grader_are_what_the_method_reads(worker):
    assert worker.make("sibling", key="written") == {"answer": 42.0}
    header, _ = worker.request({"op": "set_params", "key": "written"}, {"answer": np.array([3.0, 4.0])})
    assert header["status"] == "ok", header
    header, out = worker.request({"op": "call", "key": "written", "method": "echo", "signature": "X, y",
                                  "args": [{"array": "X"}, {"value": 0.5}]}, {"X": np.array([[1.0, 2.0]])})
    assert header["status"] == "ok" and header["names"] == ["answer"], header
    assert float(out["loss"]) == 3.5 and out["g:answer"].tolist() == [3.0, 4.0]


def test_a_student_chosen_name_is_cut_in_the_workers_message(worker):
    """A function named with 3,000 characters: the host cuts the name (the worker's own cap of 2,000
    characters is a second line of defence no message reaches now)."""
    header, _ = worker.request({"op": "make", "key": "long", "call": "f()", "args": ["long_name"],
                                "method": "loss_and_grads"})
    assert header["status"] == "error" and header["kind"] == "raised", header
    assert len(header["message"]) < 200 and "f" * 59 + "…" in header["message"]


def test_the_student_module_is_loaded_under_the_name_the_grader_gives(worker):
    assert list(worker.make("module_name", key="name")) == [worker.module_name]


def test_the_interpreter_ignores_the_environment_and_student_warnings(process):
    assert (process["isolated"], process["no_site"], process["dont_write_bytecode"]) == (1, 1, 1)
    assert process["warnings_shown"] == 0


def test_student_code_runs_under_a_throwaway_user_id(worker, process):
    if worker.level != isolation.BUBBLEWRAP or not isolation.throwaway_uid_works():
        pytest.skip("the worker drops to a throwaway user id only in bubblewrap, started as root")
    assert isolation.THROWAWAY_UIDS[0] <= process["uid"] < isolation.THROWAWAY_UIDS[1]
    assert (process["gid"], process["groups"]) == (process["uid"], 0)


# ----------------------------------------------------------------------------- refused imports
@pytest.fixture(scope="module")
def imports(worker):
    return worker.make("imports", *REFUSED, "json_twin", key="imports")


@pytest.mark.parametrize("name", REFUSED)
def test_every_refused_import_is_refused_even_when_it_is_on_the_path(imports, name):
    assert imports[name] == 1


def test_a_package_that_is_not_refused_imports(imports):
    assert imports["json_twin"] == 0  # the fake packages do import: the refusals above are the hook's


@pytest.mark.parametrize("name", REFUSED)
def test_a_refused_import_says_what_it_is(worker, name):
    header, arrays = worker.request({"op": "make", "key": "x", "call": "Probe('fail_import')",
                                     "args": ["fail_import", name], "method": "loss_and_grads"})
    assert header["status"] == "error" and header["kind"] == "forbidden" and arrays == {}
    what = "the answer key" if name in ANSWER_KEY else "an autograd library"
    assert f"imports {name}: this assignment is NumPy only ({name} is {what}" in header["message"]
    assert f"--allow-import {name}" in header["message"]


# ----------------------------------------------------------------------------- requests and replies
def test_a_request_it_does_not_know_is_an_error_reply_and_the_worker_goes_on(worker):
    header, arrays = worker.request({"op": "format_disk"})
    assert (header["status"], header["kind"], header["seq"]) == ("error", "contract", worker.seq)
    assert "unknown request 'format_disk'" in header["message"] and arrays == {} and header["exc_type"] is None
    header, arrays = worker.request({"op": "make", "key": "y"})  # no args: the worker's KeyError, said
    assert (header["status"], header["kind"], header["seq"]) == ("error", "raised", worker.seq)
    assert header["exc_type"] == "KeyError" and header["message"].startswith("make raised KeyError: 'args'")
    assert worker.make("process", key="again")["pdeathsig"] == 9


def test_a_call_returns_the_loss_and_every_gradient_under_g_names(worker):
    long_name = "W" * 64  # the longest parameter name the host accepts
    header, arrays = call(worker, "call", reply=(1.25, {long_name: [1.0, 2.0], "b": [3.0]}))
    assert header["status"] == "ok", header
    assert sorted(header["names"]) == sorted([long_name, "b"])
    assert set(arrays) == {"loss", f"g:{long_name}", "g:b"} and float(arrays["loss"]) == 1.25
    assert arrays[f"g:{long_name}"].tolist() == [1.0, 2.0] and arrays["g:b"].dtype == np.float64


def call(worker, key, reply):
    """Make an object whose method returns ``reply``, write its (no) params, then call the method."""
    loss, grads = reply
    header, _ = worker.request({"op": "make", "key": key, "call": "Probe.set", "args": ["set_reply", loss, grads],
                                "method": "loss_and_grads"})
    assert header["status"] == "ok", header
    header, _ = worker.request({"op": "set_params", "key": key})
    assert header["status"] == "ok", header
    return worker.request({"op": "call", "key": key, "method": "loss_and_grads", "signature": "X",
                           "args": [{"value": 1}]})


def test_a_reply_over_the_cap_is_said_not_sent(worker):
    worker.make("process", key="huge")
    header, arrays = worker.request({"op": "call", "key": "huge", "method": "huge", "signature": "X",
                                     "args": [{"value": 1}]})
    assert header["status"] == "error" and header["kind"] == "contract" and arrays == {}
    assert header["message"] == "cannot send the result back: WireError" and header["seq"] == worker.seq
    assert worker.make("process", key="after")["pdeathsig"] == 9  # the channel still works


def test_the_worker_ends_quietly_when_the_grader_hangs_up(tmp_path):
    started = Worker(tmp_path / "student")
    try:
        started.sock.close()
        assert isolation.wait_gone(started.worker, timeout=30)
        assert started.worker.process.returncode == 0 and started.stderr() == b""
    finally:
        started.close()


def test_the_worker_ends_quietly_when_the_grader_hangs_up_without_reading_its_reply(tmp_path):
    started = Worker(tmp_path / "student")
    try:
        wire.write_frame(started.sock, {"seq": 2, "op": "make", "key": "k", "call": "Probe('process')",
                                        "args": ["process"], "method": "loss_and_grads"})
        readable, _, _ = select.select([started.sock], [], [], 60)
        assert readable
        started.sock.close()  # the reply unread: the worker's next read is a reset connection, not an EOF
        assert isolation.wait_gone(started.worker, timeout=30)
        assert started.worker.process.returncode == 0 and started.stderr() == b""
    finally:
        started.close()


def test_a_malformed_request_ends_the_worker(tmp_path):
    started = Worker(tmp_path / "student")
    try:
        started.sock.sendall(wire.PREFIX.pack(wire.MAGIC, 12, 0) + b'{"seq": NaN}')
        assert isolation.wait_gone(started.worker, timeout=30)
        assert started.worker.process.returncode == 0 and started.stderr() == b""
    finally:
        started.close()


# ----------------------------------------------------------------------------- under a throwaway user id
DROPPED_UID, DROPPED_GID = 65123, 65124
DROPPED_LIMITS = {"as": 1 << 40, "cpu": 300, "nproc": 64, "fsize": 5 << 20, "nofile": 1024}


class ForkedWorker(Worker):
    """``worker.main`` in a fork of this process, started as root with ``--uid``: what the sandbox does
    as root (where ``bwrap`` runs), without needing ``bwrap``. The modules the worker needs are imported
    already, so the throwaway user needs to read only the probe."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="bp-probe-"))
        self.folder.chmod(0o755)
        (self.folder / "probe.py").write_text(PROBE)
        (self.folder / "probe.py").chmod(0o644)
        (self.folder / "helper.py").write_text(HELPER)
        (self.folder / "helper.py").chmod(0o644)
        self.module_name = "submission"
        grader, child = socket.socketpair()
        limits = ",".join(f"{key}={value}" for key, value in DROPPED_LIMITS.items())
        self.pid = os.fork()
        if self.pid == 0:  # the worker: never returns into pytest
            try:
                grader.close()
                os.setgroups([0, 4, 27])  # an administrator's groups: the worker must leave them all
                from compare.grader.sandbox import worker

                for name in [n for n in sys.modules if n.partition(".")[0] in REFUSED]:
                    del sys.modules[name]  # as in a fresh process: what pytest imported is not there to find
                worker.main(["--fd", str(child.fileno()), "--uid", str(DROPPED_UID), "--gid", str(DROPPED_GID),
                             "--limits", limits, "--deny", ",".join(REFUSED)])
                code = 0
            except BaseException:  # noqa: BLE001
                code = 1
            os._exit(code)
        child.close()
        self.sock = grader
        try:
            self.connect(grader, str(self.folder), "probe.py")
        except BaseException:
            self.close()
            raise

    def close(self) -> int:
        """Hang up, wait for the worker, remove its folder; the worker's exit status."""
        self.sock.close()
        _, status = os.waitpid(self.pid, 0)
        shutil.rmtree(self.folder, ignore_errors=True)
        return os.waitstatus_to_exitcode(status)


@pytest.fixture(scope="module")
def dropped():
    if os.geteuid() != 0:
        pytest.skip("only root can start a worker that drops to a throwaway user id")
    grading = Path(isolation.__file__).resolve().parent
    if any(folder.stat().st_mode & 0o005 != 0o005 for folder in (grading, *grading.parents)):
        pytest.skip(f"the throwaway user could not read the worker's own files in {grading}")
    started = ForkedWorker()
    try:
        seen = {**started.make("process"), **started.make("limits", key="limits"),
                **started.make("sibling", key="s"), **started.make("imports", "torch", "json_twin", key="imports")}
    finally:
        code = started.close()
    assert code == 0  # the grader hung up: the worker ended quietly
    return seen


def test_a_worker_started_as_root_runs_student_code_as_the_throwaway_user(dropped):
    assert (dropped["uid"], dropped["gid"], dropped["groups"]) == (DROPPED_UID, DROPPED_GID, 0)


def test_the_throwaway_user_reads_its_own_folder(dropped):
    assert dropped["answer"] == 42


def test_the_parent_death_signal_survives_the_change_of_user(dropped):
    assert dropped["pdeathsig"] == 9


def test_the_throwaway_user_cannot_raise_any_limit(dropped):
    for name, value in {**DROPPED_LIMITS, "core": 0}.items():
        assert (dropped[f"{name}.soft"], dropped[f"{name}.hard"]) == (value, value), name
        assert dropped[f"{name}.raised"] == 0, name


def test_imports_are_refused_under_the_throwaway_user_too(dropped):
    assert (dropped["torch"], dropped["json_twin"]) == (1, 0)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
