"""Anvil processes: free ports, readiness, graceful and forced stops, forks at a block."""

from __future__ import annotations

import os
import signal
import socket

import pytest

from anvil.node import AnvilNode
from bot.core.errors import NodeError
from tests.chain.conftest import World


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_two_nodes_get_two_free_ports_and_release_them_on_stop() -> None:
    with AnvilNode.start() as a, AnvilNode.start() as b:
        assert a.url != b.url
        assert a.rpc("web3_clientVersion").startswith("anvil")
        port = _port(a.url)
        assert a.stop() == 0  # SIGINT: anvil exits cleanly
    assert not a.running and not b.running
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", port))  # nothing listens there any more


def test_a_node_that_ignores_signals_is_killed() -> None:
    node = AnvilNode.start()
    os.kill(node.process.pid, signal.SIGSTOP)  # a stopped process handles neither SIGINT nor SIGTERM
    assert node.stop(grace_s=0.5) == -signal.SIGKILL


def test_a_node_that_cannot_start_says_why() -> None:
    with pytest.raises(NodeError, match="exited with code"):
        AnvilNode.start(extra_args=["--no-such-flag"], startup_timeout_s=10)


def test_fork_block_without_fork_url_is_refused() -> None:
    with pytest.raises(NodeError, match="fork_block needs fork_url"):
        AnvilNode.start(fork_block=3)


def test_a_fork_sees_the_base_and_does_not_write_to_it(
    world: World, fork: AnvilNode, roles: dict[str, str]
) -> None:
    base_head = int(world.node.rpc("eth_blockNumber"), 16)
    assert int(fork.rpc("eth_blockNumber"), 16) == base_head
    usdc = world.book.tokens["USDC"].address
    data = "0x70a08231" + roles["holder"][2:].lower().rjust(64, "0")  # balanceOf(holder)
    assert fork.rpc("eth_call", {"to": usdc, "data": data}, "latest") == world.node.rpc(
        "eth_call", {"to": usdc, "data": data}, "latest"
    )
    fork.rpc("evm_mine")
    assert int(fork.rpc("eth_blockNumber"), 16) == base_head + 1
    assert int(world.node.rpc("eth_blockNumber"), 16) == base_head


def test_a_fork_at_an_earlier_block_sees_that_block(world: World, roles: dict[str, str]) -> None:
    usdc = world.token("USDC")
    before = int(world.node.rpc("eth_blockNumber"), 16)
    world.send(usdc.functions.transfer(roles["trader"], 12_345), roles["holder"])
    with (
        AnvilNode.start(fork_url=world.node.url, fork_block=before) as old,
        AnvilNode.start(fork_url=world.node.url) as new,
    ):
        data = "0x70a08231" + roles["trader"][2:].lower().rjust(64, "0")
        at_old = int(old.rpc("eth_call", {"to": usdc.address, "data": data}, "latest"), 16)
        at_new = int(new.rpc("eth_call", {"to": usdc.address, "data": data}, "latest"), 16)
    assert at_new - at_old == 12_345
