"""Real servers and clients on loopback: exactly-once causal delivery, joins, leaves."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import pytest

from stuttgart_chat import (
    Chat,
    Client,
    JoinRefused,
    Server,
    ServerUnreachable,
    VectorClock,
    create_client,
    create_server,
)
from stuttgart_chat.client import Delivered, Disconnected, Held, MemberJoined, MemberLeft
from stuttgart_chat.client.events import ClientEvent
from stuttgart_chat.network.reorder import LinkDelay

from .conftest import WAIT, wait_events

MakeServer = Callable[..., Server]
MakeClient = Callable[..., Client]


def assert_causal(client: Client, expected: int) -> None:
    """Every message delivered once, and never before one that happened before it."""
    messages = client.messages
    labels = [m.label for m in messages]
    assert len(labels) == len(set(labels)), f"{client.username} delivered twice: {labels}"
    assert len(messages) == expected, f"{client.username}: {len(messages)} != {expected}"
    for later_index, later in enumerate(messages):
        later_vc = VectorClock(later.vc)
        for earlier in messages[later_index + 1 :]:
            assert not VectorClock(earlier.vc) < later_vc, (
                f"{client.username} delivered {later.label} before {earlier.label}, "
                "which happened before it"
            )


def test_three_clients_chat(server: Server, make_client: MakeClient) -> None:
    alice, bob, charlie = (make_client(server, n) for n in ("Alice", "Bob", "Charlie"))
    assert alice.members == ["Alice", "Bob", "Charlie"] or alice.wait_until(
        lambda: len(alice.members) == 3, WAIT
    )
    sent = alice.send("Hello")
    # Our own message is delivered at once, with our clock.
    assert alice.messages == [sent]
    assert sent.sender == "Alice" and sent.vc == {"Alice": 1}
    assert bob.wait_for(1, WAIT) and charlie.wait_for(1, WAIT)
    bob.send("Hi Alice")
    charlie.send("Hi both")
    for client in (alice, bob, charlie):
        assert client.wait_for(3, WAIT)
        assert_causal(client, 3)
        assert {m.text for m in client.messages} == {"Hello", "Hi Alice", "Hi both"}
    assert bob.messages[0].text == "Hello"
    assert isinstance(bob.messages[0], Chat) and bob.messages[0].sender == "Alice"


def test_api_is_importable_from_package_root() -> None:
    import stuttgart_chat

    for name in ("create_server", "create_client", "VectorClock"):
        assert hasattr(stuttgart_chat, name)


def test_reply_is_held_until_its_question_arrives(
    make_server: MakeServer, make_client: MakeClient
) -> None:
    server = make_server(link_delays=[LinkDelay("Alice", "Charlie", 0.4)])
    events: list[ClientEvent] = []
    alice = make_client(server, "Alice")
    bob = make_client(server, "Bob")
    charlie = make_client(server, "Charlie", on_event=events.append)
    alice.send("Has anyone seen my umbrella?")
    assert bob.wait_for(1, WAIT)
    bob.send("Yes, by the door.")
    assert charlie.wait_for(2, WAIT)
    assert [m.label for m in charlie.messages] == ["Alice#1", "Bob#1"]
    wait_events(charlie, events, Delivered, 2)
    kinds = [(type(e).__name__, getattr(e, "message", None)) for e in events]
    held = [e for e in events if isinstance(e, Held)]
    assert len(held) == 1, kinds
    assert held[0].message.label == "Bob#1"
    assert [str(w) for w in held[0].waits] == ["Alice#1"]
    assert held[0].describe() == "held: Bob#1 waits for Alice#1"
    delivered = [e for e in events if isinstance(e, Delivered)]
    assert [(d.message.label, d.was_held) for d in delivered] == [
        ("Alice#1", False),
        ("Bob#1", True),
    ]
    # The held event comes before the deliveries it explains.
    assert events.index(held[0]) < events.index(delivered[0])
    assert charlie.held == []


def test_chains_of_replies_under_random_reordering(
    make_server: MakeServer, make_client: MakeClient
) -> None:
    """Every message answers all before it; random per-recipient delay reorders them."""
    server = make_server(jitter=0.03, seed=7)
    names = ("Alice", "Bob", "Charlie", "Dave")
    held_count = 0
    lock = threading.Lock()

    def count_held(event: ClientEvent) -> None:
        nonlocal held_count
        if isinstance(event, Held):
            with lock:
                held_count += 1

    clients = [make_client(server, n, on_event=count_held) for n in names]
    rounds = 6
    sent = 0
    for round_number in range(rounds):
        for client in clients:
            # Wait until this client has seen everything so far, then answer it.
            assert client.wait_for(sent, WAIT)
            client.send(f"{client.username} round {round_number}")
            sent += 1
    for client in clients:
        assert client.wait_for(sent, WAIT)
        assert_causal(client, sent)
    # The chain makes every frame depend on the one before; with this much jitter the
    # queue must have held something (if not, the test would prove nothing).
    assert held_count > 0


def test_concurrent_senders_exactly_once_in_sender_order(
    make_server: MakeServer, make_client: MakeClient
) -> None:
    server = make_server(jitter=0.005, seed=3)
    clients = [make_client(server, n) for n in ("Alice", "Bob", "Charlie")]
    per_client = 40

    def chatter(client: Client) -> None:
        for i in range(per_client):
            client.send(f"{client.username} {i}")

    threads = [threading.Thread(target=chatter, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = per_client * len(clients)
    for client in clients:
        assert client.wait_for(total, WAIT)
        assert_causal(client, total)
        for sender in ("Alice", "Bob", "Charlie"):
            texts = [m.text for m in client.messages if m.sender == sender]
            assert texts == [f"{sender} {i}" for i in range(per_client)]


def test_late_joiner_starts_from_the_snapshot(server: Server, make_client: MakeClient) -> None:
    alice, bob = make_client(server, "Alice"), make_client(server, "Bob")
    for i in range(3):
        alice.send(f"a{i}")
        bob.send(f"b{i}")
    assert alice.wait_for(6, WAIT) and bob.wait_for(6, WAIT)
    carol = make_client(server, "Carol")
    # Carol starts from everything relayed before she joined: nothing to wait for.
    assert carol.vc == {"Alice": 3, "Bob": 3}
    assert carol.messages == []
    assert alice.wait_until(lambda: "Carol" in alice.members, WAIT)
    # A reply to everything Carol never saw must not stall her.
    alice.send("welcome Carol")
    assert carol.wait_for(1, WAIT)
    assert carol.messages[0].label == "Alice#4"
    assert carol.held == []
    carol.send("thanks")
    assert alice.wait_for(8, WAIT) and bob.wait_for(8, WAIT)
    assert bob.messages[-1].vc == {"Alice": 4, "Bob": 3, "Carol": 1}


def test_leave_is_announced_and_the_name_can_return(
    server: Server, make_client: MakeClient
) -> None:
    events: list[ClientEvent] = []
    alice = make_client(server, "Alice", on_event=events.append)
    bob = make_client(server, "Bob")
    assert alice.wait_until(lambda: "Bob" in alice.members, WAIT)
    bob.send("bye soon")
    bob.close()
    assert alice.wait_until(lambda: "Bob" not in alice.members, WAIT)
    joined = [e for e in events if isinstance(e, MemberJoined)]
    left = wait_events(alice, events, MemberLeft)
    assert [e.username for e in joined] == ["Bob"]
    assert [(e.username, e.reason) for e in left] == [("Bob", "leave")]
    # Bob's last message arrived before his LEFT.
    assert alice.messages[-1].text == "bye soon"
    assert server.members == ["Alice"]

    # A new "Bob" continues Bob's numbering, so nobody takes him for a duplicate.
    bob_again = make_client(server, "Bob")
    assert bob_again.vc == {"Bob": 1}
    bob_again.send("back again")
    assert alice.wait_for(2, WAIT)
    assert alice.messages[-1].label == "Bob#2"


def test_client_close_stops_threads_and_sending_after_close_fails(
    server: Server, make_client: MakeClient
) -> None:
    alice = make_client(server, "Alice")
    alice.close()
    alice.close()  # idempotent
    assert not alice.connected
    with pytest.raises(Exception, match="not connected"):
        alice.send("anyone?")


def test_duplicate_name_is_refused(server: Server, make_client: MakeClient) -> None:
    make_client(server, "Alice")
    with pytest.raises(JoinRefused) as refused:
        create_client(*server.address, "Alice")
    assert refused.value.code == "name_taken"


@pytest.mark.parametrize(
    "name", ["", "has space", "x" * 33, "semi;colon", "new\nline", "Ålice\u200b"]
)
def test_bad_username_is_refused(server: Server, name: str) -> None:
    with pytest.raises(JoinRefused) as refused:
        create_client(*server.address, name)
    assert refused.value.code == "bad_username"


def test_unicode_letters_are_fine_in_names(server: Server, make_client: MakeClient) -> None:
    assert make_client(server, "Jürgen").username == "Jürgen"


def test_full_server_refuses(make_server: MakeServer, make_client: MakeClient) -> None:
    server = make_server(max_members=2)
    make_client(server, "Alice")
    make_client(server, "Bob")
    with pytest.raises(JoinRefused) as refused:
        create_client(*server.address, "Charlie")
    assert refused.value.code == "server_full"


def test_unreachable_server_raises_quickly() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now.
    with pytest.raises(ServerUnreachable, match="cannot connect"):
        create_client("127.0.0.1", port, "Alice", connect_timeout=2.0)


def test_silent_server_does_not_hang_the_join() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        with pytest.raises(ServerUnreachable, match="did not answer JOIN"):
            create_client(*listener.getsockname()[:2], "Alice", handshake_timeout=0.3)


def test_server_close_tells_clients(server: Server, make_client: MakeClient) -> None:
    events: list[ClientEvent] = []
    alice = make_client(server, "Alice", on_event=events.append)
    server.close()
    assert alice.wait_until(lambda: not alice.connected, WAIT)
    gone = wait_events(alice, events, Disconnected)
    assert len(gone) == 1 and gone[0].code == "server_closing"
    assert not server.members or server.closed


def test_callbacks_see_deliveries_in_order(server: Server, make_client: MakeClient) -> None:
    seen: list[str] = []
    alice = make_client(server, "Alice", on_message=lambda m: seen.append(m.label))
    bob = make_client(server, "Bob")
    for i in range(20):
        bob.send(str(i))
        if i % 3 == 0:
            alice.send(str(i))
    assert alice.wait_for(27, WAIT)
    assert seen == [m.label for m in alice.messages]


def test_a_callback_may_send(server: Server, make_client: MakeClient) -> None:
    """An echo bot: the callback runs outside the client's locks."""
    bot: list[Client] = []

    def echo(message: Chat) -> None:
        if message.sender != "Bot":
            bot[0].send(f"echo: {message.text}")

    bot.append(make_client(server, "Bot", on_message=echo))
    alice = make_client(server, "Alice")
    alice.send("ping")
    assert alice.wait_for(2, WAIT)
    assert alice.messages[1].text == "echo: ping"
    assert alice.messages[1].vc == {"Alice": 1, "Bot": 1}


