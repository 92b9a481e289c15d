"""Hostile and broken peers: each gets an ERROR (where possible) and a closed
connection, while everyone else keeps chatting and loses nothing."""

from __future__ import annotations

import json
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from stuttgart_chat import Client, JoinRefused, Server
from stuttgart_chat.client import MemberLeft
from stuttgart_chat.client.events import ClientEvent

from .conftest import WAIT, RawPeer, wait_events

MakeServer = Callable[..., Server]
MakeClient = Callable[..., Client]
MakePeer = Callable[[Server], RawPeer]


def frame_bytes(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def frame(obj: Any) -> bytes:
    return frame_bytes(json.dumps(obj).encode())


JOIN_MALLORY = frame({"type": "JOIN", "version": 1, "username": "Mallory"})

# name -> (bytes sent after connecting, expected ERROR code)
BAD_BEFORE_JOIN = {
    "absurd length": (struct.pack(">I", 0xFFFFFFFF), "frame_too_large"),
    "zero length": (struct.pack(">I", 0), "bad_frame"),
    "not utf-8": (frame_bytes(b'{"type": "JOIN\xff"}'), "bad_frame"),
    "not json": (frame_bytes(b"hello there"), "bad_frame"),
    "json array": (frame([1, 2, 3]), "bad_frame"),
    "json NaN": (frame_bytes(b'{"type": "JOIN", "version": NaN}'), "bad_frame"),
    "deep nesting": (frame_bytes(b"[" * 100_000), "bad_frame"),
    "unknown type": (frame({"type": "HELLO"}), "unknown_type"),
    "no type": (frame({"username": "Mallory"}), "unknown_type"),
    "chat before join": (frame({"type": "CHAT", "text": "hi", "vc": {}}), "unexpected"),
    "join without name": (frame({"type": "JOIN", "version": 1}), "bad_field"),
    "name not a string": (
        frame({"type": "JOIN", "version": 1, "username": 42}),
        "bad_field",
    ),
    "version is a bool": (
        frame({"type": "JOIN", "version": True, "username": "Mallory"}),
        "bad_field",
    ),
    "future version": (
        frame({"type": "JOIN", "version": 99, "username": "Mallory"}),
        "unsupported_version",
    ),
    "bad username": (
        frame({"type": "JOIN", "version": 1, "username": "<script>"}),
        "bad_username",
    ),
    "lone surrogate name": (
        frame_bytes(b'{"type": "JOIN", "version": 1, "username": "a\\ud800"}'),
        "bad_field",
    ),
}

BAD_AFTER_JOIN = {
    "text not a string": (frame({"type": "CHAT", "text": 5, "vc": {"Mallory": 1}}), "bad_field"),
    "vc not an object": (frame({"type": "CHAT", "text": "x", "vc": [1]}), "bad_field"),
    "negative vc entry": (
        frame({"type": "CHAT", "text": "x", "vc": {"Mallory": 1, "Alice": -1}}),
        "bad_field",
    ),
    "skips own number": (frame({"type": "CHAT", "text": "x", "vc": {"Mallory": 2}}), "bad_clock"),
    "repeats own number": (frame({"type": "CHAT", "text": "x", "vc": {}}), "bad_clock"),
    "claims unseen messages": (
        frame({"type": "CHAT", "text": "x", "vc": {"Mallory": 1, "Alice": 999}}),
        "bad_clock",
    ),
    "claims a stranger's messages": (
        frame({"type": "CHAT", "text": "x", "vc": {"Mallory": 1, "Ghost": 1}}),
        "bad_clock",
    ),
    "oversized text": (
        frame({"type": "CHAT", "text": "x" * 40_000, "vc": {"Mallory": 1}}),
        "text_too_long",
    ),
    "join twice": (JOIN_MALLORY, "unexpected"),
    "server-only type": (frame({"type": "WELCOME", "username": "x"}), "unexpected"),
    "lone surrogate text": (
        frame_bytes(b'{"type": "CHAT", "text": "\\udfff", "vc": {"Mallory": 1}}'),
        "bad_field",
    ),
    "huge integer": (
        frame_bytes(b'{"type": "CHAT", "text": "x", "vc": {"Mallory": ' + b"9" * 5000 + b"}}"),
        "bad_frame",
    ),
}


def error_then_close(peer: RawPeer) -> dict[str, Any]:
    frames = peer.read_until_closed()
    errors = [f for f in frames if f["type"] == "ERROR"]
    assert errors, f"no ERROR before the close: {frames}"
    assert errors[-1] is frames[-1], "the ERROR must be the last frame"
    assert isinstance(errors[-1]["message"], str) and errors[-1]["message"]
    return errors[-1]


def good_pair_keeps_chatting(
    server: Server, make_client: MakeClient, bob_events: list[ClientEvent] | None = None
) -> tuple[Client, Client]:
    alice = make_client(server, "Alice")
    bob = make_client(server, "Bob", on_event=None if bob_events is None else bob_events.append)
    alice.send("before")
    assert bob.wait_for(1, WAIT)
    return alice, bob


def after_the_attack(alice: Client, bob: Client) -> None:
    bob.send("after")
    alice.send("still here")
    assert alice.wait_for(3, WAIT) and bob.wait_for(3, WAIT)
    assert {m.text for m in alice.messages} == {"before", "after", "still here"}
    assert {m.text for m in bob.messages} == {"before", "after", "still here"}
    assert alice.connected and bob.connected


@pytest.mark.parametrize("case", sorted(BAD_BEFORE_JOIN))
def test_bad_input_before_join(
    case: str, server: Server, make_client: MakeClient, raw_peer: MakePeer
) -> None:
    payload, code = BAD_BEFORE_JOIN[case]
    alice, bob = good_pair_keeps_chatting(server, make_client)
    peer = raw_peer(server)
    peer.send_bytes(payload)
    assert error_then_close(peer)["code"] == code
    after_the_attack(alice, bob)
    assert "Mallory" not in server.members


@pytest.mark.parametrize("case", sorted(BAD_AFTER_JOIN))
def test_bad_input_after_join(
    case: str, server: Server, make_client: MakeClient, raw_peer: MakePeer
) -> None:
    payload, code = BAD_AFTER_JOIN[case]
    events: list[ClientEvent] = []
    alice, bob = good_pair_keeps_chatting(server, make_client, bob_events=events)
    peer = raw_peer(server)
    peer.join("Mallory")
    assert bob.wait_until(lambda: "Mallory" in bob.members, WAIT)
    peer.send_bytes(payload)
    assert error_then_close(peer)["code"] == code
    # The others are told why Mallory is gone.
    assert bob.wait_until(lambda: "Mallory" not in bob.members, WAIT)
    left = wait_events(bob, events, MemberLeft)
    assert [(e.username, e.reason) for e in left] == [("Mallory", code)]
    after_the_attack(alice, bob)


def test_truncated_frame_then_close(
    server: Server, make_client: MakeClient, raw_peer: MakePeer
) -> None:
    alice, bob = good_pair_keeps_chatting(server, make_client)
    peer = raw_peer(server)
    peer.join("Mallory")
    peer.send_bytes(frame({"type": "CHAT", "text": "cut", "vc": {"Mallory": 1}})[:-3])
    peer.sock.shutdown(2)
    assert bob.wait_until(lambda: "Mallory" not in bob.members, WAIT)
    after_the_attack(alice, bob)
    # Nothing of the cut frame was relayed.
    assert all(m.text != "cut" for m in bob.messages)


def test_silent_connection_times_out(
    make_server: MakeServer, make_client: MakeClient, raw_peer: MakePeer
) -> None:
    server = make_server(handshake_timeout=0.3)
    peer = raw_peer(server)
    assert error_then_close(peer)["code"] == "handshake_timeout"


def test_a_client_cannot_speak_for_another(
    server: Server, make_client: MakeClient, raw_peer: MakePeer
) -> None:
    alice, bob = good_pair_keeps_chatting(server, make_client)
    peer = raw_peer(server)
    peer.join("Mallory")
    assert bob.wait_until(lambda: "Mallory" in bob.members, WAIT)
    peer.send_frame({"type": "CHAT", "sender": "Alice", "text": "I am Alice", "vc": {"Mallory": 1}})
    assert bob.wait_for(2, WAIT)
    assert bob.messages[-1].sender == "Mallory"
    assert bob.messages[-1].label == "Mallory#1"


def test_limits_are_options(
    make_server: MakeServer, make_client: MakeClient, raw_peer: MakePeer
) -> None:
    server = make_server(max_text_bytes=10, max_frame_bytes=200, max_username_length=5)
    alice = make_client(server, "Alice")
    assert alice.max_text_bytes == 10
    with pytest.raises(Exception, match="text_too_long"):
        alice.send("this is far too long")
    assert alice.vc == {}, "a refused send must not move the clock"
    alice.send("short")
    peer = raw_peer(server)
    peer.send_bytes(struct.pack(">I", 201))
    assert error_then_close(peer)["code"] == "frame_too_large"


def test_stalled_reader_is_dropped_and_nobody_loses_anything(
    make_server: MakeServer, make_client: MakeClient, raw_peer: MakePeer
) -> None:
    """A member that never reads must not stall the group (outbox bound)."""
    server = make_server(max_outbox_frames=20, write_timeout=5.0)
    events: list[ClientEvent] = []
    alice = make_client(server, "Alice")
    bob = make_client(server, "Bob", on_event=events.append)
    peer = raw_peer(server)
    peer.join("Sloth")
    assert bob.wait_until(lambda: "Sloth" in bob.members, WAIT)
    text = "z" * 16_000
    sent = 0
    # Enough to fill the kernel buffers and the 20-frame outbox many times over. Bob
    # keeps up (Alice waits for him), so only Sloth can fall behind.
    while sent < 2_000 and "Sloth" in bob.members:
        alice.send(text)
        sent += 1
        assert bob.wait_for(sent, WAIT)
    assert bob.wait_until(lambda: "Sloth" not in bob.members, WAIT), "Sloth never dropped"
    assert sent < 2_000
    left = wait_events(bob, events, MemberLeft)
    assert [(e.username, e.reason) for e in left] == [("Sloth", "slow_consumer")]
    alice.send("done")
    assert bob.wait_for(sent + 1, WAIT)
    assert [m.label for m in bob.messages] == [f"Alice#{i}" for i in range(1, sent + 2)]
    # Sloth, reading at last, finds the ERROR after what it had been sent.
    frames = peer.read_until_closed()
    assert frames[-1]["type"] == "ERROR" and frames[-1]["code"] == "slow_consumer"


def test_dribbling_handshake_still_times_out(make_server: MakeServer, raw_peer: MakePeer) -> None:
    """The handshake timeout bounds the whole JOIN, not each read."""
    server = make_server(handshake_timeout=0.5)
    peer = raw_peer(server)
    join = JOIN_MALLORY
    stop = threading.Event()

    def dribble() -> None:
        # The attack itself: one byte of a valid JOIN every 0.1 s.
        for byte in join:
            if stop.wait(0.1):
                return
            try:
                peer.sock.send(bytes([byte]))
            except OSError:
                return

    thread = threading.Thread(target=dribble)
    thread.start()
    try:
        assert error_then_close(peer)["code"] == "handshake_timeout"
    finally:
        stop.set()
        thread.join()


def test_a_client_error_is_reported_as_client_error(
    server: Server, make_client: MakeClient, raw_peer: MakePeer
) -> None:
    """A client's ERROR code is its own word: others only learn that it gave up."""
    events: list[ClientEvent] = []
    alice = make_client(server, "Alice", on_event=events.append)
    peer = raw_peer(server)
    peer.join("Mallory")
    assert alice.wait_until(lambda: "Mallory" in alice.members, WAIT)
    peer.send_frame({"type": "ERROR", "code": "everyone_is_fired", "message": "boo"})
    assert alice.wait_until(lambda: "Mallory" not in alice.members, WAIT)
    left = wait_events(alice, events, MemberLeft)
    assert [(e.username, e.reason) for e in left] == [("Mallory", "client_error")]


def test_connections_that_never_join_are_capped(
    make_server: MakeServer, make_client: MakeClient, raw_peer: MakePeer
) -> None:
    server = make_server(max_handshakes=3)
    idle = [raw_peer(server) for _ in range(3)]
    # Once the server has counted the three (they hold their threads), a fourth is
    # refused without a thread of its own.
    fourth = raw_peer(server)
    assert error_then_close(fourth)["code"] == "server_full"
    for peer in idle:
        peer.close()
    # Capacity comes back once the server has seen the idle ones go: retry until then.
    deadline = time.monotonic() + WAIT
    while True:
        try:
            alice = make_client(server, "Alice")
            break
        except JoinRefused as refused:
            assert refused.code == "server_full"
            assert time.monotonic() < deadline, "capacity never came back"
    assert alice.connected
