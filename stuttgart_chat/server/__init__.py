"""The server: accept thread, a thread per member, a global queue, a multicast thread."""

from .main import Server, ServerOptions, create_server

__all__ = ["Server", "ServerOptions", "create_server"]
