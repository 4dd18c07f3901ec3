"""The grader's side of a worker, against a worker the test plays itself (no process started).

What a hostile or broken worker can do to the grader through its channel and its stderr, and
what the grader then says: every request's frame, every deadline, every kind of end (an exit
code, a signal, a closed channel, a limit), and the time limits of trusted in-process code.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from compare.grader.sandbox import wire
from compare.grader.sandbox.errors import StudentError
from compare.grader.submissions.submission import Submission
from compare.grader.workers import runner as runner_module
from compare.grader.workers.runner import Budget, InProcessRunner, WorkerRunner


# ----------------------------------------------------------------------------- Budget
@pytest.mark.parametrize("timeout, budget", [(0, None), (-1, None), (float("nan"), None), (1, 0), (1, -2),
                                             (1, float("nan"))])
def test_a_time_limit_must_be_positive(timeout, budget):
    with pytest.raises(ValueError, match=f"timeout and budget must be > 0 seconds, got {timeout!r} and {budget!r}"):
        Budget(timeout, budget)


def test_without_a_budget_each_request_has_its_timeout():
    budget = Budget(3, None)
    budget.begin()
    assert budget.limit("x") == (3.0, False) and budget.limit("x", timeout=7) == (7.0, False)


def test_a_budget_shorter_than_the_timeout_sets_the_limit():
    budget = Budget(1000, 50)
    budget.begin()
    limit, by_budget = budget.limit("x")
    assert 0 < limit <= 50 and by_budget is True
    assert budget.limit("x", timeout=10) == (10.0, False)


def test_the_budgets_bounds_exactly(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(runner_module.time, "monotonic", lambda: now[0])
    budget = Budget(5, 60)
    budget.begin()
    assert budget.deadline == 1060.0
    now[0] = 1055.0  # exactly the timeout left: the timeout sets it
    assert budget.limit("x") == (5.0, False)
    now[0] = 1055.5
    assert budget.limit("x") == (4.5, True)
    now[0] = 1060.0  # nothing left
    with pytest.raises(StudentError, match="ran out before x"):
        budget.limit("x")


def test_a_spent_budget_refuses_the_next_request():
    budget = Budget(5, 2.5)
    budget.begin()
    budget.deadline = time.monotonic()  # spent
    with pytest.raises(StudentError, match=r"the total time budget of 2.5 s ran out before loading x \(far too slow"):
        budget.limit("loading x")


def test_what_an_expired_request_says():
    budget = Budget(1.5, 30)
    assert str(budget.expired("Net()", 1.5, False)) == "Net() did not return within 1.5 s (stuck in a loop, or far too slow?)"
    said = budget.expired("Net()", 0.2, True)
    assert said.kind == "timeout" and str(said) == ("Net() did not return before the total time budget of 30 s ran out "
                                                    "(far too slow, or stuck in a loop?)")


# ----------------------------------------------------------------------------- a worker the test plays
class Process:
    def __init__(self, code=None):
        self.code, self.killed = code, False

    def wait(self, timeout=None):
        if self.code is None:
            raise TimeoutError
        return self.code


class PlayedWorker:
    """The grader's end of a channel and a stderr pipe whose other ends the test holds."""

    def __init__(self, code=None, over=None):
        self.sock, self.peer = socket.socketpair()
        self.sock.setblocking(False)
        self.stderr_fd, self.stderr_w = os.pipe()
        os.set_blocking(self.stderr_fd, False)
        self.process = Process(code)
        self.over = over
        self.killed = False
        self.root_inside = "/submission"

    def overuse(self):
        return self.over

    def ended(self):
        return self.process.code is not None

    def describe(self):
        return "played by the test"

    def kill(self):
        if not self.killed:
            self.killed = True
            for fd in (self.stderr_fd, self.stderr_w):
                os.close(fd)
            self.sock.close()

    def request(self):
        return wire.read_frame(self.peer)

    def reply(self, header: dict, arrays: dict | None = None, seq: int = 1):
        self.peer.sendall(wire.encode({"seq": seq, **header}, arrays))


