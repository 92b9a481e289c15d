"""Unit and property tests for stuttgart_chat.common.vector_clock."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stuttgart_chat.common.vector_clock import VectorClock

MEMBERS = ("Alice", "Bob", "Charlie", "Dora")

# Small counts over a few members, so that comparable (not only concurrent) pairs
# come up often.
entries_st = st.dictionaries(st.sampled_from(MEMBERS), st.integers(min_value=0, max_value=3))
clocks_st = entries_st.map(VectorClock)

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)


# -- construction ----------------------------------------------------------------------


def test_empty_clock_has_only_zero_entries() -> None:
    clock = VectorClock()
    assert clock.to_dict() == {}
    assert len(clock) == 0
    assert clock["Alice"] == 0
    assert list(clock) == []


def test_none_is_the_empty_clock() -> None:
    assert VectorClock(None) == VectorClock()


def test_from_dict_missing_members_are_zero() -> None:
    clock = VectorClock({"Alice": 2, "Bob": 1})
    assert clock["Alice"] == 2
    assert clock["Bob"] == 1
    assert clock["Charlie"] == 0


def test_from_dict_drops_zero_entries() -> None:
    clock = VectorClock({"Alice": 0, "Bob": 3, "Charlie": 0})
    assert clock.to_dict() == {"Bob": 3}
    assert len(clock) == 1
    assert list(clock) == ["Bob"]
    assert dict(clock.items()) == {"Bob": 3}


def test_from_vector_clock_copies() -> None:
    original = VectorClock({"Alice": 1})
    clone = VectorClock(original)
    clone.increment("Alice")
    assert original["Alice"] == 1
    assert clone["Alice"] == 2


def test_constructor_does_not_alias_the_input_dict() -> None:
    source = {"Alice": 1}
    clock = VectorClock(source)
    clock.increment("Alice")
    source["Bob"] = 5
    assert source == {"Alice": 1, "Bob": 5}
    assert clock.to_dict() == {"Alice": 2}


@pytest.mark.parametrize("count", [-1, -100])
def test_negative_entry_is_rejected(count: int) -> None:
    with pytest.raises(ValueError, match="negative"):
        VectorClock({"Alice": count})


@pytest.mark.parametrize("count", [1.0, "1", None, [1], True, False])
def test_non_int_entry_is_rejected(count: Any) -> None:
    with pytest.raises(TypeError):
        VectorClock({"Alice": count})


@pytest.mark.parametrize("key", [1, None, b"Alice", ("Alice",)])
def test_non_str_key_is_rejected(key: Any) -> None:
    with pytest.raises(TypeError):
        VectorClock({key: 1})


def test_to_dict_is_a_fresh_dict() -> None:
    clock = VectorClock({"Alice": 1})
    exported = clock.to_dict()
    exported["Alice"] = 99
    exported["Bob"] = 1
    assert clock.to_dict() == {"Alice": 1}


def test_copy_is_independent() -> None:
    clock = VectorClock({"Alice": 1})
    clone = clock.copy()
    clone.increment("Bob")
    assert clock.to_dict() == {"Alice": 1}
    assert clone.to_dict() == {"Alice": 1, "Bob": 1}


def test_repr_is_sorted_and_readable() -> None:
    assert repr(VectorClock({"Bob": 2, "Alice": 1})) == "VectorClock(Alice=1, Bob=2)"
    assert repr(VectorClock()) == "VectorClock()"


def test_clock_is_unhashable() -> None:
    with pytest.raises(TypeError):
        hash(VectorClock())


# -- increment -------------------------------------------------------------------------


def test_increment_returns_new_count() -> None:
    clock = VectorClock()
    assert clock.increment("Alice") == 1
    assert clock.increment("Alice") == 2
    assert clock.increment("Bob") == 1
    assert clock.to_dict() == {"Alice": 2, "Bob": 1}


@given(entries_st, st.sampled_from(MEMBERS))
@PROPERTY_SETTINGS
def test_increment_raises_exactly_one_entry_by_one(entries: dict[str, int], member: str) -> None:
    before = VectorClock(entries)
    after = before.copy()
    after.increment(member)
    for other in MEMBERS:
        expected = before[other] + (1 if other == member else 0)
        assert after[other] == expected
    assert before < after
    assert before.happened_before(after)


# -- is_deliverable (CBCAST) ----------------------------------------------------------


def test_deliverable_next_message_from_sender() -> None:
    local = VectorClock({"Alice": 1, "Bob": 2})
    assert local.is_deliverable({"Alice": 2, "Bob": 2}, "Alice")
    assert local.is_deliverable({"Alice": 2}, "Alice")
    assert local.is_deliverable(VectorClock({"Alice": 2, "Bob": 1}), "Alice")


def test_first_message_of_unknown_sender_is_deliverable() -> None:
    assert VectorClock().is_deliverable({"Alice": 1}, "Alice")


def test_not_deliverable_when_sender_entry_skips_ahead() -> None:
    local = VectorClock({"Alice": 1})
    assert not local.is_deliverable({"Alice": 3}, "Alice")


def test_not_deliverable_when_already_delivered() -> None:
    local = VectorClock({"Alice": 2})
    assert not local.is_deliverable({"Alice": 2}, "Alice")
    assert not local.is_deliverable({"Alice": 1}, "Alice")


def test_not_deliverable_when_sender_entry_missing() -> None:
    assert not VectorClock().is_deliverable({"Bob": 1}, "Alice")
    assert not VectorClock().is_deliverable({}, "Alice")


def test_not_deliverable_when_dependency_missing() -> None:
    local = VectorClock({"Alice": 1})
    # Bob's message depends on Charlie#1, which has not arrived.
    assert not local.is_deliverable({"Bob": 1, "Charlie": 1}, "Bob")
    assert not local.is_deliverable({"Bob": 1, "Alice": 2}, "Bob")


def test_deliverable_ignores_zero_entries_in_message() -> None:
    local = VectorClock()
    assert local.is_deliverable({"Alice": 1, "Bob": 0}, "Alice")


@given(entries_st, entries_st, st.sampled_from(MEMBERS))
@PROPERTY_SETTINGS
def test_is_deliverable_matches_the_cbcast_definition(
    local_entries: dict[str, int], msg_entries: dict[str, int], sender: str
) -> None:
    local = VectorClock(local_entries)
    msg = VectorClock(msg_entries)
    expected = msg[sender] == local[sender] + 1 and all(
        msg[k] <= local[k] for k in MEMBERS if k != sender
    )
    assert local.is_deliverable(msg, sender) is expected
    assert local.is_deliverable(msg_entries, sender) is expected


@given(entries_st, st.sampled_from(MEMBERS))
@PROPERTY_SETTINGS
def test_a_freshly_sent_message_is_deliverable_at_the_senders_old_clock(
    entries: dict[str, int], sender: str
) -> None:
    local = VectorClock(entries)
    stamped = local.copy()
    stamped.increment(sender)
    assert local.is_deliverable(stamped, sender)
    # ...and delivering it (update) makes it no longer deliverable: exactly once.
    local.update(stamped)
    assert not local.is_deliverable(stamped, sender)


# -- update ----------------------------------------------------------------------------


def test_update_is_entrywise_max() -> None:
    clock = VectorClock({"Alice": 3, "Bob": 1})
    clock.update({"Alice": 1, "Bob": 4, "Charlie": 2})
    assert clock.to_dict() == {"Alice": 3, "Bob": 4, "Charlie": 2}


def test_update_accepts_vector_clock_and_ignores_zeros() -> None:
    clock = VectorClock({"Alice": 1})
    clock.update(VectorClock({"Bob": 2}))
    clock.update({"Charlie": 0})
    assert clock.to_dict() == {"Alice": 1, "Bob": 2}


def test_update_validates_its_argument() -> None:
    clock = VectorClock({"Alice": 1})
    with pytest.raises(ValueError):
        clock.update({"Alice": -1})
    with pytest.raises(TypeError):
        clock.update({"Alice": True})
    assert clock.to_dict() == {"Alice": 1}


@given(clocks_st, clocks_st)
@PROPERTY_SETTINGS
def test_update_gives_the_least_upper_bound(a: VectorClock, b: VectorClock) -> None:
    joined = a.copy()
    joined.update(b)
    # An upper bound...
    assert a <= joined
    assert b <= joined
    # ...and the least one: entry-wise max.
    for member in MEMBERS:
        assert joined[member] == max(a[member], b[member])
    # Commutative.
    other_way = b.copy()
    other_way.update(a)
    assert joined == other_way


@given(clocks_st, clocks_st, clocks_st)
@PROPERTY_SETTINGS
def test_update_result_is_below_every_upper_bound(
    a: VectorClock, b: VectorClock, c: VectorClock
) -> None:
    joined = a.copy()
    joined.update(b)
    if a <= c and b <= c:
        assert joined <= c


@given(clocks_st)
@PROPERTY_SETTINGS
def test_update_is_idempotent(a: VectorClock) -> None:
    joined = a.copy()
    joined.update(a)
    assert joined == a


# -- comparisons -----------------------------------------------------------------------


def test_equality_ignores_zero_entries() -> None:
    assert VectorClock({"Alice": 1, "Bob": 0}) == VectorClock({"Alice": 1})
    assert VectorClock() == VectorClock({"Alice": 0})


def test_equality_with_a_dict() -> None:
    clock = VectorClock({"Alice": 1})
    assert clock == {"Alice": 1}
    assert clock == {"Alice": 1, "Bob": 0}
    assert clock != {"Alice": 2}
    assert clock != {"Alice": 1, "Bob": 1}
    assert VectorClock() == {}


def test_equality_with_unrelated_types_is_false() -> None:
    clock = VectorClock()
    assert clock != 0
    assert clock != "VectorClock()"
    assert clock != [("Alice", 1)]
    assert clock.__eq__(0) is NotImplemented


def test_ordering_examples() -> None:
    a = VectorClock({"Alice": 1})
    b = VectorClock({"Alice": 1, "Bob": 1})
    c = VectorClock({"Charlie": 1})
    assert a < b and a <= b and b > a and b >= a
    assert not (b < a) and not (a > b)
    assert a <= a and a >= a and not (a < a) and not (a > a)
    assert a.happened_before(b)
    assert not b.happened_before(a)
    assert not a.happened_before(a)
    assert a.concurrent_with(c)
    assert c.concurrent_with(a)
    assert b.concurrent_with(c)
    assert not a.concurrent_with(b)
    assert not a.concurrent_with(a)


def test_comparisons_accept_dicts() -> None:
    a = VectorClock({"Alice": 1})
    assert a < {"Alice": 2}
    assert a <= {"Alice": 1, "Bob": 0}
    assert a > {}
    assert a >= {"Alice": 1}
    assert a.happened_before({"Alice": 1, "Bob": 1})
    assert a.concurrent_with({"Bob": 1})


def test_zero_entries_do_not_affect_order() -> None:
    assert VectorClock({"Alice": 1}) <= {"Alice": 1, "Bob": 0}
    assert VectorClock({"Alice": 1}) >= {"Alice": 1, "Bob": 0}
    assert not VectorClock({"Alice": 1}) < {"Alice": 1, "Bob": 0}


@given(clocks_st)
@PROPERTY_SETTINGS
def test_le_is_reflexive(a: VectorClock) -> None:
    assert a <= a
    assert a >= a
    assert not a < a
    assert a == a.copy()


@given(clocks_st, clocks_st)
@PROPERTY_SETTINGS
def test_le_is_antisymmetric(a: VectorClock, b: VectorClock) -> None:
    if a <= b and b <= a:
        assert a == b


@given(clocks_st, clocks_st, clocks_st)
@PROPERTY_SETTINGS
def test_le_is_transitive(a: VectorClock, b: VectorClock, c: VectorClock) -> None:
    if a <= b and b <= c:
        assert a <= c
    if a < b and b < c:
        assert a < c


@given(clocks_st, clocks_st)
@PROPERTY_SETTINGS
def test_le_matches_entrywise_definition(a: VectorClock, b: VectorClock) -> None:
    assert (a <= b) is all(a[m] <= b[m] for m in MEMBERS)
    assert (a >= b) is (b <= a)
    assert (a > b) is (b < a)
    assert (a < b) is (a <= b and a != b)


@given(clocks_st, clocks_st)
@PROPERTY_SETTINGS
def test_exactly_one_relation_holds(a: VectorClock, b: VectorClock) -> None:
    relations = [a < b, b < a, a == b, a.concurrent_with(b)]
    assert relations.count(True) == 1
    assert a.happened_before(b) is (a < b)
    assert a.concurrent_with(b) is b.concurrent_with(a)


@given(entries_st, entries_st)
@PROPERTY_SETTINGS
def test_comparisons_with_dict_agree_with_clock(a: dict[str, int], b: dict[str, int]) -> None:
    ca, cb = VectorClock(a), VectorClock(b)
    assert (ca == b) is (ca == cb)
    assert (ca <= b) is (ca <= cb)
    assert (ca < b) is (ca < cb)
    assert (ca >= b) is (ca >= cb)
    assert (ca > b) is (ca > cb)
    assert ca.concurrent_with(b) is ca.concurrent_with(cb)
