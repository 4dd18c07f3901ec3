"""Limits as a submission meets them: read back from inside the worker, and pushed one over.

A *probe* is a small submission whose constructor looks at its own world (resource limits,
what it may write, what it can see on its path) and returns what it saw as its ``params``
(``{name: numbers}``); the test starts a real worker on it (``WorkerRunner``, no torch, no
battery) at each isolation level this machine offers. Every limit is checked at the cap (no
effect) and one over (the worker is stopped, with a message naming the limit).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import resource
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from compare.grader.sandbox import wire
from compare.grader.sandbox.errors import StudentError
from compare.grader.submissions.submission import resolve
from compare.grader.workers import isolation, packages, removal, usage
from compare.grader.workers.isolation import IsolationUnavailable, Limits
from compare.grader.workers.runner import WorkerRunner

needs_bwrap = pytest.mark.skipif(not isolation.bubblewrap_works(), reason="bubblewrap cannot run here")
LEVELS = ["process", pytest.param("bubblewrap", marks=needs_bwrap)]
MiB = 1 << 20

PROBE = '''
import numpy as np

class Probe:
    def __init__(self):
        self.params = {name: np.atleast_1d(np.asarray(value, dtype=float)) for name, value in observe().items()}

    def run(self):
        return 0.0, {}
'''


def start(tmp_path: Path, body: str, *, isolation_level: str, limits: Limits | None = None, timeout: float = 20,
          allow_imports=()) -> WorkerRunner:
    """A started runner on a probe whose ``observe()`` is ``body``."""
    folder = tmp_path / "probe"
    folder.mkdir(exist_ok=True)
    (folder / "probe.py").write_text(textwrap.dedent(body) + PROBE)
    runner = WorkerRunner(resolve(f"{folder / 'probe.py'}:Probe"), timeout=timeout, limits=limits or Limits(),
                          isolation=isolation_level, allow_imports=allow_imports)
    runner.start()
    return runner


def observe(tmp_path: Path, body: str, **options) -> dict:
    """What the probe saw: {name: list of floats}."""
    runner = start(tmp_path, body, **options)
    try:
        return {name: value.tolist() for name, value in runner.make("p", "Probe()", [], "run").items()}
    finally:
        runner.close()


def own_uid(level: str) -> bool:
    return level == "bubblewrap" and isolation.throwaway_uid_works()


# ----------------------------------------------------------------------------- each process's limits
LIMITS_SEEN = '''
import ctypes, resource

def observe():
    seen = {}
    for name in ("AS", "CPU", "FSIZE", "NOFILE", "CORE", "NPROC"):
        soft, hard = resource.getrlimit(getattr(resource, "RLIMIT_" + name))
        seen[name] = [soft, hard]
        try:  # one more than the hard limit: only a privileged process could
            resource.setrlimit(getattr(resource, "RLIMIT_" + name), (soft, hard + 1 if hard >= 0 else hard))
            seen["raised " + name] = 1
        except (ValueError, OSError):
            seen["raised " + name] = 0
    signal = ctypes.c_int(-1)
    ctypes.CDLL(None).prctl(2, ctypes.byref(signal))  # PR_GET_PDEATHSIG
    seen["parent death signal"] = signal.value
    return seen
'''


@pytest.mark.parametrize("level", LEVELS)
def test_each_limit_is_set_hard_before_student_code_runs(tmp_path, level):
    limits = Limits(memory_mb=700, cpu_seconds=77, processes=9, file_mb=3, open_files=33)
    seen = observe(tmp_path, LIMITS_SEEN, isolation_level=level, limits=limits)
    assert seen["AS"] == [700 * MiB] * 2 and seen["CPU"] == [77, 77]
    assert seen["FSIZE"] == [3 * MiB] * 2 and seen["NOFILE"] == [33, 33] and seen["CORE"] == [0, 0]
    for name in ("AS", "CPU", "FSIZE", "NOFILE", "CORE"):
        assert seen["raised " + name] == [0], name
    assert seen["parent death signal"] == [9]  # SIGKILL when the grader dies
    if own_uid(level):  # a throwaway user id: the process limit is the kernel's
        assert seen["NPROC"] == [9, 9] and seen["raised NPROC"] == [0]
    else:  # the grader's own user id: RLIMIT_NPROC would count the instructor's processes
        assert seen["NPROC"] == list(resource.getrlimit(resource.RLIMIT_NPROC))


def test_the_process_level_ignores_the_instructors_other_processes(tmp_path):
    """Under the grader's user id, many processes already running must not stop a thread."""
    limits = Limits(processes=2)
    sleepers = [subprocess.Popen(["sleep", "60"]) for _ in range(3)]  # the instructor's other work
    try:
        seen = observe(tmp_path, '''
            import threading
            def observe():
                done = []
                thread = threading.Thread(target=lambda: done.append(1))
                thread.start(); thread.join()
                return {"thread ran": len(done)}
        ''', isolation_level="process", limits=limits)
        assert all(sleeper.poll() is None for sleeper in sleepers)  # the grader's own children: not killed
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()
    assert seen == {"thread ran": [1]}


