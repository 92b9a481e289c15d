"""Space-time diagrams of event logs (``stuttgart-chat diagram``): layout and HTML.

``layout`` decides what is drawn where (pure), ``render`` writes the page, ``diagram``
reads logs and is the CLI subcommand.
"""

from .diagram import (
    DiagramStats,
    add_diagram_command,
    load_logs,
    render_html,
    run_diagram,
    write_diagram,
)
from .layout import Arrow, ConflictingLogsError, HeldBar, Layout, compute_layout

__all__ = [
    "Arrow",
    "ConflictingLogsError",
    "DiagramStats",
    "HeldBar",
    "Layout",
    "add_diagram_command",
    "compute_layout",
    "load_logs",
    "render_html",
    "run_diagram",
    "write_diagram",
]
