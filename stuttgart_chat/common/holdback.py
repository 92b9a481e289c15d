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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial

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


class Arrival:
    """What happened when a message arrived.

    Attributes:
        outcome: ``"delivered"``, ``"held"`` or ``"duplicate"``.
        delivered: every message delivered because of this arrival, in delivery order:
            the arrival itself first (if it was deliverable), then the held messages it
            released, each after everything it depends on.
        waits: for a held arrival, what it waits for. Described when first read (a
            queue that nobody watches does not pay for the description), against the
            clock at that moment: read it before adding more messages.
    """

    __slots__ = ("outcome", "delivered", "_waits", "_explain")

    def __init__(
        self,
        outcome: str,
        delivered: tuple[Chat, ...] = (),
        waits: tuple[Wait, ...] | None = None,
        explain: Callable[[], tuple[Wait, ...]] | None = None,
    ) -> None:
        self.outcome = outcome
        self.delivered = delivered
        self._waits = waits
        self._explain = explain

    @property
    def waits(self) -> tuple[Wait, ...]:
        if self._waits is None:
            self._waits = self._explain() if self._explain is not None else ()
            self._explain = None
        return self._waits

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Arrival):
            return NotImplemented
        return (self.outcome, self.delivered, self.waits) == (
            other.outcome,
            other.delivered,
            other.waits,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Arrival({self.outcome!r}, delivered={self.delivered!r}, waits={self.waits!r})"


class _Held:
    """A message in the queue, and how far its conditions have been checked.

    ``rest`` iterates the message's clock entries lazily: every entry before it is a
    condition already met (conditions stay met), the one it stopped at is the one the
    message is filed under. Nothing is copied, so holding costs little memory.
    """

    __slots__ = ("message", "sender", "seq", "rest", "arrival_index")

    def __init__(
        self,
        message: Chat,
        sender: str,
        seq: int,
        rest: Iterator[tuple[str, int]],
        arrival_index: int,
    ) -> None:
        self.message = message
        self.sender = sender
        self.seq = seq
        self.rest = rest
        self.arrival_index = arrival_index


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
        waiters = self._waiting.pop((member, seq), None)
        if waiters:
            ready.extend(w for w in waiters if self._file(w))
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
        if seq <= self._counts.get(sender, 0) or (sender, seq) in self._held:
            return Arrival(DUPLICATE)
        held = _Held(message, sender, seq, iter(vc.items()), self._arrivals)
        self._arrivals += 1
        if not self._file(held):
            self._held[(sender, seq)] = held
            return Arrival(HELD, explain=partial(self.waiting_for, message))
        delivered: list[Chat] = []
        self._deliver(deque((held,)), delivered)
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
        """Check the conditions not yet met; file under the first unmet one.

        Returns True when every condition is met (the message is deliverable).
        """
        have = self._counts.get
        sender = held.sender
        for member, count in held.rest:
            # The sender's own entry: its previous message must be here, not this one.
            needed = count - 1 if member == sender else count
            if have(member, 0) < needed:
                key = (member, needed)
                waiters = self._waiting.get(key)
                if waiters is None:
                    self._waiting[key] = [held]
                else:
                    waiters.append(held)
                return False
        return True

    def _deliver(self, ready: deque[_Held], delivered: list[Chat]) -> None:
        """Deliver every message in ``ready`` and everything they release, in order."""
        counts = self._counts
        held_map = self._held
        waiting = self._waiting
        while ready:
            held = ready.popleft()
            delivered.append(held.message)
            held_map.pop((held.sender, held.seq), None)
            # Deliverable means only the sender's entry moves, by exactly one: that
            # wakes exactly the messages filed under (sender, new value).
            counts[held.sender] = held.seq
            waiters = waiting.pop((held.sender, held.seq), None)
            if waiters:
                for waiter in waiters:
                    if self._file(waiter):
                        ready.append(waiter)
