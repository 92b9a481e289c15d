"""``stuttgart-chat diagram LOG... -o run.html``: a space-time diagram of event logs.

Why a diagram of our own when the logs already paste into ShiViz: ShiViz is a web app
to open and paste into, while this page is one file that a test, a CI job or a bug
report can produce and keep, and it knows the chat's hops (client -> server -> client)
and draws the hold-back queue's waits, which ShiViz cannot tell apart from any event.

The public pieces:

* ``load_logs(paths)``: events of one or more logs (``-`` reads standard input);
* ``render_html(events, title)``: the page, as a string;
* ``write_diagram(paths, output)``: both, written to a file, returning what it drew;
* ``add_diagram_command(subparsers)`` / ``run_diagram(args)``: the CLI subcommand.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..common.trace import TraceEvent, TraceFormatError, parse_log
from .layout import compute_layout
from .render import DiagramStats, render_html, render_layout, stats_of

__all__ = [
    "DiagramStats",
    "add_diagram_command",
    "default_title",
    "load_logs",
    "render_html",
    "run_diagram",
    "write_diagram",
]


def load_logs(paths: Iterable[str | Path]) -> list[TraceEvent]:
    """All events of the logs at ``paths``, file after file (``-``: standard input).

    Order does not matter to the diagram, nor do repeats: the same log given twice
    (or also inside a concatenation) is drawn once.

    Raises:
        OSError: a file cannot be read.
        TraceFormatError: a file is not an event log (with file name and line).
    """
    events: list[TraceEvent] = []
    for path in paths:
        if str(path) == "-":
            events.extend(parse_log(sys.stdin, source="<stdin>"))
            continue
        with open(path, encoding="utf-8") as stream:
            events.extend(parse_log(stream, source=str(path)))
    return events


def default_title(paths: Sequence[str | Path]) -> str:
    names = [Path(p).name if str(p) != "-" else "stdin" for p in paths]
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return f"Stuttgart Chat event diagram: {shown}" if shown else "Stuttgart Chat event diagram"


def write_diagram(
    paths: Sequence[str | Path], output: str | Path, title: str | None = None
) -> DiagramStats:
    """Read the logs at ``paths`` and write their diagram to ``output``.

    Returns the counts of what was drawn (lifelines, events, arrows, held bars).

    Raises:
        OSError: a log cannot be read, or ``output`` cannot be written.
        TraceFormatError: a log is not in the event log format.
    """
    layout = compute_layout(load_logs(paths))
    page = render_layout(layout, title if title is not None else default_title(paths))
    Path(output).write_text(page, encoding="utf-8")
    return stats_of(layout)


def add_diagram_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``diagram`` to the CLI's subparsers (the object ``add_subparsers`` returns).

    Sets ``log_level`` too, because ``cli.main`` configures logging from it for every
    subcommand before dispatching.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "diagram",
        help="draw event logs as an HTML space-time diagram",
        description=(
            "Draw event logs (written with --event-log) as one self-contained HTML page: a "
            "lifeline per host, an arrow per message hop, a bar per held message."
        ),
    )
    parser.add_argument(
        "logs", nargs="+", metavar="LOG", help="event log files ('-' reads standard input)"
    )
    parser.add_argument(
        "-o",
        "--output",
        default="diagram.html",
        metavar="FILE",
        help="the HTML file to write (default: diagram.html)",
    )
    parser.add_argument("--title", default=None, help="page title (default: from the file names)")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING, ...")
    return parser


def run_diagram(args: argparse.Namespace) -> int:
    """The ``diagram`` subcommand: 0 on success, 2 on unreadable or malformed input."""
    try:
        stats = write_diagram(args.logs, args.output, args.title)
    except (OSError, TraceFormatError) as exc:
        print(f"stuttgart-chat diagram: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}: {stats.describe()}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The subcommand on its own (``main(["a.log", "-o", "x.html"])``), until and
    besides its wiring into ``cli.py``."""
    parser = argparse.ArgumentParser(prog="stuttgart-chat")
    add_diagram_command(parser.add_subparsers(dest="command", required=True))
    return run_diagram(parser.parse_args(["diagram", *(sys.argv[1:] if argv is None else argv)]))