def submission(tmp_path: Path) -> Submission:
    (tmp_path / "net.py").write_text("class Net:\n    pass\n")
    return Submission(spec=f"{tmp_path}/net.py:Net", root=tmp_path, attr="Net", file="net.py", stubs=("sklearn",),
                      locations={"net.py": lambda line: f"hw.ipynb cell 3, line {line}"})


@pytest.fixture
def played(tmp_path):
    runner = WorkerRunner(submission(tmp_path), timeout=5)
    runner.worker = worker = PlayedWorker()
    yield runner, worker
    worker.kill()
    worker.peer.close()


def answer_later(worker: PlayedWorker, header: dict, arrays: dict | None = None):
    """Read the next request in a thread and answer it; returns what was asked (once joined)."""
    asked = {}

    def play():
        asked["header"], asked["arrays"] = worker.request()
        asked["listed"] = asked["header"].pop("arrays")  # the wire's own list of the arrays
        worker.reply(header, arrays, seq=asked["header"]["seq"])

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread, asked


def test_a_runner_never_started_has_nothing_to_close(tmp_path):
    runner = WorkerRunner(submission(tmp_path))
    assert runner.level is None and runner.budget.timeout == 10.0 and runner.budget.budget is None
    runner.close()
    with pytest.raises(StudentError, match=r"the implementation's process is gone \(before Net\(\)\)"):
        runner.make("k", "Net()", [], "loss_and_grads")


def test_allowing_the_answer_key_is_refused_when_the_runner_is_made(tmp_path):
    with pytest.raises(ValueError, match="manual"):
        WorkerRunner(submission(tmp_path), allow_imports=("manual",))


def test_start_sends_what_to_load_within_the_load_timeout(tmp_path, monkeypatch):
    worker = PlayedWorker()
    started = {}

    def start_worker(sub, limits, allow_imports, isolation):
        started.update(limits=limits, allow_imports=allow_imports, isolation=isolation)
        return worker

    monkeypatch.setattr(runner_module, "start_worker", start_worker)
    runner = WorkerRunner(submission(tmp_path), isolation="process", allow_imports=("scipy",),
                          also_factories=("build",))
    thread, asked = answer_later(worker, {"status": "ok"})
    runner.start()
    thread.join()
    assert runner.loaded and runner.level == "played by the test" and runner.load_timeout == 10.0
    assert started == {"limits": runner_module.Limits(), "allow_imports": ("scipy",), "isolation": "process"}
    assert asked["header"] == {"seq": 1, "op": "load", "module": None, "attr": ["Net", "build"],
                               "sys_path": ["/submission"], "cwd": "/submission", "file": "/submission/net.py",
                               "module_name": "net", "stubs": ["sklearn"]}
    runner.close()
    assert worker.killed and runner.worker is None
    runner.close()  # twice: nothing more to do


def test_a_runner_used_as_a_context_starts_and_always_kills_its_worker(tmp_path, monkeypatch):
    worker = PlayedWorker()
    monkeypatch.setattr(runner_module, "start_worker", lambda *args: worker)
    thread, asked = answer_later(worker, {"status": "ok"})
    with pytest.raises(KeyError), WorkerRunner(submission(tmp_path)) as runner:
        thread.join()
        assert runner.loaded and asked["header"]["op"] == "load" and not worker.killed
        raise KeyError("the grader's own error")
    assert worker.killed and runner.worker is None


def test_the_budget_counts_from_the_start(tmp_path, monkeypatch):
    worker = PlayedWorker()  # it never answers
    monkeypatch.setattr(runner_module, "start_worker", lambda *args: worker)
    runner = WorkerRunner(submission(tmp_path), budget=0.3)
    with pytest.raises(StudentError, match="^loading .*net.py:Net did not return before the total time budget of "
                                           "0.3 s ran out"):
        runner.start()


