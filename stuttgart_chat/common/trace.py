"""Event logs that ShiViz reads, and that ``stuttgart-chat diagram`` draws.

Each process that logs (a client, or the server) writes one file. An event is two
lines::

    2026-12-04T21:34:03.123Z deliver Bob#1 {"text":"Yes, by the door.","released":true}
    Charlie {"Alice":2,"Bob":2,"Charlie":7,"@server":4}

The first line is the event: wall time (UTC), kind, the message it concerns (``-`` if
none) and details as a JSON object. The second line is the host and its **event
clock**. That is not the chat's message clock. It is the clock ShiViz wants: the host's
own entry counts every event it logged (1, 2, 3, ...), and a receive merges the clock
carried by the frame (the optional ``trace`` field of CHAT). So ShiViz, or the diagram,
can draw an arrow from each send to its receive. This is ShiViz's default format
(parser ``(?<event>.*)\\n(?<host>\\S*) (?<clock>{.*})``): one log, or several
concatenated, paste straight into it.

Event kinds:

====================  ======  =============================================
kind                  where   meaning
====================  ======  =============================================
``join``              client  we joined; details: members
``send``              client  we sent a chat (and delivered it ourselves)
``receive``           both    a chat arrived (client: from the server; server: from a member)
``hold``              client  it waits in the hold-back queue; details: waits
``deliver``           client  delivered (``released``: it had been held)
``duplicate``         client  dropped as a duplicate
``relay``             server  the server multicast it; details: recipients
``member-joined``     both    someone joined
``member-left``       both    someone left; details: reason
``leave``             client  we left, or lost the connection
====================  ======  =============================================

This module is pure: it formats and parses; the writer lives in ``eventlog.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

SERVER_HOST = "@server"  # not a valid username, so it never clashes with a member
SHIVIZ_REGEX = r"(?<event>.*)\n(?<host>\S*) (?<clock>{.*})"

_EVENT_LINE = re.compile(
    r"^(?P<time>\S+) (?P<kind>[a-z][a-z-]*) (?P<message>\S+) (?P<details>\{.*\})$"
)
_HOST_LINE = re.compile(r"^(?P<host>\S+) (?P<clock>\{.*\})$")


@dataclass(frozen=True)
class TraceEvent:
    """One logged event of one host."""

    host: str
    clock: dict[str, int]
    kind: str
    time: str
    message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def index(self) -> int:
        """The event's number on its host (1, 2, ...): its own clock entry."""
        return self.clock.get(self.host, 0)

    def to_lines(self) -> str:
        details = json.dumps(self.details, ensure_ascii=False, separators=(",", ":"))
        clock = json.dumps(self.clock, ensure_ascii=False, separators=(",", ":"))
        return f"{self.time} {self.kind} {self.message or '-'} {details}\n{self.host} {clock}\n"


class TraceFormatError(ValueError):
    """A log line that is not in the event log format."""


def parse_log(lines: Iterable[str], source: str = "log") -> Iterator[TraceEvent]:
    """Events from a log (one file, or several concatenated), in file order.

    Blank lines are skipped; a ShiViz file header (the parser regex on the first line
    and the delimiter on the second) is tolerated.

    Raises:
        TraceFormatError: a line that does not fit, with its line number.
    """
    pending: tuple[int, re.Match[str]] | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\n")
        if not line.strip() or (number == 1 and line.startswith("(?<")):
            continue
        if pending is None:
            event = _EVENT_LINE.match(line)
            if event is None:
                raise TraceFormatError(f"{source}:{number}: not an event line: {line[:80]!r}")
            pending = (number, event)
            continue
        host = _HOST_LINE.match(line)
        if host is None:
            raise TraceFormatError(f"{source}:{number}: not a host/clock line: {line[:80]!r}")
        _, event = pending
        pending = None
        try:
            clock = json.loads(host["clock"])
            details = json.loads(event["details"])
        except ValueError as exc:
            raise TraceFormatError(f"{source}:{number}: bad JSON: {exc}") from None
        if not isinstance(clock, dict) or not isinstance(details, dict):
            raise TraceFormatError(f"{source}:{number}: clock and details must be objects")
        yield TraceEvent(
            host=host["host"],
            clock={str(k): int(v) for k, v in clock.items()},
            kind=event["kind"],
            time=event["time"],
            message=None if event["message"] == "-" else event["message"],
            details=details,
        )
    if pending is not None:
        raise TraceFormatError(f"{source}:{pending[0]}: event line without its host line")
