"""The local Uniswap V2 world: real V2 bytecode from npm, our Vyper test tokens, seeded pairs.

`build_world` deploys everything on a running node and returns the address book.
`ensure_world` builds once into an ignored cache (anvil `--dump-state`), keyed by every
input, so later starts load the state in well under a second; `start_world` does that.
Nothing deployed is ever committed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction

from anvil.artifacts import ARTIFACTS, PAIR_INIT_CODE_HASH, artifact, pair_init_code_hash
from anvil.node import AnvilNode, anvil_binary
from anvil.world_book import world_book_toml
from bot.chain.contracts import cache_root, compiled, shipped_path
from bot.chain.vault_admin import PairListing, deploy_vault
from bot.core.address_book import AddressBook, DexEntry, PairEntry, TokenEntry
from bot.core.errors import NodeError

log = logging.getLogger(__name__)

# Bump when the world's shape changes in a way the inputs below do not show.
WORLD_VERSION = 1

# anvil's default dev accounts (unlocked), by role; their keys come from this public mnemonic
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_KEYSTORE_PASSWORD = "ammkeeper-local-world"  # a dev world: the key is public anyway
ACCOUNT_NAMES = ("deployer", "holder", "keeper", "whale", "trader", "treasury", "attacker", "owner")


@dataclass(frozen=True, slots=True)
class TokenSpec:
    """A test token: symbol, decimals, a USD price for seeding, and a transfer fee."""

    symbol: str
    name: str
    decimals: int
    usd: Fraction
    transfer_fee_bps: int = 0


@dataclass(frozen=True, slots=True)
class PairSpec:
    """A pair to create, with the USD value of each side of its liquidity."""

    token_a: str
    token_b: str
    usd_per_side: int


WETH = TokenSpec("WETH", "Wrapped Ether", 18, Fraction(3000))
TOKENS = (
    TokenSpec("USDC", "USD Coin (test)", 6, Fraction(1)),
    TokenSpec("WBTC", "Wrapped BTC (test)", 8, Fraction(60_000)),
    TokenSpec("DAI", "Dai Stablecoin (test)", 18, Fraction(1)),
    TokenSpec("LINK", "ChainLink Token (test)", 18, Fraction(15)),
    TokenSpec("FOT", "Fee On Transfer (test)", 18, Fraction(2), transfer_fee_bps=100),
)
PAIRS = (
    PairSpec("WETH", "USDC", 30_000_000),
    PairSpec("WBTC", "WETH", 12_000_000),
    PairSpec("WBTC", "USDC", 6_000_000),
    PairSpec("DAI", "USDC", 5_000_000),
    PairSpec("WETH", "DAI", 6_000_000),
    PairSpec("LINK", "WETH", 3_000_000),
    PairSpec("FOT", "WETH", 1_000_000),
)
NUMERAIRE = "USDC"
HOLDER_LP_SHARE = Fraction(1, 100)  # the holder adds 1% of each pool's depth
HOLDER_IDLE_USD = {"WETH": 60_000, "USDC": 50_000, "WBTC": 30_000, "DAI": 25_000}
# the book's vault: the owner funds it with LP in every pair (0.5% of depth) and idle tokens
VAULT_LP_SHARE = Fraction(1, 200)
VAULT_IDLE_USD = {"WETH": 30_000, "USDC": 40_000, "WBTC": 20_000, "DAI": 10_000}
TRADER_USD_PER_TOKEN = {"whale": 50_000_000, "trader": 200_000}
DEADLINE = 2**32
BLOCK_TIME_S = 12
HISTORY_BLOCKS = 151  # 30 min of 12 s blocks and one more: the default TWAP window fits behind the head


@dataclass(frozen=True, slots=True)
class VaultGuardSettings:
    """The owner's `set_guards`: spot within max_deviation_bps of a TWAP of at least window_s, at
    least cooldown_s between bundles, at most per_day bundles a UTC day."""

    max_deviation_bps: int
    window_s: int
    cooldown_s: int
    per_day: int


# the world's defaults for a guarded vault (what benchmarks/stolen_key.py measures): 1% from a
# 10 min TWAP, an hour between bundles, 6 a day (a thief's best sandwich takes about 7 bps of
# the world's vault a bundle: 24 a day would let it take about 1.7%)
VAULT_GUARDS = VaultGuardSettings(max_deviation_bps=100, window_s=600, cooldown_s=3600, per_day=6)


def usd_amount(spec: TokenSpec, usd: int | Fraction) -> int:
    """Base units of `spec` worth `usd` at its seed price."""
    return int(Fraction(usd) / spec.usd * 10**spec.decimals)


class Deployer:
    """Sends the world's transactions from unlocked dev accounts and checks every receipt."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3

    def deploy(self, abi: list[dict[str, Any]], bytecode: bytes, *args: Any, sender: str) -> Contract:
        factory = self.w3.eth.contract(abi=abi, bytecode=bytecode)
        receipt = self._wait(factory.constructor(*args).transact({"from": sender}), "deploy")
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=abi)

    def send(self, fn: ContractFunction, sender: str, value: int = 0) -> None:
        self._wait(fn.transact({"from": sender, "value": value}), fn.fn_name)

    def _wait(self, tx_hash: bytes, what: str) -> Any:
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
        if receipt["status"] != 1:
            raise NodeError(f"world build: {what} reverted in tx {tx_hash.hex()}")
        return receipt


