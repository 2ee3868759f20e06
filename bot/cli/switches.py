"""`ammkeeper pause` and `resume`: the kill switch, a flag file beside the book."""

from __future__ import annotations

import argparse

from bot.cli import options
from bot.core.book import Book
from bot.ops import kill_switch


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    pause = sub.add_parser(
        "pause", parents=[common], help="turn the kill switch on: a running keeper sends nothing"
    )
    options.add_book(pause)
    pause.add_argument("--reason", default="paused by hand", help="why (shown in logs and /healthz)")
    pause.set_defaults(func=pause_command)
    resume = sub.add_parser(
        "resume", parents=[common], help="turn the kill switch off (and reset a tripped circuit breaker)"
    )
    options.add_book(resume)
    resume.set_defaults(func=resume_command)


def pause_command(args: argparse.Namespace) -> int:
    path = kill_switch.pause_path(args.config, Book.load(args.config))
    kill_switch.pause(path, args.reason)
    print(f"paused: {path} (a running keeper sends nothing until `ammkeeper resume --config {args.config}`)")
    return 0


def resume_command(args: argparse.Namespace) -> int:
    path = kill_switch.pause_path(args.config, Book.load(args.config))
    if kill_switch.resume(path):
        print(f"resumed: {path} removed")
    else:
        print(f"not paused ({path} does not exist)")
    return 0
