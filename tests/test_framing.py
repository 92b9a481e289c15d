"""Tests for the sans-I/O framing in stuttgart_chat.network.messenger and the delay
policy in stuttgart_chat.network.reorder. Sockets appear only as socket.socketpair()."""

from __future__ import annotations

import json
import math
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stuttgart_chat.common.errors import ConnectionLost, ProtocolError
from stuttgart_chat.common.protocol import Chat, ErrorCode, Join, parse_message
from stuttgart_chat.network.messenger import (
    DEFAULT_MAX_FRAME_BYTES,
    HEADER,
    FrameDecoder,
    FrameReader,
    decode_body,
    encode_frame,
    recv_msg,
    send_msg,
)
from stuttgart_chat.network.reorder import DelayPolicy, LinkDelay

text_st = st.text(st.characters(codec="utf-8"), max_size=30)
json_st = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text_st,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text_st, inner, max_size=4),
    max_leaves=12,
)
objects_st = st.dictionaries(text_st, json_st, max_size=5)


def frame_of(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def decode_all(decoder: FrameDecoder) -> list[dict[str, Any]]:
    frames = []
    while (frame := decoder.next_frame()) is not None:
        frames.append(frame)
    return frames


def decode_whole(data: bytes) -> list[dict[str, Any]]:
    decoder = FrameDecoder()
    decoder.feed(data)
    frames = decode_all(decoder)
    assert decoder.pending == 0
    return frames


def decode_byte_by_byte(data: bytes) -> list[dict[str, Any]]:
    decoder = FrameDecoder()
    frames = []
    for i in range(len(data)):
        decoder.feed(data[i : i + 1])
        frames += decode_all(decoder)
    assert decoder.pending == 0
    return frames


def bad_frame_code(body: bytes, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> str:
    """Feed ``body`` as one frame; it must raise ProtocolError (never anything else)."""
    decoder = FrameDecoder(max_frame_bytes)
    decoder.feed(frame_of(body))
    with pytest.raises(ProtocolError) as info:
        decoder.next_frame()
    return info.value.code


# -- encode / decode ------------------------------------------------------------------------


def test_encode_frame_layout() -> None:
    frame = encode_frame({"type": "LEAVE"})
    body = b'{"type":"LEAVE"}'
    assert frame == struct.pack(">I", len(body)) + body
    assert HEADER.size == 4


def test_encode_frame_is_utf8_not_ascii_escaped() -> None:
    frame = encode_frame({"text": "Grüße €"})
    assert "Grüße €".encode() in frame
    (length,) = HEADER.unpack_from(frame)
    assert length == len(frame) - 4


@given(objects_st)
@settings(max_examples=200, deadline=None)
def test_encode_then_decode_round_trip(obj: dict[str, Any]) -> None:
    frame = encode_frame(obj)
    assert decode_body(frame[4:]) == obj
    assert decode_whole(frame) == [obj]


def test_decode_body_accepts_whitespace_and_escapes() -> None:
    assert decode_body(b' { "a" : [1, 2.5, "\\u00fc"] } \n') == {"a": [1, 2.5, "ü"]}


# -- FrameDecoder: feeding patterns (the same frames however the bytes arrive) ---------------


def test_partial_header_and_body_return_none() -> None:
    frame = encode_frame({"type": "LEAVE"})
    decoder = FrameDecoder()
    assert decoder.next_frame() is None
    decoder.feed(frame[:2])
    assert decoder.next_frame() is None
    decoder.feed(frame[2:6])
    assert decoder.next_frame() is None
    decoder.feed(frame[6:])
    assert decoder.next_frame() == {"type": "LEAVE"}
    assert decoder.next_frame() is None
    assert decoder.pending == 0


def test_several_frames_in_one_feed() -> None:
    objs: list[dict[str, Any]] = [{"type": "LEAVE"}, {"n": 1}, {"text": "ü" * 100}]
    data = b"".join(encode_frame(o) for o in objs)
    decoder = FrameDecoder()
    decoder.feed(data + encode_frame({"tail": True})[:3])
    assert decode_all(decoder) == objs
    assert decoder.pending == 3


def test_whole_and_byte_by_byte_give_the_same_frames() -> None:
    objs = [Chat(text="héllo 😀", vc={"Alice": 1}, sender="Alice").to_wire(), {"x": []}]
    data = b"".join(encode_frame(o) for o in objs)
    assert decode_whole(data) == objs
    assert decode_byte_by_byte(data) == objs


@given(st.lists(objects_st, max_size=5), st.data())
@settings(max_examples=150, deadline=None)
def test_any_split_gives_the_same_frames(objs: list[dict[str, Any]], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(o) for o in objs)
    cuts = sorted(data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=10)))
    decoder = FrameDecoder()
    frames = []
    start = 0
    for cut in [*cuts, len(stream)]:
        decoder.feed(stream[start:cut])
        frames += decode_all(decoder)
        start = cut
    assert frames == objs
    assert decode_whole(stream) == objs
    assert decode_byte_by_byte(stream) == objs
    assert decoder.pending == 0


