"""How a worker is started and contained, without starting one: fast checks of ``isolation``.

The end-to-end tests (test_limits.py, test_isolation.py) read each limit back from inside a real
worker; these pin, in a second or two, what the grader hands to the kernel and to bubblewrap:
the limits at their bounds, the command line of a worker at each level (caught before anything
runs), which processes a worker's end kills, and when a submission as a whole is over a cap.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from compare.grader.submissions.submission import Submission
from compare.grader.workers import isolation, removal, usage
from compare.grader.workers.isolation import BUBBLEWRAP, PROCESS, IsolationUnavailable, Limits

MiB = 1 << 20
FIELDS = ("memory_mb", "cpu_seconds", "processes", "file_mb", "open_files", "disk_mb", "files")


# ----------------------------------------------------------------------------- Limits
def test_the_default_limits_are_the_documented_ones():
    assert Limits() == Limits(memory_mb=2048, cpu_seconds=120, processes=32, file_mb=64, open_files=64,
                              disk_mb=64, files=2000)


@pytest.mark.parametrize("name", FIELDS)
@pytest.mark.parametrize("bad", [0, -1, True, 1.0, "8", None])
def test_each_limit_must_be_a_positive_integer(name, bad):
    with pytest.raises(ValueError, match=rf"Limits\.{name} must be a positive integer, got {bad!r}"):
        Limits(**{name: bad})


@pytest.mark.parametrize("name", [n for n in FIELDS if n != "memory_mb"])
def test_one_is_a_valid_limit(name):
    assert getattr(Limits(**{name: 1}), name) == 1


def test_memory_has_a_floor_of_256_mib():
    assert Limits(memory_mb=256).memory_mb == 256
    with pytest.raises(ValueError, match="at least 256 .*got 255"):
        Limits(memory_mb=255)


def test_limits_cannot_be_changed_once_made():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Limits().processes = 1000


def test_the_limits_argument_sets_nproc_only_under_a_user_id_of_its_own():
    limits = Limits(memory_mb=300, cpu_seconds=7, processes=5, file_mb=2, open_files=11)
    assert limits.as_arg(own_uid=True) == f"as={300 * MiB},cpu=7,nproc=5,fsize={2 * MiB},nofile=11"
    assert limits.as_arg(own_uid=False) == f"as={300 * MiB},cpu=7,fsize={2 * MiB},nofile=11"
    assert limits.as_arg(own_uid=False, tag=123) == f"as={300 * MiB},cpu=7,fsize={2 * MiB},nofile=11,rttime=123"


# ----------------------------------------------------------------------------- which level
def test_an_unknown_isolation_level_is_refused_by_name():
    with pytest.raises(ValueError, match="isolation must be 'auto', 'bubblewrap' or 'process', got 'docker'"):
        isolation.choose_level("docker")


@pytest.mark.parametrize("problem, asked, level", [
    (None, "auto", BUBBLEWRAP), (None, BUBBLEWRAP, BUBBLEWRAP), (None, PROCESS, PROCESS),
    ("no bwrap", "auto", PROCESS), ("no bwrap", PROCESS, PROCESS),
])
def test_the_level_chosen(monkeypatch, problem, asked, level):
    monkeypatch.setattr(isolation, "_bubblewrap_problem", lambda: problem)
    assert isolation.choose_level(asked) == level
    assert isolation.bubblewrap_works() is (problem is None) and isolation.fallback_reason() == problem


def test_insisting_on_bubblewrap_where_it_cannot_run_says_why(monkeypatch):
    monkeypatch.setattr(isolation, "_bubblewrap_problem", lambda: "`bwrap` is not installed")
    with pytest.raises(IsolationUnavailable, match="bubblewrap isolation was asked for, but `bwrap` is not installed"):
        isolation.choose_level(BUBBLEWRAP)


@pytest.fixture
def fresh_probe(monkeypatch):
    """_bubblewrap_problem asked again (it is cached for the process), and cached again after."""
    cached = (isolation._bubblewrap_problem, isolation.throwaway_uid_works)
    for function in cached:
        function.cache_clear()
    yield
    for function in cached:
        function.cache_clear()


def fake_bwrap(tmp_path: Path, script: str) -> str:
    path = tmp_path / "bwrap"
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)
    return str(path)


def test_no_bwrap_installed_is_said(monkeypatch, fresh_probe):
    monkeypatch.setattr(isolation.shutil, "which", lambda name: None)
    assert isolation.fallback_reason() == "`bwrap` is not installed (Debian/Ubuntu: apt-get install bubblewrap)"


def test_not_linux_is_said_first(monkeypatch, fresh_probe):
    monkeypatch.setattr(isolation.sys, "platform", "darwin")
    assert isolation.fallback_reason() == "not Linux (darwin)"


def test_a_bwrap_that_cannot_make_namespaces_says_its_last_line(monkeypatch, fresh_probe, tmp_path):
    bwrap = fake_bwrap(tmp_path, "echo 'first line' >&2; echo 'bwrap: No permissions to create new namespace' >&2; exit 1")
    monkeypatch.setattr(isolation.shutil, "which", lambda name: bwrap)
    assert isolation.fallback_reason() == ("`bwrap` cannot create namespaces here "
                                           "(bwrap: No permissions to create new namespace)")
    assert isolation.throwaway_uid_works() is False


def test_a_silent_failing_bwrap_and_a_long_message(monkeypatch, fresh_probe, tmp_path):
    bwrap = fake_bwrap(tmp_path, "exit 1")
    monkeypatch.setattr(isolation.shutil, "which", lambda name: bwrap)
    assert isolation.fallback_reason() == "`bwrap` cannot create namespaces here"
    isolation._bubblewrap_problem.cache_clear()
    bwrap = fake_bwrap(tmp_path, "printf 'x%.0s' $(seq 300) >&2; exit 1")
    assert isolation.fallback_reason() == f"`bwrap` cannot create namespaces here ({'x' * 200})"


def test_a_bwrap_that_cannot_be_run_is_said(monkeypatch, fresh_probe, tmp_path):
    bwrap = tmp_path / "bwrap"
    bwrap.write_text("not a program")
    bwrap.chmod(0o644)
    monkeypatch.setattr(isolation.shutil, "which", lambda name: str(bwrap))
    assert isolation.fallback_reason() == "`bwrap` cannot be run (Permission denied)"


def test_a_working_bwrap_is_given_every_feature_the_sandbox_uses(monkeypatch, fresh_probe, tmp_path):
    bwrap = fake_bwrap(tmp_path, f'echo "$@" > {tmp_path}/argv')
    monkeypatch.setattr(isolation.shutil, "which", lambda name: bwrap)
    assert isolation.fallback_reason() is None and isolation.bubblewrap_works()
    argv = (tmp_path / "argv").read_text().split()
    for flag in ("--unshare-pid", "--unshare-net", "--die-with-parent", "--new-session", "--clearenv",
                 "--remount-ro"):
        assert flag in argv, flag
    assert argv.count("--size") == 2 and str(isolation.SHM_BYTES) in argv and argv[-1] == "true"


@pytest.fixture
def probe_run(monkeypatch):
    """subprocess.run of the probes, played: each call's argv and timeout kept, its exit status set."""
    class Run:
        calls = []
        returncode = 0
        error = None

    def run(argv, **options):
        Run.calls.append((argv, options.get("timeout")))
        if Run.error is not None:
            raise Run.error
        return subprocess.CompletedProcess(argv, Run.returncode, b"", b"")

    monkeypatch.setattr(isolation.subprocess, "run", run)
    monkeypatch.setattr(isolation.shutil, "which", lambda name: "/usr/bin/bwrap")
    return Run


