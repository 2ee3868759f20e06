"""The book file (bot/book.py): a valid book loads; every mistake is one line naming the key at fault."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from bot.core.book import DEFAULT_BAND, Book, Calendar, IlGuard, Moment, Partial, Schedule, Threshold
from bot.core.errors import BadInput


def address(byte: str) -> str:
    """A made-up checksummed address: the byte `byte` (two hex digits) twenty times."""
    return to_checksum_address("0x" + byte * 20)


BASE: dict[str, Any] = {
    "name": "test",
    "vault": address("01"),
    "numeraire": "USDC",
    "tokens": {
        "WETH": address("a1"),
        "USDC": address("a2"),
        "WBTC": address("a3"),
        "DAI": address("a4"),
        "FOT": {"address": address("a5"), "transfer_fee_bps": 100},
        "LINK": address("a6"),
        "UNI": address("a7"),
    },
    "pairs": {
        "WETH/USDC": address("b1"),
        "WBTC/WETH": address("b2"),
        "DAI/USDC": address("b3"),
        "FOT/WETH": address("b4"),
    },
    "policy": {"band": 0.02},
    "buckets": {"stables": {"band": 0.02}},
    "sleeves": [
        {"pair": "WETH/USDC", "target": 0.5, "entry": {"WETH": "10", "USDC": "30000"}},
        {"pair": "WBTC/WETH", "target": 0.2},
        {"pair": "DAI/USDC", "target": 0.1, "bucket": "stables"},
        {"token": "USDC", "target": 0.1, "bucket": "stables"},
        {"token": "WETH", "target": 0.1},
    ],
}


def book_dict(change: Callable[[dict[str, Any]], object] = lambda raw: None) -> dict[str, Any]:
    """A fresh copy of the valid base book, changed in place by `change`."""
    raw = copy.deepcopy(BASE)
    change(raw)
    return raw


def refused(raw: dict[str, Any], match: str) -> str:
    """Book.parse refuses `raw` with one line matching `match`; returns the message."""
    with pytest.raises(BadInput, match=match) as caught:
        Book.parse(raw)
    message = str(caught.value)
    assert "\n" not in message
    return message


def sleeve(index: int, **fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda raw: raw["sleeves"][index].update(fields)


TOML_BOOK = f"""
name = "toml"
vault = "{address("01")}"
numeraire = "USDC"
rpc = "http://127.0.0.1:8545"

[tokens]
WETH = "{address("a1")}"
USDC = "{address("a2")}"
FOT = {{ address = "{address("a5")}", transfer_fee_bps = 100 }}

[pairs]
"WETH/USDC" = "{address("b1").lower()}"

[policy]
evaluate = "10 blocks"

[strategy]
kind = "il_guard"
to = "USDC"
then = {{ kind = "partial", fraction = 0.25, then = "calendar" }}

[[sleeves]]
pair = "WETH/USDC"
target = 0.1

[[sleeves]]
token = "USDC"
target = 0.2
band_relative = 0.25