def test_feeding_empty_bytes_is_harmless() -> None:
    decoder = FrameDecoder()
    decoder.feed(b"")
    assert decoder.next_frame() is None
    decoder.feed(encode_frame({"a": 1}))
    decoder.feed(b"")
    assert decoder.next_frame() == {"a": 1}


# -- FrameDecoder: bad frames -------------------------------------------------------------


def test_zero_length_is_bad_frame() -> None:
    decoder = FrameDecoder()
    decoder.feed(b"\x00\x00\x00\x00")
    with pytest.raises(ProtocolError) as info:
        decoder.next_frame()
    assert info.value.code == ErrorCode.BAD_FRAME


def test_oversized_length_is_refused_from_the_header_alone() -> None:
    decoder = FrameDecoder(max_frame_bytes=10)
    decoder.feed(struct.pack(">I", 11))  # no body at all
    with pytest.raises(ProtocolError) as info:
        decoder.next_frame()
    assert info.value.code == ErrorCode.FRAME_TOO_LARGE
    assert decoder.pending == 4  # nothing of the body was waited for


def test_oversized_length_is_refused_byte_by_byte() -> None:
    decoder = FrameDecoder()
    header = struct.pack(">I", 0xFFFFFFFF)
    for byte in header[:3]:
        decoder.feed(bytes([byte]))
        assert decoder.next_frame() is None
    decoder.feed(header[3:])
    with pytest.raises(ProtocolError) as info:
        decoder.next_frame()
    assert info.value.code == ErrorCode.FRAME_TOO_LARGE


def test_length_at_the_limit_is_accepted() -> None:
    body = b'{"a":"' + b"x" * 10 + b'"}'
    decoder = FrameDecoder(max_frame_bytes=len(body))
    decoder.feed(frame_of(body))
    assert decoder.next_frame() == {"a": "x" * 10}
    assert bad_frame_code(body, max_frame_bytes=len(body) - 1) == ErrorCode.FRAME_TOO_LARGE


def test_default_limit() -> None:
    assert FrameDecoder().max_frame_bytes == DEFAULT_MAX_FRAME_BYTES == 1024 * 1024
    decoder = FrameDecoder()
    decoder.feed(struct.pack(">I", DEFAULT_MAX_FRAME_BYTES + 1))
    with pytest.raises(ProtocolError) as info:
        decoder.next_frame()
    assert info.value.code == ErrorCode.FRAME_TOO_LARGE


BAD_BODIES = {
    "not utf-8": b"\xff\xfe{}",
    "truncated utf-8": b'{"a":"\xc3"}',
    "overlong utf-8": b'{"a":"\xc0\xaf"}',
    "encoded surrogate": b'{"a":"\xed\xa0\x80"}',
    "not json": b"hello",
    "truncated json": b'{"a":',
    "trailing garbage": b'{"a":1} x',
    "two objects": b"{}{}",
    "single quotes": b"{'a': 1}",
    "whitespace only": b"   ",
    "nul byte": b"\x00",
    "utf-8 bom": b"\xef\xbb\xbf{}",
    "NaN": b'{"a":NaN}',
    "Infinity": b'{"a":Infinity}',
    "-Infinity": b'{"a":-Infinity}',
    "top-level NaN": b"NaN",
    "array": b"[1,2]",
    "empty array": b"[]",
    "string": b'"type"',
    "number": b"42",
    "float": b"4.5",
    "true": b"true",
    "null": b"null",
    "deep array": b"[" * 100_000,
    "deep closed array": b"[" * 100_000 + b"]" * 100_000,
    "deep object": b'{"a":' * 100_000,
    "deep object in object": b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "huge integer": b"1" * 10_000,
    "huge integer in object": b'{"a":' + b"1" * 10_000 + b"}",
}


