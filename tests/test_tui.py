"""The full-screen client (client/tui.py).

* The pure parts (ChatState, wrap, MessageView) directly.
* The whole application headless: prompt_toolkit's pipe input and dummy output,
  against a real in-process server, with in-process Alice and Bob and the TUI as
  Charlie. Its state is read on the app thread, after each redraw (the app's own
  ``after_render`` event), so the tests wait on events, not on sleeps.
* The real thing in a real terminal: tmux, polling the screen with a deadline.
* ``STUTTGART_TUI_SCREENSHOT=docs/tui.png`` renders the README's screenshot.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput
from prompt_toolkit.utils import get_cwidth

from stuttgart_chat import Client, Server
from stuttgart_chat.client.events import Delivered, Disconnected, Held, MemberJoined, MemberLeft
from stuttgart_chat.client.tui import (
    PALETTE,
    ChatState,
    ChatTui,
    MessageView,
    sender_colour,
    wrap,
)
from stuttgart_chat.common.holdback import Wait
from stuttgart_chat.common.protocol import Chat
from stuttgart_chat.network import LinkDelay

from .conftest import WAIT

ROOT = Path(__file__).resolve().parent.parent
MakeClient = Callable[..., Client]
T = TypeVar("T")

ENTER = "\r"
CTRL_C = "\x03"
CTRL_D = "\x04"
F2 = "\x1bOQ"
# Far longer than any test: Alice's frames to Charlie stay in the server's outbox
# until the server closes, which flushes them. So "held" lasts exactly as long as the
# test wants, however slow the machine.
FOREVER = 120.0
QUESTION = "Has anyone seen my umbrella?"
ANSWER = "Yes, it is by the door."


def chat(sender: str, text: str, **vc: int) -> Chat:
    return Chat(text=text, vc=vc, sender=sender)


# -- pure parts ------------------------------------------------------------------------


def test_wrap_breaks_at_spaces_and_indents_continuations() -> None:
    rows = wrap([("", "12:00:00 "), ("bold", "Alice"), ("", ": one two three four")], 20, 9)
    text = ["".join(t for _, t, *_ in row) for row in rows]
    assert text == ["12:00:00 Alice: one ", "         two three ", "         four"]
    assert all(len(row) <= 20 for row in text)


def test_wrap_handles_long_words_wide_characters_and_newlines() -> None:
    def rows(text: str, width: int, indent: int = 0) -> list[str]:
        return ["".join(t for _, t, *_ in row) for row in wrap([("", text)], width, indent)]

    assert rows("abcdefghij", 4, 1) == ["abcd", " efg", " hij"]
    assert rows("日本語のテキスト", 7) == ["日本語", "のテキ", "スト"]
    assert rows("one\ntwo\tthree", 40, 2) == ["one", "  two three"]


def test_sender_colour_is_stable_and_from_the_palette() -> None:
    assert sender_colour("Alice") == sender_colour("Alice")
    assert {sender_colour(n) for n in ("Alice", "Bob", "Charlie", "Dave")} <= set(PALETTE)
    # crc32, not the per-process salted hash(): another process agrees.
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            "from stuttgart_chat.client.tui import *; print(sender_colour('Bob'))",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=WAIT,
    )
    assert other.stdout.strip() == sender_colour("Bob")


def test_state_tells_the_hold_back_story() -> None:
    state = ChatState("Charlie", "127.0.0.1", 7711, members=["Alice", "Bob", "Charlie"])
    reply = chat("Bob", "by the door\x1b[2J", Alice=2, Bob=1)
    state.apply(Held(reply, (Wait("Alice", 1, 2),), {}), 0.0)
    assert state.held_view() == ["Bob#1 waits for Alice#1..2"]
    assert state.title() == "Stuttgart Chat — Charlie @ 127.0.0.1:7711 — 3 members — 1 held"
    # One of the two arrives: the view narrows to what is still missing.
    state.apply(Delivered(chat("Alice", "q1", Alice=1), {"Alice": 1}), 0.0)
    assert state.held_view() == ["Bob#1 waits for Alice#2"]
    state.apply(Delivered(chat("Alice", "q2", Alice=2), {"Alice": 2}), 0.0)
    state.apply(Delivered(reply, {"Alice": 2, "Bob": 1}, was_held=True), 0.0)
    assert state.held_view() == []
    assert state.clock == {"Alice": 2, "Bob": 1}
    texts = state.texts()
    assert texts[-2].endswith("▶ released Bob#1 (it waited for Alice#1..2)")
    # Control characters are shown harmless, never sent to the terminal.
    assert texts[-1].endswith("Bob: by the door\ufffd[2J")
    state.show_vc = True
    assert state.texts()[-1].endswith("Bob#1 {Alice:2, Bob:1}")
    own = chat("Charlie", "mine", Alice=2, Bob=1, Charlie=1)
    state.apply(Delivered(own, {"Alice": 2, "Bob": 1, "Charlie": 1}, own=True), 0.0)
    assert "you: mine" in state.texts()[-1]
    state.apply(MemberJoined("Dave"), 0.0)
    state.apply(MemberLeft("Bob", "slow_consumer"), 0.0)
    assert state.members == ["Alice", "Charlie", "Dave"]
    assert state.texts()[-2:][0].endswith("* Dave joined")
    assert state.texts()[-1].endswith("* Bob left (slow_consumer)")
    state.apply(Disconnected("server_closing: bye", code="server_closing"), 0.0)
    assert "* server closed: server_closing: bye" in state.texts()[-2]


def test_message_view_follows_or_holds_still() -> None:
    state = ChatState("Charlie", "h", 1)
    view = MessageView(state)
    for i in range(20):
        state.add("info", f"line {i}")
    assert view.visible_text(40, 5) == [f"line {i}" for i in range(15, 20)]
    view.page_up()  # four rows: one row stays on screen for context
    assert view.visible_text(40, 5) == [f"line {i}" for i in range(11, 16)]
    # New lines while scrolled up do not move what is being read.
    state.add("info", "line 20")
    assert view.visible_text(40, 5) == [f"line {i}" for i in range(11, 16)]
    assert view.unseen == 1
    for _ in range(10):
        view.page_up()
    assert view.visible_text(40, 5) == [f"line {i}" for i in range(0, 5)]  # the top
    for _ in range(10):
        view.page_down()
    assert view.visible_text(40, 5) == [f"line {i}" for i in range(16, 21)]
    assert view.offset == 0 and view.unseen == 0
    # Fewer lines than rows: bottom-aligned, like a chat.
    short = MessageView(ChatState("Charlie", "h", 1))
    short.state.add("info", "only")
    assert short.visible_text(10, 3) == ["", "", "only"]


# -- the application, headless ------------------------------------------------------------


class Headless:
    """A ChatTui run on a thread with a pipe for keyboard and a dummy screen."""

    def __init__(self, tui: ChatTui, keys: PipeInput) -> None:
        self.tui = tui
        self.keys = keys
        self.status: int | None = None
        self.failure: BaseException | None = None
        self.started = threading.Event()
        # Called once the app's loop runs (the public pre-run hook list).
        tui.app.pre_run_callables.append(self.started.set)
        self.thread = threading.Thread(target=self._run, name="test-tui")

    def _run(self) -> None:
        try:
            self.status = self.tui.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self.failure = exc

    def start(self) -> None:
        self.thread.start()
        while not self.started.wait(0.05):
            assert self.thread.is_alive(), f"the TUI ended before it started: {self.status}"

    def on_app(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the app thread (the only thread that touches UI state)."""
        loop = self.tui.app.loop
        assert loop is not None, "the app is not running"
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                result.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                result.set_exception(exc)

        loop.call_soon_threadsafe(call)
        return result.result(WAIT)

    def wait(self, predicate: Callable[[ChatState], bool], what: str) -> None:
        """Wait until ``predicate(state)`` holds, checked on the app thread after every
        redraw (every change, a client event or a key, is followed by one)."""
        app = self.tui.app
        done = threading.Event()

        def check(_: object = None) -> None:
            if not done.is_set() and predicate(self.tui.state):
                done.set()

        def hook() -> None:
            app.after_render += check
            check()

        self.on_app(hook)
        if not done.wait(WAIT):
            lines = "\n".join(self.on_app(self.tui.state.texts))
            raise AssertionError(f"never saw {what}; view:\n{lines}")

    def type(self, text: str) -> None:
        self.keys.send_text(text)

    def typed(self) -> str:
        return self.on_app(lambda: self.tui.input.text)

    def texts(self) -> list[str]:
        return self.on_app(self.tui.state.texts)

    def result(self) -> int:
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the TUI did not exit"
        if self.failure is not None:
            raise self.failure
        assert self.status is not None
        return self.status


