"""``stuttgart-chat diagram``: the layout from real and hand-written logs, the page's
markup, and the page itself in headless Chromium.

The real runs are module fixtures (each runs once): the umbrella story (Alice asks,
Bob answers, Charlie holds Bob#1 until Alice#1 arrives) and a 1,200-message run with
jitter. Hand-written events pin down the rules the real runs cannot force: matching by
causality rather than by label or text, duplicates, broken logs.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stuttgart_chat import create_client, create_server
from stuttgart_chat.common.trace import SERVER_HOST, TraceEvent, TraceFormatError, parse_log
from stuttgart_chat.network import LinkDelay
from stuttgart_chat.viz import (
    ConflictingLogsError,
    DiagramStats,
    Layout,
    add_diagram_command,
    compute_layout,
    load_logs,
    render_html,
    write_diagram,
)
from stuttgart_chat.viz.assets import HOST_PALETTE
from stuttgart_chat.viz.diagram import main as diagram_main
from stuttgart_chat.viz.layout import happened_before
from stuttgart_chat.viz.render import host_colours

WAIT = 20.0
BIG_CLIENTS = ("Alice", "Bob", "Charlie", "Dave")
BIG_MESSAGES = 300  # per client: 1,200 in all


# -- real runs ------------------------------------------------------------------------


def run_umbrella(directory: Path) -> Path:
    """Alice asks, Bob answers; Alice's frames to Charlie are slow, so Charlie gets
    Bob#1 first and holds it until Alice#1 arrives."""
    directory.mkdir(parents=True, exist_ok=True)
    server = create_server(
        link_delays=[LinkDelay("Alice", "Charlie", 0.4)], event_log=directory / "server.log"
    )
    clients = {}
    try:
        for name in ("Alice", "Bob", "Charlie"):
            clients[name] = create_client(
                *server.address, name, event_log=directory / f"{name}.log"
            )
        clients["Alice"].send("Umbrella?")
        assert clients["Bob"].wait_for(1, WAIT)
        clients["Bob"].send("By the door")
        assert clients["Charlie"].wait_for(2, WAIT)
    finally:
        for client in clients.values():
            client.close()
        server.close()
    return directory


def run_big(directory: Path) -> Path:
    """4 clients x 300 messages, sent as fast as possible, with 0-20 ms jitter per frame:
    plenty of overtaking, so plenty of held messages."""
    directory.mkdir(parents=True, exist_ok=True)
    server = create_server(jitter=0.02, seed=1, event_log=directory / "server.log")
    clients = {}
    try:
        for name in BIG_CLIENTS:
            clients[name] = create_client(
                *server.address, name, event_log=directory / f"{name}.log"
            )
        for i in range(BIG_MESSAGES):
            for name in BIG_CLIENTS:
                clients[name].send(f"{name} says {i}")
        total = len(BIG_CLIENTS) * BIG_MESSAGES
        for client in clients.values():
            assert client.wait_for(total, WAIT)
    finally:
        for client in clients.values():
            client.close()
        server.close()
    return directory


@pytest.fixture(scope="module")
def umbrella_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_umbrella(tmp_path_factory.mktemp("umbrella"))


@pytest.fixture(scope="module")
def big_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_big(tmp_path_factory.mktemp("big"))


def logs_in(directory: Path, *names: str) -> list[Path]:
    paths = sorted(directory.glob("*.log"))
    return [p for p in paths if p.stem in names] if names else paths


def events_of(paths: list[Path]) -> list[TraceEvent]:
    events: list[TraceEvent] = []
    for path in paths:
        with path.open(encoding="utf-8") as stream:
            events.extend(parse_log(stream, str(path)))
    return events


# -- hand-written logs ------------------------------------------------------------------


class Sim:
    """Hand-written logs with correct event clocks: what EventLog does, minus files."""

    def __init__(self) -> None:
        self.clocks: dict[str, dict[str, int]] = {}
        self.events: list[TraceEvent] = []

    def record(
        self,
        host: str,
        kind: str,
        message: str | None = None,
        merge: TraceEvent | None = None,
        **details: Any,
    ) -> TraceEvent:
        clock = self.clocks.setdefault(host, {})
        if merge is not None:
            for key, value in merge.clock.items():
                clock[key] = max(clock.get(key, 0), value)
        clock[host] = clock.get(host, 0) + 1
        n = len(self.events)  # wall time only orders the lifelines
        stamp = f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}.000Z"
        event = TraceEvent(host, dict(clock), kind, stamp, message, details)
        self.events.append(event)
        return event


