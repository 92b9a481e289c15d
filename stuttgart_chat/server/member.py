"""One connected member on the server: its socket, reader thread and writer thread.

The reader thread (the design sketch's "unique thread" per client) reads frames and
hands each to the server; it is the only thread that reads the socket. The writer
thread is the only one that writes to it once the member has joined: it drains a
bounded outbox, several frames per ``sendall`` when they are queued, so the
multicast thread never blocks on a socket.

Outbox policy (a slow reader must not stall the group):
* the outbox holds at most ``max_outbox_frames`` frames not yet handed to the kernel;
* ``push`` refuses a frame beyond that; the server then drops the member: its pending
  frames are discarded, it gets ``ERROR slow_consumer`` (best effort) and is closed;
* a single ``sendall`` that cannot finish within ``write_timeout`` seconds (the peer
  stopped reading and the kernel buffers are full) closes the member as well.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable

log = logging.getLogger("stuttgart_chat.server")

_order = itertools.count()


class Member:
    """A TCP connection on the server, before and after it joined.

    Args:
        sock: the accepted socket.
        address: the peer's address, for logs until it has a name.
        max_outbox_frames: see the module docstring.
        write_timeout: see the module docstring.
        run_reader: the reader thread's body (the server's per-member loop).
    """

    def __init__(
        self,
        sock: socket.socket,
        address: tuple[str, int],
        *,
        max_outbox_frames: int,
        write_timeout: float,
        run_reader: Callable[[Member], None],
    ) -> None:
        self.sock = sock
        self.address = address
        self.name: str | None = None
        self.max_outbox_frames = max_outbox_frames
        self.write_timeout = write_timeout
        # (due time, arrival order, frame): with no injected delay every due time is 0,
        # so the heap is plain FIFO.
        self._outbox: list[tuple[float, int, bytes]] = []
        self._latest_due = 0.0
        self._control_due = 0.0
        self._final: bytes | None = None
        self._finishing = False
        self._aborted = False
        self._cond = threading.Condition()
        self.reader = threading.Thread(
            target=run_reader, args=(self,), name=f"member-reader[{address[0]}:{address[1]}]"
        )
        self.writer: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<Member {self.name or self.address}>"

    @property
    def label(self) -> str:
        return self.name or f"{self.address[0]}:{self.address[1]}"

    # -- called by the server --------------------------------------------------------

    def start_writer(self) -> None:
        """Start writing; from now on only the writer thread writes to the socket."""
        self.reader.name = f"member-reader[{self.name}]"
        self.writer = threading.Thread(target=self._run_writer, name=f"member-writer[{self.name}]")
        self.writer.start()

    def push(self, frame: bytes, due: float | None = None) -> bool:
        """Queue a frame.

        ``due`` (monotonic time) is for a chat frame under injected delay: it is written
        at that time or later, so chats overtake each other. Without ``due`` the frame
        keeps FIFO order: it goes after every frame queued before it, delayed or not
        (a LEFT never overtakes the leaver's last message).

        Returns False (and queues nothing) if the outbox is full; True otherwise,
        including when the member is already closing (the frame is then dropped).
        """
        with self._cond:
            if self._finishing:
                return True
            if len(self._outbox) >= self.max_outbox_frames:
                return False
            if due is None:
                # A control frame: after everything queued before it.
                due = self._control_due = self._latest_due
            else:
                # A delayed chat may overtake chats, never a control frame before it.
                due = max(due, self._control_due)
                self._latest_due = max(self._latest_due, due)
            heapq.heappush(self._outbox, (due, next(_order), frame))
            self._cond.notify()
            return True

    def finish(self, final: bytes | None = None, *, discard_pending: bool = False) -> None:
        """Write what is queued (unless discarded), then ``final``, then close.

        Idempotent: the first call decides the final frame.
        """
        with self._cond:
            if self._finishing:
                return
            self._finishing = True
            self._final = final
            if discard_pending:
                self._outbox.clear()
            self._cond.notify()

    @property
    def closing(self) -> bool:
        """True once the member is on its way out (left, dropped, or failed)."""
        with self._cond:
            return self._finishing

    def abort(self) -> None:
        """Stop at once: wake every thread blocked on this member's socket."""
        with self._cond:
            self._aborted = True
            self._finishing = True
            self._cond.notify()
        self.shutdown()

    def shutdown(self) -> None:
        """Shut both directions: blocked ``recv`` and ``sendall`` return at once."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already shut down or never connected: nothing left to wake

    def send_now(self, frame: bytes) -> None:
        """Write directly: only before the writer started (handshake refusals)."""
        assert self.writer is None
        try:
            self.sock.settimeout(self.write_timeout)
            self.sock.sendall(frame)
        except OSError as exc:
            log.debug("%s: could not send before closing: %s", self.label, exc)

    # -- the writer thread -------------------------------------------------------------

    def _next_batch(self) -> bytes | None:
        """Frames that are due, joined; None when the writer should stop."""
        with self._cond:
            while True:
                if self._aborted:
                    return None
                outbox = self._outbox
                now = time.monotonic()
                if outbox and (outbox[0][0] <= now or self._finishing):
                    frames = []
                    while outbox and (outbox[0][0] <= now or self._finishing):
                        frames.append(heapq.heappop(outbox)[2])
                    return b"".join(frames)
                if self._finishing:
                    final, self._final = self._final, None
                    if final is not None:
                        return final
                    return None
                self._cond.wait(outbox[0][0] - now if outbox else None)

    def _run_writer(self) -> None:
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    break
                self.sock.sendall(batch)
        except OSError as exc:
            # A timeout here means the peer stopped reading: the slow-consumer rule.
            log.info("%s: write failed, closing: %s", self.label, exc)
            self.shutdown()
        else:
            # Half-close: the peer reads everything we sent, then end of stream. (A
            # close() now could reset the connection and lose the last frames; the
            # reader thread closes once the peer has closed too.)
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
