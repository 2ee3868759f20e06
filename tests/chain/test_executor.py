"""The executor vault on the world: who may do what, and bundles that equal our math to the wei."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from web3.logs import DISCARD

from bot.chain import rpc
from bot.chain.contracts import compiled
from bot.chain.vault import BundleReverted, estimate_gas, revert_reason, simulate
from bot.core import amm
from bot.core.executor_ops import (
    CARRY,
    SHORT,
    WHOLE_BALANCE,
    Burn,
    Floor,
    Mint,
    Op,
    Swap,
    Zap,
    execute_calldata,
)
from tests.chain.conftest import World

BUNDLE_ID = bytes.fromhex("ab" * 32)
FAR = 2**40


def vault_of(world: World) -> Any:
    return world.w3.eth.contract(address=world.book.accounts["vault"], abi=compiled("Executor").abi)


def reason_of(world: World, sender: str, to: str, data: bytes) -> str | None:
    """The revert reason of a call, or None when it would succeed."""
    call = {"from": sender, "to": to, "data": "0x" + data.hex()}
    try:
        world.node.rpc("eth_call", call, "latest")
    except Exception as exc:  # NodeError carries the node's error object in its text
        return str(exc)
    return None


def reverts_with(world: World, fn: Any, sender: str, reason: str) -> None:
    data = fn._encode_transaction_data()
    message = reason_of(world, sender, fn.address, bytes.fromhex(data[2:]))
    assert message is not None and reason in message, message


def send_bundle(world: World, ops: list[Op], sender: str, deadline: int = FAR) -> Any:
    tx = {
        "from": sender,
        "to": world.book.accounts["vault"],
        "data": "0x" + execute_calldata(ops, deadline, BUNDLE_ID).hex(),
    }
    receipt = world.w3.eth.wait_for_transaction_receipt(world.w3.eth.send_transaction(tx))
    assert receipt["status"] == 1
    return receipt


def bundle_reason(world: World, ops: list[Op], sender: str, deadline: int = FAR) -> str | None:
    return reason_of(world, sender, world.book.accounts["vault"], execute_calldata(ops, deadline, BUNDLE_ID))


def balances(world: World, tokens: list[str]) -> dict[str, int]:
    vault = world.book.accounts["vault"]
    return {t: world.token(t).functions.balanceOf(vault).call() for t in tokens}


def simulated(world: World, ops: list[Op], tokens: list[str], deadline: int = FAR) -> dict[str, int]:
    async def go() -> dict[str, int]:
        async with rpc.connect(world.node.url) as w3:
            return await simulate(
                w3, world.book.accounts["vault"], world.book.accounts["keeper"], ops, deadline, tokens
            )

    return asyncio.run(go())


# --- roles ------------------------------------------------------------------------------------


def test_the_keeper_may_only_execute(world: World, roles: dict[str, str]) -> None:
    vault, keeper = vault_of(world), roles["keeper"]
    usdc, pair = world.book.tokens["USDC"].address, world.book.pairs["WETH/USDC"].address
    for fn in (
        vault.functions.withdraw(usdc, 1),
        vault.functions.set_keeper(keeper),
        vault.functions.allow_pair(pair, 30, False, False),
        vault.functions.remove_pair(pair),
        vault.functions.unpause(),
        vault.functions.deposit(usdc, 1),
    ):
        reverts_with(world, fn, keeper, "executor: not the owner")


def test_strangers_can_call_nothing(world: World, roles: dict[str, str]) -> None:
    vault, attacker = vault_of(world), roles["attacker"]
    usdc, pair = world.book.tokens["USDC"].address, world.book.pairs["WETH/USDC"].address
    for fn in (
        vault.functions.withdraw(usdc, 0),
        vault.functions.deposit(usdc, 1),
        vault.functions.set_keeper(attacker),
        vault.functions.allow_pair(pair, 30, False, False),
        vault.functions.remove_pair(pair),
        vault.functions.unpause(),
    ):
        reverts_with(world, fn, attacker, "executor: not the owner")
    reverts_with(world, vault.functions.pause(), attacker, "executor: not the owner or keeper")
    ops: list[Op] = [Swap(pair, False, 10**6, 1)]
    assert "executor: not the keeper" in (bundle_reason(world, ops, attacker) or "")
    # the owner is not the keeper either: the cold key does not trade
    assert "executor: not the keeper" in (bundle_reason(world, ops, roles["owner"]) or "")


def test_pairs_off_the_allowlist_expired_deadlines_and_a_paused_vault_are_refused(
    world: World, roles: dict[str, str]
) -> None:
    vault, keeper, owner = vault_of(world), roles["keeper"], roles["owner"]
    pair = world.book.pairs["WETH/USDC"].address
    ops: list[Op] = [Swap(pair, False, 10**6, 1)]
    assert bundle_reason(world, ops, keeper) is None  # the bundle itself is fine
    block = world.w3.eth.get_block("latest")
    assert "executor: expired" in (bundle_reason(world, ops, keeper, deadline=block["timestamp"] - 1) or "")
    world.send(vault.functions.pause(), keeper)  # the keeper may stop itself...
    assert vault.functions.paused().call()
    assert "executor: paused" in (bundle_reason(world, ops, keeper) or "")
    reverts_with(world, vault.functions.unpause(), keeper, "executor: not the owner")  # ...but not resume
    world.send(vault.functions.unpause(), owner)
    world.send(vault.functions.remove_pair(pair), owner)
    assert "executor: op 1: pair not allowed" in (bundle_reason(world, ops, keeper) or "")
    # a pair that was never allowlisted at all
    link, usdc = world.book.tokens["LINK"].address, world.book.tokens["USDC"].address
    world.send(world.factory.functions.createPair(link, usdc), owner)
    fresh = world.factory.functions.getPair(link, usdc).call()
    assert "executor: op 1: pair not allowed" in (
        bundle_reason(world, [Swap(fresh, True, 1, 1)], keeper) or ""
    )


def test_the_owner_withdraws_everything_to_itself(world: World, roles: dict[str, str]) -> None:
    vault, owner = vault_of(world), roles["owner"]
    holdings = [e.address for e in world.book.pairs.values()] + [
        t.address for t in world.book.tokens.values()
    ]
    for address in holdings:
        token = (
            world.pair(address)
            if address in {e.address for e in world.book.pairs.values()}
            else world.token(address)
        )
        held = token.functions.balanceOf(vault.address).call()
        before = token.functions.balanceOf(owner).call()
        world.send(vault.functions.withdraw(address, 0), owner)  # 0: everything
        assert token.functions.balanceOf(owner).call() - before == held
        assert token.functions.balanceOf(vault.address).call() == 0


def test_gas_estimate_is_enough_and_execution_is_deterministic(world: World, roles: dict[str, str]) -> None:
    pair = world.book.pairs["WBTC/USDC"]
    state = world.pair_state(pair.address)
    ops: list[Op] = [
        Swap(pair.address, pair.token0 == "USDC", 10**9, state.amount_out(10**9, pair.token0 == "USDC"))
    ]

    async def estimate() -> int:
        async with rpc.connect(world.node.url) as w3:
            return await estimate_gas(w3, world.book.accounts["vault"], roles["keeper"], ops, FAR, BUNDLE_ID)

    gas = asyncio.run(estimate())
    used = []
    for _ in range(2):  # the same bundle from the same state costs the same gas, to the unit
        snapshot_id = world.snapshot()
        world.node.rpc("evm_mine")  # a fresh block: both runs see the same timestamp step
        tx = {
            "from": roles["keeper"],
            "to": world.book.accounts["vault"],
            "data": "0x" + execute_calldata(ops, FAR, BUNDLE_ID).hex(),
            "gas": gas,
        }
        receipt = world.w3.eth.wait_for_transaction_receipt(world.w3.eth.send_transaction(tx))
        assert receipt["status"] == 1
        used.append(receipt["gasUsed"])
        world.revert(snapshot_id)
    assert used[0] == used[1] <= gas


# --- bundles equal the math ------------------------------------------------------------------


def test_burn_swap_mint_bundle_equals_the_prediction_to_the_wei(world: World, roles: dict[str, str]) -> None:
    book, vault = world.book, world.book.accounts["vault"]
    a, b = book.pairs["WETH/USDC"], book.pairs["WETH/DAI"]
    weth, usdc, dai = (book.tokens[s].address for s in ("WETH", "USDC", "DAI"))
    state_a, state_b = world.pair_state(a.address), world.pair_state(b.address)
    lp_a = world.pair(a.address).functions.balanceOf(vault).call()
    start = balances(world, [weth, usdc, dai, a.address, b.address])

    # predict: burn 1/40 of the WETH/USDC position, sell the USDC for WETH there, add WETH + DAI to WETH/DAI
    part = lp_a // 40
    burned = state_a.after_burn(part)
    usdc_out = burned.amount1 if a.token1 == "USDC" else burned.amount0
    weth_out = burned.amount0 if a.token0 == "WETH" else burned.amount1
    got_weth, state_a2 = burned.state.after_swap(usdc_out, zero_for_one=a.token0 == "USDC")
    weth_in = weth_out + got_weth
    dai_in = amm.quote(
        weth_in,
        *(
            (state_b.reserve0, state_b.reserve1)
            if b.token0 == "WETH"
            else (state_b.reserve1, state_b.reserve0)
        ),
    )
    mint0, mint1 = (weth_in, dai_in) if b.token0 == "WETH" else (dai_in, weth_in)
    minted = state_b.after_mint(mint0, mint1)
    ops: list[Op] = [
        Burn(a.address, part, burned.amount0, burned.amount1),
        Swap(a.address, a.token0 == "USDC", usdc_out, got_weth),
        Mint(b.address, mint0, mint1, minted.liquidity),
    ]
    expected = dict(start)
    expected[a.address] -= part
    expected[b.address] += minted.liquidity
    expected[dai] -= dai_in  # every WETH and USDC that came out went back in
    tokens = list(expected)
    assert simulated(world, ops, tokens) == expected
    receipt = send_bundle(world, ops, roles["keeper"])
    assert balances(world, tokens) == expected
    assert world.pair_state(a.address) == state_a2
    assert world.pair_state(b.address) == minted.state
    events = vault_of(world).events.Executed().process_receipt(receipt, errors=DISCARD)  # token logs too
    assert [(e.args.bundle_id, e.args.ops) for e in events] == [(BUNDLE_ID, 3)]
    # no approvals anywhere: nothing for anyone to pull later
    for token in (weth, usdc, dai):
        for spender in (a.address, b.address, book.dex.router, roles["keeper"]):
            assert world.token(token).functions.allowance(vault, spender).call() == 0


def test_whole_balance_amounts_survive_rounding(world: World, roles: dict[str, str]) -> None:
    book, vault = world.book, world.book.accounts["vault"]
    pair = book.pairs["WBTC/USDC"]  # 6 and 8 decimals
    usdc = book.tokens["USDC"].address
    state = world.pair_state(pair.address)
    held_usdc = world.token(usdc).functions.balanceOf(vault).call()
    zero_for_one = pair.token0 == "USDC"
    out, after = state.after_swap(held_usdc, zero_for_one)
    send_bundle(world, [Swap(pair.address, zero_for_one, WHOLE_BALANCE, out)], roles["keeper"])
    assert world.token(usdc).functions.balanceOf(vault).call() == 0
    assert world.pair_state(pair.address) == after


def test_a_min_out_one_wei_above_the_prediction_reverts(world: World, roles: dict[str, str]) -> None:
    pair = world.book.pairs["WETH/USDC"]
    state = world.pair_state(pair.address)
    zero_for_one = pair.token0 == "WETH"
    out = state.amount_out(10**18, zero_for_one)
    assert bundle_reason(world, [Swap(pair.address, zero_for_one, 10**18, out)], roles["keeper"]) is None
    reason = bundle_reason(world, [Swap(pair.address, zero_for_one, 10**18, out + 1)], roles["keeper"])
    assert "executor: op 1: swap output below minimum" in (reason or "")
    with pytest.raises(BundleReverted, match="swap output below minimum"):
        simulated(world, [Swap(pair.address, zero_for_one, 10**18, out + 1)], [pair.address])


def test_fee_on_transfer_swaps_use_balance_deltas_and_zaps_are_refused(
    world: World, roles: dict[str, str]
) -> None:
    book, vault, keeper = world.book, world.book.accounts["vault"], roles["keeper"]
    pair = book.pairs["FOT/WETH"]
    fot, weth = book.tokens["FOT"], book.tokens["WETH"].address
    # WETH in, FOT out: the vault receives the pair's output less the token's fee
    state = world.pair_state(pair.address)
    zero_for_one = pair.token0 == "WETH"
    out, after = state.after_swap(10**18, zero_for_one)
    received = out - out * fot.transfer_fee_bps // 10_000
    before = world.token(fot.address).functions.balanceOf(vault).call()
    assert "below minimum" in (
        bundle_reason(world, [Swap(pair.address, zero_for_one, 10**18, received + 1)], keeper) or ""
    )
    send_bundle(world, [Swap(pair.address, zero_for_one, 10**18, received)], keeper)
    assert world.token(fot.address).functions.balanceOf(vault).call() - before == received
    assert world.pair_state(pair.address) == after
    # FOT in: the pair prices what it received
    sent = received // 2
    arrived = sent - sent * fot.transfer_fee_bps // 10_000
    out2, after2 = after.after_swap(arrived, not zero_for_one)
    w_before = world.token(weth).functions.balanceOf(vault).call()
    send_bundle(world, [Swap(pair.address, not zero_for_one, sent, out2)], keeper)
    assert world.token(weth).functions.balanceOf(vault).call() - w_before == out2
    assert world.pair_state(pair.address) == after2
    reason = bundle_reason(world, [Zap(pair.address, zero_for_one, 10**18, 1)], keeper)
    assert re.search(r"executor: op \d+: zap on a fee-on-transfer pair", reason or "")


def test_the_in_contract_zap_mints_what_we_predict(world: World, roles: dict[str, str]) -> None:
    book, vault = world.book, world.book.accounts["vault"]
    pair = book.pairs["WETH/USDC"]
    from0 = pair.token0 == "WETH"
    state = world.pair_state(pair.address)
    amount = 5 * 10**18
    swap_in = amm.zap_swap_amount(amount, state.reserve0 if from0 else state.reserve1, state.fee_bps)
    out, mid = state.after_swap(swap_in, from0)
    held = (amount - swap_in, out) if from0 else (out, amount - swap_in)
    need1 = amm.quote(held[0], mid.reserve0, mid.reserve1)
    mint = (held[0], need1) if need1 <= held[1] else (amm.quote(held[1], mid.reserve1, mid.reserve0), held[1])
    minted = mid.after_mint(*mint)
    lp_before = world.pair(pair.address).functions.balanceOf(vault).call()
    send_bundle(world, [Zap(pair.address, from0, amount, minted.liquidity)], roles["keeper"])
    assert world.pair(pair.address).functions.balanceOf(vault).call() - lp_before == minted.liquidity
    assert world.pair_state(pair.address) == minted.state
    dust = amm.value_in_token1(
        held[0] - mint[0], held[1] - mint[1], minted.state.reserve0, minted.state.reserve1
    )
    deposit = amm.value_in_token1(
        amount if from0 else 0, 0 if from0 else amount, minted.state.reserve0, minted.state.reserve1
    )
    assert dust <= deposit / 10**6


def test_revert_reasons_decode() -> None:
    from eth_abi.abi import encode

    data = "0x08c379a0" + encode(["string"], ["executor: paused"]).hex()
    assert revert_reason({"code": 3, "message": "execution reverted", "data": data}) == "executor: paused"
    assert revert_reason({"code": -32000, "message": "nonce too low"}) is None


def test_a_front_run_makes_our_bundle_revert_on_its_min_out_and_costs_the_vault_nothing(
    world: World, roles: dict[str, str]
) -> None:
    book, keeper, node = world.book, roles["keeper"], world.node
    pair = book.pairs["WETH/USDC"]
    weth = book.tokens["WETH"].address
    zero_for_one = pair.token0 == "WETH"
    state = world.pair_state(pair.address)
    amount = 5 * 10**18
    ops: list[Op] = [Swap(pair.address, zero_for_one, amount, state.amount_out(amount, zero_for_one))]
    tokens = [weth, book.tokens["USDC"].address, pair.address]
    before = balances(world, tokens)
    whale = roles["whale"]
    node.rpc("anvil_impersonateAccount", whale)
    node.rpc("evm_setAutomine", False)
    try:
        # the whale sells WETH into the same pair first (a higher tip goes first in the block)
        weth_c = world.token(weth)
        front = weth_c.functions.transfer(pair.address, 200 * 10**18).build_transaction(
            {"from": whale, "gas": 100_000, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**10}
        )
        front_hash = world.w3.eth.send_transaction(front)
        base = {"from": whale, "gas": 200_000, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**10 - 1}
        out = state.amount_out(200 * 10**18, zero_for_one)
        outs = (0, out) if zero_for_one else (out, 0)
        sync_hash = world.w3.eth.send_transaction(
            world.pair(pair.address).functions.swap(*outs, whale, b"").build_transaction(base)
        )
        ours = {
            "from": keeper,
            "to": book.accounts["vault"],
            "data": "0x" + execute_calldata(ops, FAR, BUNDLE_ID).hex(),
            "gas": 400_000,
            "maxFeePerGas": 10**11,
            "maxPriorityFeePerGas": 10**9,
        }
        our_hash = world.w3.eth.send_transaction(ours)
        node.rpc("evm_mine")
    finally:
        node.rpc("evm_setAutomine", True)
        node.rpc("anvil_stopImpersonatingAccount", whale)
    receipts = [world.w3.eth.get_transaction_receipt(h) for h in (front_hash, sync_hash, our_hash)]
    assert len({r["blockNumber"] for r in receipts}) == 1
    assert [r["status"] for r in receipts] == [1, 1, 0]
    assert receipts[2]["transactionIndex"] > receipts[1]["transactionIndex"]
    assert balances(world, tokens) == before  # only the keeper paid: gas
    # replayed on the state the whale left, the bundle fails on exactly its min-out
    assert re.search(r"executor: op \d+: swap output below minimum", bundle_reason(world, ops, keeper) or "")


@pytest.fixture
def evil_pair(world: World, roles: dict[str, str]) -> tuple[Any, str]:
    """A reentrant token paired with WETH, allowlisted, with EVIL and WETH in the vault."""
    owner, vault = roles["owner"], vault_of(world)
    evil = world.deploy("testing/ReentrantToken", 10**30, sender=owner)
    weth = world.token("WETH")
    world.send(world.factory.functions.createPair(evil.address, weth.address), owner)
    pair = world.factory.functions.getPair(evil.address, weth.address).call()
    world.send(weth.functions.deposit(), owner, value=200 * 10**18)
    world.send(weth.functions.transfer(pair, 100 * 10**18), owner)
    world.send(evil.functions.transfer(pair, 10**24), owner)
    world.send(world.pair(pair).functions.mint(owner), owner)
    world.send(vault.functions.allow_pair(pair, 30, False, False), owner)
    world.send(evil.functions.transfer(vault.address, 10**22), owner)
    return evil, pair


def _evil_swap(world: World, evil: Any, pair: str, amount: int) -> list[Op]:
    evil_is_0 = world.pair(pair).functions.token0().call() == evil.address
    return [Swap(pair, evil_is_0, amount, 1)]


def test_a_token_that_reenters_execute_is_refused(
    world: World, roles: dict[str, str], evil_pair: tuple[Any, str]
) -> None:
    evil, pair = evil_pair
    vault, keeper = world.book.accounts["vault"], roles["keeper"]
    inner = execute_calldata(_evil_swap(world, evil, pair, 10**18), FAR, BUNDLE_ID)
    world.send(evil.functions.arm(vault, inner), roles["attacker"])
    before = evil.functions.balanceOf(vault).call()
    send_bundle(world, _evil_swap(world, evil, pair, 10**20), keeper)
    assert evil.functions.tried().call() and not evil.functions.reentry_ok().call()
    assert before - evil.functions.balanceOf(vault).call() == 10**20  # the outer bundle alone ran


def test_the_reentrancy_guard_refuses_even_the_keeper(
    world: World, roles: dict[str, str], evil_pair: tuple[Any, str]
) -> None:
    # make the token the keeper: only the guard can stop its re-entry now
    evil, pair = evil_pair
    vault = vault_of(world)
    world.send(vault.functions.set_keeper(evil.address), roles["owner"])
    inner = execute_calldata(_evil_swap(world, evil, pair, 10**18), FAR, BUNDLE_ID)
    outer = execute_calldata(_evil_swap(world, evil, pair, 10**20), FAR, BUNDLE_ID)
    snapshot_id = world.snapshot()
    world.send(evil.functions.attack(vault.address, inner), roles["attacker"])  # on its own it succeeds
    world.revert(snapshot_id)
    world.send(evil.functions.arm(vault.address, inner), roles["attacker"])
    before = evil.functions.balanceOf(vault.address).call()
    world.send(evil.functions.attack(vault.address, outer), roles["attacker"])
    assert evil.functions.tried().call() and not evil.functions.reentry_ok().call()
    assert before - evil.functions.balanceOf(vault.address).call() == 10**20


def test_a_floor_one_wei_above_what_the_bundle_leaves_reverts_naming_its_op(
    world: World, roles: dict[str, str]
) -> None:
    """The loss bound is checked on-chain: each floor is the least the vault may hold after the trades."""
    pair = world.book.pairs["WETH/USDC"]
    weth, usdc = world.book.tokens["WETH"].address, world.book.tokens["USDC"].address
    zero_for_one = pair.token0 == "WETH"
    ops: list[Op] = [Swap(pair.address, zero_for_one, 10**17, 1)]
    after = simulated(world, ops, [weth, usdc, pair.address])
    exact = [Floor(token, amount) for token, amount in after.items()]
    assert bundle_reason(world, [*ops, *exact], roles["keeper"]) is None
    for i in range(len(exact)):
        raised = [*exact[:i], Floor(exact[i].token, exact[i].minimum + 1), *exact[i + 1 :]]
        reason = bundle_reason(world, [*ops, *raised], roles["keeper"]) or ""
        assert f"executor: op {2 + i}: a balance ends below its floor" in reason, reason
    # floors name tokens and LP, not pairs: no allowlist applies, and they move nothing
    receipt = send_bundle(world, [*ops, *exact], roles["keeper"])
    events = vault_of(world).events.Executed().process_receipt(receipt, errors=DISCARD)
    assert [e.args.ops for e in events] == [1]  # the trades, not the floors
    assert balances(world, [weth, usdc]) == {weth: after[weth], usdc: after[usdc]}


# --- the owner's price guards, cooldown and daily cap ------------------------------------------


def _guarded(
    world: World, deviation_bps: int, window_s: int = 600, cooldown_s: int = 0, per_day: int = 0
) -> Any:
    vault = vault_of(world)
    world.send(
        vault.functions.set_guards(deviation_bps, window_s, cooldown_s, per_day), world.book.accounts["owner"]
    )
    return vault


def _later(world: World, seconds: int) -> None:
    world.node.rpc("evm_increaseTime", seconds)
    world.node.rpc("evm_mine")


def _small_swap(world: World, size: int = 10**16) -> list[Op]:
    pair = world.book.pairs["WETH/USDC"]
    return [Swap(pair.address, pair.token0 == "WETH", size, 1)]


def test_a_guarded_vault_refuses_a_pair_it_has_no_old_enough_observation_of(
    world: World, roles: dict[str, str]
) -> None:
    vault = _guarded(world, deviation_bps=100)
    assert vault.functions.guards().call() == [100, 600, 0, 0]
    reason = bundle_reason(world, _small_swap(world), roles["keeper"]) or ""
    assert "executor: op 1: no price observation of its pair old enough" in reason
    world.send(vault.functions.poke([world.book.pairs["WETH/USDC"].address]), roles["trader"])  # anyone
    _later(world, 300)  # half the window: still too young
    assert "old enough" in (bundle_reason(world, _small_swap(world), roles["keeper"]) or "")
    _later(world, 301)
    assert bundle_reason(world, _small_swap(world), roles["keeper"]) is None


def test_a_guarded_vault_refuses_a_pushed_pool_and_a_bundle_that_pushes_it(
    world: World, roles: dict[str, str]
) -> None:
    vault = _guarded(world, deviation_bps=5)
    weth_usdc = world.book.pairs["WETH/USDC"]
    world.send(vault.functions.poke([weth_usdc.address]), roles["trader"])
    _later(world, 700)
    assert bundle_reason(world, _small_swap(world), roles["keeper"]) is None
    # a bundle that moves the pool past the guard itself (all the vault's WETH): refused after its last op
    everything = world.token("WETH").functions.balanceOf(world.book.accounts["vault"]).call()
    assert everything * 2_000 > weth_usdc_reserve(world)  # its price moves by more than 5 bps
    reason = bundle_reason(world, _small_swap(world, everything), roles["keeper"]) or ""
    assert "executor: op 1: a pair's spot after the bundle is too far from its TWAP" in reason
    # a whale pushes the pool first (a self-sandwich's front leg): refused before the first op
    world.double_reserve("WETH/USDC", "WETH")
    reason = bundle_reason(world, _small_swap(world), roles["keeper"]) or ""
    assert "executor: op 1: its pair's spot before the bundle is too far from its TWAP" in reason


def weth_usdc_reserve(world: World) -> int:
    pair = world.pair("WETH/USDC")
    weth = world.token("WETH")
    return int(weth.functions.balanceOf(pair.address).call())


def test_the_cooldown_and_the_daily_cap_bound_how_often_a_key_may_trade(
    world: World, roles: dict[str, str]
) -> None:
    keeper = roles["keeper"]
    _guarded(world, deviation_bps=0, window_s=0, cooldown_s=3600, per_day=0)
    send_bundle(world, _small_swap(world), keeper)
    assert "executor: cooling down" in (bundle_reason(world, _small_swap(world), keeper) or "")
    _later(world, 3600)
    send_bundle(world, _small_swap(world), keeper)
    _guarded(world, deviation_bps=0, window_s=0, cooldown_s=0, per_day=2)
    _later(world, 86_400)  # a new UTC day
    send_bundle(world, _small_swap(world), keeper)
    send_bundle(world, _small_swap(world), keeper)
    assert "executor: the day's bundles are used up" in (
        bundle_reason(world, _small_swap(world), keeper) or ""
    )
    _later(world, 86_400)
    assert bundle_reason(world, _small_swap(world), keeper) is None


def test_a_stolen_key_cannot_mint_or_burn_lp_at_a_skewed_price(world: World, roles: dict[str, str]) -> None:
    """Minting LP into a pushed pool (or burning out of one) hands the pusher the difference when
    the price goes back: the guard refuses the pushed pool before the bundle, and a bundle that
    pushes it itself (a swap, then a mint at the price it made) after its last op."""
    vault = _guarded(world, deviation_bps=5)
    entry = world.book.pairs["WETH/USDC"]
    world.send(vault.functions.poke([entry.address]), roles["trader"])
    _later(world, 700)
    weth_first = entry.token0 == "WETH"
    weth, usdc = 10**16, 20 * 10**6
    mint = Mint(entry.address, weth if weth_first else usdc, usdc if weth_first else weth, 1)
    burn = Burn(entry.address, 10**12, 1, 1)
    keeper = roles["keeper"]
    assert bundle_reason(world, [mint], keeper) is None and bundle_reason(world, [burn], keeper) is None
    # the stolen key pushes inside the bundle: the vault's WETH sold (price moves > 5 bps), then a mint
    everything = world.token("WETH").functions.balanceOf(world.book.accounts["vault"]).call()
    assert everything * 2_000 > weth_usdc_reserve(world)
    push = Swap(entry.address, weth_first, everything - weth, 1)
    reason = bundle_reason(world, [push, mint], keeper) or ""
    assert "a pair's spot after the bundle is too far from its TWAP" in reason
    # a whale's push first: the mint and the burn are refused before they touch the pool
    world.double_reserve("WETH/USDC", "WETH")
    for op in (mint, burn):
        reason = bundle_reason(world, [op], keeper) or ""
        assert "executor: op 1: its pair's spot before the bundle is too far from its TWAP" in reason


def test_a_mint_never_donates_a_sides_excess_to_the_pool(world: World, roles: dict[str, str]) -> None:
    """A stolen key's mint of all the vault's WETH with one USDC unit would have given the pool's
    LPs (the thief among them) the WETH: the vault matches every mint to the pair's ratio, as the
    router does, and keeps the rest, guards on or off."""
    entry = world.book.pairs["WETH/USDC"]
    weth, usdc = world.book.tokens["WETH"].address, world.book.tokens["USDC"].address
    before = balances(world, [weth, usdc])
    weth_first = entry.token0 == "WETH"
    skewed = (before[weth], 10**4) if weth_first else (10**4, before[weth])
    state = world.pair_state("WETH/USDC")
    sent0, sent1 = amm.matched_amounts(*skewed, state)
    send_bundle(world, [Mint(entry.address, *skewed, 1)], roles["keeper"])
    after = balances(world, [weth, usdc])
    sent_weth, sent_usdc = (sent0, sent1) if weth_first else (sent1, sent0)
    assert sent_usdc == 10**4 and sent_weth < before[weth] // 1_000  # a cent's worth of WETH, not all of it
    assert after == {weth: before[weth] - sent_weth, usdc: before[usdc] - sent_usdc}


def test_a_carry_that_came_to_nothing_never_spends_the_whole_balance(
    world: World, roles: dict[str, str]
) -> None:
    """A carried field is "what earlier ops produced, less this much": when the market left nothing,
    it once came to 0, which the vault reads as "the whole balance", selling what other sleeves
    hold. It is now at least one unit."""
    weth_usdc, dai_usdc = world.book.pairs["WETH/USDC"], world.book.pairs["DAI/USDC"]
    usdc = world.book.tokens["USDC"].address
    held = balances(world, [usdc])[usdc]
    assert held > 10**9  # the vault holds USDC of its own (another sleeve's)
    buy_usdc = Swap(weth_usdc.address, weth_usdc.token0 == "WETH", 10**12, 1)  # a little USDC
    short = CARRY | SHORT | 10**30  # what it produced, less far more than that: nothing
    sell_usdc = Swap(dai_usdc.address, dai_usdc.token0 == "USDC", short, 1)
    send_bundle(world, [buy_usdc, sell_usdc], roles["keeper"])
    assert balances(world, [usdc])[usdc] >= held - 1  # one unit sold, not the sleeve's USDC
