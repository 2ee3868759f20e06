"""Known chains and V2 DEX deployments: pure data, looked up by key (a chain also by its id).

Every address and init code hash here was checked against the public source named beside it
(official docs, deployment lists, or the project's own SDK/deploy files); a deployment that could
not be checked is left out rather than guessed. Addresses are stored EIP-55 checksummed.

Only plain Uniswap V2 forks are listed: a pair at CREATE2(factory, keccak(token0, token1),
init_code_hash), a constant-product swap with one fixed fee (`fee_bps`), Router02's interface.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from bot.core.errors import BadInput


@dataclass(frozen=True, slots=True)
class ChainPreset:
    """A chain the keeper knows by name.

    Attributes:
        key: the short name (`ethereum`, `base`, ...), the key of `CHAINS`.
        chain_id: the EIP-155 chain id.
        name: the display name.
        native: the symbol of the native (gas) token.
        wrapped_native: the symbol of its canonical wrapped ERC-20.
        wrapped_native_address: where that ERC-20 is; None where the world deploys its own (anvil).
        block_time_s: the typical block interval, seconds (a polling pace, not a guarantee).
        confirmations: blocks including a receipt before it counts (1: its own block), chosen
            for reorg safety on this chain (each value's reason is beside it).
    """

    key: str
    chain_id: int
    name: str
    native: str
    wrapped_native: str
    wrapped_native_address: str | None
    block_time_s: float
    confirmations: int


@dataclass(frozen=True, slots=True)
class DexPreset:
    """A Uniswap V2 (or plain V2 fork) deployment on one chain.

    Attributes:
        key: the DEX's short name (`uniswap-v2`, ...); with `chain`, the key of `DEXES`.
        name: the display name.
        chain: the key of the chain (in `CHAINS`) it is deployed on.
        factory: the factory (pairs are its CREATE2 children).
        router: its Router02.
        init_code_hash: keccak256 of the pair's creation code, as bytes32 hex.
        fee_bps: the swap fee the pair takes on the input, in basis points.
        source: the public page or file the addresses were checked against.
    """

    key: str
    name: str
    chain: str
    factory: str
    router: str
    init_code_hash: str
    fee_bps: int
    source: str


_CHAIN_LIST = (
    # WETH9: universal-router script/deployParameters/DeployMainnet.s.sol (weth9).
    # NOTE: 3: post-merge one-block reorgs happen, deeper ones are very rare; finality (two epochs,
    # ~13 min) is too slow for a keeper, which re-reads state every head anyway.
    ChainPreset(
        key="ethereum",
        chain_id=1,
        name="Ethereum",
        native="ETH",
        wrapped_native="WETH",
        wrapped_native_address="0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
        block_time_s=12.0,
        confirmations=3,
    ),
    # WETH predeploy: universal-router DeployBase.s.sol (weth9).
    # NOTE: 10 (~20 s): the sequencer's unsafe head reorgs only if a batch posts differently.
    ChainPreset(
        key="base",
        chain_id=8453,
        name="Base",
        native="ETH",
        wrapped_native="WETH",
        wrapped_native_address="0x4200000000000000000000000000000000000006",
        block_time_s=2.0,
        confirmations=10,
    ),
    # WETH: universal-router DeployArbitrum.s.sol (weth9). Blocks ~250 ms (Nitro sequencer).
    # NOTE: 20 (~5 s): the sequencer's ordering is final in practice; a margin for feed hiccups.
    ChainPreset(
        key="arbitrum",
        chain_id=42161,
        name="Arbitrum One",
        native="ETH",
        wrapped_native="WETH",
        wrapped_native_address="0x82aF49447D8a07e3bd95BD0d56f35241523fBab1",
        block_time_s=0.25,
        confirmations=20,
    ),
    # WETH predeploy: universal-router DeployOptimism.s.sol (weth9). Same reasoning as Base.
    ChainPreset(
        key="optimism",
        chain_id=10,
        name="OP Mainnet",
        native="ETH",
        wrapped_native="WETH",
        wrapped_native_address="0x4200000000000000000000000000000000000006",
        block_time_s=2.0,
        confirmations=10,
    ),
    # WPOL (was WMATIC before the MATIC -> POL migration, same contract): universal-router
    # DeployPolygon.s.sol (weth9).
    # NOTE: 32 (~1 min): Bor reorgs below the latest milestone (PIP-11) were historically tens of
    # blocks deep; milestones now finalize within seconds, so 32 is a conservative middle.
    ChainPreset(
        key="polygon",
        chain_id=137,
        name="Polygon PoS",
        native="POL",
        wrapped_native="WPOL",
        wrapped_native_address="0x0d500B1d8E8eF31E21C99d1Db9A6444d3ADf1270",
        block_time_s=2.0,
        confirmations=32,
    ),
    # WBNB: universal-router DeployBSC.s.sol (weth9) and pancake-frontend swap-sdk-evm WBNB.
    # Blocks 0.45 s since the Fermi hard fork (BEP-619, 2026-01-14).
    # NOTE: 5: fast finality (BEP-126) finalizes a block within two in most cases; a margin for
    # late votes.
    ChainPreset(
        key="bnb",
        chain_id=56,
        name="BNB Smart Chain",
        native="BNB",
        wrapped_native="WBNB",
        wrapped_native_address="0xbb4CdB9CBd36B01bD1cBaEBF2De08d9173bc095c",
        block_time_s=0.45,
        confirmations=5,
    ),
    # The local world: anvil automines a block per transaction and never reorgs; the world
    # builder deploys its own WETH9 (its address is in the world's address book).
    ChainPreset(
        key="anvil",
        chain_id=31337,
        name="Anvil (local)",
        native="ETH",
        wrapped_native="WETH",
        wrapped_native_address=None,
        block_time_s=1.0,
        confirmations=1,
    ),
)

CHAINS: dict[str, ChainPreset] = {c.key: c for c in _CHAIN_LIST}

# keccak256 of Uniswap's UniswapV2Pair creation code; the same on every chain where Uniswap Labs
# deployed the canonical bytecode (universal-router script/deployParameters/Deploy{Mainnet,Base,
# Arbitrum,Optimism,Polygon,BSC}.s.sol all set pairInitCodeHash to it). QuickSwap deployed it
# unchanged (QuickSwap-sdk src/constants.ts INIT_CODE_HASH).
UNISWAP_V2_INIT_CODE_HASH = "0x96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"
# sushi-labs/sushi src/evm/config/features/sushiswap-v2.ts: one hash on every chain listed here.
SUSHISWAP_V2_INIT_CODE_HASH = "0xe18a34eb0e04b04f7a0ac29a6e80748dca96319b42c54d679cb821dca90c6303"
# pancake-frontend packages/v2-sdk/src/constants.ts: INIT_CODE_HASH (BSC) and INIT_CODE_HASH_ETH
# (Ethereum, Arbitrum One, Base: a different pair bytecode from BSC's).
PANCAKESWAP_V2_BSC_INIT_CODE_HASH = "0x00fb7f630766e6a796048ea87d01acd3068e8ff67d078148a3fa3f4a84f69bd5"
PANCAKESWAP_V2_INIT_CODE_HASH = "0x57224589c67f3f30a6b0d7a1b54cf3153ab84563bc609ef41dfb34f8b2974d2d"

UNISWAP_V2_SOURCE = "https://docs.uniswap.org/contracts/v2/reference/smart-contracts/v2-deployments"
SUSHISWAP_V2_SOURCE = "https://github.com/sushi-labs/sushi/blob/HEAD/src/evm/config/features/sushiswap-v2.ts"
PANCAKESWAP_V2_SOURCE = "https://developer.pancakeswap.finance/contracts/v2/addresses"
QUICKSWAP_V2_SOURCE = "https://github.com/QuickSwap/quickswap-core/blob/HEAD/README.md"

_DEX_LIST = (
    # Uniswap V2: factory and Router02 from
    # https://docs.uniswap.org/contracts/v2/reference/smart-contracts/v2-deployments (Mainnet), the
    # same as Uniswap/sdks sdk-core V2_FACTORY_ADDRESSES / V2_ROUTER_ADDRESSES; fee 0.30 %
    # (UniswapV2Library.getAmountOut: 997/1000).
    DexPreset(
        key="uniswap-v2",
        name="Uniswap V2",
        chain="ethereum",
        factory="0x5C69bEe701ef814a2B6a3EDD4B1652CB9cc5aA6f",
        router="0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D",
        init_code_hash=UNISWAP_V2_INIT_CODE_HASH,
        fee_bps=30,
        source=UNISWAP_V2_SOURCE,
    ),
    # https://docs.uniswap.org/contracts/v2/reference/smart-contracts/v2-deployments (Base)
    DexPreset(
        key="uniswap-v2",
        name="Uniswap V2",
        chain="base",
        factory="0x8909Dc15e40173Ff4699343b6eB8132c65e18eC6",
        router="0x4752ba5DBc23f44D87826276BF6Fd6b1C372aD24",
        init_code_hash=UNISWAP_V2_INIT_CODE_HASH,
        fee_bps=30,
        source=UNISWAP_V2_SOURCE,
    ),
    # https://docs.uniswap.org/contracts/v2/reference/smart-contracts/v2-deployments (Arbitrum)
    DexPreset(
        key="uniswap-v2",
        name="Uniswap V2",
        chain="arbitrum",
        factory="0xf1D7CC64Fb4452F05c498126312eBE29f30Fbcf9",
        router="0x4752ba5DBc23f44D87826276BF6Fd6b1C372aD24",
        init_code_hash=UNISWAP_V2_INIT_CODE_HASH,
        fee_bps=30,
        source=UNISWAP_V2_SOURCE,
    ),
    # https://docs.uniswap.org/contracts/v2/reference/smart-contracts/v2-deployments (Optimism)
    DexPreset(
        key="uniswap-v2",
        name="Uniswap V2",
        chain="optimism",
        factory="0x0c3c1c532F1e39EdF36BE9Fe0bE1410313E074Bf",
        router="0x4A7b5Da61326A6379179b40d00F57E5bbDC962c2",
        init_code_hash=UNISWAP_V2_INIT_CODE_HASH,
        fee_bps=30,
        source=UNISWAP_V2_SOURCE,
    ),
    # https://docs.uniswap.org/contracts/v2/reference/smart-contracts/v2-deployments (Polygon)
    DexPreset(
        key="uniswap-v2",
        name="Uniswap V2",
        chain="polygon",
        factory="0x9e5A52f57b3038F1B8EeE45F28b3C1967e22799C",
        router="0xedf6066a2b290C185783862C7F4776A2C8077AD1",
        init_code_hash=UNISWAP_V2_INIT_CODE_HASH,
        fee_bps=30,
        source=UNISWAP_V2_SOURCE,
    ),
    # https://docs.uniswap.org/contracts/v2/reference/smart-contracts/v2-deployments (BNB Chain)
    DexPreset(
        key="uniswap-v2",
        name="Uniswap V2",
        chain="bnb",
        factory="0x8909Dc15e40173Ff4699343b6eB8132c65e18eC6",
        router="0x4752ba5DBc23f44D87826276BF6Fd6b1C372aD24",
        init_code_hash=UNISWAP_V2_INIT_CODE_HASH,
        fee_bps=30,
        source=UNISWAP_V2_SOURCE,
    ),
    # SushiSwap V2: SUSHISWAP_V2_FACTORY_ADDRESS / _ROUTER_ADDRESS / _INIT_CODE_HASH in
    # https://github.com/sushi-labs/sushi/blob/HEAD/src/evm/config/features/sushiswap-v2.ts;
    # fee 0.30 % (Uniswap's pair unchanged). Mainnet also in @sushiswap/core's README.
    DexPreset(
        key="sushiswap-v2",
        name="SushiSwap V2",
        chain="ethereum",
        factory="0xC0AEe478e3658e2610c5F7A4A2E1777cE9e4f2Ac",
        router="0xd9e1cE17f2641f24aE83637ab66a2cca9C378B9F",
        init_code_hash=SUSHISWAP_V2_INIT_CODE_HASH,
        fee_bps=30,
        source=SUSHISWAP_V2_SOURCE,
    ),
    # https://github.com/sushi-labs/sushi/blob/HEAD/src/evm/config/features/sushiswap-v2.ts (BASE)
    DexPreset(
        key="sushiswap-v2",
        name="SushiSwap V2",
        chain="base",
        factory="0x71524B4f93c58fcbF659783284E38825f0622859",
        router="0x6BDED42c6DA8FBf0d2bA55B2fa120C5e0c8D7891",
        init_code_hash=SUSHISWAP_V2_INIT_CODE_HASH,
        fee_bps=30,
        source=SUSHISWAP_V2_SOURCE,
    ),
    # https://github.com/sushi-labs/sushi/blob/HEAD/src/evm/config/features/sushiswap-v2.ts (ARBITRUM)
    DexPreset(
        key="sushiswap-v2",
        name="SushiSwap V2",
        chain="arbitrum",
        factory="0xc35DADB65012eC5796536bD9864eD8773aBc74C4",
        router="0x1b02dA8Cb0d097eB8D57A175b88c7D8b47997506",
        init_code_hash=SUSHISWAP_V2_INIT_CODE_HASH,
        fee_bps=30,
        source=SUSHISWAP_V2_SOURCE,
    ),
    # https://github.com/sushi-labs/sushi/blob/HEAD/src/evm/config/features/sushiswap-v2.ts (OPTIMISM)
    DexPreset(
        key="sushiswap-v2",
        name="SushiSwap V2",
        chain="optimism",
        factory="0xFbc12984689e5f15626Bad03Ad60160Fe98B303C",
        router="0x2ABf469074dc0b54d793850807E6eb5Faf2625b1",
        init_code_hash=SUSHISWAP_V2_INIT_CODE_HASH,
        fee_bps=30,
        source=SUSHISWAP_V2_SOURCE,
    ),
    # https://github.com/sushi-labs/sushi/blob/HEAD/src/evm/config/features/sushiswap-v2.ts (POLYGON)
    DexPreset(
        key="sushiswap-v2",
        name="SushiSwap V2",
        chain="polygon",
        factory="0xc35DADB65012eC5796536bD9864eD8773aBc74C4",
        router="0x1b02dA8Cb0d097eB8D57A175b88c7D8b47997506",
        init_code_hash=SUSHISWAP_V2_INIT_CODE_HASH,
        fee_bps=30,
        source=SUSHISWAP_V2_SOURCE,
    ),
    # https://github.com/sushi-labs/sushi/blob/HEAD/src/evm/config/features/sushiswap-v2.ts (BSC)
    DexPreset(
        key="sushiswap-v2",
        name="SushiSwap V2",
        chain="bnb",
        factory="0xc35DADB65012eC5796536bD9864eD8773aBc74C4",
        router="0x1b02dA8Cb0d097eB8D57A175b88c7D8b47997506",
        init_code_hash=SUSHISWAP_V2_INIT_CODE_HASH,
        fee_bps=30,
        source=SUSHISWAP_V2_SOURCE,
    ),
    # PancakeSwap V2: factory (PancakeFactory) and router (PancakeRouter) from
    # https://developer.pancakeswap.finance/contracts/v2/addresses, the same factories as
    # pancake-frontend packages/v2-sdk/src/constants.ts FACTORY_ADDRESS_MAP (hashes there too);
    # fee 0.25 % on every chain (v2-sdk entities/pair.ts: 9975/10000; PancakeLibrary.getAmountOut).
    DexPreset(
        key="pancakeswap-v2",
        name="PancakeSwap V2",
        chain="bnb",
        factory="0xcA143Ce32Fe78f1f7019d7d551a6402fC5350c73",
        router="0x10ED43C718714eb63d5aA57B78B54704E256024E",
        init_code_hash=PANCAKESWAP_V2_BSC_INIT_CODE_HASH,
        fee_bps=25,
        source=PANCAKESWAP_V2_SOURCE,
    ),
    # https://developer.pancakeswap.finance/contracts/v2/addresses (ETH)
    DexPreset(
        key="pancakeswap-v2",
        name="PancakeSwap V2",
        chain="ethereum",
        factory="0x1097053Fd2ea711dad45caCcc45EfF7548fCB362",
        router="0xEfF92A263d31888d860bD50809A8D171709b7b1c",
        init_code_hash=PANCAKESWAP_V2_INIT_CODE_HASH,
        fee_bps=25,
        source=PANCAKESWAP_V2_SOURCE,
    ),
    # https://developer.pancakeswap.finance/contracts/v2/addresses (Arbitrum)
    DexPreset(
        key="pancakeswap-v2",
        name="PancakeSwap V2",
        chain="arbitrum",
        factory="0x02a84c1b3BBD7401a5f7fa98a384EBC70bB5749E",
        router="0x8cFe327CEc66d1C090Dd72bd0FF11d690C33a2Eb",
        init_code_hash=PANCAKESWAP_V2_INIT_CODE_HASH,
        fee_bps=25,
        source=PANCAKESWAP_V2_SOURCE,
    ),
    # https://developer.pancakeswap.finance/contracts/v2/addresses (Base)
    DexPreset(
        key="pancakeswap-v2",
        name="PancakeSwap V2",
        chain="base",
        factory="0x02a84c1b3BBD7401a5f7fa98a384EBC70bB5749E",
        router="0x8cFe327CEc66d1C090Dd72bd0FF11d690C33a2Eb",
        init_code_hash=PANCAKESWAP_V2_INIT_CODE_HASH,
        fee_bps=25,
        source=PANCAKESWAP_V2_SOURCE,
    ),
    # QuickSwap V2 (Polygon): factory and router from https://github.com/QuickSwap/quickswap-core
    # README; the hash from QuickSwap-sdk src/constants.ts and QuickSwap-periphery
    # UniswapV2Library.pairFor (Uniswap's pair unchanged); fee 0.30 % (its getAmountOut: 997/1000).
    DexPreset(
        key="quickswap-v2",
        name="QuickSwap V2",
        chain="polygon",
        factory="0x5757371414417b8C6CAad45bAeF941aBc7d3Ab32",
        router="0xa5E0829CaCEd8fFDD4De3c43696c57F7D7A678ff",
        init_code_hash=UNISWAP_V2_INIT_CODE_HASH,
        fee_bps=30,
        source=QUICKSWAP_V2_SOURCE,
    ),
)

DEXES: dict[tuple[str, str], DexPreset] = {(d.key, d.chain): d for d in _DEX_LIST}


def _known_chains() -> str:
    return ", ".join(f"{c.key} ({c.chain_id})" for c in sorted(CHAINS.values(), key=lambda c: c.key))


def _find_chain(key_or_id: str | int) -> ChainPreset:
    if isinstance(key_or_id, str) and key_or_id.strip().lower() in CHAINS:
        return CHAINS[key_or_id.strip().lower()]
    wanted: int | None = None
    if isinstance(key_or_id, int) and not isinstance(key_or_id, bool):
        wanted = key_or_id
    elif isinstance(key_or_id, str) and key_or_id.strip().isdigit():
        wanted = int(key_or_id.strip())
    found = next((c for c in CHAINS.values() if wanted is not None and c.chain_id == wanted), None)
    if found is None:
        raise BadInput(f"unknown chain {key_or_id!r} (known: {_known_chains()})")
    return found


def chain(key_or_id: str | int) -> ChainPreset:
    """A chain preset by key (`base`, any case) or by chain id (8453, or the string "8453").

    Raises:
        BadInput: no such chain (the message names the known ones).
    """
    return _find_chain(key_or_id)


def dexes_on(chain_key: str | int) -> list[DexPreset]:
    """The DEX presets on one chain (by key or id), by DEX key; empty for anvil.

    Raises:
        BadInput: no such chain.
    """
    key = _find_chain(chain_key).key
    return sorted((d for d in DEXES.values() if d.chain == key), key=lambda d: d.key)


def dex(key: str, chain: str) -> DexPreset:
    """A DEX preset by DEX key (`uniswap-v2`) and chain (key or id).

    Raises:
        BadInput: no such chain, or no such DEX on it (the message names the ones there are).
    """
    chain_key = _find_chain(chain).key
    found = DEXES.get((key.strip().lower(), chain_key))
    if found is None:
        here = ", ".join(d.key for d in dexes_on(chain_key)) or "none"
        raise BadInput(f"no DEX preset {key!r} on {chain_key} (known there: {here})")
    return found


def pair_address(factory: str, token_a: str, token_b: str, init_code_hash: str) -> str:
    """Where a V2 factory creates the pair of two tokens: CREATE2(factory, keccak(token0 ++
    token1), init_code_hash), token0 the lower address (UniswapV2Library.pairFor)."""
    token0, token1 = sorted((bytes.fromhex(token_a[2:]), bytes.fromhex(token_b[2:])))
    salt = keccak(token0 + token1)
    raw = keccak(b"\xff" + bytes.fromhex(factory[2:]) + salt + bytes.fromhex(init_code_hash[2:]))
    return str(to_checksum_address(raw[12:]))