class Seeder:
    """Test tokens and liquidity of the world: deploys, mints (as the deployer) and adds liquidity.

    Args:
        tx: the sender of the world's transactions.
        deployer: the tokens' minter, and the router's first approver.
        router: Router02.
        contracts: token contracts by symbol (WETH among them); `deploy_tokens` adds to it.
        specs: every token's spec by symbol.
    """

    def __init__(
        self,
        tx: Deployer,
        deployer: str,
        router: Contract,
        contracts: dict[str, Contract],
        specs: dict[str, TokenSpec],
    ) -> None:
        self.tx, self.deployer, self.router = tx, deployer, router
        self.contracts, self.specs = contracts, specs

    def deploy_tokens(self, tokens: Iterable[TokenSpec]) -> None:
        """Deploy a TestToken per spec (the deployer is its minter)."""
        art = compiled("TestToken")
        for spec in tokens:
            self.specs[spec.symbol] = spec
            self.contracts[spec.symbol] = self.tx.deploy(
                art.abi, art.bytecode, spec.name, spec.symbol, spec.decimals, spec.transfer_fee_bps,
                sender=self.deployer,
            )  # fmt: skip

    def fund(self, account: str, symbol: str, amount: int) -> None:
        """Give `account` `amount` of `symbol`: wrapped from its ether for WETH, minted otherwise."""
        if symbol == "WETH":
            self.tx.send(self.contracts["WETH"].functions.deposit(), account, value=amount)
        else:
            self.tx.send(self.contracts[symbol].functions.mint(account, amount), self.deployer)

    def approve_router(self, account: str, symbols: Iterable[str] | None = None) -> None:
        """Let the router spend any amount of `symbols` (default: every token) from `account`."""
        for symbol in self.contracts if symbols is None else symbols:
            self.tx.send(self.contracts[symbol].functions.approve(self.router.address, 2**256 - 1), account)

    def add_liquidity(self, account: str, pair: PairSpec, share: Fraction, to: str | None = None) -> None:
        """Fund `account` with `share` of the pair's seed liquidity and add it; the LP goes to `to`
        (default: the account)."""
        a, b = self.specs[pair.token_a], self.specs[pair.token_b]
        amount_a, amount_b = (usd_amount(s, pair.usd_per_side * share) for s in (a, b))
        self.fund(account, a.symbol, amount_a)
        self.fund(account, b.symbol, amount_b)
        token_a, token_b = self.contracts[a.symbol].address, self.contracts[b.symbol].address
        fn = self.router.functions.addLiquidity(
            token_a, token_b, amount_a, amount_b, 0, 0, to or account, DEADLINE
        )
        self.tx.send(fn, account)

    def pair_address(self, factory: Contract, pair: PairSpec) -> ChecksumAddress:
        """The address the factory created for `pair`."""
        a, b = self.contracts[pair.token_a].address, self.contracts[pair.token_b].address
        return factory.functions.getPair(a, b).call()  # type: ignore[no-any-return]

    def pair_entry(self, address: ChecksumAddress) -> PairEntry:
        """The address book's entry of the pair at `address` (tokens by symbol, in pair order)."""
        pair = self.tx.w3.eth.contract(address=address, abi=artifact("UniswapV2Pair").abi)
        symbols = {c.address: s for s, c in self.contracts.items()}
        token0, token1 = pair.functions.token0().call(), pair.functions.token1().call()
        return PairEntry(address=address, token0=symbols[token0], token1=symbols[token1])

    def listing(self, address: ChecksumAddress) -> PairListing:
        """The vault's allowlist entry of the pair at `address`: the 0.3% fee, and which side takes
        a fee on transfer."""
        entry = self.pair_entry(address)
        fot0, fot1 = (self.specs[s].transfer_fee_bps > 0 for s in (entry.token0, entry.token1))
        return PairListing(address, 30, fot0, fot1)

    def token_entry(self, symbol: str) -> TokenEntry:
        """The address book's entry of `symbol`."""
        spec = self.specs[symbol]
        return TokenEntry(
            address=self.contracts[symbol].address,
            decimals=spec.decimals,
            transfer_fee_bps=spec.transfer_fee_bps,
        )


