"""Unit and property tests for stuttgart_chat.common.holdback."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stuttgart_chat.common.holdback import (
    DELIVERED,
    DUPLICATE,
    HELD,
    Arrival,
    HoldBackQueue,
    Wait,
    _Held,
)
from stuttgart_chat.common.protocol import Chat
from stuttgart_chat.common.vector_clock import VectorClock

MEMBERS = ("Alice", "Bob", "Charlie", "Dora")

Key = tuple[str, int]


def chat(sender: str, **vc: int) -> Chat:
    """A chat message from ``sender`` stamped ``vc``; its text is its label."""
    return Chat(text=f"{sender}#{vc.get(sender, 0)}", vc=dict(vc), sender=sender)


def key_of(message: Chat) -> Key:
    assert message.sender is not None
    return (message.sender, message.vc[message.sender])


def copy_of(message: Chat) -> Chat:
    """An equal but distinct message object (a re-sent frame, parsed afresh)."""
    return Chat(text=message.text, vc=dict(message.vc), sender=message.sender)


# -- a genuine causally consistent execution -------------------------------------------


@st.composite
def executions(draw: st.DrawFn, max_steps: int = 40) -> list[Chat]:
    """Simulate a few CBCAST processes and return every message sent, in send order.

    At each step one member either sends (increments its own entry and stamps the
    message with its whole clock) or delivers one message from another member that
    it has not seen yet and that is deliverable at its clock (then merges the clock).
    The clocks are therefore exactly those real processes would produce.
    """
    names = MEMBERS[: draw(st.integers(min_value=1, max_value=len(MEMBERS)))]
    clocks = {name: VectorClock() for name in names}
    sent: list[Chat] = []
    steps = draw(st.integers(min_value=1, max_value=max_steps))
    for _ in range(steps):
        actor = draw(st.sampled_from(names))
        clock = clocks[actor]
        deliverable: list[Chat] = [
            m
            for m in sent
            if m.sender is not None and m.sender != actor and clock.is_deliverable(m.vc, m.sender)
        ]
        receive: bool = draw(st.booleans()) if deliverable else False
        if receive:
            clock.update(draw(st.sampled_from(deliverable)).vc)
        else:
            seq = clock.increment(actor)
            sent.append(Chat(text=f"{actor}#{seq}", vc=clock.to_dict(), sender=actor))
    return sent


def with_duplicates(
    data: st.DataObject, arrivals: list[Chat], candidates: list[Chat]
) -> list[Chat]:
    """Insert copies of some ``candidates`` at hypothesis-chosen positions."""
    if not candidates:
        return arrivals
    result = list(arrivals)
    injections = data.draw(
        st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=len(candidates) - 1),
                st.integers(min_value=0, max_value=10_000),
            ),
            max_size=10,
        ),
        label="duplicates",
    )
    for which, where in injections:
        result.insert(where % (len(result) + 1), copy_of(candidates[which]))
    return result


def check_replay(
    queue: HoldBackQueue, arrivals: list[Chat], already: set[Key] | None = None
) -> list[Chat]:
    """Feed ``arrivals`` one by one, checking every Arrival; return the delivery order.

    ``already`` are the keys the queue's start clock covers.
    """
    seen: set[Key] = set(already or ())
    held: set[Key] = set()
    delivered: list[Chat] = []
    replay = queue.clock
    for message in arrivals:
        key = key_of(message)
        was_deliverable = queue.clock.is_deliverable(message.vc, key[0])
        arrival = queue.add(message)
        assert isinstance(arrival, Arrival)
        if key in seen:
            assert arrival.outcome == DUPLICATE
            assert arrival.delivered == ()
            assert arrival.waits == ()
        elif was_deliverable:
            assert arrival.outcome == DELIVERED
            assert arrival.delivered[0] is message
            assert arrival.waits == ()
        else:
            assert arrival.outcome == HELD
            assert arrival.delivered == ()
            assert arrival.waits
            assert arrival.waits == queue.waiting_for(message)
            held.add(key)
        seen.add(key)
        for out in arrival.delivered:
            # Every delivery is CBCAST-deliverable at that moment.
            assert replay.is_deliverable(out.vc, key_of(out)[0])
            replay.update(out.vc)
            held.discard(key_of(out))
        delivered.extend(arrival.delivered)
        assert queue.clock == replay
        assert len(queue) == len(held)
    return delivered


def assert_causal_order(delivered: list[Chat]) -> None:
    for i, earlier in enumerate(delivered):
        for later in delivered[i + 1 :]:
            # Nothing delivered later may have happened before something delivered earlier.
            assert not VectorClock(later.vc) < VectorClock(earlier.vc), (later, earlier)


HOLDBACK_SETTINGS = settings(max_examples=250, deadline=None)


@given(st.data())
@HOLDBACK_SETTINGS
def test_every_permutation_delivers_each_message_once_in_causal_order(
    data: st.DataObject,
) -> None:
    messages = data.draw(executions(), label="execution")
    order = data.draw(st.permutations(messages), label="arrival order")
    arrivals = with_duplicates(data, order, messages)

    queue = HoldBackQueue()
    delivered = check_replay(queue, arrivals)

    counts = Counter(key_of(m) for m in delivered)
    assert counts == Counter(key_of(m) for m in messages)
    assert all(n == 1 for n in counts.values())
    assert_causal_order(delivered)
    assert len(queue) == 0
    assert queue.held() == []
    assert not queue._waiting, "stale entries left in the waiting index"
    expected_clock = VectorClock()
    for message in messages:
        expected_clock.update(message.vc)
    assert queue.clock == expected_clock


@given(st.data())
@HOLDBACK_SETTINGS
def test_late_joiner_starting_clock(data: st.DataObject) -> None:
    """A consistent cut (a prefix of the send order) as the start clock: what it
    covers is a duplicate, everything after it is delivered exactly once."""
    messages = data.draw(executions(), label="execution")
    cut = data.draw(st.integers(min_value=0, max_value=len(messages)), label="cut")
    before, after = messages[:cut], messages[cut:]
    start = VectorClock()
    for message in before:
        start.update(message.vc)

    order = data.draw(st.permutations(after), label="arrival order")
    arrivals = with_duplicates(data, order, messages)

    queue = HoldBackQueue(start)
    assert queue.clock == start
    delivered = check_replay(queue, arrivals, already={key_of(m) for m in before})

    assert Counter(key_of(m) for m in delivered) == Counter(key_of(m) for m in after)
    assert_causal_order(delivered)
    assert len(queue) == 0


# -- examples --------------------------------------------------------------------------


def test_in_order_messages_are_delivered_at_once() -> None:
    queue = HoldBackQueue()
    a1 = chat("Alice", Alice=1)
    b1 = chat("Bob", Alice=1, Bob=1)
    assert queue.add(a1) == Arrival(DELIVERED, delivered=(a1,))
    assert queue.add(b1) == Arrival(DELIVERED, delivered=(b1,))
    assert queue.clock == {"Alice": 1, "Bob": 1}
    assert len(queue) == 0


def test_reply_before_question_is_held_then_released() -> None:
    queue = HoldBackQueue()
    question = chat("Alice", Alice=1)
    reply = chat("Bob", Alice=1, Bob=1)
    arrival = queue.add(reply)
    assert arrival.outcome == HELD
    assert arrival.delivered == ()
    assert arrival.waits == (Wait("Alice", 1, 1),)
    assert [str(w) for w in arrival.waits] == ["Alice#1"]
    assert len(queue) == 1

    arrival = queue.add(question)
    assert arrival.outcome == DELIVERED
    assert arrival.delivered == (question, reply)
    assert arrival.delivered[0] is question
    assert len(queue) == 0


def test_release_chain_is_in_causal_order() -> None:
    queue = HoldBackQueue()
    a1, a2, a3 = (chat("Alice", Alice=i) for i in (1, 2, 3))
    b1 = chat("Bob", Alice=2, Bob=1)
    for message in (a3, b1, a2):
        assert queue.add(message).outcome == HELD
    arrival = queue.add(a1)
    assert arrival.outcome == DELIVERED
    assert arrival.delivered[:2] == (a1, a2)
    assert set(map(key_of, arrival.delivered[2:])) == {("Alice", 3), ("Bob", 1)}


def test_concurrent_messages_need_not_wait_for_each_other() -> None:
    queue = HoldBackQueue()
    b1 = chat("Bob", Bob=1)
    c1 = chat("Charlie", Charlie=1)
    assert queue.add(c1).outcome == DELIVERED
    assert queue.add(b1).outcome == DELIVERED


def test_duplicate_of_delivered_message() -> None:
    queue = HoldBackQueue()
    a1 = chat("Alice", Alice=1)
    queue.add(a1)
    assert queue.add(copy_of(a1)) == Arrival(DUPLICATE)
    assert queue.add(a1) == Arrival(DUPLICATE)
    assert queue.clock == {"Alice": 1}


def test_duplicate_of_held_message_is_held_once() -> None:
    queue = HoldBackQueue()
    a2 = chat("Alice", Alice=2)
    assert queue.add(a2).outcome == HELD
    assert queue.add(copy_of(a2)) == Arrival(DUPLICATE)
    assert len(queue) == 1
    arrival = queue.add(chat("Alice", Alice=1))
    assert [key_of(m) for m in arrival.delivered] == [("Alice", 1), ("Alice", 2)]
    assert len(queue) == 0


def test_late_joiner_examples() -> None:
    queue = HoldBackQueue({"Alice": 2, "Bob": 1})
    assert queue.add(chat("Alice", Alice=1)).outcome == DUPLICATE
    assert queue.add(chat("Alice", Alice=2)).outcome == DUPLICATE
    assert queue.add(chat("Bob", Alice=1, Bob=1)).outcome == DUPLICATE

    c1 = chat("Charlie", Alice=3, Charlie=1)
    arrival = queue.add(c1)
    assert arrival.outcome == HELD
    assert [str(w) for w in arrival.waits] == ["Alice#3"]

    a3 = chat("Alice", Alice=3, Bob=1)
    assert queue.add(a3).delivered == (a3, c1)
    assert queue.clock == {"Alice": 3, "Bob": 1, "Charlie": 1}


def test_start_clock_is_copied() -> None:
    start = VectorClock({"Alice": 1})
    queue = HoldBackQueue(start)
    queue.add(chat("Alice", Alice=2))
    assert start == {"Alice": 1}
    snapshot = queue.clock
    snapshot.increment("Alice")
    assert queue.clock == {"Alice": 2}


def test_waits_describe_ranges_per_member_sorted() -> None:
    queue = HoldBackQueue({"Bob": 1})
    message = chat("Charlie", Alice=1, Bob=3, Charlie=3)
    arrival = queue.add(message)
    assert arrival.waits == (
        Wait("Alice", 1, 1),
        Wait("Bob", 2, 3),
        Wait("Charlie", 1, 2),
    )
    assert [str(w) for w in arrival.waits] == ["Alice#1", "Bob#2..3", "Charlie#1..2"]


def test_wait_str() -> None:
    assert str(Wait("Alice", 1, 1)) == "Alice#1"
    assert str(Wait("Alice", 1, 3)) == "Alice#1..3"
    assert str(Wait("Bob", 4, 5)) == "Bob#4..5"


def test_waiting_for_shrinks_as_dependencies_arrive() -> None:
    queue = HoldBackQueue()
    message = chat("Bob", Alice=3, Bob=1)
    assert [str(w) for w in queue.add(message).waits] == ["Alice#1..3"]
    queue.add(chat("Alice", Alice=1))
    assert [str(w) for w in queue.waiting_for(message)] == ["Alice#2..3"]
    queue.add(chat("Alice", Alice=2))
    assert [str(w) for w in queue.waiting_for(message)] == ["Alice#3"]
    assert queue.add(chat("Alice", Alice=3)).delivered[-1] is message
    assert queue.waiting_for(message) == ()


def test_held_lists_in_arrival_order_with_current_waits() -> None:
    queue = HoldBackQueue()
    first = chat("Charlie", Bob=1, Charlie=1)
    second = chat("Alice", Alice=2)
    third = chat("Bob", Alice=1, Bob=1)
    for message in (first, second, third):
        assert queue.add(message).outcome == HELD
    held = queue.held()
    assert [m for m, _ in held] == [first, second, third]
    assert [[str(w) for w in waits] for _, waits in held] == [
        ["Bob#1"],
        ["Alice#1"],
        ["Alice#1"],
    ]

    # Alice#1 releases Bob#1 (third), which releases Charlie#1 (first), and Alice#2.
    arrival = queue.add(chat("Alice", Alice=1))
    assert {key_of(m) for m in arrival.delivered} == {
        ("Alice", 1),
        ("Alice", 2),
        ("Bob", 1),
        ("Charlie", 1),
    }
    assert queue.held() == []


def test_held_order_is_arrival_order_not_key_order() -> None:
    queue = HoldBackQueue()
    late = [chat("Zed", Zed=5), chat("Alice", Alice=9), chat("Mia", Mia=2)]
    for message in late:
        queue.add(message)
    assert [m for m, _ in queue.held()] == late


def test_record_own_counts_and_returns_seq() -> None:
    queue = HoldBackQueue()
    assert queue.record_own("Me") == (1, ())
    assert queue.record_own("Me") == (2, ())
    assert queue.clock == {"Me": 2}
    # A copy of our own message coming back is a duplicate.
    assert queue.add(chat("Me", Me=2)).outcome == DUPLICATE


def test_record_own_continues_from_start_clock() -> None:
    queue = HoldBackQueue({"Me": 4, "Alice": 1})
    assert queue.record_own("Me") == (5, ())
    assert queue.clock == {"Me": 5, "Alice": 1}


def test_record_own_releases_messages_waiting_on_it() -> None:
    queue = HoldBackQueue()
    b1 = chat("Bob", Me=1, Bob=1)
    b2 = chat("Bob", Me=1, Bob=2)
    c1 = chat("Charlie", Me=2, Charlie=1)
    assert queue.add(b2).outcome == HELD
    assert queue.add(b1).outcome == HELD
    assert queue.add(c1).outcome == HELD
    assert queue.add(copy_of(b1)).outcome == DUPLICATE
    seq, released = queue.record_own("Me")
    assert seq == 1
    assert released == (b1, b2)
    assert len(queue) == 1
    seq, released = queue.record_own("Me")
    assert (seq, released) == (2, (c1,))
    assert len(queue) == 0


def test_add_requires_a_sender() -> None:
    queue = HoldBackQueue()
    with pytest.raises(ValueError, match="sender"):
        queue.add(Chat(text="hi", vc={"Alice": 1}))


@pytest.mark.parametrize("vc", [{}, {"Bob": 1}, {"Alice": 0, "Bob": 1}])
def test_add_requires_an_entry_for_the_sender(vc: dict[str, int]) -> None:
    queue = HoldBackQueue()
    with pytest.raises(ValueError, match="Alice"):
        queue.add(Chat(text="hi", vc=vc, sender="Alice"))
    assert len(queue) == 0
    assert queue.clock == {}


# -- the release work is linear (counted, not timed) -----------------------------------


def count_file_calls(queue: HoldBackQueue, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    calls = 0
    original = queue._file

    def counting(held: _Held) -> bool:
        nonlocal calls
        calls += 1
        return original(held)

    monkeypatch.setattr(queue, "_file", counting)
    return lambda: calls


def reverse_single_sender(n: int) -> list[Chat]:
    return [chat("Alice", Alice=i) for i in range(n, 0, -1)]


def fan_in_then_chain(n: int) -> list[Chat]:
    """Bob#1..n all depend on Alice#1, arrive first and in order, then Alice#1."""
    return [chat("Bob", Alice=1, Bob=i) for i in range(1, n + 1)] + [chat("Alice", Alice=1)]


