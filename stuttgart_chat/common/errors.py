"""The one exception tree of Stuttgart Chat.

::

    ChatError                      anything this package raises on purpose
    ├── ProtocolError              a frame or message breaks the wire protocol;
    │                              ``code`` is what goes into the ERROR frame
    ├── JoinRefused                the server answered JOIN with an ERROR
    ├── ServerUnreachable          no TCP connection, or no answer to JOIN in time
    └── ConnectionLost             an established connection ended (``code`` says why,
                                   when the server said so)

A server never lets any of these escape a member thread: the member's reader catches
``ProtocolError`` at one boundary, answers ``ERROR`` and closes that member only.
"""

from __future__ import annotations


class ChatError(Exception):
    """Root of every error this package raises on purpose."""


class ProtocolError(ChatError):
    """A frame or a message that breaks the protocol.

    Args:
        code: a stable, machine-readable reason, sent as ``ERROR.code``
            (the codes are listed in ``ErrorCode`` and in docs/protocol.md).
        message: a human-readable explanation, sent as ``ERROR.message``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class JoinRefused(ChatError):
    """The server refused to let us join (name taken, invalid, server full...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"join refused ({code}): {message}")
        self.code = code
        self.message = message


class ServerUnreachable(ChatError):
    """No connection could be made, or the server did not answer the handshake."""


class ConnectionLost(ChatError):
    """An established connection ended; ``code`` is the server's reason if it gave one."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
