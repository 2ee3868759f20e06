"""Moving a token's price on a running world through the whale's swaps (for demos and guard drills).

Every pair of the world with the token is swapped, straight through the pair (a transfer and
`swap`), until the token's price there has moved by the percentage asked; the whale is funded
with what it needs (ether wrapped, test tokens minted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from web3 import Web3

from anvil.artifacts import artifact
from anvil.world import Deployer
from bot.chain.contracts import compiled
from bot.core.address_book import AddressBook
from bot.core.amm import get_amount_in, get_amount_out
from bot.core.errors import BadInput


@dataclass(frozen=True, slots=True)
class Moved:
    pair: str
    quote: str  # the pair's other token
    before: float  # the token's price in the quote token
    after: float


def move_price(url: str, book: AddressBook, symbol: str, percent: float) -> list[Moved]:
    """Move `symbol`'s price by `percent` (-50: halve it) in every world pair that holds it.

    Raises:
        BadInput: no such token, no pair of it, or a move of -100% or less.
    """
    if symbol not in book.tokens:
        raise BadInput(f"no token {symbol!r} in the world ({', '.join(book.tokens)})")
    if not math.isfinite(percent) or percent == 0:
        raise BadInput(f"{percent:g}%: a move is a finite number of percent, not 0")
    if percent <= -100:
        raise BadInput(f"a price can fall by less than 100%, not {percent:g}%")
    names = [n for n, p in book.pairs.items() if symbol in (p.token0, p.token1) and "FOT" not in n]
    if not names:
        raise BadInput(f"no pair of {symbol} in the world")
    w3 = Web3(Web3.HTTPProvider(url))
    tx = Deployer(w3)
    whale, deployer = book.accounts["whale"], book.accounts["deployer"]
    factor = 1 + percent / 100
    out = []
    for name in names:
        entry = book.pairs[name]
        pair = w3.eth.contract(address=entry.address, abi=artifact("UniswapV2Pair").abi)
        r0, r1, _ = pair.functions.getReserves().call()
        mine_first = entry.token0 == symbol
        quote = entry.token1 if mine_first else entry.token0
        scale = 10 ** book.tokens[symbol].decimals / 10 ** book.tokens[quote].decimals
        mine, other = (r0, r1) if mine_first else (r1, r0)
        before = other / mine * scale
        # the token's reserve after a fee-less swap to the new price: k stays, price * factor
        target = int(mine / math.sqrt(factor))
        if target < mine:  # the price rises: the whale buys the token with the other one
            amount_out = mine - target
            amount_in = get_amount_in(amount_out, other, mine, book.dex.fee_bps)
            token_in = quote
            outs = (amount_out, 0) if mine_first else (0, amount_out)
        else:  # it falls: the whale sells the token
            amount_in = target - mine
            token_in = symbol
            got = get_amount_out(amount_in, mine, other, book.dex.fee_bps)
            outs = (0, got) if mine_first else (got, 0)
        if amount_in:
            _fund(w3, tx, book, whale, deployer, token_in, amount_in)
            token = w3.eth.contract(address=book.tokens[token_in].address, abi=compiled("TestToken").abi)
            tx.send(token.functions.transfer(entry.address, amount_in), whale)
            tx.send(pair.functions.swap(outs[0], outs[1], whale, b""), whale)
        r0, r1, _ = pair.functions.getReserves().call()
        mine, other = (r0, r1) if mine_first else (r1, r0)
        out.append(Moved(name, quote, before, other / mine * scale))
    return out


def _fund(
    w3: Web3, tx: Deployer, book: AddressBook, whale: str, deployer: str, symbol: str, amount: int
) -> None:
    token = book.tokens[symbol]
    if token.address == book.dex.weth:
        balance = w3.eth.get_balance(whale)  # type: ignore[arg-type]
        w3.provider.make_request("anvil_setBalance", [whale, hex(balance + amount)])  # type: ignore[arg-type]
        weth = w3.eth.contract(address=token.address, abi=artifact("WETH9").abi)
        tx.send(weth.functions.deposit(), whale, value=amount)
    else:
        minted = w3.eth.contract(address=token.address, abi=compiled("TestToken").abi)
        tx.send(minted.functions.mint(whale, amount), deployer)
