"""Anvil node processes: start on a free port against a real deadline, fork, stop gracefully.

The binary is the native one npm installs (`@foundry-rs/anvil-linux-amd64`). Its output
goes to a log file, not a pipe: anvil logs every request, and a pipe nobody drains
would eventually block it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from bot.core.errors import NodeError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
NPM_ANVIL = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
LISTENING = re.compile(r"Listening on (\d+\.\d+\.\d+\.\d+:\d+)")
# environment variables anvil has no business seeing (a keystore password, say)
SECRET_ENV = re.compile(r"PASSWORD|PASSPHRASE|SECRET|PRIVATE_KEY|MNEMONIC|API_KEY", re.IGNORECASE)


def anvil_binary() -> Path:
    """The anvil to run: $AMMKEEPER_ANVIL, else the npm one, else one on PATH."""
    configured = os.environ.get("AMMKEEPER_ANVIL")
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise NodeError(f"AMMKEEPER_ANVIL={configured} is not a file")
        return path
    if NPM_ANVIL.is_file():
        return NPM_ANVIL
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise NodeError(f"anvil not found at {NPM_ANVIL}: run `npm ci` (or `make setup`)")


def rpc_call(url: str, method: str, params: Sequence[Any] = (), timeout_s: float = 10.0) -> Any:
    """One blocking JSON-RPC call, for process management and set-up (not the keeper's path)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            answer = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise NodeError(f"{method} to {url} failed: {exc}") from exc
    if "error" in answer:
        raise NodeError(f"{method} to {url} returned an error: {answer['error']}")
    return answer["result"]


@dataclass
class AnvilNode:
    """A running anvil process. Use `AnvilNode.start(...)`, then `stop()` or a `with` block."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    args: tuple[str, ...] = field(repr=False)  # a forked URL may carry an API key
    _log_dir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @classmethod
    def start(
        cls,
        *,
        fork_url: str | None = None,
        fork_block: int | None = None,
        load_state: Path | None = None,
        dump_state: Path | None = None,
        chain_id: int | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout_s: float = 30.0,
        port: int = 0,
    ) -> AnvilNode:
        """Start anvil on a free port and wait until it answers `web3_clientVersion`.

        Args:
            fork_url: fork this RPC (a running node) instead of starting empty.
            fork_block: with `fork_url`, fork at this block instead of the head.
            load_state: start from a state written by `--dump-state`.
            dump_state: write the state here when the node stops.
            chain_id: chain id to use (anvil's default 31337, or the forked one).
            extra_args: more anvil flags.
            startup_timeout_s: deadline for the port line and the first answer.
            port: the port to listen on (0: a free one).

        Raises:
            NodeError: the binary is missing, exits early, or does not answer in time.
        """
        args: list[str] = [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(port)]
        if fork_url is not None:
            # no fork RPC cache (~/.foundry/cache/rpc/<chain>/<block>): local chains reuse block
            # numbers for different states (a revert, another world), and a cached slot would win
            args += ["--fork-url", fork_url, "--no-storage-caching"]
            if fork_block is not None:
                args += ["--fork-block-number", str(fork_block)]
        elif fork_block is not None:
            raise NodeError("fork_block needs fork_url")
        if load_state is not None:
            args += ["--load-state", str(load_state)]
        if dump_state is not None:
            args += ["--dump-state", str(dump_state)]
        if chain_id is not None:
            args += ["--chain-id", str(chain_id)]
        args += list(extra_args)

        log_dir = tempfile.TemporaryDirectory(prefix="ammkeeper-anvil-")
        log_path = Path(log_dir.name) / "anvil.log"
        with log_path.open("wb") as log_file:
            # own session: a Ctrl-C in the terminal reaches us, and we stop anvil in order
            process = subprocess.Popen(
                args,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={k: v for k, v in os.environ.items() if not SECRET_ENV.search(k)},
            )
        node = cls(url="", process=process, log_path=log_path, args=tuple(args), _log_dir=log_dir)
        try:
            node.url = node._wait_for_port(startup_timeout_s)
            node._wait_for_answer(startup_timeout_s)
        except BaseException:
            node.stop()
            raise
        log.info("anvil pid %s listening on %s", process.pid, node.url)
        return node

    def _wait_for_port(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            found = LISTENING.search(text)
            if found:
                return f"http://{found.group(1)}"
            if self.process.poll() is not None:
                raise NodeError(f"anvil exited with code {self.process.returncode}: {self.log_tail()}")
            time.sleep(0.02)
        raise NodeError(f"anvil printed no 'Listening on' line within {timeout_s:.0f} s: {self.log_tail()}")

    def _wait_for_answer(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                version = rpc_call(self.url, "web3_clientVersion", timeout_s=2.0)
            except NodeError as exc:
                if time.monotonic() >= deadline or self.process.poll() is not None:
                    raise NodeError(f"anvil at {self.url} does not answer: {exc}") from exc
                time.sleep(0.05)
                continue
            if not str(version).lower().startswith("anvil"):
                raise NodeError(f"{self.url} answered web3_clientVersion {version!r}, not anvil")
            return

    def rpc(self, method: str, *params: Any) -> Any:
        """A blocking JSON-RPC call to this node."""
        return rpc_call(self.url, method, params)

    def log_tail(self, lines: int = 8) -> str:
        """The last lines anvil printed, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:])

    @property
    def running(self) -> bool:
        """Whether the process is still alive."""
        return self.process.poll() is None

    def stop(self, grace_s: float = 5.0) -> int:
        """Stop gracefully: SIGINT (anvil dumps its state), then SIGTERM, then SIGKILL.

        Returns:
            The exit code (negative: the signal that ended it).
        """
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if self.process.poll() is not None:
                break
            try:
                self.process.send_signal(sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                log.warning("anvil pid %s ignored %s", self.process.pid, sig.name)
        code = self.process.wait()
        if self._log_dir is not None:
            self._log_dir.cleanup()
            self._log_dir = None
        return code

    def __enter__(self) -> AnvilNode:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
