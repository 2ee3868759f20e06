"""A wider book on the local world: ten more tokens and pairs, with the vault's LP in each.

The world's book has 10 sleeves; the keeper benchmark (and a chain test) want 20. `widen` runs
on a node serving the world with automine on, as the world's own accounts: the deployer deploys
ten test tokens and seeds a pair for each (with WETH or USDC), the owner allowlists the new pairs
on the book's vault and adds 0.5% of each for it. It returns the wider address book and its book
file: the world's ten sleeves at smaller targets and one LP sleeve per new pair, 20 in all. As in
the world's book, the idle stables start under target, so the book has a rebalance to make.
"""

from __future__ import annotations

from fractions import Fraction

from web3 import Web3

from anvil.artifacts import artifact
from anvil.world import VAULT_LP_SHARE, Deployer, PairSpec, Seeder, TokenSpec, vault_entries, world_specs
from anvil.world_book import world_book_toml
from bot.chain.contracts import compiled
from bot.chain.vault_admin import allow_pair, vault_contract
from bot.core.address_book import AddressBook

EXTRA_TOKENS = (
    TokenSpec("UNI", "Uniswap (test)", 18, Fraction(8)),
    TokenSpec("AAVE", "Aave (test)", 18, Fraction(150)),
    TokenSpec("MKR", "Maker (test)", 18, Fraction(1500)),
    TokenSpec("CRV", "Curve DAO (test)", 18, Fraction(1, 2)),
    TokenSpec("SNX", "Synthetix (test)", 18, Fraction(3)),
    TokenSpec("LDO", "Lido DAO (test)", 18, Fraction(2)),
    TokenSpec("COMP", "Compound (test)", 18, Fraction(50)),
    TokenSpec("GRT", "The Graph (test)", 18, Fraction(1, 5)),
    TokenSpec("USDT", "Tether USD (test)", 6, Fraction(1)),
    TokenSpec("EURC", "Euro Coin (test)", 6, Fraction(11, 10)),
)
EXTRA_PAIRS = (
    *(PairSpec(s, "WETH", 2_000_000) for s in ("UNI", "AAVE", "MKR", "CRV", "SNX", "LDO")),
    *(PairSpec(s, "USDC", 2_000_000) for s in ("COMP", "GRT", "USDT", "EURC")),
)
# the vault holds 20,000 USD of LP in each new pair, 920,000 USD in all: weights near these targets,
# but idle USDC (4.3% against 7%) and DAI (1.1% against 4%) are out of their bands
WIDE_LP_TARGETS = {
    "WETH/USDC": "0.31",
    "WBTC/WETH": "0.13",
    "WBTC/USDC": "0.06",
    "DAI/USDC": "0.05",
    "WETH/DAI": "0.06",
    "LINK/WETH": "0.03",
    **{f"{p.token_a}/{p.token_b}": "0.02" for p in EXTRA_PAIRS},
}
WIDE_IDLE_TARGETS = {"WETH": "0.03", "USDC": "0.07", "WBTC": "0.02", "DAI": "0.04"}


def widen(url: str, book: AddressBook) -> tuple[AddressBook, str]:
    """Add the extra tokens and pairs to the world served at `url`, and the vault's LP in each.

    Args:
        url: a node serving the world of `book` (dev accounts unlocked, automine on).
        book: the world's address book.

    Returns:
        The wider address book, and its book file (TOML text) with 20 sleeves.
    """
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    tx = Deployer(w3)
    token_abi, weth_abi = compiled("TestToken").abi, artifact("WETH9").abi
    contracts = {
        s: w3.eth.contract(address=e.address, abi=weth_abi if s == "WETH" else token_abi)  # type: ignore[call-overload]
        for s, e in book.tokens.items()
    }
    router = w3.eth.contract(address=book.dex.router, abi=artifact("UniswapV2Router02").abi)  # type: ignore[call-overload]
    factory = w3.eth.contract(address=book.dex.factory, abi=artifact("UniswapV2Factory").abi)  # type: ignore[call-overload]
    deployer, owner = book.accounts["deployer"], book.accounts["owner"]
    specs = world_specs()
    seed = Seeder(tx, deployer, router, contracts, specs)
    seed.deploy_tokens(EXTRA_TOKENS)
    new_symbols = [t.symbol for t in EXTRA_TOKENS]
    seed.approve_router(deployer, new_symbols)
    for pair in EXTRA_PAIRS:
        seed.add_liquidity(deployer, pair, Fraction(1))
    addresses = {pair: seed.pair_address(factory, pair) for pair in EXTRA_PAIRS}
    vault = vault_contract(w3, book.accounts["vault"])
    for address in addresses.values():
        allow_pair(w3, vault, owner, seed.listing(address))
    seed.approve_router(owner, new_symbols)
    for pair in EXTRA_PAIRS:
        seed.add_liquidity(owner, pair, VAULT_LP_SHARE, to=vault.address)
    wide = book.model_copy(
        update={
            "block": w3.eth.block_number,
            "tokens": {**book.tokens, **{s: seed.token_entry(s) for s in new_symbols}},
            "pairs": {
                **book.pairs,
                **{f"{p.token_a}/{p.token_b}": seed.pair_entry(a) for p, a in addresses.items()},
            },
        }
    )
    entries = vault_entries() | vault_entries(EXTRA_PAIRS, specs)
    return wide, world_book_toml(wide, entries, WIDE_LP_TARGETS, WIDE_IDLE_TARGETS)
