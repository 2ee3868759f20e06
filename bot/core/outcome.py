"""A mined bundle next to its plan: per op predicted and realized, balances, pairs, weights, costs. Pure.

Used by the dry-run on a fork, by the manual rebalance after its receipt, and by the journal.
Everything compares exactly: amounts in base units, pair states field by field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from bot.core.amm import PairState
from bot.core.planner import WEI_PER_NATIVE, Plan, PlannedOp
from bot.core.realized import OpMovement, nonzero, op_matches
from bot.core.units import LP_DECIMALS, amount_text, decimal_text, fmt
from bot.core.valuation import BookView


@dataclass(frozen=True, slots=True)
class Receipt:
    """The figures of a mined transaction that the outcome needs."""

    tx_hash: str
    block: int
    block_hash: str
    success: bool
    gas_used: int
    effective_gas_price: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the bundle did against what the plan said.

    Attributes:
        movements: per op, the vault's realized movements (empty when the bundle reverted).
        after: the book read at the receipt's block (None when the bundle reverted).
        revert_reason: the contract's reason when it reverted.
        synced: each touched pair's reserves right after the bundle (its last Sync event).
        sole: the bundle was its block's only transaction, so the block-end pair states are its own.
    """

    plan: Plan
    before: BookView
    receipt: Receipt
    movements: tuple[OpMovement, ...]
    after: BookView | None
    revert_reason: str | None = None
    synced: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    sole: bool = True

    @property
    def fee_wei(self) -> int:
        return self.receipt.gas_used * self.receipt.effective_gas_price

    @property
    def gas_cost(self) -> Fraction:
        """The transaction fee in the numeraire (at the native price before the bundle)."""
        return Fraction(self.fee_wei, WEI_PER_NATIVE) * self.before.native_price

    @property
    def balances(self) -> dict[str, int]:
        """The vault's realized balances of the plan's tokens and LP."""
        assert self.after is not None
        snap = self.after.snapshot
        lp = {p.address: p.holder_lp for p in snap.pairs}
        return {a: snap.balances.get(a, 0) for a in self.plan.balances} | {a: lp[a] for a in self.plan.lp}

    @property
    def pair_states(self) -> dict[str, PairState]:
        assert self.after is not None
        book = self.before.book
        return {
            p.address: p.state(book.fee_bps(p.address))
            for p in self.after.snapshot.pairs
            if p.address in self.plan.pairs
        }

    def op_matches(self, i: int) -> bool:
        planned = self.plan.ops[i]
        return i < len(self.movements) and op_matches(planned.spent, planned.received, self.movements[i])

    def mismatches(self) -> list[str]:
        """What differs from the prediction, one line each (empty: realized equals predicted)."""
        if not self.receipt.success:
            return [f"the bundle reverted: {self.revert_reason or '(no reason)'}"]
        names = _names(self.before)
        out = [
            f"op {i + 1} ({self.plan.ops[i].purpose})"
            for i in range(len(self.plan.ops))
            if not self.op_matches(i)
        ]
        predicted = {**self.plan.balances, **self.plan.lp}
        view = self.before

        def units(address: str, amount: int) -> str:
            token = view.snapshot.tokens.get(address)
            return amount_text(amount, token.decimals if token is not None else LP_DECIMALS)

        for address, got in self.balances.items():
            if got != predicted[address]:
                name = names.get(address, address)
                gap = got - predicted[address]
                off = f"+{units(address, gap)}" if gap > 0 else f"-{units(address, -gap)}"
                said = units(address, predicted[address])
                out.append(f"balance of {name}: predicted {said}, got {units(address, got)} ({off})")

        def reserves(address: str, r0: int, r1: int) -> str:
            pair = view.snapshot.pair(address)
            return (
                f"{amount_text(r0, pair.token0.decimals)} {pair.token0.symbol} + "
                f"{amount_text(r1, pair.token1.decimals)} {pair.token1.symbol}"
            )

        if self.sole:  # the whole state at the block's end is the bundle's
            for address, state in self.pair_states.items():
                planned = self.plan.pairs[address]
                if state != planned:
                    name = names.get(address, address)
                    out.append(
                        f"pair {name}: predicted {reserves(address, planned.reserve0, planned.reserve1)} and "
                        f"{amount_text(planned.total_supply, LP_DECIMALS)} LP, got "
                        f"{reserves(address, state.reserve0, state.reserve1)} and "
                        f"{amount_text(state.total_supply, LP_DECIMALS)} LP"
                    )
        for address, (r0, r1) in self.synced.items():
            expected = self.plan.pairs.get(address)
            if expected is not None and (expected.reserve0, expected.reserve1) != (r0, r1):
                planned_text = reserves(address, expected.reserve0, expected.reserve1)
                out.append(
                    f"reserves of {names.get(address, address)} after the bundle: predicted {planned_text}, "
                    f"got {reserves(address, r0, r1)}"
                )
        return out

    @property
    def matches(self) -> bool:
        return not self.mismatches()


