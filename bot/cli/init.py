"""`ammkeeper init`: a book file from what a vault (or any holder) holds on a chain.

    ammkeeper init --rpc URL --vault ADDRESS (--dex PRESET | --factory F --init-code-hash H --fee-bps N)
                   (--pair ADDRESS … | --token ADDRESS …) [--chain KEY] [--numeraire SYMBOL]
                   [--equal] [--name NAME] --out book.toml

Pairs come from `--pair`, or from the factory (`getPair`) for every two of the `--token`s. Each
is proven to be the factory's (its `factory()` and its CREATE2 address from the init code
hash): a pair of another factory, an EOA or a token is refused with the reason, since its fee
cannot be established. Symbols and decimals are read from the tokens, the holdings from the
chain: an LP sleeve per pair held (its entry = what its LP holds now), a token sleeve per token
held, targets at the current weights (or equal). Defaults fit the chain (its preset's block
time and confirmations, wider bands where gas is dear) and the TWAP window is one the node's
history serves. The file is validated before it is written; an existing file is never replaced.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import tomllib
from fractions import Fraction
from pathlib import Path
from typing import Any

from web3 import AsyncWeb3

from bot.chain import endpoints, erc20, rpc
from bot.chain.headers import header_at
from bot.chain.snapshot_reader import SnapshotReader
from bot.chain.vault import pair_fees
from bot.chain.views import view
from bot.cli import options
from bot.cli.vault import address_arg
from bot.core import presets
from bot.core.amm import lp_share_amounts
from bot.core.book import Book
from bot.core.book_writer import (
    DexFound,
    FoundPair,
    FoundSleeve,
    FoundToken,
    Settings,
    book_toml,
    rounded_targets,
)
from bot.core.errors import BadInput, RpcError
from bot.core.units import amount_text
from bot.core.valuation import value_book

STABLES = ("USDC", "USDT", "DAI", "USDC.e", "USDbC", "BUSD")
EXPENSIVE_CHAINS = {1}  # mainnet Ethereum: wider bands, fewer rebalances
TWAP_WINDOWS = ((1800, "30m"), (600, "10m"), (300, "5m"))
HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
GET_RESERVES = "0x0902f1ac"


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    parser = sub.add_parser("init", parents=[common], help="write a book file from what a vault holds")
    options.add_rpc(parser)
    parser.add_argument(
        "--vault", required=True, help="the vault (or any holder) whose holdings the book describes"
    )
    parser.add_argument(
        "--chain", help="the chain's preset (ethereum, base, arbitrum, optimism, polygon, bnb, anvil)"
    )
    parser.add_argument(
        "--dex", help="the pairs' DEX preset on the chain (uniswap-v2, sushiswap-v2, pancakeswap-v2, …)"
    )
    parser.add_argument("--factory", help="a DEX without a preset: its factory …")
    parser.add_argument("--init-code-hash", help="… its pairs' init code hash …")
    parser.add_argument("--fee-bps", type=int, help="… and its swap fee in bps")
    parser.add_argument("--pair", action="append", default=[], help="a pair's address (repeat)")
    parser.add_argument(
        "--token", action="append", default=[], help="a token's address (repeat): its pairs are found"
    )
    parser.add_argument(
        "--numeraire", help="the symbol values are said in (default: a stablecoin, else the native)"
    )
    parser.add_argument("--equal", action="store_true", help="equal targets (default: the current weights)")
    parser.add_argument("--name", default="book", help="the book's name")
    parser.add_argument("--out", type=Path, required=True, help="the book file to write (never replaced)")
    parser.set_defaults(func=command)


def _dex(args: argparse.Namespace, chain: presets.ChainPreset | None) -> DexFound:
    custom = (args.factory, args.init_code_hash, args.fee_bps)
    if args.dex is not None:
        if any(c is not None for c in custom):
            raise BadInput("--dex names a preset: drop --factory, --init-code-hash and --fee-bps (or --dex)")
        if chain is None:
            raise BadInput(
                f"--dex {args.dex}: the chain has no presets; give --factory, --init-code-hash and --fee-bps"
            )
        found = presets.dex(args.dex, chain.key)
        return DexFound(found.key, found.fee_bps, found.factory, found.init_code_hash, found.source)
    if any(c is None for c in custom):
        raise BadInput("which DEX? --dex PRESET, or all of --factory, --init-code-hash and --fee-bps")
    if not HASH.match(args.init_code_hash):
        raise BadInput(f"--init-code-hash {args.init_code_hash!r} is not 32 bytes of hex")
    if not 0 <= args.fee_bps < 10_000:
        raise BadInput(f"--fee-bps {args.fee_bps}: a fee in basis points, below 10,000")
    return DexFound(
        "custom", args.fee_bps, address_arg(args.factory, "--factory"), args.init_code_hash.lower()
    )


async def _code(w3: AsyncWeb3[Any], address: str) -> bool:
    return str(await rpc.result(w3, "eth_getCode", [address, "latest"])) not in ("0x", "0x0", "")


async def _prove(w3: AsyncWeb3[Any], address: str, dex: DexFound) -> tuple[str, str]:
    """(token0, token1) of a pair proven to be the DEX factory's.

    Raises:
        BadInput: no code (an EOA), not a pair (a token, another contract), another factory's,
            or not at the CREATE2 address its tokens give.
    """
    if not await _code(w3, address):
        raise BadInput(f"pair {address} has no code: an account, not a pair")
    try:
        token0 = str((await view(w3, address, "token0()", ["address"]))[0])
        token1 = str((await view(w3, address, "token1()", ["address"]))[0])
        factory = str((await view(w3, address, "factory()", ["address"]))[0])
    except BadInput:
        raise BadInput(
            f"{address} answers no token0()/token1()/factory(): not a V2 pair (a token?)"
        ) from None
    factory, token0, token1 = (address_arg(a, "address") for a in (factory, token0, token1))
    if factory != dex.factory:
        raise BadInput(
            f"pair {address} is factory {factory}'s, not {dex.name}'s {dex.factory}: its fee cannot be "
            "established (name its DEX with --dex, or --factory, --init-code-hash and --fee-bps)"
        )
    expected = presets.pair_address(factory, token0, token1, dex.init_code_hash)
    if expected != address:
        raise BadInput(
            f"pair {address} claims factory {factory}, but that factory's pair of its tokens is {expected}: "
            "not a pair it created (or another init code hash)"
        )
    return token0, token1


async def _find(w3: AsyncWeb3[Any], dex: DexFound, tokens: list[str]) -> list[str]:
    """The factory's pairs of every two of `tokens` (those that exist)."""
    found = []
    for a, b in itertools.combinations(tokens, 2):
        data: tuple[list[str], list[Any]] = (["address", "address"], [a, b])
        (pair,) = await view(w3, dex.factory, "getPair(address,address)", ["address"], data)
        if int(str(pair), 16):
            found.append(address_arg(str(pair), "pair"))
    return found


