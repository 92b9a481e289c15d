"""Fixtures for tests that run real servers and clients on loopback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stuttgart_chat import Client, Server, create_client, create_server
from stuttgart_chat.network.messenger import FrameReader, encode_frame

# Generous: these bound a wait for an event, they are never slept. A loaded 2-core CI
# machine must not turn a correct run into a failure.
WAIT = 20.0


@pytest.fixture
def no_thread_leak() -> Iterator[None]:
    """Fail the test if it leaves any thread of ours running."""
    before = set(threading.enumerate())
    yield
    for thread in set(threading.enumerate()) - before:
        thread.join(5.0)
    left = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert not left, f"threads left running: {left}"


@pytest.fixture
def make_server(no_thread_leak: None) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def make(**options: Any) -> Server:
        server = create_server("127.0.0.1", 0, **options)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    return make_server()


@pytest.fixture
def make_client(no_thread_leak: None) -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def make(server: Server, name: str, **options: Any) -> Client:
        client = create_client(*server.address, name, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


class RawPeer:
    """A hand-driven connection that speaks (or breaks) the wire protocol."""

    def __init__(self, server: Server) -> None:
        self.sock = socket.create_connection(server.address, timeout=WAIT)
        self.reader = FrameReader(self.sock)

    def send_frame(self, obj: dict[str, Any]) -> None:
        self.sock.sendall(encode_frame(obj))

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def join(self, name: str) -> dict[str, Any]:
        self.send_frame({"type": "JOIN", "version": 1, "username": name})
        welcome = self.read()
        assert welcome is not None and welcome["type"] == "WELCOME", welcome
        return welcome

    def read(self) -> dict[str, Any] | None:
        return self.reader.read()

    def read_until_closed(self) -> list[dict[str, Any]]:
        """Every frame until the server closes the connection."""
        frames = []
        while True:
            try:
                frame = self.read()
            except ConnectionResetError:
                return frames
            if frame is None:
                return frames
            frames.append(frame)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_peer(no_thread_leak: None) -> Iterator[Callable[[Server], RawPeer]]:
    peers: list[RawPeer] = []

    def make(server: Server) -> RawPeer:
        peer = RawPeer(server)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()


def wait_events(client: Client, events: list[Any], kind: type, count: int = 1) -> list[Any]:
    """Wait until the client's callback has recorded ``count`` events of ``kind``.

    (The client's state changes before its callbacks run, so waiting on the state
    alone does not mean the callback has seen it yet.)"""
    assert client.wait_until(lambda: sum(isinstance(e, kind) for e in events) >= count, WAIT), (
        f"{client.username} never reported {count} x {kind.__name__}: {events}"
    )
    return [e for e in events if isinstance(e, kind)]