@pytest.fixture
def run_tui_headless(no_thread_leak: None) -> Iterator[Callable[..., Headless]]:
    running: list[Headless] = []
    with create_pipe_input() as keys:

        def start(server: Server, name: str = "Charlie", **options: Any) -> Headless:
            tui = ChatTui(*server.address, name, input=keys, output=DummyOutput(), **options)
            headless = Headless(tui, keys)
            running.append(headless)
            headless.start()
            return headless

        try:
            yield start
        finally:
            for headless in running:
                if headless.thread.is_alive():
                    keys.send_text(CTRL_C)
                    headless.thread.join(WAIT)
                assert headless.tui.client is None or not headless.tui.client.connected


def texts_of(state: ChatState) -> str:
    return "\n".join(state.texts())


def test_typing_is_intact_while_messages_arrive(
    make_server: Callable[..., Server],
    make_client: MakeClient,
    run_tui_headless: Callable[..., Headless],
) -> None:
    server = make_server()
    alice, bob = make_client(server, "Alice"), make_client(server, "Bob")
    charlie = run_tui_headless(server)
    charlie.type("half a th")
    charlie.wait(lambda s: charlie.tui.input.text == "half a th", "the typed text")
    for i in range(20):
        alice.send(f"interruption {i}")
        if i < 5:
            charlie.type("ought"[i])  # keys and messages interleaved
    charlie.wait(lambda s: "Alice: interruption 19" in texts_of(s), "Alice's messages")
    assert charlie.typed() == "half a thought"
    texts = charlie.texts()
    assert [t.split(" ", 1)[1] for t in texts if "interruption" in t] == [
        f"Alice: interruption {i}" for i in range(20)
    ]
    # Ctrl-D with text on the line edits, it does not quit.
    charlie.type(CTRL_D + ", finished" + ENTER)
    assert bob.wait_until(lambda: len(bob.messages) == 21, WAIT)
    assert bob.messages[-1].sender == "Charlie"
    assert bob.messages[-1].text == "half a thought, finished"
    charlie.wait(lambda s: s.texts()[-1].endswith("you: half a thought, finished"), "own line")
    assert charlie.typed() == ""
    charlie.type("/quit" + ENTER)
    assert charlie.result() == 0