# ----------------------------------------------------------------------------- the submission as a whole
FORK = '''
import os, time
r, w = os.pipe()  # children that hold memory say so here
def observe():
    forked = 0
    for _ in range({n}):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            {child}
            time.sleep(600)
            os._exit(0)
        forked += 1
    {then}
    return {{"forked": forked}}
'''


@pytest.mark.parametrize("level", LEVELS)
def test_processes_are_counted_for_the_whole_submission(tmp_path, level):
    limits = Limits(processes=4)
    at_cap = FORK.format(n=3, child="pass", then="pass")  # the worker and 3 children: 4
    runner = start(tmp_path, at_cap, isolation_level=level, limits=limits)
    try:
        assert runner.make("p", "Probe()", [], "run")["forked"].tolist() == [3]
        assert runner.worker.overuse() is None
        measured, counted = runner.worker._processes(usage.process_table())
        assert len(counted) == 4 and counted <= measured  # the worker and its 3 children; not bwrap's own
    finally:
        runner.close()
    one_over = FORK.format(n=4, child="pass", then="time.sleep(600) if forked == 4 else None")
    if own_uid(level):  # the kernel refuses the fifth process before the grader sees it
        assert observe(tmp_path, one_over, isolation_level=level, limits=limits) == {"forked": [3]}
        return
    runner = start(tmp_path, one_over, isolation_level=level, limits=limits)
    process = runner.worker.process
    with pytest.raises(StudentError) as caught:
        runner.make("p", "Probe()", [], "run")
    assert caught.value.kind == "died" and "it started more than 4 processes" in str(caught.value)
    assert runner.worker is None and process.poll() is not None  # killed before the error is reported


@pytest.mark.parametrize("level", LEVELS)
def test_memory_is_counted_for_all_processes_together(tmp_path, level):
    """300 MiB for the submission: two children holding 100 MiB each fit (with the worker's own
    ~30 MiB), three holding 120 MiB do not (each alone would)."""
    limits = Limits(memory_mb=300)
    hold = "hog = bytearray({size} << 20); hog[::4096] = b'x' * len(hog[::4096])"
    runner = start(tmp_path, FORK.format(n=2, child=hold.format(size=100) + "; os.write(w, b'.')",
                                         then="os.read(r, 1); os.read(r, 1)"), isolation_level=level, limits=limits)
    try:
        runner.make("p", "Probe()", [], "run")
        assert runner.worker.overuse() is None
    finally:
        runner.close()
    with pytest.raises(StudentError) as caught:
        observe(tmp_path, FORK.format(n=3, child=hold.format(size=120), then="time.sleep(600)"), isolation_level=level,
                limits=limits)
    assert caught.value.kind == "died"
    assert "it used more than 300 MiB of memory (all its processes together)" in str(caught.value)


WRITE = '''
import os, tempfile, time
def observe():
    folder = {folder}
    for i in range({files}):
        with open(os.path.join(folder, f"out{{i}}.bin"), "wb") as fh:
            fh.write(b"x" * {size})
    {then}
    return {{"written": {files}}}
'''


