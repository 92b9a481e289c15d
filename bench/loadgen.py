"""The load generator: a few processes, each holding many raw-socket clients and
driving all of them from one ``selectors`` loop.

Two wires, one generator, so every system is measured the same way:

* ``Wire.CHAT``: the Stuttgart Chat wire protocol (4-byte big-endian length + UTF-8
  JSON). Used for the real server and for the naive relay. Every client JOINs and
  reads; publishers are members that also send ``CHAT`` frames with a correct vector
  clock (``{me: n}``, own entry = previous + 1, no claims on other entries, which the
  server accepts; or, for the clock-size measurement, the whole clock the member has
  delivered).
* ``Wire.RESP``: Redis pub/sub over RESP. Subscribers ``SUBSCRIBE`` one channel;
  publishers are separate connections that ``PUBLISH`` (a subscribed RESP2
  connection cannot publish).

Every chat text is exactly 100 ASCII bytes: ``PPPPP SSSSSSSSSS TTTTTTTTTTTTTTTT `` +
padding, i.e. the publisher's index, its sequence number and the monotonic send time
in microseconds (``CLOCK_MONOTONIC`` is shared by all processes on the machine). A
receiver decodes only what it needs from each frame: it finds the text, reads those
three numbers, checks the sequence number (no gap, no reordering per sender) and
computes the latency; everything else in the frame is skipped.

Publishers either send at a paced rate (open loop, with a guard that stops them from
queueing unboundedly when the system cannot keep up) or keep a fixed number of
messages in flight across all generator processes (closed loop: saturation without
unbounded queues). In-flight accounting uses shared counters (``RawArray``) that each
process updates for its own clients.

The parent talks to each worker over a pipe and never waits without a deadline; a
worker exits when the pipe closes, and the parent kills workers that do not stop.
"""

from __future__ import annotations

import array
import contextlib
import enum
import json
import multiprocessing
import multiprocessing.connection
import os
import selectors
import socket
import time
import traceback
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import RawArray
from typing import Any, cast

TEXT_BYTES = 100
_TEXT_HEAD = 34  # b"PPPPP SSSSSSSSSS TTTTTTTTTTTTTTTT "
_PAD = b"x" * (TEXT_BYTES - _TEXT_HEAD)
_TEXT_KEY = b'"text":"'
_ERROR_START = b'{"type":"ERROR"'
_WELCOME_START = b'{"type":"WELCOME"'
REDIS_CHANNEL = b"c"
_RESP_MESSAGE_PREFIX = b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$"
_RESP_MESSAGE_MARKER = b"$7\r\nmessage\r\n"  # once per pushed message
_RESP_ERROR_MARKER = b"\r\n-"
_RESP_SUBSCRIBE = b"*2\r\n$9\r\nSUBSCRIBE\r\n$1\r\nc\r\n"
_RESP_PUBLISH_HEAD = b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$%d\r\n" % TEXT_BYTES
_MAX_BATCH = 64  # messages one publisher builds per loop iteration
_OUT_HIGH_WATER = 256 * 1024  # bytes queued for one publisher before it waits
_RECV_BYTES = 256 * 1024
_NO_PUBLISHER = -1


def now_us() -> int:
    return time.monotonic_ns() // 1000


class Wire(str, enum.Enum):
    CHAT = "chat"
    RESP = "resp"


@dataclass(frozen=True)
class ClientSpec:
    """One client: its username (CHAT wire), whether it reads, which publisher it is
    (``-1`` for none), and whether it decodes every chat (``verify``: sequence check and
    latency) or only counts them (a C-speed count of a marker in the byte stream, so
    the generator can keep up with fast systems; losses still show in the counts)."""

    name: str
    subscribes: bool
    publisher: int = _NO_PUBLISHER
    verify: bool = True