def test_names_are_unique_ignoring_case_and_unicode_form(
    server: Server, make_client: MakeClient
) -> None:
    make_client(server, "Alice")
    with pytest.raises(JoinRefused) as refused:
        create_client(*server.address, "alice")
    assert refused.value.code == "name_taken"
    decomposed = make_client(server, "Ju\u0308rgen")
    assert decomposed.username == "Jürgen"  # the server's one spelling (NFC)
    with pytest.raises(JoinRefused):
        create_client(*server.address, "JÜRGEN")


def test_nobody_speaks_before_their_join_under_delay(
    make_server: MakeServer, make_client: MakeClient
) -> None:
    """A delayed chat may be overtaken by chats, but never by a control frame queued
    after it, nor overtake one queued before it."""
    server = make_server(link_delays=[LinkDelay("Alice", "Charlie", 0.3)])
    events: list[ClientEvent] = []
    alice = make_client(server, "Alice")
    charlie = make_client(server, "Charlie", on_event=events.append)
    assert alice.wait_until(lambda: "Charlie" in alice.members, WAIT)
    alice.send("slow to Charlie")
    dave = make_client(server, "Dave")
    dave.send("hello from Dave")
    dave.close()
    assert charlie.wait_until(
        lambda: "Dave" not in charlie.members and len(charlie.messages) == 2, WAIT
    )
    wait_events(charlie, events, MemberLeft)
    story = [e.describe() for e in events if isinstance(e, (Delivered, MemberJoined, MemberLeft))]
    assert story == [
        "delivered: Alice#1",
        "Dave joined",
        "delivered: Dave#1",
        "Dave left",
    ]


def test_client_refuses_a_frame_the_server_would_refuse(
    make_server: MakeServer, make_client: MakeClient
) -> None:
    server = make_server(max_frame_bytes=300, max_text_bytes=10_000)
    alice = make_client(server, "Alice")
    assert alice.max_frame_bytes == 300
    with pytest.raises(Exception, match="frame_too_large"):
        alice.send("x" * 400)
    assert alice.vc == {} and alice.messages == []
    alice.send("fits")
    assert alice.vc == {"Alice": 1}


def test_a_busy_port_fails_cleanly(no_thread_leak: None) -> None:
    """Binding fails before any thread starts, so nothing is left running."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            create_server("127.0.0.1", port)


@pytest.mark.parametrize("port", [-1, 65536, 99999])
def test_ports_out_of_range_are_refused(port: int) -> None:
    with pytest.raises(ValueError, match="port must be"):
        create_server("127.0.0.1", port)
    with pytest.raises(ValueError, match="port must be"):
        create_client("127.0.0.1", port, "Alice")