@pytest.mark.parametrize("place", ["os.getcwd()", "tempfile.gettempdir()"])
@pytest.mark.parametrize("level", LEVELS)
def test_what_a_submission_writes_is_capped(tmp_path, level, place):
    limits = Limits(files=50, disk_mb=2)
    runner = start(tmp_path, WRITE.format(folder=place, files=50, size=0, then="pass"), isolation_level=level,
                   limits=limits)
    try:
        assert runner.make("p", "Probe()", [], "run")["written"].tolist() == [50]
        assert runner.worker.overuse() is None  # 50 files: at the cap
    finally:
        runner.close()
    runner = start(tmp_path, WRITE.format(folder=place, files=2, size=1 << 20, then="pass"), isolation_level=level,
                   limits=limits)
    try:
        assert runner.make("p", "Probe()", [], "run")["written"].tolist() == [2]
        assert runner.worker.overuse() is None  # 2 MiB: at the cap
    finally:
        runner.close()
    with pytest.raises(StudentError) as caught:
        observe(tmp_path, WRITE.format(folder=place, files=51, size=0, then="time.sleep(600)"),
                isolation_level=level, limits=limits)
    assert caught.value.kind == "died" and "it wrote more than 50 files and folders" in str(caught.value)
    with pytest.raises(StudentError) as caught:
        observe(tmp_path, WRITE.format(folder=place, files=3, size=1 << 20, then="time.sleep(600)"),
                isolation_level=level, limits=limits)
    if level == "bubblewrap" and place.startswith("tempfile"):  # a tmpfs of 2 MiB: the kernel says no first
        assert caught.value.kind == "raised" and "No space left on device" in str(caught.value)
    else:
        assert caught.value.kind == "died" and "it wrote more than 2 MiB" in str(caught.value)