@dataclass(frozen=True)
class RunSpec:
    """One measured run. Times are ``now_us()`` values (monotonic microseconds).

    Attributes:
        run_id: distinguishes runs in the shared ``done`` flags.
        t_start_us: publishers start.
        window_start_us, window_end_us: the measurement window: deliveries received in
            it count for the rate, messages sent in it count for latency.
        t_stop_us: publishers stop (normally ``window_end_us``).
        drain_deadline_us: give up waiting for stragglers after this.
        rate_per_publisher: messages per second per publisher; 0 means closed loop.
        window_msgs: closed loop: messages in flight across all processes.
        guard_msgs: open loop: stop sending while this many messages are in flight.
        count_per_publisher: >0: send exactly this many (closed loop) and stop.
        fanout: deliveries per message (members - 1 for CHAT, subscribers for RESP).
        latency_stride: record the latency of messages whose seq % stride == 0.
        full_clock: CHAT wire: claim the whole delivered clock, not just ``{me: n}``.
        active_publishers: only publishers 0..active-1 send (0: all of them).
    """

    run_id: int
    t_start_us: int
    window_start_us: int
    window_end_us: int
    t_stop_us: int
    drain_deadline_us: int
    rate_per_publisher: float
    window_msgs: int
    guard_msgs: int
    count_per_publisher: int
    fanout: int
    latency_stride: int = 1
    full_clock: bool = False
    active_publishers: int = 0


@dataclass
class WorkerResult:
    worker: int
    window_deliveries: int = 0
    window_sent_msgs: int = 0
    latency_samples: bytes = b""
    latency_max_us: int = 0
    drained: bool = False
    drained_at_us: int = 0
    first_send_us: int = 0
    last_chat_us: int = 0
    lost: int = 0
    order_errors: int = 0
    server_errors: list[str] = field(default_factory=list)
    disconnected: int = 0
    guard_tripped: bool = False
    max_chat_frame: int = 0
    run_deliveries: int = 0


class Shared:
    """Counters every worker can read; each slot is written by one worker only."""

    def __init__(self, publishers: int, workers: int) -> None:
        self.sent = RawArray("q", max(1, publishers))  # cumulative messages per publisher
        self.received = RawArray("q", workers)  # cumulative chat deliveries per worker
        self.done = RawArray("q", workers)  # run id each worker finished sending for
        # Per worker: the least "messages received + own messages sent" over its
        # readers. sum(sent) - min(accounted) = how far the slowest reader lags.
        self.accounted = RawArray("q", workers)


class _Client:
    __slots__ = (
        "spec",
        "sock",
        "buf",
        "out",
        "last_seq",
        "ready",
        "closed",
        "order_errors",
        "chats",
        "sent",
        "run_sent",
        "name_bytes",
        "server_errors",
        "join_started",
        "tail",
    )

    def __init__(self, spec: ClientSpec, publishers: int) -> None:
        self.spec = spec
        self.sock: socket.socket | None = None
        self.buf = bytearray()
        self.out = bytearray()
        self.last_seq = [0] * max(1, publishers)
        self.ready = False
        self.closed = False
        self.order_errors = 0
        self.chats = 0
        self.sent = 0
        self.run_sent = 0
        self.name_bytes = spec.name.encode()
        self.server_errors: list[str] = []
        self.join_started = 0.0
        self.tail = b""  # counting clients: the end of the last chunk (split markers)


