"""A second V2 DEX on the world, with another fee: PancakeSwap's original fork (20 bps a swap).

For books that mix DEXs (a pair of each fee), `init`'s CREATE2 proof against a foreign
factory, and guard drills. Deployed on a running world on demand; the cached world stays as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from eth_typing import ChecksumAddress
from web3 import Web3

from anvil.artifacts import FORK_FEE_BPS, artifact
from anvil.world import Deployer, usd_amount, world_specs
from bot.chain.contracts import compiled
from bot.core.address_book import AddressBook


@dataclass(frozen=True, slots=True)
class ForkPair:
    """A pair on the fork DEX and where it came from."""

    factory: ChecksumAddress
    pair: ChecksumAddress
    init_code_hash: str
    fee_bps: int


def add_fork_pair(
    url: str, book: AddressBook, token_a: str, token_b: str, usd_per_side: int, vault_share: Fraction
) -> ForkPair:
    """Deploy the fork's factory, create `token_a`/`token_b` on it at the world's seed prices with
    `usd_per_side` of each, mint `vault_share` of that LP to the vault, and allowlist the pair in the
    vault with the fork's fee (as its owner). The tokens must be test tokens (minted by the deployer)."""
    w3 = Web3(Web3.HTTPProvider(url))
    tx = Deployer(w3)
    deployer, owner, vault = (book.accounts[n] for n in ("deployer", "owner", "vault"))
    factory_art, pair_art = artifact("PancakeFactory"), artifact("PancakePair")
    factory = tx.deploy(factory_art.abi, factory_art.bytecode, deployer, sender=deployer)
    tokens = {
        s: w3.eth.contract(address=book.tokens[s].address, abi=compiled("TestToken").abi)
        for s in (token_a, token_b)
    }
    tx.send(factory.functions.createPair(tokens[token_a].address, tokens[token_b].address), deployer)
    address = factory.functions.getPair(tokens[token_a].address, tokens[token_b].address).call()
    pair = w3.eth.contract(address=address, abi=pair_art.abi)
    specs = world_specs()
    for share, to in ((Fraction(1), deployer), (vault_share, vault)):
        for symbol in (token_a, token_b):
            amount = usd_amount(specs[symbol], usd_per_side * share)
            tx.send(tokens[symbol].functions.mint(deployer, amount), deployer)
            tx.send(tokens[symbol].functions.transfer(address, amount), deployer)
        tx.send(pair.functions.mint(to), deployer)
    vault_contract = w3.eth.contract(address=vault, abi=compiled("Executor").abi)
    tx.send(vault_contract.functions.allow_pair(address, FORK_FEE_BPS, False, False), owner)
    init_code_hash = "0x" + bytes(factory.functions.INIT_CODE_PAIR_HASH().call()).hex()
    return ForkPair(factory.address, address, init_code_hash, FORK_FEE_BPS)
