"""The chat client: a receiver thread, an incoming buffer and a processing loop (the
design sketch's watershed).

* The receiver thread only reads frames from the socket into the incoming buffer.
* The processing loop takes frames from the buffer, gives chats to the hold-back queue
  (common/holdback.py) and delivers every message it releases, in order.
* ``send`` delivers our own message at once and writes it to the server.

State (clock, messages, members) is guarded by one lock; callbacks are never called
while it is held. They run one at a time, in delivery order, from whichever thread
delivered (usually the processing loop; ``send`` for our own messages).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from ..common.errors import (
    ChatError,
    ConnectionLost,
    JoinRefused,
    ProtocolError,
    ServerUnreachable,
)
from ..common.holdback import DELIVERED, HELD, HoldBackQueue, Wait
from ..common.protocol import (
    FROM_SERVER,
    Chat,
    Error,
    ErrorCode,
    Join,
    Joined,
    Leave,
    Left,
    Limits,
    Welcome,
    parse_message,
)
from ..eventlog import EventLog
from ..network.messenger import FrameReader, encode_frame, recv_msg
from .events import (
    ClientEvent,
    Delivered,
    Disconnected,
    Duplicate,
    Held,
    MemberJoined,
    MemberLeft,
)

log = logging.getLogger("stuttgart_chat.client")

MessageCallback = Callable[[Chat], None]
EventCallback = Callable[[ClientEvent], None]


@dataclass(frozen=True)
class _EndOfStream:
    reason: str


_STOP = object()


class Client:
    """A member of the group. Use ``create_client`` to make one."""

    def __init__(
        self,
        sock: socket.socket,
        welcome: Welcome,
        *,
        on_message: MessageCallback | None = None,
        on_event: EventCallback | None = None,
        max_frame_bytes: int = Limits().max_frame_bytes,
        close_timeout: float = 2.0,
        send_timeout: float = 10.0,
        event_log: EventLog | None = None,
    ) -> None:
        self.username = welcome.username
        self._log = event_log
        if event_log is not None:
            event_log.rename(self.username)
            event_log.record("join", members=list(welcome.members), vc=welcome.vc)
        self._sock = sock
        self._on_message = on_message
        self._on_event = on_event
        self._close_timeout = close_timeout
        # The server's limits, so a message it would refuse is refused here, before
        # it changes our clock.
        self.max_text_bytes = _limit(welcome.limits, "max_text_bytes", Limits().max_text_bytes)
        self.max_frame_bytes = _limit(welcome.limits, "max_frame_bytes", max_frame_bytes)
        self._limits = Limits(
            max_text_bytes=self.max_text_bytes, max_frame_bytes=self.max_frame_bytes
        )
        self._reader = FrameReader(sock, max_frame_bytes)
        # Bounds a send to a server that stopped reading (the receiver just wakes up
        # now and then); a UI must not freeze in send().
        sock.settimeout(send_timeout)

        # Re-entrant, so a wait_until() predicate may read the public properties.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._send_lock = threading.Lock()
        self._holdback = HoldBackQueue(welcome.vc)
        self._messages: list[Chat] = []
        self._members: list[str] = list(welcome.members)
        self._connected = True
        self._closing = False
        self._server_error: Error | None = None
        self._disconnect: Disconnected | None = None

        # Events waiting to be handed to callbacks, appended under _lock in the order
        # things happened; popped under _dispatch_lock so callbacks run in that order.
        self._pending: deque[ClientEvent] = deque()
        self._dispatch_lock = threading.RLock()

        self._incoming: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._receiver = threading.Thread(
            target=self._run_receiver, name=f"client-receiver[{self.username}]"
        )
        self._processor = threading.Thread(
            target=self._run_processor, name=f"client-processor[{self.username}]"
        )
        self._receiver.start()
        self._processor.start()

    # -- state, as snapshots ---------------------------------------------------------

    @property
    def messages(self) -> list[Chat]:
        """Delivered messages in delivery order (ours included)."""
        with self._lock:
            return list(self._messages)

    @property
    def members(self) -> list[str]:
        """Current members, in join order, ourselves included."""
        with self._lock:
            return list(self._members)

    @property
    def vc(self) -> dict[str, int]:
        """Our vector clock: how many messages of each member we have delivered."""
        with self._lock:
            return self._holdback.clock.to_dict()

    @property
    def held(self) -> list[tuple[Chat, tuple[Wait, ...]]]:
        """Messages in the hold-back queue, each with what it waits for."""
        with self._lock:
            return self._holdback.held()

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._connected

    @property
    def disconnect_reason(self) -> Disconnected | None:
        """Why the connection ended, once it has."""
        with self._lock:
            return self._disconnect

    # -- actions ---------------------------------------------------------------------

    def send(self, text: str) -> Chat:
        """Send a chat message; it is delivered here at once and returned.

        Raises:
            ProtocolError: ``TEXT_TOO_LONG`` (nothing is sent, the clock is unchanged).
            ConnectionLost: the connection is closed.
        """
        self._limits.check_text(text)
        failure: OSError | None = None
        # _send_lock keeps the wire order equal to the clock order of our messages.
        with self._send_lock:
            with self._lock:
                if not self._connected or self._closing:
                    raise ConnectionLost("not connected")
                clock = self._holdback.clock.to_dict()
                clock[self.username] = clock.get(self.username, 0) + 1
                frame = encode_frame(Chat(text=text, vc=clock).to_wire())
                if len(frame) - 4 > self.max_frame_bytes:
                    raise ProtocolError(
                        ErrorCode.FRAME_TOO_LARGE,
                        f"the message makes a {len(frame) - 4}-byte frame, "
                        f"the server takes {self.max_frame_bytes}",
                    )
                _, released = self._holdback.record_own(self.username)
                chat = Chat(text=text, vc=clock, sender=self.username)
                if self._log is not None:
                    trace = self._log.record("send", chat.label, text=text, vc=clock)
                    frame = encode_frame(Chat(text=text, vc=clock, trace=trace).to_wire())
                self._record_delivery(chat, clock, own=True)
                for message in released:
                    self._record_delivery(message, clock, was_held=True)
            try:
                self._sock.sendall(frame)
            except OSError as exc:
                failure = exc
                # Part of a frame may be out: the stream cannot be trusted any more.
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)
        # Outside both locks: a callback may call send() again.
        self._dispatch()
        if failure is not None:
            raise ConnectionLost(f"could not send: {failure}") from failure
        return chat

    def wait_for(self, count: int, timeout: float | None = None) -> bool:
        """Wait until at least ``count`` messages are delivered; False on timeout."""
        return self.wait_until(lambda: len(self._messages) >= count, timeout)

    def wait_until(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        """Wait until ``predicate()`` is true; False on timeout.

        The predicate is evaluated after every change and after every callback, under
        the client's lock: it may read the client's properties (``members``, ``vc``,
        ``held``...) or what a callback recorded, but must not block."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def close(self) -> None:
        """Leave the group (LEAVE), wait briefly for the server to close, stop threads."""
        with self._lock:
            if self._closing:
                already = True
            else:
                already = False
                self._closing = True
        if not already:
            with self._send_lock, contextlib.suppress(OSError):
                if self.connected:
                    self._sock.sendall(encode_frame(Leave().to_wire()))
                self._sock.shutdown(socket.SHUT_WR)
            # The server answers LEAVE by closing; waiting for that (rather than closing
            # at once) lets the LEAVE arrive instead of a connection reset.
            self._receiver.join(self._close_timeout)
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        self._receiver.join()
        self._incoming.put(_STOP)
        if threading.current_thread() is not self._processor:
            self._processor.join()
        self._sock.close()
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- receiver thread: socket -> incoming buffer, nothing else ---------------------

    def _run_receiver(self) -> None:
        reason = "the server closed the connection"
        try:
            while True:
                try:
                    frame = self._reader.read()
                except TimeoutError:
                    continue  # idle; the socket timeout only bounds our sends
                if frame is None:
                    break
                self._incoming.put(frame)
        except ProtocolError as exc:
            reason = f"bad frame from the server: {exc}"
        except OSError as exc:
            reason = f"connection failed: {exc}"
        self._incoming.put(_EndOfStream(reason))

    # -- processing loop: incoming buffer -> hold-back queue -> deliveries --------------

    def _run_processor(self) -> None:
        while True:
            item = self._incoming.get()
            if item is _STOP:
                return
            if isinstance(item, _EndOfStream):
                self._end(item.reason)
                continue
            try:
                self._process(item)
            except ProtocolError as exc:
                log.warning("%s: bad message from the server: %s", self.username, exc)
            self._dispatch()

    def _process(self, frame: dict[str, Any]) -> None:
        message = parse_message(frame, FROM_SERVER)
        with self._lock:
            if isinstance(message, Chat):
                self._process_chat(message)
            elif isinstance(message, Joined):
                if message.username not in self._members:
                    self._members.append(message.username)
                self._pending.append(MemberJoined(message.username))
                if self._log is not None:
                    self._log.record("member-joined", message.username)
            elif isinstance(message, Left):
                if message.username in self._members:
                    self._members.remove(message.username)
                self._pending.append(MemberLeft(message.username, message.reason))
                if self._log is not None:
                    self._log.record("member-left", message.username, reason=message.reason)
            elif isinstance(message, Error):
                log.warning("%s: server error %s: %s", self.username, message.code, message.message)
                self._server_error = message
            else:
                log.warning("%s: unexpected %s from the server", self.username, message.TYPE)
            self._changed.notify_all()

    def _process_chat(self, chat: Chat) -> None:
        if chat.sender is None or chat.sender == self.username or chat.seq < 1:
            log.warning("%s: dropping a chat with a bad sender: %r", self.username, chat)
            return
        tracing = self._log
        if tracing is not None:
            tracing.record("receive", chat.label, merge=chat.trace, text=chat.text, vc=chat.vc)
        arrival = self._holdback.add(chat)
        if arrival.outcome == HELD:
            held = Held(chat, arrival.waits, self._holdback.clock.to_dict())
            log.info("%s %s", self.username, held.describe())
            self._pending.append(held)
            if tracing is not None:
                tracing.record("hold", chat.label, waits=[str(w) for w in arrival.waits])
            return
        if arrival.outcome != DELIVERED:
            log.info("%s: dropped duplicate %s", self.username, chat.label)
            self._pending.append(Duplicate(chat))
            if tracing is not None:
                tracing.record("duplicate", chat.label)
            return
        clock = self._holdback.clock.to_dict()
        for index, message in enumerate(arrival.delivered):
            # The arrival itself is first; the rest were waiting in the hold-back queue.
            self._record_delivery(message, clock, was_held=index > 0)
            if index > 0:
                log.info("%s released: %s", self.username, message.label)
            if tracing is not None:
                tracing.record("deliver", message.label, released=index > 0, vc=clock)

    def _record_delivery(
        self, chat: Chat, clock: dict[str, int], *, own: bool = False, was_held: bool = False
    ) -> None:
        """Under _lock: append to the delivered messages and queue the event."""
        self._messages.append(chat)
        self._pending.append(Delivered(chat, clock, own=own, was_held=was_held))
        self._changed.notify_all()

    def _end(self, reason: str) -> None:
        with self._lock:
            if self._disconnect is not None:
                return
            error = self._server_error
            if self._closing:
                event = Disconnected("you left", by_us=True)
            elif error is not None:
                event = Disconnected(f"{error.code}: {error.message}", code=error.code)
            else:
                event = Disconnected(reason)
            self._connected = False
            self._disconnect = event
            self._pending.append(event)
            self._changed.notify_all()
            if self._log is not None:
                self._log.record("leave", reason=event.reason)
        if not event.by_us:
            log.warning("%s: %s", self.username, event.reason)
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand queued events to the callbacks, in order, without holding _lock."""
        with self._dispatch_lock:
            while True:
                with self._lock:
                    if not self._pending:
                        return
                    event = self._pending.popleft()
                try:
                    if isinstance(event, Delivered) and self._on_message is not None:
                        self._on_message(event.message)
                    if self._on_event is not None:
                        self._on_event(event)
                except Exception:  # noqa: BLE001 - a UI bug must not stop delivery
                    log.exception("%s: callback failed on %r", self.username, event)
                # So that wait_until() also sees what the callback did.
                with self._changed:
                    self._changed.notify_all()


def _limit(limits: dict[str, Any], name: str, default: int) -> int:
    value = limits.get(name)
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default
    )


def create_client(
    server_host: str,
    server_port: int,
    username: str,
    *,
    on_message: MessageCallback | None = None,
    on_event: EventCallback | None = None,
    connect_timeout: float = 5.0,
    handshake_timeout: float = 5.0,
    max_frame_bytes: int = Limits().max_frame_bytes,
    close_timeout: float = 2.0,
    send_timeout: float = 10.0,
    event_log: str | Path | EventLog | None = None,
) -> Client:
    """Connect, join as ``username`` and return the running client.

    Returns once the server has welcomed us; never hangs longer than the timeouts.

    ``event_log``: a path (or an ``EventLog``) to write this client's event log to,
    for ShiViz or ``stuttgart-chat diagram`` (format: common/trace.py).

    Raises:
        ServerUnreachable: no connection, or no answer within ``handshake_timeout``.
        JoinRefused: the server refused the name (taken, invalid) or is full.
        ProtocolError: the server answered with something other than WELCOME.
    """
    if not 0 < server_port <= 65535:
        raise ValueError(f"port must be 1-65535, not {server_port}")
    try:
        sock = socket.create_connection((server_host, server_port), timeout=connect_timeout)
    except OSError as exc:
        raise ServerUnreachable(
            f"cannot connect to {server_host}:{server_port}: {exc.strerror or exc}"
        ) from exc
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(handshake_timeout)
        sock.sendall(encode_frame(Join(username).to_wire()))
        answer = parse_message(recv_msg(sock, max_frame_bytes), FROM_SERVER)
        if isinstance(answer, Error):
            raise JoinRefused(answer.code, answer.message)
        if not isinstance(answer, Welcome):
            raise ProtocolError(ErrorCode.UNEXPECTED, f"expected WELCOME, got {answer.TYPE}")
    except TimeoutError as exc:
        sock.close()
        raise ServerUnreachable(
            f"{server_host}:{server_port} did not answer JOIN within {handshake_timeout:g} s"
        ) from exc
    except ConnectionLost as exc:
        sock.close()
        raise ServerUnreachable(
            f"{server_host}:{server_port} closed the connection during the handshake"
        ) from exc
    except OSError as exc:
        sock.close()
        raise ServerUnreachable(
            f"handshake with {server_host}:{server_port} failed: {exc}"
        ) from exc
    except ChatError:
        sock.close()
        raise
    if event_log is not None and not isinstance(event_log, EventLog):
        event_log = EventLog(event_log, answer.username)
    return Client(
        sock,
        answer,
        on_message=on_message,
        on_event=on_event,
        max_frame_bytes=max_frame_bytes,
        close_timeout=close_timeout,
        send_timeout=send_timeout,
        event_log=event_log,
    )