def _symbols(raw: dict[str, str], canonical: str | None = None) -> dict[str, str]:
    """A usable, unique symbol per token address; the chain's own wrapped native token (`canonical`)
    names itself first, so a token that merely calls itself WETH becomes WETH2, never the reverse."""
    out: dict[str, str] = {}
    order = sorted(raw, key=lambda a: a != canonical)
    for address in order:
        symbol = raw[address]
        clean = re.sub(r"[^A-Za-z0-9.+_-]", "", symbol) or f"T{address[2:8]}"
        name, n = clean, 2
        while name in out.values():
            name, n = f"{clean}{n}", n + 1
        out[address] = name
    return out


async def _twap_window(w3: AsyncWeb3[Any], pair: str) -> tuple[str, str]:
    """The longest of TWAP_WINDOWS whose start the node still serves (its blocks' own pace)."""
    head = await header_at(w3, "latest")
    k = min(head.number, 100)
    if k == 0:
        return "5m", "the chain has no history yet: the running keeper builds the window from its journal"
    pace = max(1e-3, (head.timestamp - (await header_at(w3, head.number - k)).timestamp) / k)
    for seconds, text in TWAP_WINDOWS:
        back = int(seconds / pace) + 1
        if back > head.number:
            continue
        answer = await rpc.request(
            w3, "eth_call", [{"to": pair, "data": GET_RESERVES}, hex(head.number - back)]
        )
        if "error" not in answer:
            return text, f"the node serves the state of {text} ago"
    return "5m", "the node keeps little history: the running keeper builds the window from its journal"