def test_each_probe_waits_20_seconds_at_most(probe_run, fresh_probe, monkeypatch):
    monkeypatch.setattr(isolation.os, "geteuid", lambda: 0)
    assert isolation.fallback_reason() is None and isolation.throwaway_uid_works() is True
    assert [timeout for _, timeout in probe_run.calls] == [20, 20]
    drop = probe_run.calls[1][0]
    assert drop[0] == "/usr/bin/bwrap" and drop[-1] == "import os; os.setgroups([]); os.setgid(65000); os.setuid(65000)"
    assert drop[drop.index("--cap-add") + 1] == "CAP_SETUID" and "CAP_SETGID" in drop


@pytest.mark.parametrize("returncode, error", [(1, None), (0, OSError("gone")),
                                               (0, subprocess.TimeoutExpired("bwrap", 20))])
def test_a_throwaway_user_id_only_where_the_probe_drops_to_one(probe_run, fresh_probe, monkeypatch, returncode, error):
    monkeypatch.setattr(isolation.os, "geteuid", lambda: 0)
    monkeypatch.setattr(isolation, "_bubblewrap_problem", lambda: None)
    probe_run.returncode, probe_run.error = returncode, error
    assert isolation.throwaway_uid_works() is False


def test_a_probe_that_does_not_answer_is_said(probe_run, fresh_probe):
    probe_run.error = subprocess.TimeoutExpired("bwrap", 20)
    assert isolation.fallback_reason() == "`bwrap` did not answer within 20 s"


def test_no_throwaway_user_id_where_bubblewrap_cannot_run(probe_run, fresh_probe, monkeypatch):
    monkeypatch.setattr(isolation.os, "geteuid", lambda: 0)
    monkeypatch.setattr(isolation, "_bubblewrap_problem", lambda: "no bwrap")
    assert isolation.throwaway_uid_works() is False and probe_run.calls == []


def test_only_root_drops_to_a_throwaway_user_id(monkeypatch, fresh_probe):
    monkeypatch.setattr(isolation.os, "geteuid", lambda: 1000)
    assert isolation.throwaway_uid_works() is False
    assert "--unshare-user" in isolation._namespaces()
    monkeypatch.setattr(isolation.os, "geteuid", lambda: 0)
    assert "--unshare-user" not in isolation._namespaces()
    assert {"--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session"} <= set(isolation._namespaces())


# ----------------------------------------------------------------------------- what is refused
def sub(tmp_path: Path, package: str | None = None) -> Submission:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "net.py").write_text("class Net:\n    pass\n")
    return Submission(spec=f"{tmp_path / 'net.py'}:Net", root=tmp_path, attr="Net", file="net.py", package=package)


def test_the_answer_key_and_every_autograd_library_are_refused(tmp_path):
    assert isolation.denied_imports(sub(tmp_path)) == sorted(
        ["manual", "reference", "compare", "torch",
         "jax", "jaxlib", "tensorflow", "autograd", "mxnet", "theano", "tinygrad", "mlx"])


def test_what_is_allowed_and_the_submissions_own_package_are_not_refused(tmp_path):
    denied = isolation.denied_imports(sub(tmp_path, package="manual"), allow_imports=("jax",))
    assert "manual" not in denied and "jax" not in denied and {"reference", "compare", "jaxlib"} <= set(denied)


