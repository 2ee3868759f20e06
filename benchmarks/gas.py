"""Gas of one rebalance, three ways, from the same state (gas is deterministic on anvil).

The rebalance: burn 1/40 of the book's WETH/USDC position, sell the USDC for WETH in the
same pair, add all that WETH (with matching DAI) to WETH/DAI.
1. an EOA through Router02, separate transactions: first time (with the approvals it
   needs) and in steady state (approvals already in place);
2. one `execute` of our vault;
3. the floor: the same pair calls from a minimal contract with no checks (FloorBundle.vy).
Every variant must leave both pairs in the same state. Last line: one JSON object.

    .venv/bin/python benchmarks/gas.py
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from web3 import Web3

from anvil.artifacts import artifact
from anvil.world import start_world
from bot.chain.contracts import compiled
from bot.core import amm
from bot.core.address_book import AddressBook
from bot.core.amm import PairState
from bot.core.executor_ops import Burn, Floor, Mint, Op, Swap, encode_ops, execute_calldata

DEADLINE = 2**40
MAX = 2**256 - 1


@dataclass(frozen=True)
class Plan:
    part: int
    burn0: int
    burn1: int
    usdc_out: int
    usdc_is_0: bool
    got_weth: int
    weth_in: int
    dai_in: int
    mint0: int
    mint1: int
    liquidity: int


class Bench:
    def __init__(self, url: str, book: AddressBook) -> None:
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
        # NOTE: a pair writes its price cumulatives only when the block timestamp moved; with
        # wall-clock timestamps a run that straddles a second costs extra SSTOREs. Every block
        # one second after the last makes the gas of every variant deterministic.
        self.w3.provider.make_request("anvil_setBlockTimestampInterval", [1])  # type: ignore[arg-type]
        self.book = book
        self.url = url
        pair_abi = artifact("UniswapV2Pair").abi
        self.a = self.w3.eth.contract(address=book.pairs["WETH/USDC"].address, abi=pair_abi)
        self.b = self.w3.eth.contract(address=book.pairs["WETH/DAI"].address, abi=pair_abi)
        self.router = self.w3.eth.contract(address=book.dex.router, abi=artifact("UniswapV2Router02").abi)
        token_abi = compiled("TestToken").abi
        self.tokens = {
            s: self.w3.eth.contract(
                address=e.address, abi=artifact("WETH9").abi if s == "WETH" else token_abi
            )
            for s, e in book.tokens.items()
        }
        self.vault = self.w3.eth.contract(address=book.accounts["vault"], abi=compiled("Executor").abi)
        # NOTE: a pair built within one second of the world's build never wrote its price
        # cumulatives; its first write costs two zero-to-non-zero SSTOREs (about +34k gas) that
        # no mainnet pair pays. Sync both pairs a minute later so every run measures warm oracles.
        self.w3.provider.make_request("evm_increaseTime", [60])  # type: ignore[arg-type]
        for pair in (self.a, self.b):
            self.send(pair.functions.sync(), book.accounts["whale"])

    def send(self, fn: Any, sender: str) -> int:
        receipt = self.w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}))
        if receipt["status"] != 1:
            raise RuntimeError(f"{fn.fn_name} reverted")
        return int(receipt["gasUsed"])

    def state(self, pair: Any) -> PairState:
        r0, r1, _ = pair.functions.getReserves().call()
        return PairState(r0, r1, pair.functions.totalSupply().call(), pair.functions.kLast().call())

    def snapshot(self) -> str:
        return str(self.w3.provider.make_request("evm_snapshot", [])["result"])  # type: ignore[arg-type]

    def revert(self, snapshot_id: str) -> None:
        self.w3.provider.make_request("evm_revert", [snapshot_id])  # type: ignore[arg-type]

    def plan(self) -> Plan:
        e_a, e_b = self.book.pairs["WETH/USDC"], self.book.pairs["WETH/DAI"]
        part = self.a.functions.balanceOf(self.vault.address).call() // 40
        burned = self.state(self.a).after_burn(part)
        usdc_is_0 = e_a.token0 == "USDC"
        usdc_out, weth_out = (
            (burned.amount0, burned.amount1) if usdc_is_0 else (burned.amount1, burned.amount0)
        )
        got_weth, _ = burned.state.after_swap(usdc_out, zero_for_one=usdc_is_0)
        weth_in = weth_out + got_weth
        sb = self.state(self.b)
        weth_is_0 = e_b.token0 == "WETH"
        dai_in = amm.quote(
            weth_in, *((sb.reserve0, sb.reserve1) if weth_is_0 else (sb.reserve1, sb.reserve0))
        )
        mint0, mint1 = (weth_in, dai_in) if weth_is_0 else (dai_in, weth_in)
        return Plan(
            part,
            burned.amount0,
            burned.amount1,
            usdc_out,
            usdc_is_0,
            got_weth,
            weth_in,
            dai_in,
            mint0,
            mint1,
            sb.after_mint(mint0, mint1).liquidity,
        )

    def fund_like_the_vault(self, who: str, plan: Plan) -> None:
        """Give `who` what the vault holds for this rebalance: the LP part, the DAI the mint needs,
        and (like the vault) non-zero balances of every token and LP involved, so that no variant
        pays for first writes of a balance slot that the others do not."""
        owner, whale = self.book.accounts["owner"], self.book.accounts["whale"]
        lp_b = self.b.functions.balanceOf(self.vault.address).call() // 100
        self.send(self.vault.functions.withdraw(self.a.address, plan.part + 1), owner)
        self.send(self.vault.functions.withdraw(self.b.address, lp_b), owner)
        self.send(self.a.functions.transfer(who, plan.part + 1), owner)
        self.send(self.b.functions.transfer(who, lp_b), owner)
        self.send(self.tokens["DAI"].functions.transfer(who, plan.dai_in + 10**18), whale)
        for symbol in ("WETH", "USDC"):
            self.send(
                self.tokens[symbol].functions.transfer(who, 10 ** self.book.tokens[symbol].decimals), whale
            )

    def router_path(self, plan: Plan, with_approvals: bool) -> int:
        eoa = self.book.accounts["trader"]
        t = {s: c.address for s, c in self.tokens.items()}
        self.fund_like_the_vault(eoa, plan)
        approvals = [
            self.a.functions.approve(self.router.address, MAX),
            self.tokens["USDC"].functions.approve(self.router.address, MAX),
            self.tokens["WETH"].functions.approve(self.router.address, MAX),
            self.tokens["DAI"].functions.approve(self.router.address, MAX),
        ]
        gas = 0
        if not with_approvals:
            for fn in approvals:
                self.send(fn, eoa)  # steady state: in place before, not counted
        weth_a, usdc_a = (plan.burn1, plan.burn0) if plan.usdc_is_0 else (plan.burn0, plan.burn1)
        steps = [
            (
                approvals[0],
                self.router.functions.removeLiquidity(
                    t["WETH"], t["USDC"], plan.part, weth_a, usdc_a, eoa, DEADLINE
                ),
            ),
            (
                approvals[1],
                self.router.functions.swapExactTokensForTokens(
                    plan.usdc_out, plan.got_weth, [t["USDC"], t["WETH"]], eoa, DEADLINE
                ),
            ),
            (approvals[2], None),
            (
                approvals[3],
                self.router.functions.addLiquidity(
                    t["WETH"], t["DAI"], plan.weth_in, plan.dai_in, plan.weth_in, plan.dai_in, eoa, DEADLINE
                ),
            ),
        ]
        for approval, action in steps:
            if with_approvals:
                gas += self.send(approval, eoa)
            if action is not None:
                gas += self.send(action, eoa)
        return gas

    def executor_path(self, plan: Plan, bounded: bool = False) -> int:
        ops: list[Op] = [
            Burn(self.a.address, plan.part, plan.burn0, plan.burn1),
            Swap(self.a.address, plan.usdc_is_0, plan.usdc_out, plan.got_weth),
            Mint(self.b.address, plan.mint0, plan.mint1, plan.liquidity),
        ]
        if bounded:
            # the loss bound: a floor per token and LP the bundle touches, at what it leaves there
            touched = [
                self.tokens["USDC"].address, self.tokens["WETH"].address, self.tokens["DAI"].address,
                self.a.address, self.b.address,
            ]  # fmt: skip
            after = self.vault.functions.simulate(encode_ops(ops), DEADLINE, touched).call(
                {"from": self.book.accounts["keeper"]}
            )
            ops += [Floor(token, amount) for token, amount in zip(touched, after, strict=True)]
        tx = {
            "from": self.book.accounts["keeper"],
            "to": self.vault.address,
            "data": "0x" + execute_calldata(ops, DEADLINE, b"\x01" * 32).hex(),
        }
        receipt = self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_transaction(tx))
        if receipt["status"] != 1:
            raise RuntimeError("execute reverted")
        return int(receipt["gasUsed"])

    def floor_path(self, plan: Plan) -> int:
        art = compiled("testing/FloorBundle")
        deployer = self.book.accounts["deployer"]
        tx = (
            self.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
            .constructor()
            .transact({"from": deployer})
        )
        floor = self.w3.eth.contract(
            address=self.w3.eth.wait_for_transaction_receipt(tx)["contractAddress"], abi=art.abi
        )
        self.fund_like_the_vault(floor.address, plan)
        # the WETH the mint adds beyond the swap's output comes from the burn: nothing else to fund
        e_b = self.book.pairs["WETH/DAI"]
        token0_b, token1_b = (self.tokens[e_b.token0].address, self.tokens[e_b.token1].address)
        fn = floor.functions.run(
            self.a.address,
            plan.part,
            self.tokens["USDC"].address,
            plan.usdc_out,
            plan.usdc_is_0,
            self.b.address,
            token0_b,
            token1_b,
            plan.mint0,
            plan.mint1,
        )
        return self.send(fn, deployer)

    def measure(self, variant: str, plan: Plan) -> tuple[int, tuple[PairState, PairState]]:
        snapshot_id = self.snapshot()
        try:
            if variant == "router_first":
                gas = self.router_path(plan, with_approvals=True)
            elif variant == "router_steady":
                gas = self.router_path(plan, with_approvals=False)
            elif variant == "executor":
                gas = self.executor_path(plan)
            elif variant == "executor_bounded":
                gas = self.executor_path(plan, bounded=True)
            elif variant == "executor_guarded":
                # the owner's price guards on (1% from a 10 min TWAP, from the vault's own observations)
                owner = self.book.accounts["owner"]
                self.send(self.vault.functions.set_guards(100, 600, 0, 0), owner)
                self.send(self.vault.functions.poke([self.a.address, self.b.address]), owner)
                # blocks are pinned 1 s apart: a window's worth of them
                self.w3.provider.make_request("anvil_mine", [hex(700)])  # type: ignore[arg-type]
                gas = self.executor_path(plan, bounded=True)
            else:
                gas = self.floor_path(plan)
            return gas, (self.state(self.a), self.state(self.b))
        finally:
            self.revert(snapshot_id)


def main() -> None:
    node, book = start_world()
    try:
        bench = Bench(node.url, book)
        plan = bench.plan()
        variants = (
            "router_first",
            "router_steady",
            "executor",
            "executor_bounded",
            "executor_guarded",
            "floor",
        )
        results = {v: bench.measure(v, plan) for v in variants}
    finally:
        node.stop()
    end_states = {states for _, states in results.values()}
    if len(end_states) != 1:
        raise RuntimeError(f"the variants ended in different pair states: {end_states}")
    gas = {v: g for v, (g, _) in results.items()}
    b = gas["executor"]
    print("one rebalance: burn 1/40 of WETH/USDC, swap the USDC to WETH, add WETH+DAI to WETH/DAI")
    print("all six variants end with both pairs in the same state")
    print(f"{'path':<34}{'gas used':>10}{'ours / it':>11}")
    labels = {
        "router_first": "EOA + Router02, with approvals",
        "router_steady": "EOA + Router02, steady state",
        "executor": "vault execute (ours)",
        "executor_bounded": "vault execute + loss bound (5)",
        "executor_guarded": "  + price guards on 2 pairs",
        "floor": "bare pair calls, no checks",
    }
    for variant, label in labels.items():
        print(f"{label:<34}{gas[variant]:>10,}{b / gas[variant]:>11.3f}")
    print(
        json.dumps(
            {
                "bench": "gas",
                "router_first_gas": gas["router_first"],
                "router_steady_gas": gas["router_steady"],
                "executor_gas": b,
                "floor_gas": gas["floor"],
                "ratio_router_first": round(b / gas["router_first"], 3),
                "ratio_router_steady": round(b / gas["router_steady"], 3),
                "ratio_floor": round(b / gas["floor"], 3),
                "executor_bounded_gas": gas["executor_bounded"],
                "loss_bound_overhead_gas": gas["executor_bounded"] - b,
                "loss_bound_overhead": round((gas["executor_bounded"] - b) / b, 4),
                "executor_guarded_gas": gas["executor_guarded"],
                "guard_overhead_gas": gas["executor_guarded"] - gas["executor_bounded"],
                "guard_overhead": round((gas["executor_guarded"] - gas["executor_bounded"]) / b, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
