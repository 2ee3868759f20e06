"""The dashboard's pages: one HTML shell per page; `dashboard_static/` holds our script and style,
which fill the pages from the JSON endpoints and keep them current."""

from __future__ import annotations

from html import escape
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "dashboard_static"
PAGES = ("book", "history", "keeper")
TITLES = {"book": "Book", "history": "History", "keeper": "Keeper"}


def page(name: str, book: str, controls: bool, on_chain: bool = False) -> str:
    """The page `name` of the book's dashboard; `controls`: the pause and resume buttons are on it;
    `on_chain`: so is the choice to pause the vault itself (served by a keeper, which has the key)."""
    nav = " ".join(f'<a href="/{p}"{" class=here" if p == name else ""}>{TITLES[p]}</a>' for p in PAGES)
    buttons = (
        '<section id="controls"><h2>Controls</h2>'
        '<label>token <input id="token" type="password" autocomplete="off"></label> '
        '<label>reason <input id="reason" type="text" maxlength="200"></label> '
        + (
            '<label><input id="on-chain" type="checkbox"> also pause the vault on-chain (only its owner '
            "can unpause it)</label> "
            if on_chain
            else ""
        )
        + '<button id="pause" type="button">Pause</button> '
        '<button id="resume" type="button">Resume</button> <span id="control-said"></span></section>'
        if controls
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(book)} · {TITLES[name]} · ammkeeper</title>
<link rel="stylesheet" href="/static/dashboard.css">
<script src="/static/chart.js" defer></script>
<script src="/static/dashboard.js" defer></script>
</head><body data-page="{name}">
<header><strong>ammkeeper</strong> · {escape(book)} <nav>{nav}</nav>
<span id="live" title="updated on each head">…</span></header>
<main id="page">{buttons}</main>
</body></html>
"""
