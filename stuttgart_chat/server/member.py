"""One connected member on the server: its socket, reader thread and outbox.

The reader thread (the design sketch's "unique thread" per client) reads frames and
hands each to the server; it is the only thread that reads the socket.

Writing never blocks anyone. Frames for a member go into its **outbox**; whoever
flushes it (the multicast thread right after a batch, or the server's one writer
thread, see writer.py) sends what the kernel takes at once through a non-blocking
twin of the socket, several frames per ``send``. What the kernel does not take stays
queued and the writer thread finishes it when the socket is writable again.

Outbox policy (a slow reader must not stall the group):
* at most ``max_outbox_frames`` frames may wait for a member (queued, or delayed on
  purpose, and not yet handed to the kernel); the server drops a member that would
  exceed it: its pending frames are discarded, it gets ``ERROR slow_consumer`` (best
  effort) and is closed;
* a member whose pending data makes no progress for ``write_timeout`` seconds (the
  peer stopped reading and the kernel buffers are full) is closed as well.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import deque
from collections.abc import Callable

log = logging.getLogger("stuttgart_chat.server")

# Frames joined into one send: big enough to amortise the system call, small enough
# not to copy megabytes for a member that is behind.
_CHUNK_BYTES = 256 * 1024

DRAINED = "drained"  # nothing left to send
BLOCKED = "blocked"  # the kernel took what it could; wait until writable
FAILED = "failed"  # the connection failed


class Member:
    """A TCP connection on the server, before and after it joined.

    Args:
        sock: the accepted socket. The reader uses it (always with a timeout, which
            keeps the descriptor non-blocking, as the writing twin needs).
        address: the peer's address, for logs until it has a name.
        max_outbox_frames: see the module docstring.
        run_reader: the reader thread's body (the server's per-member loop).
    """

    def __init__(
        self,
        sock: socket.socket,
        address: tuple[str, int],
        *,
        max_outbox_frames: int,
        run_reader: Callable[[Member], None],
    ) -> None:
        self.sock = sock
        self.address = address
        self.name: str | None = None
        self.max_outbox_frames = max_outbox_frames
        self.joined = False
        # Set once nothing more will be written: everything was sent and our side
        # half-closed, or the connection failed or was aborted.
        self.done = threading.Event()

        self._lock = threading.Lock()
        self._outbox: deque[bytes] = deque()
        self._partial: memoryview | None = None  # a chunk the kernel took part of
        self._pending = 0  # frames queued or delayed, not yet handed to the kernel
        self._watched = False  # the writer thread flushes until the outbox drains
        self._finishing = False
        self._discarded = False  # closing without sending what was pending
        self._final: bytes | None = None  # the last frame, after everything else
        self._wsock: socket.socket | None = None

        # Injected delay bookkeeping, used by the multicast thread only.
        self.latest_due = 0.0
        self.control_due = 0.0

        self.reader = threading.Thread(
            target=run_reader, args=(self,), name=f"member-reader[{address[0]}:{address[1]}]"
        )

    def __repr__(self) -> str:
        return f"<Member {self.name or self.address}>"

    @property
    def label(self) -> str:
        return self.name or f"{self.address[0]}:{self.address[1]}"

    @property
    def closing(self) -> bool:
        """True once the member is on its way out (left, dropped, or failed)."""
        with self._lock:
            return self._finishing

    # -- called by the server --------------------------------------------------------

    def start_writing(self) -> None:
        """The member joined: from now on frames go through the outbox."""
        self.reader.name = f"member-reader[{self.name}]"
        # A second descriptor for the same connection, without a timeout, so a send
        # returns at once with what the kernel took (the reader keeps its timeout).
        wsock = self.sock.dup()
        wsock.setblocking(False)
        self._wsock = wsock
        self.joined = True

    def reserve(self, count: int) -> bool:
        """Count ``count`` more frames as pending; False if that would overflow."""
        with self._lock:
            if self._finishing:
                return True  # dropped later by enqueue()
            if self._pending + count > self.max_outbox_frames:
                return False
            self._pending += count
            return True

    def enqueue(self, frames: list[bytes]) -> None:
        """Queue frames already counted by ``reserve`` (ignored once closing)."""
        with self._lock:
            if not self._finishing:
                self._outbox.extend(frames)

    def enqueue_delayed(self, frames: list[bytes]) -> None:
        """Queue frames that were delayed on purpose. They were relayed before any
        close, so they still go out before the final frame, unless pending frames
        were discarded."""
        with self._lock:
            if not self._discarded and not self.done.is_set():
                self._outbox.extend(frames)

    def flush(self) -> bool:
        """Send what the kernel takes now. True if the writer thread must take over
        (data left over, a close to complete, or a failure to clean up)."""
        with self._lock:
            if self._watched or self._wsock is None:
                return False
            state = self._send_some(final_allowed=False)
            if state == DRAINED and not self._finishing:
                return False
            self._watched = True
            return True

    def finish(self, final: bytes | None = None, *, discard_pending: bool = False) -> None:
        """Write what is queued (unless discarded), then ``final``, then half-close.

        The first call decides; the caller then hands the member to the writer thread.
        """
        with self._lock:
            if self._finishing:
                return
            self._finishing = True
            self._final = final
            if discard_pending:
                self._discarded = True
                self._outbox.clear()
                self._pending = 0

    def abort(self) -> None:
        """Stop at once: wake the reader, write nothing more."""
        with self._lock:
            self._finishing = self._discarded = True
            self._outbox.clear()
            self._partial = self._final = None
        self.shutdown()
        self.done.set()

    def shutdown(self) -> None:
        """Shut both directions: a blocked ``recv`` returns at once."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already shut down or never connected: nothing left to wake

    def send_now(self, frame: bytes, timeout: float) -> None:
        """Write directly: only before joining (handshake refusals)."""
        assert not self.joined
        try:
            self.sock.settimeout(timeout)
            self.sock.sendall(frame)
        except OSError as exc:
            log.debug("%s: could not send before closing: %s", self.label, exc)

    def close_sockets(self) -> None:
        if self._wsock is not None:
            self._wsock.close()
        self.sock.close()

    # -- called by the writer thread ----------------------------------------------------

    @property
    def write_socket(self) -> socket.socket | None:
        return self._wsock

    def pump(self) -> tuple[str, bool]:
        """Send more. Returns the state and whether any byte went out.

        On DRAINED the writer lets go of the member: a closing member is half-closed
        and done; otherwise the next flush() is the multicast thread's again.
        """
        with self._lock:
            before = (len(self._outbox), len(self._partial) if self._partial else 0)
            state = self._send_some(final_allowed=True)
            after = (len(self._outbox), len(self._partial) if self._partial else 0)
            if state != DRAINED:
                self._watched = True
                return state, before != after
            self._watched = False
            finishing = self._finishing
        if finishing:
            # Half-close: the peer reads everything we sent, then end of stream. (A
            # close() now could reset the connection and lose the last frames; the
            # reader thread closes once the peer has closed too.)
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self.done.set()
        return DRAINED, before != after

    def fail(self, why: str) -> None:
        """The connection failed or stalled: close it; the reader reports the leave."""
        log.info("%s: closing: %s", self.label, why)
        with self._lock:
            self._finishing = self._discarded = True
            self._outbox.clear()
            self._partial = self._final = None
            self._watched = False
        self.shutdown()
        self.done.set()

    # -- internals -----------------------------------------------------------------------

    def _send_some(self, final_allowed: bool) -> str:
        """Under _lock: hand frames to the kernel until it takes no more.

        Only the writer thread sends the final frame (``final_allowed``): it first moves
        the member's delayed frames into the outbox.
        """
        wsock = self._wsock
        assert wsock is not None
        while True:
            if self._partial is None:
                if not self._outbox and final_allowed and self._final is not None:
                    self._outbox.append(self._final)
                    self._final = None
                if not self._outbox:
                    return DRAINED
                chunk = [self._outbox.popleft()]
                size = len(chunk[0])
                while self._outbox and size < _CHUNK_BYTES:
                    frame = self._outbox.popleft()
                    chunk.append(frame)
                    size += len(frame)
                self._pending = max(0, self._pending - len(chunk))
                self._partial = memoryview(chunk[0] if len(chunk) == 1 else b"".join(chunk))
            try:
                sent = wsock.send(self._partial)
            except (BlockingIOError, InterruptedError):
                return BLOCKED
            except OSError as exc:
                log.info("%s: write failed: %s", self.label, exc)
                return FAILED
            rest = self._partial[sent:]
            self._partial = rest if len(rest) else None
