"""Pure pieces of the read path: symbols, endpoint labels, prices, the address book."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from eth_abi import encode

from bot.chain.endpoints import endpoint_label
from bot.core.address_book import AddressBook
from bot.core.errors import BadInput, LensFailed
from bot.core.pricing import spot_prices
from bot.core.snapshot import PairSnapshot, Snapshot, TokenInfo, decode_book_read, decode_symbol

ADDR = "0x" + "ab" * 20
ZERO = "0x" + "00" * 20


@pytest.mark.parametrize(
    ("raw", "symbol"),
    [
        (encode(["string"], ["USDC"]), "USDC"),
        (b"MKR".ljust(32, b"\0"), "MKR"),  # bytes32 symbols (MKR, SAI)
        (encode(["string"], ["EVIL\x1b[31mRED\x07"]), "EVIL[31mRED"),  # no terminal escapes
        (b"", "0xABab..abab"),
        (b"\x01\x02", "0xABab..abab"),
        (encode(["string"], ["A" * 40])[:96], "A" * 16),  # truncated by the lens, cut to 16
    ],
)
def test_symbols_decode_leniently_and_safely(raw: bytes, symbol: str) -> None:
    assert decode_symbol(raw, "0xABabababababababababababababababababab") == symbol


def test_endpoint_labels_drop_keys() -> None:
    assert endpoint_label("https://u:p@eth.example.com/v3/KEY?x=SECRET") == "https://eth.example.com"
    assert endpoint_label("http://127.0.0.1:8545") == "http://127.0.0.1:8545"


def test_a_revert_that_is_not_a_snapshot_is_refused() -> None:
    with pytest.raises(LensFailed, match="without a snapshot"):
        decode_book_read(bytes.fromhex("08c379a0") + encode(["string"], ["nope"]))


def _token(n: int, decimals: int) -> TokenInfo:
    return TokenInfo(f"0x{n:040x}", f"T{n}", decimals)


def _pair(n: int, t0: TokenInfo, t1: TokenInfo, r0: int, r1: int) -> PairSnapshot:
    return PairSnapshot(f"0x{n:040x}", ADDR, ZERO, t0, t1, r0, r1, 0, 10**18, 0, 0, 0, 0)


def test_prices_route_through_the_deepest_pool() -> None:
    usd, eth, btc, lonely = _token(1, 6), _token(2, 18), _token(3, 8), _token(4, 18)
    deep = _pair(10, eth, usd, 1_000 * 10**18, 3_000_000 * 10**6)  # ETH at 3,000, $3M deep
    shallow = _pair(11, eth, usd, 1 * 10**18, 2_000 * 10**6)  # ETH at 2,000, $2k deep
    btc_eth = _pair(12, btc, eth, 10 * 10**8, 200 * 10**18)  # BTC = 20 ETH
    snap = Snapshot(
        1, 0, 0, 1, ADDR, 0, (shallow, deep, btc_eth), {t.address: t for t in (usd, eth, btc, lonely)}
    )
    prices = spot_prices(snap, usd.address)
    assert prices[eth.address].value == 3000 and prices[eth.address].route == (deep.address,)
    assert prices[btc.address].value == 60_000
    assert prices[btc.address].route == (btc_eth.address, deep.address)
    assert lonely.address not in prices
    assert prices[usd.address].value == Fraction(1)


def test_an_address_book_with_a_dangling_name_is_one_precise_error(tmp_path: Path) -> None:
    good = {
        "chain_id": 1,
        "block": 1,
        "accounts": {"holder": ADDR},
        "dex": {
            "name": "v2",
            "factory": ADDR,
            "router": ADDR,
            "weth": ADDR,
            "fee_bps": 30,
            "init_code_hash": "0x",
        },
        "tokens": {"USDC": {"address": ADDR, "decimals": 6}},
        "pairs": {"X/USDC": {"address": ADDR, "token0": "X", "token1": "USDC"}},
        "numeraire": "USDC",
        "holder": "holder",
    }
    path = tmp_path / "book.json"
    path.write_text(json.dumps(good))
    with pytest.raises(BadInput, match="pair X/USDC names unknown token X"):
        AddressBook.load(path)
    good["pairs"] = {}
    good["accounts"] = {"holder": "0xnope"}
    path.write_text(json.dumps(good))
    with pytest.raises(BadInput, match=r"accounts\.holder: .*'0xnope' is not an address"):
        AddressBook.load(path)
