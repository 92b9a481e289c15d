"""Where everything goes in a space-time diagram of event logs (pure: no I/O, no HTML).

The diagram draws what the logs *prove*, never what they suggest: an arrow joins two
events only when the message label matches **and** the receive's event clock dominates
the sender's (so it merged that very clock), never because texts look alike. Rows are
logical time, not wall time: wall clocks of different processes do not agree, while
the happens-before order is exact. Each event sits one row below its local predecessor
and below the send it receives from (longest-path layering of the happens-before DAG),
so every arrow points down, and events that are concurrent can share a row.

Message hops, as the chat produces them (event kinds: common/trace.py):

* client ``send X#n``  ->  server ``receive X#n``
* server ``relay X#n`` ->  each client's ``receive X#n``

The server's own ``receive`` -> ``relay`` step is on one lifeline: local order, not an
arrow. Without the server's log a client ``receive X#n`` is joined straight to the
``send X#n`` it dominates (the frame's ``trace`` clock passed the server unchanged).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..common.trace import SERVER_HOST, TraceEvent, TraceFormatError

# Kinds that start a hop and kinds that end one.
SEND = "send"
RELAY = "relay"
RECEIVE = "receive"
HOLD = "hold"
DELIVER = "deliver"


class ConflictingLogsError(TraceFormatError):
    """Two different events with the same host and number: logs of different runs."""


@dataclass(frozen=True)
class Arrow:
    """One message hop: ``source`` (a send or relay) -> ``target`` (a receive).

    Both are indices into ``Layout.events``.
    """

    source: int
    target: int
    message: str


@dataclass(frozen=True)
class HeldBar:
    """A message's wait in a hold-back queue: from its ``hold`` to its ``deliver``.

    ``deliver`` is None when the log ends while the message still waits (the client
    left, or lost its connection): the bar then runs to the end of the lifeline.
    ``lane`` separates bars that overlap in time on one lifeline (0 = nearest to it).
    """

    host: str
    hold: int
    deliver: int | None
    message: str
    waits: tuple[str, ...]
    lane: int = 0

    @property
    def label(self) -> str:
        """``Bob#1 waits for Alice#1``: what the reader needs to know about the wait."""
        if self.waits:
            return f"{self.message} waits for {', '.join(self.waits)}"
        return f"{self.message} held"


@dataclass(frozen=True)
class Layout:
    """Everything a renderer needs; coordinates are abstract (column, row)."""

    hosts: tuple[str, ...]
    """Lifelines, left to right."""
    events: tuple[TraceEvent, ...]
    """Each host's events in local order, hosts one after another."""
    rows: tuple[int, ...]
    """``rows[i]``: the logical-time row of ``events[i]`` (0 = top)."""
    arrows: tuple[Arrow, ...]
    held: tuple[HeldBar, ...]

    @property
    def row_count(self) -> int:
        return max(self.rows, default=-1) + 1

    def column(self, host: str) -> int:
        return self.hosts.index(host)


def dominates(later: Mapping[str, int], earlier: Mapping[str, int]) -> bool:
    """``earlier <= later`` entrywise (missing entries are 0): ``later`` knows ``earlier``."""
    return all(later.get(host, 0) >= count for host, count in earlier.items())


def happened_before(a: TraceEvent, b: TraceEvent) -> bool:
    """``a`` -> ``b`` in Lamport's sense: clock(a) <= clock(b) and they differ."""
    return dominates(b.clock, a.clock) and a.clock != b.clock