def _names(view: BookView) -> dict[str, str]:
    return {**view.book.pair_names, **{t.address: s for s, t in view.tokens.items()}}


def _amounts(names: Mapping[str, str], view: BookView, amounts: Mapping[str, int]) -> str:
    parts = []
    for address, amount in nonzero(amounts).items():
        token = view.snapshot.tokens.get(address)
        decimals = token.decimals if token is not None else 18
        parts.append(f"{fmt(Fraction(amount, 10**decimals), 6)} {names.get(address, address)}")
    return " + ".join(parts) or "nothing"


def render_outcome(outcome: Outcome) -> list[str]:
    """Per op predicted and realized, gas, costs, weights before / predicted / realized, verdict."""
    view, plan, r = outcome.before, outcome.plan, outcome.receipt
    names = _names(view)
    n = view.book.numeraire
    status = "succeeded" if r.success else "REVERTED"
    out = [f"transaction {r.tx_hash} in block {r.block}: {status}, gas used {r.gas_used:,}"]
    for i, p in enumerate(plan.ops):
        out.append(f"  {i + 1}. {p.purpose}")
        out.append(f"     predicted {_amounts(names, view, p.spent)} -> {_amounts(names, view, p.received)}")
        if i < len(outcome.movements):
            m = outcome.movements[i]
            mark = "equal" if outcome.op_matches(i) else "DIFFERENT"
            realized = f"{_amounts(names, view, m.spent)} -> {_amounts(names, view, m.received)}"
            out.append(f"     realized  {realized} ({mark})")
    out.append(
        f"gas: {r.gas_used:,} used (model {plan.costs.gas_units:,}) at {r.effective_gas_price:,} wei = "
        f"{fmt(outcome.gas_cost, 6)} {n}; trading costs {fmt(plan.costs.trading, 4)} {n}"
    )
    if outcome.after is not None:
        after = {s.label: s.weight for s in outcome.after.sleeves}
        out.append("weights (before -> target / predicted / realized):")
        for label in plan.targets:
            out.append(
                f"  {label}: {_pct(plan.weights_before[label])} -> {_pct(plan.targets[label])} / "
                f"{_pct(plan.weights_after[label])} / {_pct(after.get(label))}"
            )
        out.append(
            f"value {fmt(view.total, 2)} {n} before; after: predicted {fmt(plan.value_after, 2)}, "
            f"realized {fmt(outcome.after.total, 2)}"
        )
    problems = outcome.mismatches()
    if problems:
        out += ["REALIZED DIFFERS FROM PREDICTED:", *(f"  {line}" for line in problems)]
    else:
        pairs = (
            "pair state" if outcome.sole else "pair's reserves after it (its block had other transactions)"
        )
        out.append(f"realized equals predicted: every op, balance and {pairs}, to the wei")
    return out


def _pct(value: Fraction | None) -> str:
    return "-" if value is None else f"{float(value) * 100:.3f}%"


def _op_json(planned: PlannedOp, movement: OpMovement | None) -> dict[str, Any]:
    def amounts(m: Mapping[str, int]) -> dict[str, str]:
        return {a: str(v) for a, v in nonzero(m).items()}

    out: dict[str, Any] = {
        "purpose": planned.purpose,
        "predicted": {"spent": amounts(planned.spent), "received": amounts(planned.received)},
    }
    if movement is not None:
        out["realized"] = {"spent": amounts(movement.spent), "received": amounts(movement.received)}
    return out


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    """The realized post-state for the journal and `--json`: exact integers as strings."""
    plan = outcome.plan
    out: dict[str, Any] = {
        "tx_hash": outcome.receipt.tx_hash,
        "block": outcome.receipt.block,
        "success": outcome.receipt.success,
        "revert_reason": outcome.revert_reason,
        "gas_used": outcome.receipt.gas_used,
        "gas_model": plan.costs.gas_units,
        "fee_wei": str(outcome.fee_wei),
        "matches": outcome.matches,
        "mismatches": outcome.mismatches(),
        "ops": [
            _op_json(p, outcome.movements[i] if i < len(outcome.movements) else None)
            for i, p in enumerate(plan.ops)
        ],
    }
    if outcome.after is not None:
        predicted = {**plan.balances, **plan.lp}
        out["balances"] = {
            a: {"predicted": str(predicted[a]), "realized": str(v)} for a, v in outcome.balances.items()
        }
        out["weights"] = {
            s.label: {
                "before": decimal_text(plan.weights_before.get(s.label)),
                "predicted": decimal_text(plan.weights_after.get(s.label)),
                "realized": decimal_text(s.weight),
            }
            for s in outcome.after.sleeves
        }
        out["value_after"] = {
            "predicted": decimal_text(plan.value_after),
            "realized": decimal_text(outcome.after.total),
        }
    return out
