"""Hostile submissions: the grader cannot be fooled, hung or damaged by the code it grades.

Each attack is a small submission written into a temporary folder: a correct relu network
(``BASE``) plus the attack. Where the attack must have no effect, the network's gradients are
also made wrong (``WRONG = True``), so that a successful attack would show as a PASS; where the
attack is the test (it reads a secret, reaches the network), the submission answers correctly
only if the attack succeeded — so exit 1 proves it failed.

Every run must end with exit 1 or 2 within its bound, print no traceback and no ESC byte,
leave no process behind and change nothing outside the sandbox. Tests that need the
bubblewrap level skip where ``bwrap`` cannot run (CI installs it).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from compare.grader.sandbox import wire
from compare.grader.sandbox.errors import clean_text
from compare.grader.workers import isolation
from compare.validate import main, validate

ROOT = Path(__file__).resolve().parent.parent
needs_bwrap = pytest.mark.skipif(not isolation.bubblewrap_works(), reason="bubblewrap cannot run here")

# A correct matrix implementation (relu only; other activations are refused, so they are skipped).
BASE = '''
import numpy as np
WRONG = False

class Net:
    def __init__(self, sizes, activation):
        if activation != "relu":
            raise ValueError("relu only")
        self.sizes = tuple(sizes)
        self.params = {}
        for l in range(1, len(sizes)):
            self.params[f"W{l}"] = np.zeros((sizes[l], sizes[l - 1]))
            self.params[f"b{l}"] = np.zeros(sizes[l])

    def loss_and_grads(self, X, y, lambdas):
        L = len(self.sizes) - 1
        hs, pres = [X], []
        for l in range(1, L + 1):
            a = hs[-1] @ self.params[f"W{l}"].T + self.params[f"b{l}"]
            pres.append(a)
            hs.append(np.maximum(a, 0) if l < L else a)
        z = hs[-1] - hs[-1].max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        K = X.shape[0]
        loss = -logp[np.arange(K), y].mean()
        d = np.exp(logp)
        d[np.arange(K), y] -= 1
        d /= K
        grads = {}
        for l in range(L, 0, -1):
            W = self.params[f"W{l}"]
            l1, l2 = lambdas[2 * (l - 1)], lambdas[2 * (l - 1) + 1]
            loss += l1 * np.abs(W).sum() + l2 * (W ** 2).sum()
            grads[f"W{l}"] = d.T @ hs[l - 1] + l1 * np.sign(W) + 2 * l2 * W
            grads[f"b{l}"] = d.sum(axis=0)
            if l > 1:
                d = (d @ W) * (pres[l - 2] > 0)
        if WRONG:
            grads = {k: 2 * v for k, v in grads.items()}
        return loss, grads
'''


# Attacks on the grader's channel: write raw bytes to every socket the worker holds.
CHANNEL = '''
import os, stat

def write_to_channel(data):
    for fd in range(3, 64):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.write(fd, data)
        except OSError:
            pass
'''


def submission(tmp_path: Path, attack: str, *, wrong: bool, name: str = "attack") -> str:
    folder = tmp_path / "student"
    folder.mkdir(exist_ok=True)
    code = BASE.replace("WRONG = False", f"WRONG = {wrong}") + textwrap.dedent(attack)
    (folder / f"{name}.py").write_text(code)
    return f"{folder / name}.py:Net"


def run_cli(spec: str, *args: str, timeout: float = 120, cwd: Path | None = None):
    """The real command line, timed; returns (CompletedProcess, seconds)."""
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "compare.validate", spec, *args], cwd=cwd or ROOT,
                            capture_output=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return result, time.monotonic() - start


def processes_with(marker: str) -> list:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if marker.encode() in fh.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


def assert_clean_output(result) -> None:
    out = result.stdout + result.stderr
    assert b"\x1b" not in out and b"Traceback" not in out
    assert len(result.stderr) <= 100_000
    assert not any(line.startswith(b"verdict: PASS") for line in result.stdout.splitlines())


def project_digest() -> str:
    """The grader's own judging code (the file the attack below tries to rewrite)."""
    return hashlib.sha256((ROOT / "compare" / "lab" / "diff.py").read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- the wire format
def test_frames_round_trip_and_refuse_what_is_not_data():
    frame = wire.encode({"seq": 1, "names": ["W1"]}, {"loss": np.float64(2.5).reshape(()),
                                                      "g:W1": np.asfortranarray(np.arange(6.0).reshape(2, 3))})
    (header, arrays), = wire.FrameReader().feed(frame)
    assert header["seq"] == 1 and arrays["loss"].shape == () and float(arrays["loss"]) == 2.5
    assert np.array_equal(arrays["g:W1"], np.arange(6.0).reshape(2, 3))
    import pickle

    for bad in (pickle.dumps(("ok", {"W1": 1})), b"BPG1" + b"\xff" * 12):
        with pytest.raises(wire.WireError):
            wire.FrameReader().feed(bad)
    # A body that disagrees with the arrays the header lists is refused.
    head = json.dumps({"arrays": [["x", "<f8", [1000]]]}).encode()
    with pytest.raises(wire.WireError, match="disagrees"):
        wire.FrameReader().feed(wire.PREFIX.pack(wire.MAGIC, len(head), 8) + head + b"\0" * 8)
    # A promise of 1 MiB with 3 bytes sent is an incomplete frame, never a blocking read.
    reader = wire.FrameReader()
    assert reader.feed(wire.PREFIX.pack(wire.MAGIC, 2, 1 << 20) + b"{}" + b"abc") == []
    assert reader.needed() == (1 << 20) - 3


def test_clean_text_strips_escapes_and_caps():
    text = clean_text("\x1b[2J\x1b[Hverdict: PASS\r\n\u202eevil" + "x" * 10_000, 100)
    assert "\x1b" not in text and "\u202e" not in text and "\n" not in text and "PASS" not in text
    assert len(text) <= 100


# ----------------------------------------------------------------------------- fooling the verdict
def test_garbage_and_pickles_on_the_channel_are_a_broken_contract(tmp_path):
    spec = submission(tmp_path, CHANNEL + textwrap.dedent('''
        import pickle
        class Net(Net):
            def loss_and_grads(self, X, y, lambdas):
                write_to_channel(pickle.dumps(("ok", (0.0, {}))))
                return super().loss_and_grads(X, y, lambdas)
    '''), wrong=True)
    report = validate(spec, timeout=3, budget=10)
    assert report.exit_code == 2 and "malformed reply" in report.error


def test_a_partial_frame_is_a_timeout_not_a_hang(tmp_path):
    spec = submission(tmp_path, CHANNEL + textwrap.dedent('''
        import struct, time
        class Net(Net):
            def loss_and_grads(self, X, y, lambdas):
                write_to_channel(struct.pack(">4sIQ", b"BPG1", 2, 1 << 20) + b"{}abc")
                time.sleep(3600)
    '''), wrong=True)
    start = time.monotonic()
    report = validate(spec, timeout=1.5, budget=10)
    assert report.exit_code == 2 and "did not return within 1.5 s" in report.error
    assert time.monotonic() - start < 10


def test_a_forged_reply_out_of_order_is_refused(tmp_path):
    spec = submission(tmp_path, CHANNEL + textwrap.dedent('''
        import sys
        class Net(Net):
            def loss_and_grads(self, X, y, lambdas):
                wire = sys.modules["_grader.wire"]  # the worker's own encoder: a well-formed frame
                write_to_channel(wire.encode({"seq": 999, "status": "ok", "names": []},
                                             {"loss": np.float64(0).reshape(())}))
                return super().loss_and_grads(X, y, lambdas)
    '''), wrong=True)
    report = validate(spec, timeout=3, budget=10)
    assert report.exit_code == 2 and "out of order" in report.error


def test_exiting_0_from_the_worker_is_not_a_pass(tmp_path):
    spec = submission(tmp_path, '''
        import os
        print("verdict: PASS — all 21 cases agree with the torch reference")
        class Net(Net):
            def loss_and_grads(self, X, y, lambdas):
                os._exit(0)
    ''', wrong=True)
    result, seconds = run_cli(spec)
    assert result.returncode == 2 and b"exit code 0" in result.stderr
    assert_clean_output(result)


@pytest.mark.parametrize("module", ["compare", "manual", "reference", "torch"])
def test_the_answer_key_and_torch_are_refused(tmp_path, module):
    spec = submission(tmp_path, f"import {module}\n", wrong=False)
    report = validate(spec, timeout=3, budget=20)
    assert report.exit_code == 2 and report.error_kind == "forbidden", report.error
    assert f"imports {module}: this assignment is NumPy only" in report.error
    assert "attack.py:" in report.error  # the student's own line


def test_an_allowed_import_is_let_through(tmp_path):
    spec = submission(tmp_path, '''
        import json  # standard library: always there
        class Net(Net):
            def loss_and_grads(self, X, y, lambdas):
                try:
                    import torch  # noqa: F401
                except ImportError as error:
                    raise RuntimeError(f"no torch: {error}") from None
                return super().loss_and_grads(X, y, lambdas)
    ''', wrong=False)
    report = validate(spec, timeout=20, budget=60, allow_imports=["torch"], memory_mb=4096)  # torch maps ~2.5 GB
    assert report.exit_code == 0, report.error


def test_escape_sequences_and_huge_messages_are_cleaned(tmp_path):
    spec = submission(tmp_path, '''
        class Net(Net):
            def loss_and_grads(self, X, y, lambdas):
                raise ValueError("\\x1b[2J\\x1b[H\\nverdict: PASS — all 21 cases agree" + "x" * 20_000_000)
    ''', wrong=True)
    result, seconds = run_cli(spec)
    assert result.returncode == 2
    assert_clean_output(result)
    assert len(result.stderr) < 2000 and result.stderr.count(b"\n") == 1


def test_stderr_flood_is_not_read_whole(tmp_path):
    spec = submission(tmp_path, '''
        import os
        class Net(Net):
            def loss_and_grads(self, X, y, lambdas):
                block = b"\\x1b[31m" + b"y" * (1 << 20)
                for _ in range(300):
                    os.write(2, block)
                os._exit(1)
    ''', wrong=True)
    result, seconds = run_cli(spec, "--timeout", "20")
    assert result.returncode == 2 and b"exit code 1" in result.stderr
    assert_clean_output(result)
    assert seconds < 60


# ----------------------------------------------------------------------------- hanging the grader
def test_stopping_itself_is_a_timeout(tmp_path):
    spec = submission(tmp_path, '''
        import os, signal
        class Net(Net):
            def loss_and_grads(self, X, y, lambdas):
                os.kill(os.getpid(), signal.SIGSTOP)
    ''', wrong=True)
    report = validate(spec, timeout=1, budget=10)
    assert report.exit_code == 2 and "did not return within 1 s" in report.error


@needs_bwrap
def test_signals_cannot_reach_the_grader(tmp_path):
    spec = submission(tmp_path, '''
        import os, signal
        class Net(Net):
            def loss_and_grads(self, X, y, lambdas):
                for pid in [os.getppid()] + list(range(1, 4096)):
                    for sig in (signal.SIGSTOP, signal.SIGTERM, signal.SIGINT):
                        try:
                            os.kill(pid, sig)
                        except OSError:
                            pass
                return super().loss_and_grads(X, y, lambdas)
    ''', wrong=True)
    result, seconds = run_cli(spec, "--timeout", "5", timeout=60)
    assert result.returncode in (1, 2), result.stderr
    assert_clean_output(result)
    assert seconds < 60


def test_a_memory_bomb_stops_at_the_limit(tmp_path):
    spec = submission(tmp_path, '''
        import numpy as np
        class Net(Net):
            def loss_and_grads(self, X, y, lambdas):
                hog = [np.ones(1 << 27) for _ in range(64)]  # 64 GiB, 1 GiB at a time
                return super().loss_and_grads(X, y, lambdas)
    ''', wrong=True)
    start = time.monotonic()
    report = validate(spec, timeout=10, budget=20, memory_mb=512)
    assert report.exit_code == 2 and "MemoryError" in report.error
    assert time.monotonic() - start < 20


def test_an_infinite_loop_at_import_is_bounded_by_the_budget(tmp_path):
    """The import is stopped at the budget; the module is then graded on its definitions (wrong here)."""
    spec = submission(tmp_path, "while True:\n    pass\n", wrong=True)
    start = time.monotonic()
    report = validate(spec, timeout=1, budget=3)
    assert report.exit_code == 1 and "did not finish in time" in report.notes[0]
    assert time.monotonic() - start < 15


def test_an_infinite_loop_in_the_definitions_is_an_error_in_bounded_time(tmp_path):
    spec = submission(tmp_path, "class Net(Net):\n    while True:\n        pass\n", wrong=True)
    start = time.monotonic()
    report = validate(spec, timeout=1, budget=3)
    assert report.exit_code == 2 and "loading" in report.error and "budget of 3 s" in report.error
    assert time.monotonic() - start < 15


def test_reading_stdin_does_not_block(tmp_path):
    spec = submission(tmp_path, """
        class Net(Net):
            def loss_and_grads(self, X, y, lambdas):
                lr = input('lr? ')
    """, wrong=True)
    report = validate(spec, timeout=3, budget=10)
    assert report.exit_code == 2 and "RuntimeError" in report.error and "attack.py:" in report.error


# ----------------------------------------------------------------------------- damaging anything
@pytest.mark.parametrize("level", ["auto", "process"])
def test_nothing_outlives_the_run(tmp_path, level):
    """At the bubblewrap level the PID namespace dies with the worker; at the process level the
    grader kills the worker's tree, double-forked and setsid'd escapees included."""
    marker = f"bp-survivor-{uuid.uuid4().hex}"
    spec = submission(tmp_path, f'''
        import os, subprocess, sys
        for _ in range(20):
            try:
                if os.fork() == 0:
                    os.setsid()
                    if os.fork() == 0:
                        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)", "{marker}"])
                    os._exit(0)
            except OSError:
                break
    ''', wrong=True)
    report = validate(spec, timeout=5, budget=20, isolation=level)
    assert report.exit_code in (1, 2)
    deadline = time.monotonic() + 5
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with(marker) == []


@needs_bwrap
def test_the_project_the_report_and_the_grader_folder_are_out_of_reach(tmp_path):
    report_path = tmp_path / "report.json"
    grader_cwd = tmp_path / "grader"
    grader_cwd.mkdir()
    before = project_digest()
    marker = f"bp-late-writer-{uuid.uuid4().hex}"
    spec = submission(tmp_path, f'''
        import os, sys
        targets = [{str(ROOT / "compare" / "lab" / "diff.py")!r}, {str(report_path)!r}, {str(grader_cwd / "pwned.txt")!r}]
        for target in targets:
            try:
                with open(target, "w") as fh:
                    fh.write("pwned")
            except OSError:
                pass
        if os.fork() == 0:  # a detached writer that tries again once the grader is done
            os.setsid()
            os.execv(sys.executable, [sys.executable, "-c",
                     "import time, sys; time.sleep(2); open(sys.argv[1], 'w').write('forged')", {str(report_path)!r},
                     "{marker}"])
    ''', wrong=True)
    result, _ = run_cli(spec, "--json", str(report_path), cwd=grader_cwd)
    assert result.returncode == 1, result.stderr
    assert_clean_output(result)
    written = report_path.read_text()
    time.sleep(3)
    assert report_path.read_text() == written and json.loads(written)["exit_code"] == 1
    assert list(grader_cwd.iterdir()) == []
    assert project_digest() == before
    assert processes_with(marker) == []


@needs_bwrap
def test_files_outside_the_submission_cannot_be_read(tmp_path):
    secret = tmp_path / "secret" / "answers.txt"
    secret.parent.mkdir()
    secret.write_text("42")
    # Correct gradients only if a secret could be read: exit 1 proves none could.
    spec = submission(tmp_path, f'''
        def _read(path):
            try:
                with open(path) as fh:
                    return fh.read()
            except OSError:
                return None
        WRONG = all(_read(p) is None for p in [{str(secret)!r}, {str(ROOT / "manual" / "mlp.py")!r}, "/etc/shadow"])
    ''', wrong=False)
    report = validate(spec, timeout=5, budget=20)
    assert report.exit_code == 1, report.error


@needs_bwrap
def test_no_network(tmp_path):
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    spec = submission(tmp_path, f'''
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
            WRONG = False
        except OSError:
            WRONG = True
    ''', wrong=False)
    try:
        report = validate(spec, timeout=5, budget=20)
    finally:
        server.close()
    assert report.exit_code == 1, report.error


@needs_bwrap
def test_the_report_says_which_isolation_was_used(tmp_path):
    spec = submission(tmp_path, "", wrong=False)
    report = validate(spec, timeout=5, budget=20)
    assert report.exit_code == 0 and report.isolation.startswith("bubblewrap")
    report = validate(spec, timeout=5, budget=20, isolation="process")
    assert report.exit_code == 0 and report.isolation.startswith("process")


def test_a_data_file_beside_the_submission_is_readable(tmp_path):
    spec = submission(tmp_path, '''
        WRONG = open("circles.txt").read().strip() != "1 2 0"  # relative to its own folder
    ''', wrong=False)
    (tmp_path / "student" / "circles.txt").write_text("1 2 0\n")
    report = validate(spec, timeout=5, budget=20)
    assert report.exit_code == 0, report.error


# ----------------------------------------------------------------------------- odd but valid answers
def test_odd_but_valid_containers_pass(tmp_path):
    spec = submission(tmp_path, '''
        class Net(Net):
            def loss_and_grads(self, X, y, lambdas):
                loss, grads = super().loss_and_grads(X, y, lambdas)
                odd = {}
                for i, (k, v) in enumerate(grads.items()):
                    v = np.asfortranarray(v)
                    if i % 3 == 1:
                        v = v.copy(); v.setflags(write=False)
                    elif i % 3 == 2:
                        v = np.ma.masked_array(v)  # masked, with no mask
                    odd[k] = v
                return np.array(loss), odd
    ''', wrong=False)
    report = validate(spec, timeout=5, budget=20)
    assert report.exit_code == 0, report.error


# ----------------------------------------------------------------------------- the grader's own failures
def test_an_internal_error_is_exit_3_never_a_verdict(monkeypatch, capsys, tmp_path):
    from compare.grader.judging import battery

    def broken(*args, **kwargs):
        raise KeyError("the validator's own bug")

    monkeypatch.setattr(battery, "run", broken)
    assert main([submission(tmp_path, "", wrong=False)]) == 3
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("validate: internal error") and err.count("\n") == 1


def test_json_to_stdout_is_only_json(tmp_path, capsys):
    assert main([submission(tmp_path, "", wrong=True), "--json", "-"]) == 1
    out, _ = capsys.readouterr()
    data = json.loads(out)
    assert data["exit_code"] == 1 and data["verdict"] == "fail"


def test_python_m_from_a_student_folder_ignores_its_reference_py(tmp_path):
    """`python -m compare.validate` puts the current folder first on sys.path; a student's own
    reference.py there must not become the grader's reference."""
    folder = tmp_path / "student"
    spec = submission(tmp_path, "", wrong=True)
    (folder / "reference.py").write_text("raise SystemExit('student reference imported')\n")
    result, _ = run_cli(spec, cwd=folder)
    assert result.returncode == 1, result.stderr


def test_signals_handled_after_the_worker_is_gone(tmp_path):
    """SIGTERM to the grader during a run still ends it cleanly, with the worker killed."""
    marker = f"bp-sigterm-{uuid.uuid4().hex}"
    spec = submission(tmp_path, f'''
        import os, sys, time
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(120)", "{marker}"])
        class Net(Net):
            def loss_and_grads(self, X, y, lambdas):
                time.sleep(3600)
    ''', wrong=True)
    process = subprocess.Popen([sys.executable, "-m", "compare.validate", spec, "--timeout", "60"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130 and b"Traceback" not in err
    deadline = time.monotonic() + 5
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with(marker) == []