def normalize(events: Iterable[TraceEvent]) -> list[TraceEvent]:
    """Each host's events in local order, hosts by when they started logging (so the
    result does not depend on the order the logs were given in); duplicates dropped.

    A log given twice (say, each file and also their concatenation) must not draw
    every event twice, so an event whose host and index were already seen is dropped;
    the first copy wins. Order within a host is the host's own count (its clock
    entry), which is the order it logged them.

    Raises:
        ConflictingLogsError: two different events claim the same host and number,
            as when logs of two runs are mixed; drawing them would be nonsense.
    """
    seen: dict[tuple[str, int], TraceEvent] = {}
    by_host: dict[str, list[TraceEvent]] = {}
    for event in events:
        key = (event.host, event.index)
        if event.index > 0:  # an event without its own clock entry cannot be matched
            first = seen.setdefault(key, event)
            if first is not event:
                if first != event:
                    raise ConflictingLogsError(
                        f"{event.host}'s event #{event.index} is logged twice, as "
                        f"{first.kind} {first.message or '-'} at {first.time} and as "
                        f"{event.kind} {event.message or '-'} at {event.time}: "
                        "are these logs of different runs?"
                    )
                continue
        by_host.setdefault(event.host, []).append(event)
    ordered: list[TraceEvent] = []
    for host in sorted(by_host, key=lambda h: (min(e.time for e in by_host[h]), h)):
        ordered.extend(sorted(by_host[host], key=lambda e: e.index))
    return ordered


def order_hosts(events: Sequence[TraceEvent]) -> tuple[str, ...]:
    """Lifelines left to right: clients in the order they started logging (wall time,
    then name), the server in the middle so relays fan out to both sides rather than
    crossing every lifeline on one side."""
    first: dict[str, str] = {}
    for event in events:
        if event.host not in first or event.time < first[event.host]:
            first[event.host] = event.time
    clients = sorted((h for h in first if h != SERVER_HOST), key=lambda h: (first[h], h))
    if SERVER_HOST not in first:
        return tuple(clients)
    middle = len(clients) // 2
    return (*clients[:middle], SERVER_HOST, *clients[middle:])


def match_arrows(events: Sequence[TraceEvent]) -> list[Arrow]:
    """The message hops among ``events`` (indices into it), by label and causality.

    A receive is matched to the latest candidate source whose clock it dominates:

    * on the server: a client's ``send`` of that label;
    * on a client: the server's ``relay`` of that label; if there is none (no server
      log), the ``send`` of that label itself.

    A receive with no candidate in the logs (its sender's log is missing) gets no
    arrow: the diagram never draws a hop it cannot prove.
    """
    sends: dict[str, list[int]] = {}
    relays: dict[str, list[int]] = {}
    for i, event in enumerate(events):
        if event.message is None:
            continue
        if event.kind == SEND and event.host != SERVER_HOST:
            sends.setdefault(event.message, []).append(i)
        elif event.kind == RELAY and event.host == SERVER_HOST:
            relays.setdefault(event.message, []).append(i)

    def latest_known(receive: TraceEvent, candidates: list[int]) -> int | None:
        best: int | None = None
        for i in candidates:
            source = events[i]
            if source.host == receive.host or not dominates(receive.clock, source.clock):
                continue
            if best is None or dominates(source.clock, events[best].clock):
                best = i
        return best

    arrows: list[Arrow] = []
    for target, event in enumerate(events):
        if event.kind != RECEIVE or event.message is None:
            continue
        label = event.message
        if event.host == SERVER_HOST:
            source = latest_known(event, sends.get(label, []))
        else:
            source = latest_known(event, relays.get(label, []))
            if source is None:
                source = latest_known(event, sends.get(label, []))
        if source is not None:
            arrows.append(Arrow(source, target, label))
    return arrows