def build_world(url: str, fee_on: bool = False) -> AddressBook:
    """Deploy the whole world on the node at `url` and return its address book.

    Args:
        url: a fresh anvil node (its dev accounts unlocked).
        fee_on: set the factory's `feeTo` to the treasury account (protocol fee).
    """
    if pair_init_code_hash() != PAIR_INIT_CODE_HASH:
        raise NodeError(f"{ARTIFACTS['UniswapV2Pair']} is not the mainnet pair (init code hash differs)")
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    tx = Deployer(w3)
    dev = w3.eth.accounts
    accounts: dict[str, ChecksumAddress] = dict(zip(ACCOUNT_NAMES, dev[: len(ACCOUNT_NAMES)], strict=True))
    deployer = accounts["deployer"]
    for name in ("deployer", "whale"):
        w3.provider.make_request("anvil_setBalance", [accounts[name], hex(10**24)])  # type: ignore[arg-type]

    weth_art, factory_art, router_art = (
        artifact("WETH9"),
        artifact("UniswapV2Factory"),
        artifact("UniswapV2Router02"),
    )
    weth = tx.deploy(weth_art.abi, weth_art.bytecode, sender=deployer)
    factory = tx.deploy(factory_art.abi, factory_art.bytecode, deployer, sender=deployer)
    router = tx.deploy(router_art.abi, router_art.bytecode, factory.address, weth.address, sender=deployer)

    specs = world_specs()
    seed = Seeder(tx, deployer, router, {"WETH": weth}, specs)
    seed.deploy_tokens(TOKENS)
    contracts = seed.contracts
    seed.approve_router(deployer)
    for pair in PAIRS:
        seed.add_liquidity(deployer, pair, Fraction(1))
    holder = accounts["holder"]
    seed.approve_router(holder)
    for pair in PAIRS:
        seed.add_liquidity(holder, pair, HOLDER_LP_SHARE)
    for symbol, usd in HOLDER_IDLE_USD.items():
        seed.fund(holder, symbol, usd_amount(specs[symbol], usd))
    for name, usd in TRADER_USD_PER_TOKEN.items():
        for symbol, spec in specs.items():
            seed.fund(accounts[name], symbol, usd_amount(spec, usd))
    if fee_on:
        tx.send(factory.functions.setFeeTo(accounts["treasury"]), deployer)

    pair_addresses = {p: seed.pair_address(factory, p) for p in PAIRS}
    # the book's vault: owner = cold key, keeper = hot key; every pair allowlisted
    owner = accounts["owner"]
    listings = [seed.listing(address) for address in pair_addresses.values()]
    vault = deploy_vault(w3, owner, accounts["keeper"], listings)
    seed.approve_router(owner)
    for p in PAIRS:
        seed.add_liquidity(owner, p, VAULT_LP_SHARE, to=vault.address)
    for symbol, usd in VAULT_IDLE_USD.items():
        amount = usd_amount(specs[symbol], usd)
        seed.fund(owner, symbol, amount)
        tx.send(contracts[symbol].functions.approve(vault.address, amount), owner)
        tx.send(vault.functions.deposit(contracts[symbol].address, amount), owner)

    pairs = {f"{p.token_a}/{p.token_b}": seed.pair_entry(a) for p, a in pair_addresses.items()}
    return AddressBook(
        chain_id=w3.eth.chain_id,
        block=w3.eth.block_number,
        accounts={**accounts, "vault": vault.address},
        dex=DexEntry(
            name="uniswap-v2",
            factory=factory.address,
            router=router.address,
            weth=weth.address,
            fee_bps=30,
            init_code_hash=PAIR_INIT_CODE_HASH,
        ),
        tokens={s: seed.token_entry(s) for s in specs},
        pairs=pairs,
        numeraire=NUMERAIRE,
        holder="vault",
    )