def test_hold_back_queue_commands_and_server_gone(
    make_server: Callable[..., Server],
    make_client: MakeClient,
    run_tui_headless: Callable[..., Headless],
) -> None:
    server = make_server(link_delays=[LinkDelay("Alice", "Charlie", FOREVER)])
    alice, bob = make_client(server, "Alice"), make_client(server, "Bob")
    charlie = run_tui_headless(server, exit_grace=FOREVER)
    charlie.type("hello from Charlie" + ENTER)
    assert alice.wait_for(1, WAIT) and bob.wait_for(1, WAIT)
    alice.send(QUESTION)
    assert bob.wait_for(2, WAIT)
    bob.send(ANSWER)

    charlie.wait(lambda s: s.held_view() == ["Bob#1 waits for Alice#1"], "Bob#1 held")
    state = charlie.tui.state
    assert charlie.on_app(state.title).endswith("— 3 members — 1 held")
    assert QUESTION not in "\n".join(charlie.texts())
    assert "⏸ held: Bob#1 waits for Alice#1" in charlie.texts()[-1]

    charlie.type("/held" + ENTER)
    charlie.wait(lambda s: f"Bob#1 waits for Alice#1: {ANSWER!r}" in texts_of(s), "/held")
    charlie.type("/who" + ENTER)
    charlie.wait(lambda s: "members: Alice, Bob, Charlie (you)" in texts_of(s), "/who")
    charlie.type("/vc" + ENTER)
    charlie.wait(lambda s: "my clock: {Charlie:1} (message clocks shown" in texts_of(s), "/vc")
    assert any(
        t.endswith("you: hello from Charlie   Charlie#1 {Charlie:1}") for t in charlie.texts()
    )
    charlie.type(F2)
    charlie.wait(lambda s: not s.show_vc, "F2 hides the clocks")
    charlie.type("/help" + ENTER)
    charlie.wait(lambda s: "/held" in texts_of(s) and "PageUp" in texts_of(s), "/help")
    charlie.type("/bogus" + ENTER)
    charlie.wait(lambda s: "unknown command /bogus" in texts_of(s), "unknown command")

    # The server goes: it first flushes Alice's delayed question, which releases Bob's
    # answer, then says why it closes.
    server.close()
    charlie.wait(lambda s: s.disconnected is not None, "the server closing")
    texts = charlie.texts()
    order = [
        next(i for i, t in enumerate(texts) if t.endswith(f"Alice: {QUESTION}")),
        next(i for i, t in enumerate(texts) if "▶ released Bob#1 (it waited for Alice#1)" in t),
        next(i for i, t in enumerate(texts) if t.endswith(f"Bob: {ANSWER}")),
        next(i for i, t in enumerate(texts) if "server closed: server_closing" in t),
    ]
    assert order == sorted(order), texts
    assert charlie.on_app(state.held_view) == []
    assert charlie.on_app(lambda: dict(state.clock)) == {"Alice": 1, "Bob": 1, "Charlie": 1}
    charlie.type("x")  # any key exits, long before the grace period ends
    assert charlie.result() == 1