def hand_umbrella(with_server: bool = True) -> list[TraceEvent]:
    """The umbrella story, written by hand (with or without the server's log)."""
    sim = Sim()
    for name in ("Alice", "Bob", "Charlie"):
        sim.record(name, "join")
    a1 = sim.record("Alice", "send", "Alice#1", text="Umbrella?")
    r_a1 = a1
    if with_server:
        received = sim.record(SERVER_HOST, "receive", "Alice#1", merge=a1, text="Umbrella?")
        r_a1 = sim.record(SERVER_HOST, "relay", "Alice#1", merge=received)
    sim.record("Bob", "receive", "Alice#1", merge=r_a1, text="Umbrella?")
    sim.record("Bob", "deliver", "Alice#1")
    b1 = sim.record("Bob", "send", "Bob#1", text="By the door")
    r_b1 = b1
    if with_server:
        received = sim.record(SERVER_HOST, "receive", "Bob#1", merge=b1, text="By the door")
        r_b1 = sim.record(SERVER_HOST, "relay", "Bob#1", merge=received)
    sim.record("Alice", "receive", "Bob#1", merge=r_b1, text="By the door")
    sim.record("Alice", "deliver", "Bob#1")
    sim.record("Charlie", "receive", "Bob#1", merge=r_b1, text="By the door")
    sim.record("Charlie", "hold", "Bob#1", waits=["Alice#1"])
    sim.record("Charlie", "receive", "Alice#1", merge=r_a1, text="Umbrella?")
    sim.record("Charlie", "deliver", "Alice#1")
    sim.record("Charlie", "deliver", "Bob#1", released=True)
    return sim.events


# -- helpers on a layout and on the page ------------------------------------------------


@dataclass(frozen=True)
class Hop:
    source_host: str
    source_kind: str
    target_host: str
    target_kind: str
    message: str


def hops(layout: Layout) -> list[Hop]:
    result = []
    for arrow in layout.arrows:
        s, t = layout.events[arrow.source], layout.events[arrow.target]
        result.append(Hop(s.host, s.kind, t.host, t.kind, arrow.message))
    return sorted(result, key=lambda h: (h.message, h.target_host))


def via_server(message: str, sender: str, recipients: tuple[str, ...]) -> list[Hop]:
    return [Hop(sender, "send", SERVER_HOST, "receive", message)] + [
        Hop(SERVER_HOST, "relay", r, "receive", message) for r in recipients
    ]


UMBRELLA_HOPS = sorted(
    via_server("Alice#1", "Alice", ("Bob", "Charlie"))
    + via_server("Bob#1", "Bob", ("Alice", "Charlie")),
    key=lambda h: (h.message, h.target_host),
)
DIRECT_HOPS = sorted(
    [
        Hop("Alice", "send", "Bob", "receive", "Alice#1"),
        Hop("Alice", "send", "Charlie", "receive", "Alice#1"),
        Hop("Bob", "send", "Alice", "receive", "Bob#1"),
        Hop("Bob", "send", "Charlie", "receive", "Bob#1"),
    ],
    key=lambda h: (h.message, h.target_host),
)


def assert_well_formed(layout: Layout) -> None:
    """Arrows point down, local order is kept, every arrow is a real happens-before."""
    rows = layout.rows
    for arrow in layout.arrows:
        assert rows[arrow.source] < rows[arrow.target]
        assert happened_before(layout.events[arrow.source], layout.events[arrow.target])
        assert layout.events[arrow.source].message == layout.events[arrow.target].message
    last: dict[str, tuple[int, int]] = {}
    for i, event in enumerate(layout.events):
        if event.host in last:
            index, row = last[event.host]
            assert event.index > index and rows[i] > row, event
        last[event.host] = (event.index, rows[i])


def svg_part(page: str) -> str:
    start = page.index('<svg class="diagram"')
    return page[start : page.index("</svg>", start)]


def count(page: str, pattern: str) -> int:
    return len(re.findall(pattern, svg_part(page)))


ARROW_PATH = re.compile(
    r'<path class="arrow [^"]*" data-m="\d+" d="M([\d.]+) ([\d.]+)L([\d.]+) ([\d.]+)"'
)


# -- layout and page from the real umbrella run -------------------------------------------


