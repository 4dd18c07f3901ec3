"""compare.grader.sandbox.wire: the only format between the grader and the student's worker.

The worker's side is the student's: anything it sends may be forged. Each cap is pinned at
its boundary (at the cap: accepted; one over: refused with ``WireError``, before the body is
read), and everything that is not plain data (NaN, an unknown dtype, a negative dimension,
bytes beyond what the header lists) is refused as a ``WireError`` — never another exception
type, which the grader would take for its own bug.
"""

from __future__ import annotations

import json
import socket
import threading

import numpy as np
import pytest

from compare.grader.sandbox import wire


def raw(header, body: bytes = b"", *, magic: bytes = wire.MAGIC, n_head: int | None = None,
        n_body: int | None = None) -> bytes:
    """A frame built by hand (a forger's frame): ``header`` as a dict (JSON) or as bytes."""
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    return wire.PREFIX.pack(magic, len(head) if n_head is None else n_head,
                            len(body) if n_body is None else n_body) + head + body


def read_one(frame: bytes):
    """The one frame ``frame`` holds, as the grader reads it."""
    reader = wire.FrameReader()
    frames = reader.feed(frame)
    assert len(frames) == 1 and not reader.buffer
    return frames[0]


def padded_header(length: int) -> bytes:
    """A JSON object of exactly ``length`` bytes."""
    head = b'{"pad":""}'
    return head[:-2] + b"x" * (length - len(head)) + head[-2:]


# ----------------------------------------------------------------------------- what goes through
def test_a_frame_round_trips_its_header_and_arrays_exactly():
    W = np.asfortranarray(np.arange(6.0).reshape(2, 3))  # any memory order goes out C-ordered
    frame = wire.encode({"seq": 7, "status": "ok", "names": ["W1"]},
                        {"loss": np.float64(2.5), "g:W1": W, "y": np.array([3, -1, 0], dtype=np.int32),
                         "empty": np.zeros((0, 3)), "four": np.ones((1, 2, 1, 2))})
    header, arrays = read_one(frame)
    assert header["seq"] == 7 and header["status"] == "ok" and header["names"] == ["W1"]
    assert list(arrays) == ["loss", "g:W1", "y", "empty", "four"]  # in the order sent
    assert arrays["loss"].shape == () and arrays["loss"].dtype == np.float64 and float(arrays["loss"]) == 2.5
    assert np.array_equal(arrays["g:W1"], W) and arrays["g:W1"].flags.c_contiguous
    assert arrays["y"].dtype == np.int64 and arrays["y"].tolist() == [3, -1, 0]
    assert arrays["empty"].shape == (0, 3) and arrays["four"].shape == (1, 2, 1, 2)
    assert all(a.flags.writeable and a.flags.owndata for a in arrays.values())  # copies, not views of the buffer


def test_the_prefix_is_magic_header_length_and_body_length():
    frame = wire.encode({"seq": 1}, {"x": np.array([1.5])})
    magic, n_head, n_body = wire.PREFIX.unpack_from(frame)
    assert (magic, n_body) == (b"BPG1", 8) and wire.PREFIX.size == 16
    assert json.loads(frame[16:16 + n_head]) == {"seq": 1, "arrays": [["x", "<f8", [1]]]}
    assert frame[16 + n_head:] == np.array([1.5], dtype="<f8").tobytes() and len(frame) == 16 + n_head + 8


def test_frames_arrive_in_any_pieces_and_several_at_once():
    one, two = wire.encode({"seq": 1}, {"a": np.arange(3.0)}), wire.encode({"seq": 2})
    reader = wire.FrameReader()
    got = []
    for i in range(len(one)):
        assert reader.needed() >= 1
        got += reader.feed(one[i:i + 1])
    assert [h["seq"] for h, _ in got] == [1] and got[0][1]["a"].tolist() == [0.0, 1.0, 2.0]
    frames = reader.feed(one + two + two[:5])
    assert [h["seq"] for h, _ in frames] == [1, 2] and bytes(reader.buffer) == two[:5]


