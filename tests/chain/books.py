"""Book files for CLI tests: the world's example book, optionally changed, written to a temp dir."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from anvil.world import ensure_world
from bot.core.address_book import AddressBook
from bot.tx.journal import Journal, default_path
from tests.chain.conftest import World


def write_book(tmp_path: Path, change: Any = None) -> Path:
    """The world's example book, optionally changed, as a TOML file."""
    text = ensure_world().config.read_text()
    if change is None:
        path = tmp_path / "book.toml"
        path.write_text(text)
        return path
    raw = tomllib.loads(text)
    change(raw)
    path = tmp_path / "changed.toml"
    path.write_text(_toml(raw))
    return path


def _toml(raw: dict[str, Any]) -> str:
    """A small TOML writer for the book's shapes (tables, arrays of tables, inline tables)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return str(v)

    lines = [f"{json.dumps(k)} = {value(v)}" for k, v in raw.items() if not isinstance(v, dict | list)]
    for key, v in raw.items():
        if isinstance(v, dict):
            lines.append(f"[{key}]")
            lines += [f"{json.dumps(k)} = {value(x)}" for k, x in v.items()]
        elif isinstance(v, list):
            for item in v:
                lines.append(f"[[{key}]]")
                lines += [f"{json.dumps(k)} = {value(x)}" for k, x in item.items()]
    return "\n".join(lines) + "\n"


def open_journal(book: Path) -> Journal:
    """The journal beside a book file."""
    return Journal.open(default_path(book))


def journal_records(book: Path) -> list[dict[str, Any]]:
    """Every run of the book's journal in full, newest first."""
    with open_journal(book) as journal:
        return [journal.run_record(r["id"]) for r in journal.runs(limit=journal.count("runs"))]


def vault_holdings(world: World, book: AddressBook | None = None) -> dict[str, int]:
    """The vault's balance of every book token and its LP in every book pair, by address.

    Args:
        book: the address book of the tokens and pairs (default: the world's).
    """
    book = book or world.book
    vault = book.accounts["vault"]
    tokens = {
        e.address: world.token(e.address).functions.balanceOf(vault).call() for e in book.tokens.values()
    }
    lp = {e.address: world.pair(e.address).functions.balanceOf(vault).call() for e in book.pairs.values()}
    return tokens | lp