@needs_bwrap
def test_dev_is_read_only_and_dev_shm_small_in_the_sandbox(tmp_path):
    seen = observe(tmp_path, '''
        import os
        def observe():
            seen = {}
            for path in ("/dev/new", "/dev/shm/new"):
                written = 0
                try:
                    with open(path, "wb") as fh:
                        for _ in range(64):
                            fh.write(b"y" * (1 << 20))
                            fh.flush()
                            written += 1
                except OSError:
                    pass
                seen[path] = written
            with open("/dev/null", "wb") as fh:
                seen["/dev/null"] = fh.write(b"ok")
            return seen
    ''', isolation_level="bubblewrap")
    assert seen["/dev/new"] == [0] and seen["/dev/null"] == [2]
    assert seen["/dev/shm/new"] == [isolation.SHM_BYTES // MiB]  # 16 MiB fit, the 17th does not


def test_an_escapee_still_counts_at_the_process_level(tmp_path):
    """Double-forked into a new session, reparented to the grader: its memory is the submission's,
    and it is killed with the worker."""
    marker = f"bp-escapee-{uuid.uuid4().hex}"
    escape = f'''
import os, sys, time
HOG = "hog = bytearray(120 << 20); hog[::4096] = b'x' * len(hog[::4096]); import time; time.sleep(600)"
def observe():
    for _ in range(3):
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", HOG, "{marker}"])
            os._exit(0)
    time.sleep(600)
'''
    zombies_before = zombies()
    with pytest.raises(StudentError) as caught:
        observe(tmp_path, escape, isolation_level="process", limits=Limits(memory_mb=300))
    assert "it used more than 300 MiB of memory (all its processes together)" in str(caught.value)
    assert gone(marker) and zombies() <= zombies_before  # killed, and reaped by the grader


def zombies() -> set:
    """The grader's children that ended and were not waited for."""
    table = usage.process_table()
    found = set()
    for pid, (parent, _, _) in table.items():
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                if parent == os.getpid() and fh.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    found.add(pid)
        except OSError:
            continue
    return found


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


def gone(marker: str, seconds: float = 10) -> bool:
    """Whether no process carries ``marker``, waiting up to ``seconds`` for the kernel to reap them."""
    deadline = time.monotonic() + seconds
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    return processes_with(marker) == []


CHILD_THEN = '''
import os, sys, time
child = os.fork()
if child == 0:  # started when the module is loaded, running before the module returns
    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", "{marker}"])
while b"{marker}" not in open(f"/proc/{{child}}/cmdline", "rb").read():
    time.sleep(0.01)

def observe():
    {then}
'''


@pytest.mark.parametrize("level", LEVELS)
def test_a_timed_out_request_kills_the_worker_and_what_it_started(tmp_path, level):
    marker = f"bp-timeout-{uuid.uuid4().hex}"
    runner = start(tmp_path, CHILD_THEN.format(marker=marker, then="time.sleep(600)"), isolation_level=level,
                   timeout=1)
    process = runner.worker.process
    assert not gone(marker, seconds=0)  # the child is running before the request that times out
    with pytest.raises(StudentError) as caught:
        runner.make("p", "Probe()", [], "run")
    assert caught.value.kind == "timeout" and "did not return within 1 s" in str(caught.value)
    assert not os.path.exists(f"/proc/{process.pid}")  # killed and reaped (no zombie) before the error
    assert process.returncode == -9 and runner.worker is None
    assert gone(marker)


@pytest.mark.parametrize("level", LEVELS)
def test_the_children_of_a_worker_that_exits_are_killed(tmp_path, level):
    marker = f"bp-exited-{uuid.uuid4().hex}"
    runner = start(tmp_path, CHILD_THEN.format(marker=marker, then="os._exit(0)"), isolation_level=level)
    with pytest.raises(StudentError) as caught:
        runner.make("p", "Probe()", [], "run")
    assert caught.value.kind == "died" and "(exit code 0)" in str(caught.value)
    assert gone(marker)


@pytest.mark.parametrize("level", LEVELS)
def test_a_closed_worker_leaves_no_open_file_and_no_folder_in_the_grader(tmp_path, level):
    before = set(os.listdir("/proc/self/fd"))
    runner = start(tmp_path, "def observe():\n    return {}\n", isolation_level=level)
    worker = runner.worker  # still referenced: its channel and pipe must be closed, not collected
    runner.close()
    assert set(os.listdir("/proc/self/fd")) == before and not worker.workdir.exists()


def test_the_last_bytes_of_stderr_are_kept(tmp_path):
    runner = start(tmp_path, '''
        import os
        def observe():
            os.write(2, b"first line, long gone\\n" + b"a" * 10_000 + b"\\nthe dying line\\n")
            os._exit(3)
    ''', isolation_level="process")
    with pytest.raises(StudentError) as caught:
        runner.make("p", "Probe()", [], "run")
    assert str(caught.value).endswith("(exit code 3): the dying line")
    assert len(runner.stderr_tail) == 4096 and runner.stderr_tail.endswith(b"a\nthe dying line\n")


NOBODY = 65534
AS_NOBODY = '''
import json, sys, tempfile, textwrap
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from compare.grader.workers.runner import WorkerRunner
from compare.grader.submissions.submission import resolve
folder = Path(tempfile.mkdtemp())
(folder / "probe.py").write_text(sys.argv[2])
with WorkerRunner(resolve(f"{folder}/probe.py:Probe"), timeout=20) as runner:
    print(json.dumps({"level": runner.level, **{k: v.tolist() for k, v in runner.make("p", "Probe()", [], "run").items()}}))
'''


def _can_run_as_nobody() -> bool:
    if os.geteuid() != 0:
        return False
    try:
        return subprocess.run([sys.executable, "-c", "import numpy"], user=NOBODY, group=NOBODY, extra_groups=[],
                              capture_output=True, timeout=60, cwd="/").returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(not _can_run_as_nobody(), reason="needs root, and a Python that an ordinary user can run")
def test_as_an_ordinary_user_dev_is_read_only_and_nproc_unset():
    """Non-root bubblewrap maps the grader's own user id: /dev must still be read-only, /dev/shm
    small, and RLIMIT_NPROC (which would count the user's other processes) left alone."""
    body = textwrap.dedent('''
        import os, resource
        def observe():
            seen = {"nproc": list(resource.getrlimit(resource.RLIMIT_NPROC))}
            for path in ("/dev/new", "/dev/shm/new"):
                written = 0
                try:
                    with open(path, "wb") as fh:
                        for _ in range(64):
                            fh.write(b"y" * (1 << 20)); fh.flush(); written += 1
                except OSError:
                    pass
                seen[path] = written
            return seen
    ''') + PROBE
    result = subprocess.run([sys.executable, "-c", AS_NOBODY, str(Path(__file__).resolve().parent.parent), body],
                            user=NOBODY, group=NOBODY, extra_groups=[], capture_output=True, timeout=120, cwd="/",
                            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/"})
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    seen = json.loads(result.stdout)
    if seen["level"].startswith("bubblewrap"):
        assert seen["/dev/new"] == [0] and seen["/dev/shm/new"] == [isolation.SHM_BYTES // MiB]
    limit = subprocess.run([sys.executable, "-c", "import resource; print(resource.getrlimit(resource.RLIMIT_NPROC))"],
                           user=NOBODY, group=NOBODY, extra_groups=[], capture_output=True, text=True, cwd="/")
    assert str(tuple(int(v) for v in seen["nproc"])) == limit.stdout.strip()


# ----------------------------------------------------------------------------- the measures themselves
def test_folder_usage_counts_entries_and_blocks_without_following_links(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "data.bin").write_bytes(b"x" * 10_000)
    (tmp_path / "a" / "link").symlink_to("/usr")  # a folder full of files, never walked
    (tmp_path / "empty").write_bytes(b"")
    used, entries = usage.folder_usage([tmp_path])
    assert entries == 5  # a, a/b, a/b/data.bin, a/link, empty
    assert 10_000 <= used < 10_000 + 64 * 1024
    assert usage.folder_usage([tmp_path], stop_entries=2)[1] == 2
    assert usage.folder_usage([tmp_path / "missing", tmp_path / "a" / "b"])[1] == 1


def test_descendants_follow_parents_only():
    table = {10: (1, 10, 10), 11: (10, 10, 10), 12: (11, 12, 12), 13: (1, 10, 10), 14: (12, 14, 14)}
    assert usage.descendants(table, 10) == {11, 12, 14}
    assert usage.descendants(table, 14) == set()


def test_memory_of_a_process_is_its_pss_and_nothing_once_gone():
    mine = usage.memory_bytes(os.getpid())
    assert 1 << 20 < mine < 64 << 30
    child = subprocess.Popen(["true"])
    child.wait()
    assert usage.memory_bytes(child.pid) == 0
    table = usage.process_table()
    assert table[os.getpid()][0] == os.getppid() and os.getpid() in usage.descendants(table, os.getppid())


# ----------------------------------------------------------------------------- no answer key
def _write_distribution(site: Path, name: str, tops: dict, requires=()) -> None:
    """A regular (non-editable) install of ``name`` into ``site``: its files and a dist-info."""
    files = []
    for relative, text in tops.items():
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        files.append(relative)
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
                                   + "".join(f"Requires-Dist: {r}\n" for r in requires))
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in [*files, f"{info.name}/METADATA", f"{info.name}/RECORD"]))


