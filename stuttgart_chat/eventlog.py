"""Writes a process's event log (format: common/trace.py).

One ``EventLog`` per process (a client or the server). ``record`` advances the event
clock, merges a received frame's ``trace`` clock first, and appends two lines. It
returns the clock after the event, which a sender puts into the frame's ``trace``.
"""

from __future__ import annotations

import datetime
import threading
from pathlib import Path
from typing import Any, TextIO

from .common.trace import TraceEvent
from .common.vector_clock import VectorClock


class EventLog:
    """An append-only event log for one host.

    Args:
        target: a path (created or truncated) or an open text stream.
        host: the name on every host line (a username, or ``@server``).
    """

    def __init__(self, target: str | Path | TextIO, host: str) -> None:
        if isinstance(target, (str, Path)):
            self._stream: TextIO = open(target, "w", encoding="utf-8")  # noqa: SIM115
            self._owned = True
        else:
            self._stream = target
            self._owned = False
        self.host = host
        self._clock = VectorClock()
        self._lock = threading.Lock()

    def rename(self, host: str) -> None:
        """Use the spelling of our name that the server chose (before any event)."""
        self.host = host

    def record(
        self,
        kind: str,
        message: str | None = None,
        *,
        merge: dict[str, int] | None = None,
        **details: Any,
    ) -> dict[str, int]:
        """Log one event; return the event clock after it."""
        now = datetime.datetime.now(datetime.timezone.utc)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        with self._lock:
            if merge:
                self._clock.update(merge)
            self._clock.increment(self.host)
            clock = self._clock.to_dict()
            event = TraceEvent(self.host, clock, kind, stamp, message, details)
            self._stream.write(event.to_lines())
            self._stream.flush()
        return clock

    def close(self) -> None:
        with self._lock:
            if self._owned and not self._stream.closed:
                self._stream.close()