def test_a_load_that_fails_is_not_loaded(tmp_path, monkeypatch):
    worker = PlayedWorker()
    monkeypatch.setattr(runner_module, "start_worker", lambda *args: worker)
    runner = WorkerRunner(submission(tmp_path))
    thread, _ = answer_later(worker, {"status": "error", "kind": "load", "message": "net.py:4: SyntaxError"})
    with pytest.raises(StudentError, match="hw.ipynb cell 3, line 4: SyntaxError") as caught:
        runner.start()
    thread.join()
    assert caught.value.kind == "load" and runner.loaded is False


def test_a_call_sends_arrays_as_arrays_and_the_rest_as_values(played):
    runner, worker = played
    thread, asked = answer_later(worker, {"status": "ok", "names": ["W1"]},
                                 {"loss": np.float64(0.5).reshape(()), "g:W1": np.ones(2)})
    X = np.arange(6.0).reshape(2, 3)
    loss, grads = runner.call("k", "loss_and_grads", [("X", X), ("y", np.array([0, 1])), ("lambdas", [0.1, 0.0])],
                              "a call")
    thread.join()
    assert asked["header"] == {"seq": 1, "op": "call", "key": "k", "method": "loss_and_grads",
                               "signature": "X, y, lambdas",
                               "args": [{"array": "X"}, {"array": "y"}, {"value": [0.1, 0.0]}]}
    assert set(asked["arrays"]) == {"X", "y"} and np.array_equal(asked["arrays"]["X"], X)
    assert loss == 0.5 and np.array_equal(grads["W1"], np.ones(2))


def test_make_and_set_params_send_their_request(played):
    runner, worker = played
    thread, asked = answer_later(worker, {"status": "ok", "names": ["b1", "W1"]},
                                 {"W1": np.ones((2, 2)), "b1": np.zeros(2)})
    params = runner.make("k", "Net([2, 2], 'relu')", [[2, 2], "relu"], "loss_and_grads")
    thread.join()
    assert asked["header"] == {"seq": 1, "op": "make", "key": "k", "call": "Net([2, 2], 'relu')",
                               "args": [[2, 2], "relu"], "method": "loss_and_grads"}
    assert list(params) == ["b1", "W1"]
    thread, asked = answer_later(worker, {"status": "ok"})
    runner.set_params("k", {"W1": np.full((2, 2), 3.0)}, "writing params")
    thread.join()
    assert asked["header"] == {"seq": 2, "op": "set_params", "key": "k"} and asked["arrays"]["W1"][0, 0] == 3.0


def test_a_reply_to_an_earlier_request_is_out_of_order(played):
    runner, worker = played
    runner.seq = 4
    thread = threading.Thread(target=lambda: (worker.request(), worker.reply({"status": "ok"}, seq=4)), daemon=True)
    thread.start()
    with pytest.raises(StudentError, match="sent a reply out of order during writing params") as caught:
        runner.set_params("k", {}, "writing params")
    thread.join()
    assert caught.value.kind == "channel" and worker.killed


def test_a_second_reply_to_one_request_is_out_of_order_at_the_next(played):
    runner, worker = played
    frame = wire.encode({"seq": 1, "status": "ok"})
    worker.peer.sendall(frame + frame)
    runner.set_params("k", {}, "writing params")  # only its own reply is read
    with pytest.raises(StudentError, match="sent a reply out of order during a call") as caught:
        runner.set_params("k", {}, "a call")
    assert caught.value.kind == "channel" and worker.killed


def test_bytes_after_a_reply_are_a_malformed_next_reply(played):
    runner, worker = played
    worker.peer.sendall(wire.encode({"seq": 1, "status": "ok"}) + b"BP" * 20)
    runner.set_params("k", {}, "writing params")
    with pytest.raises(StudentError, match="sent a malformed reply during a call") as caught:
        runner.set_params("k", {}, "a call")
    assert caught.value.kind == "channel" and worker.killed


