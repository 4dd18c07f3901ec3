"""The one format between the worker and the grader: a JSON header and raw little-endian bytes.

A frame is ``MAGIC`` (4 bytes), the header's length (4 bytes, big-endian), the body's length
(8 bytes, big-endian), the header (UTF-8 JSON object), then the body: the arrays the header
lists under ``"arrays"`` (``[name, dtype, shape]``, dtype "<f8" or "<i8", C order), one after
the other. Nothing in a frame is code: the grader parses JSON and copies bytes into NumPy
arrays whose dtype and shape it chose, and refuses any frame whose lengths are over the caps
or disagree with what the header lists — before reading the body.

``FrameReader`` is the grader's side: it is fed bytes as they arrive (the grader never blocks
on the worker) and yields whole frames. ``read_frame``/``write_frame`` are the worker's side,
on a blocking socket. Standard library and NumPy only: the worker loads this file too.
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np

MAGIC = b"BPG1"
PREFIX = struct.Struct(">4sIQ")
DTYPES = {"<f8": np.dtype("<f8"), "<i8": np.dtype("<i8")}
MAX_HEADER = 256 * 1024  # bytes of JSON: names, shapes, one-line messages
MAX_BODY = 64 * 1024 * 1024  # bytes of arrays: the largest request (K=1024 × 784 float64) is 6.4 MB
MAX_ARRAYS = 256
MAX_DIMS = 4
MAX_NAME = 128  # characters of an array name: a parameter's name (at most 64) and the worker's "g:" prefix


class WireError(Exception):
    """A frame that does not follow the format (or is over a cap): the sender is not trusted."""


def encode(header: dict, arrays: dict | None = None) -> bytes:
    """One frame: ``header`` (JSON-able) plus ``arrays`` ({name: ndarray}), listed in the header."""
    arrays = arrays or {}
    listed, chunks = [], []
    for name, value in arrays.items():
        array = np.asarray(value)
        kind = "<i8" if np.issubdtype(array.dtype, np.integer) else "<f8"
        array = np.array(array, dtype=DTYPES[kind], order="C", copy=None)  # 0-d stays 0-d
        listed.append([str(name), kind, [int(n) for n in array.shape]])
        chunks.append(array.tobytes())
    _array_specs({"arrays": listed})  # what the reader would refuse is never sent
    try:
        head = json.dumps({**header, "arrays": listed}, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as error:  # NaN or infinity, a value JSON cannot hold, a cycle
        raise WireError(f"the header is not plain JSON ({error})") from None
    body = b"".join(chunks)
    if len(head) > MAX_HEADER or len(body) > MAX_BODY:
        raise WireError(f"frame too large ({len(head)} header bytes, {len(body)} body bytes)")
    return PREFIX.pack(MAGIC, len(head), len(body)) + head + body


def _array_specs(header) -> list:
    """[(name, dtype, shape, nbytes)] from a header, every field checked."""
    listed = header.get("arrays", [])
    if not isinstance(listed, list) or len(listed) > MAX_ARRAYS:
        raise WireError(f"'arrays' is not a list of at most {MAX_ARRAYS} entries")
    specs, names = [], set()
    for entry in listed:
        if not (isinstance(entry, list) and len(entry) == 3):
            raise WireError("an 'arrays' entry is not [name, dtype, shape]")
        name, kind, shape = entry
        if not isinstance(name, str) or len(name) > MAX_NAME or name in names:
            raise WireError("an array name is not a short unique string")
        if not isinstance(kind, str) or kind not in DTYPES:
            raise WireError(f"array dtype {str(kind)[:16]!r} is not one of {sorted(DTYPES)}")
        if (not isinstance(shape, list) or len(shape) > MAX_DIMS
                or not all(type(n) is int and 0 <= n <= MAX_BODY for n in shape)):
            raise WireError(f"array {name!r} has a malformed shape")
        names.add(name)
        specs.append((name, DTYPES[kind], tuple(shape), math.prod(shape) * 8))
    return specs


def decode(head: bytes, body: bytes) -> tuple[dict, dict]:
    """(header, {name: ndarray}) from a frame's two parts; raises ``WireError``."""
    try:
        header = json.loads(head.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise WireError(f"the header is not JSON ({type(error).__name__})") from None
    if not isinstance(header, dict):
        raise WireError("the header is not a JSON object")
    specs = _array_specs(header)
    if sum(spec[3] for spec in specs) != len(body):
        raise WireError("the body's length disagrees with the arrays the header lists")
    arrays, offset = {}, 0
    for name, dtype, shape, nbytes in specs:
        arrays[name] = np.frombuffer(body, dtype=dtype, count=nbytes // 8, offset=offset).reshape(shape).copy()
        offset += nbytes
    return header, arrays


def _no_constants(name):
    raise ValueError(f"{name} is not JSON")


class FrameReader:
    """Bytes in, whole frames out; the caps are checked as soon as the 16-byte prefix is in."""

    def __init__(self, max_body: int = MAX_BODY):
        self.buffer = bytearray()
        self.max_body = max_body
        self.wanted = None  # (header bytes, body bytes) once the prefix is read

    def needed(self) -> int:
        """How many more bytes the frame in progress needs (at least 1)."""
        if self.wanted is None:
            return max(1, PREFIX.size - len(self.buffer))
        return max(1, PREFIX.size + sum(self.wanted) - len(self.buffer))

    def feed(self, data: bytes) -> list:
        """Add ``data``; return the frames it completed, as (header, arrays)."""
        self.buffer += data
        frames = []
        while True:
            if self.wanted is None:
                if len(self.buffer) < PREFIX.size:
                    return frames
                magic, n_head, n_body = PREFIX.unpack_from(self.buffer)
                if magic != MAGIC:
                    raise WireError("a frame does not start with the format's magic bytes")
                if n_head > MAX_HEADER or n_body > self.max_body:
                    raise WireError(f"a frame announces {n_head} header and {n_body} body bytes "
                                    f"(caps {MAX_HEADER} and {self.max_body})")
                self.wanted = (n_head, n_body)
            n_head, n_body = self.wanted
            end = PREFIX.size + n_head + n_body
            if len(self.buffer) < end:
                return frames
            head = bytes(self.buffer[PREFIX.size:PREFIX.size + n_head])
            body = bytes(self.buffer[PREFIX.size + n_head:end])
            del self.buffer[:end]
            self.wanted = None
            frames.append(decode(head, body))


# ----------------------------------------------------------------------------- the worker's side
def _read_exactly(sock, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError("the grader closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(sock) -> tuple[dict, dict]:
    """One whole frame from a blocking socket (the worker reading the grader's requests)."""
    magic, n_head, n_body = PREFIX.unpack(_read_exactly(sock, PREFIX.size))
    if magic != MAGIC or n_head > MAX_HEADER or n_body > MAX_BODY:
        raise WireError("malformed request frame")
    return decode(_read_exactly(sock, n_head), _read_exactly(sock, n_body))


def write_frame(sock, header: dict, arrays: dict | None = None) -> None:
    sock.sendall(encode(header, arrays))
