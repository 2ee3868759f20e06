"""What a thief holding the keeper key can take from the vault in a day, with the vault's guards and without.

The attacker signs bundles as the keeper (impersonated on anvil) and has a whale's capital. Each
attack is a self-sandwich: in one block (automine off) the whale pushes a pair, the keeper key makes
the vault burn its LP there and sell its whole balance of the token the whale sold into the pushed
pool with a min-out of 1 and no floors, and the whale sells back. Unguarded, every pair is attacked
in both directions. Guarded (the owner's `set_guards`: 100 bps from a 10 min TWAP, a 1 h cooldown,
24 bundles a day), the attacker sizes each sale at half of what the guard allows unpushed and
pushes the pair as far as the vault's own check still lets that through, as often as the cooldown
and the cap allow in a day (a first adversary: it does not yet try skewed mints or search the
trade-off between push and size). The loss is the vault's value
at the start's prices (LP as its underlying), in bps of its value at the start. Last line: one JSON.
"""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from web3 import Web3

from anvil.artifacts import artifact
from anvil.world import start_world
from bot.chain.contracts import compiled
from bot.core.address_book import AddressBook
from bot.core.amm import PairState
from bot.core.executor_ops import Burn, Swap, execute_calldata

DEVIATION_BPS = 100
WINDOW_S = 600
COOLDOWN_S = 3600
PER_DAY = 24
DEADLINE = 2**40


