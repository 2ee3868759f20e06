"""The book at one block, as frozen models, and the pure decoding of the lens's answer.

The lens (contracts/BookLens.vy) reverts with `BookSnapshot()` ++ abi_encode(BookRead);
`decode_book_read` turns those bytes into a `Snapshot`. A pair or token that could not
be read as what it should be becomes a typed error in `Snapshot.errors`, naming the
address; the rest of the book is still there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from bot.core.amm import PairState
from bot.core.errors import BookReadError, EmptyPair, LensFailed, NotAPair, TokenWithoutDecimals

ANSWER_SELECTOR = keccak(text="BookSnapshot()")[:4]
# PairRead and TokenRead of BookLens.vy, field for field
_PAIR = "(address,uint256,address,address,address,address," + ",".join(["uint256"] * 8) + ")"
_TOKEN = "(address,uint256,uint256,uint256,bytes)"
BOOK_READ_TYPE = f"(uint256,uint256,uint256,uint256,address,uint256,{_PAIR}[],{_TOKEN}[])"

# flag bits, as in BookLens.vy
PAIR_NO_CODE = 1
PAIR_READS = {
    2: "token0()",
    4: "token1()",
    8: "getReserves()",
    16: "totalSupply()",
    32: "kLast()",
    64: "price0CumulativeLast()",
    128: "price1CumulativeLast()",
    256: "balanceOf(holder)",
    512: "factory()",
    1024: "factory().feeTo()",
}
TOKEN_NO_CODE = 1
TOKEN_DECIMALS = 2
TOKEN_SYMBOL = 4
TOKEN_BALANCE = 8
SYMBOL_MAX_CHARS = 16


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as the book knows it."""

    address: str
    symbol: str
    decimals: int


