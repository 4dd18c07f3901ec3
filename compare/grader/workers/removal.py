"""Removing a worker's private folder, whatever the submission did to it.

A submission owns its copy and may make folders in it unreadable, unsearchable or read-only, or
nest them deeper than Python's recursion limit (``shutil.rmtree`` then fails or recurses too
deep). ``remove_folder`` goes a level at a time, by descriptor: it never follows a link, makes
each folder the grader's again (0700) before emptying it, never changes anything above the
folder, and stops if a folder it is emptying is moved away meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW  # a folder opened to be removed, never a link


def remove_folder(folder: Path) -> None:
    """Remove a private folder whatever the submission did to it, never following a link nor changing
    anything above it: folders it made unreadable or read-only are made the grader's again (0700), and
    folders nested deeper than Python's recursion limit go too (a level at a time, by descriptor)."""
    here, trail = _open_folder(str(folder), None), []  # (name, identity, folders left) of each level above
    try:
        with contextlib.suppress(OSError):
            left = _files_removed(here) if here is not None else []
            while here is not None:
                if left:  # down into the next folder it holds
                    name = left.pop()
                    below = _open_folder(name, here)
                    if below is not None:
                        trail.append((name, os.fstat(here), left))
                        os.close(here)
                        here = below
                        left = _files_removed(here)
                    continue
                if not trail:
                    break
                name, identity, left = trail.pop()  # up again, and the folder just emptied removed
                up = os.open("..", _FOLDER_FLAGS, dir_fd=here)
                os.close(here)
                here = up
                if not os.path.samestat(os.fstat(here), identity):
                    break  # moved while it was removed: stop rather than remove anything else
                with contextlib.suppress(OSError):
                    os.rmdir(name, dir_fd=here)
    finally:
        if here is not None:
            os.close(here)
    with contextlib.suppress(OSError):
        os.rmdir(folder)


def _open_folder(name: str, dir_fd: int | None) -> int | None:
    """A descriptor of the folder ``name`` (never a link) made the grader's to empty (0700), or None."""
    try:
        try:
            fd = os.open(name, _FOLDER_FLAGS, dir_fd=dir_fd)
        except PermissionError:  # made unreadable by its owner: a folder (not a link), opened once ours again
            if not stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                return None
            os.chmod(name, 0o700, dir_fd=dir_fd)
            fd = os.open(name, _FOLDER_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o700)
    return fd


def _files_removed(fd: int) -> list:
    """Remove what the folder ``fd`` holds but folders (links too, never followed); the folders' names."""
    folders = []
    for name in os.listdir(fd):
        with contextlib.suppress(OSError):
            if stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                folders.append(name)
            else:
                os.unlink(name, dir_fd=fd)
    return folders