@pytest.mark.parametrize("body", list(BAD_BODIES.values()), ids=list(BAD_BODIES))
def test_bad_bodies_are_bad_frame(body: bytes) -> None:
    assert bad_frame_code(body) == ErrorCode.BAD_FRAME
    with pytest.raises(ProtocolError) as info:
        decode_body(body)
    assert info.value.code == ErrorCode.BAD_FRAME


def test_bad_frame_error_message_is_short() -> None:
    with pytest.raises(ProtocolError) as info:
        decode_body(b"[" * 100_000)
    assert len(info.value.message) < 300
    with pytest.raises(ProtocolError) as info:
        decode_body(b"1" * 10_000)
    assert len(info.value.message) < 300


def test_bad_frame_after_good_frames() -> None:
    decoder = FrameDecoder()
    decoder.feed(encode_frame({"a": 1}) + frame_of(b"[]"))
    assert decoder.next_frame() == {"a": 1}
    with pytest.raises(ProtocolError):
        decoder.next_frame()


def test_lone_surrogate_escape_decodes_then_fails_in_parse() -> None:
    obj = decode_body(b'{"type":"JOIN","version":1,"username":"\\ud800"}')
    with pytest.raises(ProtocolError) as info:
        parse_message(obj)
    assert info.value.code == ErrorCode.BAD_FIELD


def test_frame_then_parse_round_trip() -> None:
    message = Chat(text="hi ünïcödé", vc={"Alice": 2, "Bob": 1}, sender="Alice")
    assert [parse_message(o) for o in decode_whole(encode_frame(message.to_wire()))] == [message]


# -- fuzz: arbitrary bytes may only ever raise ProtocolError ---------------------------------


def drain_and_parse(decoder: FrameDecoder) -> None:
    """Take frames until more bytes are needed or the stream is bad; parse each frame.

    Only ProtocolError may escape (it is what the server turns into an ERROR frame)."""
    for _ in range(10_000):  # bounded: every frame consumes at least 5 bytes
        frame = decoder.next_frame()
        if frame is None:
            return
        assert isinstance(frame, dict)
        try:
            parse_message(frame)
        except ProtocolError as error:
            assert error.code in (ErrorCode.BAD_FIELD, ErrorCode.UNKNOWN_TYPE)
    raise AssertionError("decoder did not stop")


def feed_chunks(chunks: list[bytes], max_frame_bytes: int) -> None:
    decoder = FrameDecoder(max_frame_bytes)
    try:
        for chunk in chunks:
            decoder.feed(chunk)
            drain_and_parse(decoder)
    except ProtocolError as error:
        assert error.code in (
            ErrorCode.BAD_FRAME,
            ErrorCode.FRAME_TOO_LARGE,
            ErrorCode.BAD_FIELD,
            ErrorCode.UNKNOWN_TYPE,
        )


@given(
    st.lists(st.binary(max_size=64), max_size=8),
    st.integers(min_value=1, max_value=DEFAULT_MAX_FRAME_BYTES),
)
@settings(max_examples=300, deadline=None)
def test_fuzz_arbitrary_bytes_only_raise_protocol_error(
    chunks: list[bytes], max_frame_bytes: int
) -> None:
    feed_chunks(chunks, max_frame_bytes)


# Bodies that get past the length check: random bytes, JSON-ish fragments, and
# well-formed objects with a known type and random fields.
FIELD_NAMES = ["type", "username", "version", "members", "vc", "limits", "text", "sender"]
TYPE_NAMES = ["JOIN", "WELCOME", "CHAT", "LEAVE", "JOINED", "LEFT", "ERROR", "chat", ""]
FRAGMENTS = [b"{", b"}", b"[", b"]", b'"', b":", b",", b"\\u", b"d800", b"1", b"-", b"e9",
             b"NaN", b"null", b'"type"', b'"CHAT"', b'"vc"', b"\xc3", b"\xff", b" "]  # fmt: skip

