"""The hold-back queue: keep a message until everything it depends on is delivered.

A message from ``j`` stamped ``V`` is deliverable at a clock ``C`` iff (CBCAST)::

    V[j] == C[j] + 1   and   V[k] <= C[k] for every k != j

Read as a list of *conditions*, each of the form ``C[member] >= needed``:
``C[j] >= V[j] - 1`` plus ``C[k] >= V[k]`` for every other entry. (``C[j]`` can never
pass ``V[j] - 1`` without delivering this very message, so ``>=`` is enough once
duplicates are dropped at the door.)

Release without rescans: a held message is filed under the *first* condition it does
not meet, keyed by ``(member, needed)``. Delivering a message raises exactly one entry
of ``C`` by exactly one (its sender's), so it wakes exactly the messages filed under
that ``(sender, new value)``; each of them is re-checked from where it stopped and
either delivered or filed under its next unmet condition. A condition, once met,
stays met (clocks only grow), so every message is filed at most once per entry of
its clock: N held messages cost O(N * entries) in total, never O(N²).

Exactly once: ``(sender, V[sender])`` identifies a message. One that is already
delivered (``V[j] <= C[j]``) or already held is a duplicate and is dropped.

This module is pure: no sockets, threads or clock reads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from .protocol import Chat
from .vector_clock import VectorClock

DELIVERED = "delivered"
HELD = "held"
DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Wait:
    """A held message needs ``member``'s messages ``first`` to ``last`` first."""

    member: str
    first: int
    last: int

    def __str__(self) -> str:
        if self.first == self.last:
            return f"{self.member}#{self.first}"
        return f"{self.member}#{self.first}..{self.last}"


@dataclass(frozen=True)
class Arrival:
    """What happened when a message arrived.

    Attributes:
        outcome: ``"delivered"``, ``"held"`` or ``"duplicate"``.
        delivered: every message delivered because of this arrival, in delivery order:
            the arrival itself first (if it was deliverable), then the held messages it
            released, each after everything it depends on.
        waits: for a held arrival, what it waits for.
    """

    outcome: str
    delivered: tuple[Chat, ...] = ()
    waits: tuple[Wait, ...] = ()


@dataclass
class _Held:
    message: Chat
    sender: str
    seq: int
    # (member, needed): the message needs C[member] >= needed.
    conditions: list[tuple[str, int]]
    cursor: int = 0
    arrival_index: int = field(default=0)


class HoldBackQueue:
    """Delivers chat messages in causal order, each exactly once.

    Args:
        clock: the clock to start from: what is already delivered (a late joiner
            starts from the server's WELCOME snapshot).
    """

    def __init__(self, clock: VectorClock | Mapping[str, int] | None = None) -> None:
        self._clock = VectorClock(clock)
        # The clock's dict, read and written in the hot path without method calls.
        self._counts: dict[str, int] = self._clock._entries
        self._held: dict[tuple[str, int], _Held] = {}
        self._waiting: dict[tuple[str, int], list[_Held]] = {}
        self._arrivals = 0

    @property
    def clock(self) -> VectorClock:
        """A copy of the clock of everything delivered."""
        return self._clock.copy()

    def __len__(self) -> int:
        """How many messages are held."""
        return len(self._held)

    def record_own(self, member: str) -> tuple[int, tuple[Chat, ...]]:
        """Count a message we send ourselves (delivered at once).

        Returns its number, and any held messages that were waiting on it (only a
        message stamped by a peer that saw ours can wait on it, so this is usually
        empty; it is returned rather than lost).
        """
        seq = self._counts.get(member, 0) + 1
        self._counts[member] = seq
        ready: deque[_Held] = deque()
        self._wake(member, seq, ready)
        delivered: list[Chat] = []
        self._deliver(ready, delivered)
        return seq, tuple(delivered)

    def add(self, message: Chat) -> Arrival:
        """Take one arriving message; deliver it and whatever it releases, or hold it.

        Raises:
            ValueError: the message has no sender or no entry for its sender.
        """
        sender = message.sender
        if sender is None:
            raise ValueError("a message in the hold-back queue needs a sender")
        vc = message.vc
        seq = vc.get(sender, 0)
        if seq < 1:
            raise ValueError(f"message from {sender} has no entry for its sender: {vc}")
        counts = self._counts
        if seq <= counts.get(sender, 0) or (sender, seq) in self._held:
            return Arrival(DUPLICATE)

        conditions = [(member, count) for member, count in vc.items() if member != sender]
        if seq > 1:
            conditions.append((sender, seq - 1))
        held = _Held(message, sender, seq, conditions, 0, self._arrivals)
        self._arrivals += 1
        if not self._file(held):
            self._held[(sender, seq)] = held
            return Arrival(HELD, waits=self.waiting_for(message))
        delivered: list[Chat] = []
        self._deliver(deque([held]), delivered)
        return Arrival(DELIVERED, delivered=tuple(delivered))

    def waiting_for(self, message: Chat) -> tuple[Wait, ...]:
        """What ``message`` still needs, earliest missing message of each member first."""
        sender = message.sender
        counts = self._counts
        waits = []
        for member, count in sorted(message.vc.items()):
            needed = count - 1 if member == sender else count
            have = counts.get(member, 0)
            if needed > have:
                waits.append(Wait(member, have + 1, needed))
        return tuple(waits)

    def held(self) -> list[tuple[Chat, tuple[Wait, ...]]]:
        """The held messages in arrival order, each with what it waits for."""
        entries = sorted(self._held.values(), key=lambda h: h.arrival_index)
        return [(h.message, self.waiting_for(h.message)) for h in entries]

    # -- internals -----------------------------------------------------------------

    def _file(self, held: _Held) -> bool:
        """Advance past met conditions; file under the first unmet one.

        Returns True when every condition is met (the message is deliverable).
        """
        counts = self._counts
        conditions = held.conditions
        cursor = held.cursor
        while cursor < len(conditions):
            member, needed = conditions[cursor]
            if counts.get(member, 0) < needed:
                held.cursor = cursor
                self._waiting.setdefault((member, needed), []).append(held)
                return False
            cursor += 1
        held.cursor = cursor
        return True

    def _deliver(self, ready: deque[_Held], delivered: list[Chat]) -> None:
        """Deliver every message in ``ready`` and everything they release, in order."""
        while ready:
            held = ready.popleft()
            delivered.append(held.message)
            self._held.pop((held.sender, held.seq), None)
            # Deliverable means only the sender's entry moves, by exactly one.
            self._counts[held.sender] = held.seq
            self._wake(held.sender, held.seq, ready)

    def _wake(self, member: str, value: int, ready: deque[_Held]) -> None:
        waiters = self._waiting.pop((member, value), None)
        if waiters:
            for waiter in waiters:
                if self._file(waiter):
                    ready.append(waiter)
