"""Pure logic: vector clocks, the hold-back queue, message types. No sockets, threads
or clock reads here, so every causal rule is tested deterministically."""

from .errors import ChatError, ConnectionLost, JoinRefused, ProtocolError, ServerUnreachable
from .holdback import Arrival, HoldBackQueue, Wait
from .protocol import PROTOCOL_VERSION, Chat, ErrorCode, Limits, parse_message
from .vector_clock import VectorClock

__all__ = [
    "PROTOCOL_VERSION",
    "Arrival",
    "ChatError",
    "Chat",
    "ConnectionLost",
    "ErrorCode",
    "HoldBackQueue",
    "JoinRefused",
    "Limits",
    "ProtocolError",
    "ServerUnreachable",
    "VectorClock",
    "Wait",
    "parse_message",
]
