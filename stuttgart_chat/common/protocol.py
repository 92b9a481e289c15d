"""Message types of the wire protocol, and their validation.

Every message is a frozen dataclass that knows its wire ``type`` and how to become
a JSON object (``to_wire``). ``parse_message`` turns a decoded JSON object back into
a message through an explicit ``type -> class`` table, checking every field; anything
wrong raises ``ProtocolError`` with the code that goes into the ``ERROR`` frame.

The full wire description, for writing a client in another language, is
docs/protocol.md; keep the two in step.

This module is pure: no sockets, threads or clock reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .errors import ProtocolError

PROTOCOL_VERSION = 1


class ErrorCode:
    """Reasons carried in ``ERROR.code``. Every ERROR from the server closes the connection."""

    BAD_FRAME = "bad_frame"  # truncated frame, zero length, not UTF-8, not JSON, not an object
    FRAME_TOO_LARGE = "frame_too_large"  # the length prefix exceeds max_frame_bytes
    UNKNOWN_TYPE = "unknown_type"  # "type" missing or not one of the known message types
    BAD_FIELD = "bad_field"  # a field is missing, has the wrong JSON type, or a bad value
    UNEXPECTED = "unexpected"  # a known message at the wrong time (CHAT before JOIN, JOIN twice)
    UNSUPPORTED_VERSION = "unsupported_version"  # JOIN.version is not one the server speaks
    BAD_USERNAME = "bad_username"  # too long, empty, or characters outside the allowed set
    NAME_TAKEN = "name_taken"  # another connected member has this name
    SERVER_FULL = "server_full"  # max_members reached
    TEXT_TOO_LONG = "text_too_long"  # CHAT.text exceeds max_text_bytes (UTF-8)
    BAD_CLOCK = "bad_clock"  # CHAT.vc is not the sender's next message or claims unseen ones
    HANDSHAKE_TIMEOUT = "handshake_timeout"  # no JOIN within handshake_timeout seconds
    SLOW_CONSUMER = "slow_consumer"  # the member's outbox overflowed: it does not read
    SERVER_CLOSING = "server_closing"  # the server is shutting down


@dataclass(frozen=True)
class Limits:
    """Bounds on what a peer may send. Every one is an option of the server."""

    max_frame_bytes: int = 1024 * 1024
    max_text_bytes: int = 32 * 1024
    max_username_length: int = 32
    # Letters, digits (any script), '_', '.', '-': names appear in logs and commands,
    # so no spaces, quotes or control characters.
    username_pattern: str = r"[\w.\-]+"
    max_members: int = 1000

    def __post_init__(self) -> None:
        for name in ("max_frame_bytes", "max_text_bytes", "max_username_length", "max_members"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        re.compile(self.username_pattern)

    def check_username(self, username: str) -> None:
        """Raise ``ProtocolError(BAD_USERNAME)`` unless ``username`` is acceptable."""
        if not username:
            raise ProtocolError(ErrorCode.BAD_USERNAME, "username is empty")
        if len(username) > self.max_username_length:
            raise ProtocolError(
                ErrorCode.BAD_USERNAME,
                f"username is {len(username)} characters, the limit is {self.max_username_length}",
            )
        if not re.fullmatch(self.username_pattern, username):
            raise ProtocolError(
                ErrorCode.BAD_USERNAME,
                f"username {username!r} has characters outside {self.username_pattern}",
            )

    def check_text(self, text: str) -> None:
        """Raise ``ProtocolError(TEXT_TOO_LONG)`` if ``text`` is over ``max_text_bytes``."""
        size = len(text.encode("utf-8", "surrogatepass"))  # counts, never raises
        if size > self.max_text_bytes:
            raise ProtocolError(
                ErrorCode.TEXT_TOO_LONG,
                f"text is {size} bytes of UTF-8, the limit is {self.max_text_bytes}",
            )

    def to_wire(self) -> dict[str, Any]:
        return {
            "max_frame_bytes": self.max_frame_bytes,
            "max_text_bytes": self.max_text_bytes,
            "max_username_length": self.max_username_length,
        }


# -- field readers: each raises BAD_FIELD with the field's name ------------------------


def _field(obj: Mapping[str, Any], name: str, kind: type, kind_name: str) -> Any:
    if name not in obj:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"{obj.get('type')}: missing field {name!r}")
    value = obj[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(
            ErrorCode.BAD_FIELD,
            f"{obj.get('type')}: field {name!r} must be {kind_name}, got {type(value).__name__}",
        )
    return value


def _encodable(value: str, where: str) -> str:
    # JSON can carry lone surrogates ("\\ud800"); they cannot be re-encoded as UTF-8,
    # so one would crash whoever relays or prints it. Refuse them at the door.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"{where} is not valid Unicode") from None
    return value


def _str(obj: Mapping[str, Any], name: str) -> str:
    value: str = _field(obj, name, str, "a string")
    return _encodable(value, f"{obj.get('type')}: field {name!r}")


def _int(obj: Mapping[str, Any], name: str) -> int:
    value: int = _field(obj, name, int, "an integer")
    return value


def _clock(obj: Mapping[str, Any], name: str) -> dict[str, int]:
    raw: Mapping[str, Any] = _field(obj, name, dict, "an object")
    clock: dict[str, int] = {}
    for member, count in raw.items():
        _encodable(member, f"{obj.get('type')}: a key of {name}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ProtocolError(
                ErrorCode.BAD_FIELD,
                f"{obj.get('type')}: {name}[{member!r}] must be a non-negative integer",
            )
        if count:
            clock[member] = count
    return clock


def _names(obj: Mapping[str, Any], name: str) -> tuple[str, ...]:
    raw: list[Any] = _field(obj, name, list, "an array")
    if not all(isinstance(item, str) for item in raw):
        raise ProtocolError(ErrorCode.BAD_FIELD, f"{obj.get('type')}: {name} must hold strings")
    return tuple(_encodable(item, f"{obj.get('type')}: an item of {name}") for item in raw)


# -- the messages -------------------------------------------------------------------


@dataclass(frozen=True)
class Join:
    """Client -> server, first frame: ask to join the group as ``username``."""

    TYPE: ClassVar[str] = "JOIN"
    username: str
    version: int = PROTOCOL_VERSION

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> Join:
        return cls(username=_str(obj, "username"), version=_int(obj, "version"))

    def to_wire(self) -> dict[str, Any]:
        return {"type": self.TYPE, "version": self.version, "username": self.username}


@dataclass(frozen=True)
class Welcome:
    """Server -> client, answer to JOIN.

    ``vc`` is the clock of every chat message the server relayed before this member
    was added to the recipients: the joiner starts from it, so it never waits for a
    message it will not get, and every later message reaches it.
    """

    TYPE: ClassVar[str] = "WELCOME"
    username: str
    members: tuple[str, ...]
    vc: dict[str, int]
    limits: dict[str, Any] = field(default_factory=dict)
    version: int = PROTOCOL_VERSION

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> Welcome:
        limits = obj.get("limits", {})
        if not isinstance(limits, dict):
            raise ProtocolError(ErrorCode.BAD_FIELD, "WELCOME: limits must be an object")
        return cls(
            username=_str(obj, "username"),
            members=_names(obj, "members"),
            vc=_clock(obj, "vc"),
            limits=dict(limits),
            version=_int(obj, "version"),
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": self.TYPE,
            "version": self.version,
            "username": self.username,
            "members": list(self.members),
            "vc": dict(self.vc),
            "limits": dict(self.limits),
        }


@dataclass(frozen=True)
class Chat:
    """A chat message.

    Client -> server it carries ``text`` and ``vc`` only: the server stamps ``sender``
    from the connection, so nobody can speak in another member's name. Server ->
    client ``sender`` is always set. ``(sender, vc[sender])`` identifies a message.

    ``trace`` is optional and only for event logs (common/trace.py): the event clock of
    whoever sent the frame last, so a log can draw an arrow from send to receive. It
    plays no part in delivery.
    """

    TYPE: ClassVar[str] = "CHAT"
    text: str
    vc: dict[str, int]
    sender: str | None = None
    trace: dict[str, int] | None = None

    @property
    def seq(self) -> int:
        """The message's number among its sender's messages (1, 2, ...)."""
        return self.vc.get(self.sender, 0) if self.sender is not None else 0

    @property
    def label(self) -> str:
        """``Alice#3``: how logs and UIs name a message."""
        return f"{self.sender}#{self.seq}"

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> Chat:
        sender = obj.get("sender")
        if sender is not None:
            sender = _str(obj, "sender")
        trace = _clock(obj, "trace") if obj.get("trace") is not None else None
        return cls(text=_str(obj, "text"), vc=_clock(obj, "vc"), sender=sender, trace=trace)

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"type": self.TYPE}
        if self.sender is not None:
            wire["sender"] = self.sender
        wire["text"] = self.text
        wire["vc"] = dict(self.vc)
        if self.trace is not None:
            wire["trace"] = dict(self.trace)
        return wire

    def stamped(self, sender: str) -> Chat:
        return Chat(text=self.text, vc=self.vc, sender=sender, trace=self.trace)

    def traced(self, trace: dict[str, int] | None) -> Chat:
        return Chat(text=self.text, vc=self.vc, sender=self.sender, trace=trace)