# --- the cache ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorldFiles:
    """A built world on disk: anvil state and address book."""

    state: Path
    book: Path

    @property
    def config(self) -> Path:
        """The world's example book file (book.toml)."""
        return self.book.with_name("book.toml")

    @property
    def keeper_keystore(self) -> Path:
        """The world keeper's key as a v3 keystore (anvil's public dev key: for the local world only)."""
        return self.book.with_name("keeper.keystore.json")

    @property
    def keeper_password(self) -> Path:
        """The password of `keeper_keystore` (a dev world's, written beside it)."""
        return self.book.with_name("keeper.password")


def world_key(fee_on: bool = False) -> str:
    """A hash of everything the built world depends on: a change to any input rebuilds it."""
    digest = hashlib.sha256()
    digest.update(f"v{WORLD_VERSION} fee_on={fee_on}\n{TOKENS!r}\n{PAIRS!r}\n{HOLDER_IDLE_USD!r}".encode())
    digest.update(f"{HOLDER_LP_SHARE!r}{TRADER_USD_PER_TOKEN!r}{ACCOUNT_NAMES!r}".encode())
    digest.update(Path(__file__).read_bytes())
    digest.update(f"{VAULT_LP_SHARE!r}{VAULT_IDLE_USD!r}".encode())
    for name in ("TestToken", "Executor"):  # the bytes deployed (the JSON names its source hash)
        digest.update(shipped_path(name).read_bytes())
    digest.update((Path(__file__).parents[1] / "bot" / "chain" / "vault_admin.py").read_bytes())
    for path in ARTIFACTS.values():
        digest.update(path.read_bytes() if path.is_file() else b"missing")
    version = subprocess.run([str(anvil_binary()), "--version"], capture_output=True, check=True, timeout=30)
    digest.update(version.stdout)
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One builder at a time across processes (tests and benchmarks may start together)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_world(rebuild: bool = False, fee_on: bool = False) -> WorldFiles:
    """The cached world for the current inputs, built first if missing (or if `rebuild`)."""
    root = cache_root() / "world"
    target = root / world_key(fee_on)
    files = WorldFiles(state=target / "state.json", book=target / "book.json")
    with _locked(root):
        if not rebuild and files.state.is_file() and files.book.is_file():
            _write_config(files)
            return files
        started = time.monotonic()
        scratch = Path(tempfile.mkdtemp(dir=root, prefix="building-"))
        try:
            state = scratch / "state.json"
            node = AnvilNode.start(dump_state=state)
            try:
                book = build_world(node.url, fee_on=fee_on)
            finally:
                node.stop()
            if not state.is_file():
                raise NodeError(f"anvil wrote no state to {state} on exit")
            book.save(scratch / "book.json")
            if target.exists():
                shutil.rmtree(target)
            scratch.rename(target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)  # gone already when the rename succeeded
        # stale worlds of older inputs are only disk: drop them
        for old in root.iterdir():
            if old.is_dir() and old != target and not old.name.startswith("building-"):
                shutil.rmtree(old, ignore_errors=True)
        log.info("built the world in %.1f s into %s", time.monotonic() - started, target)
        _write_config(files)
    return files


def world_specs() -> dict[str, TokenSpec]:
    """The world's tokens by symbol, WETH first."""
    return {WETH.symbol: WETH, **{t.symbol: t for t in TOKENS}}


def vault_entries(
    pairs: Iterable[PairSpec] = PAIRS, specs: dict[str, TokenSpec] | None = None
) -> dict[str, dict[str, Fraction]]:
    """What the owner deposited into each pair for the vault, in whole tokens by symbol.

    Args:
        pairs: the vault's pairs (default: the world's).
        specs: their tokens by symbol (default: the world's).
    """
    specs = specs or world_specs()
    return {
        f"{p.token_a}/{p.token_b}": {
            s: p.usd_per_side * VAULT_LP_SHARE / specs[s].usd for s in (p.token_a, p.token_b)
        }
        for p in pairs
    }


