"""What a thief holding the keeper key can take from the vault in a day, with the vault's guards and without.

The attacker signs bundles as the keeper (impersonated on anvil), has a whale's capital, and
orders the transactions of each block it attacks in (automine off). Every attack is a sandwich
in one block: the whale pushes a pair, the keeper key makes the vault trade there with
minimums of 1 and no floors, and the whale trades back.

Unguarded (a vault deployed with its guards off), every pair is attacked in both directions:
the vault burns its LP there and sells its whole balance of the token the whale sold into the
pushed pool.

Guarded (the world's defaults, `anvil.world.VAULT_GUARDS`: 100 bps from a 10 min TWAP, 1 h
cooldown, 6 bundles a day), the attacker tries, each time the vault allows a bundle, every
pair, direction and kind of bundle, and sends the one that takes the most:
  swap  a sale into the pushed pool, with the trade-off between push and size searched (a push
        of 0, 25, 50, 75 or 100% of the most the guard lets through, then the largest sale the
        guard still allows after it);
  mint  LP minted with the vault's whole balances at the pushed price;
  burn  the vault's whole LP burned at the pushed price;
  skew  a mint with one side's whole balance and one unit of the other (before the vault
        matched every mint, this donated the excess to the pool).
The first bundle's search covers every candidate; later ones search the best three again. The
honest keeper's pokes go on between bundles. The loss is the vault's value at the start's prices
(LP as its underlying), in bps of its value at the start. Last line: one JSON.

Not modelled: an attacker that also holds a pool off its price for a whole TWAP window (every
block of it, against arbitrage) to drag the TWAP; see the README's vault section.
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
from anvil.world import VAULT_GUARDS, start_world
from bot.chain.contracts import compiled
from bot.core.address_book import AddressBook
from bot.core.amm import PairState
from bot.core.executor_ops import Burn, Mint, Swap, execute_calldata

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

    def unguarded_ops(self, pair: Any, sell0: bool) -> list[Any]:
        """Burn the vault's LP in the pair and sell its whole balance of the pushed-in token."""
        return [Burn(pair.address, 0, 1, 1), Swap(pair.address, sell0, 0, 1)]

    def passes(self, ops: list[Any]) -> bool:
        data = "0x" + execute_calldata(ops, DEADLINE, b"\x66" * 32).hex()
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

    def token_in(self, pair: Any, sell0: bool) -> str:
        return str(pair.functions.token0().call() if sell0 else pair.functions.token1().call())

    def push(self, pair: Any, sell0: bool, amount: int) -> None:
        """The whale sells `amount` of token0 (sell0) or token1 into the pair, now."""
        self.fund_whale(self.token_in(pair, sell0), amount)
        for tx in self._swap_call(pair, sell0, amount):
            self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_transaction(tx))

    def sandwich(self, pair: Any, sell0: bool, push: int, ops: list[Any]) -> bool:
        """Push, the vault's bundle, push back: one block. True when the vault's bundle succeeded."""
        if push:
            self.fund_whale(self.token_in(pair, sell0), push)
        # what the whale buys with the push, sold back after the vault's trade
        r0, r1, _ = pair.functions.getReserves().call()
        state = PairState(r0, r1, pair.functions.totalSupply().call(), 0, 30, False)
        bought = state.amount_out(push, sell0) if push else 0
        # in one block, in this order: explicit gas (no estimate against the block not yet built),
        # and tips that order the whale's push before the vault's bundle
        base = int(self.w3.eth.get_block("latest")["baseFeePerGas"])
        first = {"gas": 300_000, "maxFeePerGas": 2 * base + 3 * 10**9, "maxPriorityFeePerGas": 3 * 10**9}
        second = {"gas": 3_000_000, "maxFeePerGas": 2 * base + 2 * 10**9, "maxPriorityFeePerGas": 2 * 10**9}
        self.rpc("evm_setAutomine", False)
        try:
            hashes = [
                self.w3.eth.send_transaction({**tx, **first})
                for tx in (self._swap_call(pair, sell0, push) if push else [])
            ]
            data = "0x" + execute_calldata(ops, DEADLINE, b"\x66" * 32).hex()
            ours = self.w3.eth.send_transaction(
                {"from": self.keeper, "to": self.vault.address, "data": data, **second}
            )
            self.rpc("evm_mine")
        finally:
            self.rpc("evm_setAutomine", True)
        for h in hashes:
            self.w3.eth.wait_for_transaction_receipt(h)
        ok = self.w3.eth.wait_for_transaction_receipt(ours)["status"] == 1
        if bought:  # the back leg: sell what the push bought (at the pool the vault's trade left)
            for tx in self._swap_call(pair, not sell0, bought):
                self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_transaction(tx))
        return ok

    def after_push(self, pair: Any, sell0: bool, push: int, check: Any) -> Any:
        """`check()` on the chain as it is after the whale's push, then the chain put back."""
        snapshot = self.rpc("evm_snapshot")
        try:
            if push:
                self.push(pair, sell0, push)
            return check()
        finally:
            self.rpc("evm_revert", snapshot)

    def max_push(self, pair: Any, sell0: bool) -> int:
        """The largest push after which a token sale into the pushed pool still passes the guard."""
        r0, r1, _ = pair.functions.getReserves().call()
        reserve_in = r0 if sell0 else r1
        probe = [Swap(pair.address, sell0, reserve_in // 10**6, 1)]
        return largest(
            lambda push: self.after_push(pair, sell0, push, lambda: self.passes(probe)), reserve_in // 10
        )

    def largest_sale(self, pair: Any, sell0: bool, push: int) -> int:
        """After `push`, the most of the pushed-in token the vault may sell there and pass its guards."""
        held = int(self.tokens[self.token_in(pair, sell0)].functions.balanceOf(self.vault.address).call())

        def size() -> int:
            return largest(lambda a: a == 0 or self.passes([Swap(pair.address, sell0, a, 1)]), held)

        return int(self.after_push(pair, sell0, push, size))

    def candidates(self, pair: Any, sell0: bool) -> list[tuple[str, int, list[Any]]]:
        """(kind, push, ops) of every guarded attack on the pair in this direction."""
        top = self.max_push(pair, sell0)
        out: list[tuple[str, int, list[Any]]] = []
        for quarter in range(5):  # the trade-off between the push and the sale it leaves room for
            push = top * quarter // 4
            sale = self.largest_sale(pair, sell0, push)
            if sale:
                out.append((f"swap {quarter * 25}%", push, [Swap(pair.address, sell0, sale, 1)]))
        out.append(("mint", top, [Mint(pair.address, 0, 0, 1)]))
        out.append(("burn", top, [Burn(pair.address, 0, 1, 1)]))
        out.append(
            ("skew", top, [Mint(pair.address, 0, 10**4, 1) if sell0 else Mint(pair.address, 10**4, 0, 1)])
        )
        return out

    def loss_of(self, pair: Any, sell0: bool, push: int, ops: list[Any]) -> Fraction | None:
        """What the sandwich would take from the vault (None: the vault refuses the bundle)."""
        snapshot = self.rpc("evm_snapshot")
        try:
            before = self.value()
            return before - self.value() if self.sandwich(pair, sell0, push, ops) else None
        finally:
            self.rpc("evm_revert", snapshot)


def largest(passes: Any, high: int, steps: int = 12) -> int:
    """About the largest x in [0, high] for which passes(x) (passes is monotone), to high / 2**steps."""
    low = 0
    for _ in range(steps):
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
    for pair in attack.pairs.values():
        r0, r1, _ = pair.functions.getReserves().call()
        for sell0 in (True, False):
            attacks += attack.sandwich(
                pair, sell0, 10 * (r0 if sell0 else r1), attack.unguarded_ops(pair, sell0)
            )
    return (start - attack.value()) / start * 10_000, attacks


def guarded(url: str, book: AddressBook) -> tuple[Fraction, int, dict[str, int]]:
    attack = Attack(url, book)
    g = VAULT_GUARDS
    pairs = [p.address for p in attack.pairs.values()]
    start = attack.value()
    usdc = attack.book.tokens["USDC"].address
    print(
        f"the guarded vault holds {float(start) / 10 ** attack.decimals[usdc]:,.0f} USDC of value", flush=True
    )
    attacks = 0
    kinds: dict[str, int] = {}
    shortlist: list[tuple[str, bool]] = [(name, sell0) for name in attack.pairs for sell0 in (True, False)]
    for round_ in range(g.per_day + 2):  # the cap stops the last two
        found: list[tuple[Fraction, str, bool, str, int, list[Any]]] = []
        for name, sell0 in shortlist:
            pair = attack.pairs[name]
            for kind, push, ops in attack.candidates(pair, sell0):
                lost = attack.loss_of(pair, sell0, push, ops)
                if lost is not None:
                    found.append((lost, name, sell0, kind, push, ops))
        found.sort(key=lambda f: f[0], reverse=True)
        if round_ == 0:  # later bundles search the three best (pair, direction)s again
            shortlist = list(dict.fromkeys((f[1], f[2]) for f in found))[:3] or shortlist
        if found:
            lost, name, sell0, kind, push, ops = found[0]
            if attack.sandwich(attack.pairs[name], sell0, push, ops):
                attacks += 1
                kinds[kind.split()[0]] = kinds.get(kind.split()[0], 0) + 1
                way = "0->1" if sell0 else "1->0"
                usdc = float(lost) / 10 ** attack.decimals[attack.book.tokens["USDC"].address]
                print(f"bundle {round_ + 1}: {kind} on {name} ({way}): {usdc:,.2f} USDC", flush=True)
        attack.rpc("evm_increaseTime", g.cooldown_s)
        attack.rpc("evm_mine")
        # the honest keeper's pokes keep the TWAP usable for it (and so for the thief)
        attack.w3.eth.wait_for_transaction_receipt(
            attack.vault.functions.poke(pairs).transact({"from": attack.owner})
        )
    return (start - attack.value()) / start * 10_000, attacks, kinds


def main() -> None:
    node, book = start_world()
    try:
        lost_u, n_u = unguarded(node.url, book)
    finally:
        node.stop()
    node, book = start_world(guards=VAULT_GUARDS)
    try:
        lost_g, n_g, kinds = guarded(node.url, book)
    finally:
        node.stop()
    g = VAULT_GUARDS
    print("a thief with the keeper key and a whale's capital, self-sandwiching every pair for a day")
    print(f"unguarded vault: {n_u} bundles, loss {float(lost_u):,.1f} bps of its value")
    print(
        f"guarded vault ({g.max_deviation_bps} bps from a {g.window_s // 60} min TWAP, "
        f"{g.cooldown_s // 3600} h cooldown, {g.per_day} a day): {n_g} bundles ({kinds}), "
        f"loss {float(lost_g):,.1f} bps; the bound "
        f"2 x max_deviation_bps x bundles a day = {2 * g.max_deviation_bps * g.per_day:,} bps"
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