@dataclass(frozen=True, slots=True)
class PairSnapshot:
    """One V2 pair at the snapshot's block, with the holder's LP balance."""

    address: str
    factory: str
    fee_to: str
    token0: TokenInfo
    token1: TokenInfo
    reserve0: int
    reserve1: int
    block_timestamp_last: int
    total_supply: int
    k_last: int
    price0_cumulative_last: int
    price1_cumulative_last: int
    holder_lp: int

    @property
    def name(self) -> str:
        """token0/token1 by symbol."""
        return f"{self.token0.symbol}/{self.token1.symbol}"

    @property
    def fee_on(self) -> bool:
        """Whether the factory's protocol fee is on (mints and burns mint LP to `feeTo` first)."""
        return int(self.fee_to, 16) != 0

    def state(self, fee_bps: int) -> PairState:
        """The pair as the exact math sees it."""
        return PairState(self.reserve0, self.reserve1, self.total_supply, self.k_last, fee_bps, self.fee_on)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole book at one block.

    Attributes:
        block_number, block_timestamp, base_fee_wei, chain_id: the block read.
        holder: whose balances these are; holder_native_wei its native balance.
        pairs: the pairs that read well, in request order.
        tokens: every token seen, by checksummed address.
        balances: the holder's balance of each token, by address.
        errors: what could not be read, one typed error per address.
    """

    block_number: int
    block_timestamp: int
    base_fee_wei: int
    chain_id: int
    holder: str
    holder_native_wei: int
    pairs: tuple[PairSnapshot, ...]
    tokens: Mapping[str, TokenInfo] = field(default_factory=dict)
    balances: Mapping[str, int] = field(default_factory=dict)
    errors: tuple[BookReadError, ...] = ()

    def pair(self, address: str) -> PairSnapshot:
        """The pair at `address`, or the error that kept it out of the book."""
        for pair in self.pairs:  # a checksummed address (the book's) needs no hashing
            if pair.address == address:
                return pair
        wanted = to_checksum_address(address)
        for pair in self.pairs:
            if pair.address == wanted:
                return pair
        for error in self.errors:
            if error.address == wanted:
                raise error
        raise KeyError(wanted)


def decode_symbol(raw: bytes, address: str) -> str:
    """A token symbol from `symbol()`'s raw answer: ABI string or bytes32, printable only.

    Falls back to a short address. Control characters are dropped so a hostile symbol
    cannot write escape sequences into a terminal.
    """
    text = b""
    if len(raw) >= 64 and int.from_bytes(raw[:32], "big") == 32:
        length = int.from_bytes(raw[32:64], "big")
        text = raw[64 : 64 + min(length, len(raw) - 64)]
    elif len(raw) == 32:
        text = raw.rstrip(b"\0")
    symbol = "".join(ch for ch in text.decode("utf-8", errors="replace") if ch.isprintable()).strip()
    return symbol[:SYMBOL_MAX_CHARS] or f"{address[:6]}..{address[-4:]}"


def _token_error(token: str, flags: int, pair: str | None) -> BookReadError | None:
    where = f" (token of pair {pair})" if pair else ""
    if flags & TOKEN_NO_CODE:
        return TokenWithoutDecimals(token, f"has no code{where}")
    if flags & TOKEN_DECIMALS:
        return TokenWithoutDecimals(token, f"has no usable decimals(){where}")
    if flags & TOKEN_BALANCE:
        return TokenWithoutDecimals(token, f"does not answer balanceOf(){where}")
    return None


def _pair_error(address: str, flags: int) -> BookReadError | None:
    if flags & PAIR_NO_CODE:
        return NotAPair(address, "has no code, so it is not a Uniswap V2 pair")
    failed = [name for bit, name in PAIR_READS.items() if flags & bit]
    if failed:
        return NotAPair(address, f"is not a Uniswap V2 pair: {', '.join(failed)} failed")
    return None


def decode_book_read(revert_data: bytes) -> Snapshot:
    """Decode the lens's revert data into a Snapshot.

    Raises:
        LensFailed: the data is not a BookSnapshot answer.
    """
    if revert_data[:4] != ANSWER_SELECTOR:
        raise LensFailed(f"the lens reverted without a snapshot: 0x{revert_data[:68].hex()}")
    try:
        (book,) = decode([BOOK_READ_TYPE], revert_data[4:])
    except (DecodingError, ValueError) as exc:
        raise LensFailed(f"the lens answer does not decode: {exc}") from exc
    block_number, block_timestamp, base_fee, chain_id, holder, holder_native, raw_pairs, raw_tokens = book

    tokens: dict[str, TokenInfo] = {}
    balances: dict[str, int] = {}
    token_flags: dict[str, int] = {}
    for address, flags, decimals, balance, symbol in raw_tokens:
        address = to_checksum_address(address)
        token_flags[address] = flags
        tokens[address] = TokenInfo(address, decode_symbol(symbol, address), decimals)
        if not flags & (TOKEN_NO_CODE | TOKEN_BALANCE):
            balances[address] = balance

    pairs: list[PairSnapshot] = []
    errors: list[BookReadError] = []
    pair_tokens: set[str] = set()
    for raw in raw_pairs:
        (address, flags, factory, fee_to, token0, token1) = raw[:6]
        reserve0, reserve1, ts_last, supply, k_last, p0, p1, lp = raw[6:]
        address = to_checksum_address(address)
        error = _pair_error(address, flags)
        t0, t1 = to_checksum_address(token0), to_checksum_address(token1)
        if error is None:
            pair_tokens.update((t0, t1))
            error = _token_error(t0, token_flags[t0], address) or _token_error(t1, token_flags[t1], address)
        if error is None and (reserve0 == 0 or reserve1 == 0 or supply == 0):
            error = EmptyPair(address, f"has no liquidity (reserves {reserve0}/{reserve1}, supply {supply})")
        if error is not None:
            errors.append(error)
            continue
        pairs.append(
            PairSnapshot(
                address=address,
                factory=to_checksum_address(factory),
                fee_to=to_checksum_address(fee_to),
                token0=tokens[t0],
                token1=tokens[t1],
                reserve0=reserve0,
                reserve1=reserve1,
                block_timestamp_last=ts_last,
                total_supply=supply,
                k_last=k_last,
                price0_cumulative_last=p0,
                price1_cumulative_last=p1,
                holder_lp=lp,
            )
        )
    # an extra token (not of any pair) that fails is an error of its own
    for address, flags in token_flags.items():
        if address not in pair_tokens:
            token_error = _token_error(address, flags, None)
            if token_error is not None:
                errors.append(token_error)
    return Snapshot(
        block_number=block_number,
        block_timestamp=block_timestamp,
        base_fee_wei=base_fee,
        chain_id=chain_id,
        holder=to_checksum_address(holder),
        holder_native_wei=holder_native,
        pairs=tuple(pairs),
        tokens=tokens,
        balances=balances,
        errors=tuple(errors),
    )


def merge_snapshots(parts: Iterable[Snapshot]) -> Snapshot:
    """One Snapshot from chunks read at the same block (pairs and errors in chunk order)."""
    parts = list(parts)
    first = parts[0]
    for part in parts[1:]:
        if (part.block_number, part.holder) != (first.block_number, first.holder):
            raise LensFailed(f"chunks read at blocks {first.block_number} and {part.block_number}")
    tokens: dict[str, TokenInfo] = {}
    balances: dict[str, int] = {}
    for part in parts:
        tokens.update(part.tokens)
        balances.update(part.balances)
    seen_errors: dict[str, BookReadError] = {}
    for part in parts:
        for error in part.errors:
            seen_errors.setdefault(error.address + type(error).__name__, error)
    return Snapshot(
        block_number=first.block_number,
        block_timestamp=first.block_timestamp,
        base_fee_wei=first.base_fee_wei,
        chain_id=first.chain_id,
        holder=first.holder,
        holder_native_wei=first.holder_native_wei,
        pairs=tuple(p for part in parts for p in part.pairs),
        tokens=tokens,
        balances=balances,
        errors=tuple(seen_errors.values()),
    )