def interleaved_reverse(n: int) -> list[Chat]:
    """Three members, each message depending on everything before it; all reversed."""
    clock = VectorClock()
    messages = []
    for i in range(n):
        sender = ("Alice", "Bob", "Charlie")[i % 3]
        clock.increment(sender)
        messages.append(Chat(text=str(i), vc=clock.to_dict(), sender=sender))
    return messages[::-1]


@pytest.mark.parametrize(
    ("make", "per_message"),
    [(reverse_single_sender, 3), (fan_in_then_chain, 4), (interleaved_reverse, 5)],
    ids=["reverse-single-sender", "fan-in", "interleaved-reverse"],
)
def test_release_work_is_linear(
    make: Callable[[int], list[Chat]], per_message: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Count ``_file`` calls: a queue that rescanned every held message on each
    delivery would make ~N²/2 calls here (500 000 for N=1000)."""
    counts = {}
    for n in (1000, 2000):
        queue = HoldBackQueue()
        calls = count_file_calls(queue, monkeypatch)
        delivered = 0
        for message in make(n):
            delivered += len(queue.add(message).delivered)
        assert delivered == len(make(n))
        assert len(queue) == 0
        counts[n] = calls()
        assert counts[n] <= per_message * (n + 1), counts
    assert counts[2000] <= 2.1 * counts[1000], counts
