"""How a table reaches the person reading it: drawn by rich, with colour, on a terminal; plain
aligned text in a pipe, in a file, with NO_COLOR set (https://no-color.org), or where rich is not
installed (the keeper's lean runtime: `pip install ammkeeper[pretty]` adds it)."""

from __future__ import annotations

import importlib.util
import io
import os
import sys


def styled() -> bool:
    """Whether output goes to a terminal that wants colour, and rich is there to draw it."""
    return (
        sys.stdout.isatty()
        and not os.environ.get("NO_COLOR")
        and os.environ.get("TERM") != "dumb"
        and importlib.util.find_spec("rich") is not None
    )


def rich_grid(header: list[str], rows: list[list[str]]) -> list[str]:
    """The table drawn by rich: the first column left-aligned, the rest right-aligned, a bold header."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, header_style="bold cyan", pad_edge=False)
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    out = io.StringIO()
    Console(file=out, force_terminal=True, color_system="standard", width=10_000).print(table)
    lines = out.getvalue().split("\n")
    return [line.rstrip() for line in lines if line.strip()]  # no blank border rows
