"""The address book: where a world's contracts and named accounts are (JSON, validated).

The world builder writes it; everything else reads it. Addresses are checksummed on load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from eth_utils.address import is_address, to_checksum_address
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, model_validator

from bot.core.errors import BadInput, describe


def checksum(value: str) -> str:
    """The EIP-55 checksummed form of an address; the one place addresses are parsed.

    All-lowercase or all-uppercase hex carries no checksum and is accepted as it is; mixed case
    is a checksum and must be the right one (a changed character shows up as a wrong one).

    Raises:
        BadInput: not a 20-byte hex address, or mixed case with a wrong checksum (naming it).
    """
    if not isinstance(value, str) or not is_address(value):
        raise BadInput(f"{value!r} is not an address")
    checksummed = to_checksum_address(value)
    digits = value[2:] if value[:2] in ("0x", "0X") else value
    if digits not in (digits.lower(), digits.upper()) and digits != checksummed[2:]:
        raise BadInput(
            f"{value} has a wrong EIP-55 checksum (its mixed case does not match; a mistyped character?)"
        )
    return checksummed


def _checksum_field(value: str) -> str:
    try:
        return checksum(value)
    except BadInput as exc:
        raise ValueError(str(exc)) from exc  # pydantic turns ValueError into a located error


Address = Annotated[str, AfterValidator(_checksum_field)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TokenEntry(_Frozen):
    """A token: address, decimals, and the fee it takes on transfer (0 for normal tokens)."""

    address: Address
    decimals: int
    transfer_fee_bps: int = 0


class PairEntry(_Frozen):
    """A V2 pair and its tokens by symbol, in the pair's own token0/token1 order."""

    address: Address
    token0: str
    token1: str


class DexEntry(_Frozen):
    """A Uniswap V2 deployment: factory, router, wrapped native token, swap fee."""

    name: str
    factory: Address
    router: Address
    weth: Address
    fee_bps: int
    init_code_hash: str


class AddressBook(_Frozen):
    """Everything a world holds, by name."""

    chain_id: int
    block: int
    accounts: dict[str, Address]
    dex: DexEntry
    tokens: dict[str, TokenEntry]
    pairs: dict[str, PairEntry]
    numeraire: str
    holder: str

    @model_validator(mode="after")
    def _names_resolve(self) -> AddressBook:
        for name, pair in self.pairs.items():
            for symbol in (pair.token0, pair.token1):
                if symbol not in self.tokens:
                    raise ValueError(f"pair {name} names unknown token {symbol}")
        if self.numeraire not in self.tokens:
            raise ValueError(f"numeraire {self.numeraire} is not a token of the book")
        if self.holder not in self.accounts:
            raise ValueError(f"holder {self.holder} is not a named account")
        return self

    def account(self, name_or_address: str) -> str:
        """A named account's address, or the checksummed address itself."""
        if name_or_address in self.accounts:
            return self.accounts[name_or_address]
        if is_address(name_or_address):
            return checksum(name_or_address)  # hex: its own error (a wrong checksum) says more
        known = ", ".join(sorted(self.accounts))
        raise BadInput(f"{name_or_address!r} is neither an address nor a named account ({known})")

    def symbol_of(self, address: str) -> str | None:
        """The symbol of a token of the book, by address."""
        wanted = checksum(address)
        return next((symbol for symbol, t in self.tokens.items() if t.address == wanted), None)

    def save(self, path: Path) -> None:
        """Write as indented JSON (atomically)."""
        partial = path.with_suffix(".tmp")
        partial.write_text(self.model_dump_json(indent=2) + "\n")
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> AddressBook:
        """Read and validate an address book.

        Raises:
            BadInput: the file is missing, not UTF-8, not JSON, or not a valid address book.
        """
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise BadInput(f"address book {path} cannot be read: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise BadInput(f"address book {path} is not UTF-8 text (byte {exc.start})") from exc
        except json.JSONDecodeError as exc:
            raise BadInput(f"address book {path} is not JSON: {exc.msg} at line {exc.lineno}") from exc
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise BadInput(f"address book {path}: {describe(exc)}") from exc
