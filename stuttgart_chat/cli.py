"""Command line: ``python -m stuttgart_chat server|client ...`` (or ``stuttgart-chat``)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .common.protocol import Limits
from .network.reorder import DelayPolicy, LinkDelay
from .server.main import Server, ServerOptions
from .viz.diagram import add_diagram_command, run_diagram

DEFAULT_PORT = 7711
_DEFAULT_LIMITS = Limits()
_DEFAULT_OPTIONS = ServerOptions()


def _link_delay(spec: str) -> LinkDelay:
    try:
        return LinkDelay.parse(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, not {port}")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stuttgart-chat",
        description="A group chat that delivers every message in causal order.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    server = sub.add_parser("server", help="run a chat server")
    server.add_argument("--host", default="127.0.0.1", help="address to listen on")
    server.add_argument("--port", type=_port, default=DEFAULT_PORT, help="0 picks a free port")
    reorder = server.add_argument_group(
        "injected delay", "make frames overtake each other, so the hold-back queue has work"
    )
    reorder.add_argument(
        "--jitter-ms",
        type=float,
        default=0.0,
        help="delay each chat frame to each recipient by a random 0..MS milliseconds",
    )
    reorder.add_argument(
        "--delay",
        type=_link_delay,
        action="append",
        default=[],
        metavar="SENDER:RECIPIENT:MS",
        help="delay frames from SENDER to RECIPIENT by MS ms ('*' = anyone); repeatable",
    )
    reorder.add_argument("--seed", type=int, default=None, help="seed of the random delays")
    limits = server.add_argument_group("limits")
    limits.add_argument("--max-frame-bytes", type=int, default=_DEFAULT_LIMITS.max_frame_bytes)
    limits.add_argument("--max-text-bytes", type=int, default=_DEFAULT_LIMITS.max_text_bytes)
    limits.add_argument(
        "--max-username-length", type=int, default=_DEFAULT_LIMITS.max_username_length
    )
    limits.add_argument(
        "--username-pattern",
        default=_DEFAULT_LIMITS.username_pattern,
        help="regular expression a whole username must match",
    )
    limits.add_argument("--max-members", type=int, default=_DEFAULT_LIMITS.max_members)
    limits.add_argument(
        "--max-outbox-frames",
        type=int,
        default=_DEFAULT_OPTIONS.max_outbox_frames,
        help="frames queued for one member before it is dropped as a slow consumer",
    )
    limits.add_argument(
        "--write-timeout",
        type=float,
        default=_DEFAULT_OPTIONS.write_timeout,
        help="seconds a member's socket may accept nothing while data waits, before it is dropped",
    )
    limits.add_argument(
        "--handshake-timeout",
        type=float,
        default=_DEFAULT_OPTIONS.handshake_timeout,
        help="seconds a new connection has to complete JOIN",
    )
    limits.add_argument(
        "--max-handshakes",
        type=int,
        default=_DEFAULT_OPTIONS.max_handshakes,
        help="connections that have not joined yet, beyond which new ones are refused",
    )
    server.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ...")
    server.add_argument(
        "--event-log", metavar="FILE", help="write the event log (ShiViz format) to FILE"
    )

    client = sub.add_parser("client", help="join a chat server")
    client.add_argument("name", help="your username")
    client.add_argument("--host", default="127.0.0.1", help="server address")
    client.add_argument("--port", type=_port, default=DEFAULT_PORT, help="server port")
    client.add_argument("--show-vc", action="store_true", help="show each message's clock")
    client.add_argument(
        "--event-log", metavar="FILE", help="write the event log (ShiViz format) to FILE"
    )
    ui = client.add_mutually_exclusive_group()
    ui.add_argument(
        "--line",
        action="store_true",
        help="on a terminal, the line-based client instead of the full-screen one",
    )
    ui.add_argument(
        "--plain",
        action="store_true",
        help="plain line mode (no prompt, no redrawing), as used when not on a terminal",
    )
    # Log lines on stderr would break into the line being typed; the console shows
    # what matters (held, released, left, disconnected) itself.
    client.add_argument("--log-level", default="ERROR", help="DEBUG, INFO, WARNING, ...")
    add_diagram_command(sub)
    return parser


def run_server(args: argparse.Namespace) -> int:
    try:
        options = ServerOptions(
            limits=Limits(
                max_frame_bytes=args.max_frame_bytes,
                max_text_bytes=args.max_text_bytes,
                max_username_length=args.max_username_length,
                username_pattern=args.username_pattern,
                max_members=args.max_members,
            ),
            max_outbox_frames=args.max_outbox_frames,
            write_timeout=args.write_timeout,
            handshake_timeout=args.handshake_timeout,
            max_handshakes=args.max_handshakes,
            event_log=args.event_log,
            delay=DelayPolicy(
                jitter=args.jitter_ms / 1000.0, links=tuple(args.delay), seed=args.seed
            ),
        )
        server = Server(args.host, args.port, options)
    except (ValueError, OSError) as exc:
        print(f"stuttgart-chat server: {exc}", file=sys.stderr)
        return 2
    host, port = server.address
    # One line on stdout that scripts (run_demo.py, tests) wait for.
    print(f"stuttgart-chat server listening on {host}:{port}", flush=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # wait() with a timeout, so the main thread runs signal handlers promptly.
    while not stop.wait(0.5):
        pass
    server.close()
    print("stuttgart-chat server stopped", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "server":
        return run_server(args)
    if args.command == "diagram":
        return run_diagram(args)
    on_terminal = sys.stdin.isatty() and sys.stdout.isatty()
    if on_terminal and not (args.line or args.plain):
        try:
            from .client.tui import run_tui
        except ImportError as exc:  # prompt_toolkit missing: the line client still works
            print(f"(full-screen client unavailable: {exc}; using the line client)")
        else:
            return run_tui(
                args.host, args.port, args.name, show_vc=args.show_vc, event_log=args.event_log
            )
    from .client.console import run_console

    return run_console(
        args.host,
        args.port,
        args.name,
        show_vc=args.show_vc,
        interactive=False if args.plain else None,
        event_log=args.event_log,
    )


if __name__ == "__main__":
    sys.exit(main())