@pytest.fixture
def regular_install(tmp_path, monkeypatch):
    """A site folder as a regular install leaves it: this project (the answer key), an allowed
    package that needs a helper (and an extra it is not asked for), all on the grader's path."""
    site = tmp_path / "site" / "site-packages"
    _write_distribution(site, "backprop-twins", {"manual/__init__.py": "", "manual/mlp.py": "ANSWER = 42\n",
                                                 "reference/__init__.py": "", "compare/__init__.py": ""})
    _write_distribution(site, "coursepkg", {"coursepkg/__init__.py": "from coursehelper import VALUE\n"},
                        requires=["coursehelper>=1", 'courseextra; extra == "fancy"', "notinstalled"])
    _write_distribution(site, "coursehelper", {"coursehelper.py": "VALUE = 7\n"})
    _write_distribution(site, "courseextra", {"courseextra.py": ""})
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    return site


def test_only_numpy_is_visible_by_default():
    seen = packages.visible_packages()
    assert {"numpy", "numpy.libs"} <= set(seen) <= {"numpy", "numpy.libs", *[n for n in seen if n.endswith(".dist-info")]}
    assert all(name.startswith("numpy") for name in seen)


def test_an_allowed_package_brings_its_requirements_and_nothing_else(regular_install):
    seen = packages.visible_packages(["coursepkg"])
    assert {"coursepkg", "coursehelper.py", "coursepkg-1.0.dist-info", "numpy"} <= set(seen)
    assert not {"courseextra.py", "manual", "reference", "compare"} & set(seen)
    assert seen["coursepkg"] == (regular_install / "coursepkg").resolve()


