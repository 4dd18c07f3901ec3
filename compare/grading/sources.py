"""TEMPORARY stand-in (the sources helper's module replaces it): a student's source read safely."""

from __future__ import annotations

import ast
import io
import json
import os
import stat
import tokenize

MAX_SOURCE_BYTES = 8 * 1024 * 1024


class SourceError(ValueError):
    pass


def read_source(path, limit: int = MAX_SOURCE_BYTES) -> str:
    name = os.path.basename(os.fsdecode(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        raise SourceError(f"{name}: cannot be read ({error.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SourceError(f"{name}: not a regular file")
        data = b""
        while len(data) <= limit:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            data += chunk
        if len(data) > limit:
            raise SourceError(f"{name}: over {limit >> 20} MiB")
    finally:
        os.close(fd)
    if name.lower().endswith(".py"):
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
            return data.decode(encoding)
        except (SyntaxError, LookupError, UnicodeDecodeError) as error:
            raise SourceError(f"{name}: cannot be decoded ({error})") from None
    return data.decode("utf-8-sig", errors="replace")


def _tree(path):
    text = read_source(path)
    if os.fsdecode(path).lower().endswith(".ipynb"):
        cells = json.loads(text).get("cells", [])
        sources = []
        for cell in cells:
            if isinstance(cell, dict) and cell.get("cell_type") == "code":
                src = cell.get("source", "")
                sources.append("".join(s for s in src if isinstance(s, str)) if isinstance(src, list) else str(src))
        trees = []
        for src in sources:
            try:
                trees.append(ast.parse(src))
            except (SyntaxError, ValueError):
                continue
        return trees
    return [ast.parse(text)]


def defined_names(path) -> set:
    try:
        trees = _tree(path)
    except Exception:  # noqa: BLE001
        return set()
    names = set()
    for tree in trees:
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.ImportFrom | ast.Import):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def syntax_problem(path) -> str | None:
    try:
        _tree(path)
    except SyntaxError as error:
        return f"SyntaxError: {error.msg} at {os.path.basename(os.fsdecode(path))}:{error.lineno}"
    except Exception:  # noqa: BLE001
        return None
    return None
