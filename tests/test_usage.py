"""What a running worker uses, read from /proc and the disk: processes the test starts itself."""

from __future__ import annotations

import builtins
import os
import subprocess
import sys

import pytest

from compare.grader.workers import usage

NAMED = "import ctypes, sys; ctypes.CDLL(None).prctl(15, b'x) 1 2 3', 0, 0, 0); print('ready', flush=True); sys.stdin.read()"


@pytest.fixture
def oddly_named_child():
    """A child whose name holds ') ' and numbers (a student can name its process anything)."""
    child = subprocess.Popen([sys.executable, "-c", NAMED], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             start_new_session=True)
    assert child.stdout.readline() == b"ready\n"
    yield child
    child.communicate(b"")


def test_the_process_table_reads_parent_group_and_session_whatever_the_name(oddly_named_child):
    table = usage.process_table()
    assert table[oddly_named_child.pid] == (os.getpid(), oddly_named_child.pid, oddly_named_child.pid)
    assert table[os.getpid()] == (os.getppid(), os.getpgid(0), os.getsid(0))
    assert all(isinstance(pid, int) for pid in table)


def test_an_unreadable_proc_is_an_empty_table(monkeypatch):
    def refuse(path):
        raise PermissionError(path)

    monkeypatch.setattr(usage.os, "listdir", refuse)
    assert usage.process_table() == {}


def test_memory_falls_back_to_the_resident_size(monkeypatch, oddly_named_child):
    real_open = builtins.open
    pid = oddly_named_child.pid
    with real_open(f"/proc/{pid}/statm", "rb") as fh:
        resident = int(fh.read().split()[1]) * usage.PAGE_BYTES

    def no_rollup(path, *args, **kwargs):
        if str(path).endswith("smaps_rollup"):
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_rollup)
    assert abs(usage.memory_bytes(pid) - resident) < 4 << 20  # the same process a moment later
    assert usage.memory_bytes(pid) > 1 << 20


def test_memory_is_the_proportional_set_size(oddly_named_child):
    with open(f"/proc/{oddly_named_child.pid}/smaps_rollup", "rb") as fh:
        pss = next(int(line.split()[1]) for line in fh if line.startswith(b"Pss:")) * 1024
    assert abs(usage.memory_bytes(oddly_named_child.pid) - pss) < 4 << 20


def test_folder_usage_stops_at_the_entry_asked(tmp_path):
    for i in range(5):
        (tmp_path / f"f{i}").write_bytes(b"x" * 5000)
    assert usage.folder_usage([tmp_path])[1] == 5
    assert usage.folder_usage([tmp_path], stop_entries=5)[1] == 5
    assert usage.folder_usage([tmp_path], stop_entries=4)[1] == 4
    assert usage.folder_usage([tmp_path], stop_entries=6)[1] == 5


def test_folder_usage_counts_blocks_on_disk_not_sizes(tmp_path):
    with open(tmp_path / "sparse", "wb") as fh:
        fh.truncate(1 << 30)  # 1 GiB long, nothing written
    used, entries = usage.folder_usage([tmp_path])
    assert entries == 1 and used < 1 << 20
    (tmp_path / "dense").write_bytes(b"x" * (1 << 20))
    used, _ = usage.folder_usage([tmp_path])
    assert (1 << 20) <= used < (1 << 20) + (1 << 16)


def test_folders_are_walked_below_and_the_folders_given_not_counted(tmp_path):
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "a" / "b" / "c" / "deep.txt").write_text("x")
    assert usage.folder_usage([tmp_path])[1] == 4
    assert usage.folder_usage([tmp_path / "a", tmp_path / "a" / "b"])[1] == 3 + 2


class FakeProc:
    """open() of /proc files answered from a dict (what a process shows, or an error)."""

    def __init__(self, monkeypatch, files: dict):
        real_open = builtins.open

        def fake_open(path, *args, **kwargs):
            if str(path) in files:
                content = files[str(path)]
                if isinstance(content, BaseException):
                    raise content
                import io

                return io.BytesIO(content)
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", fake_open)


@pytest.mark.parametrize("rollup, statm, expected", [
    (b"Rss: 900 kB\nPss: 100 kB\n", b"1 2 3\n", 100 * 1024),
    (b"Pss: x kB\n", b"5 20 3\n", 20 * usage.PAGE_BYTES),  # unreadable number: the resident size
    (b"Pss:\n", b"5 21 3\n", 21 * usage.PAGE_BYTES),
    (FileNotFoundError("gone"), b"5 22 3\n", 22 * usage.PAGE_BYTES),
    (b"Rss: 900 kB\n", b"5 23\n", 23 * usage.PAGE_BYTES),  # no Pss line
    (FileNotFoundError("gone"), FileNotFoundError("gone"), 0),
    (FileNotFoundError("gone"), b"5 x\n", 0),
    (FileNotFoundError("gone"), b"5\n", 0),
])
def test_memory_read_from_proc(monkeypatch, rollup, statm, expected):
    FakeProc(monkeypatch, {"/proc/4242/smaps_rollup": rollup, "/proc/4242/statm": statm})
    assert usage.memory_bytes(4242) == expected


def test_a_process_gone_or_garbled_while_read_is_left_out(monkeypatch):
    monkeypatch.setattr(usage.os, "listdir", lambda path: ["1", "2", "3", "self", "4"])
    FakeProc(monkeypatch, {"/proc/1/stat": b"1 (init) S 0 1 1 0", "/proc/2/stat": FileNotFoundError("gone"),
                           "/proc/3/stat": b"3 no parenthesis", "/proc/4/stat": b"4 (a) b) c) S 1 4 4 0"})
    assert usage.process_table() == {1: (0, 1, 1), 4: (1, 4, 4)}
    assert usage.PAGE_BYTES == os.sysconf("SC_PAGE_SIZE")


def test_a_gone_process_holds_no_memory():
    child = subprocess.Popen(["true"])
    child.wait()
    assert usage.memory_bytes(child.pid) == 0


def test_a_link_to_a_folder_is_not_walked(tmp_path):
    (tmp_path / "elsewhere" / "a").mkdir(parents=True)
    (tmp_path / "elsewhere" / "a" / "f").write_text("x")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "to_elsewhere").symlink_to(tmp_path / "elsewhere")
    assert usage.folder_usage([tmp_path / "mine"])[1] == 1


def test_an_empty_folder_uses_nothing_and_links_count_as_themselves(tmp_path):
    assert usage.folder_usage([tmp_path]) == (0, 0)
    (tmp_path / "big").write_bytes(b"x" * (1 << 20))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "link").symlink_to(tmp_path / "big")
    used, entries = usage.folder_usage([tmp_path / "in"])
    assert entries == 1 and used == os.lstat(tmp_path / "in" / "link").st_blocks * 512 < 1 << 16
    used, entries = usage.folder_usage([tmp_path])
    assert entries == 3 and used == sum(os.lstat(p).st_blocks * 512 for p in
                                        (tmp_path / "big", tmp_path / "in", tmp_path / "in" / "link"))