@dataclass(frozen=True)
class Leave:
    """Client -> server: leaving the group; the server closes the connection after it."""

    TYPE: ClassVar[str] = "LEAVE"

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> Leave:
        return cls()

    def to_wire(self) -> dict[str, Any]:
        return {"type": self.TYPE}


@dataclass(frozen=True)
class Joined:
    """Server -> client: ``username`` joined the group."""

    TYPE: ClassVar[str] = "JOINED"
    username: str

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> Joined:
        return cls(username=_str(obj, "username"))

    def to_wire(self) -> dict[str, Any]:
        return {"type": self.TYPE, "username": self.username}


@dataclass(frozen=True)
class Left:
    """Server -> client: ``username`` left (``reason``: leave, disconnect, or an error code)."""

    TYPE: ClassVar[str] = "LEFT"
    username: str
    reason: str = "leave"

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> Left:
        return cls(username=_str(obj, "username"), reason=_str(obj, "reason"))

    def to_wire(self) -> dict[str, Any]:
        return {"type": self.TYPE, "username": self.username, "reason": self.reason}


@dataclass(frozen=True)
class Error:
    """Either direction: something was wrong; the connection closes after it."""

    TYPE: ClassVar[str] = "ERROR"
    code: str
    message: str

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> Error:
        return cls(code=_str(obj, "code"), message=_str(obj, "message"))

    def to_wire(self) -> dict[str, Any]:
        return {"type": self.TYPE, "code": self.code, "message": self.message}


