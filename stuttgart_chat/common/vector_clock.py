"""Vector clocks: what a message depends on.

A vector clock maps each member to the number of that member's messages that are
known (delivered, or sent by ourselves). Entries that are missing are 0, so members can
join at any time and a clock never needs to know the whole group. Zero entries are
never stored, which keeps frames small and makes ``==`` ignore them.

The comparison operators follow the happened-before partial order the way ``set``
operators follow inclusion:

* ``a <= b``  every entry of ``a`` is at most the one in ``b``;
* ``a < b``   ``a <= b`` and ``a != b``: whatever ``a`` stamps happened before ``b``;
* ``a.concurrent_with(b)``  neither ``a <= b`` nor ``b <= a``.

This module is pure: no sockets, threads or clock reads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Union

ClockLike = Union["VectorClock", Mapping[str, int]]


def _entries_of(clock: ClockLike) -> Mapping[str, int]:
    return clock._entries if isinstance(clock, VectorClock) else clock


def _validated(entries: Mapping[str, int]) -> dict[str, int]:
    clean: dict[str, int] = {}
    for member, count in entries.items():
        if not isinstance(member, str):
            raise TypeError(f"vector clock keys must be str, not {type(member).__name__}")
        # bool is an int subclass; True is not a message count.
        if not isinstance(count, int) or isinstance(count, bool):
            raise TypeError(f"vector clock entry {member!r} must be int, not {count!r}")
        if count < 0:
            raise ValueError(f"vector clock entry {member!r} is negative: {count}")
        if count:
            clean[member] = count
    return clean


class VectorClock:
    """A mutable vector clock (the names ``increment``, ``is_deliverable`` and
    ``update`` are the design sketch's).

    Args:
        entries: initial counts; missing members count 0, zero entries are dropped.

    Raises:
        TypeError: a key is not ``str`` or a count is not ``int``.
        ValueError: a count is negative.
    """

    __slots__ = ("_entries",)

    def __init__(self, entries: ClockLike | None = None) -> None:
        self._entries: dict[str, int] = {} if entries is None else _validated(_entries_of(entries))

    # -- reading -----------------------------------------------------------------

    def __getitem__(self, member: str) -> int:
        return self._entries.get(member, 0)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        """The number of non-zero entries."""
        return len(self._entries)

    def items(self) -> Iterator[tuple[str, int]]:
        return iter(self._entries.items())

    def to_dict(self) -> dict[str, int]:
        """A fresh ``dict`` of the non-zero entries."""
        return dict(self._entries)

    def copy(self) -> VectorClock:
        clone = VectorClock()
        clone._entries = dict(self._entries)
        return clone

    def __repr__(self) -> str:
        inner = ", ".join(f"{m}={c}" for m, c in sorted(self._entries.items()))
        return f"VectorClock({inner})"

    # -- the three operations of the design sketch ---------------------------------

    def increment(self, member: str) -> int:
        """Count one more event of ``member`` (call before sending); return the new count."""
        count = self._entries.get(member, 0) + 1
        self._entries[member] = count
        return count

    def is_deliverable(self, msg_vc: ClockLike, sender_id: str) -> bool:
        """The causal delivery condition (Birman–Schiper–Stephenson CBCAST).

        A message from ``sender_id`` stamped ``msg_vc`` may be delivered here iff it is
        the sender's next message (``msg_vc[sender] == self[sender] + 1``) and
        everything else it depends on is already here (``msg_vc[k] <= self[k]`` for
        every ``k != sender``).
        """
        theirs = _entries_of(msg_vc)
        if theirs.get(sender_id, 0) != self._entries.get(sender_id, 0) + 1:
            return False
        mine = self._entries
        return all(
            count <= mine.get(member, 0) for member, count in theirs.items() if member != sender_id
        )

    def update(self, msg_vc: ClockLike) -> None:
        """Merge: every entry becomes the larger of the two (call after delivering)."""
        mine = self._entries
        for member, count in _validated(_entries_of(msg_vc)).items():
            if count > mine.get(member, 0):
                mine[member] = count

    # -- happened-before as a partial order ---------------------------------------

    def _covers(self, other: ClockLike) -> bool:
        """``other <= self`` entry by entry."""
        mine = self._entries
        return all(count <= mine.get(member, 0) for member, count in _entries_of(other).items())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, VectorClock):
            return self._entries == other._entries
        if isinstance(other, Mapping):
            return self._entries == {m: c for m, c in other.items() if c != 0}
        return NotImplemented

    # A mutable object that defines __eq__ must not be hashable.
    __hash__ = None  # type: ignore[assignment]

    def __le__(self, other: ClockLike) -> bool:
        return VectorClock(other)._covers(self)

    def __lt__(self, other: ClockLike) -> bool:
        return self <= other and self != other

    def __ge__(self, other: ClockLike) -> bool:
        return self._covers(other)

    def __gt__(self, other: ClockLike) -> bool:
        return self >= other and self != other

    def happened_before(self, other: ClockLike) -> bool:
        """Same as ``self < other``."""
        return self < other

    def concurrent_with(self, other: ClockLike) -> bool:
        """Neither clock happened before the other, and they are not equal."""
        return not (self <= other) and not (self >= other)
