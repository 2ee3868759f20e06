"""Manual rebalance. Thin: the work is in bot/cli/rebalance.py (the same as `ammkeeper rebalance`).

    python scripts/rebalance.py --config book.toml --keystore keeper.json \\
        [--password-file FILE | $AMMKEEPER_KEYSTORE_PASSWORD] [--rpc URL] [--yes] [--dry-run]

or through ape, with the same options (ape only launches it; the RPC is the book's):

    ape run rebalance --config book.toml --keystore ~/.ape/accounts/keeper.json --yes

Exit codes: 0 executed as predicted (or nothing to do), 1 failed / declined / differs,
2 bad input (nothing sent), 75 a transaction of the book is still pending.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _prelude import prepare

prepare("rebalance", needs=("web3", "eth_account", "pydantic", "aiohttp", "click"))

import click  # noqa: E402


def run(argv: list[str]) -> int:
    from bot.cli.main import main

    return main(["rebalance", *argv])


# `ape run rebalance ...`: every argument goes to the same parser as `ammkeeper rebalance`
@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def cli(args: tuple[str, ...]) -> None:
    """Manual rebalance of an ammkeeper book (see `ammkeeper rebalance --help`)."""
    sys.exit(run(list(args)))


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
