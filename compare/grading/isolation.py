"""How a worker is started, contained and ended.

Two levels, the better one the machine allows (``Worker.level`` says which was used):

- **bubblewrap** (``bwrap``, Debian package ``bubblewrap``): the worker sees a read-only
  filesystem made of the system's libraries, the Python installation (its site-packages
  hidden), NumPy and the grader's worker files, plus two writable places: its private copy of
  the submission (``/submission``, its working directory) and a 64 MiB ``/tmp``. No network,
  its own PID, IPC and UTS namespaces (it cannot see or signal the grader or other students),
  a new session. Started as root, it drops to a throwaway user id (so process limits apply and
  nothing it can reach belongs to it but its own folder).
- **process** (no usable bwrap: macOS, a locked-down container): a plain child process in
  the private folder, with a minimal environment and NumPy alone on its path.

At both levels: its own session and process group, resource limits set before any student
code runs (address space, CPU time, processes, file size, open files, no core dumps), stdin
closed, stdout discarded, stderr read by the grader (only a short tail kept), and at the end
everything it started is killed — at the bubblewrap level by the kernel with its PID namespace,
at the process level by the grader walking the worker's process tree (as a child subreaper,
the grader inherits what tried to escape by double-forking).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .submission import ANSWER_KEY, Submission, copy_submission

HERE = Path(__file__).resolve().parent
BUBBLEWRAP = "bubblewrap"
PROCESS = "process"
AUTOGRAD_LIBRARIES = ("jax", "jaxlib", "tensorflow", "autograd", "mxnet", "theano", "tinygrad", "mlx")
TMP_BYTES = 64 * 1024 * 1024
THROWAWAY_UIDS = (60000, 65000)


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker (each a ``setrlimit`` in the worker before student code runs)."""

    memory_mb: int = 2048  # address space (RLIMIT_AS)
    cpu_seconds: int = 120  # CPU time of the worker's whole life (RLIMIT_CPU); wall time is the runner's
    processes: int = 32  # RLIMIT_NPROC, enforced where the worker runs under its own user id
    file_mb: int = 64  # largest file it may write (RLIMIT_FSIZE)
    open_files: int = 64  # RLIMIT_NOFILE

    def __post_init__(self):
        for name in ("memory_mb", "cpu_seconds", "processes", "file_mb", "open_files"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")
        if self.memory_mb < 256:
            raise ValueError(f"Limits.memory_mb must be at least 256 (Python and NumPy need it), got {self.memory_mb}")

    def as_arg(self) -> str:
        return (f"as={self.memory_mb << 20},cpu={self.cpu_seconds},nproc={self.processes},"
                f"fsize={self.file_mb << 20},nofile={self.open_files}")


@functools.lru_cache(maxsize=1)
def bubblewrap_works() -> bool:
    """bwrap is installed and can build a sandbox here (a locked-down container may forbid it)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None or not sys.platform.startswith("linux"):
        return False
    try:
        # Every feature the sandbox uses (--perms and --size need bubblewrap ≥ 0.5 and 0.8).
        probe = subprocess.run([bwrap, *_namespaces(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
                                "--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp",
                                "--perms", "0755", "--dir", "/tmp/probe", "--clearenv", "true"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@functools.lru_cache(maxsize=1)
def throwaway_uid_works() -> bool:
    """As root: whether the worker can drop to a throwaway user id inside the sandbox (a container
    may withhold CAP_SETUID); without it the sandbox still holds, as root without capabilities."""
    if os.geteuid() != 0 or not bubblewrap_works():
        return False
    drop = "import os; os.setgroups([]); os.setgid(65000); os.setuid(65000)"
    try:
        probe = subprocess.run([shutil.which("bwrap"), *_namespaces(), "--ro-bind", "/", "/", "--proc", "/proc",
                                "--dev", "/dev", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--",
                                str(Path(sys.executable).resolve()), "-I", "-S", "-c", drop],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _namespaces() -> list:
    # As root, no user namespace (the worker drops to a throwaway uid itself); otherwise one is needed.
    user = [] if os.geteuid() == 0 else ["--unshare-user"]
    return [*user, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session"]


def choose_level(isolation: str = "auto") -> str:
    """'auto' → bubblewrap where it works, else process; 'bubblewrap' insists (RuntimeError if absent)."""
    if isolation not in ("auto", BUBBLEWRAP, PROCESS):
        raise ValueError(f"isolation must be 'auto', {BUBBLEWRAP!r} or {PROCESS!r}, got {isolation!r}")
    if isolation == PROCESS:
        return PROCESS
    if bubblewrap_works():
        return BUBBLEWRAP
    if isolation == BUBBLEWRAP:
        raise RuntimeError("bubblewrap isolation was asked for, but `bwrap` is not installed or cannot create "
                           "namespaces here (Debian/Ubuntu: apt-get install bubblewrap)")
    return PROCESS


def _package_dir(name: str) -> Path | None:
    """Where an installed top-level package or module lives, found without importing it."""
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if found is None or not found.origin or found.origin in ("built-in", "frozen"):
        return None
    if found.submodule_search_locations:
        return Path(next(iter(found.submodule_search_locations))).resolve()
    return Path(found.origin).resolve()


def site_entries() -> dict:
    """{name: host path} of what goes on the worker's path by default: NumPy and its bundled libraries."""
    entries = {}
    numpy_dir = _package_dir("numpy")
    if numpy_dir is None:
        raise RuntimeError("NumPy is not installed in the grader's Python")
    entries["numpy"] = numpy_dir
    libs = numpy_dir.parent / "numpy.libs"
    if libs.is_dir():
        entries["numpy.libs"] = libs
    return entries


def site_folders(allow_imports=()) -> list:
    """The grader's site-packages folders, visible to the worker only when the course allows other
    imports (an allowed package brings its dependencies along only this way)."""
    if not allow_imports:
        return []
    folders = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    return sorted(str(Path(f).resolve()) for f in folders if Path(f).is_dir())


def denied_imports(sub: Submission, allow_imports=()) -> list:
    allowed = set(allow_imports) | ({sub.package} if sub.package else set())
    return sorted(name for name in set(ANSWER_KEY) | set(AUTOGRAD_LIBRARIES) if name not in allowed)


@dataclass
class Worker:
    """A started worker: its process, the grader's end of the channel, its stderr, where it runs."""

    process: subprocess.Popen
    sock: socket.socket
    stderr_fd: int
    level: str
    workdir: Path
    root_inside: str  # the submission's folder as the worker sees it
    uid: int | None = None

    def describe(self) -> str:
        if self.level == BUBBLEWRAP:
            who = ", a throwaway user id" if self.uid is not None else ""
            return ("bubblewrap: read-only filesystem, no network, own PID namespace" + who
                    + ", resource limits")
        return "process: own session, private folder, minimal environment, resource limits (no bubblewrap)"

    def kill(self) -> None:
        """Kill the worker and everything it started; wait for them; remove its private folder."""
        if self.process.poll() is None or self.level == PROCESS:
            doomed = _process_tree(self.process.pid) if self.level == PROCESS else set()
            _signal_group(self.process.pid)
            for pid in doomed:
                _kill(pid)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _kill(self.process.pid)
                self.process.wait()
            for pid in doomed:  # orphans reparented to us (we are a subreaper): reap them
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
        for closable in (self.sock, self.process.stderr):
            try:
                closable.close()
            except OSError:
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)


