"""A node that answers the vault's calls with garbage is a transient RPC failure, named, never a
traceback (they used to escape the keeper's step as ValueError or BadInput)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from bot.chain import rpc
from bot.chain.block_clock import block_timestamp
from bot.chain.vault import estimate_gas, simulate, vault_keeper
from bot.core.errors import BadInput, RpcError
from bot.core.executor_ops import Burn

VAULT = "0x" + "11" * 20
KEEPER = "0x" + "22" * 20
OPS = [Burn(pair="0x" + "33" * 20, liquidity=0, min_amount0=0, min_amount1=0)]


@asynccontextmanager
async def node(answers: dict[str, Any]) -> AsyncIterator[str]:
    """A JSON-RPC endpoint whose `result` for each method is `answers[method]` (a dict: an error)."""

    async def handle(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        answer = answers[body["method"]]
        key = "error" if isinstance(answer, dict) else "result"
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], key: answer})

    app = web.Application()
    app.router.add_post("/", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()


def ask(answers: dict[str, Any], call: Any) -> Any:
    async def go() -> Any:
        async with node(answers) as url, rpc.connect(url) as w3:
            return await call(w3)

    return asyncio.run(go())


@pytest.mark.parametrize("result", ["0xzz", "0x1234", 12, None], ids=["not hex", "short", "a number", "null"])
def test_a_malformed_keeper_answer_is_an_rpc_error(result: Any) -> None:
    with pytest.raises(RpcError, match="answered keeper"):
        ask({"eth_call": result}, lambda w3: vault_keeper(w3, VAULT))


def test_no_code_or_a_revert_at_the_vault_is_bad_input() -> None:
    with pytest.raises(BadInput, match="not an ammkeeper executor"):
        ask({"eth_call": "0x"}, lambda w3: vault_keeper(w3, VAULT))
    with pytest.raises(BadInput, match="not an ammkeeper executor"):
        ask({"eth_call": {"code": 3, "message": "execution reverted"}}, lambda w3: vault_keeper(w3, VAULT))


@pytest.mark.parametrize("result", ["0xnothex", "0x" + "00" * 31, 7], ids=["not hex", "short", "a number"])
def test_malformed_simulations_and_estimates_are_rpc_errors(result: Any) -> None:
    with pytest.raises(RpcError, match="simulate"):
        ask({"eth_call": result}, lambda w3: simulate(w3, VAULT, KEEPER, OPS, 1, [VAULT]))
    with pytest.raises(RpcError, match="eth_estimateGas"):
        ask({"eth_estimateGas": result}, lambda w3: estimate_gas(w3, VAULT, KEEPER, OPS, 1, b"\0" * 32))


@pytest.mark.parametrize(
    "header",
    [{"number": "0x5", "hash": "0x05"}, {"number": "0x5", "hash": "0x05", "timestamp": "soon"}, None],
)
def test_a_header_without_a_timestamp_is_an_rpc_error(header: Any) -> None:
    with pytest.raises(RpcError):
        ask({"eth_getBlockByNumber": header}, lambda w3: block_timestamp(w3, 5))
