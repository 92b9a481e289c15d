"""What a client reports to its UI: one small frozen dataclass per kind of event."""

from __future__ import annotations

from dataclasses import dataclass

from ..common.holdback import Wait
from ..common.protocol import Chat


@dataclass(frozen=True)
class Delivered:
    """A message was delivered (``own``: we sent it; ``was_held``: it waited first).

    ``clock`` is our vector clock right after the delivery.
    """

    message: Chat
    clock: dict[str, int]
    own: bool = False
    was_held: bool = False

    def describe(self) -> str:
        if self.was_held:
            return f"released: {self.message.label} (everything it depends on is here)"
        return f"delivered: {self.message.label}"


@dataclass(frozen=True)
class Held:
    """A message arrived before something it depends on; it waits in the hold-back queue."""

    message: Chat
    waits: tuple[Wait, ...]
    clock: dict[str, int]

    def describe(self) -> str:
        return f"held: {self.message.label} waits for {', '.join(map(str, self.waits))}"


@dataclass(frozen=True)
class Duplicate:
    """A message that was already delivered or is already held arrived again; dropped."""

    message: Chat

    def describe(self) -> str:
        return f"dropped duplicate: {self.message.label}"


@dataclass(frozen=True)
class MemberJoined:
    username: str

    def describe(self) -> str:
        return f"{self.username} joined"


@dataclass(frozen=True)
class MemberLeft:
    username: str
    reason: str

    def describe(self) -> str:
        why = "" if self.reason == "leave" else f" ({self.reason})"
        return f"{self.username} left{why}"


@dataclass(frozen=True)
class Disconnected:
    """The connection ended. ``code`` is the server's ERROR code when it sent one;
    ``by_us`` is True after ``close()``."""

    reason: str
    code: str | None = None
    by_us: bool = False

    def describe(self) -> str:
        return f"disconnected: {self.reason}"


ClientEvent = Delivered | Held | Duplicate | MemberJoined | MemberLeft | Disconnected