def test_the_workers_environment_is_minimal():
    assert isolation._environment("/home", "/scratch") == {
        "PATH": "/usr/bin:/bin", "HOME": "/home", "TMPDIR": "/scratch", "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# ----------------------------------------------------------------------------- a worker's command line
class Caught(Exception):
    pass


@pytest.fixture
def started(monkeypatch):
    """start_worker up to the moment it would start the process: {argv, options, workdir}."""
    seen = {}

    def popen(argv, **options):
        seen.update(argv=argv, options=options)
        if options.get("cwd"):  # the process level: what its private folder holds as it starts
            workdir = Path(options["cwd"]).parent
            seen["private"] = {p.name: sorted(os.listdir(p)) for p in workdir.iterdir()}
            seen["site"] = {p.name: os.readlink(p) for p in (workdir / "site").iterdir()}
        seen["limits_arg"] = argv[argv.index("--limits") + 1]
        raise Caught

    monkeypatch.setattr(isolation.subprocess, "Popen", popen)
    return seen


def pairs(argv: list, flag: str, width: int = 1) -> list:
    return [tuple(argv[i + 1:i + 1 + width]) for i, a in enumerate(argv) if a == flag]


def test_a_process_level_worker(started, tmp_path):
    with pytest.raises(Caught):
        isolation.start_worker(sub(tmp_path / "s"), Limits(processes=7), isolation="process")
    argv, options = started["argv"], started["options"]
    assert argv[:5] == [str(Path(sys.executable).resolve()), "-I", "-S", "-B", str(isolation.SANDBOX / "worker.py")]
    assert "nproc" not in started["limits_arg"] and ",rttime=" in started["limits_arg"]
    assert argv[argv.index("--deny") + 1] == ",".join(isolation.denied_imports(sub(tmp_path / "s")))
    fd = int(argv[argv.index("--fd") + 1])
    assert options["pass_fds"] == (fd,) and options["start_new_session"] is True
    assert options["stdin"] == subprocess.DEVNULL and options["stdout"] == subprocess.DEVNULL
    assert options["stderr"] == subprocess.PIPE
    workdir = Path(options["cwd"]).parent
    assert options["cwd"] == str(workdir / "submission") and workdir.name.startswith("backprop-grade-")
    assert options["env"] == isolation._environment(str(workdir / "submission"), str(workdir / "tmp"))
    (site,) = pairs(argv, "--site")
    assert site == (str(workdir / "site"),) and "--uid" not in argv
    visible = isolation.visible_packages(())
    assert started["private"] == {"submission": ["net.py"], "site": sorted(visible), "tmp": []}
    assert started["site"] == {name: str(source) for name, source in visible.items()} and "numpy" in visible
    # A start that fails leaves no private folder behind (the copy of the submission removed).
    assert not workdir.exists()


@pytest.mark.parametrize("own_uid", [True, False])
def test_a_bubblewrap_level_worker(started, tmp_path, monkeypatch, own_uid):
    monkeypatch.setattr(isolation, "_bubblewrap_problem", lambda: None)
    monkeypatch.setattr(isolation, "throwaway_uid_works", lambda: own_uid)
    monkeypatch.setattr(isolation.shutil, "which", lambda name: "/usr/bin/bwrap")
    chowned = {}
    monkeypatch.setattr(isolation.os, "chown", lambda path, uid, gid, follow_symlinks=True: chowned.update(
        {Path(path).name: (uid, gid, follow_symlinks)}))
    drawn = []

    class Drawn:
        def randrange(self, low, high):
            drawn.append((low, high))
            return 61234

    monkeypatch.setattr(isolation.random, "SystemRandom", Drawn)
    with pytest.raises(Caught):
        isolation.start_worker(sub(tmp_path), Limits(processes=7, disk_mb=5), isolation="auto")
    argv, options = started["argv"], started["options"]
    assert argv[0] == "/usr/bin/bwrap" and options["env"] is None and options["cwd"] is None
    rest = argv[argv.index("--") + 1:]
    assert rest[:5] == [str(Path(sys.executable).resolve()), "-I", "-S", "-B", "/opt/grader/worker.py"]
    assert pairs(rest, "--site") == [("/opt/site",)]
    if own_uid:
        (uid,) = pairs(rest, "--uid")
        assert uid == ("61234",) and drawn == [(60000, 65000)]  # a user id no account uses
        assert chowned == {"submission": (int(uid[0]),) * 2 + (False,), "net.py": (int(uid[0]),) * 2 + (False,)}
        assert pairs(argv, "--cap-add") == [("CAP_SETUID",), ("CAP_SETGID",)]
        assert "nproc=7," in started["limits_arg"]
    else:
        assert "--uid" not in rest and not chowned and "--cap-add" not in argv[:argv.index("--")]
        assert "nproc" not in started["limits_arg"]
    assert "rttime" not in started["limits_arg"]
    box = argv[:argv.index("--")]
    assert ("/submission",) in [p[1:] for p in pairs(box, "--bind", 2)]
    (bound,) = [p for p in pairs(box, "--bind", 2)]
    assert bound[0].endswith("/submission") and Path(bound[0]).parent.name.startswith("backprop-grade-")
    assert ("/usr", "/usr") in pairs(box, "--ro-bind", 2)
    assert (str(isolation.SANDBOX), "/opt/grader") in pairs(box, "--ro-bind", 2)
    assert ("/dev",) in pairs(box, "--remount-ro") and ("/submission",) in pairs(box, "--chdir")
    assert "--clearenv" in box and "--unshare-net" in box and "--unshare-pid" in box
    tmp = box.index("/tmp")
    assert box[tmp - 1] == "--tmpfs" and box[tmp - 3:tmp - 1] == ["--size", str(5 * MiB)] \
        and box[tmp - 5:tmp - 3] == ["--perms", "1777"]
    shm = box.index("/dev/shm")
    assert box[shm - 3:shm] == ["--size", str(isolation.SHM_BYTES), "--tmpfs"] and isolation.SHM_BYTES == 16 * MiB
    env = dict(pairs(box, "--setenv", 2))
    assert env == isolation._environment("/submission", "/tmp")
    for folder in isolation._site_folders():  # the installation's own packages: hidden under an empty tmpfs
        prefix = str(Path(sys.base_prefix).resolve())
        if folder.startswith(prefix + "/") or folder.startswith("/usr/"):
            assert (folder,) in pairs(box, "--tmpfs"), folder


def test_allowing_the_answer_key_is_refused_before_anything_is_copied(started, tmp_path):
    with pytest.raises(ValueError, match="manual"):
        isolation.start_worker(sub(tmp_path), Limits(), allow_imports=("manual",), isolation="process")
    assert "argv" not in started


def test_the_answer_key_is_refused_before_the_machine_is_asked_for_bubblewrap(started, tmp_path, monkeypatch):
    monkeypatch.setattr(isolation, "_bubblewrap_problem", lambda: "no bwrap here")
    with pytest.raises(ValueError, match="allow_imports names 'manual'"):
        isolation.start_worker(sub(tmp_path), Limits(), allow_imports=("manual",), isolation=BUBBLEWRAP)
    with pytest.raises(IsolationUnavailable):
        isolation.start_worker(sub(tmp_path), Limits(), isolation=BUBBLEWRAP)


def test_a_process_level_worker_makes_the_grader_a_subreaper(started, tmp_path):
    """Where escapees of the worker go: to the grader (a fresh process, as a forked one is, is none)."""
    import ctypes

    pid = os.fork()
    if pid == 0:
        try:
            try:
                isolation.start_worker(sub(tmp_path), Limits(), isolation=PROCESS)
            except Caught:
                pass
            flag = ctypes.c_int(-1)
            ctypes.CDLL(None).prctl(37, ctypes.byref(flag))  # PR_GET_CHILD_SUBREAPER
            os._exit(10 + flag.value)
        except BaseException:  # noqa: BLE001 - the child must not return into pytest
            os._exit(2)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 11


@pytest.fixture
def stand_in(monkeypatch):
    """start_worker whole, the worker it starts played by ``sleep`` (same options, no Python, no channel
    use): what start_worker hands back and what it registers. [(process, options)] of those started."""
    real_popen, started = subprocess.Popen, []

    def popen(argv, **options):
        process = real_popen(["sleep", "300"], **options)
        started.append((process, options))
        return process

    monkeypatch.setattr(isolation.subprocess, "Popen", popen)
    monkeypatch.setattr(isolation, "_live_workers", {})
    monkeypatch.setattr(isolation, "_live_tags", set())
    monkeypatch.setattr(isolation, "_children_started", set())
    yield started
    for process, _ in started:
        isolation._kill(process.pid)
        process.wait()


def test_a_started_worker_is_handed_back_whole_and_registered(stand_in, tmp_path):
    import socket
    import warnings

    fds = set(os.listdir("/proc/self/fd"))
    limits = Limits(processes=7)
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        worker = isolation.start_worker(sub(tmp_path / "s"), limits, isolation=PROCESS)
    assert [w for w in warned if issubclass(w.category, ResourceWarning)] == []  # the worker's end closed, not collected
    ((process, options),) = stand_in
    assert (worker.process, worker.level, worker.uid, worker.limits, worker.fallback) == (process, PROCESS, None,
                                                                                           limits, None)
    assert worker.workdir.name.startswith("backprop-grade-") and worker.root_inside == str(worker.workdir / "submission")
    assert worker.written_before == usage.folder_usage([worker.workdir]) and worker.written_before[1] >= 4
    assert worker.tag in isolation._live_tags
    # The grader never blocks on what the student's process writes or does not read.
    assert worker.stderr_fd == process.stderr.fileno() and os.get_blocking(worker.stderr_fd) is False
    assert isinstance(worker.sock, socket.socket) and worker.sock.getblocking() is False
    assert isolation._live_workers == {id(worker): worker} and isolation._children_started == {process.pid}
    assert len(set(os.listdir("/proc/self/fd")) - fds) == 2  # its end of the channel and stderr: the worker's closed
    isolation.kill_all()
    assert process.returncode == -9 and not worker.workdir.exists() and set(os.listdir("/proc/self/fd")) == fds
    assert isolation._live_workers == {} and isolation._children_started == set()


def test_killing_one_worker_never_kills_another_that_lowered_its_own_mark(stand_in, tmp_path):
    """A submission can lower the mark of its own worker process (its hard RLIMIT_RTTIME): that worker
    is still one the grader started, never taken for a classmate's escapee."""
    first = isolation.start_worker(sub(tmp_path / "a"), Limits(), isolation=PROCESS)
    second = isolation.start_worker(sub(tmp_path / "b"), Limits(), isolation=PROCESS)
    resource.prlimit(first.process.pid, resource.RLIMIT_RTTIME, (3, 3))
    second.kill()
    assert second.process.returncode == -9 and first.process.poll() is None
    first.kill()


def test_a_fallback_to_the_process_level_says_why(stand_in, tmp_path, monkeypatch):
    monkeypatch.setattr(isolation, "_bubblewrap_problem", lambda: "no bwrap here")
    worker = isolation.start_worker(sub(tmp_path / "a"), Limits(), isolation="auto")
    assert worker.fallback == "no bwrap here" and "bubblewrap unavailable: no bwrap here" in worker.describe()
    chosen = isolation.start_worker(sub(tmp_path / "b"), Limits(), isolation=PROCESS)
    assert chosen.fallback is None and "(asked for)" in chosen.describe()
    isolation.kill_all()


def test_wait_gone_says_whether_the_worker_was_reaped(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    worker = fake_worker(PROCESS, Limits(), tmp_path)
    worker.process = process
    assert isolation.wait_gone(worker, timeout=0.05) is False and process.returncode is None  # still reading
    process.stdin.close()  # it reads the end of its input and exits
    assert isolation.wait_gone(worker, timeout=30) is True and process.returncode == 0


# ----------------------------------------------------------------------------- what is killed at the end
ME = os.getpid()


def test_the_process_tree_takes_descendants_and_its_own_escapees(monkeypatch):
    root = 10
    table = {root: (ME, 10, 10), 11: (root, 10, 10), 12: (11, 10, 10),  # the worker and its children
             20: (ME, 20, 20), 21: (20, 20, 20),  # an escapee of this worker (its tag) and its child
             30: (ME, 30, 30),  # the grader's own child (the grader's own limit)
             40: (ME, 40, 40),  # another live worker's escapee
             50: (ME, 50, 50),  # an escapee that lowered its mark to hide
             60: (ME, 60, 60),  # a worker the grader started itself
             70: (ME, 70, 70),  # gone while read
             80: (1, 80, 80)}  # a stranger
    marks = {20: 5, 30: isolation._OWN_RTTIME, 40: 6, 50: 3, 60: 5, 70: None}
    monkeypatch.setattr(isolation, "_rttime", marks.get)
    monkeypatch.setattr(isolation, "_live_tags", {5, 6})
    monkeypatch.setattr(isolation, "_children_started", {60})
    assert isolation._process_tree(root, table, tag=5) == {11, 12, 20, 21, 50}
    assert isolation._process_tree(root, table, tag=6) == {11, 12, 40, 50}


def test_rttime_and_parent_are_read_from_proc():
    assert isolation._rttime(os.getpid()) == resource.getrlimit(resource.RLIMIT_RTTIME)[1]
    assert isolation._parent(os.getpid()) == os.getppid()
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                             preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_RTTIME, (4321, 4321)))
    try:
        assert isolation._rttime(child.pid) == 4321 and isolation._parent(child.pid) == os.getpid()
    finally:
        child.communicate(b"")
    assert isolation._rttime(child.pid) is None and isolation._parent(child.pid) is None


