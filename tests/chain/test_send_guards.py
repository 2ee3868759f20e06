"""Every send passes the keeper's guards, whoever sends it; books, chains, vaults and journals are
checked before anything is planned; the TWAP window needs no archive node; a hung endpoint costs
one deadline."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from web3.exceptions import ContractLogicError

from anvil.world import ensure_world, start_world
from bot.chain import rpc
from bot.chain.vault_admin import vault_contract
from bot.cli.main import main
from bot.core.book import Book
from bot.core.executor_ops import Swap, execute_calldata
from bot.core.valuation import observe
from bot.keeper import pipeline, planning
from bot.ops.kill_switch import pause, pause_path, paused
from bot.tx.journal import Journal, default_path
from tests.chain.books import journal_records, write_book
from tests.chain.conftest import World


def _key_args() -> list[str]:
    files = ensure_world()
    return ["--keystore", str(files.keeper_keystore), "--password-file", str(files.keeper_password)]


def _rebalance(world: World, book: Path, *more: str) -> int:
    return main(["rebalance", "--config", str(book), "--rpc", world.node.url, *_key_args(), "--yes", *more])


def _keeper_nonce(world: World) -> int:
    return int(world.w3.eth.get_transaction_count(world.book.accounts["keeper"]))


def test_a_manual_rebalance_into_a_pushed_pool_is_refused_by_the_twap_guard(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rebalance --yes` used to send into a pool a whale had just pushed: only the keeper had guards."""
    book = write_book(tmp_path)
    world.double_reserve("WETH/USDC", "WETH")
    nonce = _keeper_nonce(world)
    assert _rebalance(world, book) == 1
    err = capsys.readouterr().err
    assert "refused by twap_deviation" in err and "--override twap_deviation" in err
    assert _keeper_nonce(world) == nonce
    (run,) = journal_records(book)
    assert run["status"] == "refused" and run["intents"] == []


