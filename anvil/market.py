"""A market on the local world: a price path, arbitrageurs who trade the pools to it, noise traders.

Test and demo tooling (runs beside the keeper, from other accounts, through the real Router02).
Each simulated block: the path moves (a seeded geometric random walk per volatile token), the
whale trades every pool whose price is off the path by more than the fee back to it, the trader
makes a random swap, then one block is mined. The market's transactions pay no tip, so a keeper
transaction waiting in the same block goes first and executes against the state it planned on.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from fractions import Fraction

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from anvil.node import AnvilNode
from anvil.world import PAIRS, TOKENS, WETH, TokenSpec
from bot.core.address_book import AddressBook
from bot.core.amm import get_amount_out

APPROVE = keccak(text="approve(address,uint256)")[:4]
SWAP = keccak(text="swapExactTokensForTokens(uint256,uint256,address[],address,uint256)")[:4]
GET_RESERVES = "0x" + keccak(text="getReserves()")[:4].hex()
SPECS: dict[str, TokenSpec] = {WETH.symbol: WETH, **{t.symbol: t for t in TOKENS}}
# per-block volatility of each token's USD price (12 s blocks: 0.0045 is about 80% a year for ETH)
VOLATILITY = {"WETH": 0.0045, "WBTC": 0.0035, "LINK": 0.006}


@dataclass
class PricePath:
    """USD prices per token, moved one block at a time (stables stay at 1)."""

    seed: int = 7
    drift: dict[str, float] = field(default_factory=dict)  # per block, by token (a trend)
    prices: dict[str, float] = field(default_factory=lambda: {s: float(t.usd) for s, t in SPECS.items()})

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def step(self) -> dict[str, float]:
        common = self._rng.gauss(0, 1)  # crypto moves together
        for symbol, sigma in VOLATILITY.items():
            shock = 0.7 * common + math.sqrt(1 - 0.49) * self._rng.gauss(0, 1)
            self.prices[symbol] *= math.exp(self.drift.get(symbol, 0.0) - sigma * sigma / 2 + sigma * shock)
        return dict(self.prices)


@dataclass
class Market:
    """The world's market; `block()` trades and mines one block."""

    node: AnvilNode
    book: AddressBook
    path: PricePath = field(default_factory=PricePath)
    noise_usd: tuple[int, int] = (2_000, 40_000)
    trades: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.path.seed + 1)
        self.arbitrageur = self.book.accounts["whale"]
        self.noise = self.book.accounts["trader"]
        self._base_fee = self.node.rpc("eth_getBlockByNumber", "latest", False)["baseFeePerGas"]
        self.pairs = [(p.token_a, p.token_b) for p in PAIRS if "FOT" not in (p.token_a, p.token_b)]
        for account in (self.arbitrageur, self.noise):
            for symbol in SPECS:
                if symbol == "FOT":
                    continue
                data = APPROVE + encode(["address", "uint256"], [self.book.dex.router, 2**256 - 1])
                self._send(account, self.book.tokens[symbol].address, data)
        self.node.rpc("evm_mine")

    def _send(self, sender: str, to: str, data: bytes) -> None:
        # NOTE: no tip and a fee cap at the base fee: anvil then orders a keeper's bundle first
        tx = {"from": sender, "to": to, "data": "0x" + data.hex(), "maxPriorityFeePerGas": "0x0",
              "maxFeePerGas": self._base_fee, "gas": hex(400_000)}  # fmt: skip
        self.node.rpc("eth_sendTransaction", tx)

    def _reserves(self, a: str, b: str) -> tuple[int, int]:
        """The pair's reserves of a and b (in that order)."""
        entry = self.book.pairs.get(f"{a}/{b}") or self.book.pairs[f"{b}/{a}"]
        raw = self.node.rpc("eth_call", {"to": entry.address, "data": GET_RESERVES}, "latest")
        r0, r1 = int(raw[2:66], 16), int(raw[66:130], 16)
        return (r0, r1) if entry.token0 == a else (r1, r0)

    def _swap(self, sender: str, token_in: str, token_out: str, amount_in: int) -> None:
        tokens = [self.book.tokens[token_in].address, self.book.tokens[token_out].address]
        data = SWAP + encode(["uint256", "uint256", "address[]", "address", "uint256"],
                             [amount_in, 0, tokens, sender, 2**32])  # fmt: skip
        self._send(sender, self.book.dex.router, data)
        self.trades += 1

    def _arbitrage(self, prices: dict[str, float]) -> None:
        for a, b in self.pairs:
            ra, rb = self._reserves(a, b)
            # the path's price of a in b, in base units
            target = Fraction(prices[a] / prices[b]) * 10 ** SPECS[b].decimals / 10 ** SPECS[a].decimals
            spot = Fraction(rb, ra)
            if abs(spot / target - 1) < Fraction(4, 1000):  # inside the fee: no profit
                continue
            k = ra * rb
            if spot > target:  # a is dear in the pool: sell a
                new_ra = math.isqrt(int(k / target))
                self._swap(self.arbitrageur, a, b, max(1, (new_ra - ra) * 1000 // 997))
            else:
                new_rb = math.isqrt(int(k * target))
                self._swap(self.arbitrageur, b, a, max(1, (new_rb - rb) * 1000 // 997))

    def _noise_trade(self, prices: dict[str, float]) -> None:
        a, b = self.pairs[self._rng.randrange(len(self.pairs))]
        token_in = a if self._rng.random() < 0.5 else b
        token_out = b if token_in == a else a
        usd = self._rng.uniform(*self.noise_usd)
        amount = int(usd / prices[token_in] * 10 ** SPECS[token_in].decimals)
        ra, rb = self._reserves(token_in, token_out)
        if amount > 0 and get_amount_out(amount, ra, rb) > 0:
            self._swap(self.noise, token_in, token_out, amount)

    def head(self) -> int:
        return int(self.node.rpc("eth_blockNumber"), 16)

    def block(self) -> dict[str, float]:
        """Move the path, trade toward it, make noise, mine; the path's prices."""
        prices = self.path.step()
        self._base_fee = self.node.rpc("eth_getBlockByNumber", "latest", False)["baseFeePerGas"]
        self._arbitrage(prices)
        if self._rng.random() < 0.6:
            self._noise_trade(prices)
        self.node.rpc("evm_mine")
        return prices