def assign_rows(events: Sequence[TraceEvent], arrows: Sequence[Arrow]) -> list[int]:
    """Longest-path layering: row = 1 + max(row of local predecessor, rows of sources).

    ``events`` must be in local order per host (``normalize``). Kahn's algorithm, so a
    run of 10,000 events needs no recursion. Consistent logs form a DAG; should
    hand-edited logs make a cycle, the stuck host's next event is placed anyway (its
    local order is never broken) and the renderer drops any arrow that would then
    point up (see ``compute_layout``).
    """
    count = len(events)
    successors: list[list[int]] = [[] for _ in range(count)]
    waiting = [0] * count
    previous: dict[str, int] = {}
    for i, event in enumerate(events):
        if event.host in previous:
            successors[previous[event.host]].append(i)
            waiting[i] += 1
        previous[event.host] = i
    for arrow in arrows:
        successors[arrow.source].append(arrow.target)
        waiting[arrow.target] += 1

    rows = [0] * count
    done = [False] * count
    ready = deque(i for i in range(count) if waiting[i] == 0)
    # For breaking a cycle: each host's events in order, and how far each got.
    host_events: dict[str, list[int]] = {}
    for i, event in enumerate(events):
        host_events.setdefault(event.host, []).append(i)
    placed = 0
    while placed < count:
        if not ready:
            ready.append(_cycle_breaker(host_events, done))
        i = ready.popleft()
        if done[i]:
            continue
        done[i] = True
        placed += 1
        for j in successors[i]:
            if done[j]:  # only after a cycle was broken: j is placed for good
                continue
            rows[j] = max(rows[j], rows[i] + 1)
            waiting[j] -= 1
            if waiting[j] == 0:
                ready.append(j)
    return rows


def _cycle_breaker(host_events: dict[str, list[int]], done: list[bool]) -> int:
    """The next unplaced event of the first host that has one (its local predecessor
    is placed, so local order holds; only its arrows may be broken)."""
    firsts = [next((i for i in indices if not done[i]), None) for indices in host_events.values()]
    return min(i for i in firsts if i is not None)


def find_held_bars(events: Sequence[TraceEvent]) -> list[HeldBar]:
    """One bar per ``hold``: to the first later ``deliver`` of that message on that host.

    Lanes: a bar takes the lowest lane free at its start, so bars that overlap in
    time sit side by side instead of on top of each other.
    """
    bars: list[HeldBar] = []
    open_holds: dict[tuple[str, str], list[int]] = {}
    ends: dict[int, int | None] = {}
    for i, event in enumerate(events):
        if event.message is None:
            continue
        key = (event.host, event.message)
        if event.kind == HOLD:
            open_holds.setdefault(key, []).append(i)
            ends[i] = None
        elif event.kind == DELIVER and open_holds.get(key):
            for hold in open_holds.pop(key):
                ends[hold] = i
    lane_ends: dict[str, list[int]] = {}  # per host: per lane, the event index it ends at
    last_of_host: dict[str, int] = {}
    for i, event in enumerate(events):
        last_of_host[event.host] = i
    for hold in sorted(ends):
        event = events[hold]
        deliver = ends[hold]
        end = deliver if deliver is not None else last_of_host[event.host]
        lanes = lane_ends.setdefault(event.host, [])
        lane = next((n for n, busy_until in enumerate(lanes) if busy_until < hold), len(lanes))
        if lane == len(lanes):
            lanes.append(end)
        else:
            lanes[lane] = end
        waits = event.details.get("waits", [])
        bars.append(
            HeldBar(
                host=event.host,
                hold=hold,
                deliver=deliver,
                message=event.message or "",
                waits=tuple(str(w) for w in waits) if isinstance(waits, list) else (),
                lane=lane,
            )
        )
    return bars


def compute_layout(events: Iterable[TraceEvent]) -> Layout:
    """Lifelines, rows, arrows and held bars for ``events`` (any order, any duplicates).

    Raises:
        ConflictingLogsError: logs of different runs mixed (see ``normalize``).
    """
    ordered = normalize(events)
    arrows = match_arrows(ordered)
    rows = assign_rows(ordered, arrows)
    # Only a cyclic (inconsistent) log can leave an arrow that does not point down.
    arrows = [a for a in arrows if rows[a.source] < rows[a.target]]
    return Layout(
        hosts=order_hosts(ordered),
        events=tuple(ordered),
        rows=tuple(rows),
        arrows=tuple(arrows),
        held=tuple(find_held_bars(ordered)),
    )