Message = Join | Welcome | Chat | Leave | Joined | Left | Error

MESSAGE_TYPES: dict[str, Callable[[Mapping[str, Any]], Message]] = {
    cls.TYPE: cls.from_wire for cls in (Join, Welcome, Chat, Leave, Joined, Left, Error)
}


# Who may send what: a message type from the wrong side is UNEXPECTED.
FROM_CLIENT = frozenset({Join.TYPE, Chat.TYPE, Leave.TYPE, Error.TYPE})
FROM_SERVER = frozenset({Welcome.TYPE, Chat.TYPE, Joined.TYPE, Left.TYPE, Error.TYPE})


def parse_message(obj: Mapping[str, Any], allowed: frozenset[str] | None = None) -> Message:
    """Turn a decoded JSON object into a message, checking every field.

    Args:
        obj: a frame's JSON object.
        allowed: the types this side may receive (``FROM_CLIENT`` on a server,
            ``FROM_SERVER`` on a client); None accepts every known type.

    Raises:
        ProtocolError: ``UNKNOWN_TYPE``, ``UNEXPECTED`` or ``BAD_FIELD``.
    """
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in MESSAGE_TYPES:
        shown = kind if not isinstance(kind, str) else kind[:40]
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {shown!r}")
    if allowed is not None and kind not in allowed:
        raise ProtocolError(ErrorCode.UNEXPECTED, f"{kind} is not sent by this side")
    return MESSAGE_TYPES[kind](obj)