def test_a_package_installed_without_a_list_of_files_is_found_by_its_folder(regular_install):
    (regular_install / "bare").mkdir()
    (regular_install / "bare" / "__init__.py").write_text("")
    info = regular_install / "bare-2.0.dist-info"  # metadata without RECORD, as Debian's own packages
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bare\nVersion: 2.0\n")
    (info / "top_level.txt").write_text("bare\n")
    importlib.invalidate_caches()
    seen = packages.visible_packages(["bare"])
    assert seen["bare"] == (regular_install / "bare").resolve() and "numpy" in seen


@pytest.mark.parametrize("name", ["manual", "reference", "compare"])
def test_allowing_the_answer_key_is_refused(name, tmp_path):
    with pytest.raises(ValueError, match=f"allow_imports names '{name}'"):
        packages.visible_packages([name])
    (tmp_path / "x.py").write_text("class Net: pass\n")
    with pytest.raises(ValueError, match=f"'{name}'"):
        WorkerRunner(resolve(f"{tmp_path / 'x.py'}:Net"), allow_imports=["numpy", name])


SYS_PATH_SEEN = '''
import os, sys
WATCHED = {"manual", "reference", "compare", "coursepkg", "coursehelper.py", "courseextra.py", "numpy", "probe.py", "tests", "backprop_twins-1.0.dist-info", "pyproject.toml"}
def observe():
    seen = {}
    for entry in sys.path:
        try:
            for name in set(os.listdir(entry or ".")) & WATCHED:
                seen["entry " + name] = 1
        except OSError:
            pass
    import coursepkg
    seen["coursepkg"] = coursepkg.VALUE
    try:
        open(%r).read()
        seen["answer key by path"] = 1
    except OSError:
        seen["answer key by path"] = 0
    return seen
'''


@pytest.mark.parametrize("level", LEVELS)
def test_no_answer_key_on_the_path_whatever_is_allowed(tmp_path, level, regular_install):
    seen = observe(tmp_path, SYS_PATH_SEEN % str(regular_install / "manual" / "mlp.py"), isolation_level=level,
                   allow_imports=["coursepkg"])
    names = {key.removeprefix("entry ") for key in seen if key.startswith("entry ")}
    assert {"coursepkg", "coursehelper.py", "numpy", "probe.py"} <= names
    assert not {"manual", "reference", "compare", "courseextra.py", "tests",
                "backprop_twins-1.0.dist-info", "pyproject.toml"} & names
    assert seen["coursepkg"] == [7]
    if level == "bubblewrap":  # not on the path, and not on its filesystem either
        assert seen["answer key by path"] == [0]


# ----------------------------------------------------------------------------- loud isolation
@pytest.fixture
def no_bwrap(monkeypatch):
    isolation._bubblewrap_problem.cache_clear()
    monkeypatch.setattr(isolation.shutil, "which", lambda name: None)
    yield
    isolation._bubblewrap_problem.cache_clear()


def test_asking_for_missing_bubblewrap_is_its_own_error(no_bwrap):
    with pytest.raises(IsolationUnavailable, match="bubblewrap isolation was asked for, but `bwrap` is not installed"):
        isolation.choose_level("bubblewrap")
    assert issubclass(IsolationUnavailable, RuntimeError)
    assert isolation.choose_level("auto") == "process"
    assert isolation.fallback_reason().startswith("`bwrap` is not installed")


def test_a_fallback_says_why_and_a_chosen_process_level_says_so(tmp_path, no_bwrap):
    runner = start(tmp_path, "def observe():\n    return {}\n", isolation_level="auto")
    try:
        assert runner.level.startswith("process (bubblewrap unavailable: `bwrap` is not installed")
    finally:
        runner.close()
    runner = start(tmp_path, "def observe():\n    return {}\n", isolation_level="process")
    try:
        assert runner.level.startswith("process (asked for)")
    finally:
        runner.close()


@needs_bwrap
def test_where_bubblewrap_works_there_is_no_fallback_reason():
    assert isolation.fallback_reason() is None and isolation.choose_level("auto") == "bubblewrap"