def test_needed_says_how_many_bytes_the_frame_in_progress_lacks():
    reader = wire.FrameReader()
    assert reader.needed() == 16
    assert reader.feed(wire.PREFIX.pack(wire.MAGIC, 2, 1 << 20)[:10]) == [] and reader.needed() == 6
    assert reader.feed(wire.PREFIX.pack(wire.MAGIC, 2, 1 << 20)[10:]) == [] and reader.needed() == 2 + (1 << 20)
    assert reader.feed(b"{}abc") == [] and reader.needed() == (1 << 20) - 3  # a promise is never a blocking read
    reader = wire.FrameReader()
    reader.feed(wire.encode({"seq": 1})[:-1])
    assert reader.needed() == 1
    reader = wire.FrameReader()
    reader.feed(wire.encode({"seq": 1})[:15])
    assert reader.needed() == 1


# ----------------------------------------------------------------------------- the caps, at and one over
def test_the_caps_are_those_the_format_documents():
    # 256 KiB of JSON; 64 MiB of arrays (the largest request, K=1024 × 784 float64, is 6.4 MB);
    # 256 arrays of at most 4 dimensions, named in at most 128 characters.
    assert (wire.MAX_HEADER, wire.MAX_BODY) == (262_144, 67_108_864)
    assert (wire.MAX_ARRAYS, wire.MAX_DIMS, wire.MAX_NAME) == (256, 4, 128)


def test_announced_header_length_is_capped_before_anything_else_is_read():
    reader = wire.FrameReader()
    assert reader.feed(wire.PREFIX.pack(wire.MAGIC, wire.MAX_HEADER, 0)) == []  # at the cap: waits for it
    with pytest.raises(wire.WireError, match="header"):
        wire.FrameReader().feed(wire.PREFIX.pack(wire.MAGIC, wire.MAX_HEADER + 1, 0))  # the prefix alone


def test_a_header_of_exactly_the_cap_is_read_and_one_byte_more_is_not():
    header, _ = read_one(raw(padded_header(wire.MAX_HEADER)))
    assert len(header["pad"]) == wire.MAX_HEADER - len(b'{"pad":""}')
    with pytest.raises(wire.WireError):
        wire.FrameReader().feed(raw(padded_header(wire.MAX_HEADER + 1)))


def test_announced_body_length_is_capped_before_the_body_is_read():
    assert wire.FrameReader().feed(wire.PREFIX.pack(wire.MAGIC, 2, wire.MAX_BODY)) == []
    with pytest.raises(wire.WireError, match="body"):
        wire.FrameReader().feed(wire.PREFIX.pack(wire.MAGIC, 2, wire.MAX_BODY + 1))
    small = wire.FrameReader(max_body=80)
    assert small.feed(wire.PREFIX.pack(wire.MAGIC, 2, 80)) == []
    with pytest.raises(wire.WireError):
        wire.FrameReader(max_body=80).feed(wire.PREFIX.pack(wire.MAGIC, 2, 81))