def test_tags_are_unique_below_the_graders_own_and_remembered(monkeypatch):
    monkeypatch.setattr(isolation, "_live_tags", set())
    monkeypatch.setattr(isolation, "_OWN_RTTIME", 1000)
    first, second = isolation._next_tag(), isolation._next_tag()
    assert 0 < second < first < 1000 and isolation._live_tags == {first, second}
    monkeypatch.setattr(isolation, "_OWN_RTTIME", resource.RLIM_INFINITY)
    third = isolation._next_tag()
    assert (1 << 40) - 1000 < third < (1 << 40)
    monkeypatch.setattr(isolation, "_OWN_RTTIME", 1)
    assert isolation._next_tag() is None
    monkeypatch.setattr(isolation, "_OWN_RTTIME", None)
    assert isolation._next_tag() is None


# ----------------------------------------------------------------------------- a submission as a whole
class FakeProcess:
    pid = 10

    def __init__(self, code=None):
        self.code = code

    def poll(self):
        return self.code


def fake_worker(level: str, limits: Limits, tmp_path: Path, written_before=None):
    worker = isolation.Worker(FakeProcess(), sock=None, stderr_fd=-1, level=level, workdir=tmp_path,
                              root_inside="/submission", limits=limits)
    if written_before is not None:
        worker.written_before = written_before
    return worker


@pytest.fixture
def world(monkeypatch):
    """A machine of made-up processes: ``world.table``, memory per pid, and what was written."""
    class World:
        table = {}
        memory = {}
        written = (0, 0)
        asked = []

    def usage_of(folders, stop_entries=None):
        World.asked.append(([str(f) for f in folders], stop_entries))
        return World.written

    monkeypatch.setattr(isolation, "process_table", lambda: dict(World.table))
    monkeypatch.setattr(isolation, "memory_bytes", lambda pid: World.memory.get(pid, 0))
    monkeypatch.setattr(isolation, "folder_usage", usage_of)
    monkeypatch.setattr(isolation, "_rttime", lambda pid: None)
    monkeypatch.setattr(isolation, "_own_root", lambda pid: True)
    return World


def test_processes_counted_at_the_cap_and_one_over(world, tmp_path):
    worker = fake_worker(PROCESS, Limits(processes=3), tmp_path)
    world.table = {10: (ME, 10, 10), 11: (10, 10, 10), 12: (11, 10, 10)}
    assert worker.overuse() is None  # the worker and two children: 3
    world.table[13] = (12, 10, 10)
    assert worker.overuse() == "started more than 3 processes"


def test_bubblewraps_own_processes_are_not_the_submissions(world, tmp_path):
    worker = fake_worker(BUBBLEWRAP, Limits(processes=2), tmp_path)
    # bwrap (10) → the sandbox's pid 1 (11) → the worker (12) → its child (13)
    world.table = {10: (ME, 10, 10), 11: (10, 10, 10), 12: (11, 10, 10), 13: (12, 10, 10)}
    assert worker.overuse() is None
    world.table[14] = (12, 10, 10)
    assert worker.overuse() == "started more than 2 processes"
    world.written, world.asked[:] = (0, 0), []
    world.table = {10: (ME, 10, 10), 11: (10, 10, 10), 12: (11, 10, 10)}
    worker.overuse()
    assert world.asked[-1][0] == [str(tmp_path / "submission"), "/proc/11/root/tmp", "/proc/11/root/dev/shm"]


def test_memory_of_all_processes_together_at_the_cap_and_one_over(world, tmp_path):
    worker = fake_worker(BUBBLEWRAP, Limits(memory_mb=300), tmp_path)
    world.table = {10: (ME, 10, 10), 11: (10, 10, 10), 12: (11, 10, 10), 13: (12, 10, 10)}
    world.memory = {10: 50 * MiB, 11: 50 * MiB, 12: 150 * MiB, 13: 50 * MiB}
    assert worker.overuse() is None
    world.memory[13] += 1
    assert worker.overuse() == "used more than 300 MiB of memory (all its processes together)"
    world.memory = {99: 10_000 * MiB}  # a process of someone else
    assert worker.overuse() is None