def test_an_override_is_named_passes_only_that_guard_and_is_journaled(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = write_book(tmp_path, lambda raw: raw.setdefault("guards", {}).update(max_bundle_value="1"))
    nonce = _keeper_nonce(world)
    assert _rebalance(world, book) == 1
    assert "refused by bundle_value" in capsys.readouterr().err and _keeper_nonce(world) == nonce
    assert _rebalance(world, book, "--override", "bundle_value") == 0
    out = capsys.readouterr().out
    assert "overriding: bundle_value" in out and _keeper_nonce(world) == nonce + 1
    run = journal_records(book)[0]
    assert run["status"] == "executed" and "overrode bundle_value" in run["message"]
    assert run["intents"][0]["plan"]["overrides"] == ["bundle_value"]


def test_the_kill_switch_stops_a_manual_rebalance_too(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = write_book(tmp_path)
    pause(pause_path(book, Book.load(book)), "rotating the key")
    nonce = _keeper_nonce(world)
    assert _rebalance(world, book) == 1
    assert "refused by kill_switch: the book is paused: rotating the key" in capsys.readouterr().err
    assert _keeper_nonce(world) == nonce


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw.update(chain_id=1), "the RPC serves chain 31337; the book is for chain 1"),
        (lambda raw: raw.update(vault="0x" + "00" * 20), "does not answer keeper(): it is not an ammkeeper"),
    ],
    ids=["another chain", "zero-address vault"],
)
def test_plan_checks_the_chain_and_the_vault_before_valuing_anything(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Any, message: str
) -> None:
    book = write_book(tmp_path, change)
    assert main(["plan", "--config", str(book), "--rpc", world.node.url]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "total value" not in captured.out


def test_a_rebalance_refuses_another_books_journal(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = write_book(tmp_path)
    theirs = tmp_path / "theirs.journal.sqlite"
    with Journal.open(theirs) as journal:
        journal.bind("0x" + "77" * 20, 31337)
    nonce = _keeper_nonce(world)
    assert _rebalance(world, book, "--journal", str(theirs)) == 2
    assert "belongs to vault 0x7777" in capsys.readouterr().err
    assert _keeper_nonce(world) == nonce


@contextmanager
def hung_endpoint() -> Iterator[tuple[str, list[bytes]]]:
    """An HTTP endpoint that accepts every connection and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    seen: list[bytes] = []
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.settimeout(1)
            with contextlib.suppress(TimeoutError):  # a client that sent nothing is held all the same
                seen.append(conn.recv(65536))
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", seen
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


def test_plan_with_a_hung_first_endpoint_answers_from_the_second_after_one_deadline(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = write_book(tmp_path, lambda raw: raw.setdefault("keeper", {}).update(rpc_deadline_s=2))
    with hung_endpoint() as (hung, seen):
        code = main(["plan", "--config", str(book), "--rpc", hung, "--rpc", world.node.url, "--no-simulate"])
    assert code == 0, capsys.readouterr().err
    assert "decision:" in capsys.readouterr().out
    # one request waited out its deadline there; then the endpoint was paused and never asked again
    assert len(seen) == 1


@pytest.fixture
def pruned() -> Iterator[tuple[str, Path]]:
    """A node with the world that keeps only the last 64 blocks' state (a default geth keeps 128)."""
    files = ensure_world()
    node, _ = start_world(files=files, extra_args=["--prune-history", "64"])
    try:
        yield node.url, files.config
    finally:
        node.stop()


def test_without_an_archive_node_plan_names_the_block_and_the_remedy(
    pruned: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, config = pruned
    assert main(["plan", "--config", str(config), "--rpc", url]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "twap_window = '30m'" in line and "use an archive node, or a shorter twap_window" in line
    assert "BlockOutOfRange" in line and "block " in line


def test_the_keepers_journal_starts_the_twap_window_on_a_pruned_node(
    pruned: tuple[str, Path], tmp_path: Path
) -> None:
    """Observations journaled as the keeper follows heads give the window; no old state is read."""
    url, config = pruned
    book = Book.load(config)

    async def go() -> tuple[Any, Any]:
        async with rpc.connect(url, book=book) as w3:
            with Journal.open(default_path(tmp_path / "book.toml")) as journal:
                first = await planning.plan_on(w3, book, "latest", check=False, journal=journal)
                chain_id = first.view.snapshot.chain_id
                journal.add_observations(chain_id, observe(first.view.snapshot).values(), keep_s=3600)
                # 31 minutes of blocks later: far past what the node keeps
                await rpc.result(w3, "anvil_mine", [hex(155), hex(12)])
                later = await planning.plan_on(w3, book, "latest", check=False, journal=journal)
        return first, later

    first, later = asyncio.run(go())
    weth = first.view.tokens["WETH"].address
    # at first the node could not serve the window and the journal had none: no TWAP, never spot
    assert first.view.twap[weth].kind == "spot (no TWAP window)"
    start = first.view.snapshot.block_number
    assert later.view.twap[weth].kind == f"twap {start}-{later.view.snapshot.block_number}"
    # nothing traded meanwhile: the time-weighted price is the spot price, but for the UQ112x112
    # truncation of the pair's own cumulatives
    twap, spot = later.view.twap[weth].value, later.view.prices[weth].value
    assert twap <= spot and (spot - twap) / spot < Fraction(1, 10**12)


def test_a_market_move_after_planning_is_the_markets_and_a_wrong_plan_is_ours(
    world: World, tmp_path: Path
) -> None:
    """A bundle that reverted in estimation only because the market moved used to count toward the
    circuit breaker (and pause the keeper); a plan wrong at its own block is a failure of ours."""
    keeper = world.book.accounts["keeper"]

    async def check(book: Book, move: bool) -> Exception:
        async with rpc.connect(world.node.url, book=book) as w3:
            result = await planning.plan_on(w3, book, "latest", check=False)
            assert result.decision.plan is not None and result.decision.plan.ops
            if move:
                world.double_reserve("WETH/USDC", "WETH")
            sender = pipeline.Sender(book=book, keeper=keeper, chain_id=31337, reader=w3, sender=w3)
            with pytest.raises((pipeline.ChainMoved, pipeline.PlanWrong)) as stopped:
                await pipeline.check(sender, result, block=result.view.snapshot.block_number)
            return stopped.value

    world.node.rpc("evm_mine")
    moved = asyncio.run(check(Book.load(write_book(tmp_path)), move=True))
    assert isinstance(moved, pipeline.ChainMoved) and "the chain moved since block" in str(moved)

    def wrong_fee(raw: dict[str, Any]) -> None:  # the pools take 30 bps; a book that says 25 over-promises
        raw["dex"]["fee_bps"] = 25
        raw["policy"]["slippage_bps"] = 0

    wrong = asyncio.run(check(Book.load(write_book(tmp_path, wrong_fee)), move=False))
    assert isinstance(wrong, pipeline.PlanWrong) and "planned at" in str(wrong)


def test_pause_on_chain_stops_the_vault_itself_and_only_the_owner_resumes_it(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = write_book(tmp_path)
    vault = vault_contract(world.w3, world.book.accounts["vault"])
    assert vault.functions.paused().call() is False
    assert main(["pause", "--config", str(book), "--on-chain", "--rpc", world.node.url, *_key_args()]) == 0
    out = capsys.readouterr().out
    assert "paused on-chain by" in out and vault.functions.paused().call() is True
    assert paused(pause_path(book, Book.load(book))) is not None  # and the kill switch is on
    # again: nothing to send
    assert main(["pause", "--config", str(book), "--on-chain", "--rpc", world.node.url, *_key_args()]) == 0
    assert "already paused on-chain" in capsys.readouterr().out
    # the keeper key cannot unpause; even past the kill switch, a bundle is refused on-chain
    keeper, owner = world.book.accounts["keeper"], world.book.accounts["owner"]
    with pytest.raises(ContractLogicError, match="not the owner"):
        vault.functions.unpause().call({"from": keeper})
    assert _rebalance(world, book, "--override", "kill_switch") == 1
    assert "refused by vault_paused: the vault is paused on-chain" in capsys.readouterr().err
    world.send(vault.functions.unpause(), owner)
    assert vault.functions.paused().call() is False


def test_the_vaults_own_guards_are_a_refusal_to_wait_out_not_a_failure_of_the_plan(
    world: World, tmp_path: Path
) -> None:
    """A bundle the vault refuses for its cooldown or its TWAP guard is refused (the keeper waits),
    not PlanWrong (which the circuit breaker would count toward pausing the keeper)."""
    vault = vault_contract(world.w3, world.book.accounts["vault"])
    keeper, owner = world.book.accounts["keeper"], world.book.accounts["owner"]
    world.send(vault.functions.set_guards(0, 0, 3600, 0), owner)
    world.node.rpc("evm_mine")
    book = Book.load(write_book(tmp_path))

    async def check() -> Exception:
        async with rpc.connect(world.node.url, book=book) as w3:
            result = await planning.plan_on(w3, book, "latest", check=False)
            sender = pipeline.Sender(book=book, keeper=keeper, chain_id=31337, reader=w3, sender=w3)
            with pytest.raises(pipeline.Refused) as refused:
                await pipeline.check(sender, result, block=result.view.snapshot.block_number)
            return refused.value

    # a bundle just went through: the vault cools down for an hour
    pair = world.book.pairs["WETH/USDC"]
    ops = [Swap(pair.address, pair.token0 == "WETH", 10**15, 1)]
    data = execute_calldata(ops, 2**40, b"\x01" * 32)
    world.w3.eth.wait_for_transaction_receipt(
        world.w3.eth.send_transaction({"from": keeper, "to": vault.address, "data": "0x" + data.hex()})
    )
    refused = asyncio.run(check())
    assert isinstance(refused, pipeline.Refused) and refused.refusal.guard == "vault_guard"
    assert "the vault would refuse it: the vault cools down until" in str(refused)  # predicted
    # what the keeper does not predict (the spot a bundle leaves) the vault's revert says: still a
    # refusal to wait out, not a wrong plan
    world.send(vault.functions.set_guards(1, 600, 0, 0), owner)
    world.send(vault.functions.poke([e.address for e in world.book.pairs.values()]), owner)
    world.node.rpc("evm_increaseTime", 601)
    world.node.rpc("evm_mine")
    refused = asyncio.run(check())
    assert isinstance(refused, pipeline.Refused) and refused.refusal.guard == "vault_guard"
    assert "a pair's spot after the bundle is too far from its TWAP" in str(refused)
