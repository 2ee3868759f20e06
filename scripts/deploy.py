"""Deploy and configure an executor vault. Thin: the work is in bot/chain/vault_admin.py.

    python scripts/deploy.py --rpc URL --owner ADDRESS --keeper ADDRESS \\
        --pair PAIR[:FEE_BPS[:fot0][:fot1]] [--pair ...]

sends from `--owner` through the node (an unlocked account: anvil, a dev node). With ape, the way
ape users expect (its own --network and --account; a keyfile account asks its passphrase, a
hardware-wallet plugin's account signs on the device):

    ape run deploy --network ethereum:mainnet:node --account cold --keeper 0x... --pair 0xPAIR:30

`ammkeeper vault deploy` does the same from a keystore, or writes Safe calls. Prints the vault
address and its configuration.
"""

from __future__ import annotations

import argparse
import importlib.util
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


def _ape_cli() -> object:
    """`ape run deploy`: ape's --network (connected for the command) and --account."""
    import click
    from ape.cli import ConnectedProviderCommand, account_option

    @click.command(cls=ConnectedProviderCommand, name="deploy")
    @account_option()
    @click.option("--keeper", required=True, help="the keeper's address (hot key)")
    @click.option("--pair", "pairs", multiple=True, help="PAIR[:FEE_BPS][:fot0][:fot1], repeatable")
    def cli(account: object, keeper: str, pairs: tuple[str, ...]) -> None:
        """Deploy an ammkeeper executor vault owned by --account."""
        from ape import project

        from bot.chain.vault_admin import vault_contract

        try:
            listings = [parse_listing(p) for p in pairs]
            keeper_address = checksum(keeper)
        except BadInput as exc:
            raise click.BadParameter(str(exc)) from None
        vault = project.Executor.deploy(keeper_address, sender=account)
        for listing in listings:
            vault.allow_pair(listing.pair, listing.fee_bps, listing.fot0, listing.fot1, sender=account)
        from ape import networks

        click.echo(describe(vault_contract(networks.provider.web3, vault.address), listings))

    return cli


if importlib.util.find_spec("ape") is not None:  # the `ape` extra: `ape run deploy` finds `cli`
    cli = _ape_cli()


if __name__ == "__main__":
    sys.exit(command_line())
