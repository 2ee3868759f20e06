"""Price paths from CSV: plain files, headers, exchange klines; each token's returns on the book's prices."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core import price_files
from bot.core.errors import BadInput
from bot.keeper.backtest_run import file_history, histories
from tests.unit.test_backtest import SLEEVES
from tests.unit.views import make_book

BOOK = make_book(SLEEVES, policy={"band": 0.05})
T0 = 1_700_000_000


def test_klines_headers_and_plain_rows() -> None:
    kline = [
        f"{(T0 + 3600 * i) * 1000},1,2,0.5,{3000 + i},10,{(T0 + 3600 * i) * 1000 + 3599999},1,2,3,4,0"
        for i in range(3)
    ]
    assert price_files.read_prices(kline, "k") == [(T0, 3000.0), (T0 + 3600, 3001.0), (T0 + 7200, 3002.0)]
    header = ["open_time,open,high,low,close,volume", f"{T0},1,1,1,2.5,0", f"{T0 + 60},1,1,1,2.75,0"]
    assert price_files.read_prices(header, "h") == [(T0, 2.5), (T0 + 60, 2.75)]
    plain = ["timestamp,price", "2023-11-14T22:13:20Z,5", f"{T0 + 60},6"]
    assert price_files.read_prices(plain, "p") == [(T0, 5.0), (T0 + 60, 6.0)]
    assert price_files.read_prices([f"{T0 + 60},2", f"{T0},1", f"{T0 + 60},3"], "u") == [
        (T0, 1.0),
        (T0 + 60, 3.0),
    ]


@pytest.mark.parametrize(
    ("lines", "says"),
    [
        ([], "no rows"),
        ([f"{T0},1"], "at least two rows"),
        (["when,what,other", f"{T0},1,2", f"{T0},1,2"], "names no price column"),
        ([f"{T0},1", f"{T0 + 60},-2"], "row 2: price '-2' must be a positive number"),
        ([f"{T0},1", "yesterday,2"], "row 2: 'yesterday' is neither a unix time"),
        ([f"{T0},1", f"{T0 + 60}"], "row 2: expected a time and a price"),
        ([f"{T0},1", f"{T0 + 60},nan"], "must be a positive number"),
    ],
)
def test_a_bad_file_is_named_with_its_row(lines: list[str], says: str) -> None:
    with pytest.raises(BadInput, match=says):
        price_files.read_prices(lines, "f.csv")


def test_returns_apply_to_the_books_prices_on_the_stated_step(tmp_path: Path) -> None:
    eth = tmp_path / "eth.csv"
    eth.write_text("\n".join(f"{T0 + 60 * i},{2000 * (1 + i / 100)}" for i in range(11)) + "\n")
    history = file_history(f"WETH={eth},step=2m,gas=30", BOOK)
    assert (history.step_s, history.base_fee_wei) == (120, 30 * 10**9)
    weth = BOOK.tokens["WETH"].address
    index = {weth: 0}
    generated, first, steps = price_files.ticks({0: history.rows["WETH"]}, [3000.0], history.step_s, 1)
    ticks = list(generated)
    assert (first, steps, len(ticks)) == (T0, 6, 6)
    assert [t.prices[index[weth]] for t in ticks] == pytest.approx(
        [3000 * (1 + 2 * i / 100) for i in range(6)]
    )
    # the file's own step when none is stated
    assert file_history(f"WETH={eth}", BOOK).step_s == 60


def test_a_bad_history_names_what_is_wrong(tmp_path: Path) -> None:
    for spec, says in [
        ("kline:x", "expected scenario:NAME"),
        ("scenario:boom", "no scenario 'boom'"),
        ("csv:", "expected scenario:NAME"),
        ("csv:LINK=x.csv", "'LINK' is not a token of the book"),
        (f"csv:WETH={tmp_path / 'none.csv'}", "cannot be read"),
        ("csv:WETH=a.csv,step=never", "step='never'"),
        ("csv:WETH=a.csv,gas=-3", "gas='-3'"),
        ("csv:step=1m", "names no file"),
    ]:
        with pytest.raises(BadInput, match=says):
            histories(spec, BOOK)
