"""Manual rebalance. Thin: the work is in bot/cli/rebalance.py (the same as `ammkeeper rebalance`).

    python scripts/rebalance.py --config book.toml --keystore keeper.json \\
        [--password-file FILE | $AMMKEEPER_KEYSTORE_PASSWORD] [--rpc URL] [--yes] [--dry-run]

or through ape, with ape's own --network and --account (a keyfile account; its passphrase as the
keystore's password) and the same other options:

    ape run rebalance --network ethereum:mainnet:node --account keeper --config book.toml --yes

Exit codes: 0 executed as predicted (or nothing to do), 1 failed / declined / differs,
2 bad input (nothing sent), 75 a transaction of the book is still pending.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _prelude import prepare

prepare("rebalance", needs=("web3", "eth_account", "pydantic", "aiohttp", "click"))

import click  # noqa: E402


def run(argv: list[str]) -> int:
    from bot.cli.main import main

    return main(["rebalance", *argv])


def _ape_cli() -> object:
    """`ape run rebalance --network … --account … [ammkeeper rebalance's options]`: the node of ape's
    network and the keyfile of ape's account (a test account's key on a local network); every
    other option goes to the same parser as `ammkeeper rebalance`."""
    import os

    from ape.cli import ConnectedProviderCommand, account_option

    @click.command(
        cls=ConnectedProviderCommand,
        name="rebalance",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    @account_option()
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def cli(provider: object, account: object, args: tuple[str, ...]) -> None:
        """Manual rebalance of an ammkeeper book (see `ammkeeper rebalance --help`)."""
        uri = getattr(provider, "http_uri", None)
        if not uri:
            raise click.UsageError("ape's network has no HTTP URI for ammkeeper to use")
        keyfile = getattr(account, "keyfile_path", None)
        if keyfile is not None:
            key = ["--keystore", str(keyfile)]
        elif getattr(account, "private_key", None):  # a test account: a local network only
            os.environ["AMMKEEPER_DEV_KEY"] = str(account.private_key)  # type: ignore[attr-defined]
            key = ["--dev"]
        else:
            raise click.UsageError(
                f"{account} has no keyfile (a hardware wallet): ammkeeper signs with keys it holds"
            )
        sys.exit(run([*args, "--rpc", str(uri), *key]))

    return cli


if importlib.util.find_spec("ape") is not None:  # the `ape` extra: `ape run rebalance` finds `cli`
    cli = _ape_cli()


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