class _Worker:
    def __init__(
        self,
        worker_id: int,
        wire: Wire,
        address: tuple[str, int],
        specs: Sequence[ClientSpec],
        publisher_names: Sequence[str],
        shared: Shared,
        pipe: multiprocessing.connection.Connection,
    ) -> None:
        self.worker_id = worker_id
        self.wire = wire
        self.address = address
        self.publisher_names = [n.encode() for n in publisher_names]
        self.publishers_total = len(publisher_names)
        self.clients = [_Client(spec, self.publishers_total) for spec in specs]
        self.publishers = [c for c in self.clients if c.spec.publisher != _NO_PUBLISHER]
        self.shared = shared
        self.pipe = pipe
        self.selector = selectors.DefaultSelector()
        self.selector.register(pipe.fileno(), selectors.EVENT_READ, None)
        self.readers = [c for c in self.clients if c.spec.subscribes]
        self.total_chats = 0
        self._accounted_at = 0
        self._reset_run(None)

    # -- run bookkeeping -----------------------------------------------------------------

    def _reset_run(self, spec: RunSpec | None) -> None:
        self.spec = spec
        self.samples = array.array("q")
        self.result = WorkerResult(self.worker_id)
        self.window_start = spec.window_start_us if spec else 0
        self.window_end = spec.window_end_us if spec else 0
        self.stride = spec.latency_stride if spec else 1
        for client in self.publishers:
            client.run_sent = 0

    # -- connections -----------------------------------------------------------------------

    def _connect(self, client: _Client) -> None:
        sock = socket.create_connection(self.address, timeout=5.0)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.wire is Wire.CHAT:
            join = json.dumps({"type": "JOIN", "version": 1, "username": client.spec.name})
            body = join.encode()
            sock.sendall(len(body).to_bytes(4, "big") + body)
        elif client.spec.subscribes:
            sock.sendall(_RESP_SUBSCRIBE)
        else:
            client.ready = True  # a RESP publisher needs no handshake
        sock.setblocking(False)
        client.sock = sock
        client.join_started = time.monotonic()
        self.selector.register(sock, selectors.EVENT_READ, client)

    def _handshake(self, client: _Client) -> str | None:
        """Consume the handshake answer if complete. Returns an error code to retry
        on (``server_full``), raises on anything else that is wrong."""
        buf = client.buf
        if self.wire is Wire.CHAT:
            if len(buf) < 4:
                return None
            length = int.from_bytes(buf[:4], "big")
            if len(buf) < 4 + length:
                return None
            frame = json.loads(bytes(buf[4 : 4 + length]))
            del buf[: 4 + length]
            if frame.get("type") == "WELCOME":
                client.ready = True
                return None
            code = str(frame.get("code", frame.get("type")))
            if code == "server_full":
                return code
            raise RuntimeError(f"{client.spec.name}: join refused: {frame}")
        end = buf.find(b"\r\n", buf.find(b"\r\n:") + 3) if b"\r\n:" in buf else -1
        if end < 0:
            return None
        if not buf.startswith(b"*3\r\n$9\r\nsubscribe\r\n"):
            raise RuntimeError(f"unexpected SUBSCRIBE answer {bytes(buf[:80])!r}")
        del buf[: end + 2]
        client.ready = True
        return None

    def setup(self, timeout: float, max_pending: int) -> dict[str, Any]:
        """Connect and join every client, at most ``max_pending`` handshakes at once."""
        started = time.monotonic()
        deadline = started + timeout
        queue = deque(self.clients)
        pending: set[_Client] = set()
        retries = 0
        joined_at: list[float] = []
        while queue or pending:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"worker {self.worker_id}: {len(queue) + len(pending)} clients not "
                    f"joined after {timeout:g}s"
                )
            while queue and len(pending) < max_pending:
                client = queue.popleft()
                self._connect(client)
                if client.ready:
                    continue
                pending.add(client)
            for key, _ in self.selector.select(0.05):
                client = key.data
                if client is None:
                    continue  # the pipe: the parent waits for our answer
                self._read(client)
                if client in pending:
                    retry = self._handshake(client)
                    if client.ready:
                        pending.discard(client)
                        joined_at.append(time.monotonic())
                        self._parse_buffer(client, now_us())  # frames after the answer
                    elif retry is not None or client.closed:
                        pending.discard(client)
                        self._close(client)
                        retries += 1
                        if retries > 10 * len(self.clients) + 100:
                            raise RuntimeError(f"worker {self.worker_id}: too many retries")
                        queue.append(_Client(client.spec, self.publishers_total))
                        self.clients[self.clients.index(client)] = queue[-1]
            self.publishers = [c for c in self.clients if c.spec.publisher != _NO_PUBLISHER]
        self.readers = [c for c in self.clients if c.spec.subscribes]
        self._update_accounted(0)
        return {
            "worker": self.worker_id,
            "clients": len(self.clients),
            "started": started,
            "finished": time.monotonic(),
            "retries": retries,
            "joined_at": joined_at,
        }

    def _close(self, client: _Client) -> None:
        if client.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(client.sock)
            with contextlib.suppress(OSError):
                client.sock.close()
        client.closed = True

    def close_all(self) -> None:
        for client in self.clients:
            self._close(client)

    # -- reading ---------------------------------------------------------------------------

    def _recv(self, client: _Client) -> bytes:
        """What the socket has (b"" at end of stream or on error, marking it closed)."""
        sock = client.sock
        assert sock is not None
        try:
            data = sock.recv(_RECV_BYTES)
        except BlockingIOError:
            return b""
        except OSError as exc:
            client.server_errors.append(f"recv failed: {exc}")
            data = b""
        if not data and not client.closed:
            client.closed = True
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(sock)
        return data

    def _read(self, client: _Client) -> None:
        client.buf += self._recv(client)

    def _receive(self, client: _Client, now: int) -> int:
        """Read what is ready; returns the number of chats received."""
        if client.ready and client.spec.subscribes and not client.spec.verify:
            return self._count(client, self._recv(client), now)
        self._read(client)
        return self._parse_buffer(client, now)

    def _count(self, client: _Client, data: bytes, now: int) -> int:
        """Count chats by a marker that occurs once per chat, without decoding."""
        if not data:
            return 0
        if self.wire is Wire.CHAT:
            marker, error = _TEXT_KEY, _ERROR_START
        else:
            marker, error = _RESP_MESSAGE_MARKER, _RESP_ERROR_MARKER
        window = client.tail + data
        chats = window.count(marker)
        if error in window:
            start = window.find(error)
            client.server_errors.append(window[start : start + 300].decode(errors="replace"))
        client.tail = window[-(len(marker) - 1) :]
        client.chats += chats
        if self.window_start <= now < self.window_end:
            self.result.window_deliveries += chats
        return chats

    def _parse_buffer(self, client: _Client, now: int) -> int:
        if not client.ready:
            return 0
        if client.spec.subscribes and not client.spec.verify:
            buf, client.buf = bytes(client.buf), bytearray()
            return self._count(client, buf, now)
        if self.wire is Wire.CHAT:
            return self._parse_chat(client, now)
        if client.spec.subscribes:
            return self._parse_resp(client, now)
        # A RESP publisher only gets ":<subscribers>\r\n" answers: drop whole lines.
        answers = client.buf
        last = answers.rfind(b"\n")
        if last >= 0:
            if b"-" in answers[: last + 1]:
                text = bytes(answers[: last + 1][:200]).decode(errors="replace")
                client.server_errors.append(text)
            del answers[: last + 1]
        return 0

    def _parse_chat(self, client: _Client, now: int) -> int:
        buf = client.buf
        size = len(buf)
        pos = 0
        chats = 0
        last_seq = client.last_seq
        errors = 0
        in_window = self.window_start <= now < self.window_end
        window_start = self.window_start
        window_end = self.window_end
        stride = self.stride
        samples = self.samples
        worst = self.result.latency_max_us
        biggest = self.result.max_chat_frame
        while pos + 4 <= size:
            end = pos + 4 + int.from_bytes(buf[pos : pos + 4], "big")
            if end > size:
                break
            t = buf.find(_TEXT_KEY, pos + 4, end)
            if t >= 0:
                t += 8
                publisher = int(buf[t : t + 5])
                seq = int(buf[t + 6 : t + 16])
                if seq != last_seq[publisher] + 1:
                    errors += 1
                last_seq[publisher] = seq
                sent = int(buf[t + 17 : t + 33])
                if window_start <= sent < window_end:
                    latency = now - sent
                    if latency > worst:
                        worst = latency
                    if seq % stride == 0:
                        samples.append(latency)
                if end - pos > biggest:
                    biggest = end - pos
                chats += 1
            elif buf.startswith(_ERROR_START, pos + 4):
                client.server_errors.append(
                    bytes(buf[pos + 4 : end][:300]).decode(errors="replace")
                )
            pos = end
        del buf[:pos]
        self.result.latency_max_us = worst
        self.result.max_chat_frame = biggest
        client.order_errors += errors
        client.chats += chats
        if in_window:
            self.result.window_deliveries += chats
        return chats

    def _parse_resp(self, client: _Client, now: int) -> int:
        buf = client.buf
        size = len(buf)
        pos = 0
        chats = 0
        last_seq = client.last_seq
        errors = 0
        in_window = self.window_start <= now < self.window_end
        window_start = self.window_start
        window_end = self.window_end
        stride = self.stride
        samples = self.samples
        worst = self.result.latency_max_us
        prefix = _RESP_MESSAGE_PREFIX
        prefix_len = len(prefix)
        while size - pos > prefix_len:
            if not buf.startswith(prefix, pos):
                raise RuntimeError(f"unexpected RESP data {bytes(buf[pos : pos + 80])!r}")
            digits_end = buf.find(b"\r\n", pos + prefix_len, pos + prefix_len + 12)
            if digits_end < 0:
                break
            t = digits_end + 2
            end = t + int(buf[pos + prefix_len : digits_end]) + 2
            if end > size:
                break
            publisher = int(buf[t : t + 5])
            seq = int(buf[t + 6 : t + 16])
            if seq != last_seq[publisher] + 1:
                errors += 1
            last_seq[publisher] = seq
            sent = int(buf[t + 17 : t + 33])
            if window_start <= sent < window_end:
                latency = now - sent
                if latency > worst:
                    worst = latency
                if seq % stride == 0:
                    samples.append(latency)
            chats += 1
            pos = end
        del buf[:pos]
        self.result.latency_max_us = worst
        client.order_errors += errors
        client.chats += chats
        if in_window:
            self.result.window_deliveries += chats
        return chats

    def _pump(self, timeout: float) -> bool:
        """Read whatever is ready. Returns True if the parent sent something."""
        command = False
        received = 0
        for key, _ in self.selector.select(timeout):
            client = key.data
            if client is None:
                command = True
                continue
            received += self._receive(client, now_us())
        if received:
            self.total_chats += received
            self.shared.received[self.worker_id] = self.total_chats
            self.result.run_deliveries += received
            self.result.last_chat_us = now_us()
        return command

    # -- publishing --------------------------------------------------------------------------

    def _chat_frame(self, client: _Client, seq: int, text: bytes, full_clock: bool) -> bytes:
        if full_clock:
            if not client.spec.verify:
                raise ValueError("a full-clock publisher must be a verifying client")
            names = self.publisher_names
            entries = [
                b'"%s":%d' % (names[p], count)
                for p, count in enumerate(client.last_seq)
                if count and p != client.spec.publisher
            ]
            entries.append(b'"%s":%d' % (client.name_bytes, seq))
            clock = b"{" + b",".join(entries) + b"}"
        else:
            clock = b'{"%s":%d}' % (client.name_bytes, seq)
        body = b'{"type":"CHAT","text":"' + text + b'","vc":' + clock + b"}"
        return len(body).to_bytes(4, "big") + body

    def _flush(self, client: _Client) -> None:
        if not client.out or client.sock is None or client.closed:
            return
        try:
            written = client.sock.send(client.out)
        except BlockingIOError:
            return
        except OSError as exc:
            client.server_errors.append(f"send failed: {exc}")
            client.closed = True
            return
        del client.out[:written]

    def _update_accounted(self, now: int) -> None:
        """Publish how far this process's slowest reader has got (at most every 0.2 ms)."""
        if now - self._accounted_at < 200 and now:
            return
        self._accounted_at = now
        self.shared.accounted[self.worker_id] = min(
            (c.chats + c.sent for c in self.readers if not c.closed), default=1 << 62
        )

    def _publish(self, now: int, spec: RunSpec) -> None:
        shared = self.shared
        # Messages the slowest reader anywhere has not received yet: bounds every
        # reader's backlog (and so the server's per-member outbox) by the window.
        in_flight = sum(shared.sent) - min(shared.accounted)
        if spec.rate_per_publisher > 0:
            if in_flight >= spec.guard_msgs:
                self.result.guard_tripped = True
                budget = 0
            else:
                budget = spec.guard_msgs - in_flight
        else:
            budget = spec.window_msgs - in_flight
        if budget <= 0:
            return
        elapsed = now - spec.t_start_us
        in_window = self.window_start <= now < self.window_end
        chat = self.wire is Wire.CHAT
        active = spec.active_publishers or self.publishers_total
        for client in self.publishers:
            if budget <= 0:
                break
            if client.closed or len(client.out) > _OUT_HIGH_WATER:
                continue
            if client.spec.publisher >= active:
                continue
            if spec.rate_per_publisher > 0:
                # Publishers are phase-shifted, so P slow publishers do not send in bursts.
                phase = client.spec.publisher / self.publishers_total
                due = int(elapsed * spec.rate_per_publisher / 1e6 + phase) - client.run_sent
            elif spec.count_per_publisher > 0:
                due = spec.count_per_publisher - client.run_sent
            else:
                due = budget
            count = min(due, budget, _MAX_BATCH)
            if count <= 0:
                continue
            publisher = client.spec.publisher
            head = b"%05d " % publisher
            out = client.out
            seq = client.sent
            for _ in range(count):
                seq += 1
                text = head + b"%010d %016d " % (seq, now) + _PAD
                if chat:
                    out += self._chat_frame(client, seq, text, spec.full_clock)
                else:
                    out += _RESP_PUBLISH_HEAD + text + b"\r\n"
            client.sent = seq
            client.run_sent += count
            shared.sent[publisher] = seq
            budget -= count
            if in_window:
                self.result.window_sent_msgs += count
            if not self.result.first_send_us:
                self.result.first_send_us = now
            self._flush(client)
        # Rotate, so no publisher of this process always gets the budget first.
        if len(self.publishers) > 1:
            self.publishers.append(self.publishers.pop(0))

    def _publishers_finished(self, now: int, spec: RunSpec) -> bool:
        if now >= spec.t_stop_us:
            return True
        if spec.count_per_publisher > 0:
            active = spec.active_publishers or self.publishers_total
            return all(
                c.run_sent >= spec.count_per_publisher or c.closed or c.spec.publisher >= active
                for c in self.publishers
            )
        return False

    # -- one run ---------------------------------------------------------------------------

    def run(self, spec: RunSpec) -> WorkerResult:
        self._reset_run(spec)
        shared = self.shared
        workers = len(shared.done)
        sending_done = False
        while True:
            now = now_us()
            if not sending_done:
                if now >= spec.t_start_us:
                    if self._publishers_finished(now, spec):
                        sending_done = all(not c.out or c.closed for c in self.publishers)
                        if sending_done:
                            shared.done[self.worker_id] = spec.run_id
                    else:
                        self._publish(now, spec)
                for client in self.publishers:
                    self._flush(client)
            busy = not sending_done and now >= spec.t_start_us - 2000
            self._pump(0.0005 if busy else 0.01)
            now = now_us()
            self._update_accounted(now)
            if sending_done and all(shared.done[w] == spec.run_id for w in range(workers)):
                if self.total_chats >= self._expected_chats():
                    self.result.drained = True
                    self.result.drained_at_us = self.result.last_chat_us or now
                    break
            if now > spec.drain_deadline_us:
                break
        self._finish_result()
        return self.result

    def _expected_chats(self) -> int:
        sent = list(self.shared.sent)
        total = sum(sent)
        expected = 0
        for client in self.clients:
            if client.spec.subscribes:
                own = sent[client.spec.publisher] if client.spec.publisher >= 0 else 0
                expected += total - own if self.wire is Wire.CHAT else total
        return expected

    def _finish_result(self) -> None:
        sent = list(self.shared.sent)[: self.publishers_total]
        result = self.result
        for client in self.clients:
            if client.closed:
                result.disconnected += 1
            result.server_errors.extend(client.server_errors)
            client.server_errors.clear()
            if not client.spec.subscribes:
                continue
            result.order_errors += client.order_errors
            if not client.spec.verify:
                own = sent[client.spec.publisher] if client.spec.publisher >= 0 else 0
                missing = sum(sent) - own - client.chats
                if missing > 0:
                    result.lost += missing
                elif missing < 0:
                    result.order_errors += -missing  # more chats than were sent
                continue
            for publisher, count in enumerate(sent):
                if publisher == client.spec.publisher and self.wire is Wire.CHAT:
                    continue
                missing = count - client.last_seq[publisher]
                if missing > 0:
                    result.lost += missing
        result.latency_samples = self.samples.tobytes()


