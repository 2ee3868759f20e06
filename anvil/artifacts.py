"""Real Uniswap V2 (and one V2 fork's) build artifacts from npm (never committed: `make setup` gets them)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import keccak

from bot.core.errors import NodeError

NODE_MODULES = Path(__file__).resolve().parents[1] / "node_modules"
ARTIFACTS = {
    "UniswapV2Factory": NODE_MODULES / "@uniswap" / "v2-core" / "build" / "UniswapV2Factory.json",
    "UniswapV2Pair": NODE_MODULES / "@uniswap" / "v2-core" / "build" / "UniswapV2Pair.json",
    "UniswapV2Router02": NODE_MODULES / "@uniswap" / "v2-periphery" / "build" / "UniswapV2Router02.json",
    "WETH9": NODE_MODULES / "@uniswap" / "v2-periphery" / "build" / "WETH9.json",
    # PancakeSwap's original V2 fork: 20 bps a swap, a quarter of the fee growth to feeTo
    "PancakeFactory": NODE_MODULES
    / "@pancakeswap-libs"
    / "pancake-swap-core"
    / "build"
    / "PancakeFactory.json",
    "PancakePair": NODE_MODULES / "@pancakeswap-libs" / "pancake-swap-core" / "build" / "PancakePair.json",
}
FORK_FEE_BPS = 20  # PancakePair.swap: balance * 1000 - amountIn * 2
# the mainnet pair init code hash, which Router02's pairFor embeds
PAIR_INIT_CODE_HASH = "0x96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"


@dataclass(frozen=True, slots=True)
class Artifact:
    """ABI and creation bytecode of one npm-built contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes


@functools.cache
def artifact(name: str) -> Artifact:
    """Load one of ARTIFACTS by name.

    Raises:
        NodeError: the npm packages are not installed.
    """
    path = ARTIFACTS[name]
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise NodeError(f"{path} is missing: run `npm ci` (or `make setup`)") from exc
    return Artifact(name=name, abi=data["abi"], bytecode=bytes.fromhex(data["bytecode"].removeprefix("0x")))


def pair_init_code_hash() -> str:
    """keccak256 of the pair's creation code, as the factory's CREATE2 uses it."""
    return "0x" + keccak(artifact("UniswapV2Pair").bytecode).hex()