async def build(args: argparse.Namespace) -> tuple[str, str]:
    """(the book's text, a summary line)."""
    ends = endpoints.resolve(None, args.rpc)
    vault = address_arg(args.vault, "--vault")
    tokens_given = [address_arg(t, "--token") for t in args.token]
    pairs_given = [address_arg(p, "--pair") for p in args.pair]
    if not tokens_given and not pairs_given:
        raise BadInput("which pairs? --pair ADDRESS (repeat), or --token ADDRESS (repeat) to find them")
    async with rpc.connect(ends.calls) as w3:
        chain_id = int(str(await rpc.result(w3, "eth_chainId", [])), 16)
        chain = None
        if args.chain is not None:
            chain = presets.chain(args.chain)
            if chain.chain_id != chain_id:
                raise BadInput(
                    f"--chain {args.chain} is chain {chain.chain_id}; the RPC serves chain {chain_id}"
                )
        else:
            try:
                chain = presets.chain(chain_id)
            except BadInput:
                chain = None
        dex = _dex(args, chain)
        pairs = list(dict.fromkeys([*pairs_given, *await _find(w3, dex, tokens_given)]))
        if not pairs:
            raise BadInput(f"{dex.name}'s factory has no pair of those tokens")
        pair_tokens = {p: await _prove(w3, p, dex) for p in pairs}
        addresses = list(dict.fromkeys([*tokens_given, *(t for ts in pair_tokens.values() for t in ts)]))
        canonical = chain.wrapped_native_address if chain is not None else None
        symbols = _symbols({a: await erc20.symbol(w3, a) for a in addresses}, canonical)
        decimals = {a: await erc20.decimals(w3, a) for a in addresses}
        snapshot = await SnapshotReader(w3).read(pairs, vault, addresses, "latest")
        if snapshot.errors:
            raise snapshot.errors[0]
        is_vault = await _code(w3, vault) and await _answers_keeper(w3, vault)
        not_allowed: list[str] = []
        if is_vault:
            for address, fee in (await pair_fees(w3, vault, pairs)).items():
                if fee is None:
                    not_allowed.append(address)
                elif fee != dex.fee_bps:
                    raise BadInput(
                        f"pair {address}: the vault swaps it with a {fee} bps fee, not {dex.name}'s "
                        f"{dex.fee_bps}: fix --fee-bps (or --dex), or the vault's allowlist"
                    )
        holder_note = (
            "an ammkeeper vault: its keeper may rebalance it"
            if is_vault
            else "a holder that is no ammkeeper vault yet: `ammkeeper vault deploy`, deposit these holdings, "
            "and put the vault's address in `vault` before `plan`"
        )
        if not_allowed:
            holder_note += (
                f"; NOT on its allowlist yet (a bundle through them reverts): {', '.join(not_allowed)}: "
                "ammkeeper vault allow …"
            )
        block_time = chain.block_time_s if chain is not None else 12.0
        twap_window, twap_note = await _twap_window(w3, pairs[0])
    names = {p: f"{symbols[t0]}/{symbols[t1]}" for p, (t0, t1) in pair_tokens.items()}
    by_symbol = {symbols[a]: a for a in addresses}
    native = _native(chain, symbols)
    numeraire = args.numeraire or next((s for s in STABLES if s in by_symbol), native)
    if numeraire not in by_symbol:
        raise BadInput(f"--numeraire {numeraire}: not among the tokens ({', '.join(by_symbol)})")
    sleeves = []
    for p in snapshot.pairs:
        if p.holder_lp:
            a0, a1 = lp_share_amounts(p.holder_lp, p.reserve0, p.reserve1, p.total_supply)
            entry = {
                symbols[p.token0.address]: amount_text(a0, p.token0.decimals),
                symbols[p.token1.address]: amount_text(a1, p.token1.decimals),
            }
            sleeves.append(FoundSleeve(Fraction(0), pair=names[p.address], entry=entry))
    for address in addresses:
        if snapshot.balances.get(address, 0):
            sleeves.append(FoundSleeve(Fraction(0), token=symbols[address]))
    if not sleeves:
        raise BadInput(
            f"{vault} holds none of these tokens or their LP: deposit first (ammkeeper vault deposit)"
        )
    settings = Settings(
        chain_id=chain_id,
        chain_name=chain.name if chain is not None else f"chain {chain_id}",
        block_time_s=block_time,
        confirmations=chain.confirmations if chain is not None else 3,
        band="0.05" if chain_id in EXPENSIVE_CHAINS else "0.02",
        twap_window=twap_window,
        twap_note=twap_note,
    )
    rpc_url = ends.calls[0] if endpoints.scrub(ends.calls[0]) == ends.calls[0] else None

    def text(with_sleeves: list[FoundSleeve], targets_from: str) -> str:
        return book_toml(
            name=args.name, vault=vault, holder_note=holder_note, numeraire=numeraire, native=native, dex=dex,
            others=[], tokens=[FoundToken(symbols[a], a, decimals[a]) for a in addresses],
            pairs=[FoundPair(names[p], p) for p in pairs], sleeves=with_sleeves, settings=settings,
            rpc=rpc_url, targets_from=targets_from,
        )  # fmt: skip

    equal = rounded_targets([Fraction(1, len(sleeves))] * len(sleeves))
    draft = [FoundSleeve(t, s.pair, s.token, s.entry) for s, t in zip(sleeves, equal, strict=True)]
    book = _validated(text(draft, "equal"))
    if args.equal:
        return text(draft, "equal (--equal)"), _summary(vault, pairs, sleeves, "equal", not_allowed)
    view_ = value_book(book, snapshot)
    weights = rounded_targets([view_.sleeve(s.pair or s.token or "").weight for s in sleeves])
    final = [FoundSleeve(t, s.pair, s.token, s.entry) for s, t in zip(sleeves, weights, strict=True)]
    out = text(final, "at the current weights")
    _validated(out)
    return out, _summary(vault, pairs, sleeves, "the current weights", not_allowed)