def _worker_main(
    worker_id: int,
    wire: Wire,
    address: tuple[str, int],
    specs: Sequence[ClientSpec],
    publisher_names: Sequence[str],
    shared: Shared,
    pipe: multiprocessing.connection.Connection,
) -> None:
    worker = _Worker(worker_id, wire, address, specs, publisher_names, shared, pipe)
    try:
        while True:
            if not worker._pump(0.05):
                continue
            try:
                command, argument = pipe.recv()
            except (EOFError, OSError):
                return  # the parent is gone
            if command == "setup":
                pipe.send(("ready", worker.setup(*argument)))
            elif command == "run":
                pipe.send(("result", worker.run(argument)))
            elif command == "stop":
                pipe.send(("stopped", None))
                return
    except BaseException:  # noqa: BLE001 - report anything to the parent, then exit
        with contextlib.suppress(OSError, ValueError):
            pipe.send(("error", traceback.format_exc()))
    finally:
        worker.close_all()


@dataclass
class RunResult:
    """A run, summed over all workers."""

    window_seconds: float
    window_deliveries: int
    window_sent_msgs: int
    latencies_us: list[int]
    latency_max_us: int
    drained: bool
    lost: int
    order_errors: int
    server_errors: list[str]
    disconnected: int
    guard_tripped: bool
    max_chat_frame: int
    first_send_us: int
    last_chat_us: int
    run_deliveries: int

    @property
    def delivered_rate(self) -> float:
        return self.window_deliveries / self.window_seconds

    def offered_rate(self, fanout: int) -> float:
        return self.window_sent_msgs * fanout / self.window_seconds


