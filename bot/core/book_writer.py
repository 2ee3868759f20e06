"""A book file written for a user (`ammkeeper init`): commented TOML that `Book` validates. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

TARGET_PLACES = 4


@dataclass(frozen=True, slots=True)
class FoundToken:
    symbol: str
    address: str
    decimals: int


@dataclass(frozen=True, slots=True)
class FoundPair:
    """A pair proven to be its factory's; `dex` None: the book's [dex]."""

    name: str
    address: str
    dex: str | None = None


@dataclass(frozen=True, slots=True)
class FoundSleeve:
    """An LP sleeve (`pair`) with its entry amounts (whole tokens, exact), or a token sleeve."""

    target: Fraction
    pair: str | None = None
    token: str | None = None
    entry: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DexFound:
    """The book's DEX (or one of [dexes]): a preset's key, or custom with where it is."""

    name: str
    fee_bps: int
    factory: str
    init_code_hash: str
    source: str = ""


@dataclass(frozen=True, slots=True)
class Settings:
    """What fits the chain: its id, block time, confirmations, bands, and a TWAP window its
    node's history can serve."""

    chain_id: int
    chain_name: str
    block_time_s: float
    confirmations: int
    band: str
    twap_window: str
    twap_note: str


def rounded_targets(weights: Sequence[Fraction]) -> list[Fraction]:
    """Weights rounded to TARGET_PLACES decimals, summing to exactly 1 (the largest takes the rest)."""
    unit = Fraction(1, 10**TARGET_PLACES)
    out = [round(w / unit) * unit for w in weights]
    largest = max(range(len(out)), key=lambda i: out[i])
    out[largest] += 1 - sum(out)
    return out


def _decimal(value: Fraction) -> str:
    text = f"{float(value):.{TARGET_PLACES}f}"
    return text


def book_toml(
    *,
    name: str,
    vault: str,
    holder_note: str,
    numeraire: str,
    native: str,
    dex: DexFound,
    others: Sequence[DexFound],
    tokens: Sequence[FoundToken],
    pairs: Sequence[FoundPair],
    sleeves: Sequence[FoundSleeve],
    settings: Settings,
    rpc: str | None,
    targets_from: str,
) -> str:
    """The book, every section said in a comment."""
    q = json.dumps
    lines = [
        f"# Written by `ammkeeper init` for {vault} on {settings.chain_name} (chain {settings.chain_id}).",
        f"# {holder_note}",
        "# Check it, then: ammkeeper plan --config THIS_FILE",
        f"name = {q(name)}",
        f"chain_id = {settings.chain_id}",
        f"vault = {q(vault)}",
        f"numeraire = {q(numeraire)}  # every value is said in it",
    ]
    if rpc is not None:
        lines.append(f"rpc = {q(rpc)}")
    else:
        lines.append('# rpc = "https://…"  # not written: the URL given holds a credential')
        lines.append("# (pass --rpc, or set $AMMKEEPER_RPC_URL)")
    lines += [
        "",
        f"# the pairs' DEX: {dex.source or 'given by its factory, init code hash and fee'}",
        "[dex]",
        f"name = {q(dex.name)}",
        f"fee_bps = {dex.fee_bps}",
        f"native = {q(native)}  # the wrapped native token: prices gas",
    ]
    for other in others:
        lines += [
            "",
            f"# another DEX some pairs are on: {other.source or 'custom'}",
            f"[dexes.{q(other.name)}]",
            f"fee_bps = {other.fee_bps}",
            f"factory = {q(other.factory)}",
            f"init_code_hash = {q(other.init_code_hash)}",
        ]
    lines += ["", "# symbols and decimals as the tokens report them", "[tokens]"]
    lines += [f"{q(t.symbol)} = {q(t.address)}  # {t.decimals} decimals" for t in tokens]
    lines += ["", "# every pair proven to be its factory's (CREATE2 from the init code hash)", "[pairs]"]
    for p in pairs:
        value = q(p.address) if p.dex is None else f"{{ address = {q(p.address)}, dex = {q(p.dex)} }}"
        lines.append(f"{q(p.name)} = {value}")
    lines += [
        "",
        "[prices]",
        f"twap_window = {q(settings.twap_window)}  # {settings.twap_note}",
        "",
        "[policy]",
        f"band = {settings.band}  # a sleeve this far (in weight points) off its target rebalances the book",
        "",
        "[fees]",
        f"confirmations = {settings.confirmations}  # blocks that make a receipt final enough on this chain",
        "",
        "[keeper]",
        f"block_time_s = {settings.block_time_s:g}",
        "",
        "[strategy]",
        'kind = "threshold"',
        "",
        f"# the sleeves: what the vault holds now; targets {targets_from}; entry = what each LP holds now",
    ]
    for sleeve in sleeves:
        lines += ["", "[[sleeves]]"]
        lines.append(f"pair = {q(sleeve.pair)}" if sleeve.pair is not None else f"token = {q(sleeve.token)}")
        lines.append(f"target = {_decimal(sleeve.target)}")
        if sleeve.target < Fraction(settings.band):  # a band is never wider than its target
            band = max(Fraction(1, 10**TARGET_PLACES), sleeve.target / 2)
            lines.append(f"band = {_decimal(band)}  # half its target: the book's band is wider than it")
        if sleeve.entry:
            amounts = ", ".join(f"{q(s)} = {q(a)}" for s, a in sleeve.entry.items())
            lines.append(f"entry = {{ {amounts} }}")
    return "\n".join(lines) + "\n"