def _signal_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _process_tree(root: int) -> set:
    """Every process descended from ``root``, in its session or group, or orphaned to us (Linux /proc)."""
    parents, sessions = {}, {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return set()
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(name)
        parents[pid] = int(fields[1])
        sessions[pid] = (int(fields[2]), int(fields[3]))  # (pgid, sid)
    me = os.getpid()
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if pid not in tree and (parent in tree or root in sessions[pid]):
                tree.add(pid)
                grew = True
    orphans = {pid for pid, parent in parents.items() if parent == me and pid != root and _is_orphan(pid)}
    return (tree | orphans) - {root, me}


_children_started: set = set()  # pids of workers we started ourselves (not orphans)


def _is_orphan(pid: int) -> bool:
    return pid not in _children_started


def _become_subreaper() -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
    except Exception:  # noqa: BLE001 - not Linux: nothing to inherit
        pass


def _ancestors(path: Path) -> list:
    return [str(p) for p in reversed(path.parents) if str(p) != "/"]


def _bubblewrap_argv(workdir: Path, site: dict, folders: list, uid: int | None) -> tuple[list, str, list]:
    """(bwrap argv up to '--', the submission folder inside, the worker's --site entries)."""
    argv = [shutil.which("bwrap"), *_namespaces()]
    made = {"/usr", "/opt", "/opt/site", "/opt/grader"}
    argv += ["--ro-bind", "/usr", "/usr"]
    for link in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(link):
            argv += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            argv += ["--ro-bind", link, link]
            made.add(link)
    argv += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    # /tmp first: a later bind under /tmp (a virtual environment in /tmp/...) must stay on top of it.
    argv += ["--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    made.add("/tmp")
    for folder in ("/opt", "/opt/site", "/opt/grader"):
        argv += ["--perms", "0755", "--dir", folder]

    def bind(source: str, dest: str | None = None) -> None:
        dest = dest or source
        if any(dest == m or dest.startswith(m.rstrip("/") + "/") for m in ("/usr",)):
            argv.extend(["--ro-bind", source, dest])
            return
        for ancestor in _ancestors(Path(dest)):
            if ancestor not in made:
                argv.extend(["--perms", "0755", "--dir", ancestor])
                made.add(ancestor)
        argv.extend(["--ro-bind", source, dest])
        made.add(dest)

    prefix = Path(sys.base_prefix).resolve()
    bind(str(prefix))
    executable = Path(sys.executable).resolve()
    if prefix not in executable.parents:
        bind(str(executable.parent))
    for key in ("purelib", "platlib"):  # the base installation's own site-packages stay hidden
        base_site = sysconfig.get_paths(vars={"base": str(prefix), "platbase": str(prefix)})[key]
        if Path(base_site).is_dir() and prefix in Path(base_site).parents:
            argv += ["--tmpfs", base_site]
    for name, source in site.items():
        bind(str(source), f"/opt/site/{name}")
    for folder in folders:
        bind(folder)
    bind(str(HERE), "/opt/grader")
    argv += ["--bind", str(workdir / "submission"), "/submission", "--proc", "/proc", "--dev", "/dev",
             "--chdir", "/submission", "--clearenv"]
    for key, value in _environment("/submission", "/tmp").items():
        argv += ["--setenv", key, value]
    if uid is not None:
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return argv + ["--"], "/submission", ["/opt/site", *folders]


def _environment(home: str, tmp: str) -> dict:
    return {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": tmp, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _chown_tree(folder: Path, uid: int) -> None:
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, uid, uid, follow_symlinks=False)


def start_worker(sub: Submission, limits: Limits, allow_imports=(), isolation: str = "auto") -> Worker:
    """Copy the submission into a private folder and start a worker on it (not yet loaded)."""
    level = choose_level(isolation)
    site, folders = site_entries(), site_folders(allow_imports)
    workdir = Path(tempfile.mkdtemp(prefix="backprop-grade-"))
    try:
        copy_submission(sub, workdir / "submission")
        uid = None
        if level == BUBBLEWRAP:
            if throwaway_uid_works():
                uid = random.SystemRandom().randrange(*THROWAWAY_UIDS)
                _chown_tree(workdir / "submission", uid)
            prefix, root_inside, site_paths = _bubblewrap_argv(workdir, site, folders, uid)
            worker_py, env = "/opt/grader/worker.py", None
        else:
            _become_subreaper()
            private_site = workdir / "site"
            private_site.mkdir()
            for name, source in site.items():
                (private_site / name).symlink_to(source)
            (workdir / "tmp").mkdir()
            prefix, root_inside = [], str(workdir / "submission")
            site_paths = [str(private_site), *folders]
            worker_py, env = str(HERE / "worker.py"), _environment(root_inside, str(workdir / "tmp"))
        parent_end, child_end = socket.socketpair()
        deny = ",".join(denied_imports(sub, allow_imports))
        argv = [*prefix, str(Path(sys.executable).resolve()), "-I", "-S", "-B", worker_py,
                "--fd", str(child_end.fileno()), "--limits", limits.as_arg(), "--deny", deny]
        for path in site_paths:
            argv += ["--site", path]
        if uid is not None:
            argv += ["--uid", str(uid)]
        try:
            process = subprocess.Popen(argv, pass_fds=(child_end.fileno(),), stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                                       cwd=root_inside if level == PROCESS else None, start_new_session=True)
        finally:
            child_end.close()
        _children_started.add(process.pid)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    os.set_blocking(process.stderr.fileno(), False)
    parent_end.setblocking(False)
    return Worker(process, parent_end, process.stderr.fileno(), level, workdir, root_inside, uid)


def wait_gone(worker: Worker, timeout: float = 5.0) -> bool:
    """True once the worker's process has been reaped (for tests)."""
    end = time.monotonic() + timeout
    while worker.process.poll() is None and time.monotonic() < end:
        time.sleep(0.01)
    return worker.process.poll() is not None
