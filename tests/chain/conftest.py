"""Chain fixtures: one anvil with the world per session, a fresh evm_snapshot per test, roles, forks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from anvil.artifacts import artifact
from anvil.node import AnvilNode
from anvil.world import start_world
from bot.chain.contracts import compiled
from bot.core.address_book import AddressBook
from bot.core.amm import PairState


@dataclass
class World:
    """The running world: node, address book, a sync web3 for set-up and checks."""

    node: AnvilNode
    book: AddressBook
    w3: Web3

    def pair(self, name_or_address: str) -> Contract:
        address = (
            self.book.pairs[name_or_address].address
            if name_or_address in self.book.pairs
            else name_or_address
        )
        return self.w3.eth.contract(address=address, abi=artifact("UniswapV2Pair").abi)

    def token(self, symbol_or_address: str) -> Contract:
        entry = self.book.tokens.get(symbol_or_address)
        address = entry.address if entry else symbol_or_address
        abi = artifact("WETH9").abi if address == self.book.dex.weth else compiled("TestToken").abi
        return self.w3.eth.contract(address=address, abi=abi)

    @property
    def factory(self) -> Contract:
        return self.w3.eth.contract(address=self.book.dex.factory, abi=artifact("UniswapV2Factory").abi)

    @property
    def router(self) -> Contract:
        return self.w3.eth.contract(address=self.book.dex.router, abi=artifact("UniswapV2Router02").abi)

    def pair_state(self, name_or_address: str) -> PairState:
        """A pair as the exact math sees it, read from the chain (feeTo from the factory)."""
        c = self.pair(name_or_address).functions
        r0, r1, _ = c.getReserves().call()
        fee_on = int(self.factory.functions.feeTo().call(), 16) != 0
        return PairState(r0, r1, c.totalSupply().call(), c.kLast().call(), self.book.dex.fee_bps, fee_on)

    def send(self, fn: Any, sender: str, value: int = 0) -> Any:
        """Send and require success; returns the receipt."""
        receipt = self.w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender, "value": value}))
        assert receipt["status"] == 1, f"{fn.fn_name} reverted"
        return receipt

    def deploy(self, name: str, *args: Any, sender: str) -> Contract:
        """Deploy one of our Vyper contracts (e.g. testing/NoDecimalsToken)."""
        c = compiled(name)
        tx = (
            self.w3.eth.contract(abi=c.abi, bytecode=c.bytecode).constructor(*args).transact({"from": sender})
        )
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        assert receipt["status"] == 1
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=c.abi)

    def owner_deposit(self, symbol: str, amount: int) -> Any:
        """The owner mints or wraps `amount` of `symbol` and deposits it into the vault; the receipt."""
        owner, vault = self.book.accounts["owner"], self.book.accounts["vault"]
        token = self.token(symbol)
        if token.address == self.book.dex.weth:
            self.send(token.functions.deposit(), owner, value=amount)
        else:
            self.send(token.functions.mint(owner, amount), self.book.accounts["deployer"])
        self.send(token.functions.approve(vault, amount), owner)
        executor = self.w3.eth.contract(address=vault, abi=compiled("Executor").abi)
        return self.send(executor.functions.deposit(token.address, amount), owner)

    def double_reserve(self, pair: str, symbol: str) -> None:
        """A whale doubles `symbol`'s reserve in `pair` by a transfer and a sync: its spot price
        there falls to a quarter, with no swap (a crash, or a pool pushed for a sandwich)."""
        whale = self.book.accounts["whale"]
        contract, token = self.pair(pair), self.token(symbol)
        reserve = token.functions.balanceOf(contract.address).call()
        if token.address == self.book.dex.weth:
            self.send(token.functions.deposit(), whale, value=reserve)
        self.send(token.functions.transfer(contract.address, reserve), whale)
        self.send(contract.functions.sync(), whale)

    def snapshot(self) -> str:
        return str(self.node.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        assert self.node.rpc("evm_revert", snapshot_id) is True


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/chain/" in str(item.fspath):
            item.add_marker(pytest.mark.chain)


@pytest.fixture(scope="session")
def world() -> Iterator[World]:
    node, book = start_world()
    try:
        yield World(
            node=node, book=book, w3=Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        )
    finally:
        node.stop()


@pytest.fixture(autouse=True)
def isolated(world: World) -> Iterator[None]:
    """Every test starts from the built world: a revert consumes its snapshot, so take a new one each time."""
    snapshot_id = world.snapshot()
    yield
    world.revert(snapshot_id)


@pytest.fixture
def roles(world: World) -> dict[str, str]:
    return dict(world.book.accounts)


@pytest.fixture
def fork(world: World) -> Iterator[AnvilNode]:
    """A second anvil forked from the base node at its head."""
    node = AnvilNode.start(fork_url=world.node.url)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def manual_mining(world: World) -> Iterator[None]:
    """Automine off (a fresh block first, so the test starts on a mined head); on again after."""
    world.node.rpc("evm_mine")
    world.node.rpc("evm_setAutomine", False)
    try:
        yield
    finally:
        world.node.rpc("evm_setAutomine", True)
        world.node.rpc("evm_mine")
