"""The chain and DEX presets: well-formed data, and lookups that name the choices when they miss."""

from __future__ import annotations

import re

import pytest

from anvil.artifacts import PAIR_INIT_CODE_HASH, pair_init_code_hash
from bot.core.address_book import checksum
from bot.core.errors import BadInput
from bot.core.presets import (
    CHAINS,
    DEXES,
    UNISWAP_V2_INIT_CODE_HASH,
    ChainPreset,
    DexPreset,
    chain,
    dex,
    dexes_on,
)

BYTES32 = re.compile(r"0x[0-9a-f]{64}")


def every_address() -> list[str]:
    wrapped = [c.wrapped_native_address for c in CHAINS.values() if c.wrapped_native_address is not None]
    return wrapped + [a for d in DEXES.values() for a in (d.factory, d.router)]


@pytest.mark.parametrize("address", every_address())
def test_every_address_is_stored_checksummed(address: str) -> None:
    assert checksum(address) == address


@pytest.mark.parametrize("preset", list(DEXES.values()), ids=lambda d: f"{d.key}@{d.chain}")
def test_every_dex_preset_is_well_formed(preset: DexPreset) -> None:
    assert BYTES32.fullmatch(preset.init_code_hash), preset.init_code_hash
    assert 0 < preset.fee_bps <= 100
    assert preset.chain in CHAINS
    assert preset.source.startswith("https://")
    assert preset.factory != preset.router
    assert DEXES[(preset.key, preset.chain)] is preset


@pytest.mark.parametrize("preset", list(CHAINS.values()), ids=lambda c: c.key)
def test_every_chain_preset_is_well_formed(preset: ChainPreset) -> None:
    assert CHAINS[preset.key] is preset
    assert preset.block_time_s > 0
    assert preset.confirmations >= 1
    assert preset.wrapped_native.startswith("W")


def test_chain_ids_and_keys_are_unique() -> None:
    ids = [c.chain_id for c in CHAINS.values()]
    assert len(ids) == len(set(ids))
    assert set(CHAINS) == {"ethereum", "base", "arbitrum", "optimism", "polygon", "bnb", "anvil"}


def test_the_local_world_has_a_preset_and_deploys_its_own_weth() -> None:
    anvil = CHAINS["anvil"]
    assert (anvil.chain_id, anvil.native, anvil.wrapped_native_address) == (31337, "ETH", None)
    assert anvil.confirmations == 1
    assert dexes_on("anvil") == []


def test_every_other_chain_has_its_wrapped_native_token() -> None:
    missing = [c.key for c in CHAINS.values() if c.key != "anvil" and c.wrapped_native_address is None]
    assert missing == []


def test_the_uniswap_v2_hash_is_the_one_of_the_npm_pair_bytecode() -> None:
    assert UNISWAP_V2_INIT_CODE_HASH == PAIR_INIT_CODE_HASH
    assert pair_init_code_hash() == UNISWAP_V2_INIT_CODE_HASH  # keccak of node_modules' UniswapV2Pair
    for preset in dexes_on("ethereum") + dexes_on("polygon"):
        if preset.key in ("uniswap-v2", "quickswap-v2"):
            assert preset.init_code_hash == PAIR_INIT_CODE_HASH


def test_uniswap_v2_is_on_every_public_chain() -> None:
    on = {c for (k, c) in DEXES if k == "uniswap-v2"}
    assert on == set(CHAINS) - {"anvil"}


def test_fees_follow_each_pair_contract() -> None:
    fees = {key: {d.fee_bps for d in DEXES.values() if d.key == key} for key, _ in DEXES}
    assert fees == {"uniswap-v2": {30}, "sushiswap-v2": {30}, "pancakeswap-v2": {25}, "quickswap-v2": {30}}


@pytest.mark.parametrize("key_or_id", ["base", "BASE", " base ", 8453, "8453"])
def test_a_chain_is_found_by_key_or_by_id(key_or_id: str | int) -> None:
    assert chain(key_or_id) is CHAINS["base"]


def test_every_chain_is_found_by_its_own_id() -> None:
    for preset in CHAINS.values():
        assert chain(preset.chain_id) is preset
        assert chain(preset.key) is preset


@pytest.mark.parametrize("unknown", ["solana", "", 5, "0x2105", True])
def test_an_unknown_chain_is_bad_input_naming_the_known_ones(unknown: str | int) -> None:
    with pytest.raises(BadInput) as raised:
        chain(unknown)
    message = str(raised.value)
    assert repr(unknown) in message
    assert "\n" not in message
    for preset in CHAINS.values():
        assert f"{preset.key} ({preset.chain_id})" in message


def test_a_dex_is_found_by_key_and_chain() -> None:
    found = dex("pancakeswap-v2", "bnb")
    assert found.factory == "0xcA143Ce32Fe78f1f7019d7d551a6402fC5350c73"
    assert found.init_code_hash == "0x00fb7f630766e6a796048ea87d01acd3068e8ff67d078148a3fa3f4a84f69bd5"
    assert dex("uniswap-v2", "1") is DEXES[("uniswap-v2", "ethereum")]
    assert dex("SushiSwap-V2", "Arbitrum") is DEXES[("sushiswap-v2", "arbitrum")]


def test_a_dex_missing_on_a_chain_is_bad_input_naming_the_ones_there() -> None:
    with pytest.raises(BadInput) as raised:
        dex("quickswap-v2", "base")
    message = str(raised.value)
    assert "'quickswap-v2'" in message and "base" in message
    for preset in dexes_on("base"):
        assert preset.key in message


def test_a_dex_on_an_unknown_chain_is_bad_input_naming_the_chains() -> None:
    with pytest.raises(BadInput, match=r"unknown chain 'mars' \(known: anvil \(31337\), arbitrum"):
        dex("uniswap-v2", "mars")


def test_a_dex_on_anvil_is_bad_input_saying_there_are_none() -> None:
    with pytest.raises(BadInput, match=r"known there: none"):
        dex("uniswap-v2", "anvil")


def test_dexes_on_lists_one_chain_sorted_by_key() -> None:
    keys = [d.key for d in dexes_on("polygon")]
    assert keys == ["quickswap-v2", "sushiswap-v2", "uniswap-v2"]
    assert all(d.chain == "polygon" for d in dexes_on(137))
    with pytest.raises(BadInput):
        dexes_on("mars")


def test_presets_are_frozen() -> None:
    preset = CHAINS["ethereum"]
    with pytest.raises(AttributeError):
        preset.confirmations = 0  # type: ignore[misc]
