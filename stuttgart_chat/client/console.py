"""The line-based chat client for a terminal or a pipe.

On a terminal it keeps the line being typed intact: an arriving message clears the
input line, prints itself above it and redraws the prompt with what was typed so far.
Without a terminal (scripts, pipes, the demo's fallback) it reads lines from stdin and
prints one line per event, nothing else.

It shows causality as it happens: a message that arrives too early is reported as
``held: Bob#2 waits for Alice#1`` and later as ``released``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TextIO

from ..common.errors import ChatError
from ..common.protocol import Chat
from .events import ClientEvent, Delivered, Disconnected, Duplicate, Held, MemberJoined, MemberLeft
from .main import Client, create_client

HELP = """\
commands:
  /help         this text
  /who          who is in the group
  /vc           your vector clock
  /held         messages waiting in the hold-back queue, and what each waits for
  /quit         leave (Ctrl-D and Ctrl-C too)
anything else is sent as a chat message"""

# C0 controls but tab and newline, DEL, and the C1 controls (U+009B is a CSI).
_CONTROL = {c: "\ufffd" for c in (*range(32), *range(127, 160)) if c not in (9, 10)}


def clean(text: str) -> str:
    """Replace control characters, so a message cannot move the cursor or clear the
    screen of whoever reads it."""
    return text.translate(_CONTROL)


def format_clock(clock: dict[str, int]) -> str:
    return "{" + ", ".join(f"{m}:{c}" for m, c in sorted(clock.items())) + "}"


def format_event(event: ClientEvent, me: str, show_vc: bool, now: float) -> str | None:
    stamp = time.strftime("%H:%M:%S", time.localtime(now))
    if isinstance(event, Delivered):
        message = event.message
        who = "you" if event.own else message.sender
        line = f"[{stamp}] {who}: {clean(message.text)}"
        if event.was_held:
            line = f"  ▶ released {message.label}\n{line}"
        if show_vc:
            line += f"   {message.label} vc={format_clock(message.vc)}"
        return line
    if isinstance(event, Held):
        return f"  ⏸ {event.describe()}   (my clock {format_clock(event.clock)})"
    if isinstance(event, Duplicate):
        return f"  ✕ {event.describe()}"
    if isinstance(event, (MemberJoined, MemberLeft)):
        return f"[{stamp}] * {event.describe()}"
    if isinstance(event, Disconnected):
        return None if event.by_us else f"* {event.reason}"
    return None


class _Quit(Exception):
    """Raised in the main thread to stop reading input (SIGTERM, server gone)."""


class Console:
    """Runs one client against stdin/stdout until the user quits or the server goes."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        *,
        show_vc: bool = False,
        interactive: bool | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        event_log: str | None = None,
    ) -> None:
        self.event_log = event_log
        self.host, self.port, self.username = host, port, username
        self.show_vc = show_vc
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        if interactive is None:
            interactive = self.stdin.isatty() and self.stdout.isatty()
        self.interactive = interactive
        self.prompt = f"{username}> " if interactive else ""
        self._output_lock = threading.Lock()
        self._prompting = False
        self._main_thread = threading.main_thread()
        self._server_gone = False
        self.client: Client | None = None

    # -- output ----------------------------------------------------------------------

    def show(self, text: str) -> None:
        """Print above the input line, then redraw the prompt and the typed text."""
        with self._output_lock:
            if self.interactive:
                # The prompt is redrawn only while input() shows it; before that,
                # input() prints it itself.
                redraw = self.prompt + _typed_so_far() if self._prompting else ""
                self.stdout.write("\r\x1b[2K" + text + "\n" + redraw)
            else:
                self.stdout.write(text + "\n")
            self.stdout.flush()

    def _on_event(self, event: ClientEvent) -> None:
        if isinstance(event, Delivered) and event.own:
            return  # what we typed is already on the screen
        line = format_event(event, self.username, self.show_vc, time.time())
        if line is not None:
            self.show(line)
        if isinstance(event, Disconnected) and not event.by_us:
            self._server_gone = True
            _interrupt_main(self._main_thread)

    # -- commands --------------------------------------------------------------------

    def _command(self, line: str, client: Client) -> bool:
        """Run a /command; return False to quit."""
        name = line.split()[0].lower()
        if name in ("/quit", "/exit"):
            return False
        if name == "/help":
            self.show(HELP)
        elif name == "/who":
            self.show("members: " + ", ".join(client.members))
        elif name == "/vc":
            self.show(f"my clock: {format_clock(client.vc)}")
        elif name == "/held":
            held = client.held
            if not held:
                self.show("hold-back queue: empty")
            for message, waits in held:
                waiting = ", ".join(map(str, waits))
                self.show(f"  {message.label} waits for {waiting}: {clean(message.text)!r}")
        else:
            self.show(f"unknown command {name}; /help lists the commands")
        return True

    def _send(self, client: Client, text: str) -> None:
        chat: Chat = client.send(text)
        if self.show_vc:
            self.show(f"  sent {chat.label} vc={format_clock(chat.vc)}")
        elif not self.interactive:
            self.show(f"[{time.strftime('%H:%M:%S')}] you: {clean(text)}")

    # -- the loop --------------------------------------------------------------------

    def run(self) -> int:
        """Returns the process exit status."""
        try:
            client = create_client(
                self.host,
                self.port,
                self.username,
                on_event=self._on_event,
                event_log=self.event_log,
            )
        except ChatError as exc:
            self.stdout.write(f"cannot join: {exc}\n")
            return 2
        self.client = client
        self.show(
            f"* joined {self.host}:{self.port} as {self.username}; "
            f"members: {', '.join(client.members)}. /help for commands"
        )
        restore = _install_quit_signals()
        try:
            self._read_loop(client)
        except (_Quit, KeyboardInterrupt, EOFError):
            pass
        finally:
            restore()
            if self.interactive:
                self.stdout.write("\n")
            client.close()
        return 1 if self._server_gone else 0

    def _read_loop(self, client: Client) -> None:
        while True:
            if self._server_gone:
                return
            if self.interactive:
                with self._output_lock:
                    self._prompting = True
                try:
                    line = input(self.prompt)
                finally:
                    with self._output_lock:
                        self._prompting = False
            else:
                line = self.stdin.readline()
                if not line:
                    return
                line = line.rstrip("\n")
            if not line.strip():
                continue
            if line.startswith("/"):
                if not self._command(line, client):
                    return
                continue
            try:
                self._send(client, line)
            except ChatError as exc:
                self.show(f"* not sent: {exc}")


def _typed_so_far() -> str:
    try:
        import readline
    except ImportError:  # no readline (Windows): nothing to redraw
        return ""
    return readline.get_line_buffer()


def _interrupt_main(main: threading.Thread) -> None:
    """Make the main thread's blocking input() return, by signalling it."""
    if main.ident is not None and threading.current_thread() is not main:
        with contextlib.suppress(OSError, ValueError):
            signal.pthread_kill(main.ident, signal.SIGUSR1)


def _install_quit_signals() -> Callable[[], None]:
    def quit_(signum: int, frame: FrameType | None) -> None:
        raise _Quit(signal.Signals(signum).name)

    if threading.current_thread() is not threading.main_thread() or os.name != "posix":
        return lambda: None
    previous = {sig: signal.signal(sig, quit_) for sig in (signal.SIGTERM, signal.SIGUSR1)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def run_console(
    host: str,
    port: int,
    username: str,
    *,
    show_vc: bool = False,
    interactive: bool | None = None,
    event_log: str | None = None,
) -> int:
    if sys.stdin.isatty():
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401 - importing it gives input() line editing
    console = Console(
        host, port, username, show_vc=show_vc, interactive=interactive, event_log=event_log
    )
    return console.run()
