"""The client: receiver thread -> incoming buffer -> processing loop."""

from .events import ClientEvent, Delivered, Disconnected, Duplicate, Held, MemberJoined, MemberLeft
from .main import Client, create_client

__all__ = [
    "Client",
    "ClientEvent",
    "Delivered",
    "Disconnected",
    "Duplicate",
    "Held",
    "MemberJoined",
    "MemberLeft",
    "create_client",
]
