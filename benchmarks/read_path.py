"""Read path: the whole book in one eth_call against plain per-call web3 reads and against
Multicall3's aggregate3 (what a user on a real chain would pick), side by side.

On the local world grown to 200 pairs (the extra pairs and tokens are created here), every
path reads the same data at the same block; the benchmark checks they agree, then prints the
figures. Multicall3 is at one address on every chain; on the world, a contract written here
with its `aggregate3` interface (contracts/testing/Multicall3.vy) stands in, in batches of 256
calls sent at once. Last line: one JSON object.

    .venv/bin/python benchmarks/read_path.py [--pairs 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from eth_abi.abi import decode, encode
from eth_utils.crypto import keccak
from web3 import AsyncHTTPProvider, AsyncWeb3, Web3

from anvil.artifacts import artifact
from anvil.world import start_world
from bot.chain import rpc
from bot.chain.contracts import compiled
from bot.chain.snapshot_reader import SnapshotReader
from bot.core.address_book import AddressBook
from bot.core.snapshot import Snapshot

ERC20_ABI = compiled("TestToken").abi
PAIR_ABI = artifact("UniswapV2Pair").abi


def grow_world(url: str, book: AddressBook, pairs_wanted: int) -> list[str]:
    """Create tokens and seeded pairs until the world has `pairs_wanted` pairs; returns all pair addresses."""
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    deployer, holder = book.accounts["deployer"], book.accounts["holder"]
    factory = w3.eth.contract(address=book.dex.factory, abi=artifact("UniswapV2Factory").abi)
    token_art = compiled("TestToken")
    existing = [e.address for e in book.pairs.values()]
    missing = pairs_wanted - len(existing)
    n_tokens = next(n for n in itertools.count(2) if n * (n - 1) // 2 >= missing)

    def wait(tx: bytes) -> Any:
        receipt = w3.eth.wait_for_transaction_receipt(tx)
        if receipt["status"] != 1:
            raise RuntimeError(f"benchmark set-up transaction {tx.hex()} reverted")
        return receipt

    tokens = []
    for i in range(n_tokens):
        decimals = (6, 8, 18)[i % 3]
        tx = (
            w3.eth.contract(abi=token_art.abi, bytecode=token_art.bytecode)
            .constructor(f"Bench {i}", f"B{i}", decimals, 0)
            .transact({"from": deployer})
        )
        tokens.append(w3.eth.contract(address=wait(tx)["contractAddress"], abi=token_art.abi))
    created = []
    for a, b in itertools.islice(itertools.combinations(tokens, 2), missing):
        wait(factory.functions.createPair(a.address, b.address).transact({"from": deployer}))
        pair = factory.functions.getPair(a.address, b.address).call()
        for token in (a, b):
            amount = 10 ** token.functions.decimals().call() * 1_000_000
            wait(token.functions.mint(pair, amount).transact({"from": deployer}))
        wait(w3.eth.contract(address=pair, abi=PAIR_ABI).functions.mint(holder).transact({"from": deployer}))
        created.append(pair)
    return existing + created


async def read_ours(w3: AsyncWeb3, pairs: list[str], holder: str, block: int) -> tuple[Snapshot, int]:
    reader = SnapshotReader(w3)
    snapshot = await reader.read(pairs, holder, [], block)
    return snapshot, reader.calls


class NaiveReader:
    """What a script would do with plain web3: one call per field, per pair, per token."""

    def __init__(self, w3: AsyncWeb3) -> None:
        self.w3 = w3
        self.calls = 0

    async def call(self, fn: Any, block: int) -> Any:
        self.calls += 1
        return await fn.call(block_identifier=block)

    async def read_pair(self, address: str, holder: str, block: int) -> tuple[Any, ...]:
        c = self.w3.eth.contract(address=address, abi=PAIR_ABI).functions
        token0, token1 = await self.call(c.token0(), block), await self.call(c.token1(), block)
        reserve0, reserve1, ts = await self.call(c.getReserves(), block)
        return (
            address,
            await self.call(c.factory(), block),
            token0,
            token1,
            reserve0,
            reserve1,
            ts,
            await self.call(c.totalSupply(), block),
            await self.call(c.kLast(), block),
            await self.call(c.price0CumulativeLast(), block),
            await self.call(c.price1CumulativeLast(), block),
            await self.call(c.balanceOf(holder), block),
        )

    async def read_token(self, token: str, holder: str, block: int) -> tuple[Any, ...]:
        t = self.w3.eth.contract(address=token, abi=ERC20_ABI).functions
        return (
            await self.call(t.symbol(), block),
            await self.call(t.decimals(), block),
            await self.call(t.balanceOf(holder), block),
        )

    async def read(
        self, pairs: list[str], holder: str, block: int, concurrent: bool = False
    ) -> dict[str, Any]:
        """Sequential awaits, or (concurrent) every pair at once with asyncio.gather."""
        header = await self.w3.eth.get_block(block)
        native = await self.w3.eth.get_balance(holder, block)
        self.calls += 2
        if concurrent:
            rows = list(await asyncio.gather(*(self.read_pair(a, holder, block) for a in pairs)))
        else:
            rows = [await self.read_pair(a, holder, block) for a in pairs]
        tokens = list(dict.fromkeys(t for row in rows for t in (row[2], row[3])))
        if concurrent:
            token_rows = list(await asyncio.gather(*(self.read_token(t, holder, block) for t in tokens)))
        else:
            token_rows = [await self.read_token(t, holder, block) for t in tokens]
        return {
            "block": (header["number"], header["timestamp"], header["baseFeePerGas"], native),
            "pairs": rows,
            "tokens": dict(zip(tokens, token_rows, strict=True)),
        }


MULTICALL_BATCH = 256
AGGREGATE3 = keccak(text="aggregate3((address,bool,bytes)[])")[:4]
PAIR_FIELDS = [  # (signature, output type), in the order of a NaiveReader row after the address
    ("factory()", "address"), ("token0()", "address"), ("token1()", "address"),
    ("getReserves()", "(uint112,uint112,uint32)"), ("totalSupply()", "uint256"), ("kLast()", "uint256"),
    ("price0CumulativeLast()", "uint256"), ("price1CumulativeLast()", "uint256"),
]  # fmt: skip
TOKEN_FIELDS = [("symbol()", "string"), ("decimals()", "uint8")]


def deploy_multicall(url: str, book: AddressBook) -> str:
    w3 = Web3(Web3.HTTPProvider(url))
    art = compiled("testing/Multicall3")
    tx = (
        w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        .constructor()
        .transact({"from": book.accounts["deployer"]})
    )
    return str(w3.eth.wait_for_transaction_receipt(tx)["contractAddress"])


class MulticallReader:
    """The same fields through Multicall3.aggregate3: batches of 256 calls, sent at once."""

    def __init__(self, w3: AsyncWeb3, multicall: str) -> None:
        self.w3, self.multicall = w3, multicall
        self.calls = 0

    async def batch(self, calls: list[tuple[str, bytes]], outs: list[str], block: int) -> list[Any]:
        async def one(chunk: list[tuple[str, bytes]]) -> list[tuple[bool, bytes]]:
            data = AGGREGATE3 + encode(["(address,bool,bytes)[]"], [[(t, False, d) for t, d in chunk]])
            self.calls += 1
            raw = await self.w3.eth.call({"to": self.multicall, "data": data}, block)
            (results,) = decode(["(bool,bytes)[]"], bytes(raw))
            return list(results)

        chunks = [calls[i : i + MULTICALL_BATCH] for i in range(0, len(calls), MULTICALL_BATCH)]
        results = [r for part in await asyncio.gather(*(one(c) for c in chunks)) for r in part]
        out = []
        for (ok, data), kind in zip(results, outs, strict=True):
            assert ok
            (value,) = decode([kind], data)
            out.append(value)
        return out

    async def read(self, pairs: list[str], holder: str, block: int) -> dict[str, Any]:
        header = await self.w3.eth.get_block(block)
        native = await self.w3.eth.get_balance(holder, block)
        self.calls += 2
        fields = [*PAIR_FIELDS, ("balanceOf(address)", "uint256")]
        calls, outs = [], []
        for address in pairs:
            for signature, kind in fields:
                args = encode(["address"], [holder]) if signature.startswith("balanceOf") else b""
                calls.append((address, keccak(text=signature)[:4] + args))
                outs.append(kind)
        values = await self.batch(calls, outs, block)
        rows = []
        for i, address in enumerate(pairs):
            f, t0, t1, (r0, r1, ts), supply, k, c0, c1, lp = values[i * len(fields) : (i + 1) * len(fields)]
            rows.append(
                (
                    address,
                    Web3.to_checksum_address(f),
                    Web3.to_checksum_address(t0),
                    Web3.to_checksum_address(t1),
                    r0,
                    r1,
                    ts,
                    supply,
                    k,
                    c0,
                    c1,
                    lp,
                )
            )
        tokens = list(dict.fromkeys(t for row in rows for t in (row[2], row[3])))
        calls, outs = [], []
        for token in tokens:
            for signature, kind in [*TOKEN_FIELDS, ("balanceOf(address)", "uint256")]:
                args = encode(["address"], [holder]) if signature.startswith("balanceOf") else b""
                calls.append((token, keccak(text=signature)[:4] + args))
                outs.append(kind)
        values = await self.batch(calls, outs, block)
        token_rows = [tuple(values[i * 3 : i * 3 + 3]) for i in range(len(tokens))]
        return {
            "block": (header["number"], header["timestamp"], header["baseFeePerGas"], native),
            "pairs": rows,
            "tokens": dict(zip(tokens, token_rows, strict=True)),
        }


def same_data(ours: Snapshot, naive: dict[str, Any]) -> bool:
    if (ours.block_number, ours.block_timestamp, ours.base_fee_wei, ours.holder_native_wei) != naive["block"]:
        return False
    mine = [
        (
            p.address,
            p.factory,
            p.token0.address,
            p.token1.address,
            p.reserve0,
            p.reserve1,
            p.block_timestamp_last,
            p.total_supply,
            p.k_last,
            p.price0_cumulative_last,
            p.price1_cumulative_last,
            p.holder_lp,
        )
        for p in ours.pairs
    ]
    tokens = {a: (t.symbol, t.decimals, ours.balances[a]) for a, t in ours.tokens.items()}
    return mine == naive["pairs"] and tokens == naive["tokens"]


async def measure(url: str, pairs: list[str], holder: str, repeats: int, multicall: str) -> dict[str, Any]:
    # ours through our own endpoint pool; the naive reads through plain web3, as a user would
    plain = AsyncWeb3(AsyncHTTPProvider(url, request_kwargs={"timeout": aiohttp.ClientTimeout(total=120)}))
    async with rpc.connect(url, deadline_s=120, rate_per_s=1e9) as w3:
        block = await w3.eth.block_number
        await read_ours(w3, pairs[:1], holder, block)  # warm: compile cache, connection
        ours_s, naive_s = [], []
        snapshot, calls_ours = await read_ours(w3, pairs, holder, block)
        for _ in range(repeats):
            started = time.perf_counter()
            snapshot, calls_ours = await read_ours(w3, pairs, holder, block)
            ours_s.append(time.perf_counter() - started)
        multi_s = []
        for _ in range(repeats):
            multi = MulticallReader(plain, multicall)
            started = time.perf_counter()
            multi_data = await multi.read(pairs, holder, block)
            multi_s.append(time.perf_counter() - started)
        gather_s = []
        for _ in range(max(1, repeats // 2)):
            naive = NaiveReader(plain)
            started = time.perf_counter()
            naive_data = await naive.read(pairs, holder, block)
            naive_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            gathered = await NaiveReader(plain).read(pairs, holder, block, concurrent=True)
            gather_s.append(time.perf_counter() - started)
    if snapshot.errors or len(snapshot.pairs) != len(pairs):
        raise RuntimeError(f"the snapshot has errors: {snapshot.errors[:3]}")
    if not (
        same_data(snapshot, naive_data) and same_data(snapshot, gathered) and same_data(snapshot, multi_data)
    ):
        raise RuntimeError("the one-call snapshot, the per-call reads and Multicall3 disagree")
    await plain.provider.disconnect()
    return {
        "block": block,
        "calls_ours": calls_ours,
        "calls_naive": naive.calls,
        "ours_ms": statistics.median(ours_s) * 1000,
        "naive_ms": statistics.median(naive_s) * 1000,
        "gather_ms": statistics.median(gather_s) * 1000,
        "multicall_ms": statistics.median(multi_s) * 1000,
        "calls_multicall": multi.calls,
        "tokens": len(snapshot.tokens),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    node, book = start_world()
    try:
        started = time.perf_counter()
        pairs = grow_world(node.url, book, args.pairs)
        print(f"world grown to {len(pairs)} pairs in {time.perf_counter() - started:.1f} s")
        multicall = deploy_multicall(node.url, book)
        fig = asyncio.run(measure(node.url, pairs, book.accounts["holder"], args.repeats, multicall))
    finally:
        node.stop()
    speedup = fig["naive_ms"] / fig["ours_ms"]
    print(f"block {fig['block']}: {len(pairs)} pairs, {fig['tokens']} tokens, same data on every path")
    print(f"{'path':<26}{'eth calls':>10}{'median ms':>12}")
    print(f"{'one-call lens (ours)':<26}{fig['calls_ours']:>10}{fig['ours_ms']:>12.1f}")
    print(f"{'plain web3, per call':<26}{fig['calls_naive']:>10}{fig['naive_ms']:>12.1f}")
    print(f"{'plain web3, gathered':<26}{fig['calls_naive']:>10}{fig['gather_ms']:>12.1f}")
    print(f"{'Multicall3 aggregate3':<26}{fig['calls_multicall']:>10}{fig['multicall_ms']:>12.1f}")
    gathered = fig["gather_ms"] / fig["ours_ms"]
    multi = fig["multicall_ms"] / fig["ours_ms"]
    print(f"speedup {speedup:.1f}x over per-call reads, {gathered:.1f}x over gathered ones,", end=" ")
    print(f"{multi:.1f}x over Multicall3")
    result = {
        "bench": "read_path",
        "pairs": len(pairs),
        "calls_ours": fig["calls_ours"],
        "calls_naive": fig["calls_naive"],
        "speedup": round(speedup, 1),
        "speedup_vs_gathered": round(gathered, 1),
        "speedup_vs_multicall": round(multi, 1),
        "calls_multicall": fig["calls_multicall"],
        "ours_ms": round(fig["ours_ms"], 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
