"""The chat server: accept thread, a reader thread per member, one global queue, one
multicast thread (the design sketch's four roles), plus one writer thread.

A chat message's way through the server:

1. the member's reader thread reads a frame, parses and validates it, stamps the
   sender, checks the clock against what the server has accepted, and puts it on the
   global queue (checking and queueing under one lock, so queue order is accept order);
2. the multicast thread takes it, with whatever else is waiting (a batch), encodes
   each frame once and appends the same bytes to every other member's outbox; at the
   end of the batch it sends each member what its socket takes without blocking,
   many frames in one system call;
3. the writer thread (writer.py) finishes what a full socket did not take, when it
   becomes writable, and applies any injected delay.

Joins and leaves travel through the same queue, so the multicast thread alone decides
who receives what: a joiner's WELCOME carries the clock of exactly the chats
multicast before it was added, and it receives every chat after.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import select
import socket
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from ..common.errors import ProtocolError
from ..common.protocol import (
    FROM_CLIENT,
    PROTOCOL_VERSION,
    Chat,
    Error,
    ErrorCode,
    Join,
    Joined,
    Leave,
    Left,
    Limits,
    Message,
    Welcome,
    parse_message,
)
from ..common.trace import SERVER_HOST
from ..common.vector_clock import VectorClock
from ..eventlog import EventLog
from ..network.messenger import FrameReader, encode_frame
from ..network.reorder import DelayPolicy
from .member import Member
from .writer import Writer

# Events the multicast thread takes from the queue before it flushes.
_MAX_BATCH = 512

log = logging.getLogger("stuttgart_chat.server")


@dataclass(frozen=True)
class ServerOptions:
    """Every limit and knob of the server, with its default.

    Attributes:
        limits: what a peer may send (frame size, text size, names, member count).
        max_outbox_frames: frames queued for one member before it counts as a slow
            consumer and is dropped.
        write_timeout: seconds a member's socket may accept nothing while data waits
            for it, before the member is dropped (also bounds handshake refusals).
        handshake_timeout: seconds a new connection has to send JOIN.
        linger_timeout: seconds to wait for a closing peer to close its side, so the
            last frames (an ERROR, say) are not lost to a connection reset.
        max_handshakes: connections that have not joined yet, beyond which new ones are
            refused at once (each costs a thread until it joins or times out).
        delay: injected per-recipient delay of chat frames (see network/reorder.py).
        backlog: listen() backlog.
        event_log: a path to write the server's event log to (common/trace.py).
    """

    limits: Limits = field(default_factory=Limits)
    max_outbox_frames: int = 10_000
    write_timeout: float = 10.0
    handshake_timeout: float = 10.0
    linger_timeout: float = 2.0
    max_handshakes: int = 64
    delay: DelayPolicy = field(default_factory=DelayPolicy)
    backlog: int = 512
    event_log: str | Path | None = None

    def __post_init__(self) -> None:
        for name in ("max_outbox_frames", "max_handshakes", "backlog"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("write_timeout", "handshake_timeout", "linger_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


# Events on the global queue, in the order the multicast thread must apply them.
@dataclass(frozen=True)
class _ChatEvent:
    member: Member
    chat: Chat


@dataclass(frozen=True)
class _JoinEvent:
    member: Member


@dataclass(frozen=True)
class _GoneEvent:
    member: Member
    reason: str


def name_key(username: str) -> str:
    """Names are unique up to Unicode normalisation and case: "Alice" and "alice"
    claim the same name, and so do a composed and a decomposed "Jürgen"."""
    return unicodedata.normalize("NFC", username).casefold()


_Event = _ChatEvent | _JoinEvent | _GoneEvent | None  # None stops the multicast thread


class _Leaving(Exception):
    """The member's reader loop ends; ``reason`` goes into LEFT."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class Server:
    """A running chat server. Use ``create_server`` to make one."""

    def __init__(self, host: str, port: int, options: ServerOptions | None = None) -> None:
        self.options = options or ServerOptions()
        self.limits = self.options.limits
        self._lock = threading.Lock()
        self._closing = False
        self._closed = threading.Event()
        # Under _lock: reserved names (joining or joined), accepted clock, connections.
        self._names: dict[str, Member] = {}
        self._accepted = VectorClock()
        self._connections: set[Member] = set()
        # Owned by the multicast thread: who receives, what was relayed, and the frames
        # of the batch being processed (flushed together when the batch ends).
        self._recipients: dict[str, Member] = {}
        self._relayed = VectorClock()
        self._batch: dict[Member, list[bytes]] = {}
        self._overflowed: list[Member] = []
        self._queue: queue.SimpleQueue[_Event] = queue.SimpleQueue()

        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0-65535, not {port}")
        # Bind first: if that fails, no thread has been started that would need stopping.
        self._listener = socket.create_server(
            (host, port), backlog=self.options.backlog, reuse_port=False
        )
        self._log = (
            EventLog(self.options.event_log, SERVER_HOST) if self.options.event_log else None
        )
        self._writer = Writer(self.options.write_timeout)
        self._wake_reader, self._wake_writer = socket.socketpair()
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._accept_thread = threading.Thread(target=self._run_accept, name="accept")
        self._multicast_thread = threading.Thread(target=self._run_multicast, name="multicast")
        self._multicast_thread.start()
        self._accept_thread.start()
        log.info("listening on %s:%d", *self.address)

    # -- public ----------------------------------------------------------------------

    @property
    def members(self) -> list[str]:
        """Names of the members that joined (or are joining), sorted."""
        with self._lock:
            return sorted(member.name for member in self._names.values() if member.name)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, tell members the server is closing, stop every thread."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        self._wake_writer.send(b"x")
        self._accept_thread.join()
        self._queue.put(None)
        self._multicast_thread.join()
        with self._lock:
            connections = list(self._connections)
        closing = encode_frame(
            Error(ErrorCode.SERVER_CLOSING, "the server is shutting down").to_wire()
        )
        joined = [member for member in connections if member.joined]
        for member in joined:
            member.finish(closing)
            self._writer.watch(member)
        deadline = time.monotonic() + timeout
        for member in joined:
            member.done.wait(max(0.0, deadline - time.monotonic()))
        self._writer.close()
        for member in connections:
            member.abort()
        for member in connections:
            member.reader.join(max(0.0, deadline - time.monotonic()))
        self._listener.close()
        self._wake_reader.close()
        self._wake_writer.close()
        if self._log is not None:
            self._log.close()
        self._closed.set()
        log.info("closed")

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- accept thread ---------------------------------------------------------------

    def _run_accept(self) -> None:
        while True:
            ready, _, _ = select.select([self._listener, self._wake_reader], [], [])
            if self._wake_reader in ready:
                return
            try:
                sock, address = self._listener.accept()
            except OSError as exc:
                log.warning("accept failed: %s", exc)
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            member = Member(
                sock,
                address[:2],
                max_outbox_frames=self.options.max_outbox_frames,
                run_reader=self._run_member,
            )
            with self._lock:
                if self._closing:
                    sock.close()
                    return
                waiting = len(self._connections) - len(self._names)
                if waiting >= self.options.max_handshakes:
                    self._refuse_at_once(sock, waiting)
                    continue
                # Registered before start(), so close() always finds and joins it.
                self._connections.add(member)
            member.reader.start()

    def _refuse_at_once(self, sock: socket.socket, waiting: int) -> None:
        """Too many connections have not joined yet: refuse without a thread."""
        log.warning("refusing a connection: %d others have not joined yet", waiting)
        error = Error(ErrorCode.SERVER_FULL, f"{waiting} connections are waiting to join")
        with contextlib.suppress(OSError):
            sock.setblocking(False)
            sock.send(encode_frame(error.to_wire()))
        sock.close()

    # -- member reader threads ---------------------------------------------------------

    def _run_member(self, member: Member) -> None:
        reader = FrameReader(member.sock, self.limits.max_frame_bytes)
        joined = False
        reason = "disconnect"
        try:
            self._handshake(member, reader)
            joined = True
            self._serve_member(member, reader)
        except _Leaving as leaving:
            reason = leaving.reason
        except ProtocolError as exc:
            reason = exc.code
            log.info("%s: %s", member.label, exc)
            frame = encode_frame(Error(exc.code, exc.message).to_wire())
            if joined:
                member.finish(frame, discard_pending=True)
                self._writer.watch(member)
            else:
                member.send_now(frame, self.options.write_timeout)
        except OSError as exc:
            log.info("%s: connection failed: %s", member.label, exc)
        finally:
            if joined:
                self._queue.put(_GoneEvent(member, reason))
            else:
                with contextlib.suppress(OSError):
                    member.sock.shutdown(socket.SHUT_WR)
            self._linger(member)
            if joined:
                member.done.wait()  # the writer flushed, or the server aborted us
            member.close_sockets()
            with self._lock:
                self._connections.discard(member)
            log.debug("%s: reader done (%s)", member.label, reason)

    def _handshake(self, member: Member, reader: FrameReader) -> None:
        try:
            frame = reader.read(deadline=time.monotonic() + self.options.handshake_timeout)
        except TimeoutError:
            raise ProtocolError(
                ErrorCode.HANDSHAKE_TIMEOUT,
                f"no JOIN within {self.options.handshake_timeout:g} s",
            ) from None
        if frame is None:
            raise _Leaving("disconnect")
        message = parse_message(frame, FROM_CLIENT)
        if not isinstance(message, Join):
            raise ProtocolError(
                ErrorCode.UNEXPECTED, f"the first message must be JOIN, not {frame['type']}"
            )
        if message.version != PROTOCOL_VERSION:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED_VERSION,
                f"this server speaks protocol version {PROTOCOL_VERSION}, not {message.version}",
            )
        # One spelling per name: a decomposed "é" becomes the composed one.
        username = unicodedata.normalize("NFC", message.username)
        self.limits.check_username(username)
        key = name_key(username)
        with self._lock:
            if self._closing:
                raise ProtocolError(ErrorCode.SERVER_CLOSING, "the server is shutting down")
            if key in self._names:
                taken = self._names[key].name
                raise ProtocolError(ErrorCode.NAME_TAKEN, f"the name {taken!r} is taken")
            if len(self._names) >= self.limits.max_members:
                raise ProtocolError(
                    ErrorCode.SERVER_FULL,
                    f"the group is full ({self.limits.max_members} members)",
                )
            self._names[key] = member
            member.name = username
            # Before the writer starts: the timeout bounds its writes (and the
            # reader's recv just wakes up idle now and then).
            member.sock.settimeout(self.options.write_timeout)
            member.start_writing()
            self._queue.put(_JoinEvent(member))
        log.info("%s joined from %s:%d", member.name, *member.address)

    def _serve_member(self, member: Member, reader: FrameReader) -> None:
        name = member.name
        assert name is not None
        while True:
            try:
                frame = reader.read()
            except TimeoutError:
                continue  # an idle member; the timeout only bounds writes
            if frame is None:
                raise _Leaving("disconnect")
            if member.closing:
                # Dropped (slow consumer) while this frame was on its way: not relayed.
                raise _Leaving("dropped")
            message = parse_message(frame, FROM_CLIENT)
            if isinstance(message, Chat):
                self._accept_chat(member, name, message)
            elif isinstance(message, Leave):
                raise _Leaving("leave")
            elif isinstance(message, Error):
                # The code is the peer's word; others only learn that it gave up.
                log.info("%s reported an error: %s %s", name, message.code, message.message)
                raise _Leaving("client_error")
            else:
                raise ProtocolError(
                    ErrorCode.UNEXPECTED, f"{message.TYPE} is not expected from a member"
                )

    def _accept_chat(self, member: Member, name: str, chat: Chat) -> None:
        """The server's clock check: a client cannot park a message in everyone's
        hold-back queue forever (DESIGN.md, "The server checks clocks")."""
        self.limits.check_text(chat.text)
        vc = chat.vc
        with self._lock:
            accepted = self._accepted
            expected = accepted[name] + 1
            if vc.get(name, 0) != expected:
                raise ProtocolError(
                    ErrorCode.BAD_CLOCK,
                    f"vc[{name!r}] must be {expected} (your next message), not {vc.get(name, 0)}",
                )
            for other, count in vc.items():
                if other != name and count > accepted[other]:
                    raise ProtocolError(
                        ErrorCode.BAD_CLOCK,
                        f"vc[{other!r}] is {count} but only {accepted[other]} "
                        f"message(s) of {other!r} were relayed",
                    )
            accepted.increment(name)
            chat = chat.stamped(name)
            if self._log is not None:
                self._log.record("receive", chat.label, merge=chat.trace, text=chat.text, vc=vc)
            self._queue.put(_ChatEvent(member, chat))

    def _linger(self, member: Member) -> None:
        """Read and discard until the peer closes (bounded), so closing our socket
        does not reset the connection and lose the frames we sent last."""
        deadline = time.monotonic() + self.options.linger_timeout
        # select(), not a socket timeout: the writer may still be flushing, and the
        # timeout is shared with its sendall.
        with contextlib.suppress(OSError, ValueError):
            while (remaining := deadline - time.monotonic()) > 0:
                readable, _, _ = select.select([member.sock], [], [], remaining)
                if readable and not member.sock.recv(65536):
                    return

    # -- multicast thread ------------------------------------------------------------

    def _run_multicast(self) -> None:
        while True:
            events = [self._queue.get()]
            # Whatever else is waiting joins the batch: one flush per member per batch,
            # so a busy server writes many frames per system call.
            with contextlib.suppress(queue.Empty):
                while len(events) < _MAX_BATCH and events[-1] is not None:
                    events.append(self._queue.get_nowait())
            for event in events:
                if event is None:
                    self._deliver()
                    return
                try:
                    if isinstance(event, _ChatEvent):
                        self._multicast_chat(event.member, event.chat)
                    elif isinstance(event, _JoinEvent):
                        self._add_recipient(event.member)
                    else:
                        self._remove_recipient(event.member, event.reason)
                except Exception:  # noqa: BLE001 - the one boundary that must survive a bug
                    log.exception("multicast failed on %r", event)
            try:
                self._deliver()
            except Exception:  # noqa: BLE001
                log.exception("multicast failed delivering a batch")

    def _multicast_chat(self, sender: Member, chat: Chat) -> None:
        author = chat.sender
        assert author is not None
        self._relayed.increment(author)
        if self._log is not None:
            recipients = [name for name, m in self._recipients.items() if m is not sender]
            chat = chat.traced(self._log.record("relay", chat.label, recipients=recipients))
        frame = encode_frame(chat.to_wire())
        if self.options.delay.active:
            for member in self._recipients.values():
                if member is not sender:
                    self._queue_frame(member, frame, author=author)
            return
        # The hot loop (the profile's top line at 100+ members): no delay to apply,
        # so append to the batch directly.
        batch = self._batch
        for member in self._recipients.values():
            if member is not sender:
                frames = batch.get(member)
                if frames is None:
                    batch[member] = [frame]
                else:
                    frames.append(frame)

    def _queue_frame(self, member: Member, frame: bytes, author: str | None = None) -> None:
        """Queue a frame for ``member``; a chat (``author`` set) may be delayed on purpose.

        Without injected delay frames collect per member until the batch ends. With it,
        each goes to the writer thread's heap with its due time: chats may overtake
        chats, while a control frame goes after everything queued before it and no chat
        overtakes a control frame queued before it.
        """
        delay = self.options.delay
        if not delay.active:
            self._batch.setdefault(member, []).append(frame)
            return
        if author is None:
            due = member.control_due = member.latest_due
        else:
            assert member.name is not None
            due = max(time.monotonic() + delay.delay(author, member.name), member.control_due)
            member.latest_due = max(member.latest_due, due)
        if member.reserve(1):
            self._writer.delay(due, member, frame)
        else:
            self._overflowed.append(member)

    def _deliver(self) -> None:
        """End of a batch: hand each member its frames and send what the kernel takes."""
        while self._batch or self._overflowed:
            batch, self._batch = self._batch, {}
            for member, frames in batch.items():
                self._enqueue(member, frames)
            overflowed, self._overflowed = self._overflowed, []
            for member in overflowed:
                # Dropping one broadcasts its LEFT: a new (small) batch, hence the loop.
                if self._recipients.get(member.name or "") is member:
                    self._drop_slow(member)

    def _enqueue(self, member: Member, frames: list[bytes]) -> None:
        if not member.reserve(len(frames)):
            self._overflowed.append(member)
            return
        member.enqueue(frames)
        if member.flush():
            self._writer.watch(member)

    def _add_recipient(self, member: Member) -> None:
        assert member.name is not None
        welcome = Welcome(
            username=member.name,
            members=(*self._recipients, member.name),
            vc=self._relayed.to_dict(),
            limits=self.limits.to_wire(),
        )
        self._queue_frame(member, encode_frame(welcome.to_wire()))
        self._broadcast(Joined(member.name))
        self._recipients[member.name] = member
        if self._log is not None:
            self._log.record("member-joined", member.name)

    def _remove_recipient(self, member: Member, reason: str) -> None:
        name = member.name
        assert name is not None
        if self._recipients.get(name) is member:
            del self._recipients[name]
            self._broadcast(Left(name, reason))
            log.info("%s left (%s)", name, reason)
            if self._log is not None:
                self._log.record("member-left", name, reason=reason)
        # What was relayed to the leaver before its leave still goes out first.
        frames = self._batch.pop(member, None)
        if frames:
            self._enqueue(member, frames)
        member.finish()
        self._writer.watch(member)
        with self._lock:
            if self._names.get(name_key(name)) is member:
                del self._names[name_key(name)]

    def _drop_slow(self, member: Member) -> None:
        name = member.name
        assert name is not None
        log.warning("%s: outbox full (%d frames), dropping", name, member.max_outbox_frames)
        del self._recipients[name]
        self._batch.pop(member, None)
        error = Error(
            ErrorCode.SLOW_CONSUMER,
            f"you fell {member.max_outbox_frames} frames behind; disconnected",
        )
        member.finish(encode_frame(error.to_wire()), discard_pending=True)
        self._writer.watch(member)
        self._broadcast(Left(name, ErrorCode.SLOW_CONSUMER))
        if self._log is not None:
            self._log.record("member-left", name, reason=ErrorCode.SLOW_CONSUMER)

    def _broadcast(self, message: Message) -> None:
        frame = encode_frame(message.to_wire())
        for member in self._recipients.values():
            self._queue_frame(member, frame)


def create_server(host: str = "127.0.0.1", port: int = 0, **options: Any) -> Server:
    """Start a chat server listening on ``(host, port)``; ``port=0`` picks a free port.

    Returns once it listens; everything runs in background threads. ``options`` are
    the fields of ``ServerOptions`` and of ``Limits`` (e.g. ``max_text_bytes=4096``),
    and ``jitter``/``link_delays``/``seed`` for the injected delay.
    """
    return Server(host, port, _options_from(options))


def _options_from(options: dict[str, Any]) -> ServerOptions:
    limit_names = Limits.__dataclass_fields__.keys()
    limits = Limits(**{k: options.pop(k) for k in list(options) if k in limit_names})
    delay_args = {k: options.pop(k) for k in ("jitter", "link_delays", "seed") if k in options}
    if delay_args:
        if "delay" in options:
            raise TypeError("give either delay= or jitter/link_delays/seed, not both")
        options["delay"] = DelayPolicy(
            jitter=delay_args.get("jitter", 0.0),
            links=tuple(delay_args.get("link_delays", ())),
            seed=delay_args.get("seed"),
        )
    return ServerOptions(limits=limits, **options)