def test_what_it_wrote_at_the_cap_and_one_over(world, tmp_path):
    worker = fake_worker(PROCESS, Limits(files=5, disk_mb=2), tmp_path, written_before=(1000, 10))
    world.table = {10: (ME, 10, 10)}
    world.written = (1000 + 2 * MiB, 15)
    assert worker.overuse() is None
    assert world.asked[-1] == ([str(tmp_path)], 10 + 5 + 1)
    world.written = (1000 + 2 * MiB, 16)
    assert worker.overuse() == "wrote more than 5 files and folders"
    world.written = (1001 + 2 * MiB, 15)
    assert worker.overuse() == "wrote more than 2 MiB"
    worker = fake_worker(PROCESS, Limits(files=5000, disk_mb=1), tmp_path)  # nothing written before it started
    world.written = (1 * MiB, 5000)
    assert worker.overuse() is None
    world.written = (1 * MiB + 1, 5000)
    assert worker.overuse() == "wrote more than 1 MiB"
    world.written = (0, 5001)
    assert worker.overuse() == "wrote more than 5,000 files and folders"


def test_a_worker_says_how_it_is_isolated(tmp_path):
    worker = fake_worker(BUBBLEWRAP, Limits(), tmp_path)
    assert worker.describe() == "bubblewrap: read-only filesystem, no network, own PID namespace, resource limits"
    worker.uid = 61234
    assert worker.describe() == ("bubblewrap: read-only filesystem, no network, own PID namespace, "
                                 "a throwaway user id, resource limits")
    worker = fake_worker(PROCESS, Limits(), tmp_path)
    assert worker.describe().startswith("process (asked for): own session") and "same user as the grader" in \
        worker.describe()
    worker.fallback = "no bwrap"
    assert worker.describe().startswith("process (bubblewrap unavailable: no bwrap): ")
    assert worker.ended() is False
    worker.process.code = 0
    assert worker.ended() is True


def test_kill_all_ends_every_live_worker(monkeypatch):
    ended = []

    class Live:
        def __init__(self, name):
            self.name = name

        def kill(self):
            ended.append(self.name)

    monkeypatch.setattr(isolation, "_live_workers", {1: Live("a"), 2: Live("b")})
    isolation.kill_all()
    assert ended == ["a", "b"]


def test_descendants_never_loop():
    table = {1: (2, 0, 0), 2: (1, 0, 0), 3: (2, 0, 0)}
    assert usage.descendants(table, 1) == {2, 3}


# ----------------------------------------------------------------------------- the end of a worker
FAMILY = """
import os, subprocess, sys
child = subprocess.Popen(["sleep", "300"], start_new_session=True)  # out of the worker's process group
if os.fork() == 0:  # a grandchild that leaves: its own child is orphaned (an escapee), in a session of its own
    os.setsid()
    escapee = subprocess.Popen(["sleep", "301"])
    print(escapee.pid, flush=True)
    os._exit(0)
os.wait()
print(child.pid, flush=True)
sys.stdin.read()
"""


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def gone(pid: int, seconds: float = 10) -> bool:
    import time

    end = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < end:
        time.sleep(0.02)
    return not alive(pid)


@pytest.fixture
def family(tmp_path, monkeypatch):
    """A process-level worker (a real process, no sandbox) that started a child and left an escapee."""
    import socket

    monkeypatch.setattr(isolation, "_live_workers", {})
    monkeypatch.setattr(isolation, "_live_tags", set())
    monkeypatch.setattr(isolation, "_children_started", set())
    isolation._become_subreaper()
    tag = isolation._next_tag()
    workdir = tmp_path / "backprop-grade-x"
    (workdir / "submission").mkdir(parents=True)
    process = subprocess.Popen([sys.executable, "-c", FAMILY], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True,
                               preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_RTTIME, (tag, tag)))
    isolation._children_started.add(process.pid)
    escapee, child = int(process.stdout.readline()), int(process.stdout.readline())
    ours, theirs = socket.socketpair()
    worker = isolation.Worker(process, ours, process.stderr.fileno(), PROCESS, workdir, str(workdir / "submission"),
                              tag=tag)
    isolation._live_workers[id(worker)] = worker
    yield worker, child, escapee
    theirs.close()
    for pid in (child, escapee, process.pid):
        isolation._kill(pid)
    process.wait()


def test_killing_a_worker_ends_it_its_children_and_its_escapees(family):
    worker, child, escapee = family
    assert alive(child) and alive(escapee) and isolation._parent(escapee) == os.getpid()  # ours: a subreaper
    worker.kill()
    assert not os.path.exists(f"/proc/{worker.process.pid}")  # killed and reaped by kill itself: no zombie
    assert worker.process.poll() == -9 and gone(child) and gone(escapee)
    assert not worker.workdir.exists() and worker.sock.fileno() == -1 and worker.process.stderr.closed
    assert isolation._live_workers == {} and worker.tag not in isolation._live_tags
    assert worker.process.pid not in isolation._children_started
    with pytest.raises(ChildProcessError):
        os.waitpid(escapee, os.WNOHANG)  # reaped: no zombie left
    worker.kill()  # twice: nothing left to do, no error


def test_the_children_of_a_worker_that_exited_are_still_killed(family):
    worker, child, escapee = family
    worker.process.stdin.close()  # the worker reads its end and exits; its child and the escapee live on
    worker.process.wait()
    assert alive(child) and alive(escapee)
    worker.kill()
    assert gone(child) and gone(escapee) and not worker.workdir.exists()


def test_a_bubblewrap_worker_that_ended_is_not_signalled_again(tmp_path, monkeypatch):
    signalled = []
    monkeypatch.setattr(isolation, "_signal_group", signalled.append)
    workdir = tmp_path / "backprop-grade-y"
    (workdir / "submission").mkdir(parents=True)
    process = subprocess.Popen(["true"], stderr=subprocess.PIPE)
    process.wait()
    import socket

    ours, theirs = socket.socketpair()
    worker = isolation.Worker(process, ours, process.stderr.fileno(), BUBBLEWRAP, workdir, "/submission")
    worker.kill()
    theirs.close()
    assert signalled == [] and not workdir.exists() and worker.sock.fileno() == -1


def test_a_live_bubblewrap_worker_is_killed_and_no_other_child_of_the_grader_is_reaped(tmp_path, monkeypatch):
    """The sandbox's processes end with its PID namespace; killing it must not wait for, nor reap, a child
    of the grader that is not its own, even one whose mark looks like an escapee's (its exit status
    stays its owner's)."""
    import socket

    monkeypatch.setattr(isolation, "_live_tags", set())
    monkeypatch.setattr(isolation, "_children_started", set())
    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(7)"],
                             preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_RTTIME, (5, 5)))
    assert gone(other.pid)  # a zombie: ended, its status not yet read by its owner
    workdir = tmp_path / "backprop-grade-b"
    (workdir / "submission").mkdir(parents=True)
    process = subprocess.Popen(["sleep", "300"], stderr=subprocess.PIPE, start_new_session=True)
    ours, theirs = socket.socketpair()
    worker = isolation.Worker(process, ours, process.stderr.fileno(), BUBBLEWRAP, workdir, "/submission")
    worker.kill()
    theirs.close()
    assert not os.path.exists(f"/proc/{process.pid}") and process.returncode == -9 and not workdir.exists()
    assert other.wait(timeout=30) == 7


