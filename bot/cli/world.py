"""`ammkeeper world`: build the local Uniswap V2 world (cached), and serve it until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

from bot.core.errors import BadInput


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    world = sub.add_parser(
        "world", parents=[common], help="build the local Uniswap V2 world (cached), optionally serve it"
    )
    world.add_argument("--rebuild", action="store_true", help="build again even if cached")
    world.add_argument("--serve", action="store_true", help="run a node with the world until Ctrl-C")
    world.add_argument("--port", type=int, default=0, help="with --serve: the port (default: a free one)")
    world.add_argument(
        "--block-time",
        type=float,
        help="with --serve: mine a block every this many seconds (default: per transaction)",
    )
    verbs = world.add_subparsers(dest="verb")
    move = verbs.add_parser(
        "move", parents=[common], help="move a token's price on a served world (whale swaps)"
    )
    move.add_argument("symbol", help="the token (WETH, WBTC, LINK, …)")
    move.add_argument("percent", type=float, help="how far: -20 takes a fifth off its price, 10 adds a tenth")
    move.add_argument("--rpc", required=True, help="the served world's URL")
    world.set_defaults(func=command, verb=None)


def wait_for_ctrl_c() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a served world is meant to end
        stop.wait()


def command(args: argparse.Namespace) -> int:
    from anvil.world import ensure_world, start_world

    if args.verb == "move":
        return move(args)
    if args.port and not 0 < args.port < 65_536:
        raise BadInput(f"--port {args.port}: a port from 1 to 65535")
    if args.block_time is not None and not args.block_time > 0:
        raise BadInput(f"--block-time {args.block_time:g}: a positive number of seconds")
    files = ensure_world(rebuild=args.rebuild)
    print(f"world state:  {files.state}")
    print(f"address book: {files.book}")
    print(f"book:         {files.config}")
    print(f"keeper key:   {files.keeper_keystore} (password in {files.keeper_password})")
    if not args.serve:
        return 0
    extra = ["--block-time", f"{args.block_time:g}"] if args.block_time else []
    node, _ = start_world(files=files, extra_args=extra, port=args.port)
    try:
        print(f"serving the world at {node.url} (Ctrl-C stops it)", flush=True)
        wait_for_ctrl_c()
    finally:
        node.stop()
    return 0


def move(args: argparse.Namespace) -> int:
    import requests

    from anvil.price_move import move_price
    from anvil.world import ensure_world
    from bot.chain.endpoints import check_url, endpoint_label
    from bot.core.address_book import AddressBook
    from bot.core.errors import RpcError

    book = AddressBook.load(ensure_world().book)
    url = check_url(args.rpc)
    try:
        moves = move_price(url, book, args.symbol, args.percent)
    except (OSError, requests.RequestException) as exc:  # the node is not there (or not the world)
        raise RpcError(f"{endpoint_label(url)} did not answer: {type(exc).__name__}") from None
    for moved in moves:
        change = moved.after / moved.before - 1
        prices = f"{moved.before:,.6g} -> {moved.after:,.6g} {moved.quote}"
        print(f"{moved.pair}: {args.symbol} {prices} ({change:+.2%})")
    return 0