class Generator:
    """The parent's handle on the worker processes."""

    def __init__(
        self,
        wire: Wire,
        address: tuple[str, int],
        specs: Sequence[ClientSpec],
        workers: int,
    ) -> None:
        self.wire = wire
        self.address = address
        self.specs = list(specs)
        publishers = sorted(
            (s for s in specs if s.publisher != _NO_PUBLISHER), key=lambda s: s.publisher
        )
        if [s.publisher for s in publishers] != list(range(len(publishers))):
            raise ValueError("publishers must be numbered 0..P-1")
        self.publisher_names = [s.name for s in publishers]
        self.workers = max(1, min(workers, len(specs)))
        self.shared = Shared(len(publishers), self.workers)
        self.pipes: list[multiprocessing.connection.Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.run_count = 0

    def __enter__(self) -> Generator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def start(self, timeout: float, max_pending_total: int = 60) -> list[dict[str, Any]]:
        """Fork the workers and join every client. Returns each worker's join timings."""
        context = multiprocessing.get_context("fork")
        for worker_id in range(self.workers):
            mine = self.specs[worker_id :: self.workers]
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=_worker_main,
                args=(
                    worker_id,
                    self.wire,
                    self.address,
                    mine,
                    self.publisher_names,
                    self.shared,
                    child_end,
                ),
                name=f"loadgen-{worker_id}",
                daemon=True,
            )
            process.start()
            child_end.close()
            self.pipes.append(parent_end)
            self.processes.append(process)
        max_pending = max(1, max_pending_total // self.workers)
        for pipe in self.pipes:
            pipe.send(("setup", (timeout, max_pending)))
        return self._collect("ready", timeout + 10.0)

    def run(self, spec: RunSpec, timeout: float) -> RunResult:
        self.begin_run(spec)
        return self.finish_run(spec, timeout)

    def begin_run(self, spec: RunSpec) -> None:
        """Hand the run to the workers; they start at ``spec.t_start_us``."""
        for pipe in self.pipes:
            pipe.send(("run", spec))

    def finish_run(self, spec: RunSpec, timeout: float) -> RunResult:
        """Wait (at most ``timeout`` seconds) for every worker's result and sum them."""
        results: list[WorkerResult] = self._collect("result", timeout)
        self.run_count += 1
        latencies: list[int] = []
        for result in results:
            samples = array.array("q")
            samples.frombytes(result.latency_samples)
            latencies.extend(samples)
        window = (spec.window_end_us - spec.window_start_us) / 1e6
        return RunResult(
            window_seconds=window,
            window_deliveries=sum(r.window_deliveries for r in results),
            window_sent_msgs=sum(r.window_sent_msgs for r in results),
            latencies_us=latencies,
            latency_max_us=max(r.latency_max_us for r in results),
            drained=all(r.drained for r in results),
            lost=sum(r.lost for r in results),
            order_errors=sum(r.order_errors for r in results),
            server_errors=[e for r in results for e in r.server_errors][:20],
            disconnected=sum(r.disconnected for r in results),
            guard_tripped=any(r.guard_tripped for r in results),
            max_chat_frame=max(r.max_chat_frame for r in results),
            first_send_us=min((r.first_send_us for r in results if r.first_send_us), default=0),
            last_chat_us=max(r.last_chat_us for r in results),
            run_deliveries=sum(r.run_deliveries for r in results),
        )

    def _collect(self, expected: str, timeout: float) -> list[Any]:
        deadline = time.monotonic() + timeout
        answers: list[Any] = [None] * len(self.pipes)
        waiting = set(range(len(self.pipes)))
        while waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"workers {sorted(waiting)} did not answer {expected!r}")
            ready = multiprocessing.connection.wait(
                [self.pipes[i] for i in waiting], timeout=remaining
            )
            for ready_pipe in ready:
                pipe = cast(multiprocessing.connection.Connection, ready_pipe)
                index = self.pipes.index(pipe)
                try:
                    kind, payload = pipe.recv()
                except EOFError:
                    raise RuntimeError(f"worker {index} died") from None
                if kind == "error":
                    raise RuntimeError(f"worker {index} failed:\n{payload}")
                if kind != expected:
                    raise RuntimeError(f"worker {index} answered {kind!r}, not {expected!r}")
                answers[index] = payload
                waiting.discard(index)
        return answers

    def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError, ValueError, BrokenPipeError):
                pipe.send(("stop", None))
        deadline = time.monotonic() + 5.0
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in self.processes:
            if process.is_alive():
                process.terminate()
                process.join(2.0)
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(OSError):
                    os.kill(process.pid, 9)
                process.join(2.0)
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.close()
        self.pipes.clear()
        self.processes.clear()


