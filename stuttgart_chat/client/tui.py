"""The full-screen terminal client, on prompt_toolkit.

Layout::

    Stuttgart Chat — Charlie @ 127.0.0.1:7711 — 3 members — 1 held       (title bar)
    21:34:01 Bob: Morning!                        │ MY CLOCK
    21:34:03 ⏸ held: Bob#2 waits for Alice#1      │   Bob      1
    ...                                           │ MEMBERS · 3
                                                  │ HOLD-BACK QUEUE · 1
                                                  │   ⏸ Bob#2 waits for Alice#1
    Enter send · PgUp/PgDn scroll · F2 clocks · /help · Ctrl-D quit     (hint bar)
    Charlie> what I am typing                                           (input line)

Three parts, so the interesting logic is testable without a terminal:

* ``ChatState``: a plain object with what the screen shows (message lines, the
  hold-back queue view, our clock, the members). It knows nothing of prompt_toolkit
  and is changed only by ``apply(event)`` and ``submit(text)``.
* ``MessageView``: a prompt_toolkit control that wraps and scrolls the lines itself,
  so it can follow the newest line, or hold still while the user reads older ones.
* ``ChatTui``: the application. Client events arrive on the client's threads; they
  only go into a queue, and the app thread applies them (``call_soon_threadsafe``),
  so UI state is only ever touched by the app thread and the input line is never
  written over.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import queue
import signal
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.keys import Keys
from prompt_toolkit.layout import (
    ConditionalContainer,
    Dimension,
    FormattedTextControl,
    HSplit,
    Layout,
    VSplit,
    Window,
)
from prompt_toolkit.layout.controls import BufferControl, UIContent, UIControl
from prompt_toolkit.layout.processors import BeforeInput
from prompt_toolkit.output import Output
from prompt_toolkit.styles import Style
from prompt_toolkit.utils import get_cwidth

from ..common.errors import ChatError
from ..common.holdback import Wait
from ..common.protocol import Chat
from .console import HELP, clean, format_clock
from .events import ClientEvent, Delivered, Disconnected, Duplicate, Held, MemberJoined, MemberLeft
from .main import Client, create_client

# Okabe & Ito's palette, which stays distinguishable with the common colour-vision
# deficiencies (black left out: it is the usual background).
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")

# Enough to scroll back through a long session; bounded so memory is too.
MAX_LINES = 10_000
# The side panel lists at most this many held messages (the count is in the title).
MAX_HELD_SHOWN = 50
# The side panel is hidden on terminals narrower than this, to leave room for text.
SIDE_PANEL_MIN_COLUMNS = 70
SIDE_PANEL_WIDTH = 32
# After the server went away: how long the reason stays up before the client exits
# by itself (any key exits sooner). The demo's tmux panes close when it does.
EXIT_GRACE = 3.0
# "HH:MM:SS ": wrapped continuation rows are indented past the time stamp.
_STAMP_WIDTH = 9

TUI_HELP = (
    HELP
    + "\n  //text        sends /text (a line starting with /)"
    + "\nkeys: PageUp/PageDown scroll; F2 or /vc shows/hides each message's clock;"
    + " Ctrl-C or Ctrl-D quits"
)

LineKind = Literal["chat", "system", "held", "released", "duplicate", "info", "error"]


def sender_colour(name: str) -> str:
    """The same colour for a name in every client and every run (``hash()`` is salted
    per process, crc32 is not)."""
    return PALETTE[zlib.crc32(name.encode("utf-8")) % len(PALETTE)]


def remaining_waits(waits: Iterable[Wait], clock: dict[str, int]) -> tuple[Wait, ...]:
    """What a held message still waits for, given our clock now.

    ``Held.waits`` is what was missing when the message arrived; deliveries since
    then may have filled part of it (Alice#1..3 becomes Alice#3 after two arrive).
    """
    left = []
    for wait in waits:
        have = clock.get(wait.member, 0)
        if have < wait.last:
            left.append(Wait(wait.member, max(wait.first, have + 1), wait.last))
    return tuple(left)


class _InputBuffer(Buffer):
    """The input line, with a bounded undo history.

    prompt_toolkit saves the whole line for undo before every key press, so typing
    (or pasting without bracketed paste) a long text kept every prefix of it: 40,000
    characters took 800 MB. The last ``UNDO_LIMIT`` states are plenty for a chat line.
    """

    UNDO_LIMIT = 100

    def save_to_undo_stack(self, clear_redo_stack: bool = True) -> None:
        super().save_to_undo_stack(clear_redo_stack)
        # A private list of prompt_toolkit's, trimmed in place.
        if len(self._undo_stack) > self.UNDO_LIMIT:
            del self._undo_stack[: -self.UNDO_LIMIT]


@dataclass(frozen=True, eq=False)
class Line:
    """One entry of the message view, before styling and wrapping."""

    kind: LineKind
    text: str
    stamp: str = ""
    sender: str | None = None
    own: bool = False
    label: str | None = None
    vc: dict[str, int] | None = None

    def fragments(self, show_vc: bool) -> StyleAndTextTuples:
        """The styled text of this line (``show_vc``: append label and clock)."""
        parts: StyleAndTextTuples = []
        if self.stamp:
            parts.append(("class:time", self.stamp + " "))
        if self.kind == "chat" and self.sender is not None:
            who = "you" if self.own else self.sender
            parts.append((f"bold fg:{sender_colour(self.sender)}", who))
            parts.append(("", ": " + self.text))
            if show_vc and self.label is not None and self.vc is not None:
                parts.append(("class:vc", f"   {self.label} {format_clock(self.vc)}"))
        else:
            parts.append((f"class:{self.kind}", self.text))
        return parts

    def plain(self, show_vc: bool = False) -> str:
        """The text as shown, without styles (for tests and logs)."""
        return "".join(text for _, text, *_ in self.fragments(show_vc))


@dataclass
class HeldEntry:
    message: Chat
    waits: tuple[Wait, ...]


@dataclass(frozen=True)
class Submitted:
    """What the app must do with a submitted input line."""

    send: str | None = None
    quit: bool = False


@dataclass
class ChatState:
    """What the screen shows; no prompt_toolkit, no threads, no sockets.

    Only the app thread changes it (tests change it directly).
    """

    username: str
    host: str
    port: int
    members: list[str] = field(default_factory=list)
    clock: dict[str, int] = field(default_factory=dict)
    show_vc: bool = False
    lines: deque[Line] = field(default_factory=lambda: deque(maxlen=MAX_LINES))
    # Held messages by label, in arrival order.
    held: dict[str, HeldEntry] = field(default_factory=dict)
    disconnected: Disconnected | None = None
    # Lines ever added: the message view tells new lines from old with it, even once
    # the oldest have been dropped.
    appended: int = 0

    # -- what the panels show ----------------------------------------------------------

    def title(self, short: bool = False) -> str:
        """``Stuttgart Chat — Alice @ 127.0.0.1:7711 — 3 members — 1 held``; ``short``
        leaves out the name of the program and the address (narrow terminals)."""
        count = len(self.members)
        parts = [
            f"{count} member{'' if count == 1 else 's'}",
            f"{len(self.held)} held",
        ]
        if self.disconnected is not None:
            parts.append("disconnected")
        if short:
            return " — ".join([self.username, *parts])
        return " — ".join(["Stuttgart Chat", f"{self.username} @ {self.host}:{self.port}", *parts])

    def held_view(self) -> list[str]:
        """Each held message as ``Bob#2 waits for Alice#1``, in arrival order."""
        return [line for _, line in self.held_entries()]

    def held_entries(self) -> list[tuple[HeldEntry, str]]:
        """Each held message with its ``held_view`` line."""
        entries = []
        for label, entry in self.held.items():
            waits = ", ".join(map(str, remaining_waits(entry.waits, self.clock)))
            entries.append((entry, f"{label} waits for {waits}"))
        return entries

    def texts(self) -> list[str]:
        """Every line as plain text (as shown with the current ``show_vc``)."""
        return [line.plain(self.show_vc) for line in self.lines]

    # -- changes -------------------------------------------------------------------------

    def add(self, kind: LineKind, text: str, *, now: float | None = None) -> None:
        stamp = "" if now is None else _stamp(now)
        for part in text.split("\n"):
            self.append_line(Line(kind, part, stamp))

    def append_line(self, line: Line) -> None:
        self.lines.append(line)
        self.appended += 1

    def merge_clock(self, clock: dict[str, int]) -> None:
        # Entry-wise max: events that happened before our starting snapshot may be
        # applied after it, and must not move the clock back.
        for member, count in clock.items():
            if count > self.clock.get(member, 0):
                self.clock[member] = count

    def apply(self, event: ClientEvent, now: float) -> None:
        """Show one client event."""
        stamp = _stamp(now)
        if isinstance(event, Delivered):
            message = event.message
            self.merge_clock(event.clock)
            entry = self.held.pop(message.label, None)
            if event.was_held:
                waited = f" (it waited for {', '.join(map(str, entry.waits))})" if entry else ""
                self.append_line(Line("released", f"▶ released {message.label}{waited}", stamp))
            self.append_line(
                Line(
                    "chat",
                    clean(message.text),
                    stamp,
                    sender=message.sender,
                    own=event.own,
                    label=message.label,
                    vc=dict(message.vc),
                )
            )
        elif isinstance(event, Held):
            self.merge_clock(event.clock)
            self.held[event.message.label] = HeldEntry(event.message, event.waits)
            self.append_line(Line("held", f"⏸ {event.describe()}", stamp))
        elif isinstance(event, Duplicate):
            self.append_line(Line("duplicate", f"✕ {event.describe()}", stamp))
        elif isinstance(event, MemberJoined):
            if event.username not in self.members:
                self.members.append(event.username)
            self.append_line(Line("system", f"* {event.describe()}", stamp))
        elif isinstance(event, MemberLeft):
            if event.username in self.members:
                self.members.remove(event.username)
            self.append_line(Line("system", f"* {event.describe()}", stamp))
        elif isinstance(event, Disconnected):
            if event.by_us:
                return  # we are leaving; nothing to tell
            self.disconnected = event
            what = "server closed" if event.code is not None else "disconnected"
            self.append_line(Line("error", f"* {what}: {event.reason}", stamp))
            self.append_line(Line("error", "* press any key to exit", stamp))

    def submit(self, text: str, now: float) -> Submitted:
        """Handle one input line: a /command is answered here; chat text is returned
        for the app to send."""
        if not text.strip():
            return Submitted()
        if text.startswith("//"):
            return Submitted(send=text[1:])
        if not text.startswith("/"):
            return Submitted(send=text)
        name = text.split()[0].lower()
        if name in ("/quit", "/exit"):
            return Submitted(quit=True)
        if name == "/help":
            self.add("info", TUI_HELP, now=now)
        elif name == "/who":
            who = [f"{m} (you)" if m == self.username else m for m in self.members]
            self.add("info", "members: " + ", ".join(who), now=now)
        elif name == "/vc":
            self.show_vc = not self.show_vc
            shown = "shown" if self.show_vc else "hidden"
            self.add(
                "info",
                f"my clock: {format_clock(self.clock)} (message clocks {shown}; F2 toggles)",
                now=now,
            )
        elif name == "/held":
            if not self.held:
                self.add("info", "hold-back queue: empty", now=now)
            for entry, shown_line in self.held_entries():
                self.add("info", f"  {shown_line}: {clean(entry.message.text)!r}", now=now)
        else:
            self.add("info", f"unknown command {name}; /help lists the commands", now=now)
        return Submitted()

    def toggle_vc(self) -> None:
        self.show_vc = not self.show_vc


def _stamp(now: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(now))


# -- wrapping and scrolling -------------------------------------------------------------


def wrap(fragments: StyleAndTextTuples, width: int, indent: int = 0) -> list[StyleAndTextTuples]:
    """Break styled text into screen rows of at most ``width`` cells.

    Breaks after the last space that fits when there is one, otherwise anywhere;
    continuation rows start with ``indent`` spaces. Wide characters count two cells;
    a newline always starts a new row; a tab becomes a space.
    """
    width = max(1, width)
    indent = min(indent, width // 2)
    rows: list[StyleAndTextTuples] = []
    row: StyleAndTextTuples = []
    first = 0  # index in ``row`` of its first character of text (after the indent)
    lead = 0  # cells before ``first``
    used = 0

    def new_row(carry: StyleAndTextTuples) -> None:
        nonlocal row, first, lead, used
        rows.append(row)
        row = [("", " " * indent)] if indent else []
        first = len(row)
        lead = indent
        row.extend(carry)
        used = indent + _cells(carry)

    for style, text, *_ in fragments:
        for ch in text:
            if ch == "\n":
                new_row([])
                continue
            if ch == "\t":
                ch = " "
            cells = get_cwidth(ch)
            if used + cells > width and used > lead:
                # Move the word being written to the next row, if it fits there.
                spaces = [i for i in range(first + 1, len(row)) if row[i][1] == " "]
                carry: StyleAndTextTuples = []
                if spaces and indent + _cells(row[spaces[-1] + 1 :]) + cells <= width:
                    carry = row[spaces[-1] + 1 :]
                    del row[spaces[-1] + 1 :]
                new_row(carry)
            row.append((style, ch))
            used += cells
    rows.append(row)
    return rows


def _cells(fragments: StyleAndTextTuples) -> int:
    return sum(get_cwidth(text) for _, text, *_ in fragments)


class MessageView(UIControl):
    """The message lines, wrapped, bottom-aligned like a chat, and scrollable.

    ``offset`` is how many rows the view is scrolled up from the newest. At 0 it
    follows new lines. Above 0 it holds still: new lines below raise the offset by
    their height, so the rows being read do not move.
    """

    def __init__(self, state: ChatState) -> None:
        self.state = state
        self.offset = 0
        self.unseen = 0  # lines that arrived while scrolled up
        self._seen = state.appended
        self._height = 1
        self._width = 80

    def _rows(self, line: Line, width: int) -> list[StyleAndTextTuples]:
        indent = _STAMP_WIDTH if line.stamp else 0
        return wrap(line.fragments(self.state.show_vc), width, indent)

    def create_content(self, width: int, height: int) -> UIContent:
        state = self.state
        self._width, self._height = width, max(1, height)
        new = min(state.appended - self._seen, len(state.lines))
        self._seen = state.appended
        if self.offset > 0 and new > 0:
            self.unseen += new
            for index in range(len(state.lines) - new, len(state.lines)):
                self.offset += len(self._rows(state.lines[index], width))
        # Wrap from the newest line back, only as far as the view needs: the cost of
        # a redraw depends on the screen, not on the length of the history.
        needed = self.offset + height
        chunks: list[list[StyleAndTextTuples]] = []
        count = 0
        for index in range(len(state.lines) - 1, -1, -1):
            rows = self._rows(state.lines[index], width)
            chunks.append(rows)
            count += len(rows)
            if count >= needed:
                break
        rows = [row for chunk in reversed(chunks) for row in chunk]
        self.offset = max(0, min(self.offset, len(rows) - height))
        if self.offset == 0:
            self.unseen = 0
        end = len(rows) - self.offset
        visible = rows[max(0, end - height) : end]
        visible = [[] for _ in range(height - len(visible))] + visible
        return UIContent(get_line=lambda i: visible[i], line_count=len(visible))

    def page_up(self) -> None:
        self.offset += max(1, self._height - 1)

    def page_down(self) -> None:
        self.offset = max(0, self.offset - max(1, self._height - 1))

    def follow(self) -> None:
        self.offset = 0
        self.unseen = 0

    def visible_text(self, width: int, height: int) -> list[str]:
        """The rows as they would be drawn (tests)."""
        content = self.create_content(width, height)
        return [
            "".join(text for _, text, *_ in content.get_line(i)) for i in range(content.line_count)
        ]


def side_panel(state: ChatState) -> StyleAndTextTuples:
    """Our clock, the members and the hold-back queue."""
    parts: StyleAndTextTuples = [("class:heading", " MY CLOCK\n")]
    if not state.clock:
        parts.append(("class:dim", "   {} nothing delivered yet\n"))
    name_width = min(16, max((len(m) for m in state.clock), default=0))
    for member, count in sorted(state.clock.items()):
        parts.append(("", f"   {member:<{name_width}} "))
        parts.append(("bold", f"{count}\n"))
    parts.append(("", "\n"))
    parts.append(("class:heading", f" MEMBERS · {len(state.members)}\n"))
    for member in state.members:
        parts.append((f"fg:{sender_colour(member)}", "   ● "))
        parts.append(("", member))
        parts.append(("class:dim", " (you)\n" if member == state.username else "\n"))
    parts.append(("", "\n"))
    parts.append(("class:heading", f" HOLD-BACK QUEUE · {len(state.held)}\n"))
    if not state.held:
        parts.append(("class:dim", "   empty\n"))
    shown = state.held_entries()
    for entry, line in shown[:MAX_HELD_SHOWN]:
        parts.append(("class:held", f"   ⏸ {line}\n"))
        text = clean(entry.message.text).replace("\n", " ")
        if len(text) > SIDE_PANEL_WIDTH - 8:
            text = text[: SIDE_PANEL_WIDTH - 9] + "…"
        parts.append(("class:dim", f"     “{text}”\n"))
    if len(shown) > MAX_HELD_SHOWN:
        parts.append(("class:dim", f"   … and {len(shown) - MAX_HELD_SHOWN} more\n"))
    return parts


STYLE = Style.from_dict(
    {
        "title": "reverse bold",
        "hint": "reverse",
        "time": "#888888",
        "vc": "#888888 italic",
        "dim": "#888888",
        "heading": "bold underline",
        "held": "#E69F00 bold",
        "released": "#009E73 bold",
        "duplicate": "#888888",
        "system": "italic",
        "info": "",
        "error": "#D55E00 bold",
        "prompt": "bold",
        "separator": "#666666",
    }
)


# -- the application -----------------------------------------------------------------------


class _LogToView(logging.Handler):
    """While the full screen is up, a log line on stderr would be drawn over it; show
    errors in the message view instead. (The view already shows held, released, left
    and disconnected itself, so warnings and below would only repeat it.)"""

    def __init__(self, post: Callable[[Line], None]) -> None:
        super().__init__(logging.ERROR)
        self._post = post

    def emit(self, record: logging.LogRecord) -> None:
        self._post(Line("error", f"! {record.getMessage()}", _stamp(record.created)))


class ChatTui:
    """One client in a full-screen terminal UI. ``run()`` returns the exit status.

    ``input``/``output`` default to the terminal; tests pass a pipe and a dummy.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        *,
        show_vc: bool = False,
        event_log: str | Path | None = None,
        exit_grace: float = EXIT_GRACE,
        input: Input | None = None,
        output: Output | None = None,
    ) -> None:
        self.host, self.port, self.username = host, port, username
        self.event_log = event_log
        self.exit_grace = exit_grace
        self.state = ChatState(username, host, port, show_vc=show_vc)
        self.view = MessageView(self.state)
        self.client: Client | None = None
        # Events from the client's threads wait here for the app thread.
        self._inbox: queue.SimpleQueue[ClientEvent | Line] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.input = _InputBuffer(
            multiline=False, accept_handler=self._accept, history=InMemoryHistory()
        )
        self.app: Application[int] = Application(
            layout=self._layout(),
            key_bindings=self._key_bindings(),
            style=STYLE,
            full_screen=True,
            input=input,
            output=output,
        )

    # -- layout and keys -------------------------------------------------------------

    def _layout(self) -> Layout:
        state = self.state
        wide = Condition(lambda: self.app.output.get_size().columns >= SIDE_PANEL_MIN_COLUMNS)
        input_window = Window(
            BufferControl(
                self.input,
                input_processors=[BeforeInput(lambda: f"{state.username}> ", "class:prompt")],
            ),
            height=Dimension(min=1, max=4),
            wrap_lines=True,
            dont_extend_height=True,
        )
        body = VSplit(
            [
                Window(self.view, wrap_lines=False),
                ConditionalContainer(
                    VSplit(
                        [
                            Window(width=1, char="│", style="class:separator"),
                            Window(
                                FormattedTextControl(lambda: side_panel(state)),
                                width=SIDE_PANEL_WIDTH,
                                wrap_lines=True,
                            ),
                        ]
                    ),
                    filter=wide,
                ),
            ]
        )
        root = HSplit(
            [
                Window(FormattedTextControl(self._title), height=1, style="class:title"),
                body,
                Window(FormattedTextControl(self._hint), height=1, style="class:hint"),
                input_window,
            ]
        )
        return Layout(root, focused_element=input_window)

    def _title(self) -> StyleAndTextTuples:
        title = " " + self.state.title()
        if get_cwidth(title) > self.app.output.get_size().columns:
            title = " " + self.state.title(short=True)
        return [("class:title", title)]

    def _hint(self) -> StyleAndTextTuples:
        if self.state.disconnected is not None:
            text = (
                f"server gone — press any key to exit (it exits by itself in {self.exit_grace:g} s)"
            )
        elif self.view.offset > 0:
            new = f" · {self.view.unseen} new below" if self.view.unseen else ""
            text = f"scrolled up{new} — PgDn to follow"
        else:
            text = "Enter send · PgUp/PgDn scroll · F2 clocks · /help · Ctrl-D quit"
        return [("class:hint", " " + text)]

    def _key_bindings(self) -> KeyBindings:
        keys = KeyBindings()
        empty = Condition(lambda: not self.input.text)
        gone = Condition(lambda: self.state.disconnected is not None)

        @keys.add("c-c")
        @keys.add(Keys.SIGINT)
        def _interrupt(event: KeyPressEvent) -> None:
            self._finish(0)

        # As in a shell: Ctrl-D quits on an empty line and deletes forward otherwise.
        @keys.add("c-d", filter=empty)
        def _end(event: KeyPressEvent) -> None:
            self._finish(0)

        @keys.add("pageup")
        def _page_up(event: KeyPressEvent) -> None:
            self.view.page_up()

        @keys.add("pagedown")
        def _page_down(event: KeyPressEvent) -> None:
            self.view.page_down()

        @keys.add("f2")
        def _toggle_vc(event: KeyPressEvent) -> None:
            self.state.toggle_vc()

        # Registered last and eager: once the server is gone every key means "exit".
        @keys.add(Keys.Any, filter=gone, eager=True)
        def _any(event: KeyPressEvent) -> None:
            self._finish(1)

        return keys

    # -- input -------------------------------------------------------------------------

    def _accept(self, buffer: Buffer) -> bool:
        action = self.state.submit(buffer.text, time.time())
        if action.quit:
            self._finish(0)
        elif action.send is not None and self.client is not None:
            try:
                # The Delivered event for our own message comes back through the
                # inbox, in order with everything else.
                self.client.send(action.send)
            except ChatError as exc:
                self.state.add("error", f"* not sent: {exc}", now=time.time())
        # Anything typed after the user scrolled up means "back to the conversation".
        self.view.follow()
        return False  # clear the input line

    # -- events from the client's threads ------------------------------------------------

    def _post(self, item: ClientEvent | Line) -> None:
        """Any thread: queue an item for the app thread and wake it."""
        self._inbox.put(item)
        loop = self._loop
        if loop is not None:
            # The loop closes when the app ends; an event after that is dropped
            # (the client is being closed anyway).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        """App thread: apply every queued item, then redraw once."""
        changed = False
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            changed = True
            if isinstance(item, Line):
                self.state.append_line(item)
            else:
                self.state.apply(item, time.time())
                if isinstance(item, Disconnected) and not item.by_us and self._loop:
                    self._loop.call_later(self.exit_grace, self._finish, 1)
        if changed:
            self.app.invalidate()

    def _finish(self, code: int) -> None:
        """App thread: end the app (once); 1 whenever the server has gone."""
        if self.state.disconnected is not None:
            code = 1
        future = self.app.future
        if future is not None and not future.done():
            self.app.exit(result=code)

    def _started(self) -> None:
        """App thread, once the loop runs: take queued events, catch termination."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        if threading.current_thread() is threading.main_thread():
            # SIGTERM (run_demo stopping) or SIGHUP (the window closed): leave the
            # group properly instead of vanishing.
            for sig in (signal.SIGTERM, signal.SIGHUP):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(sig, self._finish, 0)
        self._drain()

    def _stopped(self) -> None:
        # Signal handlers went with the loop (asyncio removes them when it closes).
        self._loop = None

    # -- the run -----------------------------------------------------------------------

    def run(self) -> int:
        try:
            client = create_client(
                self.host,
                self.port,
                self.username,
                on_event=self._post,
                event_log=self.event_log,
            )
        except ChatError as exc:
            print(f"cannot join: {exc}", flush=True)
            return 2
        self.client = client
        state = self.state
        # The server's spelling of our name; the starting snapshot of members and
        # clock (events already queued are applied on top of it, which is safe: see
        # ChatState.merge_clock).
        state.username = client.username
        state.members = client.members
        state.merge_clock(client.vc)
        state.add(
            "info",
            f"* joined {self.host}:{self.port} as {client.username}. /help lists the commands",
            now=time.time(),
        )
        logger = logging.getLogger("stuttgart_chat")
        handler = _LogToView(self._post)
        propagate = logger.propagate
        logger.addHandler(handler)
        logger.propagate = False
        code = 0
        try:
            code = self.app.run(pre_run=self._started, set_exception_handler=False)
        except (EOFError, KeyboardInterrupt, OSError):
            # The terminal went away (closed window, hangup): still leave properly.
            code = 1 if state.disconnected is not None else 0
        finally:
            self._stopped()
            logger.removeHandler(handler)
            logger.propagate = propagate
            client.close()  # sends LEAVE if still connected
        if state.disconnected is not None:
            # The full screen is gone; leave the reason on the terminal.
            what = "server closed" if state.disconnected.code else "disconnected"
            with contextlib.suppress(OSError):
                print(f"{state.username}: {what}: {state.disconnected.reason}", flush=True)
        return code


def run_tui(
    host: str,
    port: int,
    username: str,
    *,
    show_vc: bool = False,
    event_log: str | Path | None = None,
) -> int:
    """Run the full-screen client on this terminal until the user quits or the server
    goes away. Returns the exit status: 0 quit, 1 server gone, 2 could not join."""
    return ChatTui(host, port, username, show_vc=show_vc, event_log=event_log).run()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stuttgart_chat.client.tui NAME``: the full-screen client alone."""
    parser = argparse.ArgumentParser(prog="python -m stuttgart_chat.client.tui")
    parser.add_argument("name")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7711)
    parser.add_argument("--show-vc", action="store_true")
    parser.add_argument("--event-log", metavar="FILE")
    args = parser.parse_args(argv)
    return run_tui(args.host, args.port, args.name, show_vc=args.show_vc, event_log=args.event_log)


if __name__ == "__main__":
    sys.exit(main())