# ----------------------------------------------------------------------------- replies a worker forges
class FakeWorker:
    """The grader's end of a channel whose other end the test writes (as a hostile worker would)."""

    def __init__(self):
        self.sock, self.peer = socket.socketpair()
        self.sock.setblocking(False)
        self.stderr_r, self.stderr_w = os.pipe()
        os.set_blocking(self.stderr_r, False)
        self.stderr_fd = self.stderr_r
        self.process = None

    def overuse(self):
        return None

    def ended(self):
        return False

    def kill(self):
        for fd in (self.stderr_r, self.stderr_w):
            os.close(fd)
        self.sock.close()
        self.peer.close()


def _answer(header: dict, arrays: dict):
    """A runner whose worker answers the next request with this frame; returns (runner, worker)."""
    runner = WorkerRunner(resolve(f"{Path(__file__).resolve()}:FakeWorker"), timeout=5)
    worker = FakeWorker()
    runner.worker = worker

    def reply():
        try:
            wire.read_frame(worker.peer)
            worker.peer.sendall(wire.encode({"seq": 1, **header}, arrays))
        except (OSError, EOFError, wire.WireError):
            pass  # the runner closed the channel first

    threading.Thread(target=reply, daemon=True).start()
    return runner


LOSS = {"loss": np.float64(1.0).reshape(())}


@pytest.mark.parametrize("header, arrays, request_kind", [
    ({"status": "ok", "names": [1]}, {"1": np.zeros(2)}, "make"),
    ({"status": "ok", "names": ["W1", 1]}, {"W1": np.zeros(2), "1": np.zeros(2)}, "make"),
    ({"status": "ok", "names": [["W1"]]}, {"W1": np.zeros(2)}, "make"),
    ({"status": "ok", "names": "W1"}, {"W1": np.zeros(2)}, "make"),
    ({"status": "ok", "names": ["W1", "W1"]}, {"W1": np.zeros(2)}, "make"),
    ({"status": "ok", "names": [1]}, {**LOSS, "g:1": np.zeros(2)}, "call"),
    ({"status": "ok", "names": [None]}, {**LOSS, "g:None": np.zeros(2)}, "call"),
    ({"status": "ok", "names": {"W1": 1}}, {**LOSS, "g:W1": np.zeros(2)}, "call"),
])
def test_a_reply_listing_names_that_are_not_strings_breaks_the_contract(header, arrays, request_kind):
    runner = _answer(header, arrays)
    with pytest.raises(StudentError) as caught:
        if request_kind == "make":
            runner.make("k", "Net()", [], "loss_and_grads")
        else:
            runner.call("k", "loss_and_grads", [("X", np.zeros((1, 2)))], "a call")
    assert caught.value.kind == "contract"
    runner.close()


def test_a_well_formed_reply_is_read_back():
    runner = _answer({"status": "ok", "names": ["W1", "b1"]}, {"W1": np.ones((2, 3)), "b1": np.zeros(2)})
    params = runner.make("k", "Net()", [], "loss_and_grads")
    assert list(params) == ["W1", "b1"] and params["W1"].shape == (2, 3)
    runner = _answer({"status": "ok", "names": ["W1"]}, {**LOSS, "g:W1": np.full((2, 3), 0.5)})
    loss, grads = runner.call("k", "loss_and_grads", [("X", np.zeros((1, 2))), ("lam", 0.1)], "a call")
    assert loss == 1.0 and type(loss) is float and list(grads) == ["W1"] and grads["W1"][0, 0] == 0.5


def test_one_gradient_of_another_dtype_among_float64_ones_breaks_the_contract():
    runner = _answer({"status": "ok", "names": ["W1", "b1"]},
                     {**LOSS, "g:W1": np.zeros(2), "g:b1": np.zeros(2, dtype=np.int64)})
    with pytest.raises(StudentError, match="gradients that are not float64"):
        runner.call("k", "loss_and_grads", [("X", np.zeros((1, 2)))], "a call")


def test_a_request_after_the_worker_was_closed_says_it_is_gone():
    runner = _answer({"status": "ok", "names": []}, {})
    runner.close()
    with pytest.raises(StudentError) as caught:
        runner.make("k", "Net()", [], "loss_and_grads")
    assert caught.value.kind == "died" and "the implementation's process is gone (before Net())" in str(caught.value)