body_st = st.one_of(
    st.binary(min_size=1, max_size=80),
    st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=30).map(b"".join),
    st.fixed_dictionaries(
        {"type": st.sampled_from(TYPE_NAMES)},
        optional={name: json_st for name in FIELD_NAMES[1:]},
    ).map(lambda obj: json.dumps(obj).encode()),
    st.fixed_dictionaries(
        {"type": st.sampled_from(TYPE_NAMES)},
        optional={name: json_st for name in FIELD_NAMES[1:]},
    ).map(lambda obj: json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")),
)


@given(st.lists(body_st, min_size=1, max_size=4), st.data())
@settings(max_examples=300, deadline=None)
def test_fuzz_framed_bodies_only_raise_protocol_error(
    bodies: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(frame_of(body) for body in bodies)
    cut = data.draw(st.integers(min_value=0, max_value=len(stream)))
    feed_chunks([stream[:cut], stream[cut:]], max_frame_bytes=DEFAULT_MAX_FRAME_BYTES)


# -- FrameReader / recv_msg over socket.socketpair() ------------------------------------------


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair()
    left.settimeout(10)
    right.settimeout(10)
    try:
        yield left, right
    finally:
        left.close()
        right.close()


def send_in_thread(sock: socket.socket, pieces: list[bytes], close: bool) -> threading.Thread:
    """Send ``pieces`` one ``sendall`` each from another thread (no sleeps: the reader
    just sees the bytes in however many chunks the kernel hands it)."""

    def run() -> None:
        for piece in pieces:
            sock.sendall(piece)
        if close:
            sock.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_reader_reads_frames_then_clean_eof(pair: tuple[socket.socket, socket.socket]) -> None:
    writer, reader_sock = pair
    send_msg(writer, {"type": "LEAVE"})
    send_msg(writer, Join("Alice").to_wire())
    writer.shutdown(socket.SHUT_WR)
    reader = FrameReader(reader_sock)
    assert reader.read() == {"type": "LEAVE"}
    assert reader.read() == {"type": "JOIN", "version": 1, "username": "Alice"}
    assert reader.read() is None


def test_reader_clean_eof_without_frames(pair: tuple[socket.socket, socket.socket]) -> None:
    writer, reader_sock = pair
    writer.shutdown(socket.SHUT_WR)
    assert FrameReader(reader_sock).read() is None


def test_reader_frame_split_across_sends(pair: tuple[socket.socket, socket.socket]) -> None:
    writer, reader_sock = pair
    objs: list[dict[str, Any]] = [
        {"type": "CHAT", "text": "x" * 200, "vc": {"A": 1}},
        {"type": "LEAVE"},
    ]
    stream = b"".join(encode_frame(o) for o in objs)
    pieces = [stream[i : i + 1] for i in range(len(stream))]  # one byte per send
    thread = send_in_thread(writer, pieces, close=True)
    reader = FrameReader(reader_sock)
    assert reader.read() == objs[0]
    assert reader.read() == objs[1]
    assert reader.read() is None
    thread.join(10)


def test_reader_large_frame(pair: tuple[socket.socket, socket.socket]) -> None:
    writer, reader_sock = pair
    obj = {"text": "ü" * 300_000}  # bigger than one recv
    thread = send_in_thread(writer, [encode_frame(obj)], close=True)
    reader = FrameReader(reader_sock)
    assert reader.read() == obj
    assert reader.read() is None
    thread.join(10)


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(b"\x00\x00", id="inside the header"),
        pytest.param(frame_of(b'{"a":1}')[:-1], id="inside the body"),
        pytest.param(frame_of(b'{"a":1}')[:5], id="one body byte"),
    ],
)
def test_reader_eof_inside_a_frame_is_bad_frame(
    pair: tuple[socket.socket, socket.socket], tail: bytes
) -> None:
    writer, reader_sock = pair
    writer.sendall(encode_frame({"ok": True}) + tail)
    writer.shutdown(socket.SHUT_WR)
    reader = FrameReader(reader_sock)
    assert reader.read() == {"ok": True}
    with pytest.raises(ProtocolError) as info:
        reader.read()
    assert info.value.code == ErrorCode.BAD_FRAME


