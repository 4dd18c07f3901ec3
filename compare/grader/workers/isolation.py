"""How a worker is started, contained and ended.

Two levels, the better one the machine allows (``Worker.level`` says which was used):

- **bubblewrap** (``bwrap``, Debian package ``bubblewrap``): the worker sees a read-only
  filesystem made of the system's libraries, the Python installation (its site-packages
  hidden), the visible packages (``packages``: NumPy and what the course allows) and the
  grader's worker files, plus three writable places: its private copy of the submission
  (``/submission``, its working directory), a ``/tmp`` of ``Limits.disk_mb`` and a small
  ``/dev/shm`` (the rest of ``/dev`` is read-only). No network, its own PID, IPC and UTS
  namespaces (it cannot see or signal the grader or other students), a new session. Started as
  root, it drops to a throwaway user id (so the process limit applies and nothing it can reach
  belongs to it but its own folder).
- **process** (no usable bwrap: macOS, a locked-down container): a plain child process in
  the private folder, with a minimal environment and the visible packages alone on its path.
  It runs as the grader's user: it could signal the grader or a classmate's worker.

At both levels: its own session and process group, resource limits set before any student
code runs (address space, CPU time, file size, open files, no core dumps; the number of
processes too where the worker has a user id of its own), stdin closed, stdout discarded,
stderr read by the grader (only a short tail kept). While the grader waits for a reply it
measures the submission as a whole (``Worker.overuse``): the memory of all its processes
together, how many processes it runs and what it wrote; over a limit, the worker is killed.
At the end everything it started is killed — at the bubblewrap level by the kernel with its
PID namespace, at the process level by the grader walking the worker's process tree (as a
child subreaper, the grader inherits what tried to escape by double-forking).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import random
import resource
import shutil
import signal
import site
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from compare.grader.submissions.submission import ANSWER_KEY, AUTOGRAD_LIBRARIES, Submission, copy_submission
from compare.grader.workers.packages import check_allowed, visible_packages
from compare.grader.workers.removal import remove_folder
from compare.grader.workers.usage import descendants, folder_usage, memory_bytes, process_table

SANDBOX = Path(__file__).resolve().parent.parent / "sandbox"  # the only folder the worker sees of the grader
BUBBLEWRAP = "bubblewrap"
PROCESS = "process"
SHM_BYTES = 16 * 1024 * 1024  # /dev/shm in the sandbox: enough for multiprocessing's semaphores
THROWAWAY_UIDS = (60000, 65000)


class IsolationUnavailable(RuntimeError):
    """The isolation level asked for cannot be had on this machine (a usage error for the CLIs)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission: each process's are ``setrlimit`` calls in the worker
    before student code runs; the totals are checked by the grader while it waits (``overuse``)."""

    memory_mb: int = 2048  # all its processes together (PSS), and each one's address space (RLIMIT_AS)
    cpu_seconds: int = 120  # CPU time of the worker's whole life (RLIMIT_CPU); wall time is the runner's
    processes: int = 32  # processes at once (also RLIMIT_NPROC where the worker has its own user id)
    file_mb: int = 64  # largest file it may write (RLIMIT_FSIZE)
    open_files: int = 64  # RLIMIT_NOFILE
    disk_mb: int = 64  # all it writes together (its folder, /tmp, /dev/shm), beyond the copy it was given
    files: int = 2000  # files and folders it may create, all places together

    def __post_init__(self):
        for name in ("memory_mb", "cpu_seconds", "processes", "file_mb", "open_files", "disk_mb", "files"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")
        if self.memory_mb < 256:
            raise ValueError(f"Limits.memory_mb must be at least 256 (Python and NumPy need it), got {self.memory_mb}")

    def as_arg(self, own_uid: bool, tag: int | None = None) -> str:
        """The worker's ``--limits``. RLIMIT_NPROC counts every process of a user id, so it is set
        only where the worker runs under a throwaway one: under the grader's own user id it would
        count the instructor's other processes and fail correct code. ``tag`` marks the worker
        and all it starts (see ``_next_tag``)."""
        nproc = f"nproc={self.processes}," if own_uid else ""
        rttime = f",rttime={tag}" if tag is not None else ""
        return (f"as={self.memory_mb << 20},cpu={self.cpu_seconds},{nproc}"
                f"fsize={self.file_mb << 20},nofile={self.open_files}{rttime}")


@functools.lru_cache(maxsize=1)
def _bubblewrap_problem() -> str | None:
    """Why bwrap cannot build the sandbox here, or None when it can."""
    bwrap = shutil.which("bwrap")
    if not sys.platform.startswith("linux"):
        return f"not Linux ({sys.platform})"
    if bwrap is None:
        return "`bwrap` is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        # Every feature the sandbox uses (--perms and --size need bubblewrap ≥ 0.5 and 0.8).
        probe = subprocess.run([bwrap, *_namespaces(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
                                "--perms", "1777", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm",
                                "--remount-ro", "/dev", "--perms", "1777", "--size", str(SHM_BYTES), "--tmpfs", "/tmp",
                                "--perms", "0755", "--dir", "/tmp/probe", "--clearenv", "true"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=20)
    except OSError as error:
        return f"`bwrap` cannot be run ({error.strerror or error})"
    except subprocess.TimeoutExpired:
        return "`bwrap` did not answer within 20 s"
    if probe.returncode != 0:
        said = probe.stderr.decode(errors="replace").strip().splitlines()
        return "`bwrap` cannot create namespaces here" + (f" ({said[-1][:200]})" if said else "")
    return None


def bubblewrap_works() -> bool:
    """bwrap is installed and can build a sandbox here (a locked-down container may forbid it)."""
    return _bubblewrap_problem() is None


def fallback_reason() -> str | None:
    """Why ``--isolation auto`` runs workers at the process level here; None where it uses bubblewrap."""
    return _bubblewrap_problem()


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
    """'auto' → bubblewrap where it works, else process (``fallback_reason()`` says why);
    'bubblewrap' insists (``IsolationUnavailable`` where it cannot run); 'process' is taken as is."""
    if isolation not in ("auto", BUBBLEWRAP, PROCESS):
        raise ValueError(f"isolation must be 'auto', {BUBBLEWRAP!r} or {PROCESS!r}, got {isolation!r}")
    if isolation == PROCESS:
        return PROCESS
    problem = _bubblewrap_problem()
    if problem is None:
        return BUBBLEWRAP
    if isolation == BUBBLEWRAP:
        raise IsolationUnavailable(f"bubblewrap isolation was asked for, but {problem}")
    return PROCESS


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
    limits: Limits = Limits()
    fallback: str | None = None  # why 'auto' ran it at the process level
    written_before: tuple = (0, 0)  # (bytes, entries) of its writable places when it started
    tag: int | None = None  # its processes' hard RLIMIT_RTTIME at the process level (see _next_tag)

    def describe(self) -> str:
        if self.level == BUBBLEWRAP:
            who = ", a throwaway user id" if self.uid is not None else ""
            return ("bubblewrap: read-only filesystem, no network, own PID namespace" + who
                    + ", resource limits")
        why = f"bubblewrap unavailable: {self.fallback}" if self.fallback else "asked for"
        return (f"process ({why}): own session, private folder, minimal environment, resource limits; "
                "same user as the grader")

    # ------------------------------------------------------------------ what it uses
    def _processes(self, table: dict) -> tuple[set, set]:
        """(every process to measure, the submission's own processes to count) in ``table``."""
        root = self.process.pid
        if self.level == BUBBLEWRAP:
            below = descendants(table, root)
            sandbox_init = {pid for pid in below if table[pid][0] == root}  # bwrap's pid 1 in the namespace
            return below | {root}, below - sandbox_init
        tree = _process_tree(root, table, self.tag) | {root}
        return tree, tree

    def _writable(self, table: dict) -> list:
        """The folders it can write to, as the grader reaches them."""
        if self.level == PROCESS:
            return [self.workdir]
        places = [self.workdir / "submission"]
        for pid, (parent, _, _) in table.items():
            if parent == self.process.pid and _own_root(pid):  # the sandbox's /tmp and /dev/shm, seen
                places += [Path(f"/proc/{pid}/root/tmp"), Path(f"/proc/{pid}/root/dev/shm")]  # through its pid 1
                break
        return places

    def ended(self) -> bool:
        """Whether the worker has ended (what it started may still hold the channel open at the
        process level; at the bubblewrap level the sandbox ends with it)."""
        return self.process.poll() is not None

    def overuse(self) -> str | None:
        """What limit the submission as a whole is over right now ('used more than 512 MiB of
        memory (all its processes together)'), or None."""
        limits = self.limits
        with _STARTING:  # a worker being started is not taken for an orphan
            table = process_table()
        measured, counted = self._processes(table)
        if len(counted) > limits.processes:
            return f"started more than {limits.processes} processes"
        if sum(memory_bytes(pid) for pid in measured) > limits.memory_mb << 20:
            return f"used more than {limits.memory_mb} MiB of memory (all its processes together)"
        bytes_before, entries_before = self.written_before
        used_bytes, entries = folder_usage(self._writable(table), stop_entries=entries_before + limits.files + 1)
        if entries - entries_before > limits.files:
            return f"wrote more than {limits.files:,} files and folders"
        if used_bytes - bytes_before > limits.disk_mb << 20:
            return f"wrote more than {limits.disk_mb} MiB"
        return None

    # ------------------------------------------------------------------ the end
    def kill(self) -> None:
        """Kill the worker and everything it started; wait for them; remove its private folder."""
        if self.process.poll() is None or self.level == PROCESS:
            with _STARTING:
                table = process_table()
            if self.level == PROCESS:
                doomed = _process_tree(self.process.pid, table, self.tag)
            else:  # killed by the kernel with the sandbox's PID namespace; reaped below if they come to us
                doomed = descendants(table, self.process.pid)
            _signal_group(self.process.pid)
            for pid in doomed if self.level == PROCESS else ():
                _kill(pid)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _kill(self.process.pid)
                self.process.wait()
            _reap(doomed, self.process.pid)
        _children_started.discard(self.process.pid)
        _live_tags.discard(self.tag)
        _live_workers.pop(id(self), None)
        for closable in (self.sock, self.process.stderr):
            with contextlib.suppress(OSError):
                closable.close()
        remove_folder(self.workdir)


def _own_root(pid: int) -> bool:
    """Whether ``pid`` already sees the sandbox's filesystem (not the grader's: bwrap starts on it)."""
    try:
        inside, here = os.stat(f"/proc/{pid}/root"), os.stat("/")
    except OSError:
        return False
    return (inside.st_dev, inside.st_ino) != (here.st_dev, here.st_ino)


def _reap(pids: set, dying: int, seconds: float = 2.0) -> None:
    """Wait for those of ``pids`` (killed with the worker ``dying``) that are reparented to us (we
    are a subreaper): no zombie is left behind. One whose parent is still dying is waited for
    until it is ours; one that belongs to a live parent is that parent's to reap."""
    pending, deadline = set(pids), time.monotonic() + seconds
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            try:
                done = os.waitpid(pid, os.WNOHANG)[0]
            except ChildProcessError:
                parent = _parent(pid)
                done = 0 if parent in pending or parent == dying else pid
            if done:
                pending.discard(pid)
        if pending:
            time.sleep(0.01)


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _signal_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # gone, or no longer ours
        os.killpg(pgid, signal.SIGKILL)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def _process_tree(root: int, table: dict, tag: int | None) -> set:
    """Every process descended from ``root`` or orphaned to us from it, in ``table``
    (``usage.process_table()``, read while no worker was being started).

    An orphan (a process that double-forked out of the worker's tree; we are a child subreaper,
    so it became our child) is told from the grader's own children by its hard RLIMIT_RTTIME,
    inherited from the worker and impossible to raise without privileges: ``tag`` marks this
    worker's; a value that is neither the grader's own nor a live worker's was lowered by
    student code (an escapee hiding), and is taken too."""
    me = os.getpid()
    tree = descendants(table, root)
    for pid, (parent, _, _) in table.items():
        if parent == me and pid != root and pid not in _children_started:
            marked = _rttime(pid)
            if marked is not None and (marked == tag or (marked != _OWN_RTTIME and marked not in _live_tags)):
                tree |= {pid} | descendants(table, pid)
    return tree - {root, me}


def _rttime(pid: int) -> int | None:
    """The hard RLIMIT_RTTIME of ``pid`` (-1 for unlimited), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/limits", "rb") as fh:
            for line in fh:
                if line.startswith(b"Max realtime timeout"):
                    hard = line.split()[4]
                    return resource.RLIM_INFINITY if hard == b"unlimited" else int(hard)
    except (OSError, ValueError, IndexError):
        return None
    return None


_OWN_RTTIME = resource.getrlimit(resource.RLIMIT_RTTIME)[1] if hasattr(resource, "RLIMIT_RTTIME") else None
_tags = itertools.count(1)
_live_tags: set = set()
_live_workers: dict = {}  # id -> every Worker started and not yet killed (kill_all ends them)
_children_started: set = set()  # pids of workers we started ourselves (not orphans)
_STARTING = threading.Lock()  # held while a worker is started and while /proc is read for orphans


def _next_tag() -> int | None:
    """A value of RLIMIT_RTTIME (a limit that matters only to real-time scheduling, which a
    worker cannot use) unique to one worker and below the grader's own, so that a worker may
    set it as its hard limit."""
    if _OWN_RTTIME is None:
        return None
    top = (1 << 40) if _OWN_RTTIME == resource.RLIM_INFINITY else _OWN_RTTIME - 1
    tag = top - next(_tags)
    if tag <= 0:
        return None
    _live_tags.add(tag)
    return tag


def _become_subreaper() -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
    except Exception:  # noqa: BLE001 - not Linux: nothing to inherit
        pass


def _ancestors(path: Path) -> list:
    return [str(p) for p in reversed(path.parents) if str(p) != "/"]


def _site_folders() -> set:
    """Every site-packages folder the grader's Python knows of (hidden in the sandbox)."""
    prefix = str(Path(sys.base_prefix).resolve())
    found = {sysconfig.get_paths(vars={"base": prefix, "platbase": prefix})[key] for key in ("purelib", "platlib")}
    found |= {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    found |= set(site.getsitepackages()) if hasattr(site, "getsitepackages") else set()
    found |= {entry for entry in sys.path if Path(entry).name in ("site-packages", "dist-packages")}
    return {str(Path(folder).resolve()) for folder in found if Path(folder).is_dir()}


def _bubblewrap_argv(workdir: Path, site_entries: dict, uid: int | None, limits: Limits) -> tuple[list, str, list]:
    """(bwrap argv up to '--', the submission folder inside, the worker's --site entries)."""
    argv = [shutil.which("bwrap"), *_namespaces()]
    made = {"/usr", "/opt", "/opt/site", "/opt/grader"}
    bound = ["/usr"]
    argv += ["--ro-bind", "/usr", "/usr"]
    for link in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(link):
            argv += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            argv += ["--ro-bind", link, link]
            made.add(link)
            bound.append(link)
    argv += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    # /tmp first: a later bind under /tmp (a virtual environment in /tmp/...) must stay on top of it.
    argv += ["--perms", "1777", "--size", str(limits.disk_mb << 20), "--tmpfs", "/tmp"]
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
    bound.append(str(prefix))
    executable = Path(sys.executable).resolve()
    if prefix not in executable.parents:
        bind(str(executable.parent))
        bound.append(str(executable.parent))
    for folder in sorted(_site_folders()):  # no site-packages of the installation: no answer key
        if any(folder == b or folder.startswith(b.rstrip("/") + "/") for b in bound):
            argv += ["--tmpfs", folder]
    for name, source in site_entries.items():
        bind(str(source), f"/opt/site/{name}")
    bind(str(SANDBOX), "/opt/grader")
    argv += ["--bind", str(workdir / "submission"), "/submission", "--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
             "--chdir", "/submission", "--clearenv"]
    for key, value in _environment("/submission", "/tmp").items():
        argv += ["--setenv", key, value]
    if uid is not None:
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return argv + ["--"], "/submission", ["/opt/site"]


def _environment(home: str, tmp: str) -> dict:
    return {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": tmp, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _chown_tree(folder: Path, uid: int) -> None:
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, uid, uid, follow_symlinks=False)


def start_worker(sub: Submission, limits: Limits, allow_imports=(), isolation: str = "auto") -> Worker:
    """Copy the submission into a private folder and start a worker on it (not yet loaded).

    ``ValueError`` when ``allow_imports`` names the answer key; ``IsolationUnavailable`` when
    bubblewrap is asked for and cannot run here."""
    check_allowed(allow_imports)
    level = choose_level(isolation)
    fallback = fallback_reason() if level == PROCESS and isolation == "auto" else None
    site_entries = visible_packages(allow_imports)
    workdir = Path(tempfile.mkdtemp(prefix="backprop-grade-"))
    try:
        copy_submission(sub, workdir / "submission")
        uid, tag = None, None
        if level == BUBBLEWRAP:
            if throwaway_uid_works():
                uid = random.SystemRandom().randrange(*THROWAWAY_UIDS)
                _chown_tree(workdir / "submission", uid)
            prefix, root_inside, site_paths = _bubblewrap_argv(workdir, site_entries, uid, limits)
            worker_py, env = "/opt/grader/worker.py", None
            written_before = folder_usage([workdir / "submission"])
        else:
            _become_subreaper()
            private_site = workdir / "site"
            private_site.mkdir()
            for name, source in site_entries.items():
                (private_site / name).symlink_to(source)
            (workdir / "tmp").mkdir()
            prefix, root_inside = [], str(workdir / "submission")
            site_paths = [str(private_site)]
            worker_py, env = str(SANDBOX / "worker.py"), _environment(root_inside, str(workdir / "tmp"))
            written_before = folder_usage([workdir])
            tag = _next_tag()
        parent_end, child_end = socket.socketpair()
        deny = ",".join(denied_imports(sub, allow_imports))
        argv = [*prefix, str(Path(sys.executable).resolve()), "-I", "-S", "-B", worker_py,
                "--fd", str(child_end.fileno()), "--limits", limits.as_arg(uid is not None, tag), "--deny", deny]
        for path in site_paths:
            argv += ["--site", path]
        if uid is not None:
            argv += ["--uid", str(uid)]
        try:
            with _STARTING:
                process = subprocess.Popen(argv, pass_fds=(child_end.fileno(),), stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                                           cwd=root_inside if level == PROCESS else None, start_new_session=True)
                _children_started.add(process.pid)
        finally:
            child_end.close()
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    os.set_blocking(process.stderr.fileno(), False)
    parent_end.setblocking(False)
    worker = Worker(process, parent_end, process.stderr.fileno(), level, workdir, root_inside, uid, limits, fallback,
                    written_before, tag)
    _live_workers[id(worker)] = worker
    return worker


def wait_gone(worker: Worker, timeout: float = 5.0) -> bool:
    """True once the worker's process has been reaped (for tests)."""
    end = time.monotonic() + timeout
    while worker.process.poll() is None and time.monotonic() < end:
        time.sleep(0.01)
    return worker.process.poll() is not None


def kill_all() -> None:
    """Kill every worker still running and remove its private folder: a run that is stopped
    (Ctrl-C, SIGTERM) leaves no process and no copy of a submission behind."""
    for worker in list(_live_workers.values()):
        worker.kill()