class Attack:
    def __init__(self, url: str, book: AddressBook) -> None:
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
        self.book = book
        self.keeper, self.whale, self.owner = (book.accounts[n] for n in ("keeper", "whale", "owner"))
        self.vault = self.w3.eth.contract(address=book.accounts["vault"], abi=compiled("Executor").abi)
        pair_abi = artifact("UniswapV2Pair").abi
        self.pairs = {
            name: self.w3.eth.contract(address=e.address, abi=pair_abi)
            for name, e in book.pairs.items()
            if "FOT" not in name
        }
        token_abi = compiled("TestToken").abi
        self.tokens = {
            e.address: self.w3.eth.contract(
                address=e.address, abi=artifact("WETH9").abi if s == "WETH" else token_abi
            )
            for s, e in book.tokens.items()
        }
        self.decimals = {e.address: e.decimals for e in book.tokens.values()}
        self.prices = self._prices()

    def rpc(self, method: str, *params: Any) -> Any:
        return self.w3.provider.make_request(method, list(params)).get("result")  # type: ignore[arg-type]

    def _prices(self) -> dict[str, Fraction]:
        """USDC per base unit of each token, from the pairs' spot prices now (the reference)."""
        usdc = self.book.tokens["USDC"].address
        prices = {usdc: Fraction(1)}
        for _ in range(3):
            for pair in self.pairs.values():
                t0, t1 = pair.functions.token0().call(), pair.functions.token1().call()
                r0, r1, _ = pair.functions.getReserves().call()
                if t0 in prices and t1 not in prices:
                    prices[t1] = prices[t0] * Fraction(r0, r1)
                elif t1 in prices and t0 not in prices:
                    prices[t0] = prices[t1] * Fraction(r1, r0)
        return prices

    def value(self) -> Fraction:
        """The vault's holdings at the reference prices, its LP as the tokens it would burn to."""
        vault = self.vault.address
        total = Fraction(0)
        for address, token in self.tokens.items():
            if address in self.prices:
                total += token.functions.balanceOf(vault).call() * self.prices[address]
        for pair in self.pairs.values():
            lp = pair.functions.balanceOf(vault).call()
            if lp:
                supply = pair.functions.totalSupply().call()
                r0, r1, _ = pair.functions.getReserves().call()
                t0, t1 = pair.functions.token0().call(), pair.functions.token1().call()
                total += Fraction(lp, supply) * (r0 * self.prices[t0] + r1 * self.prices[t1])
        return total

    def _swap_call(self, pair: Any, sell0: bool, amount: int) -> list[dict[str, Any]]:
        """The whale's transfer into the pair and its swap out: two transactions."""
        token = pair.functions.token0().call() if sell0 else pair.functions.token1().call()
        r0, r1, _ = pair.functions.getReserves().call()
        state = PairState(r0, r1, pair.functions.totalSupply().call(), 0, 30, False)
        out = state.amount_out(amount, sell0)
        return [
            {
                "from": self.whale,
                "to": token,
                "data": self.tokens[token].encode_abi("transfer", [pair.address, amount]),
            },
            {
                "from": self.whale,
                "to": pair.address,
                "data": pair.encode_abi(
                    "swap", [0, out, self.whale, b""] if sell0 else [out, 0, self.whale, b""]
                ),
            },
        ]

    def _bundle(self, pair: Any, sell0: bool, amount: int = 0) -> bytes:
        """Sell `amount` of the pushed-in token (min-out 1, no floors); 0: burn the vault's LP in the
        pair first and sell its whole balance."""
        ops: list[Any] = [Swap(pair.address, sell0, amount, 1)]
        if amount == 0:
            ops.insert(0, Burn(pair.address, 0, 1, 1))
        return execute_calldata(ops, DEADLINE, b"\x66" * 32)

    def bundle_passes(self, pair: Any, sell0: bool, amount: int = 0) -> bool:
        data = "0x" + self._bundle(pair, sell0, amount).hex()
        call = {"from": self.keeper, "to": self.vault.address, "data": data}
        answer = self.w3.provider.make_request("eth_call", [call, "latest"])  # type: ignore[arg-type]
        return "error" not in answer

    def fund_whale(self, token: str, amount: int) -> None:
        """Unlimited capital: the whale gets `amount` more of `token` (ETH wrapped, test tokens minted)."""
        if token == self.book.dex.weth:
            balance = int(self.rpc("eth_getBalance", self.whale, "latest"), 16)
            self.rpc("anvil_setBalance", self.whale, hex(balance + amount))
            data = self.tokens[token].encode_abi("deposit", [])
            tx = {"from": self.whale, "to": token, "value": amount, "data": data}
        else:
            deployer = self.book.accounts["deployer"]
            tx = {
                "from": deployer,
                "to": token,
                "data": self.tokens[token].encode_abi("mint", [self.whale, amount]),
            }
        self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_transaction(tx))

    def sandwich(self, name: str, sell0: bool, push: int, amount: int = 0) -> bool:
        """Push, the vault's bundle, push back: one block. True when the vault's bundle succeeded."""
        pair = self.pairs[name]
        token_in = pair.functions.token0().call() if sell0 else pair.functions.token1().call()
        self.fund_whale(token_in, push)
        # what the whale buys with the push, sold back after the vault's trade
        r0, r1, _ = pair.functions.getReserves().call()
        state = PairState(r0, r1, pair.functions.totalSupply().call(), 0, 30, False)
        bought = state.amount_out(push, sell0)
        # in one block, in this order: explicit gas (no estimate against the block not yet built),
        # and tips that order the whale's push before the vault's bundle
        base = int(self.w3.eth.get_block("latest")["baseFeePerGas"])
        first = {"gas": 300_000, "maxFeePerGas": 2 * base + 3 * 10**9, "maxPriorityFeePerGas": 3 * 10**9}
        second = {"gas": 2_000_000, "maxFeePerGas": 2 * base + 2 * 10**9, "maxPriorityFeePerGas": 2 * 10**9}
        self.rpc("evm_setAutomine", False)
        try:
            hashes = [
                self.w3.eth.send_transaction({**tx, **first}) for tx in self._swap_call(pair, sell0, push)
            ]
            data = "0x" + self._bundle(pair, sell0, amount).hex()
            ours = self.w3.eth.send_transaction(
                {"from": self.keeper, "to": self.vault.address, "data": data, **second}
            )
            self.rpc("evm_mine")
        finally:
            self.rpc("evm_setAutomine", True)
        for h in hashes:
            self.w3.eth.wait_for_transaction_receipt(h)
        ok = self.w3.eth.wait_for_transaction_receipt(ours)["status"] == 1
        # the back leg: sell what the push bought (at the pool the vault's trade left)
        for tx in self._swap_call(pair, not sell0, bought):
            self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_transaction(tx))
        return ok

    def largest_push(self, name: str, sell0: bool, amount: int) -> int:
        """The largest push (of the pushed-in token) after which the vault's bundle still passes."""
        pair = self.pairs[name]
        r0, r1, _ = pair.functions.getReserves().call()
        token_in = pair.functions.token0().call() if sell0 else pair.functions.token1().call()

        def passes(push: int) -> bool:
            snapshot = self.rpc("evm_snapshot")
            try:
                if push:
                    self.fund_whale(token_in, push)
                    for tx in self._swap_call(pair, sell0, push):
                        self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_transaction(tx))
                return self.bundle_passes(pair, sell0, amount)
            finally:
                self.rpc("evm_revert", snapshot)

        return largest(passes, (r0 if sell0 else r1) // 10)

    def largest_trade(self, name: str, sell0: bool) -> int:
        """The most of the pushed-in token the vault may sell there, unpushed, and still pass its guards."""
        pair = self.pairs[name]
        token_in = pair.functions.token0().call() if sell0 else pair.functions.token1().call()
        held = int(self.tokens[token_in].functions.balanceOf(self.vault.address).call())
        return largest(lambda amount: amount == 0 or self.bundle_passes(pair, sell0, amount), held)


def largest(passes: Any, high: int) -> int:
    """The largest x in [0, high] for which passes(x), by bisection (passes is monotone)."""
    low = 0
    for _ in range(40):
        if low >= high:
            break
        middle = (low + high + 1) // 2
        if passes(middle):
            low = middle
        else:
            high = middle - 1
    return low


def unguarded(url: str, book: AddressBook) -> tuple[Fraction, int]:
    attack = Attack(url, book)
    start = attack.value()
    attacks = 0
    for name, pair in attack.pairs.items():
        r0, r1, _ = pair.functions.getReserves().call()
        for sell0 in (True, False):
            attacks += attack.sandwich(name, sell0, 10 * (r0 if sell0 else r1))
    return (start - attack.value()) / start * 10_000, attacks


def guarded(url: str, book: AddressBook) -> tuple[Fraction, int]:
    attack = Attack(url, book)
    owner = attack.owner
    attack.w3.eth.wait_for_transaction_receipt(
        attack.vault.functions.set_guards(DEVIATION_BPS, WINDOW_S, COOLDOWN_S, PER_DAY).transact(
            {"from": owner}
        )
    )
    pairs = [p.address for p in attack.pairs.values()]
    attack.w3.eth.wait_for_transaction_receipt(attack.vault.functions.poke(pairs).transact({"from": owner}))
    attack.rpc("evm_increaseTime", WINDOW_S + 1)
    attack.rpc("evm_mine")
    start = attack.value()
    attacks = 0
    targets = [(name, sell0) for name in attack.pairs for sell0 in (True, False)]
    for i in range(PER_DAY + 2):  # the cap stops the last two
        # half the trade the guard would allow unpushed, and the largest push that still lets it through
        name, sell0 = targets[i % len(targets)]
        amount = attack.largest_trade(name, sell0) // 2
        push = attack.largest_push(name, sell0, amount) if amount else 0
        if push > 0 and attack.sandwich(name, sell0, push, amount):
            attacks += 1
        attack.rpc("evm_increaseTime", COOLDOWN_S)
        attack.rpc("evm_mine")
        attack.w3.eth.wait_for_transaction_receipt(
            attack.vault.functions.poke(pairs).transact({"from": owner})
        )
    return (start - attack.value()) / start * 10_000, attacks


def main() -> None:
    results = {}
    for label, run in (("unguarded", unguarded), ("guarded", guarded)):
        node, book = start_world()
        try:
            results[label] = run(node.url, book)
        finally:
            node.stop()
    (lost_u, n_u), (lost_g, n_g) = results["unguarded"], results["guarded"]
    print("a thief with the keeper key and a whale's capital, self-sandwiching every pair for a day")
    print(f"unguarded vault: {n_u} bundles, loss {float(lost_u):,.1f} bps of its value")
    print(
        f"guarded vault ({DEVIATION_BPS} bps from a {WINDOW_S // 60} min TWAP, {COOLDOWN_S // 3600} h "
        f"cooldown, {PER_DAY} a day): {n_g} bundles, loss {float(lost_g):,.1f} bps"
    )
    print(
        json.dumps(
            {
                "bench": "stolen_key",
                "loss_bps_guarded": round(float(lost_g), 1),
                "loss_bps_unguarded": round(float(lost_u), 1),
                "attacks": n_u + n_g,
            }
        )
    )


if __name__ == "__main__":
    main()