def test_reader_eof_after_header_only_is_bad_frame(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    writer, reader_sock = pair
    writer.sendall(struct.pack(">I", 7))
    writer.shutdown(socket.SHUT_WR)
    with pytest.raises(ProtocolError) as info:
        FrameReader(reader_sock).read()
    assert info.value.code == ErrorCode.BAD_FRAME


def test_pending_counts_a_consumed_header() -> None:
    decoder = FrameDecoder()
    decoder.feed(struct.pack(">I", 7))
    assert decoder.next_frame() is None
    assert decoder.pending > 0


def test_reader_bad_frame_and_too_large(pair: tuple[socket.socket, socket.socket]) -> None:
    writer, reader_sock = pair
    writer.sendall(frame_of(b"[1]"))
    with pytest.raises(ProtocolError) as info:
        FrameReader(reader_sock).read()
    assert info.value.code == ErrorCode.BAD_FRAME

    writer.sendall(struct.pack(">I", 101))  # header only: refused without the body
    with pytest.raises(ProtocolError) as info:
        FrameReader(reader_sock, max_frame_bytes=100).read()
    assert info.value.code == ErrorCode.FRAME_TOO_LARGE


def test_recv_msg_reads_exactly_one_frame(pair: tuple[socket.socket, socket.socket]) -> None:
    writer, reader_sock = pair
    send_msg(writer, {"n": 1})
    send_msg(writer, {"n": 2})
    writer.shutdown(socket.SHUT_WR)
    assert recv_msg(reader_sock) == {"n": 1}
    # The second frame's bytes are still in the socket for a FrameReader.
    reader = FrameReader(reader_sock)
    assert reader.read() == {"n": 2}
    assert reader.read() is None


def test_recv_msg_frame_split_across_sends(pair: tuple[socket.socket, socket.socket]) -> None:
    writer, reader_sock = pair
    frame = encode_frame({"text": "split"})
    thread = send_in_thread(writer, [frame[:2], frame[2:5], frame[5:]], close=False)
    assert recv_msg(reader_sock) == {"text": "split"}
    thread.join(10)


def test_recv_msg_eof_raises_connection_lost(pair: tuple[socket.socket, socket.socket]) -> None:
    writer, reader_sock = pair
    writer.shutdown(socket.SHUT_WR)
    with pytest.raises(ConnectionLost):
        recv_msg(reader_sock)


def test_recv_msg_eof_inside_frame_raises_connection_lost(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    writer, reader_sock = pair
    writer.sendall(encode_frame({"a": 1})[:-2])
    writer.shutdown(socket.SHUT_WR)
    with pytest.raises(ConnectionLost):
        recv_msg(reader_sock)


def test_recv_msg_checks_the_length_before_reading_the_body(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    writer, reader_sock = pair
    writer.sendall(struct.pack(">I", 1000))
    writer.shutdown(socket.SHUT_WR)  # reading the body would give ConnectionLost instead
    with pytest.raises(ProtocolError) as info:
        recv_msg(reader_sock, max_frame_bytes=999)
    assert info.value.code == ErrorCode.FRAME_TOO_LARGE


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"\x00\x00\x00\x00", ErrorCode.BAD_FRAME), (frame_of(b"nope"), ErrorCode.BAD_FRAME)],
)
def test_recv_msg_bad_frames(
    pair: tuple[socket.socket, socket.socket], data: bytes, code: str
) -> None:
    writer, reader_sock = pair
    writer.sendall(data)
    writer.shutdown(socket.SHUT_WR)
    with pytest.raises(ProtocolError) as info:
        recv_msg(reader_sock)
    assert info.value.code == code


# -- DelayPolicy / LinkDelay ------------------------------------------------------------------


def delays(policy: DelayPolicy, count: int = 50) -> list[float]:
    pairs = [("Alice", "Bob"), ("Bob", "Charlie"), ("Charlie", "Alice")]
    return [policy.delay(*pairs[i % len(pairs)]) for i in range(count)]


def test_same_seed_same_delays() -> None:
    assert delays(DelayPolicy(jitter=0.5, seed=42)) == delays(DelayPolicy(jitter=0.5, seed=42))


def test_different_seeds_differ() -> None:
    assert delays(DelayPolicy(jitter=0.5, seed=1)) != delays(DelayPolicy(jitter=0.5, seed=2))


