"""Frames: a 4-byte big-endian unsigned length, then that many bytes of UTF-8 JSON
holding one object.

``FrameDecoder`` is sans-I/O (like h11's ``receive_data``/``next_event``): socket code
only ``feed``\\s it bytes and takes frames out, so the same decoder is tested byte by
byte without a socket. The oversized-length check happens on the 4-byte header,
before any of the body is buffered.

``send_msg``/``recv_msg`` are the design sketch's blocking helpers on top of it.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any

from ..common.errors import ConnectionLost, ProtocolError
from ..common.protocol import ErrorCode, Limits

HEADER = struct.Struct(">I")
DEFAULT_MAX_FRAME_BYTES = Limits().max_frame_bytes


def _refuse_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON does not.
    raise ValueError(f"{name} is not JSON")


# Made once: json.dumps/json.loads with options build a new encoder/decoder per call,
# which the server's profile showed on every frame.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def encode_frame(obj: dict[str, Any]) -> bytes:
    """One frame: length prefix and compact UTF-8 JSON."""
    body = _ENCODER.encode(obj).encode("utf-8")
    return HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> dict[str, Any]:
    """The JSON object in a frame's body.

    Raises:
        ProtocolError: ``BAD_FRAME`` if it is not UTF-8, not JSON, or not an object.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"frame is not UTF-8 ({exc.reason})") from None
    try:
        obj = _DECODER.decode(text)
    # ValueError covers malformed JSON and over-long integer literals; RecursionError
    # covers absurdly deep nesting.
    except (ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ProtocolError(ErrorCode.BAD_FRAME, f"frame is not JSON: {reason}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(
            ErrorCode.BAD_FRAME, f"frame must hold a JSON object, not {type(obj).__name__}"
        )
    return obj


class FrameDecoder:
    """Turns a byte stream into JSON objects, one per frame.

    Args:
        max_frame_bytes: the largest body accepted; a larger length prefix raises
            ``ProtocolError(FRAME_TOO_LARGE)`` before any of the body is buffered.
    """

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._body_length: int | None = None

    def feed(self, data: bytes) -> None:
        """Add received bytes. Call ``next_frame`` until it returns None."""
        self._buffer += data

    @property
    def pending(self) -> int:
        """Bytes received but not yet returned as a frame (non-zero at EOF = truncated),
        counting a header whose body has not arrived yet."""
        header = HEADER.size if self._body_length is not None else 0
        return header + len(self._buffer)

    def next_frame(self) -> dict[str, Any] | None:
        """The next complete frame's object, or None if more bytes are needed.

        Raises:
            ProtocolError: the frame is empty, too large, or not a UTF-8 JSON object.
                The stream cannot be resynchronised after that: close it.
        """
        if self._body_length is None:
            if len(self._buffer) < HEADER.size:
                return None
            (length,) = HEADER.unpack_from(self._buffer)
            if length == 0:
                raise ProtocolError(ErrorCode.BAD_FRAME, "frame length is 0")
            if length > self.max_frame_bytes:
                raise ProtocolError(
                    ErrorCode.FRAME_TOO_LARGE,
                    f"frame of {length} bytes, the limit is {self.max_frame_bytes}",
                )
            del self._buffer[: HEADER.size]
            self._body_length = length
        if len(self._buffer) < self._body_length:
            return None
        body = bytes(self._buffer[: self._body_length])
        del self._buffer[: self._body_length]
        self._body_length = None
        return decode_body(body)


class FrameReader:
    """Blocking frame reader over a socket (one per connection, one reader thread)."""

    def __init__(self, sock: socket.socket, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._sock = sock
        self._decoder = FrameDecoder(max_frame_bytes)

    def read(self, deadline: float | None = None) -> dict[str, Any] | None:
        """The next frame's object; None on a clean end of stream between frames.

        Args:
            deadline: a ``time.monotonic()`` time by which the whole frame must have
                arrived (a peer dribbling one byte at a time cannot stretch it).

        Raises:
            ProtocolError: a bad frame, or the stream ended inside a frame.
            OSError: the socket failed; ``TimeoutError`` if the socket has a timeout
                or the deadline passed.
        """
        while True:
            frame = self._decoder.next_frame()
            if frame is not None:
                return frame
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("deadline passed")
                self._sock.settimeout(remaining)
            data = self._sock.recv(65536)
            if not data:
                if self._decoder.pending:
                    raise ProtocolError(
                        ErrorCode.BAD_FRAME,
                        f"connection closed inside a frame ({self._decoder.pending} bytes)",
                    )
                return None
            self._decoder.feed(data)


def send_msg(sock: socket.socket, data: dict[str, Any]) -> None:
    """Send one object as one frame (the design sketch's helper)."""
    sock.sendall(encode_frame(data))


def recv_msg(sock: socket.socket, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> dict[str, Any]:
    """Read exactly one frame from a blocking socket (the design sketch's helper).

    Reads only that frame's bytes, so it can be mixed with later ``FrameReader`` use.

    Raises:
        ConnectionLost: the stream ended.
        ProtocolError: the frame is bad.
    """
    header = _recv_exactly(sock, HEADER.size)
    (length,) = HEADER.unpack(header)
    decoder = FrameDecoder(max_frame_bytes)
    decoder.feed(header)
    decoder.next_frame()  # checks the length before the body is read
    decoder.feed(_recv_exactly(sock, length))
    frame = decoder.next_frame()
    assert frame is not None
    return frame


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        data = sock.recv(size - len(chunks))
        if not data:
            raise ConnectionLost("connection closed by the peer")
        chunks += data
    return bytes(chunks)
