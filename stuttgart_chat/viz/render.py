"""Turns a ``Layout`` into one self-contained HTML page (inline SVG, CSS and script).

Why one file with nothing external: the diagram is attached to bug reports and opened
from disk, offline, long after the run. So no CDN, no web font, no fetch; the page's
data travels inside it as JSON.

Why the markup is lean: a run of 1,000 messages logs over 10,000 events. Every repeated
element carries only classes and coordinates (styling is in the stylesheet; the event
shapes are ``<use>`` of a few symbols), and the details the info panel shows are one
JSON array the script reads, not attributes on every node.

Everything that came from a log is user input (message texts, names, details) and is
escaped: ``html.escape`` in markup, and ``<``/``>``/``&`` as ``\\uXXXX`` in the JSON,
so ``</script>`` in a message cannot end the data block. The script only ever assigns
``textContent``.
"""

from __future__ import annotations

import html
import json
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..common.trace import SERVER_HOST, TraceEvent
from .assets import CSS, HOST_PALETTE, JS, SERVER_COLOUR
from .layout import HOLD, SEND, Layout, compute_layout

COLUMN = 176  # px between lifelines at zoom 1
ROW = 30  # px between logical-time rows
TOP = 26  # px above the first row
BOTTOM = 30
LEFT = 48
RIGHT = 180  # room for the last column's labels
DOT = 6  # radius of an event's shape

LABEL_CHARS = 26  # what fits between two lifelines at 11.5px
HELD_LABEL_CHARS = 24  # the same, bold
TITLE_TEXT_CHARS = 300

KNOWN_KINDS = frozenset(
    {
        "send",
        "receive",
        "relay",
        "hold",
        "deliver",
        "duplicate",
        "join",
        "leave",
        "member-joined",
        "member-left",
    }
)

# Shapes centred on (0, 0); fill and stroke come from the kind's CSS class.
_SYMBOLS = {
    "send": '<circle r="6.5"/>',
    "receive": '<circle r="5.5"/>',
    "relay": '<path d="M0-7.5L7.5 0 0 7.5-7.5 0z"/>',
    "hold": '<rect x="-6" y="-6" width="12" height="12" rx="1.5"/>',
    "deliver": '<circle r="5.5"/>',
    "duplicate": '<path d="M-5-5L5 5M5-5L-5 5"/>',
    "join": '<path d="M-6-5H6L0 6z"/>',
    "leave": '<rect x="-5" y="-5" width="10" height="10"/>',
    "member-joined": '<circle r="4"/>',
    "member-left": '<circle r="4"/>',
    "other": '<circle r="4"/>',
}

LEGEND_KINDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("send",), "send: a client sends"),
    (("receive",), "receive: a frame arrives"),
    (("relay",), "relay: the server multicasts"),
    (("hold",), "hold: waits in the hold-back queue"),
    (("deliver",), "deliver: shown to the user"),
    (("duplicate",), "duplicate: dropped"),
    (("join", "leave"), "this client joins, leaves"),
    (("member-joined",), "another member joins or leaves"),
)


@dataclass(frozen=True)
class DiagramStats:
    """What a rendered diagram contains: for the CLI's summary line and for tests."""

    lifelines: int
    events: int
    arrows: int
    held_bars: int

    def describe(self) -> str:
        def n(count: int, word: str) -> str:
            return f"{count} {word}{'' if count == 1 else 's'}"

        return ", ".join(
            (
                n(self.lifelines, "lifeline"),
                n(self.events, "event"),
                n(self.arrows, "arrow"),
                n(self.held_bars, "held bar"),
            )
        )


def stats_of(layout: Layout) -> DiagramStats:
    return DiagramStats(
        lifelines=len(layout.hosts),
        events=len(layout.events),
        arrows=len(layout.arrows),
        held_bars=len(layout.held),
    )


def host_colours(hosts: Sequence[str]) -> dict[str, int]:
    """A palette index per client host, from a hash of its name (stable across runs and
    machines: crc32, not ``hash()``). Two names whose hashes collide in one diagram
    take the next free colour, in name order, while the palette lasts."""
    taken: set[int] = set()
    colours: dict[str, int] = {}
    size = len(HOST_PALETTE)
    for host in sorted(h for h in hosts if h != SERVER_HOST):
        start = zlib.crc32(host.encode("utf-8")) % size
        choice = start
        if len(taken) < size:
            while choice in taken:
                choice = (choice + 1) % size
        taken.add(choice)
        colours[host] = choice
    return colours