def test_umbrella_with_every_log(umbrella_dir: Path) -> None:
    events = events_of(logs_in(umbrella_dir))
    layout = compute_layout(events)
    assert set(layout.hosts) == {"Alice", "Bob", "Charlie", SERVER_HOST}
    assert len(layout.events) == len(events)
    assert hops(layout) == UMBRELLA_HOPS
    assert_well_formed(layout)
    (bar,) = layout.held
    hold, deliver = layout.events[bar.hold], layout.events[bar.deliver or 0]
    assert bar.host == "Charlie"
    assert (hold.host, hold.kind, hold.message) == ("Charlie", "hold", "Bob#1")
    assert (deliver.host, deliver.kind, deliver.message) == ("Charlie", "deliver", "Bob#1")
    assert deliver.details.get("released") is True
    assert bar.label == "Bob#1 waits for Alice#1"
    # Concurrency shares rows: the three clients' first events (join) are concurrent.
    first_rows = {layout.rows[layout.events.index(e)] for e in layout.events if e.kind == "join"}
    assert first_rows == {0}


def test_umbrella_page_markup(umbrella_dir: Path) -> None:
    events = events_of(logs_in(umbrella_dir))
    page = render_html(events, title="Umbrella")
    assert count(page, r'<line class="lifeline ') == 4
    assert count(page, r'<line class="lifeline [^"]*server') == 1
    assert count(page, r'<use class="ev ') == len(events)
    assert count(page, r'<path class="arrow ') == 6
    assert count(page, r'<rect class="held') == 1
    assert 'data-arrows="6"' in page and 'data-held="1"' in page
    assert "Bob#1 waits for Alice#1" in page
    arrows = ARROW_PATH.findall(page)
    assert len(arrows) == 6
    for _, y1, _, y2 in arrows:
        assert float(y1) < float(y2)  # every arrow points down
    # The page needs nothing from outside: the only URL is the SVG namespace.
    assert re.findall(r"https?://[^\s\"')]+", page) == ["http://www.w3.org/2000/svg"]
    assert "<link" not in page and "@import" not in page and " src=" not in page
    # Each event's native tooltip carries its vector clock.
    assert count(page, r"<title>[^<]*vector clock \{") == len(events)


def test_umbrella_without_the_server_log(umbrella_dir: Path) -> None:
    layout = compute_layout(events_of(logs_in(umbrella_dir, "Alice", "Bob", "Charlie")))
    assert layout.hosts == ("Alice", "Bob", "Charlie")
    assert hops(layout) == DIRECT_HOPS
    assert [b.label for b in layout.held] == ["Bob#1 waits for Alice#1"]
    assert_well_formed(layout)


def test_umbrella_with_only_the_server_log(umbrella_dir: Path, tmp_path: Path) -> None:
    paths = logs_in(umbrella_dir, "server")
    stats = write_diagram(paths, tmp_path / "server.html")
    assert stats == DiagramStats(lifelines=1, events=len(events_of(paths)), arrows=0, held_bars=0)
    page = (tmp_path / "server.html").read_text(encoding="utf-8")
    assert count(page, r'<line class="lifeline ') == 1
    assert "relay Alice#1" in page


def test_one_concatenated_log_and_repeats_draw_the_same(umbrella_dir: Path, tmp_path: Path) -> None:
    paths = logs_in(umbrella_dir)
    joined = tmp_path / "all.log"
    joined.write_text("".join(p.read_text(encoding="utf-8") for p in paths), encoding="utf-8")
    separate = write_diagram(paths, tmp_path / "a.html")
    assert write_diagram([joined], tmp_path / "b.html") == separate
    assert write_diagram([joined, *paths], tmp_path / "c.html") == separate  # drawn once
    assert separate.arrows == 6 and separate.held_bars == 1 and separate.lifelines == 4


# -- hand-written logs ---------------------------------------------------------------------


def test_hand_written_umbrella_rows() -> None:
    layout = compute_layout(hand_umbrella())
    assert hops(layout) == UMBRELLA_HOPS
    assert_well_formed(layout)
    row = {(e.host, e.kind, e.message): layout.rows[i] for i, e in enumerate(layout.events)}
    assert row[("Alice", "join", None)] == row[("Bob", "join", None)] == 0
    assert row[("Alice", "send", "Alice#1")] == 1
    assert row[(SERVER_HOST, "receive", "Alice#1")] == 2  # right below the send
    assert row[(SERVER_HOST, "relay", "Alice#1")] == 3
    # Alice and Charlie receive Bob#1 concurrently: the same row.
    assert row[("Alice", "receive", "Bob#1")] == row[("Charlie", "receive", "Bob#1")]
    (bar,) = layout.held
    assert layout.rows[bar.hold] < layout.rows[bar.deliver or 0]
    assert bar.host == "Charlie" and bar.waits == ("Alice#1",)
    # Order of the input does not matter.
    assert compute_layout(reversed(hand_umbrella())) == layout


