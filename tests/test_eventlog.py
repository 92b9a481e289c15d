"""Event logs: ShiViz's rules hold, and every receive can be traced to its send."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from stuttgart_chat import Client, Server, VectorClock
from stuttgart_chat.common.trace import (
    SERVER_HOST,
    TraceEvent,
    TraceFormatError,
    parse_log,
)
from stuttgart_chat.eventlog import EventLog
from stuttgart_chat.network.reorder import LinkDelay

from .conftest import WAIT

MakeServer = Callable[..., Server]
MakeClient = Callable[..., Client]


def umbrella_logs(
    tmp_path: Path, make_server: MakeServer, make_client: MakeClient, server_logs: bool = True
) -> dict[str, list[TraceEvent]]:
    server = make_server(
        link_delays=[LinkDelay("Alice", "Charlie", 0.2)],
        event_log=tmp_path / "server.log" if server_logs else None,
    )
    clients = {
        name: make_client(server, name, event_log=tmp_path / f"{name}.log")
        for name in ("Alice", "Bob", "Charlie")
    }
    assert clients["Alice"].wait_until(lambda: len(clients["Alice"].members) == 3, WAIT)
    clients["Alice"].send("Has anyone seen my umbrella?")
    assert clients["Bob"].wait_for(1, WAIT)
    clients["Bob"].send("Yes,\nby the door.")
    assert clients["Charlie"].wait_for(2, WAIT)
    for client in clients.values():
        client.close()
    server.close()
    return {
        path.stem: list(parse_log(path.open(encoding="utf-8"), str(path)))
        for path in tmp_path.glob("*.log")
    }


def test_logs_follow_shiviz_rules(
    tmp_path: Path, make_server: MakeServer, make_client: MakeClient
) -> None:
    logs = umbrella_logs(tmp_path, make_server, make_client)
    assert set(logs) == {"server", "Alice", "Bob", "Charlie"}
    for events in logs.values():
        host = events[0].host
        assert all(e.host == host for e in events)
        # ShiViz: the host's own entry is 1, 2, 3, ... one per event.
        assert [e.clock[host] for e in events] == list(range(1, len(events) + 1))
        # Clocks never go backwards on one host.
        for before, after in zip(events, events[1:], strict=False):
            assert VectorClock(before.clock) < VectorClock(after.clock)
    assert logs["server"][0].host == SERVER_HOST


def test_every_receive_is_caused_by_its_send(
    tmp_path: Path, make_server: MakeServer, make_client: MakeClient
) -> None:
    logs = umbrella_logs(tmp_path, make_server, make_client)
    sends = {e.message: e for e in logs["Alice"] + logs["Bob"] if e.kind == "send"}
    relays = {e.message: e for e in logs["server"] if e.kind == "relay"}
    assert set(sends) == set(relays) == {"Alice#1", "Bob#1"}
    for label, relay in relays.items():
        assert VectorClock(sends[label].clock) < VectorClock(relay.clock)
    for name in ("Alice", "Bob", "Charlie"):
        for event in logs[name]:
            if event.kind == "receive":
                assert event.message is not None
                assert VectorClock(relays[event.message].clock) < VectorClock(event.clock)


def test_charlies_log_tells_the_story(
    tmp_path: Path, make_server: MakeServer, make_client: MakeClient
) -> None:
    logs = umbrella_logs(tmp_path, make_server, make_client)
    story = [
        (e.kind, e.message) for e in logs["Charlie"] if e.kind in ("receive", "hold", "deliver")
    ]
    assert story == [
        ("receive", "Bob#1"),
        ("hold", "Bob#1"),
        ("receive", "Alice#1"),
        ("deliver", "Alice#1"),
        ("deliver", "Bob#1"),
    ]
    hold = next(e for e in logs["Charlie"] if e.kind == "hold")
    assert hold.details["waits"] == ["Alice#1"]
    released = [e.details["released"] for e in logs["Charlie"] if e.kind == "deliver"]
    assert released == [False, True]
    # A newline in a message stays inside its JSON string: one event, two lines.
    receive = next(e for e in logs["Charlie"] if e.message == "Bob#1")
    assert receive.details["text"] == "Yes,\nby the door."


def test_clients_alone_still_link_send_to_receive(
    tmp_path: Path, make_server: MakeServer, make_client: MakeClient
) -> None:
    """Without a server log the trace passes through the server unchanged."""
    logs = umbrella_logs(tmp_path, make_server, make_client, server_logs=False)
    assert "server" not in logs
    send = next(e for e in logs["Alice"] if e.kind == "send")
    receive = next(e for e in logs["Bob"] if e.kind == "receive")
    assert VectorClock(send.clock) < VectorClock(receive.clock)
    assert all(SERVER_HOST not in e.clock for e in logs["Bob"])


def test_round_trip_and_shiviz_header() -> None:
    stream = io.StringIO()
    log = EventLog(stream, "Alice")
    first = log.record("join", members=["Alice"])
    second = log.record("receive", "Bob#1", merge={"Bob": 3}, text="hi")
    assert first == {"Alice": 1} and second == {"Alice": 2, "Bob": 3}
    text = stream.getvalue()
    with_header = "(?<event>.*)\\n(?<host>\\S*) (?<clock>{.*})\n\n" + text
    for source in (text, with_header):
        events = list(parse_log(io.StringIO(source)))
        assert [(e.kind, e.message, e.clock) for e in events] == [
            ("join", None, {"Alice": 1}),
            ("receive", "Bob#1", {"Alice": 2, "Bob": 3}),
        ]
        assert events[1].details == {"text": "hi"}


@pytest.mark.parametrize(
    "broken",
    [
        "not an event\nAlice {}\n",
        "2026-01-01T00:00:00.000Z send Alice#1 {}\n",
        "2026-01-01T00:00:00.000Z send Alice#1 {}\nAlice [1]\n",
        '2026-01-01T00:00:00.000Z send Alice#1 {bad}\nAlice {"Alice":1}\n',
    ],
)
def test_broken_logs_say_where(broken: str) -> None:
    with pytest.raises(TraceFormatError, match=r"x\.log:\d+"):
        list(parse_log(io.StringIO(broken), "x.log"))
