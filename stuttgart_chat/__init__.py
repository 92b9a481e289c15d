"""Stuttgart Chat: a group chat that delivers every message in causal order, using
vector clocks and a hold-back queue, over TCP with length-prefixed JSON frames.

    from stuttgart_chat import create_server, create_client

    with create_server("127.0.0.1", 0) as server:
        host, port = server.address
        with create_client(host, port, "Alice") as alice:
            alice.send("Hello")
"""

import logging

from .client import Client, create_client
from .common import (
    ChatError,
    ConnectionLost,
    HoldBackQueue,
    JoinRefused,
    Limits,
    ProtocolError,
    ServerUnreachable,
    VectorClock,
)
from .common.protocol import PROTOCOL_VERSION, Chat
from .server import Server, ServerOptions, create_server

__version__ = "0.1.0"

# A library does not print: without logging configured, our warnings go nowhere
# (rather than to stderr, where they would break into a terminal UI).
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "PROTOCOL_VERSION",
    "Chat",
    "ChatError",
    "Client",
    "ConnectionLost",
    "HoldBackQueue",
    "JoinRefused",
    "Limits",
    "ProtocolError",
    "Server",
    "ServerOptions",
    "ServerUnreachable",
    "VectorClock",
    "create_client",
    "create_server",
]