def test_hand_written_without_server() -> None:
    layout = compute_layout(hand_umbrella(with_server=False))
    assert hops(layout) == DIRECT_HOPS
    assert len(layout.held) == 1
    assert_well_formed(layout)


def test_concurrent_sends_share_a_row() -> None:
    sim = Sim()
    a = sim.record("Alice", "send", "Alice#1", text="a")
    b = sim.record("Bob", "send", "Bob#1", text="b")
    sim.record("Alice", "receive", "Bob#1", merge=b)
    sim.record("Bob", "receive", "Alice#1", merge=a)
    layout = compute_layout(sim.events)
    assert layout.rows == (0, 1, 0, 1)
    assert layout.row_count == 2
    assert len(layout.arrows) == 2


def test_hops_are_matched_by_causality_not_by_label_or_text() -> None:
    sim = Sim()
    sim.record("Alice", "send", "Alice#1", text="hi")
    # Bob receives a message labelled Alice#1 whose clock knows nothing of that send
    # (say, from another run): the label matches, the causality does not.
    stranger = TraceEvent("Zed", {"Zed": 1}, "send", "t", "Alice#1")
    sim.record("Bob", "receive", "Alice#1", merge=stranger, text="hi")
    # Same text, other label: never an arrow.
    sim.record("Carol", "receive", "Carol#9", text="hi")
    layout = compute_layout(sim.events)
    assert layout.arrows == ()
    assert_well_formed(layout)


def test_a_receive_takes_the_latest_relay_it_knows() -> None:
    sim = Sim()
    a1 = sim.record("Alice", "send", "Alice#1")
    got = sim.record(SERVER_HOST, "receive", "Alice#1", merge=a1)
    first = sim.record(SERVER_HOST, "relay", "Alice#1", merge=got)
    second = sim.record(SERVER_HOST, "relay", "Alice#1")  # relayed again
    sim.record("Bob", "receive", "Alice#1", merge=first)
    sim.record("Carol", "receive", "Alice#1", merge=second)
    sim.record("Carol", "duplicate", "Alice#1")
    layout = compute_layout(sim.events)
    by_target = {layout.events[a.target].host: layout.events[a.source] for a in layout.arrows}
    assert by_target["Bob"] == first and by_target["Carol"] == second
    assert by_target[SERVER_HOST] == a1
    assert_well_formed(layout)


def test_a_message_held_until_the_end() -> None:
    sim = Sim()
    sim.record("Carol", "join")
    sim.record("Carol", "receive", "Bob#2")
    sim.record("Carol", "hold", "Bob#2", waits=["Bob#1"])
    sim.record("Carol", "receive", "Bob#3")
    sim.record("Carol", "hold", "Bob#3", waits=["Bob#1"])
    sim.record("Carol", "leave", reason="connection lost")
    layout = compute_layout(sim.events)
    assert [(b.deliver, b.lane) for b in layout.held] == [(None, 0), (None, 1)]
    page = render_html(sim.events)
    assert count(page, r'<rect class="held open"') == 2
    assert "(never delivered)" in page


def test_logs_of_two_runs_are_refused(umbrella_dir: Path, tmp_path: Path) -> None:
    other = run_umbrella(tmp_path / "again")  # same names, other times
    with pytest.raises(ConflictingLogsError, match="different runs"):
        compute_layout(events_of(logs_in(umbrella_dir, "Alice") + logs_in(other, "Alice")))
    alices = [str(umbrella_dir / "Alice.log"), str(other / "Alice.log")]
    assert diagram_main([*alices, "-o", str(tmp_path / "mixed.html")]) == 2
    assert not (tmp_path / "mixed.html").exists()


def test_no_events_still_make_a_page() -> None:
    page = render_html([])
    assert page.startswith("<!DOCTYPE html>") and 'data-events="0"' in page