def test_a_reply_read_together_with_more_is_refused(played):
    runner, worker = played
    frame = wire.encode({"seq": 1, "status": "ok"})
    runner.reader.feed(frame[:-1])  # all but its last byte read already: the next recv asks for one byte
    worker.peer.sendall(frame[-1:])
    assert runner._receive(time.monotonic() + 5, "x")[0]["seq"] == 1
    runner.reader.feed(frame[:10])
    worker.peer.sendall(frame[10:] + frame)
    runner.reader.needed = lambda: 1 << 20  # a reader that asks for more than one frame's rest
    with pytest.raises(wire.WireError, match="more than one reply to one request"):
        runner._receive(time.monotonic() + 5, "x")


@pytest.mark.parametrize("kind", ["load", "forbidden", "raised", "contract", "channel", "timeout", "died"])
def test_every_known_kind_of_error_is_kept(played, kind):
    runner, worker = played
    worker.reply({"status": "error", "kind": kind, "message": "said"})
    with pytest.raises(StudentError) as caught:
        runner.set_params("k", {}, "writing params")
    assert caught.value.kind == kind and str(caught.value) == "said" and caught.value.exc_type is None


def test_an_error_of_a_kind_of_its_own_breaks_the_contract(played):
    runner, worker = played
    worker.reply({"status": "error", "kind": "pwned", "message": "x" * 5000})
    with pytest.raises(StudentError) as caught:
        runner.set_params("k", {}, "writing params")
    assert caught.value.kind == "contract" and str(caught.value) == "x" * 599 + "…"


def test_an_error_without_a_message_says_so(played):
    runner, worker = played
    worker.reply({"status": "error", "kind": "raised", "exc_type": "K" * 100})
    with pytest.raises(StudentError) as caught:
        runner.set_params("k", {}, "writing params")
    assert str(caught.value) == "(no message)" and caught.value.exc_type == "K" * 59 + "…"
    assert not worker.killed  # an error reply is an answer: the worker goes on


def test_a_request_that_gets_no_answer_times_out_and_the_worker_is_killed(tmp_path):
    runner = WorkerRunner(submission(tmp_path), timeout=0.2)
    runner.worker = worker = PlayedWorker()
    worker.peer.sendall(wire.encode({"seq": 1, "status": "ok"})[:20])  # a partial frame, then nothing
    with pytest.raises(StudentError, match=r"^writing params did not return within 0.2 s") as caught:
        runner.set_params("k", {}, "writing params")
    assert caught.value.kind == "timeout" and worker.killed and runner.worker is None


def test_a_reply_in_the_last_second_is_read(tmp_path):
    runner = WorkerRunner(submission(tmp_path), timeout=0.5)
    runner.worker = worker = PlayedWorker()
    worker.reply({"status": "ok"})  # there before it is asked for: read at once
    runner.set_params("k", {}, "writing params")
    assert not worker.killed


def test_a_request_cut_short_by_the_budget_says_so(tmp_path):
    runner = WorkerRunner(submission(tmp_path), timeout=60, budget=0.3)
    runner.budget.begin()
    runner.worker = worker = PlayedWorker()
    with pytest.raises(StudentError, match="before the total time budget of 0.3 s ran out") as caught:
        runner.set_params("k", {}, "writing params")
    assert caught.value.kind == "timeout" and worker.killed


@pytest.mark.parametrize("code, how", [
    (0, "exit code 0"), (3, "exit code 3"), (-9, "killed by signal 9"),
    (-24, "killed by signal 24, its CPU time limit"), (-11, "killed by signal 11"),
    (None, "it closed the grader's channel"),
])
def test_a_worker_that_ends_says_how_with_its_last_line(played, code, how):
    runner, worker = played
    worker.process.code = code
    os.write(worker.stderr_w, b"Traceback (most recent call last):\n  ...\nMemoryError: out of it\n\n")
    worker.peer.close()
    with pytest.raises(StudentError) as caught:
        runner.set_params("k", {}, "writing params")
    assert caught.value.kind == "died"
    assert str(caught.value) == f"the implementation's process ended during writing params ({how}): MemoryError: out of it"
    assert worker.killed


