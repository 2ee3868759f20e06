"""`ammkeeper status` on the world: the table, JSON, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from anvil.world import PAIRS, VAULT_LP_SHARE
from bot.cli.main import main
from tests.chain.conftest import World


@pytest.fixture
def book_file(world: World, tmp_path: Path) -> Path:
    path = tmp_path / "book.json"
    world.book.save(path)
    return path


def test_status_prints_every_pair_and_the_total(
    world: World, book_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--rpc", world.node.url, "--address-book", str(book_file)]) == 0
    out = capsys.readouterr().out
    for name in world.book.pairs:
        assert name in out
    assert "total value:" in out and "USDC" in out


def test_status_json_values_add_up(world: World, book_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--rpc", world.node.url, "--address-book", str(book_file), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = data["pairs"] + data["tokens"]
    assert len(data["pairs"]) == len(world.book.pairs)
    assert sum(Fraction(r["value"]) for r in rows) == Fraction(data["total"])
    weth_usdc = next(r for r in data["pairs"] if r["name"] == "WETH/USDC")
    # the book's holder is the vault, seeded with VAULT_LP_SHARE of the pool's depth on each side
    spec = next(p for p in PAIRS if (p.token_a, p.token_b) == ("WETH", "USDC"))
    # (at the seed price, which no trade has moved): $150k a side
    assert Fraction(weth_usdc["value"]) == pytest.approx(2 * spec.usd_per_side * VAULT_LP_SHARE, rel=1e-6)
    # one price direction: in the numeraire where the pair has it, else in the token nearer it
    directions = {r["name"]: (r["price_of"], r["price_in"]) for r in data["pairs"]}
    assert directions["WETH/USDC"] == ("WETH", "USDC") and directions["WBTC/USDC"] == ("WBTC", "USDC")
    assert directions["WBTC/WETH"] == ("WBTC", "WETH") and directions["LINK/WETH"] == ("LINK", "WETH")
    assert Fraction(weth_usdc["price"]) == 3000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pair", "0x12"], "'0x12' is not an address"),
        (["--holder", "nobody"], "'nobody' is neither an address nor a named account"),
        (["--numeraire", "XYZ"], "numeraire 'XYZ' is neither a token of the address book nor an address"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    world: World, book_file: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = main(["status", "--rpc", world.node.url, "--address-book", str(book_file), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_a_file_that_is_not_an_address_book_is_refused(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "book.json"
    bad.write_text("{not json")
    assert main(["status", "--rpc", world.node.url, "--address-book", str(bad)]) == 2
    assert "is not JSON" in capsys.readouterr().err


def test_an_unreachable_rpc_is_transient_exit_75_and_hides_the_key(
    book_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["status", "--rpc", "http://127.0.0.1:9/rpc/KEY123", "--address-book", str(book_file)])
    err = capsys.readouterr().err
    assert code == 75 and "http://127.0.0.1:9" in err and "KEY123" not in err


def test_a_non_pair_is_named_and_the_rest_is_shown(
    world: World, roles: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    weth_usdc = world.book.pairs["WETH/USDC"].address
    usdc = world.book.tokens["USDC"].address
    args = ["status", "--rpc", world.node.url, "--pair", weth_usdc, "--pair", usdc]
    assert main([*args, "--holder", roles["holder"], "--numeraire", usdc]) == 2
    captured = capsys.readouterr()
    assert "WETH/USDC" in captured.out
    assert f"NotAPair: {usdc}: is not a Uniswap V2 pair" in captured.err


def test_the_console_script_runs(world: World, book_file: Path) -> None:
    exe = Path(sys.executable).parent / "ammkeeper"
    done = subprocess.run(
        [str(exe), "status", "--rpc", world.node.url, "--address-book", str(book_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "total value:" in done.stdout


@pytest.mark.parametrize("no_color", [False, True])
def test_tables_are_drawn_in_colour_on_a_terminal_and_plain_with_no_color(
    world: World, book_file: Path, no_color: bool
) -> None:
    import os
    import pty
    import sys

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | ({"NO_COLOR": "1"} if no_color else {})
    env["TERM"] = "xterm"
    command = [str(Path(sys.executable).parent / "ammkeeper"), "status", "--rpc", world.node.url,
               "--address-book", str(book_file)]  # fmt: skip
    done = subprocess.run(command, stdout=follower, stderr=subprocess.PIPE, env=env, timeout=120)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    out = b"".join(chunks).decode()
    assert done.returncode == 0 and "WETH/USDC" in out
    assert ("\x1b[" in out) is not no_color  # colour on a terminal, none with NO_COLOR
