"""`--set key=value` on a book: a dotted key into its TOML, a TOML value. Pure.

`policy.band=0.03`, `strategy.kind=calendar`, `strategy.every="1w"`, `guards.max_twap_deviation=0.1`.
A value is read as TOML (numbers, booleans, quoted strings, arrays); anything TOML cannot read is
taken as a bare string, so `strategy.every=1w` works unquoted. Setting `strategy.kind` starts the
strategy table afresh (another kind's keys would not validate). The book is validated afterwards,
as a file is: an unknown key or a bad value names the key.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from bot.core.errors import BadInput


def parse_setting(text: str) -> tuple[list[str], Any]:
    """'a.b=value' to (['a', 'b'], value).

    Raises:
        BadInput: no '=', or an empty key part.
    """
    key, sep, raw = text.partition("=")
    path = [part.strip() for part in key.split(".")]
    if not sep or not all(path):
        raise BadInput(f"--set {text!r}: expected key=value, e.g. policy.band=0.03")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return path, value


def with_settings(raw: Mapping[str, Any], settings: Iterable[str]) -> dict[str, Any]:
    """A copy of a book's raw TOML with every `key=value` of `settings` set, in order.

    Raises:
        BadInput: a malformed setting, or a key through something that is not a table.
    """
    out: dict[str, Any] = copy.deepcopy(dict(raw))
    for text in settings:
        path, value = parse_setting(text)
        table = out
        for part in path[:-1]:
            nested = table.setdefault(part, {})
            if not isinstance(nested, dict):
                raise BadInput(f"--set {text!r}: {part} is not a table")
            table = nested
        if path == ["strategy", "kind"] and table.get("kind") != value:
            table.clear()
        table[path[-1]] = value
    return out