def test_a_worker_that_dies_after_reading_the_request_is_dead(played):
    runner, worker = played

    def play():
        worker.request()
        os.write(worker.stderr_w, b"Segmentation fault\n")
        worker.process.code = -11
        worker.peer.close()

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    with pytest.raises(StudentError) as caught:
        runner.set_params("k", {}, "writing params")
    thread.join()
    assert caught.value.kind == "died" and str(caught.value) == (
        "the implementation's process ended during writing params (killed by signal 11): Segmentation fault")


def test_only_the_last_bytes_of_stderr_are_kept(played):
    runner, worker = played
    worker.process.code = 1
    os.write(worker.stderr_w, b"first line\n" + b"x" * 10_000 + b"\nthe dying line\n")
    worker.peer.close()
    with pytest.raises(StudentError, match=r"\(exit code 1\): the dying line$"):
        runner.set_params("k", {}, "writing params")
    assert len(runner.stderr_tail) == runner_module.STDERR_TAIL == 4096
    assert runner.stderr_tail.endswith(b"the dying line\n") and b"first line" not in runner.stderr_tail


def test_a_worker_gone_without_a_word_says_nothing_more(played):
    runner, worker = played
    worker.process.code = 0
    worker.peer.close()
    with pytest.raises(StudentError) as caught:
        runner.set_params("k", {}, "writing params")
    assert str(caught.value) == "the implementation's process ended during writing params (exit code 0)"


def test_a_worker_that_ended_while_a_child_holds_the_channel_is_dead(played):
    runner, worker = played
    worker.process.code = -9  # ended; the peer end stays open (a child of it holds the channel)
    with pytest.raises(StudentError, match=r"ended during writing params \(killed by signal 9\)"):
        runner.set_params("k", {}, "writing params")


def test_a_submission_over_a_limit_is_stopped_with_the_limit_named(played):
    runner, worker = played
    worker.over = "started more than 3 processes"
    with pytest.raises(StudentError) as caught:
        runner.set_params("k", {}, "writing params")
    assert caught.value.kind == "died" and worker.killed and runner.worker is None
    assert str(caught.value) == ("the implementation's process was stopped during writing params: "
                                 "it started more than 3 processes")


class CountingSocket:
    """The grader's end of the channel, counting what the grader has read from it."""

    def __init__(self, sock):
        self.sock, self.received = sock, 0

    def recv(self, n):
        data = self.sock.recv(n)
        self.received += len(data)
        return data

    def send(self, data):
        return self.sock.send(data)

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.sock.close()


def test_what_it_did_in_a_quick_request_is_measured_too(played, monkeypatch):
    runner, worker = played
    frame = wire.encode({"seq": 1, "status": "ok"})
    worker.sock = counting = CountingSocket(worker.sock)
    # over a limit only once the whole reply is in: only a look after the reply can see it
    worker.overuse = lambda: "wrote more than 2 MiB" if counting.received == len(frame) else None
    worker.peer.sendall(frame)
    monkeypatch.setattr(runner_module, "CHECK_INTERVAL", 0)  # a look on every pass: the last one after the reply
    with pytest.raises(StudentError, match="stopped during writing params: it wrote more than 2 MiB"):
        runner.set_params("k", {}, "writing params")


def test_a_large_request_is_sent_whole_while_the_worker_reads(played):
    runner, worker = played
    big = np.arange(1 << 20, dtype=np.float64)  # 8 MiB: many times a socket's buffer
    thread, asked = answer_later(worker, {"status": "ok"})
    runner.set_params("k", {"W1": big}, "writing params")
    thread.join()
    assert np.array_equal(asked["arrays"]["W1"], big)


def test_a_worker_that_floods_its_stderr_is_still_heard(played):
    runner, worker = played

    def play():
        worker.request()
        os.write(worker.stderr_w, b"warning\n" * 40_000)  # 320 kB: far more than a pipe holds, unless read
        worker.reply({"status": "ok"})

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    runner.set_params("k", {}, "writing params")
    thread.join()
    assert runner.stderr_tail.endswith(b"warning\n") and len(runner.stderr_tail) == 4096