def test_encode_refuses_a_frame_the_reader_would_refuse():
    empty = len(json.dumps({"p": "", "arrays": []}, separators=(",", ":")))
    assert len(wire.encode({"p": "x" * (wire.MAX_HEADER - empty)})) == 16 + wire.MAX_HEADER
    with pytest.raises(wire.WireError, match="too large"):
        wire.encode({"p": "x" * (wire.MAX_HEADER - empty + 1)})
    at_cap = np.zeros(wire.MAX_BODY // 8)
    (_, arrays), = wire.FrameReader().feed(wire.encode({}, {"x": at_cap}))
    assert arrays["x"].shape == at_cap.shape
    del arrays, at_cap
    with pytest.raises(wire.WireError, match="too large"):
        wire.encode({}, {"x": np.zeros(wire.MAX_BODY // 8 + 1)})
    with pytest.raises(wire.WireError):
        wire.encode({}, {f"a{i}": np.zeros(1) for i in range(wire.MAX_ARRAYS + 1)})
    with pytest.raises(wire.WireError):
        wire.encode({}, {"x": np.zeros((1,) * (wire.MAX_DIMS + 1))})
    with pytest.raises(wire.WireError):
        wire.encode({"loss": float("nan")})  # never a ValueError the sender does not expect
    with pytest.raises(wire.WireError):
        wire.encode({"when": object()})


def listing(entries: list) -> dict:
    return {"arrays": entries}


def test_the_number_of_arrays_is_capped():
    header, arrays = read_one(raw(listing([[f"a{i}", "<f8", [0]] for i in range(wire.MAX_ARRAYS)])))
    assert len(arrays) == wire.MAX_ARRAYS == 256
    with pytest.raises(wire.WireError, match="at most 256"):
        read_one(raw(listing([[f"a{i}", "<f8", [0]] for i in range(wire.MAX_ARRAYS + 1)])))
    assert len(wire.encode({}, {f"a{i}": np.zeros(0) for i in range(wire.MAX_ARRAYS)})) > 0


def test_the_number_of_dimensions_is_capped():
    _, arrays = read_one(raw(listing([["x", "<f8", [1, 2, 1, 1]]]), b"\0" * 16))
    assert arrays["x"].shape == (1, 2, 1, 1) and wire.MAX_DIMS == 4
    with pytest.raises(wire.WireError, match="malformed shape"):
        read_one(raw(listing([["x", "<f8", [1, 2, 1, 1, 1]]]), b"\0" * 16))


def test_array_names_are_short_unique_strings():
    long_name = "g:" + "W" * (wire.MAX_NAME - 2)
    _, arrays = read_one(raw(listing([[long_name, "<f8", []]]), b"\0" * 8))
    assert list(arrays) == [long_name]
    for entry in (["W" * (wire.MAX_NAME + 1), "<f8", []], [7, "<f8", []], [None, "<f8", []]):
        with pytest.raises(wire.WireError, match="name"):
            read_one(raw(listing([entry]), b"\0" * 8))
    with pytest.raises(wire.WireError, match="unique"):
        read_one(raw(listing([["x", "<f8", []], ["x", "<f8", []]]), b"\0" * 16))


def test_a_gradient_of_the_longest_parameter_name_fits_in_a_reply():
    """A parameter name may have 64 characters (the host's limit); the worker sends its gradient
    as 'g:' + name, which must still be a valid array name."""
    name = "g:" + "W" * 64
    _, arrays = read_one(wire.encode({"names": [name[2:]]}, {name: np.ones(2)}))
    assert arrays[name].tolist() == [1.0, 1.0]


# ----------------------------------------------------------------------------- what is not plain data
def test_the_magic_bytes_are_checked():
    good = wire.encode({"seq": 1})
    assert read_one(good)[0] == {"seq": 1, "arrays": []}
    for magic in (b"BPG0", b"bpg1", b"\0\0\0\0"):
        with pytest.raises(wire.WireError, match="magic"):
            wire.FrameReader().feed(magic + good[4:])


def test_the_body_must_be_exactly_what_the_header_lists():
    head = listing([["x", "<f8", [2]], ["n", "<i8", []]])
    _, arrays = read_one(raw(head, np.array([1.0, 2.0]).tobytes() + np.int64(5).tobytes()))
    assert arrays["x"].tolist() == [1.0, 2.0] and int(arrays["n"]) == 5
    for body in (b"\0" * 25, b"\0" * 23, b"", b"\0" * 48):  # one byte over, one under, none, a whole array over
        with pytest.raises(wire.WireError, match="disagrees"):
            read_one(raw(head, body))


def test_trailing_bytes_after_the_json_header_are_refused():
    with pytest.raises(wire.WireError, match="not JSON"):
        read_one(raw(b'{"seq": 1}{"seq": 2}'))
    with pytest.raises(wire.WireError, match="not JSON"):
        read_one(raw(b'{"seq": 1}\0'))


@pytest.mark.parametrize("shape", [[-1], [2, -1], [-2, -4], [2.0], [True], ["2"], 2, [None]])
def test_malformed_and_negative_dimensions_are_refused(shape):
    # [-2, -4] lists 8 numbers, as many as the 64-byte body holds: only the sign check refuses it.
    with pytest.raises(wire.WireError, match="malformed shape"):
        read_one(raw(listing([["x", "<f8", shape]]), b"\0" * 64))


def test_a_dimension_larger_than_any_body_is_refused_before_multiplying():
    with pytest.raises(wire.WireError, match="malformed shape"):
        read_one(raw(listing([["x", "<f8", [wire.MAX_BODY + 1, 0]]])))
    _, arrays = read_one(raw(listing([["x", "<f8", [wire.MAX_BODY, 0]]])))  # at the cap: an empty array
    assert arrays["x"].shape == (wire.MAX_BODY, 0)


@pytest.mark.parametrize("text", [b'{"loss": NaN}', b'{"loss": Infinity}', b'{"loss": -Infinity}',
                                  b'{"a": [1, NaN]}'])
def test_nan_and_infinity_in_the_header_are_refused(text):
    with pytest.raises(wire.WireError, match="not JSON"):
        read_one(raw(text))


@pytest.mark.parametrize("kind", ["<f4", ">f8", "|O", "object", "<i4", "", ["<f8"], {"a": 1}, None, 8])
def test_an_unknown_dtype_is_a_wire_error_not_a_key_error(kind):
    with pytest.raises(wire.WireError, match="dtype"):
        read_one(raw(listing([["x", kind, [1]]]), b"\0" * 8))


@pytest.mark.parametrize("head", [b"[1, 2]", b'"text"', b"null", b"7", b"\xff\xfe{}", b"", b"{",
                                  b"[" * 100_000 + b"]" * 100_000])
def test_a_header_that_is_not_a_json_object_is_refused(head):
    with pytest.raises(wire.WireError):
        read_one(raw(head))


@pytest.mark.parametrize("arrays", [None, {}, "x", [["x", "<f8"]], [["x", "<f8", [1], 0]], ["x"], [None]])
def test_a_malformed_list_of_arrays_is_refused(arrays):
    with pytest.raises(wire.WireError):
        read_one(raw({"arrays": arrays}, b"\0" * 8))


# ----------------------------------------------------------------------------- the worker's side
@pytest.fixture
def channel():
    grader, worker = socket.socketpair()
    worker.settimeout(10)  # a reader that waits for bytes never sent fails instead of hanging
    yield grader, worker
    grader.close()
    worker.close()


def send_later(sock, data: bytes, close: bool = False) -> threading.Thread:
    def send():
        sock.sendall(data)
        if close:
            sock.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_write_frame_and_read_frame_round_trip(channel):
    grader, worker = channel
    big = np.arange(300_000.0)  # larger than one recv
    thread = send_later(grader, wire.encode({"seq": 3, "op": "call"}, {"X": big}) + wire.encode({"seq": 4}))
    header, arrays = wire.read_frame(worker)
    assert header["seq"] == 3 and np.array_equal(arrays["X"], big)
    assert wire.read_frame(worker)[0]["seq"] == 4
    thread.join()
    wire.write_frame(worker, {"seq": 3, "status": "ok"}, {"loss": np.float64(1.0)})
    (header, arrays), = wire.FrameReader().feed(grader.recv(1 << 16))
    assert header["status"] == "ok" and float(arrays["loss"]) == 1.0


def test_read_frame_refuses_bad_magic_and_caps_before_reading_on(channel):
    grader, worker = channel
    for prefix in (wire.PREFIX.pack(b"XXXX", 2, 0), wire.PREFIX.pack(wire.MAGIC, wire.MAX_HEADER + 1, 0),
                   wire.PREFIX.pack(wire.MAGIC, 2, wire.MAX_BODY + 1)):
        grader.sendall(prefix)  # nothing follows: a reader that read on would block here
        with pytest.raises(wire.WireError):
            wire.read_frame(worker)


@pytest.mark.parametrize("n_head, n_body", [(wire.MAX_HEADER, 0), (2, wire.MAX_BODY)])
def test_read_frame_at_the_caps_reads_on(channel, n_head, n_body):
    grader, worker = channel
    send_later(grader, wire.PREFIX.pack(wire.MAGIC, n_head, n_body) + b"{}", close=True).join()
    with pytest.raises(EOFError):  # it went on to read what was announced, and the sender hung up
        wire.read_frame(worker)


def test_read_frame_checks_what_it_reads(channel):
    grader, worker = channel
    grader.sendall(raw(listing([["x", "<f8", [1]]]), b"\0" * 16))
    with pytest.raises(wire.WireError, match="disagrees"):
        wire.read_frame(worker)
    grader.sendall(raw(b'{"x": NaN}'))
    with pytest.raises(wire.WireError):
        wire.read_frame(worker)


def test_read_frame_on_a_closed_channel_is_eof(channel):
    grader, worker = channel
    grader.sendall(wire.encode({"seq": 1})[:10])
    grader.shutdown(socket.SHUT_WR)
    with pytest.raises(EOFError):
        wire.read_frame(worker)