DISGUISED = """
import os, resource, sys, time
if os.fork() == 0:
    if os.fork() == 0:  # orphaned to the grader, still in the worker's process group, another worker's mark
        resource.setrlimit(resource.RLIMIT_RTTIME, ({mark}, {mark}))
        print(os.getpid(), flush=True)
        time.sleep(300)
    os._exit(0)
os.wait()
sys.stdin.read()
"""


def test_an_escapee_in_the_workers_process_group_is_killed_whatever_its_mark(tmp_path, monkeypatch):
    """An escapee that took another live worker's mark is not taken for this worker's, but it is still
    in its process group: killed with it."""
    monkeypatch.setattr(isolation, "_live_workers", {})
    monkeypatch.setattr(isolation, "_live_tags", set())
    monkeypatch.setattr(isolation, "_children_started", set())
    isolation._become_subreaper()
    tag, other = isolation._next_tag(), isolation._next_tag()
    workdir = tmp_path / "backprop-grade-g"
    (workdir / "submission").mkdir(parents=True)
    process = subprocess.Popen([sys.executable, "-c", DISGUISED.format(mark=other)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                               preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_RTTIME, (tag, tag)))
    isolation._children_started.add(process.pid)
    escapee = int(process.stdout.readline())
    try:
        import socket

        ours, theirs = socket.socketpair()
        worker = isolation.Worker(process, ours, process.stderr.fileno(), PROCESS, workdir, str(workdir), tag=tag)
        assert isolation._parent(escapee) == os.getpid() and isolation._rttime(escapee) == other
        worker.kill()
        theirs.close()
        assert gone(escapee)
    finally:
        isolation._kill(escapee)
        isolation._kill(process.pid)
        process.wait()


def test_reaping_waits_for_the_orphans_of_the_dying_and_never_for_anothers_child(monkeypatch):
    """After a kill, on a played kernel: the grader reaps its dead children, waits for one whose parent is
    still dying until it is reparented to it, never waits for a child of a live stranger, and returns as
    soon as nothing is left (not at its deadline)."""
    import types

    me, dying, stranger = os.getpid(), 100, 999
    parents = {11: me, 12: 11, 13: dying, 14: stranger}  # a child; its child; the dying worker's; a stranger's
    reaped, clock = [], [0.0]

    def waitpid(pid, options):
        assert options == os.WNOHANG
        if parents.get(pid) != me:
            raise ChildProcessError(pid)
        del parents[pid]
        reaped.append(pid)
        for child, parent in parents.items():
            if parent == pid:
                parents[child] = me  # orphaned to the subreaper
        return pid, 9

    def elapse(seconds):  # time passes as the grader looks at it or waits
        clock[0] += seconds
        if clock[0] > 0.005 and parents.get(13) == dying:
            parents[13] = me  # the dying worker has exited: its child is the grader's now
        return clock[0]

    def monotonic():
        return elapse(0.001)

    def sleep(seconds):
        elapse(seconds)

    monkeypatch.setattr(os, "waitpid", waitpid)
    monkeypatch.setattr(isolation, "_parent", parents.get)
    monkeypatch.setattr(isolation, "time", types.SimpleNamespace(monotonic=monotonic, sleep=sleep))
    isolation._reap({11, 12, 13, 14}, dying)
    assert sorted(reaped) == [11, 12, 13] and parents == {14: stranger}
    assert clock[0] < 0.5  # a few short waits, far from the 2 s deadline


def folders_made_in_order(argv: list) -> list:
    """Walk a bwrap command line as bubblewrap does: every mount point's folders are there before it is
    mounted, each folder is made (mode 0755) once and only where nothing is yet. The folders made."""
    width = {"--ro-bind": 2, "--ro-bind-try": 2, "--bind": 2, "--symlink": 2, "--dir": 1, "--tmpfs": 1, "--proc": 1,
             "--dev": 1, "--remount-ro": 1, "--perms": 1, "--size": 1, "--chdir": 1, "--setenv": 2, "--cap-add": 1}
    made, mounted, dirs, i = set(), set(), [], 1
    while argv[i] != "--":
        flag = argv[i]
        if flag.startswith("--unshare") or flag in ("--die-with-parent", "--new-session", "--clearenv"):
            i += 1
            continue
        values = argv[i + 1:i + 1 + width[flag]]
        if flag in ("--ro-bind", "--ro-bind-try", "--bind", "--symlink", "--dir", "--tmpfs", "--proc", "--dev"):
            dest = values[-1]
            under_system = any(dest.startswith(s + "/") for s in ("/usr", "/dev", "/etc"))  # bwrap's own
            for ancestor in isolation._ancestors(Path(dest)):
                inside_a_mount = any(ancestor.startswith(m + "/") for m in mounted)
                assert ancestor in made or under_system or inside_a_mount, f"{dest}: {ancestor} is not there yet"
            if flag in ("--ro-bind", "--bind"):
                mounted.add(dest)
            if flag == "--dir":
                assert argv[i - 2:i] == ["--perms", "0755"] and dest not in made, dest
                dirs.append(dest)
            made.add(dest)
        i += 1 + width[flag]
    return dirs


def test_the_sandboxs_filesystem_is_built_in_an_order_bubblewrap_accepts(tmp_path, monkeypatch):
    """Every mount point's folders are made (mode 0755, once) before it is mounted, the system's folders and
    the interpreter are bound read-only, each visible package sits at /opt/site/NAME."""
    monkeypatch.setattr(isolation.shutil, "which", lambda name: "/usr/bin/bwrap")
    site = {name: path for name, path in isolation.visible_packages(()).items()}
    argv, inside, site_paths = isolation._bubblewrap_argv(tmp_path, site, None, Limits(disk_mb=3))
    assert (inside, site_paths, argv[-1]) == ("/submission", ["/opt/site"], "--")
    dirs = folders_made_in_order(argv)
    box = argv[:argv.index("--")]
    for folder in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(folder):
            assert ("--symlink", os.readlink(folder), folder) == tuple(box[box.index(folder) - 2:box.index(folder) + 1])
        elif os.path.isdir(folder):
            assert (folder, folder) in pairs(box, "--ro-bind", 2)
        else:
            assert folder not in box
    assert ("/etc/ld.so.cache", "/etc/ld.so.cache") in pairs(box, "--ro-bind-try", 2)
    prefix = str(Path(sys.base_prefix).resolve())
    assert (prefix, prefix) in pairs(box, "--ro-bind", 2)
    executable = Path(sys.executable).resolve()
    assert any(str(executable).startswith(s + "/") for s, d in pairs(box, "--ro-bind", 2) if s == d)
    if Path(prefix) in executable.parents:  # inside the installation: not bound again on its own
        assert (str(executable.parent), str(executable.parent)) not in pairs(box, "--ro-bind", 2)
    for name, source in site.items():
        assert (str(source), f"/opt/site/{name}") in pairs(box, "--ro-bind", 2)
    assert {"/opt", "/opt/site", "/opt/grader"} <= set(dirs)
    tail = ["--bind", str(tmp_path / "submission"), "/submission", "--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", "--size", str(isolation.SHM_BYTES), "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
            "--chdir", "/submission", "--clearenv"]
    start = box.index("--bind")
    assert box[start:start + len(tail)] == tail