[[sleeves]]
token = "WETH"
target = 0.7
"""


# --- valid books ------------------------------------------------------------------------------


def test_a_valid_book_parses_with_exact_targets_and_checksummed_addresses() -> None:
    book = Book.parse(book_dict())
    assert [s.label for s in book.sleeves] == ["WETH/USDC", "WBTC/WETH", "DAI/USDC", "USDC", "WETH"]
    assert sum(Fraction(s.target) for s in book.sleeves) == 1
    assert book.sleeves[0].target == Decimal("0.5")
    assert book.sleeves[0].entry == {"WETH": Decimal(10), "USDC": Decimal(30000)}
    assert book.tokens["FOT"].transfer_fee_bps == 100
    assert book.tokens["WETH"].transfer_fee_bps == 0
    assert book.pair_names[address("b1")] == "WETH/USDC"
    assert book.band_width(book.sleeves[0]) == Fraction(2, 100)
    assert isinstance(book.strategy, Threshold)
    assert book.priced_symbols() >= {"USDC", "WETH", "WBTC", "DAI"}
    assert not book.priced_symbols() & {"LINK", "UNI"}  # tokens of no pair


def test_a_valid_book_loads_from_a_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "book.toml"
    path.write_text(TOML_BOOK)
    book = Book.load(path)
    assert book.name == "toml"
    assert book.rpc == ["http://127.0.0.1:8545"]  # one URL becomes a list
    assert book.pairs["WETH/USDC"] == address("b1")  # lower case in the file, checksummed on load
    assert Schedule.parse(book.policy.evaluate) == Schedule(blocks=10)
    # relative band: a quarter of the 0.2 target
    assert book.band_width(book.sleeves[1]) == Fraction(5, 100)
    # the policy gives no band: the default applies
    assert book.band_width(book.sleeves[2]) == DEFAULT_BAND


def test_toml_float_targets_are_the_decimals_written_so_they_sum_to_exactly_one(tmp_path: Path) -> None:
    path = tmp_path / "book.toml"
    path.write_text(TOML_BOOK)
    book = Book.load(path)
    # 0.1, 0.2, 0.7 as written, not their binary floats (0.1 is 0.1000000000000000055...)
    assert [Fraction(s.target) for s in book.sleeves] == [Fraction(1, 10), Fraction(2, 10), Fraction(7, 10)]
    assert sum(Fraction(s.target) for s in book.sleeves) == 1
    # floats whose binary sum is not 1 still sum to exactly 1 as the decimals written
    targets = [0.4, 0.3, 0.2, 0.1]
    assert sum(targets) != 1

    def four_sleeves(raw: dict[str, Any]) -> None:
        del raw["sleeves"][4]
        for s, target in zip(raw["sleeves"], targets, strict=True):
            s["target"] = target

    book = Book.parse(book_dict(four_sleeves))
    assert [s.target for s in book.sleeves] == [Decimal(str(t)) for t in targets]
    assert sum(Fraction(s.target) for s in book.sleeves) == 1


def test_nested_strategies_parse_from_a_string_and_from_a_table() -> None:
    as_string = Book.parse(
        book_dict(lambda raw: raw.update(strategy={"kind": "partial", "then": "calendar"}))
    )
    assert isinstance(as_string.strategy, Partial)
    assert isinstance(as_string.strategy.then, Calendar)
    assert as_string.strategy.then.every == "1d"
    strategy = {
        "kind": "il_guard",
        "max_il": 0.02,
        "to": "WETH",
        "then": {"kind": "partial", "fraction": 0.25, "then": {"kind": "calendar", "every": "6h"}},
    }
    as_table = Book.parse(book_dict(lambda raw: raw.update(strategy=strategy)))
    guard = as_table.strategy
    assert isinstance(guard, IlGuard)
    assert (guard.max_il, guard.to) == (Decimal("0.02"), "WETH")
    assert isinstance(guard.then, Partial)
    assert guard.then.fraction == Decimal("0.25")
    assert isinstance(guard.then.then, Calendar)
    assert Schedule.parse(guard.then.then.every) == Schedule(seconds=6 * 3600)


# --- mistakes, each one line naming the key ------------------------------------------------------


def test_an_unknown_top_level_key_is_named() -> None:
    refused(book_dict(lambda raw: raw.update(sleves=[])), r"^book: sleves: unknown key$")


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda raw: raw["policy"].update(bandd=0.01), "policy.bandd"),
        (sleeve(2, buckett="stables"), "sleeves.2.buckett"),
        (lambda raw: raw["tokens"]["FOT"].update(fee=1), "tokens.FOT.fee"),
        (lambda raw: raw["buckets"]["stables"].update(width=0.1), "buckets.stables.width"),
        (lambda raw: raw.update(strategy={"kind": "il_guard", "max_ill": 0.1}), "strategy.il_guard.max_ill"),
    ],
    ids=["policy", "sleeve", "token", "bucket", "strategy"],
)
def test_an_unknown_nested_key_is_named_with_its_path(
    change: Callable[[dict[str, Any]], object], where: str
) -> None:
    refused(book_dict(change), rf"^book: {where}: unknown key$")


def test_targets_that_do_not_sum_to_one_are_refused_with_the_sum() -> None:
    message = refused(book_dict(sleeve(0, target=0.4)), r"sleeve targets sum to 0\.9, not 1")
    assert "(0.4 + 0.2 + 0.1 + 0.1 + 0.1)" in message
    refused(book_dict(sleeve(0, target=0.6)), r"sum to 1\.1, not 1")


def test_a_sleeve_naming_an_unknown_pair_is_refused() -> None:
    refused(
        book_dict(sleeve(1, pair="LINK/WETH")),
        r"sleeves\[1\] \(LINK/WETH\): unknown pair LINK/WETH \(the book's pairs: WETH/USDC, ",
    )


def test_a_sleeve_naming_an_unknown_token_is_refused() -> None:
    refused(
        book_dict(sleeve(4, token="ETH")), r"sleeves\[4\] \(ETH\): unknown token ETH \(not in \[tokens\]\)"
    )


def test_an_absolute_band_wider_than_the_target_is_refused() -> None:
    refused(
        book_dict(sleeve(4, band=0.15)), r"sleeves\[4\] \(WETH\): band 0\.15 is wider than its target 0\.1$"
    )


def test_the_default_band_wider_than_a_small_target_is_refused() -> None:
    def small_weth_no_policy_band(raw: dict[str, Any]) -> None:
        del raw["policy"]  # the default band, 0.05, applies
        raw["sleeves"][4]["target"] = 0.03
        raw["sleeves"][0]["target"] = 0.57

    refused(
        book_dict(small_weth_no_policy_band),
        r"sleeves\[4\] \(WETH\): band 0\.05 is wider than its target 0\.03$",
    )


def test_a_relative_band_above_one_is_refused_and_one_is_the_widest() -> None:
    # a relative band is a share of the target: it is wider than the target exactly when above 1
    refused(
        book_dict(sleeve(4, band_relative=1.5)),
        r"^book: sleeves\.4\.band_relative: .*less than or equal to 1$",
    )
    book = Book.parse(book_dict(sleeve(4, band_relative=1)))
    assert book.band_width(book.sleeves[4]) == Fraction(1, 10)


def test_both_band_kinds_are_refused() -> None:
    refused(
        book_dict(sleeve(4, band=0.01, band_relative=0.5)),
        r"sleeves\.4: give band .* or band_relative, not both",
    )


def test_a_bucket_band_wider_than_its_target_is_refused() -> None:
    refused(
        book_dict(lambda raw: raw["buckets"]["stables"].update(band=0.25)),
        r"^book: bucket stables: band is wider than its target 0\.2$",
    )


def test_a_token_with_no_route_to_the_numeraire_is_refused() -> None:
    def link_sleeve_on_an_island(raw: dict[str, Any]) -> None:
        raw["pairs"]["LINK/UNI"] = address("c1")  # LINK and UNI: connected to each other only
        raw["sleeves"][4]["token"] = "LINK"

    refused(
        book_dict(link_sleeve_on_an_island), r"token LINK has no price route to USDC through the book's pairs"
    )


def test_an_lp_sleeve_in_a_pair_with_no_route_is_refused() -> None:
    def lp_on_an_island(raw: dict[str, Any]) -> None:
        raw["pairs"]["LINK/UNI"] = address("c1")
        raw["sleeves"][1]["pair"] = "LINK/UNI"

    refused(book_dict(lp_on_an_island), r"token LINK has no price route to USDC")


def test_a_fee_on_transfer_token_cannot_be_a_token_sleeve() -> None:
    refused(
        book_dict(sleeve(4, token="FOT")),
        r"sleeves\[4\] \(FOT\): FOT takes a fee on transfer; it cannot be a sleeve",
    )


def test_a_fee_on_transfer_token_cannot_be_in_an_lp_sleeve() -> None:
    refused(
        book_dict(sleeve(1, pair="FOT/WETH")),
        r"sleeves\[1\] \(FOT/WETH\): FOT takes a fee on transfer; LP in FOT/WETH cannot be minted exactly",
    )


@pytest.mark.parametrize(
    "change",
    [
        sleeve(4, pair="WBTC/WETH"),  # both
        lambda raw: raw["sleeves"][4].pop("token"),  # neither
    ],
    ids=["both", "neither"],
)
def test_a_sleeve_holds_a_pair_or_a_token_exactly(change: Callable[[dict[str, Any]], object]) -> None:
    refused(
        book_dict(change), r"^book: sleeves\.4: a sleeve holds either a pair \(LP\) or a token, exactly one"
    )


def test_two_sleeves_of_one_pair_are_refused() -> None:
    def same_label(raw: dict[str, Any]) -> None:
        raw["sleeves"][0]["target"] = 0.25
        raw["sleeves"].append({"pair": "WETH/USDC", "target": 0.25})

    refused(book_dict(same_label), r"sleeves\[5\] \(WETH/USDC\): two sleeves are named WETH/USDC")

    def renamed(raw: dict[str, Any]) -> None:
        raw["sleeves"][0].update(target=0.25, name="core")
        raw["sleeves"].append({"name": "extra", "pair": "WETH/USDC", "target": 0.25})

    refused(book_dict(renamed), r"sleeves\[5\] \(extra\): WETH/USDC is held by two sleeves")


def test_two_sleeves_of_one_token_are_refused() -> None:
    def twice(raw: dict[str, Any]) -> None:
        raw["sleeves"][4].update(target=0.05, name="eth-a")
        raw["sleeves"].append({"name": "eth-b", "token": "WETH", "target": 0.05})

    refused(book_dict(twice), r"sleeves\[5\] \(eth-b\): WETH is held by two sleeves")


def test_an_unknown_bucket_is_refused() -> None:
    refused(
        book_dict(sleeve(4, bucket="majors")),
        r"sleeves\[4\] \(WETH\): unknown bucket majors \(not in \[buckets\]\)",
    )


def test_a_bucket_with_no_sleeves_is_refused() -> None:
    refused(book_dict(lambda raw: raw["buckets"].update(majors={})), r"^book: bucket majors has no sleeves$")


@pytest.mark.parametrize(
    ("change", "where", "text"),
    [
        (lambda raw: raw["policy"].update(evaluate="every fortnight"), "policy.evaluate", "every fortnight"),
        (lambda raw: raw["policy"].update(evaluate="0 blocks"), "policy.evaluate", "0 blocks"),
        (lambda raw: raw.update(prices={"twap_window": "30 min"}), "prices.twap_window", "30 min"),
        (
            lambda raw: raw.update(strategy={"kind": "calendar", "every": "weekly"}),
            "strategy.calendar.every",
            "weekly",
        ),
    ],
    ids=["evaluate", "zero-blocks", "twap-window", "calendar-every"],
)
def test_a_bad_schedule_is_refused_naming_the_key(
    change: Callable[[dict[str, Any]], object], where: str, text: str
) -> None:
    refused(book_dict(change), rf"^book: {where}: schedule '{text}'")


# a schedule written as a TOML number (`evaluate = 10`) is bad input, not a TypeError
@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda raw: raw["policy"].update(evaluate=10), "policy.evaluate"),
        (lambda raw: raw.update(strategy={"kind": "calendar", "every": 7}), "strategy.calendar.every"),
    ],
    ids=["evaluate", "calendar-every"],
)
def test_a_schedule_given_as_a_number_is_bad_input(
    change: Callable[[dict[str, Any]], object], where: str
) -> None:
    refused(book_dict(change), rf"^book: {where}: ")


def test_a_twap_window_in_blocks_is_refused_at_load() -> None:
    refused(book_dict(lambda raw: raw.update(prices={"twap_window": "10 blocks"})), r"prices\.twap_window")


def test_a_route_that_does_not_end_at_the_numeraire_is_refused() -> None:
    routes = {"WBTC": ["WBTC/WETH"]}
    refused(
        book_dict(lambda raw: raw.update(prices={"routes": routes})),
        r"^book: prices\.routes\.WBTC ends at WETH, not at USDC$",
    )


def test_a_route_through_a_pair_that_does_not_hold_the_token_is_refused() -> None:
    routes = {"WBTC": ["WETH/USDC"]}
    refused(
        book_dict(lambda raw: raw.update(prices={"routes": routes})),
        r"prices\.routes\.WBTC: pair WETH/USDC does not hold WBTC",
    )


def test_a_route_that_ends_at_the_numeraire_is_kept() -> None:
    routes = {"WBTC": ["WBTC/WETH", "WETH/USDC"]}
    book = Book.parse(book_dict(lambda raw: raw.update(prices={"routes": routes})))
    assert book.prices.routes == routes


@pytest.mark.parametrize(
    "strategy",
    [
        {"kind": "il_guard", "to": "WBTC"},  # WBTC has no token sleeve
        {"kind": "il_guard", "to": "DOGE"},  # not even a token
        {"kind": "partial", "then": {"kind": "il_guard", "to": "WBTC"}},  # nested
    ],
    ids=["no-sleeve", "no-token", "nested"],
)
def test_an_il_guard_must_give_freed_weight_to_a_token_sleeve(strategy: dict[str, Any]) -> None:
    to = strategy.get("to") or strategy["then"]["to"]
    refused(
        book_dict(lambda raw: raw.update(strategy=strategy)),
        rf"^book: strategy\.to: {to} has no token sleeve to take the freed weight$",
    )


def test_an_il_guard_defaults_to_the_numeraire_sleeve() -> None:
    book = Book.parse(book_dict(lambda raw: raw.update(strategy={"kind": "il_guard"})))
    assert isinstance(book.strategy, IlGuard)
    assert book.strategy.to is None

    def no_usdc_sleeve(raw: dict[str, Any]) -> None:
        raw["strategy"] = {"kind": "il_guard"}
        raw["sleeves"][3]["token"] = "DAI"

    refused(book_dict(no_usdc_sleeve), r"strategy\.to: USDC has no token sleeve")


def test_an_unknown_strategy_kind_is_refused() -> None:
    refused(
        book_dict(lambda raw: raw.update(strategy={"kind": "yolo"})),
        r"^book: strategy: .*'yolo'.*'threshold'",
    )


def test_a_bad_address_is_named() -> None:
    refused(
        book_dict(lambda raw: raw["tokens"].update(WETH="0x1234")),
        r"^book: tokens\.WETH\.address: '0x1234' is not an address$",
    )


def test_two_pairs_at_one_address_are_refused() -> None:
    refused(
        book_dict(lambda raw: raw["pairs"].update({"WBTC/USDC": address("b1")})),
        r"pairs WETH/USDC and WBTC/USDC have the same address",
    )


def test_entry_amounts_must_name_the_pairs_tokens() -> None:
    refused(
        book_dict(sleeve(0, entry={"WETH": 1})),
        r"sleeves\[0\] \(WETH/USDC\): entry gives WETH; it needs WETH and USDC",
    )


def test_a_missing_key_is_named() -> None:
    refused(book_dict(lambda raw: raw.pop("vault")), r"^book: vault: Field required$")


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "book.toml"
    path.write_text('vault = "0x01\n[tokens\n')
    with pytest.raises(BadInput, match=rf"^book {path} is not TOML: ") as caught:
        Book.load(path)
    assert "\n" not in str(caught.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(BadInput, match=rf"^book {path} cannot be read: No such file") as caught:
        Book.load(path)
    assert "\n" not in str(caught.value)


def test_errors_from_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "book.toml"
    path.write_text(TOML_BOOK.replace('evaluate = "10 blocks"', 'evaluate = "every fortnight"'))
    with pytest.raises(BadInput, match=rf"^{path}: policy\.evaluate: schedule 'every fortnight'"):
        Book.load(path)


# --- schedules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "schedule"),
    [
        ("block", Schedule(blocks=1)),
        ("every block", Schedule(blocks=1)),
        ("10 blocks", Schedule(blocks=10)),
        ("every 10 blocks", Schedule(blocks=10)),
        ("30s", Schedule(seconds=30)),
        ("30m", Schedule(seconds=1800)),
        ("6h", Schedule(seconds=6 * 3600)),
        ("1d", Schedule(seconds=86_400)),
        ("1w", Schedule(seconds=7 * 86_400)),
    ],
)
def test_schedules_parse(text: str, schedule: Schedule) -> None:
    assert Schedule.parse(text) == schedule


@pytest.mark.parametrize("text", ["every fortnight", "0 blocks", "0m", "10", "1y", "-1d", ""])
def test_bad_schedules_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="schedule"):
        Schedule.parse(text)


def test_a_block_schedule_is_due_once_per_aligned_period() -> None:
    every_10 = Schedule.parse("10 blocks")
    assert every_10.due(Moment(block=15, timestamp=0), None)
    last = Moment(block=15, timestamp=0)
    assert not every_10.due(Moment(block=19, timestamp=999), last)
    assert every_10.due(Moment(block=20, timestamp=0), last)  # 5 blocks later, but a new period
    assert every_10.next_start(Moment(block=15, timestamp=0)) == "block 20"
    every_block = Schedule.parse("block")
    assert not every_block.due(Moment(7, 0), Moment(7, 0))
    assert every_block.due(Moment(8, 0), Moment(7, 0))


def test_a_time_schedule_is_due_once_per_aligned_period() -> None:
    daily = Schedule.parse("1d")
    day = 86_400
    late = Moment(block=100, timestamp=5 * day + day - 1)  # the last second of day 5
    assert daily.due(late, None)
    assert not daily.due(Moment(block=101, timestamp=5 * day + 10), Moment(block=100, timestamp=5 * day))
    assert daily.due(Moment(block=101, timestamp=6 * day), late)  # one second later: a new day
    assert not daily.due(Moment(block=101, timestamp=6 * day + day - 1), Moment(block=100, timestamp=6 * day))
    assert daily.next_start(late) == "1970-01-07 00:00:00 UTC"  # the start of day 6
    half_hour = Schedule.parse("30m")
    assert half_hour.due(Moment(0, 1800), Moment(0, 1799))
    assert not half_hour.due(Moment(0, 3599), Moment(0, 1800))


# --- values the chain or the journal cannot take ---------------------------------------------


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda raw: raw["policy"].update(deadline_s=2**63 - 1), r"policy\.deadline_s"),
        (lambda raw: raw["policy"].update(deadline_s=86_401), r"policy\.deadline_s"),
        (lambda raw: raw.update(chain_id=2**64), r"chain_id"),
        (lambda raw: raw.update(chain_id=0), r"chain_id"),
        (lambda raw: raw.update(fees={"min_tip_gwei": 10**30}), r"fees\.min_tip_gwei"),
        (lambda raw: raw.update(fees={"max_fee_gwei": "1e30"}), r"fees\.max_fee_gwei"),
        (lambda raw: raw.update(guards={"max_gas_price_gwei": 10**30}), r"guards\.max_gas_price_gwei"),
        (lambda raw: raw["policy"].update(evaluate="99999999999w"), r"policy\.evaluate"),
        (lambda raw: raw.update(strategy={"kind": "calendar", "every": "53w"}), r"strategy\.calendar\.every"),
        (lambda raw: raw.update(prices={"twap_window": "8d"}), r"prices\.twap_window"),
        (lambda raw: raw.update(guards={"daily_gas_budget": "1e99999999"}), r"guards\.daily_gas_budget"),
        (sleeve(0, entry={"WETH": "1e31", "USDC": 1}), r"sleeves\.0\.entry\.WETH"),
    ],
    ids=[
        "deadline-int64", "deadline-over-a-day", "chain-id-over-uint64", "chain-id-zero", "min-tip",
        "max-fee", "max-gas-price", "evaluate-years", "calendar-over-a-year", "twap-over-a-week",
        "gas-budget-overflows-as-wei", "entry-amount",
    ],
)  # fmt: skip
def test_a_value_too_large_to_send_or_to_journal_is_refused_naming_the_key(
    change: Callable[[dict[str, Any]], object], where: str
) -> None:
    refused(book_dict(change), rf"^book: {where}: ")


def test_the_largest_values_allowed_are_kept() -> None:
    def largest(raw: dict[str, Any]) -> None:
        raw["policy"].update(deadline_s=86_400, evaluate="366d")
        raw.update(chain_id=9_223_372_036_854_775_771, prices={"twap_window": "1w"})
        raw.update(fees={"min_tip_gwei": 1_000_000, "max_fee_gwei": 1_000_000})

    book = Book.parse(book_dict(largest))
    assert book.policy.deadline_s == 86_400
    assert book.fees.max_fee_wei == 10**15
    assert book.prices.twap_window_s == 7 * 86_400
    assert Schedule.parse(book.policy.evaluate).next_start(Moment(0, 2**33)).endswith(" UTC")


def test_a_wrong_checksum_in_the_book_is_refused_naming_the_key_and_the_address() -> None:
    good = address("a1")  # 0xA1A1a1a1...: mixed case
    at = next(i for i in range(2, len(good)) if good[i].isalpha())
    wrong = good[:at] + good[at].swapcase() + good[at + 1 :]
    refused(
        book_dict(lambda raw: raw["tokens"].update(WETH=wrong)),
        rf"^book: tokens\.WETH\.address: {wrong} has a wrong EIP-55 checksum",
    )
    refused(book_dict(lambda raw: raw.update(vault=wrong)), rf"^book: vault: {wrong} has a wrong EIP-55")
    refused(
        book_dict(lambda raw: raw["pairs"].update({"WETH/USDC": wrong})),
        rf"^book: pairs\.WETH/USDC: {wrong} has a wrong EIP-55",
    )
    assert Book.parse(book_dict(lambda raw: raw.update(vault=good.upper().replace("0X", "0x")))).vault == good


def test_a_book_that_is_not_utf8_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "book.toml"
    path.write_bytes(TOML_BOOK.replace('name = "toml"', 'name = "caf\xe9"').encode("latin-1"))
    with pytest.raises(BadInput, match=rf"^book {path} is not UTF-8 text") as caught:
        Book.load(path)
    assert "\n" not in str(caught.value)


# --- a DEX per pair ----------------------------------------------------------------------------


def with_pair_dex(dexes: dict[str, Any] | None, dex: str, chain_id: int | None = 56) -> dict[str, Any]:
    """The base book on `chain_id` with its first pair on `dex` (and `dexes` as [dexes])."""

    def change(raw: dict[str, Any]) -> None:
        if chain_id is not None:
            raw["chain_id"] = chain_id
        if dexes is not None:
            raw["dexes"] = dexes
        raw["pairs"]["WETH/USDC"] = {"address": raw["pairs"]["WETH/USDC"], "dex": dex}

    return book_dict(change)


def test_a_pair_names_its_dex_and_takes_its_fee() -> None:
    book = Book.parse(with_pair_dex({"cake": {"fee_bps": 25}}, "cake"))
    assert book.fee_bps("WETH/USDC") == 25 and book.fee_bps(address("b1")) == 25
    assert [book.fee_bps(name) for name in ("WBTC/WETH", "DAI/USDC", "FOT/WETH")] == [30, 30, 30]
    assert book.pairs["WETH/USDC"] == address("b1")  # the address stays where it was


def test_a_dex_preset_fills_its_fee_and_addresses_from_the_books_chain() -> None:
    book = Book.parse(with_pair_dex(None, "pancakeswap-v2"))  # BNB Chain: a preset named by the pair alone
    cake = book.dexes["pancakeswap-v2"]
    assert cake.fee_bps == 25 and cake.factory == "0xcA143Ce32Fe78f1f7019d7d551a6402fC5350c73"
    named = Book.parse(with_pair_dex({"cake": {"preset": "pancakeswap-v2"}}, "cake"))
    assert named.fee_bps("WETH/USDC") == 25


@pytest.mark.parametrize(
    ("dexes", "dex", "chain_id", "message"),
    [
        (None, "nosuchswap", 56, "is not [dex], a [dexes] entry or a preset of the book's chain"),
        ({"cake": {"preset": "pancakeswap-v2"}}, "cake", None, "a preset needs the book's chain_id"),
        (
            {"cake": {"preset": "pancakeswap-v2", "fee_bps": 30}},
            "cake",
            56,
            "fee_bps 30 is not pancakeswap-v2's",
        ),
        ({"cake": {}}, "cake", 56, "give its fee_bps"),
    ],
)
def test_a_pair_dex_that_cannot_be_established_is_refused(
    dexes: dict[str, Any] | None, dex: str, chain_id: int | None, message: str
) -> None:
    refused(with_pair_dex(dexes, dex, chain_id), re.escape(message))
