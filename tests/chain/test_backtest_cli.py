"""`ammkeeper backtest` on the world: every regime runs from the book's state on chain, with the
book's own strategy against both baselines, and writes its reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.core.scenarios import SCENARIOS
from tests.chain.books import write_book
from tests.chain.conftest import World


def test_every_regime_runs_on_the_worlds_book(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = write_book(tmp_path)
    out = tmp_path / "out"
    args = ["backtest", "--config", str(book), "--rpc", world.node.url, "--json", "--out", str(out)]
    history = "scenario:all,days=3,step_s=5m,crash_day=1,depeg_day=1,spike_day=1"
    assert main([*args, "--history", history, "--compare", "calendar,every=1d"]) == 0
    report = json.loads(capsys.readouterr().out.split("\nsaved:")[0])
    assert [r["history"].split(",")[0] for r in report] == [f"scenario:{name}" for name in SCENARIOS]
    for entry in report:
        policy, calendar = entry["policies"]
        assert policy["strategy"] == "policy (threshold)" and calendar["strategy"] == "calendar,every=1d"
        assert policy["steps"] == 3 * 288 + 1
        assert policy["start_value"] > 100_000
        # the world's book starts outside its stables band: the policy rebalances once the TWAP
        # window exists (the guard refuses before), and every bundle paid gas
        assert policy["rebalances"] >= 1 and policy["refusals"]["twap_deviation"] > 0
        assert float(policy["gas"]["value"]) > 0
        figures = policy["portfolios"]
        assert figures["policy"]["final"] - figures["hold"]["final"] == pytest.approx(
            policy["excess"]["vs_hold"]
        )
        ops = policy["rebalance_list"][0]["ops"]
        assert {op["op"] for op in ops} <= {"burn", "swap", "mint"} and ops
    bear = next(r for r in report if r["history"].startswith("scenario:bear"))["policies"][0]
    assert bear["portfolios"]["hold"]["return"] < -0.2  # volatile tokens -75%: the book loses
    spike = next(r for r in report if r["history"].startswith("scenario:gas_spike"))["policies"][0]
    assert spike["portfolios"]["policy"]["final"] > 0
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 * len(SCENARIOS)
    assert all((out / f"value-{i}.png").read_bytes().startswith(b"\x89PNG") for i in range(1, 8))
    rows = (out / "steps-1.csv").read_text().splitlines()
    assert rows[0].startswith("timestamp,block,policy,hold,lp,") and len(rows) > 100


def test_bad_input_is_one_line_and_exit_2(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = str(write_book(tmp_path))
    base = ["backtest", "--config", book, "--rpc", world.node.url]
    for extra, says in [
        ([], "no history"),
        (["--history", "scenario:nope"], "no scenario 'nope'"),
        (["--history", "scenario:calm", "--set", "policy.band=2"], "policy.band"),
        (["--history", "scenario:calm", "--set", "policy"], "expected key=value"),
        (["--history", "scenario:calm", "--compare", "every=1d"], "a strategy kind first"),
        (["--history", "scenario:calm", "--compare", "sometimes"], "strategy"),
        (["--history", "scenario:calm", "--adversary", "2"], "between 0 and 1"),
        (["--history", "scenario:calm", "--noise", "nan"], "--noise"),
        (["--history", "scenario:calm,days=99999"], "at most 3650 days"),
        (["--history", "scenario:crash,crash=1.5"], "a share below 1"),
        (["--history", "scenario:calm", "--out", book], "--out"),
        (["--history", "scenario:calm", "--sweep", "/nonexistent.toml"], "cannot be read"),
    ]:
        assert main(base + extra) == 2, extra
        err = capsys.readouterr().err.strip()
        assert says in err and "\n" not in err and "Traceback" not in err, err


def test_a_price_file_drives_the_worlds_book(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Binance klines of ETH (no header, milliseconds): WETH follows the file's returns from the
    book's own price; every step is kept."""
    start = 1_700_000_000
    closes = [3000 * (1 - i / 400) for i in range(120)]  # -30% over two hours
    rows = [
        f"{(start + 60 * i) * 1000},0,0,0,{c},1,{(start + 60 * i) * 1000 + 59_999},0,0,0,0,0"
        for i, c in enumerate(closes)
    ]
    klines = tmp_path / "ETHUSDC-1m.csv"
    klines.write_text("\n".join(rows) + "\n")
    book = write_book(tmp_path)
    args = ["backtest", "--config", str(book), "--rpc", world.node.url, "--json", "--samples", "1000"]
    assert main([*args, "--history", f"csv:WETH={klines},gas=40", "--out", str(tmp_path / "out")]) == 0
    (entry,) = json.loads(capsys.readouterr().out.split("\nsaved:")[0])
    assert entry["history"] == "csv:WETH=ETHUSDC-1m.csv,step=60"
    policy = entry["policies"][0]
    assert policy["steps"] == 120 and policy["days"] == pytest.approx(119 / 1440, abs=1e-4)
    hold = policy["portfolios"]["hold"]["return"]
    assert -0.3 < hold < 0  # the book holds WETH and stables: it falls less than WETH
    steps = (tmp_path / "out" / "steps-1.csv").read_text().splitlines()
    assert len(steps) == 1 + 120
    assert {row.split(",")[13] for row in steps[1:]} == {"40.0000"}  # the stated base fee
