"""The command line without a chain: exit codes by kind, one-line errors, options anywhere, secrets."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest

from bot.chain import endpoints
from bot.cli.main import EXIT_BAD_INPUT, EXIT_MISMATCH, EXIT_TRANSIENT, build_parser, exit_code, main
from bot.core.errors import BadInput, BookReadError, KeeperError, NotAPair, Pending, RpcError, Transient
from bot.ops import metrics
from tests.unit.test_book import TOML_BOOK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def book(tmp_path: Path) -> Path:
    path = tmp_path / "book.toml"
    # a book whose RPC is a closed port on loopback: nothing answers there
    path.write_text(TOML_BOOK.replace("http://127.0.0.1:8545", f"http://127.0.0.1:{free_port()}"))
    return path


def test_exit_codes_follow_the_kind_of_error() -> None:
    assert exit_code(BadInput("x")) == EXIT_BAD_INPUT == 2
    assert exit_code(NotAPair("0x1", "no code")) == exit_code(BookReadError("0x1", "x")) == 2
    assert exit_code(RpcError("x")) == exit_code(Pending("x")) == exit_code(Transient("x")) == EXIT_TRANSIENT
    assert EXIT_TRANSIENT == 75
    assert exit_code(KeeperError("x")) == EXIT_MISMATCH == 1


def test_an_unreachable_rpc_is_transient_so_systemd_restarts_the_keeper(
    book: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Four failed eth_chainId at start used to exit 2, which the unit never restarts on."""
    assert main(["plan", "--config", str(book)]) == EXIT_TRANSIENT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ammkeeper: error: eth_chainId failed")
    assert "Traceback" not in err


def test_every_command_takes_rpc_repeatedly_and_the_book_list_otherwise(book: Path) -> None:
    parser = build_parser()
    for command in ("plan", "status", "rebalance", "dry-run"):
        args = parser.parse_args(
            [command, "--config", str(book), "--rpc", "http://a:1", "--rpc", "http://b:2"]
        )
        assert args.rpc == ["http://a:1", "http://b:2"]
    assert endpoints.resolve(None, ["http://a:1", "ws://a:2"]).calls == ["http://a:1"]


def test_dry_run_without_fork_url_forks_the_books_rpc(book: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It used to fail with "'Namespace' object has no attribute 'rpc'" (the pre-flight in docs/vps.md)."""
    code = main(["dry-run", "--config", str(book)])
    err = capsys.readouterr().err
    assert code == EXIT_TRANSIENT and "Namespace" not in err and "127.0.0.1" in err


def test_verbose_goes_before_or_after_the_command(book: Path) -> None:
    parser = build_parser()
    assert parser.parse_args(["-v", "plan", "--config", str(book)]).verbose is True
    assert parser.parse_args(["plan", "--config", str(book), "-v"]).verbose is True
    assert getattr(parser.parse_args(["plan", "--config", str(book)]), "verbose", False) is False


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--blocks", "-1"],
        ["demo", "--blocks", "0"],
        ["run", "--config", "b.toml", "--metrics", "nowhere"],
        ["run", "--config", "b.toml", "--metrics", "127.0.0.1:99999"],
        ["run", "--config", "b.toml", "--max-heads", "-3"],
        ["journal", "--limit", "-1"],
        ["rebalance", "--config", "b.toml", "--override", "everything"],
    ],
)
def test_bad_arguments_exit_2_before_anything_runs(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" in err.splitlines()[-1]


def test_a_metrics_address_that_cannot_be_served_is_one_kind_of_error_each() -> None:
    async def serve(address: str) -> None:
        runner = await metrics.serve(metrics.Registry(), metrics.Health(stale_after_s=60), address)
        await runner.cleanup()

    with pytest.raises(BadInput, match="does not resolve"):
        asyncio.run(serve("no-such-host.invalid:9464"))
    with pytest.raises(BadInput, match="cannot listen there"):
        asyncio.run(serve("192.0.2.1:9464"))  # TEST-NET: not an address of this machine
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(Transient, match="in use"):
            asyncio.run(serve(f"127.0.0.1:{port}"))


def test_a_key_quoted_alone_by_a_node_is_scrubbed_wherever_it_appears() -> None:
    endpoints.register("https://mainnet.example.io/v3/K1234567890abcdef")
    endpoints.register("https://api.example.org/rpc?apikey=Q9876543210zyxw&chain=1")
    assert "K1234567890abcdef" not in endpoints.scrub("invalid project id K1234567890abcdef")
    assert "Q9876543210zyxw" not in endpoints.scrub("api key Q9876543210zyxw is over its limit")
    # what is not secret stays readable
    assert endpoints.scrub("eth_call to https://mainnet.example.io failed") == (
        "eth_call to https://mainnet.example.io failed"
    )


def test_every_commands_logs_pass_the_scrubber(book: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Only `run` used to install the scrubbing log format: a node's error quoting a key, logged by
    any other command, went out as it was."""
    secret = "SECRETKEY0123456789"
    url = f"http://127.0.0.1:{free_port()}/v3/{secret}"
    assert main(["-v", "plan", "--config", str(book), "--rpc", url]) == EXIT_TRANSIENT
    logging.getLogger("bot.chain.rpc_pool").warning("the node said: invalid project id %s", secret)
    captured = capsys.readouterr()
    assert "the node said: invalid project id ***" in captured.err
    assert secret not in captured.err + captured.out


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:99999/v3/KEY0123456789", "Port out of range"),
        ("http://[::1/v3/KEY0123456789", "Invalid IPv6 URL"),
        ("ftp://127.0.0.1/v3/KEY0123456789", "is not an http(s) URL"),
    ],
)
def test_a_malformed_rpc_url_is_bad_input_that_never_shows_the_key(
    book: Path, capsys: pytest.CaptureFixture[str], url: str, problem: str
) -> None:
    assert main(["plan", "--config", str(book), "--rpc", url]) == EXIT_BAD_INPUT
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert problem in line and "KEY0123456789" not in line