def test_inconsistent_logs_still_render() -> None:
    """Hand-edited clocks that contradict each other must not hang, crash or draw an
    arrow upwards."""
    events = [
        TraceEvent("A", {"A": 1, "B": 2}, "receive", "t", "B#1"),
        TraceEvent("A", {"A": 2}, "send", "t", "A#1"),
        TraceEvent("B", {"B": 1, "A": 2}, "receive", "t", "A#1"),
        TraceEvent("B", {"B": 2}, "send", "t", "B#1"),
    ]
    layout = compute_layout(events)
    assert len(layout.events) == 4
    for arrow in layout.arrows:
        assert layout.rows[arrow.source] < layout.rows[arrow.target]
    assert render_html(events).startswith("<!DOCTYPE html>")


XSS = '</script><script>alert("x")</script><img src=x onerror=alert(1)>&amp;'


def test_user_text_is_escaped() -> None:
    sim = Sim()
    sent = sim.record("Alice", "send", "Alice#1", text=XSS)
    sim.record("Bob", "receive", "Alice#1", merge=sent, text=XSS)
    sim.record("Bob", "hold", "Alice#1", waits=[XSS])
    page = render_html(sim.events, title="<b>title</b>")
    assert "<script>alert" not in page and "<img" not in page and "<b>" not in page
    assert html.escape(XSS[:20]) in page  # the tooltip shows it as text
    # The page has exactly the two script elements it means to have.
    assert page.count("<script") == 2 and page.count("</script>") == 2
    data = re.search(r'<script type="application/json" id="trace-data">(.*?)</script>', page, re.S)
    assert data is not None
    assert json.loads(data.group(1))["texts"]["Alice#1"] == XSS


def test_host_colours_are_stable_and_distinct() -> None:
    names = ["Alice", "Bob", "Charlie", "Dave", "Eve"]
    colours = host_colours(names + [SERVER_HOST])
    assert SERVER_HOST not in colours
    assert len(set(colours.values())) == len(names)
    assert host_colours(list(reversed(names))) == colours
    # A name alone always gets the colour of its crc32 (the same on every machine).
    for name in names:
        assert host_colours([name]) == {name: zlib.crc32(name.encode()) % len(HOST_PALETTE)}


def test_cli_helpers(
    umbrella_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.html"
    assert diagram_main([*map(str, logs_in(umbrella_dir)), "-o", str(out)]) == 0
    assert "4 lifelines" in capsys.readouterr().out and out.exists()
    broken = tmp_path / "broken.log"
    broken.write_text("not a log\n", encoding="utf-8")
    assert diagram_main([str(broken), "-o", str(tmp_path / "x.html")]) == 2
    assert "broken.log:1" in capsys.readouterr().err
    with pytest.raises(TraceFormatError):
        load_logs([broken])
    # cli.main reads args.log_level for every subcommand.
    import argparse

    parser = argparse.ArgumentParser()
    add_diagram_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["diagram", "a.log", "b.log"])
    assert (args.logs, args.output, args.log_level) == (
        ["a.log", "b.log"],
        "diagram.html",
        "WARNING",
    )


# -- a large run ------------------------------------------------------------------------------


def test_a_thousand_messages(big_dir: Path, tmp_path: Path) -> None:
    paths = logs_in(big_dir)
    events = events_of(paths)
    started = time.perf_counter()
    stats = write_diagram(paths, tmp_path / "big.html")
    elapsed = time.perf_counter() - started
    messages = len(BIG_CLIENTS) * BIG_MESSAGES
    holds = sum(1 for e in events if e.kind == "hold")
    assert stats == DiagramStats(
        lifelines=len(BIG_CLIENTS) + 1,
        events=len(events),
        arrows=messages * len(BIG_CLIENTS),  # to the server, and from it to 3 others
        held_bars=holds,
    )
    assert holds > 0, "the jitter should have made some messages wait"
    assert elapsed < 10, f"rendering took {elapsed:.1f} s"
    size = (tmp_path / "big.html").stat().st_size
    assert size < 1_000 * len(events), f"{size} bytes for {len(events)} events"
    assert_well_formed(compute_layout(events))


# -- the page in a real browser ----------------------------------------------------------------

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """Debian's chromium (``$CHROMIUM`` overrides), or None."""
    candidate = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return candidate if os.path.isfile(candidate) and os.access(candidate, os.X_OK) else None


@dataclass
class Browser:
    page: Any
    problems: list[str]
    dialogs: list[str]

    def open(self, path: Path) -> None:
        self.problems.clear()
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_function("document.readyState === 'complete'")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("BROWSER TEST SKIPPED: chromium not installed: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(
            "BROWSER TEST SKIPPED: playwright not installed: .venv/bin/pip install playwright "
            "(its wheel bundles the driver; do not run `playwright install`)"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        with contextlib.closing(chromium):
            page = chromium.new_page(viewport={"width": 1000, "height": 700})
            problems: list[str] = []
            dialogs: list[str] = []
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning", "assert")
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))

            def on_dialog(dialog: Any) -> None:
                dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            yield Browser(page, problems, dialogs)