def test_a_folder_outside_the_installation_is_bound_with_its_own_parents(tmp_path, monkeypatch):
    monkeypatch.setattr(isolation.shutil, "which", lambda name: "/usr/bin/bwrap")
    monkeypatch.setattr(isolation.sys, "base_prefix", "/usr")  # a system Python: under /usr, bound already
    monkeypatch.setattr(isolation.sys, "executable", "/usr/bin/python3")
    monkeypatch.setattr(isolation, "_site_folders", lambda: {"/usr/lib/python3/dist-packages", "/srv/venv/lib/site-packages"})
    argv, _, _ = isolation._bubblewrap_argv(tmp_path, {"numpy": Path("/srv/venv/lib/site-packages/numpy")}, None,
                                            Limits())
    folders_made_in_order(argv)
    box = argv[:argv.index("--")]
    assert ("/usr", "/usr") in pairs(box, "--ro-bind", 2) and "/srv" not in box
    assert ("/usr/lib/python3/dist-packages",) in pairs(box, "--tmpfs")  # the installation's own packages hidden
    assert ("/srv/venv/lib/site-packages",) not in pairs(box, "--tmpfs")  # not mounted in the sandbox at all
    assert ("/srv/venv/lib/site-packages/numpy", "/opt/site/numpy") in pairs(box, "--ro-bind", 2)


def test_a_system_without_merged_usr_and_an_interpreter_outside_its_installation(tmp_path, monkeypatch):
    """/bin, /lib... real folders (bound read-only, each one); a Python installed under /tmp (bound over the
    sandbox's own /tmp) whose interpreter lives outside its prefix (its folder bound too); every site folder
    inside something bound is hidden, wherever it is."""
    hidden = {"/lib/python3/dist-packages", "/tmp/py/bin/site-packages", "/tmp/py/install/lib/site-packages"}
    with monkeypatch.context() as m:
        m.setattr(isolation.shutil, "which", lambda name: "/usr/bin/bwrap")
        m.setattr(isolation.os.path, "islink", lambda path: False)
        m.setattr(isolation.os.path, "isdir", lambda path: True)
        m.setattr(isolation.sys, "base_prefix", "/tmp/py/install")
        m.setattr(isolation.sys, "executable", "/tmp/py/bin/python3")
        m.setattr(isolation, "_site_folders", lambda: hidden | {"/srv/elsewhere/site-packages"})
        argv, _, _ = isolation._bubblewrap_argv(tmp_path, {"numpy": Path("/srv/np/numpy")}, None, Limits())
    assert folders_made_in_order(argv).count("/tmp/py") == 1
    box = argv[:argv.index("--")]
    bound = pairs(box, "--ro-bind", 2)
    for folder in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/tmp/py/install", "/tmp/py/bin"):
        assert (folder, folder) in bound, folder
    assert "--symlink" not in box
    assert hidden == {folder for (folder,) in pairs(box, "--tmpfs")} - {"/tmp", "/dev/shm"}


def test_every_site_folder_the_python_knows_is_found(tmp_path, monkeypatch):
    """The installation's (purelib and platlib: two folders on lib64 systems), the running environment's,
    site's list (absent from an old virtualenv's site module) and those on sys.path; nothing else."""
    import types

    names = ("base-lib", "base-lib64", "env-lib", "env-lib64", "site", "on-path/site-packages",
             "on-path/dist-packages", "stdlib")
    folder = {name: tmp_path / name for name in names}
    for path in folder.values():
        path.mkdir(parents=True)
    prefix = str(Path(sys.base_prefix).resolve())

    def get_paths(vars=None):  # sysconfig's: a missing base is the running environment's own
        base = "base" if (vars or {}).get("base") == prefix else "env"
        platbase = "base" if (vars or {}).get("platbase") == prefix else "env"
        return {"purelib": str(folder[f"{base}-lib"]), "platlib": str(folder[f"{platbase}-lib64"])}

    on_path = [str(folder[name]) for name in ("stdlib", "on-path/site-packages", "on-path/dist-packages")]
    with monkeypatch.context() as m:
        m.setattr(isolation.sysconfig, "get_paths", get_paths)
        m.setattr(isolation, "sys", types.SimpleNamespace(base_prefix=sys.base_prefix,
                                                          path=[*on_path, str(tmp_path / "gone" / "site-packages")]))
        m.setattr(isolation, "site", types.SimpleNamespace(getsitepackages=lambda: [str(folder["site"])]))
        found = isolation._site_folders()
        m.setattr(isolation, "site", types.SimpleNamespace())
        without_list = isolation._site_folders()
    assert found == {str(path.resolve()) for name, path in folder.items() if name != "stdlib"}
    assert without_list == found - {str(folder["site"].resolve())}


# ----------------------------------------------------------------------------- removing a private folder
NOBODY = 65534


def make_hostile_folder(parent: Path) -> Path:
    """A worker's folder as a submission can leave it when it runs as the grader's user (the process
    level): folders made read-only, unreadable (no r: not even listed), unsearchable (no x), the folder
    itself unreadable, a link out; owned by that user."""
    import stat as st

    folder = parent / "backprop-grade-z"
    (folder / "submission" / "ro" / "deeper").mkdir(parents=True)
    (folder / "submission" / "ro" / "deeper" / "f.txt").write_text("x")
    (folder / "submission" / "ro" / "link").symlink_to("/etc")
    (folder / "submission" / "hidden" / "inner").mkdir(parents=True)
    (folder / "submission" / "hidden" / "inner" / "g.txt").write_text("y")
    (folder / "submission" / "blind" / "inner").mkdir(parents=True)
    (folder / "submission" / "blind" / "h.txt").write_text("z")
    (folder / "tmp").mkdir()
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
    for ro in (folder / "submission" / "ro" / "deeper", folder / "submission" / "ro", folder / "tmp"):
        ro.chmod(st.S_IRUSR | st.S_IXUSR)
    (folder / "submission" / "hidden").chmod(0)  # neither listed nor entered
    (folder / "submission" / "blind").chmod(st.S_IRUSR)  # listed, not entered
    folder.chmod(st.S_IWUSR | st.S_IXUSR)  # the private folder itself unreadable
    return folder


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a folder of another user")
@pytest.mark.parametrize("parent_mode", [0o1777, 0o755])  # the machine's /tmp, or the grader's own TMPDIR
def test_a_folder_made_unreadable_or_read_only_by_its_owner_is_removed_by_that_owner(parent_mode):
    import tempfile

    parent = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        folder = make_hostile_folder(parent)
        if parent_mode == 0o755:
            os.chown(parent, NOBODY, NOBODY)
        parent.chmod(parent_mode)
        pid = os.fork()
        if pid == 0:  # a grader that is not root: the worker's own user
            try:
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                fds = os.listdir("/proc/self/fd")
                removal.remove_folder(folder)
                os._exit(0 if not os.path.lexists(folder) and os.listdir("/proc/self/fd") == fds else 1)
            except BaseException:  # noqa: BLE001 - the child must not return into pytest
                os._exit(2)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0  # removed, no descriptor left open
        assert os.stat(parent).st_mode & 0o7777 == parent_mode and os.stat("/etc").st_mode & 0o777 == 0o755
    finally:
        import shutil

        shutil.rmtree(parent, ignore_errors=True)


