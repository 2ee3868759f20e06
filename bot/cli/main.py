"""The `ammkeeper` command line: the parser, logging, and exit codes by kind of error.

Each command is one module of `bot.cli` (`add_parser`, `command`). Errors are one line on stderr
with no traceback, every URL's secrets masked, and the exit code says what kind they are:
2 bad input (fix the command or the book), 75 transient (an RPC failure, a pending transaction:
try again; systemd restarts the keeper on it), 1 a mismatch or a refusal, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from bot.chain import endpoints
from bot.cli import (
    backtest,
    dashboard,
    demo,
    dry_run,
    init,
    journal,
    keystore,
    options,
    plan,
    rebalance,
    run,
    status,
    switches,
    tax,
    vault,
    world,
)
from bot.core.errors import BadInput, BookReadError, KeeperError, Pending, Transient
from bot.ops import logs

EXIT_MISMATCH = 1
EXIT_BAD_INPUT = 2
EXIT_TRANSIENT = 75  # EX_TEMPFAIL: try again later
EXIT_INTERRUPTED = 130

COMMANDS = (
    status, world, init, plan, dry_run, rebalance, journal, run, switches, demo, backtest, tax, dashboard,
    keystore, vault,
)  # fmt: skip


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: every `finally` runs (forks stopped, the journal's run record closed).

    Raised as SIGINT, so that inside `asyncio.run` its handler cancels the main task cleanly
    instead of an exception landing wherever the interpreter happens to be.
    """
    signal.raise_signal(signal.SIGINT)


def _quiet_interrupts(default: Callable[[Any], object]) -> Callable[[Any], object]:
    """An unraisable-exception hook that drops a Ctrl-C which landed in a finalizer (an old event
    loop's __del__ run by the collector): the interrupt itself is handled where it counts, and the
    user sees one line, not "Exception ignored in ..." with a traceback."""

    def hook(unraisable: Any) -> object:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            return None
        return default(unraisable)

    return hook


def one_line(exc: BaseException) -> str:
    """An error as one line (nodes answer multi-line texts), every URL's secrets masked."""
    return " | ".join(line.strip() for line in endpoints.scrub(str(exc)).splitlines() if line.strip())


def build_parser() -> argparse.ArgumentParser:
    common = options.common()
    parser = argparse.ArgumentParser(
        prog="ammkeeper", description="Rebalances liquidity in Uniswap V2 pools.", parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.add_parser(sub, common)
    return parser


def exit_code(exc: KeeperError) -> int:
    """The exit code of an error, by its kind."""
    if isinstance(exc, BadInput | BookReadError):
        return EXIT_BAD_INPUT
    if isinstance(exc, Transient):
        return EXIT_TRANSIENT
    return EXIT_MISMATCH


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ammkeeper` console script."""
    args = build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    # every command's log lines pass the scrubber (`run` sets its own format on top)
    logs.setup("text", logging.INFO if verbose else logging.WARNING)
    signal.signal(signal.SIGTERM, _interrupt)
    default_hook = sys.unraisablehook
    sys.unraisablehook = _quiet_interrupts(default_hook)
    try:
        code: int = args.func(args)
        return code
    except KeeperError as exc:
        code = exit_code(exc)
        kind = "" if isinstance(exc, Pending) else "error: "  # waiting is not an error
        print(f"ammkeeper: {kind}{one_line(exc)}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("ammkeeper: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        sys.unraisablehook = default_hook


if __name__ == "__main__":
    sys.exit(main())