def test_browser_umbrella(browser: Browser, umbrella_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "umbrella.html"
    stats = write_diagram(logs_in(umbrella_dir), out, "Umbrella: Alice asks, Bob answers")
    browser.open(out)
    page = browser.page
    assert page.locator("#diagram .lifeline").count() == 4
    assert page.locator("#diagram .lifeline.server").count() == 1
    assert page.locator("#hosts .host").count() == 4
    assert page.locator("#diagram .arrow").count() == 6
    assert page.locator("#diagram .held").count() == 1
    assert page.locator("#diagram .ev").count() == stats.events
    # Hover Charlie's hold: the panel shows the event and its vector clock.
    layout = compute_layout(events_of(logs_in(umbrella_dir)))
    (index,) = [i for i, e in enumerate(layout.events) if e.kind == "hold"]
    hold = layout.events[index]
    page.hover(f'#diagram .ev[data-i="{index}"]')
    info = page.locator("#info-body")
    text = info.inner_text()
    assert "Charlie" in text and "hold" in text and "Bob#1" in text and "Alice#1" in text
    assert "By the door" in text
    order = {h: i for i, h in enumerate(layout.hosts)}
    clock = ", ".join(
        f"{k}: {v}" for k, v in sorted(hold.clock.items(), key=lambda kv: order[kv[0]])
    )
    assert info.get_attribute("data-clock") == "{" + clock + "}"
    for host, value in hold.clock.items():
        assert f"{host}\t{value}" in text
    # Native tooltip too.
    title = page.locator(f'#diagram .ev[data-i="{index}"] > title').text_content() or ""
    assert "vector clock {" in title and "waits for Alice#1" in title
    # Hovering highlights the message's hops.
    assert page.locator("#diagram .arrow.hl").count() == 3
    # Zoom: buttons and ctrl + wheel.
    width = page.locator("#canvas").bounding_box()["width"]
    page.click("#zoom-in")
    assert page.locator("#zoom-level").inner_text() == "125%"
    assert page.locator("#canvas").bounding_box()["width"] == pytest.approx(width * 1.25, rel=0.01)
    page.mouse.move(300, 300)
    page.keyboard.down("Control")
    page.mouse.wheel(0, 400)
    page.keyboard.up("Control")
    page.wait_for_function("document.getElementById('zoom-level').textContent !== '125%'")
    page.click("#zoom-reset")
    assert page.locator("#zoom-level").inner_text() == "100%"
    assert browser.problems == [] and browser.dialogs == []


def test_browser_escapes_user_text(browser: Browser, tmp_path: Path) -> None:
    sim = Sim()
    sent = sim.record("Alice", "send", "Alice#1", text=XSS)
    sim.record("Bob", "receive", "Alice#1", merge=sent, text=XSS)
    out = tmp_path / "xss.html"
    out.write_text(render_html(sim.events, title=XSS), encoding="utf-8")
    browser.open(out)
    page = browser.page
    page.hover('#diagram .ev[data-i="1"]')
    assert XSS in page.locator("#info-body").inner_text()
    assert page.title() == XSS
    assert page.locator("img").count() == 0 and page.locator("script").count() == 2
    assert browser.dialogs == []
    assert browser.problems == []


def test_browser_large_run(browser: Browser, big_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "big.html"
    stats = write_diagram(logs_in(big_dir), out)
    started = time.perf_counter()
    browser.open(out)
    loaded = time.perf_counter() - started
    page = browser.page
    assert page.locator("#diagram .arrow").count() == stats.arrows
    assert page.locator("#diagram .held").count() == stats.held_bars
    assert loaded < 15, f"the page took {loaded:.1f} s to load"
    # The host header stays on top while the diagram scrolls.
    page.evaluate("document.getElementById('scroller').scrollTop = 20000")
    header = page.locator("#hosts").bounding_box()
    scroller = page.locator("#scroller").bounding_box()
    assert header is not None and scroller is not None
    assert header["y"] == pytest.approx(scroller["y"], abs=1)
    page.click("#zoom-fit")  # fits the width: 5 lifelines are wider than the window
    assert page.locator("#zoom-level").inner_text() != "100%"
    assert browser.problems == []