def make_specs(
    wire: Wire, members: int, publishers: int, verifiers: int = 0
) -> tuple[list[ClientSpec], int]:
    """The clients for N members and P publishers, and the fanout (deliveries per
    message). CHAT: N members, the first P publish, each message goes to N - 1.
    RESP: N subscribers plus P publisher connections, each message goes to N.

    ``verifiers`` readers, spread evenly, decode every chat (sequence check, latency);
    the others only count chats. 0 means every reader verifies."""
    step = max(1, members // verifiers) if verifiers else 1
    # Evenly spread, alternating parity so they land in different worker processes.
    chosen = {min(members - 1, k * step + step // 2 + k % 2) for k in range(verifiers)}

    def verify(i: int) -> bool:
        return not verifiers or i in chosen

    if wire is Wire.CHAT:
        members_specs = [
            ClientSpec(f"m{i:04d}", True, i if i < publishers else _NO_PUBLISHER, verify(i))
            for i in range(members)
        ]
        return members_specs, members - 1
    subscribers = [ClientSpec(f"s{i:04d}", True, verify=verify(i)) for i in range(members)]
    pubs = [ClientSpec(f"p{i:04d}", False, i) for i in range(publishers)]
    # Interleave publishers so they spread over the worker processes.
    specs: list[ClientSpec] = []
    spacing = max(1, members // max(1, publishers))
    for i, sub in enumerate(subscribers):
        if i % spacing == 0 and pubs:
            specs.append(pubs.pop(0))
        specs.append(sub)
    specs.extend(pubs)
    return specs, members