def _num(value: float) -> str:
    """Coordinates with at most one decimal: most of the file is numbers."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _kind_class(kind: str) -> str:
    return kind if kind in KNOWN_KINDS else "other"


def _json_for_script(value: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _dense_clock(clock: dict[str, int], key_index: dict[str, int]) -> list[int]:
    """The clock as a list aligned with the page's key list (trailing zeros cut): a
    third the size of a JSON object, for the 10,000 events of a long run."""
    dense = [0] * len(key_index)
    for key, value in clock.items():
        dense[key_index[key]] = value
    while dense and dense[-1] == 0:
        dense.pop()
    return dense


def _clock_text(clock: dict[str, int], keys: Sequence[str]) -> str:
    order = {k: i for i, k in enumerate(keys)}
    items = sorted(clock.items(), key=lambda kv: order.get(kv[0], len(order)))
    return "{" + ", ".join(f"{k}: {v}" for k, v in items if v) + "}"


def _message_texts(events: Iterable[TraceEvent]) -> dict[str, str]:
    """Text per message label, from whichever event carried it (send or receive), so
    that hold and deliver events, which log no text, can show it too."""
    texts: dict[str, str] = {}
    for event in events:
        text = event.details.get("text")
        if event.message is not None and isinstance(text, str):
            texts.setdefault(event.message, text)
    return texts


def _event_label(event: TraceEvent, texts: dict[str, str]) -> str:
    if event.kind == SEND and event.message is not None:
        text = texts.get(event.message)
        room = LABEL_CHARS - 3 - len(event.message)  # bold, and two quotes
        quoted = f" \u201c{_short(text, room)}\u201d" if text and room >= 4 else ""
        return _short(f"{event.message}{quoted}", LABEL_CHARS - 2)
    if event.kind == "member-joined" and event.message:
        return _short(f"{event.message} joined", LABEL_CHARS)
    if event.kind == "member-left" and event.message:
        return _short(f"{event.message} left", LABEL_CHARS)
    if event.message:
        return _short(f"{event.kind} {event.message}", LABEL_CHARS)
    return event.kind


def _event_title(event: TraceEvent, texts: dict[str, str], keys: Sequence[str]) -> str:
    lines = [f"{event.host}: {event.kind}" + (f" {event.message}" if event.message else "")]
    if event.message and event.message in texts:
        lines.append(f"\u201c{_short(texts[event.message], TITLE_TEXT_CHARS)}\u201d")
    waits = event.details.get("waits")
    if isinstance(waits, list):
        lines.append("waits for " + (", ".join(str(w) for w in waits) or "\u2014"))
    lines.append("vector clock " + _clock_text(event.clock, keys))
    return "\n".join(lines)


def render_layout(layout: Layout, title: str) -> str:
    """The page for an already computed layout (``render_html`` computes it)."""
    hosts = layout.hosts
    # Authors too: Alice's arrows keep her colour even when her own log is missing.
    authors = {arrow.message.rsplit("#", 1)[0] for arrow in layout.arrows}
    colours = host_colours(sorted(set(hosts) | authors))
    column = {host: i for i, host in enumerate(hosts)}

    def colour_class(host: str) -> str:
        return "cs" if host == SERVER_HOST else f"c{colours[host]}"

    x_of = {host: LEFT + i * COLUMN for i, host in enumerate(hosts)}
    width = LEFT + max(len(hosts) - 1, 0) * COLUMN + RIGHT
    height = TOP + max(layout.row_count - 1, 0) * ROW + BOTTOM

    def y_of(index: int) -> float:
        return TOP + layout.rows[index] * ROW

    events = layout.events
    texts = _message_texts(events)
    keys = list(hosts) + sorted({k for e in events for k in e.clock} - set(hosts))
    key_index = {k: i for i, k in enumerate(keys)}  # hosts first: their entries come first
    message_ids: dict[str, int] = {}
    for event in events:
        if event.message is not None:
            message_ids.setdefault(event.message, len(message_ids))

    out: list[str] = []
    add = out.append
    esc = html.escape

    # Lanes: server band, faint full-height guides, then each host's active span.
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, event in enumerate(events):
        first.setdefault(event.host, i)
        last[event.host] = i
    add('<g class="lanes">')
    for host in hosts:
        x = x_of[host]
        if host == SERVER_HOST:
            add(f'<rect class="band" x="{x - 22}" y="0" width="44" height="{height}"/>')
        add(f'<line class="guide" x1="{x}" y1="0" x2="{x}" y2="{height}"/>')
    for i, host in enumerate(hosts):
        x = x_of[host]
        server = " server" if host == SERVER_HOST else ""
        add(
            f'<line class="lifeline {colour_class(host)}{server}" data-host="{i}" '
            f'x1="{x}" y1="{_num(y_of(first[host]) - 14)}" '
            f'x2="{x}" y2="{_num(y_of(last[host]) + 14)}"/>'
        )
    add("</g>")

    # Held bars under everything that moves, each with its label at the hold.
    add('<g class="bars">')
    for bar in layout.held:
        x = x_of[bar.host] - 5 - 7 * min(bar.lane, 6)
        y1 = y_of(bar.hold)
        y2 = y_of(bar.deliver) if bar.deliver is not None else y_of(last[bar.host]) + 14
        state = "" if bar.deliver is not None else " open"
        label = bar.label if bar.deliver is not None else f"{bar.label} (never delivered)"
        add(
            f'<rect class="held{state}" data-host="{column[bar.host]}" '
            f'data-m="{message_ids[bar.message]}" x="{_num(x)}" y="{_num(y1)}" width="10" '
            f'height="{_num(max(y2 - y1, 4))}" rx="3"><title>{esc(label)}</title></rect>'
        )
    add("</g>")

    # Arrows: from the edge of the source dot to the edge of the target dot.
    add('<g class="arrows">')
    for arrow in layout.arrows:
        source, target = events[arrow.source], events[arrow.target]
        x1, y1 = x_of[source.host], y_of(arrow.source)
        x2, y2 = x_of[target.host], y_of(arrow.target)
        dx, dy = x2 - x1, y2 - y1
        length = (dx * dx + dy * dy) ** 0.5 or 1.0
        ux, uy = dx / length, dy / length
        author = arrow.message.rsplit("#", 1)[0]
        cls = colour_class(author) if author in colours else "cs"
        add(
            f'<path class="arrow {cls}" data-m="{message_ids[arrow.message]}" '
            f'd="M{_num(x1 + ux * DOT)} {_num(y1 + uy * DOT)}'
            f'L{_num(x2 - ux * (DOT + 1))} {_num(y2 - uy * (DOT + 1))}"/>'
        )
    add("</g>")

    # Events, then the labels on top of everything: their white halo keeps them
    # readable where arrows cross them.
    add('<g class="events">')
    for i, event in enumerate(events):
        kind = _kind_class(event.kind)
        m = f' data-m="{message_ids[event.message]}"' if event.message is not None else ""
        add(
            f'<use class="ev k-{kind}" href="#s-{kind}" x="{x_of[event.host]}" '
            f'y="{_num(y_of(i))}" data-i="{i}"{m} tabindex="0">'
            f"<title>{esc(_event_title(event, texts, keys))}</title></use>"
        )
    add("</g>")
    held_at = {bar.hold: bar for bar in layout.held}
    add('<g class="labels">')
    for i, event in enumerate(events):
        x, y = x_of[event.host] + 12, _num(y_of(i) + 4)
        if event.kind == HOLD and i in held_at:
            bar = held_at[i]
            label = esc(_short(bar.label, HELD_LABEL_CHARS))
            add(f'<text class="held-label" x="{x}" y="{y}">{label}</text>')
            continue
        send = " send" if event.kind == SEND else ""
        add(f'<text class="lb{send}" x="{x}" y="{y}">{esc(_event_label(event, texts))}</text>')
    add("</g>")
    body_svg = "".join(out)

    data = {
        "hosts": list(hosts),
        "colours": [colour_class(h) for h in hosts],
        "keys": keys,
        "texts": texts,
        "events": [
            [
                column[e.host],
                e.kind,
                e.message,
                e.time,
                _dense_clock(e.clock, key_index),
                {k: v for k, v in e.details.items() if k != "text"} or 0,
            ]
            for e in events
        ],
    }
    stats = stats_of(layout)
    return _page(
        title=title,
        stats=stats,
        hosts=hosts,
        colour_class=colour_class,
        x_of=x_of,
        width=width,
        height=height,
        body_svg=body_svg,
        used_colours=sorted(set(colours.values())),
        data_json=_json_for_script(data),
    )


def _defs(used_colours: Sequence[int]) -> str:
    symbols = "".join(f'<g id="s-{kind}">{shape}</g>' for kind, shape in _SYMBOLS.items())
    markers = []
    for cls, colour in [("cs", SERVER_COLOUR)] + [(f"c{i}", HOST_PALETTE[i]) for i in used_colours]:
        markers.append(
            f'<marker id="m-{cls}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" '
            f'markerHeight="9" markerUnits="userSpaceOnUse" orient="auto">'
            f'<path d="M0 0L10 5 0 10z" fill="{colour}"/></marker>'
        )
    return f"<defs>{symbols}{''.join(markers)}</defs>"


def _colour_css(used_colours: Sequence[int]) -> str:
    rules = [f".cs{{--c:{SERVER_COLOUR}}}.arrow.cs{{marker-end:url(#m-cs)}}"]
    for i in used_colours:
        rules.append(f".c{i}{{--c:{HOST_PALETTE[i]}}}.arrow.c{i}{{marker-end:url(#m-c{i})}}")
    return "\n".join(rules)


def _legend() -> str:
    def item(icons: str, text: str) -> str:
        return f'<li><span class="icons">{icons}</span>{html.escape(text)}</li>'

    def icon(inner: str, box: str = "0 0 18 18") -> str:
        return f'<svg width="18" height="18" viewBox="{box}" aria-hidden="true">{inner}</svg>'

    items = [
        item(
            "".join(
                icon(f'<use class="k-{kind}" href="#s-{kind}" stroke-width="1.6"/>', "-9 -9 18 18")
                for kind in kinds
            ),
            text,
        )
        for kinds, text in LEGEND_KINDS
    ]
    items.append(
        item(
            icon(
                '<path class="arrow" d="M1 3L13 13"/><path d="M11 16L17 17 15 11z" fill="#0072B2"/>'
            ),
            "a message hop, in its author\u2019s colour",
        )
    )
    items.append(
        item(
            icon('<rect class="held" x="4" y="0" width="10" height="18" rx="3"/>'),
            "held: hold to deliver",
        )
    )
    items.append(
        item(
            icon(
                '<rect class="band" x="0" y="0" width="18" height="18"/>'
                '<line class="lifeline server cs" x1="9" y1="0" x2="9" y2="18"/>'
            ),
            "the server\u2019s lifeline",
        )
    )
    return (
        '<section class="legend"><h2>Legend</h2><ul>'
        + "".join(items)
        + '</ul><p class="note">Top to bottom is logical time: an event sits below '
        "everything it depends on, so arrows point down and concurrent events can share "
        "a row. Zoom: Ctrl + wheel, or + and \u2212.</p></section>"
    )


def _page(
    *,
    title: str,
    stats: DiagramStats,
    hosts: Sequence[str],
    colour_class: Callable[[str], str],
    x_of: dict[str, int],
    width: int,
    height: int,
    body_svg: str,
    used_colours: Sequence[int],
    data_json: str,
) -> str:
    esc = html.escape
    header = "".join(
        f'<div class="host {colour_class(h)}{" server" if h == SERVER_HOST else ""}" '
        f'style="--x:{x_of[h]}px" title="{esc(h)}">{esc(h)}</div>'
        for h in hosts
    )
    summary = (
        f"{stats.lifelines} lifelines \u00b7 {stats.events} events \u00b7 "
        f"{stats.arrows} arrows \u00b7 {stats.held_bars} held"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title>"
        f"<style>{CSS}\n{_colour_css(used_colours)}</style></head>\n<body>"
        f'<header class="top"><h1>{esc(title)}</h1><span class="summary">{summary}</span>'
        '<div class="zoom" role="group" aria-label="zoom">'
        '<span class="hint">Ctrl + wheel</span>'
        '<button type="button" id="zoom-out" title="Zoom out (-)" aria-label="Zoom out">'
        "\u2212</button>"
        '<output id="zoom-level">100%</output>'
        '<button type="button" id="zoom-in" title="Zoom in (+)" aria-label="Zoom in">+</button>'
        '<button type="button" id="zoom-reset" title="Actual size (0)">1:1</button>'
        '<button type="button" id="zoom-fit" title="Fit the width of the window">Fit</button>'
        "</div></header>\n"
        f'<main class="scroller" id="scroller" style="--w:{width}px;--col:{COLUMN}px">'
        f'<div class="hosts" id="hosts">{header}</div>'
        f'<div class="canvas" id="canvas" style="width:{width}px;height:{height}px">'
        f'<svg class="diagram" id="diagram" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'data-width="{width}" data-height="{height}" data-lifelines="{stats.lifelines}" '
        f'data-events="{stats.events}" data-arrows="{stats.arrows}" '
        f'data-held="{stats.held_bars}" aria-label="{esc(title)}">'
        f"{_defs(used_colours)}{body_svg}</svg></div></main>\n"
        '<aside class="side"><section><h2>Event</h2><div class="info" id="info" '
        'aria-live="polite"><div id="info-body"><p class="empty">Hover over or tab to an '
        "event to see its host, message and vector clock.</p></div></div></section>"
        f"{_legend()}</aside>\n"
        f'<script type="application/json" id="trace-data">{data_json}</script>\n'
        f"<script>{JS}</script>\n</body></html>\n"
    )


def render_html(events: Iterable[TraceEvent], title: str = "Stuttgart Chat: event diagram") -> str:
    """A self-contained HTML page drawing ``events`` (from any number of hosts' logs)."""
    return render_layout(compute_layout(events), title)