def dev_key(index: int) -> str:
    """The private key of anvil's dev account `index` (from its public test mnemonic)."""
    Account.enable_unaudited_hdwallet_features()
    return "0x" + bytes(Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}").key).hex()


def _write_config(files: WorldFiles) -> None:
    """(Re)write the example book.toml from the address book (cheap; not part of the cache key),
    and the keeper's keystore (anvil's public dev key, so `ammkeeper rebalance` runs on the world)."""
    book = AddressBook.load(files.book)
    text = world_book_toml(book, vault_entries())
    if not files.config.is_file() or files.config.read_text() != text:
        files.config.write_text(text)
    if not files.keeper_keystore.is_file():
        key = dev_key(ACCOUNT_NAMES.index("keeper"))
        if Account.from_key(key).address != book.accounts["keeper"]:
            raise NodeError("the world's keeper is not anvil's dev account of its role")
        files.keeper_password.write_text(DEV_KEYSTORE_PASSWORD + "\n")
        files.keeper_password.chmod(0o600)
        scratch = files.keeper_keystore.with_suffix(".tmp")
        scratch.write_text(json.dumps(Account.encrypt(key, DEV_KEYSTORE_PASSWORD)))
        scratch.chmod(0o600)
        scratch.rename(files.keeper_keystore)


def start_world(
    fee_on: bool = False,
    rebuild: bool = False,
    files: WorldFiles | None = None,
    extra_args: Sequence[str] = (),
    guards: VaultGuardSettings | None = None,
    port: int = 0,
) -> tuple[AnvilNode, AddressBook]:
    """Start an anvil node with the (cached) world loaded; the caller stops the node.

    Args:
        files: a world `ensure_world` already returned (skips hashing the inputs again).
        extra_args: more anvil flags (`--prune-history 64`: a node that keeps little history).
        port: the port to serve on (0: a free one).
        guards: the vault's own guards, set by its owner (`VAULT_GUARDS`: the world's defaults),
            with every pair poked before the history is mined, so their observations are old
            enough; None: the vault as deployed, unguarded.
    """
    files = files or ensure_world(rebuild=rebuild, fee_on=fee_on)
    book = AddressBook.load(files.book)
    node = AnvilNode.start(load_state=files.state, extra_args=extra_args, port=port)
    chain_id = int(node.rpc("eth_chainId"), 16)
    if chain_id != book.chain_id:
        node.stop()
        raise NodeError(f"world state loaded chain {chain_id}, the address book says {book.chain_id}")
    if guards is not None:
        guard_vault(node.url, book, guards)
    # a loaded state has no past: mine a TWAP window's worth of 12 s blocks (the books' default
    # window is 30 min), so prices have a history the guards can compare spot with
    node.rpc("anvil_mine", hex(HISTORY_BLOCKS), hex(BLOCK_TIME_S))
    return node, book


def guard_vault(url: str, book: AddressBook, guards: VaultGuardSettings) -> None:
    """The owner sets the vault's guards and pokes every allowlisted pair (its first observations)."""
    w3 = Web3(Web3.HTTPProvider(url))
    vault = w3.eth.contract(address=book.accounts["vault"], abi=compiled("Executor").abi)
    owner = book.accounts["owner"]
    deployer = Deployer(w3)
    g = guards
    deployer.send(vault.functions.set_guards(g.max_deviation_bps, g.window_s, g.cooldown_s, g.per_day), owner)
    deployer.send(vault.functions.poke([p.address for p in book.pairs.values()]), owner)


def set_fee_to(url: str, book: AddressBook, on: bool) -> None:
    """Turn the factory's protocol fee on (feeTo = treasury) or off, as the feeToSetter."""
    w3 = Web3(Web3.HTTPProvider(url))
    factory = w3.eth.contract(address=book.dex.factory, abi=artifact("UniswapV2Factory").abi)
    fee_to = book.accounts["treasury"] if on else "0x" + "00" * 20
    Deployer(w3).send(factory.functions.setFeeTo(fee_to), book.accounts["deployer"])
