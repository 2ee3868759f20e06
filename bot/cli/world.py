"""`ammkeeper world`: build the local Uniswap V2 world (cached), and serve it until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    world = sub.add_parser(
        "world", parents=[common], help="build the local Uniswap V2 world (cached), optionally serve it"
    )
    world.add_argument("--rebuild", action="store_true", help="build again even if cached")
    world.add_argument("--serve", action="store_true", help="run a node with the world until Ctrl-C")
    world.set_defaults(func=command)


def wait_for_ctrl_c() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a served world is meant to end
        stop.wait()


def command(args: argparse.Namespace) -> int:
    from anvil.world import ensure_world, start_world

    files = ensure_world(rebuild=args.rebuild)
    print(f"world state:  {files.state}")
    print(f"address book: {files.book}")
    if not args.serve:
        return 0
    node, _ = start_world(files=files)
    try:
        print(f"serving the world at {node.url} (Ctrl-C stops it)", flush=True)
        wait_for_ctrl_c()
    finally:
        node.stop()
    return 0
