"""What a running worker uses right now: its processes, their memory, the files it wrote.

``setrlimit`` limits one process at a time; a submission that starts four processes gets four
times the memory. The grader therefore also measures the submission as a whole while it waits
for a reply (``isolation.Worker.overuse``), from Linux's ``/proc``:

- ``process_table()`` — every process of the machine: its parent, process group and session;
- ``memory_bytes(pid)`` — what one process holds in memory: its proportional set size (a page
  shared by three processes counts a third in each), so that the sum over a process tree is the
  memory the tree really holds;
- ``folder_usage(folders)`` — bytes on disk and entries (files, folders, links) under some
  folders, walked without recursion and without following links.

Standard library only. Every reader returns what it could read: a process that ends while it is
read simply counts for nothing.
"""

from __future__ import annotations

import os
import stat

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def process_table() -> dict:
    """{pid: (parent pid, process group, session)} of every process that /proc shows."""
    table = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                # "pid (comm) state ppid pgrp session ...": comm may hold spaces and ')'.
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(name)] = (int(fields[1]), int(fields[2]), int(fields[3]))
    return table


def descendants(table: dict, root: int) -> set:
    """The pids below ``root`` in ``table`` (children, their children, ...), ``root`` excluded."""
    children = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found and child != root:
                found.add(child)
                todo.append(child)
    return found


def memory_bytes(pid: int) -> int:
    """The proportional set size of ``pid`` (its resident set size where the kernel gives no
    ``smaps_rollup``); 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return 0


def folder_usage(folders, stop_entries: int | None = None) -> tuple[int, int]:
    """(bytes on disk, entries) under ``folders`` (the folders themselves not counted). Links are
    counted, never followed; a folder that cannot be read counts as empty. The walk stops once it
    has counted ``stop_entries`` entries (what is over a cap need not be counted to the end)."""
    total_bytes, entries = 0, 0
    todo = [str(folder) for folder in folders]
    while todo:
        try:
            with os.scandir(todo.pop()) as listing:
                for entry in listing:
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    entries += 1
                    total_bytes += info.st_blocks * 512 if hasattr(info, "st_blocks") else info.st_size
                    if stat.S_ISDIR(info.st_mode):
                        todo.append(entry.path)
                    if stop_entries is not None and entries >= stop_entries:
                        return total_bytes, entries
        except OSError:
            continue
    return total_bytes, entries
