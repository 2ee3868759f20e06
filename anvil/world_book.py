"""The example book of the local world: the vault's sleeves, targets and policy, as a book.toml.

The vault holds 0.5% of every pool and some idle tokens (see `world.py`); the targets below
are round numbers near that mix, so a fresh world is slightly out of its bands (idle USDC
and DAI are under target) and `ammkeeper plan` has something to show.
"""

from __future__ import annotations

from fractions import Fraction

from bot.core.address_book import AddressBook

# sleeve -> (target, band or None for the policy's default)
LP_TARGETS = {
    "WETH/USDC": "0.40",
    "WBTC/WETH": "0.15",
    "WBTC/USDC": "0.08",
    "DAI/USDC": "0.07",
    "WETH/DAI": "0.08",
    "LINK/WETH": "0.04",
}
IDLE_TARGETS = {"WETH": "0.04", "USDC": "0.08", "WBTC": "0.03", "DAI": "0.03"}
STABLES = ("USDC", "DAI")


def world_book_toml(
    book: AddressBook,
    entries: dict[str, dict[str, Fraction]] | None = None,
    lp_targets: dict[str, str] = LP_TARGETS,
    idle_targets: dict[str, str] = IDLE_TARGETS,
) -> str:
    """The book file for the world in `book`.

    Args:
        entries: LP sleeves' deposited amounts by symbol.
        lp_targets, idle_targets: the sleeves and their targets (default: the world's).
    """
    lines = [
        "# The local world's book (written by `ammkeeper world`); pass --rpc URL of a node serving it.",
        'name = "world"',
        f"chain_id = {book.chain_id}",
        f'vault = "{book.accounts["vault"]}"',
        f'numeraire = "{book.numeraire}"',
        "",
        "[dex]",
        f'name = "{book.dex.name}"',
        f"fee_bps = {book.dex.fee_bps}",
        'native = "WETH"',
        "",
        "[tokens]",
    ]
    for symbol, token in book.tokens.items():
        if token.transfer_fee_bps:
            lines.append(
                f'{symbol} = {{ address = "{token.address}", transfer_fee_bps = {token.transfer_fee_bps} }}'
            )
        else:
            lines.append(f'{symbol} = "{token.address}"')
    lines += ["", "[pairs]"]
    lines += [f'"{name}" = "{pair.address}"' for name, pair in book.pairs.items()]
    lines += [
        "",
        "[prices]",
        'twap_window = "30m"',
        "",
        "[policy]",
        'evaluate = "block"',
        "band = 0.02",
        "deadband = 0.002",
        "min_trade_value = 50",
        "max_cost_bps = 60",
        "benefit_bps = 100",
        "slippage_bps = 50",
        "",
        "[strategy]",
        'kind = "threshold"',
        "",
        "[buckets.stables]",
        "band = 0.02",
    ]
    for name, target in lp_targets.items():
        lines += ["", "[[sleeves]]", f'pair = "{name}"', f"target = {target}"]
        entry = (entries or {}).get(name)
        if entry:
            amounts = ", ".join(f'{symbol} = "{float(amount):.12g}"' for symbol, amount in entry.items())
            lines.append(f"entry = {{ {amounts} }}")
    for symbol, target in idle_targets.items():
        lines += ["", "[[sleeves]]", f'token = "{symbol}"', f"target = {target}"]
        if symbol in STABLES:
            lines.append('bucket = "stables"')
    return "\n".join(lines) + "\n"