def test_sending_stops_at_the_deadline(played, monkeypatch):
    runner, worker = played
    now = [100.0]
    monkeypatch.setattr(runner_module.time, "monotonic", lambda: now[0])
    with pytest.raises(TimeoutError):
        runner._send(b"frame", 100.0, "x")  # no time left
    runner._send(b"frame", 100.5, "x")  # half a second left: sent
    assert worker.peer.recv(10) == b"frame"


def test_receiving_stops_at_the_deadline_even_with_a_reply_waiting(played, monkeypatch):
    runner, worker = played
    monkeypatch.setattr(runner_module.time, "monotonic", lambda: 100.0)
    worker.reply({"status": "ok"})
    with pytest.raises(TimeoutError):
        runner._receive(100.0, "x")  # no time left: what is waiting is not read
    assert runner._receive(100.5, "x")[0] == {"seq": 1, "status": "ok", "arrays": []}


def test_a_worker_that_closed_its_stderr_is_still_heard(played):
    runner, worker = played
    os.write(worker.stderr_w, b"last words\n")
    os.close(worker.stderr_w)  # end of file on the grader's side
    worker.stderr_w = os.open(os.devnull, os.O_WRONLY)  # (closed again by kill)
    worker.reply({"status": "ok"})
    runner.set_params("k", {}, "writing params")
    assert runner.stderr_tail == b"last words\n"


def test_draining_a_stderr_already_closed_is_quiet(played):
    runner, worker = played
    os.close(worker.stderr_fd)
    worker.stderr_fd = os.open(os.devnull, os.O_RDONLY)  # (closed again by kill)
    stale = os.open(os.devnull, os.O_RDONLY)
    os.close(stale)
    worker_fd, worker.stderr_fd = worker.stderr_fd, stale  # a descriptor that is no longer open
    runner._drain_stderr()
    worker.stderr_fd = worker_fd


def test_a_request_to_a_closed_channel_is_a_death(played):
    runner, worker = played
    worker.process.code = 1
    worker.peer.close()
    worker.sock.shutdown(socket.SHUT_WR)
    with pytest.raises(StudentError, match="ended during writing params"):
        runner.set_params("k", {"W1": np.zeros(1 << 18)}, "writing params")


# ----------------------------------------------------------------------------- trusted code in this process
class Trusted:
    def __init__(self, sizes):
        self.params = {"W1": np.ones((sizes[0], sizes[1])), "b1": np.zeros(sizes[1])}

    def loss_and_grads(self, X, y, lambdas):
        loss = float(self.params["W1"].sum())
        return loss, {name: np.full_like(value, 0.5) for name, value in self.params.items()}

    def raises(self, X, y, lambdas):
        raise KeyError("W9")


def test_trusted_code_is_called_in_this_process():
    with InProcessRunner(Trusted, timeout=5) as runner:
        params = runner.make("k", "Trusted([2, 3])", [[2, 3]], "loss_and_grads")
        assert sorted(params) == ["W1", "b1"]
        loss, _ = runner.call("k", "loss_and_grads", [("X", np.ones((1, 2))), ("y", np.array([0])),
                                                      ("lambdas", [0.0])], "a call")
        assert loss == 6.0
        runner.set_params("k", {"W1": [[4, 4, 4], [4, 4, 4]], "b1": np.zeros(3)}, "writing params")  # ints: as floats
        loss, grads = runner.call("k", "loss_and_grads", [("X", np.ones((1, 2))), ("y", np.array([0])),
                                                          ("lambdas", [0.0])], "a call")
        assert type(loss) is float and loss == 24.0 and grads["W1"].shape == (2, 3)
        runner.set_params("k", {"W9": [[1, 2]]}, "writing params")  # a name it does not hold: a float64 array
        assert runner.host.objects["k"].params["W9"].dtype == np.float64
        with pytest.raises(StudentError) as caught:
            runner.call("k", "raises", [("X", np.ones((1, 2))), ("y", np.array([0])), ("lambdas", [0.0])], "a call")
        assert caught.value.kind == "raised" and "KeyError" in str(caught.value)
        assert runner.host.objects
    assert not runner.host.objects  # forgotten at the end


