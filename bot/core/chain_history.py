"""A chain's recorded history of the book's pairs, as blocks a backtest replays. Pure.

From `eth_getLogs` of the pairs (Sync, Swap, Mint, Burn, and LP Transfers to the zero address:
what a burn destroyed) and each block's header, every block becomes a `Tick` whose `events` say
what each transaction did to a pair: the reserves before and after (the Sync), the amounts, and
whether it was the book's own vault. UniswapV2Pair emits Sync from `_update` before the Swap, Mint
or Burn of the same call, so each of those takes the Sync just before it; a Sync alone (`sync()`
after a donation) is an event of its own.

The replay (`bot.core.backtest`) skips the vault's own events (the policy's bundles take their
place) and applies everyone else's: exactly as recorded while the simulated pool is where the
chain's was, and as the same trade on the simulated pool once the policy made it differ. The
token prices a tick carries (for reporting values) come from the recorded reserves through the
book's pairs, and the arbitrageur's target for each pool is its recorded price at the block's end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from eth_utils.crypto import keccak

from bot.core.backtest import PoolEvent, Tick
from bot.core.errors import BadInput
from bot.core.pricing import spot_prices
from bot.core.snapshot import Snapshot

SYNC = "0x" + keccak(text="Sync(uint112,uint112)").hex()
SWAP = "0x" + keccak(text="Swap(address,uint256,uint256,uint256,uint256,address)").hex()
MINT = "0x" + keccak(text="Mint(address,uint256,uint256)").hex()
BURN = "0x" + keccak(text="Burn(address,uint256,uint256,address)").hex()
TRANSFER = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
TOPICS = (SYNC, SWAP, MINT, BURN, TRANSFER)
ZERO_TOPIC = "0x" + "00" * 32


@dataclass(frozen=True, slots=True)
class Header:
    """A block's number, time and base fee."""

    number: int
    timestamp: int
    base_fee_wei: int


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _words(data: str) -> list[int]:
    raw = data[2:] if data.startswith("0x") else data
    return [int(raw[i : i + 64], 16) for i in range(0, len(raw), 64)]


def _address(topic: str) -> str:
    return "0x" + topic[-40:]


def decode(logs: Iterable[Mapping[str, Any]], start: Snapshot, vault: str) -> dict[int, list[PoolEvent]]:
    """The pairs' events by block, in order, with the reserves each found and left.

    Args:
        logs: `eth_getLogs` answers for the pairs of `start`, after its block.
        start: the book at the block before the logs (its pairs' reserves are the first "before").

    Raises:
        BadInput: a log the pair contract would not emit (a Swap without its Sync, a short body).
    """
    recorded = {p.address.lower(): (p.reserve0, p.reserve1) for p in start.pairs}
    names = {p.address.lower(): p.address for p in start.pairs}
    own = vault.lower()
    ordered = sorted(logs, key=lambda log: (_int(log["blockNumber"]), _int(log["logIndex"])))
    out: dict[int, list[PoolEvent]] = {}
    pending: dict[str, tuple[str, int, tuple[int, int]]] = {}  # pair -> (tx, block, reserves) of a Sync
    burned: dict[tuple[str, str], int] = {}  # (pair, tx) -> LP destroyed

    def flush(pair: str) -> None:
        """A Sync no Swap, Mint or Burn followed: a bare sync (a donation, a skim)."""
        if pair in pending:
            _, block, reserves = pending.pop(pair)
            out.setdefault(block, []).append(PoolEvent(names[pair], "sync", False, recorded[pair], reserves))
            recorded[pair] = reserves

    for log in ordered:
        pair = str(log["address"]).lower()
        if pair not in recorded:
            continue
        topics = [str(t).lower() for t in log["topics"]]
        tx, block = str(log["transactionHash"]), _int(log["blockNumber"])
        words = _words(str(log["data"]))
        kind = topics[0] if topics else ""
        where = f"log {_int(log['logIndex'])} of block {block} ({names[pair]})"
        if kind == TRANSFER:
            if len(topics) == 3 and topics[2] == ZERO_TOPIC and _address(topics[1]) == pair and words:
                burned[(pair, tx)] = burned.get((pair, tx), 0) + words[0]
            continue
        if kind == SYNC:
            flush(pair)  # a Sync before this one that no op followed
            if len(words) < 2:
                raise BadInput(f"{where}: a Sync with {len(words)} words")
            pending[pair] = (tx, block, (words[0], words[1]))
            continue
        if kind not in (SWAP, MINT, BURN):
            continue
        if pair not in pending or pending[pair][0] != tx:
            raise BadInput(f"{where}: a {'Swap' if kind == SWAP else 'Mint' if kind == MINT else 'Burn'} "
                           "without the Sync the pair emits before it")  # fmt: skip
        _, _, after = pending.pop(pair)
        sender = _address(topics[1]) if len(topics) > 1 else ""
        before = recorded[pair]
        if kind == SWAP:
            if len(words) < 4:
                raise BadInput(f"{where}: a Swap with {len(words)} words")
            event = PoolEvent(names[pair], "swap", sender == own, before, after, *words[:4])
        elif kind == MINT:
            if len(words) < 2:
                raise BadInput(f"{where}: a Mint with {len(words)} words")
            event = PoolEvent(names[pair], "mint", sender == own, before, after, words[0], words[1])
        else:
            if len(words) < 2:
                raise BadInput(f"{where}: a Burn with {len(words)} words")
            event = PoolEvent(
                names[pair], "burn", sender == own, before, after, amount0_out=words[0], amount1_out=words[1],
                liquidity=burned.pop((pair, tx), 0),
            )  # fmt: skip
        out.setdefault(block, []).append(event)
        recorded[pair] = after
    for pair in list(pending):
        flush(pair)
    return out


def ticks(
    start: Snapshot, headers: Sequence[Header], events: Mapping[int, Sequence[PoolEvent]], numeraire: str
) -> tuple[tuple[str, ...], list[Tick]]:
    """Every block of `headers` (after `start`'s) as a tick: its events, each pool's recorded
    price at its end, and token prices (numeraire per whole token) through the book's pairs.

    Returns:
        the token addresses (the ticks' price order) and the ticks.
    """
    tokens = tuple(start.tokens)
    reserves = {p.address: (p.reserve0, p.reserve1) for p in start.pairs}
    out = []
    for header in headers:
        for event in events.get(header.number, ()):
            reserves[event.pair] = event.after
        pairs = tuple(
            replace(p, reserve0=reserves[p.address][0], reserve1=reserves[p.address][1]) for p in start.pairs
        )
        snapshot = replace(start, block_number=header.number, block_timestamp=header.timestamp, pairs=pairs)
        prices = spot_prices(snapshot, numeraire)
        missing = [a for a in tokens if a not in prices]
        if missing:
            raise BadInput(f"block {header.number}: no price for {', '.join(missing)} through the pairs")
        out.append(
            Tick(
                header.timestamp,
                header.base_fee_wei,
                tuple(float(prices[a].value) for a in tokens),
                events=tuple(events.get(header.number, ())),
                pool_prices=tuple((address, r1, r0) for address, (r0, r1) in reserves.items() if r0 and r1),
                block=header.number,
            )
        )
    return tokens, out
