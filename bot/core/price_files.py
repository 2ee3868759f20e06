"""Price paths from CSV files: (timestamp, price) per token, exchange kline files included. Pure.

A file is rows of a timestamp and a price in the book's numeraire. Accepted shapes:

- two columns `timestamp,price` (a header row is optional; any names);
- a header naming a time column (`timestamp`, `time`, `date`, `open_time`) and a price column
  (`close`, `price`);
- exchange klines without a header (Binance: open time, open, high, low, close, …): the first
  column is the time, the fifth the close.

Times are unix seconds or milliseconds (told apart by size) or ISO 8601. The backtest applies each
token's returns from the file's first row to the book's own prices at the start, on a grid of
`step` seconds (the last price at or before each step).
"""

from __future__ import annotations

import bisect
import csv
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime

from bot.core.backtest import Tick
from bot.core.errors import BadInput

TIME_NAMES = ("timestamp", "time", "date", "open_time", "datetime", "unix")
PRICE_NAMES = ("close", "price", "last", "value")
KLINE_CLOSE = 4
MILLISECONDS_FROM = 10**11  # a unix time past this is in milliseconds (year 5138 in seconds)


def _time(text: str, where: str) -> int:
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise BadInput(f"{where}: {text[:40]!r} is neither a unix time nor an ISO 8601 date") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp())
    if not math.isfinite(value) or value < 0:
        raise BadInput(f"{where}: time {text[:40]!r} is not a unix time")
    return int(value / 1000) if value >= MILLISECONDS_FROM else int(value)


def _price(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"{where}: price {text[:40]!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise BadInput(f"{where}: price {text[:40]!r} must be a positive number")
    return value


def read_prices(lines: Iterable[str], source: str) -> list[tuple[int, float]]:
    """(timestamp, price) rows of one file, sorted by time, one price per timestamp (the last).

    Raises:
        BadInput: no rows, a row that is not a time and a price, or an unknown header.
    """
    rows = [row for row in csv.reader(lines) if row and any(cell.strip() for cell in row)]
    if not rows:
        raise BadInput(f"{source}: no rows")
    time_col, price_col = 0, KLINE_CLOSE if len(rows[0]) > KLINE_CLOSE else 1
    first = rows[0][0].strip()
    header = not first.replace(".", "", 1).isdigit() and not _looks_like_date(first)
    if header:
        names = [cell.strip().lower() for cell in rows[0]]
        time_col = next((names.index(n) for n in TIME_NAMES if n in names), 0)
        found = [names.index(n) for n in PRICE_NAMES if n in names]
        if not found and len(names) != 2:
            raise BadInput(f"{source}: the header names no price column ({', '.join(PRICE_NAMES)})")
        price_col = found[0] if found else 1
        rows = rows[1:]
    if len(rows) < 2:
        raise BadInput(f"{source}: a price path needs at least two rows")
    by_time: dict[int, float] = {}
    for number, row in enumerate(rows, start=2 if header else 1):
        where = f"{source} row {number}"
        if len(row) <= max(time_col, price_col):
            raise BadInput(f"{where}: expected a time and a price, got {len(row)} column(s)")
        by_time[_time(row[time_col], where)] = _price(row[price_col], where)
    return sorted(by_time.items())


def _looks_like_date(text: str) -> bool:
    return len(text) >= 10 and text[4] == "-" and text[:4].isdigit()


def spacing(series: Sequence[tuple[int, float]]) -> int:
    """The most common gap between rows (the file's own step), in seconds."""
    gaps: dict[int, int] = {}
    for (t0, _), (t1, _) in itertools.pairwise(series):
        gaps[t1 - t0] = gaps.get(t1 - t0, 0) + 1
    return max(gaps, key=lambda gap: (gaps[gap], -gap))


def ticks(
    series: Mapping[int, Sequence[tuple[int, float]]],
    start_prices: Sequence[float],
    step_s: int,
    base_fee_wei: int,
) -> tuple[Iterator[Tick], int, int]:
    """Ticks every `step_s` over the span all files cover, and (first timestamp, number of steps).

    Args:
        series: by token index, that token's (timestamp, price) rows; others keep their start price.

    Raises:
        BadInput: the files share no span of two steps.
    """
    start = max(rows[0][0] for rows in series.values())
    end = min(rows[-1][0] for rows in series.values())
    steps = (end - start) // step_s + 1 if end >= start else 0
    if steps < 2:
        raise BadInput("the price files overlap for less than two steps; give files covering the same period")
    times = {i: [t for t, _ in rows] for i, rows in series.items()}

    def generate() -> Iterator[Tick]:
        base = {i: _at(series[i], times[i], start) for i in series}
        for n in range(steps):
            at = start + n * step_s
            prices = list(start_prices)
            for i, rows in series.items():
                prices[i] = start_prices[i] * _at(rows, times[i], at) / base[i]
            yield Tick(at, base_fee_wei, tuple(prices))

    return generate(), start, steps


def _at(rows: Sequence[tuple[int, float]], times: Sequence[int], at: int) -> float:
    """The last price at or before `at`."""
    return rows[max(0, bisect.bisect_right(times, at) - 1)][1]