@given(
    st.floats(min_value=0.0, max_value=100.0, allow_nan=False),
    st.integers(min_value=0, max_value=2**32),
)
@settings(max_examples=100, deadline=None)
def test_jitter_stays_in_bounds(jitter: float, seed: int) -> None:
    policy = DelayPolicy(jitter=jitter, seed=seed)
    for value in delays(policy, 20):
        assert 0.0 <= value <= jitter


def test_jitter_actually_varies() -> None:
    values = delays(DelayPolicy(jitter=1.0, seed=7), 100)
    assert len(set(values)) > 50
    assert min(values) < 0.25 and max(values) > 0.75


def test_no_delay_by_default() -> None:
    policy = DelayPolicy()
    assert not policy.active
    assert delays(policy) == [0.0] * 50


def test_active() -> None:
    assert DelayPolicy(jitter=0.1).active
    assert DelayPolicy(links=(LinkDelay("A", "B", 0.0),)).active
    assert not DelayPolicy(jitter=0.0, seed=3).active


def test_negative_jitter_is_rejected() -> None:
    with pytest.raises(ValueError):
        DelayPolicy(jitter=-0.001)


def test_link_delays_add_up_and_match_wildcards() -> None:
    policy = DelayPolicy(
        links=(
            LinkDelay.parse("Alice:Charlie:2000"),
            LinkDelay.parse("*:Charlie:500"),
            LinkDelay.parse("Bob:*:100"),
            LinkDelay.parse("*:*:1"),
        )
    )
    assert policy.delay("Alice", "Charlie") == pytest.approx(2.501)
    assert policy.delay("Bob", "Charlie") == pytest.approx(0.601)
    assert policy.delay("Bob", "Alice") == pytest.approx(0.101)
    assert policy.delay("Charlie", "Alice") == pytest.approx(0.001)
    assert policy.delay("Charlie", "Bob") == pytest.approx(0.001)


def test_link_delay_with_jitter_stays_in_bounds() -> None:
    policy = DelayPolicy(jitter=0.5, links=(LinkDelay("Alice", "Bob", 2.0),), seed=5)
    for _ in range(50):
        assert 2.0 <= policy.delay("Alice", "Bob") <= 2.5
        assert 0.0 <= policy.delay("Bob", "Alice") <= 0.5


def test_link_delay_matches() -> None:
    link = LinkDelay("Alice", "*", 1.0)
    assert link.matches("Alice", "Bob")
    assert link.matches("Alice", "Alice")
    assert not link.matches("Bob", "Alice")
    exact = LinkDelay("Alice", "Bob", 1.0)
    assert exact.matches("Alice", "Bob")
    assert not exact.matches("Bob", "Alice")
    assert LinkDelay("*", "*", 0.0).matches("x", "y")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("Alice:Charlie:2000", LinkDelay("Alice", "Charlie", 2.0)),
        ("*:Bob:500", LinkDelay("*", "Bob", 0.5)),
        ("Bob:*:0", LinkDelay("Bob", "*", 0.0)),
        ("*:*:1.5", LinkDelay("*", "*", 0.0015)),
        ("A:B:1e3", LinkDelay("A", "B", 1.0)),
    ],
)
def test_link_delay_parse(spec: str, expected: LinkDelay) -> None:
    parsed = LinkDelay.parse(spec)
    assert parsed.sender == expected.sender
    assert parsed.recipient == expected.recipient
    assert parsed.seconds == pytest.approx(expected.seconds)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "Alice",
        "Alice:Bob",
        "Alice:Bob:",
        ":Bob:100",
        "Alice::100",
        "::",
        "Alice:Bob:fast",
        "Alice:Bob:-1",
        "Alice:Bob:-0.5",
        "Alice:Bob:100:extra",
        "Alice:Bob:100ms",
    ],
)
def test_link_delay_parse_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError):
        LinkDelay.parse(spec)


@pytest.mark.parametrize("millis", ["nan", "NaN", "-nan"])
def test_link_delay_parse_rejects_nan(millis: str) -> None:
    with pytest.raises(ValueError):
        LinkDelay.parse(f"Alice:Bob:{millis}")


def test_link_delay_parse_result_is_finite_for_numbers() -> None:
    assert math.isfinite(LinkDelay.parse("Alice:Bob:123.25").seconds)
