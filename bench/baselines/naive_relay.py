"""A deliberately naive chat relay, the baseline for bench/fanout.py.

The textbook first version: a thread per client, one ``queue.Queue``, one multicast
thread that calls ``sendall`` once per frame per client. Same wire format as Stuttgart
Chat (4-byte big-endian length + UTF-8 JSON): it answers ``JOIN`` with a ``WELCOME``,
stamps ``sender`` on each ``CHAT`` and relays it to every other client. No clock
checks, no outboxes, no slow-consumer policy: one slow reader stalls everyone.

    python bench/baselines/naive_relay.py --port 0     # prints "listening on HOST:PORT"

Only listens on 127.0.0.1. SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import json
import queue
import signal
import socket
import sys
import threading
from types import FrameType
from typing import Any

HOST = "127.0.0.1"


def encode(obj: dict[str, Any]) -> bytes:
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    return len(body).to_bytes(4, "big") + body


def recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def recv_frame(sock: socket.socket) -> dict[str, Any] | None:
    header = recv_exactly(sock, 4)
    if header is None:
        return None
    body = recv_exactly(sock, int.from_bytes(header, "big"))
    if body is None:
        return None
    obj = json.loads(body)
    return obj if isinstance(obj, dict) else None


class NaiveRelay:
    def __init__(self, port: int) -> None:
        self.listener = socket.create_server((HOST, port), backlog=1024)
        self.listener.settimeout(0.5)
        self.clients: dict[socket.socket, str] = {}
        self.lock = threading.Lock()
        self.outgoing: queue.Queue[tuple[socket.socket, bytes]] = queue.Queue()
        self.stopping = threading.Event()

    def handle_client(self, sock: socket.socket) -> None:
        name = "?"
        try:
            join = recv_frame(sock)
            if join is None or join.get("type") != "JOIN":
                return
            name = str(join.get("username"))
            with self.lock:
                members = [*self.clients.values(), name]
                welcome = {"type": "WELCOME", "version": 1, "username": name, "members": members}
                sock.sendall(encode({**welcome, "vc": {}}))
                self.clients[sock] = name
            while True:
                frame = recv_frame(sock)
                if frame is None or frame.get("type") == "LEAVE":
                    return
                if frame.get("type") == "CHAT":
                    frame["sender"] = name
                    self.outgoing.put((sock, encode(frame)))
        except (OSError, ValueError):
            return
        finally:
            with self.lock:
                self.clients.pop(sock, None)
            sock.close()

    def multicast(self) -> None:
        while not self.stopping.is_set():
            try:
                sender, frame = self.outgoing.get(timeout=0.5)
            except queue.Empty:
                continue
            with self.lock:
                targets = list(self.clients)
            for target in targets:
                if target is sender:
                    continue
                try:
                    target.sendall(frame)
                except OSError:
                    with self.lock:
                        self.clients.pop(target, None)

    def serve(self) -> None:
        threading.Thread(target=self.multicast, name="multicast", daemon=True).start()
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self.stopping.is_set():
                    break
                raise
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self.handle_client, args=(sock,), daemon=True).start()
        self.listener.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    relay = NaiveRelay(args.port)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        relay.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    host, port = relay.listener.getsockname()[:2]
    print(f"naive-relay listening on {host}:{port}", flush=True)
    relay.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
