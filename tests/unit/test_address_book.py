"""The one address validator (`checksum`) and the address book that reads through it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.core.address_book import AddressBook, checksum
from bot.core.errors import BadInput

# EIP-55's own test vectors: valid mixed-case checksums.
CHECKSUMMED = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


def flip_one_letter(address: str) -> str:
    """`address` with the case of its last letter (a-f) flipped: still hex, checksum now wrong."""
    at = max(i for i, c in enumerate(address) if i >= 2 and c.isalpha())
    return address[:at] + address[at].swapcase() + address[at + 1 :]


@pytest.mark.parametrize("address", CHECKSUMMED)
def test_a_valid_mixed_case_checksum_is_kept(address: str) -> None:
    assert checksum(address) == address


@pytest.mark.parametrize("address", CHECKSUMMED)
def test_an_all_lowercase_or_all_uppercase_address_is_checksummed(address: str) -> None:
    assert checksum(address.lower()) == address
    assert checksum("0x" + address[2:].upper()) == address


@pytest.mark.parametrize("address", CHECKSUMMED)
def test_a_mixed_case_address_with_one_letter_flipped_is_refused_naming_it(address: str) -> None:
    wrong = flip_one_letter(address)
    assert wrong != address and wrong.lower() == address.lower()
    with pytest.raises(BadInput, match=rf"^{wrong} has a wrong EIP-55 checksum") as caught:
        checksum(wrong)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("value", ["0x1234", "0x" + "g1" * 20, "", " 0x" + "11" * 20, "0x" + "11" * 21])
def test_what_is_not_an_address_is_refused(value: str) -> None:
    with pytest.raises(BadInput, match="is not an address"):
        checksum(value)


def test_a_digits_only_address_has_no_case_to_check() -> None:
    assert checksum("0x" + "12" * 20) == "0x" + "12" * 20


def _address_book(**changes: Any) -> dict[str, Any]:
    account = CHECKSUMMED[0]
    return {
        "chain_id": 31337,
        "block": 1,
        "accounts": {"holder": account},
        "dex": {
            "name": "v2",
            "factory": CHECKSUMMED[1],
            "router": CHECKSUMMED[2],
            "weth": CHECKSUMMED[3],
            "fee_bps": 30,
            "init_code_hash": "0x",
        },
        "tokens": {"WETH": {"address": CHECKSUMMED[3], "decimals": 18}},
        "pairs": {},
        "numeraire": "WETH",
        "holder": "holder",
        **changes,
    }


def test_an_address_book_with_a_wrong_checksum_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "world.json"
    wrong = flip_one_letter(CHECKSUMMED[0])
    path.write_text(json.dumps(_address_book(accounts={"holder": wrong})))
    with pytest.raises(
        BadInput, match=rf"^address book {path}: accounts\.holder: {wrong} has a wrong EIP-55"
    ):
        AddressBook.load(path)


def test_an_address_book_account_lookup_reports_a_wrong_checksum(tmp_path: Path) -> None:
    path = tmp_path / "world.json"
    path.write_text(json.dumps(_address_book()))
    book = AddressBook.load(path)
    assert book.account("holder") == CHECKSUMMED[0]
    assert book.account(CHECKSUMMED[1].lower()) == CHECKSUMMED[1]
    with pytest.raises(BadInput, match="wrong EIP-55 checksum"):
        book.account(flip_one_letter(CHECKSUMMED[1]))
    with pytest.raises(BadInput, match="neither an address nor a named account"):
        book.account("nobody")


def test_an_address_book_that_is_not_utf8_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "world.json"
    path.write_bytes(json.dumps(_address_book()).encode().replace(b'"v2"', b'"v\xff2"'))
    with pytest.raises(BadInput, match=rf"^address book {path} is not UTF-8 text") as caught:
        AddressBook.load(path)
    assert "\n" not in str(caught.value)