@pytest.mark.parametrize("arrays", [
    {"loss": np.int64(1).reshape(()), "g:W1": np.zeros(2)},  # an int64 loss
    {"loss": np.ones(1), "g:W1": np.zeros(2)},  # a loss of shape (1,)
    {**LOSS, "g:W1": np.zeros(2, dtype=np.int64)},  # an int64 gradient
    {**LOSS},  # a gradient it lists, missing
    {**LOSS, "g:W1": np.zeros(2), "g:W2": np.zeros(2)},  # one it does not list
    {"g:W1": np.zeros(2)},  # no loss
])
def test_a_call_reply_without_one_float64_loss_and_the_listed_gradients_breaks_the_contract(arrays):
    runner = _answer({"status": "ok", "names": ["W1"]}, arrays)
    with pytest.raises(StudentError) as caught:
        runner.call("k", "loss_and_grads", [("X", np.zeros((1, 2)))], "a call")
    assert caught.value.kind == "contract"


@pytest.mark.parametrize("header", [
    {"seq": True, "status": "ok"}, {"seq": 1.0, "status": "ok"}, {"seq": "1", "status": "ok"},
    {"status": ["ok"]}, {"status": {"ok": 1}}, {"status": None},
])
def test_a_reply_with_a_seq_or_status_of_another_type_is_out_of_order(header):
    runner = _answer(header, {})
    with pytest.raises(StudentError) as caught:
        runner.set_params("k", {}, "writing params")
    assert caught.value.kind == "channel" and "out of order" in str(caught.value)
    assert runner.worker is None  # closed: nothing more is read from it


def test_a_malformed_reply_is_a_channel_error_and_closes_the_worker():
    runner = WorkerRunner(resolve(f"{Path(__file__).resolve()}:FakeWorker"), timeout=5)
    runner.worker = worker = FakeWorker()
    worker.peer.sendall(b"NOT A FRAME" * 4)
    with pytest.raises(StudentError) as caught:
        runner.set_params("k", {}, "writing params")
    assert caught.value.kind == "channel" and "sent a malformed reply during writing params" in str(caught.value)
    assert runner.worker is None


@pytest.mark.parametrize("error", [
    {"kind": "pwned", "message": "a kind of its own", "exc_type": "ValueError"},
    {"kind": ["died"], "message": ["x"] * 3, "exc_type": 7},
    {"kind": {"a": 1}, "message": {"m": 1}, "exc_type": ["ValueError"]},
    {"kind": 3, "message": 12},
])
def test_an_error_reply_of_odd_types_is_a_contract_error_with_a_printable_message(error):
    runner = _answer({"status": "error", **error}, {})
    with pytest.raises(StudentError) as caught:
        runner.set_params("k", {}, "writing params")
    assert caught.value.kind == "contract" and caught.value.exc_type in (None, "ValueError")
    assert isinstance(str(caught.value), str) and "\n" not in str(caught.value)


def test_an_error_message_is_cut_at_600_characters():
    runner = _answer({"status": "error", "kind": "raised", "message": "x" * 5000}, {})
    with pytest.raises(StudentError) as caught:
        runner.set_params("k", {}, "writing params")
    assert len(str(caught.value)) == 600 and str(caught.value).endswith("x…")


def test_an_error_reply_keeps_a_known_kind_and_its_exception_type():
    runner = _answer({"status": "error", "kind": "raised", "message": "boom\x1b[2J", "exc_type": "ValueError"}, {})
    with pytest.raises(StudentError) as caught:
        runner.set_params("k", {}, "writing params")
    assert caught.value.kind == "raised" and caught.value.exc_type == "ValueError"
    assert str(caught.value) == "boom [2J"  # the ESC byte gone


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_removing_a_private_folder_twice_never_touches_its_parent(tmp_path):
    """The run's stop and the worker's own runner may both remove a worker's folder: the second
    removal finds nothing and must leave the folder's parent (the machine's /tmp) as it was."""
    parent = tmp_path / "parent"
    parent.mkdir()
    os.chmod(parent, 0o1777)
    folder = parent / "backprop-grade-x"
    (folder / "submission").mkdir(parents=True)
    (folder / "submission" / "ro").mkdir()
    os.chmod(folder / "submission" / "ro", 0o500)  # made read-only by the submission
    removal.remove_folder(folder)
    assert not folder.exists()
    removal.remove_folder(folder)  # again: already gone
    assert stat.S_IMODE(os.stat(parent).st_mode) == 0o1777
