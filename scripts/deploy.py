"""Deploy and configure an executor vault. Thin: the work is in bot/chain/vault_admin.py.

    python scripts/deploy.py --rpc URL --owner ADDRESS --keeper ADDRESS \\
        --pair PAIR[:FEE_BPS[:fot0][:fot1]] [--pair ...]

sends from `--owner` through the node (an unlocked account: anvil, a dev node). With ape:

    AMMKEEPER_KEEPER=0x... AMMKEEPER_PAIRS=0xPAIR:30,0xPAIR2:25:fot1 \\
        ape run deploy --network <network>

signs with ape's first test account on a local network, or with the ape account named by
AMMKEEPER_OWNER_ALIAS elsewhere. Prints the vault address and its configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _prelude import prepare

prepare("deploy")

from bot.chain.vault_admin import PairListing  # noqa: E402
from bot.core.address_book import checksum  # noqa: E402
from bot.core.errors import BadInput, KeeperError  # noqa: E402


def parse_listing(text: str) -> PairListing:
    """PAIR[:FEE_BPS][:fot0][:fot1] -> PairListing."""
    address, *rest = text.split(":")
    fee_bps = 30
    flags = set()
    for part in rest:
        if part.isdigit():
            fee_bps = int(part)
        elif part in ("fot0", "fot1"):
            flags.add(part)
        else:
            raise BadInput(f"pair {text!r}: {part!r} is neither a fee in bps nor fot0/fot1")
    return PairListing(checksum(address), fee_bps, "fot0" in flags, "fot1" in flags)


def describe(vault: object, listings: list[PairListing]) -> str:
    lines = [f"vault {vault.address}", f"  owner  {vault.functions.owner().call()}"]  # type: ignore[attr-defined]
    lines.append(f"  keeper {vault.functions.keeper().call()}")  # type: ignore[attr-defined]
    for listing in listings:
        token0, token1, fee, flags = vault.functions.pair_config(listing.pair).call()  # type: ignore[attr-defined]
        lines.append(f"  pair   {listing.pair} {token0}/{token1} fee {fee} bps flags {flags}")
    return "\n".join(lines)


def command_line(argv: list[str] | None = None) -> int:
    from web3 import Web3

    from bot.chain.endpoints import check_url, endpoint_label
    from bot.chain.vault_admin import deploy_vault

    parser = argparse.ArgumentParser(description="Deploy and configure an ammkeeper executor vault.")
    parser.add_argument("--rpc", required=True, help="node URL; --owner must be unlocked there")
    parser.add_argument("--owner", required=True, help="owner address (cold key)")
    parser.add_argument("--keeper", required=True, help="keeper address (hot key)")
    parser.add_argument(
        "--pair", action="append", default=[], help="PAIR[:FEE_BPS][:fot0][:fot1], repeatable"
    )
    args = parser.parse_args(argv)
    try:
        listings = [parse_listing(p) for p in args.pair]
        w3 = Web3(Web3.HTTPProvider(check_url(args.rpc), request_kwargs={"timeout": 60}))
        if not w3.is_connected():
            raise BadInput(f"no node answers at {endpoint_label(args.rpc)}")
        vault = deploy_vault(w3, checksum(args.owner), checksum(args.keeper), listings)
    except BadInput as exc:
        print(f"deploy: error: {exc}", file=sys.stderr)
        return 2
    except KeeperError as exc:
        print(f"deploy: error: {exc}", file=sys.stderr)
        return 1
    print(describe(vault, listings))
    return 0


def main() -> None:
    """`ape run deploy`: deploy with ape's accounts on the network ape is connected to."""
    from ape import accounts, networks, project

    keeper = checksum(os.environ["AMMKEEPER_KEEPER"])
    listings = [parse_listing(p) for p in os.environ.get("AMMKEEPER_PAIRS", "").split(",") if p]
    alias = os.environ.get("AMMKEEPER_OWNER_ALIAS")
    owner = accounts.load(alias) if alias else accounts.test_accounts[0]
    vault = project.Executor.deploy(keeper, sender=owner)
    for listing in listings:
        vault.allow_pair(listing.pair, listing.fee_bps, listing.fot0, listing.fot1, sender=owner)
    from bot.chain.vault_admin import vault_contract

    print(describe(vault_contract(networks.provider.web3, vault.address), listings))


if __name__ == "__main__":
    sys.exit(command_line())