async def _answers_keeper(w3: AsyncWeb3[Any], vault: str) -> bool:
    try:
        await view(w3, vault, "keeper()", ["address"])
    except (BadInput, RpcError):
        return False
    return True


def _native(chain: presets.ChainPreset | None, symbols: dict[str, str]) -> str:
    if chain is not None and chain.wrapped_native_address is not None:
        if chain.wrapped_native_address in symbols:
            return symbols[chain.wrapped_native_address]
    else:
        wanted = chain.wrapped_native if chain is not None else "WETH"
        if wanted in symbols.values():
            return wanted
    native = chain.wrapped_native if chain is not None else "the wrapped native token"
    raise BadInput(f"none of the pairs holds {native}, which prices gas: add a --pair or --token with it")


def _validated(text: str) -> Book:
    try:
        return Book.parse(tomllib.loads(text))
    except BadInput as exc:
        raise BadInput(f"the book init would write does not validate: {exc}") from None


def _summary(
    vault: str, pairs: list[str], sleeves: list[FoundSleeve], targets: str, not_allowed: list[str]
) -> str:
    out = f"{len(pairs)} pair(s) proven, {len(sleeves)} sleeve(s) of {vault}, targets at {targets}"
    if not_allowed:
        out += (
            f"\nwarning: not on the vault's allowlist yet: {', '.join(not_allowed)} (ammkeeper vault allow …)"
        )
    return out


def command(args: argparse.Namespace) -> int:
    if args.out.exists():
        raise BadInput(f"{args.out} exists: init never replaces a book")
    text, summary = asyncio.run(build(args))
    try:
        args.out.write_text(text)
    except OSError as exc:
        raise BadInput(f"{args.out} cannot be written: {exc.strerror}") from None
    print(f"wrote {args.out}: {summary}")
    print(f"next: ammkeeper plan --config {args.out}")
    return 0