def test_folders_nested_deeper_than_pythons_recursion_limit_are_removed(tmp_path):
    """Within the file cap a submission can nest more folders than a recursive removal can walk."""
    folder = tmp_path / "backprop-grade-d"
    folder.mkdir()
    fd = os.open(folder, os.O_RDONLY)
    for depth in range(sys.getrecursionlimit() + 100):
        os.mkdir("d", dir_fd=fd)
        if depth % 300 == 0:
            os.close(os.open("f", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
        fd, above = os.open("d", os.O_RDONLY, dir_fd=fd), fd
        os.close(above)
    os.close(fd)
    fds = os.listdir("/proc/self/fd")
    try:
        removal.remove_folder(folder)
        assert not folder.exists() and tmp_path.exists() and os.listdir("/proc/self/fd") == fds
    finally:  # never left for pytest's own (recursive) clean-up of tmp_path
        subprocess.run(["rm", "-rf", str(folder)], check=True)


def test_a_folder_gone_before_it_is_opened_is_passed_over(tmp_path, monkeypatch):
    """A sandboxed process not yet gone removes a folder just listed: the rest is removed all the same."""
    folder = tmp_path / "backprop-grade-v"
    (folder / "a" / "b").mkdir(parents=True)
    (folder / "a" / "b" / "f").write_text("x")
    (folder / "x").mkdir()
    elsewhere = tmp_path / "elsewhere"  # the grader's working folder: never touched (os.listdir(None) is ".")
    elsewhere.mkdir()
    (elsewhere / "keep").write_text("mine")
    monkeypatch.chdir(elsewhere)
    real = removal._files_removed
    monkeypatch.setattr(removal, "_files_removed", lambda fd: [*real(fd), "gone"])
    removal.remove_folder(folder)
    assert not folder.exists()
    assert (elsewhere / "keep").read_text() == "mine"


def test_a_folder_moved_while_it_is_removed_stops_the_removal_inside(tmp_path, monkeypatch):
    """A sandboxed process not yet gone moves the folder being emptied nearer the top: going back up
    would then leave the private folder; the removal stops rather than touch anything beside it."""
    parent = tmp_path / "parent"
    (parent / "x").mkdir(parents=True)
    (parent / "x" / "precious").write_text("the grader's")
    folder = parent / "backprop-grade-m"
    (folder / "a" / "b").mkdir(parents=True)
    (folder / "x").mkdir()
    real = removal._files_removed

    def files_removed(fd):
        names = sorted(real(fd), key=lambda name: name == "a")  # into a first, x left for later
        if os.path.samestat(os.fstat(fd), os.stat(folder / "a" / "b")):
            os.rename(folder / "a" / "b", folder / "b")  # moved up one level while being emptied
        return names

    monkeypatch.setattr(removal, "_files_removed", files_removed)
    removal.remove_folder(folder)
    assert (parent / "x" / "precious").read_text() == "the grader's"
    assert sorted(os.listdir(parent)) == ["backprop-grade-m", "x"]


def test_removing_never_changes_what_is_above_or_behind_a_link(tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir()
    parent.chmod(0o1777)
    outside = tmp_path / "outside"
    outside.mkdir()
    outside.chmod(0o555)
    folder = parent / "backprop-grade-w"
    (folder / "ro").mkdir(parents=True)
    (folder / "ro" / "link").symlink_to(outside)
    (folder / "ro").chmod(0o500)
    removal.remove_folder(folder)
    assert not folder.exists()
    assert os.stat(parent).st_mode & 0o7777 == 0o1777 and os.stat(outside).st_mode & 0o777 == 0o555
    removal.remove_folder(folder)  # again: nothing there, nothing changed
    assert os.stat(parent).st_mode & 0o7777 == 0o1777


# ----------------------------------------------------------------------------- small readers and signals
def test_a_process_group_is_killed_whole():
    leader = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; subprocess.Popen(['sleep', '300']);"
                               "print('ready', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
    assert leader.stdout.readline() == b"ready\n"
    members = [pid for pid, (_, group, _) in isolation.process_table().items() if group == leader.pid]
    assert len(members) == 2
    isolation._signal_group(leader.pid)
    assert leader.wait(timeout=30) == -9 and all(gone(pid) for pid in members)
    isolation._signal_group(leader.pid)  # gone: no error
    isolation._kill(leader.pid)


def test_a_process_of_another_user_cannot_be_signalled_and_that_is_quiet():
    """A worker's pid reused by another user's process (a grader that is not root): no error."""
    pid = os.fork()
    if pid == 0:
        try:
            if os.geteuid() == 0:
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            isolation._kill(1)  # init: root's
            isolation._signal_group(1)
            os._exit(0)
        except BaseException:  # noqa: BLE001 - the child must not return into pytest
            os._exit(2)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_limits_and_parents_read_from_garbled_proc_files(monkeypatch):
    import builtins
    import io

    files = {"/proc/77/limits": b"Limit Soft Hard Units\nMax realtime timeout      55      66       us\n",
             "/proc/78/limits": b"Max realtime timeout      unlimited      unlimited       us\n",
             "/proc/79/limits": b"Max realtime timeout      55      x       us\n",
             "/proc/80/limits": b"Max realtime timeout\n", "/proc/81/limits": b"Max open files 1 1\n",
             "/proc/77/stat": b"77 (a) b) S 12 77 77", "/proc/78/stat": b"78 (x) S y", "/proc/79/stat": b"79 (x)"}
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda path, *a, **k: io.BytesIO(files[path]) if path in files
                        else real_open(path, *a, **k))
    assert isolation._rttime(77) == 66 and isolation._rttime(78) == resource.RLIM_INFINITY
    assert isolation._rttime(79) is None and isolation._rttime(80) is None and isolation._rttime(81) is None
    assert isolation._parent(77) == 12 and isolation._parent(78) is None and isolation._parent(79) is None


def test_the_first_tags_exactly(monkeypatch):
    import itertools

    monkeypatch.setattr(isolation, "_tags", itertools.count(1))
    monkeypatch.setattr(isolation, "_live_tags", set())
    monkeypatch.setattr(isolation, "_OWN_RTTIME", 1000)
    assert [isolation._next_tag(), isolation._next_tag()] == [998, 997]  # below the grader's own, never it
    monkeypatch.setattr(isolation, "_tags", itertools.count(1))
    monkeypatch.setattr(isolation, "_OWN_RTTIME", 3)
    assert isolation._next_tag() == 1
    assert isolation._next_tag() is None  # 0 is no tag


def test_the_sandbox_sees_its_own_root(tmp_path):
    assert isolation._own_root(os.getpid()) is False
    assert isolation._own_root(99_999_999) is False  # no such process
    if not isolation.bubblewrap_works():
        pytest.skip("bubblewrap cannot run here")
    boxed = subprocess.Popen([shutil_which("bwrap"), "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
                              "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--proc", "/proc",
                              "--dev", "/dev", "--die-with-parent", "sh", "-c", "echo ready; read x"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert boxed.stdout.readline() == b"ready\n"
        inside = [pid for pid, (parent, _, _) in isolation.process_table().items() if parent == boxed.pid]
        assert inside and isolation._own_root(inside[0]) is True
    finally:
        boxed.communicate(b"\n")


def shutil_which(name: str) -> str:
    import shutil

    return shutil.which(name)