def test_trusted_code_that_does_not_return_is_abandoned_at_its_limit():
    release = threading.Event()

    class Stuck:
        def __init__(self):
            release.wait()

    runner = InProcessRunner(Stuck, timeout=0.2)
    with runner, pytest.raises(StudentError, match=r"^Stuck\(\) did not return within 0.2 s") as caught:
        runner.make("k", "Stuck()", [], "loss_and_grads")
    abandoned = [t for t in threading.enumerate() if t.name == "trusted-call"]
    assert abandoned and all(t.daemon for t in abandoned)  # it cannot keep the grader from exiting
    release.set()
    assert caught.value.kind == "timeout" and InProcessRunner(Stuck).budget.timeout == 10.0


def test_trusted_code_has_a_budget_from_the_start():
    release = threading.Event()

    class Stuck:
        def __init__(self):
            release.wait()

    runner = InProcessRunner(Stuck, timeout=60, budget=0.2)
    with runner, pytest.raises(StudentError, match=r"^Stuck\(\) did not return before the total time budget of "
                                                   r"0.2 s ran out"):
        runner.make("k", "Stuck()", [], "loss_and_grads")
    release.set()


def test_trusted_code_that_raises_something_else_is_said():
    def broken(*args, **kwargs):
        raise SystemExit("bye")

    runner = InProcessRunner(object, timeout=5)
    with pytest.raises(StudentError, match=r"^writing params raised SystemExit: bye$") as caught:
        runner._run("writing params", broken)
    assert caught.value.kind == "raised"


# ----------------------------------------------------------------------------- replies that break the contract
@pytest.mark.parametrize("header, arrays", [
    ({"names": [1]}, {"1": np.zeros(2)}),
    ({"names": ["W1", "W1"]}, {"W1": np.zeros(2)}),  # listed twice
    ({"names": ["W1"]}, {"W1": np.zeros(2), "b1": np.zeros(2)}),  # one more than listed
    ({"names": ["W1", "b1"]}, {"W1": np.zeros(2)}),  # one listed, missing
    ({"names": "W1"}, {"W1": np.zeros(2)}),
    ({}, {"W1": np.zeros(2)}),
    ({"names": ["W1", 1]}, {"W1": np.zeros(2), "1": np.zeros(2)}),  # one name that is not a string
])
def test_a_make_reply_that_does_not_list_its_params_breaks_the_contract(played, header, arrays):
    runner, worker = played
    worker.reply({"status": "ok", **header}, arrays)
    with pytest.raises(StudentError, match="^the worker's reply to make does not list its params$") as caught:
        runner.make("k", "Net()", [], "loss_and_grads")
    assert caught.value.kind == "contract"


@pytest.mark.parametrize("arrays", [
    {"loss": np.int64(1).reshape(()), "g:W1": np.zeros(2)},
    {"loss": np.ones(1), "g:W1": np.zeros(2)},
    {"loss": np.float64(1).reshape(()), "g:W1": np.zeros(2), "g:W2": np.zeros(2)},
    {"loss": np.float64(1).reshape(())},
    {"g:W1": np.zeros(2)},
])
def test_a_call_reply_without_one_loss_and_its_gradients_breaks_the_contract(played, arrays):
    runner, worker = played
    worker.reply({"status": "ok", "names": ["W1"]}, arrays)
    with pytest.raises(StudentError, match="^the worker's reply does not hold one loss and the gradients it lists$"):
        runner.call("k", "loss_and_grads", [("X", np.zeros((1, 2)))], "a call")


def test_a_gradient_that_is_not_float64_breaks_the_contract(played):
    runner, worker = played
    worker.reply({"status": "ok", "names": ["W1", "b1"]},
                 {"loss": np.float64(1).reshape(()), "g:W1": np.zeros(2), "g:b1": np.zeros(2, dtype=np.int64)})  # the wire carries float64 and int64
    with pytest.raises(StudentError, match="^the worker's reply holds gradients that are not float64$"):
        runner.call("k", "loss_and_grads", [("X", np.zeros((1, 2)))], "a call")
