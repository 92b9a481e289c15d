"""The server's writer thread: finishes what the multicast thread could not send.

The multicast thread sends to each member directly, without blocking (member.py).
A member whose kernel buffer is full is handed over here: one thread waits for all
such sockets with a selector and sends the rest as each becomes writable, so a slow
reader costs one registered socket, not a blocked thread, and nobody else waits.

It also owns the injected delay (network/reorder.py): delayed frames wait in one heap
ordered by (due time, order queued) and go into their member's outbox when due.

And it enforces ``write_timeout``: a member with pending data whose socket accepts
nothing for that long is closed.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import selectors
import socket
import threading
import time

from .member import DRAINED, FAILED, Member

log = logging.getLogger("stuttgart_chat.server")


class Writer:
    """Runs the writer thread until ``close()``."""

    def __init__(self, write_timeout: float) -> None:
        self.write_timeout = write_timeout
        self._selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._selector.register(self._wake_reader, selectors.EVENT_READ)
        self._lock = threading.Lock()
        self._handed_over: list[Member] = []
        self._delayed: list[tuple[float, int, Member, bytes]] = []
        self._order = itertools.count()
        self._stopping = False
        # Owned by the writer thread: members it flushes, and when each last moved.
        self._watched: dict[Member, float] = {}
        self._thread = threading.Thread(target=self._run, name="writer")
        self._thread.start()

    # -- called by other threads --------------------------------------------------------

    def watch(self, member: Member) -> None:
        """Take over flushing ``member`` (it has data left, or a close to complete)."""
        with self._lock:
            self._handed_over.append(member)
        self._wake()

    def delay(self, due: float, member: Member, frame: bytes) -> None:
        """Put ``frame`` into ``member``'s outbox at monotonic time ``due``."""
        with self._lock:
            heapq.heappush(self._delayed, (due, next(self._order), member, frame))
        self._wake()

    def close(self) -> None:
        with self._lock:
            self._stopping = True
        self._wake()
        self._thread.join()
        self._selector.close()
        self._wake_reader.close()
        self._wake_writer.close()

    def _wake(self) -> None:
        try:
            self._wake_writer.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # a wake-up is already pending, or we are closing

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            for key, _ in self._selector.select(self._timeout()):
                if key.fileobj is self._wake_reader:
                    self._drain_wakeups()
                else:
                    self._pump(key.data)
            now = time.monotonic()
            with self._lock:
                if self._stopping:
                    return
                handed_over, self._handed_over = self._handed_over, []
                due: list[tuple[float, int, Member, bytes]] = []
                while self._delayed and self._delayed[0][0] <= now:
                    due.append(heapq.heappop(self._delayed))
            for _, _, member, frame in due:
                member.enqueue_delayed([frame])
                if member.flush():
                    handed_over.append(member)
            for member in handed_over:
                self._adopt(member)
            self._check_stalls(now)

    def _timeout(self) -> float | None:
        deadlines = []
        with self._lock:
            if self._delayed:
                deadlines.append(self._delayed[0][0])
        if self._watched:
            deadlines.append(min(self._watched.values()) + self.write_timeout)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_reader.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _adopt(self, member: Member) -> None:
        if member.closing:
            # Frames delayed on purpose were relayed before the close: they go first.
            with self._lock:
                mine = sorted(item for item in self._delayed if item[2] is member)
                if mine:
                    self._delayed = [item for item in self._delayed if item[2] is not member]
                    heapq.heapify(self._delayed)
            if mine:
                member.enqueue_delayed([frame for _, _, _, frame in mine])
        if member in self._watched or member.done.is_set():
            return
        wsock = member.write_socket
        if wsock is None:
            return
        try:
            self._selector.register(wsock, selectors.EVENT_WRITE, member)
        except (ValueError, OSError) as exc:  # already closed underneath us
            member.fail(f"cannot watch the socket: {exc}")
            return
        self._watched[member] = time.monotonic()
        self._pump(member)

    def _pump(self, member: Member) -> None:
        state, progressed = member.pump()
        if progressed and member in self._watched:
            self._watched[member] = time.monotonic()
        if state == FAILED:
            self._release(member)
            member.fail("write failed")
        elif state == DRAINED:
            self._release(member)

    def _release(self, member: Member) -> None:
        if self._watched.pop(member, None) is not None:
            wsock = member.write_socket
            if wsock is not None:
                try:
                    self._selector.unregister(wsock)
                except (KeyError, ValueError):
                    pass

    def _check_stalls(self, now: float) -> None:
        stalled = [m for m, moved in self._watched.items() if now - moved > self.write_timeout]
        for member in stalled:
            self._release(member)
            member.fail(f"no progress writing for {self.write_timeout:g} s")
