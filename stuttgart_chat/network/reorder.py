"""Injected network delay, so that causal order is *not* free.

One server relaying in one order over TCP already delivers in causal order, so a
hold-back queue would never hold anything. ``DelayPolicy`` says how long each chat
frame waits before it goes to one recipient: a random jitter per (frame, recipient)
from a seedable source, plus fixed delays for chosen sender -> recipient pairs (which
make a scripted scenario show a held message every time). The server's per-member
writers apply it. Only chats overtake each other: a control frame (WELCOME, JOINED,
LEFT, ERROR) is written after every frame queued before it, and no chat overtakes a
control frame queued before it (nobody speaks before their JOINED or after their LEFT).

This module is pure: the random source is injected and no clock is read.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LinkDelay:
    """Frames from ``sender`` to ``recipient`` wait ``seconds`` more ("*" matches any)."""

    sender: str
    recipient: str
    seconds: float

    @classmethod
    def parse(cls, spec: str) -> LinkDelay:
        """Parse ``SENDER:RECIPIENT:MILLISECONDS`` (``*`` for any), e.g. ``Alice:Charlie:2000``."""
        parts = spec.split(":")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise ValueError(f"delay {spec!r} is not SENDER:RECIPIENT:MILLISECONDS")
        try:
            millis = float(parts[2])
        except ValueError:
            raise ValueError(f"delay {spec!r}: {parts[2]!r} is not a number") from None
        if not math.isfinite(millis) or millis < 0:
            raise ValueError(f"delay {spec!r} must be a finite number >= 0")
        return cls(parts[0], parts[1], millis / 1000.0)

    def matches(self, sender: str, recipient: str) -> bool:
        return self.sender in ("*", sender) and self.recipient in ("*", recipient)


@dataclass
class DelayPolicy:
    """How long a chat frame from ``sender`` waits before it is written to ``recipient``.

    Args:
        jitter: each frame to each recipient waits a uniform random time in
            ``[0, jitter]`` seconds, independently, so frames overtake each other.
        links: fixed extra delays for chosen sender -> recipient pairs.
        seed: seeds the random source, so a run's delays can be repeated.
    """

    jitter: float = 0.0
    links: tuple[LinkDelay, ...] = ()
    seed: int | None = None
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not math.isfinite(self.jitter) or self.jitter < 0:
            raise ValueError("jitter must be a finite number >= 0")
        self._random = random.Random(self.seed)

    @property
    def active(self) -> bool:
        return self.jitter > 0 or bool(self.links)

    def delay(self, sender: str, recipient: str) -> float:
        seconds = self._random.uniform(0.0, self.jitter) if self.jitter > 0 else 0.0
        for link in self.links:
            if link.matches(sender, recipient):
                seconds += link.seconds
        return seconds