def test_server_gone_exits_by_itself(
    make_server: Callable[..., Server],
    run_tui_headless: Callable[..., Headless],
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = make_server()
    charlie = run_tui_headless(server, exit_grace=0.2)
    charlie.wait(lambda s: s.members == ["Charlie"], "joined")
    server.close()
    assert charlie.result() == 1
    assert "Charlie: server closed: server_closing" in capsys.readouterr().out


@pytest.mark.parametrize(
    "keys", ["/quit" + ENTER, CTRL_D, CTRL_C], ids=["quit", "ctrl-d", "ctrl-c"]
)
def test_quitting_leaves_the_group(
    keys: str,
    make_server: Callable[..., Server],
    make_client: MakeClient,
    run_tui_headless: Callable[..., Headless],
) -> None:
    server = make_server()
    alice = make_client(server, "Alice")
    charlie = run_tui_headless(server)
    assert alice.wait_until(lambda: "Charlie" in alice.members, WAIT)
    charlie.type(keys)
    assert charlie.result() == 0
    # It said LEAVE: the others see a leave, not a lost connection.
    assert alice.wait_until(lambda: "Charlie" not in alice.members, WAIT)


def test_join_refused_exits_2(
    make_server: Callable[..., Server],
    make_client: MakeClient,
    no_thread_leak: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = make_server()
    make_client(server, "Charlie")
    with create_pipe_input() as keys:
        tui = ChatTui(*server.address, "charlie", input=keys, output=DummyOutput())
        assert tui.run() == 2
    assert "cannot join: join refused (name_taken)" in capsys.readouterr().out


# -- a real terminal ---------------------------------------------------------------------


class Tmux:
    """A private tmux server (its own socket, no config), so tests never touch the
    user's sessions."""

    def __init__(self) -> None:
        self.socket = f"stuttgart-tui-{uuid.uuid4().hex[:8]}"

    def run(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise AssertionError(f"tmux {args}: {result.stderr}")
        return result.stdout

    def start(self, command: str, width: int, height: int) -> None:
        # The shell prints the exit status, and remain-on-exit keeps the pane to read it
        # (tmux's own #{pane_dead_status} is not always filled in by 3.3a).
        self.run(
            "new-session", "-d", "-s", "tui", "-x", str(width), "-y", str(height),
            f"{command}; echo tui-exit-status=$?",
            ";", "set-option", "-t", "tui", "remain-on-exit", "on",
        )  # fmt: skip

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.run("send-keys", "-t", "tui", *(["-l"] if literal else []), *keys)

    def screen(self, *options: str) -> list[str]:
        return self.run("capture-pane", "-p", *options, "-t", "tui").splitlines()

    def wait_screen(
        self, predicate: Callable[[list[str]], bool], what: str, *options: str
    ) -> list[str]:
        # A terminal has no event to wait on; poll its screen, bounded.
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            screen = self.screen(*options)
            if predicate(screen):
                return screen
            time.sleep(0.05)
        raise AssertionError(f"never saw {what}; screen:\n" + "\n".join(self.screen()))

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
        # tmux leaves its socket file behind; -L puts it here.
        directory = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        (directory / self.socket).unlink(missing_ok=True)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip(
            "TMUX IS NOT INSTALLED: the real-terminal test of the full-screen client "
            "cannot run (.ci/run installs it)"
        )
    terminal = Tmux()
    try:
        yield terminal
    finally:
        terminal.kill()


def tui_command(server: Server, name: str, *extra: str) -> str:
    host, port = server.address
    return " ".join(
        [
            f"env PYTHONPATH={shlex.quote(str(ROOT))} PROMPT_TOOLKIT_COLOR_DEPTH=DEPTH_24_BIT",
            shlex.quote(sys.executable),
            "-m",
            "stuttgart_chat.client.tui",
            name,
            "--host",
            host,
            "--port",
            str(port),
            *extra,
        ]
    )


def last_line(screen: list[str]) -> str:
    return next((line.rstrip() for line in reversed(screen) if line.strip()), "")


def test_real_terminal(
    tmux: Tmux, make_server: Callable[..., Server], make_client: MakeClient
) -> None:
    server = make_server(link_delays=[LinkDelay("Alice", "Charlie", FOREVER)])
    alice, bob = make_client(server, "Alice"), make_client(server, "Bob")
    tmux.start(tui_command(server, "Charlie"), 100, 30)
    tmux.wait_screen(lambda s: "3 members" in s[0] and last_line(s) == "Charlie>", "the TUI")

    tmux.keys("half a thought", literal=True)
    tmux.wait_screen(lambda s: last_line(s) == "Charlie> half a thought", "typed text")
    for i in range(5):
        bob.send(f"interruption {i}")
    screen = tmux.wait_screen(lambda s: any("Bob: interruption 4" in x for x in s), "Bob's lines")
    assert [x.split("│")[0].split(" ", 1)[1].rstrip() for x in screen if "interruption" in x] == [
        f"Bob: interruption {i}" for i in range(5)
    ]
    assert last_line(screen) == "Charlie> half a thought"

    alice.send(QUESTION)
    assert bob.wait_for(6, WAIT)
    bob.send(ANSWER)
    screen = tmux.wait_screen(lambda s: any("⏸ Bob#6 waits for Alice#1" in x for x in s), "held")
    assert "1 held" in screen[0]
    assert any("⏸ held: Bob#6 waits for Alice#1" in x for x in screen)
    assert last_line(screen) == "Charlie> half a thought"

    tmux.keys(", finished", literal=True)
    tmux.keys("Enter")
    assert alice.wait_until(
        lambda: any(m.text == "half a thought, finished" for m in alice.messages), WAIT
    )
    tmux.wait_screen(lambda s: any("you: half a thought, finished" in x for x in s), "own line")

    tmux.keys("C-c")
    # With the history ("-S -"): the shell's line may have scrolled off the screen.
    screen = tmux.wait_screen(lambda s: any("tui-exit-status=" in x for x in s), "exit", "-S", "-")
    assert "tui-exit-status=0" in screen
    assert alice.wait_until(lambda: "Charlie" not in alice.members, WAIT)


# -- the README's screenshot ---------------------------------------------------------------


@pytest.mark.skipif(
    not os.environ.get("STUTTGART_TUI_SCREENSHOT"),
    reason="renders the README screenshot: STUTTGART_TUI_SCREENSHOT=docs/tui.png",
)
def test_screenshot(
    tmux: Tmux, make_server: Callable[..., Server], make_client: MakeClient
) -> None:
    pytest.importorskip("PIL", reason="the screenshot needs Pillow")
    # The umbrella scenario, with Charlie's link from Alice slowed down as in the demo.
    server = make_server(link_delays=[LinkDelay("Alice", "Charlie", 5.0)])
    alice, bob = make_client(server, "Alice"), make_client(server, "Bob")
    tmux.start(tui_command(server, "Charlie", "--show-vc"), 110, 26)
    tmux.wait_screen(lambda s: last_line(s) == "Charlie>", "the TUI")
    dave = make_client(server, "Dave")
    dave.send("Hi all, is this the Stuttgart office chat?")
    assert bob.wait_for(1, WAIT)
    bob.send("It is. Welcome, Dave! Is it still raining out there?")
    tmux.wait_screen(lambda s: any("Bob: It is" in x for x in s), "Bob's line")
    tmux.keys("Pouring. I am staying in today.", literal=True)
    tmux.keys("Enter")
    assert alice.wait_for(3, WAIT)
    alice.send("Same here, working from home.")
    tmux.wait_screen(lambda s: any("Alice: Same here" in x for x in s), "Alice's (late) line")
    alice.send(QUESTION)
    assert bob.wait_for(5, WAIT)
    bob.send(ANSWER)
    tmux.wait_screen(lambda s: any("⏸ Bob#2 waits for Alice#2" in x for x in s), "held")
    tmux.keys("Thanks Bob, I will", literal=True)
    tmux.wait_screen(lambda s: last_line(s).endswith("I will"), "typing")
    # -N keeps trailing spaces, so the title and hint bars are drawn full width.
    ansi = tmux.run("capture-pane", "-p", "-e", "-N", "-t", "tui")
    render_png(ansi, 110, 26, ROOT / os.environ["STUTTGART_TUI_SCREENSHOT"])
    tmux.keys("C-c")


# A small ANSI (SGR) renderer: tmux's capture-pane -e gives text with colour codes.

_XTERM16 = [
    (0x1E, 0x1E, 0x1E), (0xCD, 0x31, 0x31), (0x0D, 0xBC, 0x79), (0xE5, 0xE5, 0x10),
    (0x24, 0x72, 0xC8), (0xBC, 0x3F, 0xBC), (0x11, 0xA8, 0xCD), (0xE5, 0xE5, 0xE5),
    (0x66, 0x66, 0x66), (0xF1, 0x4C, 0x4C), (0x23, 0xD1, 0x8B), (0xF5, 0xF5, 0x43),
    (0x3B, 0x8E, 0xEA), (0xD6, 0x70, 0xD6), (0x29, 0xB8, 0xDB), (0xFF, 0xFF, 0xFF),
]  # fmt: skip
_FG = (0xD4, 0xD4, 0xD4)
_BG = (0x1E, 0x1E, 0x1E)
_SGR = re.compile(r"\x1b\[([0-9;:]*)m")


def _colour256(n: int) -> tuple[int, int, int]:
    if n < 16:
        return _XTERM16[n]
    if n < 232:
        n -= 16
        steps = (0, 95, 135, 175, 215, 255)
        return steps[n // 36], steps[n // 6 % 6], steps[n % 6]
    grey = 8 + 10 * (n - 232)
    return grey, grey, grey


def _parse_colour(codes: list[int], i: int) -> tuple[tuple[int, int, int], int]:
    if codes[i + 1] == 5:
        return _colour256(codes[i + 2]), i + 3
    return (codes[i + 2], codes[i + 3], codes[i + 4]), i + 5


def render_png(ansi: str, columns: int, rows: int, path: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont

    font_dir = Path("/usr/share/fonts/truetype/dejavu")
    if not font_dir.is_dir():
        pytest.skip("the screenshot needs the DejaVu fonts (fonts-dejavu-core)")
    regular = ImageFont.truetype(str(font_dir / "DejaVuSansMono.ttf"), 16)
    bold = ImageFont.truetype(str(font_dir / "DejaVuSansMono-Bold.ttf"), 16)
    cell_w = round(regular.getlength("M"))
    cell_h = 21
    pad = 12
    image = Image.new("RGB", (columns * cell_w + 2 * pad, rows * cell_h + 2 * pad), _BG)
    draw = ImageDraw.Draw(image)
    fonts = {
        (False, False): regular,
        (True, False): bold,
        (False, True): ImageFont.truetype(str(font_dir / "DejaVuSansMono-Oblique.ttf"), 16),
        (True, True): ImageFont.truetype(str(font_dir / "DejaVuSansMono-BoldOblique.ttf"), 16),
    }
    # tmux does not repeat the attributes at the start of a line: they carry over.
    fg, bg, is_bold, italic, reverse = _FG, _BG, False, False, False
    for y, line in enumerate(ansi.splitlines()[:rows]):
        x = 0
        for index, piece in enumerate(_SGR.split(line)):
            if index % 2 == 1:
                codes = [int(c) if c else 0 for c in re.split("[;:]", piece)]
                i = 0
                while i < len(codes):
                    code = codes[i]
                    if code == 0:
                        fg, bg, is_bold, italic, reverse = _FG, _BG, False, False, False
                    elif code in (1, 3, 7):
                        is_bold, italic, reverse = (
                            is_bold or code == 1,
                            italic or code == 3,
                            reverse or code == 7,
                        )
                    elif code in (22, 23, 27):
                        is_bold, italic, reverse = (
                            is_bold and code != 22,
                            italic and code != 23,
                            reverse and code != 27,
                        )
                    elif 30 <= code <= 37 or 90 <= code <= 97:
                        fg = _XTERM16[code - 30 if code < 90 else code - 82]
                    elif 40 <= code <= 47 or 100 <= code <= 107:
                        bg = _XTERM16[code - 40 if code < 100 else code - 92]
                    elif code == 39:
                        fg = _FG
                    elif code == 49:
                        bg = _BG
                    elif code in (38, 48):
                        colour, i = _parse_colour(codes, i)
                        if code == 38:
                            fg = colour
                        else:
                            bg = colour
                        continue
                    i += 1
                continue
            for ch in piece:
                width = max(1, get_cwidth(ch))
                front, back = (bg, fg) if reverse else (fg, bg)
                left, top = pad + x * cell_w, pad + y * cell_h
                draw.rectangle([left, top, left + width * cell_w - 1, top + cell_h - 1], fill=back)
                if ch == "│":  # draw box lines edge to edge, whatever the font's metrics
                    middle = left + cell_w // 2
                    draw.line([middle, top, middle, top + cell_h], fill=front)
                elif ch == "⏸":  # not in DejaVu; a terminal takes it from a fallback font
                    for bar in (1, cell_w - 4):
                        draw.rectangle(
                            [left + bar, top + 6, left + bar + 2, top + cell_h - 5], fill=front
                        )
                elif ch != " ":
                    draw.text((left, top + 2), ch, font=fonts[is_bold, italic], fill=front)
                x += width
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def test_long_typed_input_keeps_a_bounded_undo_history() -> None:
    """prompt_toolkit saves the line before every key: without a bound, typing 40k
    characters kept every prefix (800 MB)."""
    from stuttgart_chat.client.tui import _InputBuffer

    buffer = _InputBuffer(multiline=False)
    for _ in range(5_000):
        buffer.save_to_undo_stack()
        buffer.insert_text("x")
    assert buffer.text == "x" * 5_000
    assert len(buffer._undo_stack) <= _InputBuffer.UNDO_LIMIT
    buffer.undo()
    assert buffer.text == "x" * 4_999
