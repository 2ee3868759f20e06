"""The keeper's runtime install: its venv's size, and the RSS of `ammkeeper run` from it at its first
head and after 1,000 heads.

The venv holds requirements/runtime.lock and the project alone (no ape, no vyper, no dev tools). It
is built once per lock and Python under .cache/runtime-venv/ (ignored); the project is reinstalled
into it on every run, from a copy of the checkout and not editable, so the keeper reads its
compiled contracts from the package data as an installed wheel would. Size: `du` of the venv.

The keeper runs as a process from that venv against the local world, as on a VPS: the world
keeper's keystore and password file, JSON logs, a metrics port, the world's book with a short poll
(`block_time_s`). Blocks are mined one at a time (`evm_mine`), each waited for on /metrics until the
keeper has processed it. RSS: VmRSS from /proc/PID/status. Last line: one JSON object.

    .venv/bin/python benchmarks/runtime.py [--heads N] [--venv PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anvil.node import AnvilNode
from anvil.world import WorldFiles, ensure_world, start_world
from bot.chain.contracts import cache_root

REPO_ROOT = Path(__file__).resolve().parents[1]
RUNTIME_LOCK = REPO_ROOT / "requirements" / "runtime.lock"
# the keeper's head poll (the world mines only when told to), and no rate limit: the book's default
# (25 requests/s, for hosted endpoints) would make every head of a fast poll wait for the bucket
KEEPER_SETTINGS = "block_time_s = 0.02\nrate_limit_per_s = 100000\n"
HEAD_DEADLINE_S = 60.0
PIP = ("-m", "pip", "install", "--quiet", "--disable-pip-version-check")


def runtime_venv() -> Path:
    """The venv of requirements/runtime.lock (built if missing), with the project freshly installed."""
    key = hashlib.sha256(RUNTIME_LOCK.read_bytes() + platform.python_version().encode()).hexdigest()[:16]
    root = cache_root() / "runtime-venv"
    venv = root / key
    done = venv / ".complete"
    if not done.is_file():
        shutil.rmtree(venv, ignore_errors=True)
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), *PIP, "-r", str(RUNTIME_LOCK)], check=True)
        done.touch()
        print(
            f"built {venv} from {RUNTIME_LOCK.relative_to(REPO_ROOT)} in {time.monotonic() - started:.0f} s"
        )
        for old in root.iterdir():  # venvs of older locks are only disk
            if old != venv:
                shutil.rmtree(old, ignore_errors=True)
    with tempfile.TemporaryDirectory() as scratch:
        # a copy: an in-tree build would leave build/ and egg-info in the checkout
        source = Path(scratch) / "ammkeeper"
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(REPO_ROOT / name, source)
        for package in ("bot", "strategies", "anvil"):
            shutil.copytree(
                REPO_ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
            )
        subprocess.run(
            [str(venv / "bin" / "python"), *PIP, "--no-deps", "--no-build-isolation", "--force-reinstall",
             str(source)],
            check=True,
        )  # fmt: skip
    return venv


def size_mb(path: Path) -> float:
    """Disk use of `path` as `du` counts it (blocks, hard links once)."""
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0]) / 1024


def packages(venv: Path) -> list[str]:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return sorted(p["name"] for p in json.loads(out))


def status_mb(pid: int, field: str) -> float:
    """A memory figure of process `pid` from /proc/PID/status (VmRSS, VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def fast_book(files: WorldFiles, directory: Path) -> Path:
    """The world's book with `KEEPER_SETTINGS`, in `directory` (its journal goes beside it)."""
    text = files.config.read_text()
    if "\n[keeper]\n" in text:
        text = text.replace("\n[keeper]\n", f"\n[keeper]\n{KEEPER_SETTINGS}", 1)
    else:
        text += f"\n[keeper]\n{KEEPER_SETTINGS}"
    path = directory / "book.toml"
    path.write_text(text)
    return path


class Keeper:
    """`ammkeeper run` as a process of the runtime venv, its logs in a file."""

    def __init__(self, venv: Path, book: Path, files: WorldFiles, url: str, directory: Path) -> None:
        self.log_path = directory / "keeper.log"
        self._log = self.log_path.open("w")
        command = [
            str(venv / "bin" / "ammkeeper"), "run", "--config", str(book), "--rpc", url,
            "--keystore", str(files.keeper_keystore), "--password-file", str(files.keeper_password),
            "--metrics", "127.0.0.1:0", "--log-format", "json",
        ]  # fmt: skip
        env = {"PATH": "/usr/bin:/bin", "HOME": str(directory), "LANG": "C.UTF-8"}
        self.process = subprocess.Popen(
            command, cwd=directory, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.metrics_url = self._wait_for_metrics_url()

    def _wait_for_metrics_url(self) -> str:
        deadline = time.monotonic() + HEAD_DEADLINE_S
        while time.monotonic() < deadline:
            self.check_alive()
            found = re.search(r"metrics on (http://[0-9.:]+)/metrics", self.log_path.read_text())
            if found:
                return found.group(1)
            time.sleep(0.05)
        raise RuntimeError(
            f"the keeper announced no metrics server in {HEAD_DEADLINE_S:.0f} s: {self.tail()}"
        )

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"the keeper exited with {self.process.returncode}: {self.tail()}")

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_path.read_text().splitlines()[-lines:])

    def metrics(self) -> dict[str, float]:
        """/metrics as {"name{labels}": value}."""
        with urllib.request.urlopen(f"{self.metrics_url}/metrics", timeout=10) as response:
            text = response.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def wait_for_head(self, number: int) -> dict[str, float]:
        """Until the keeper has processed head `number` (or a later one); its metrics then."""
        deadline = time.monotonic() + HEAD_DEADLINE_S
        while time.monotonic() < deadline:
            self.check_alive()
            metrics = self.metrics()
            if metrics.get("ammkeeper_head", -1) >= number:
                return metrics
            time.sleep(0.005)
        raise RuntimeError(
            f"the keeper did not process head {number} in {HEAD_DEADLINE_S:.0f} s: {self.tail()}"
        )

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def heads_processed(metrics: dict[str, float]) -> dict[str, int]:
    """ammkeeper_heads_total by action."""
    out = {}
    for name, value in metrics.items():
        found = re.fullmatch(r'ammkeeper_heads_total\{action="([^"]+)"\}', name)
        if found:
            out[found.group(1)] = int(value)
    return out


def measure(venv: Path, heads: int) -> tuple[float, float, float]:
    """RSS at the first head, after `heads` more, and the peak, in MB."""
    files = ensure_world()
    node: AnvilNode
    node, _ = start_world(files=files)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            directory = Path(scratch)
            started = time.monotonic()
            keeper = Keeper(venv, fast_book(files, directory), files, node.url, directory)
            try:
                metrics = keeper.wait_for_head(int(node.rpc("eth_blockNumber"), 16))
                rss_start = status_mb(keeper.process.pid, "VmRSS")
                first = sum(heads_processed(metrics).values())
                print(
                    f"first head processed {time.monotonic() - started:.1f} s after start: {rss_start:.1f} MB"
                )
                started = time.monotonic()
                while sum(heads_processed(metrics).values()) - first < heads:
                    node.rpc("evm_mine")
                    metrics = keeper.wait_for_head(int(node.rpc("eth_blockNumber"), 16))
                rss_end = status_mb(keeper.process.pid, "VmRSS")
                peak = status_mb(keeper.process.pid, "VmHWM")
                actions = heads_processed(metrics)
                elapsed = time.monotonic() - started
                print(f"{sum(actions.values()) - first} more heads in {elapsed:.0f} s; by action: {actions}")
            finally:
                code = keeper.stop()
            if code != 0:
                raise RuntimeError(f"the keeper exited with {code} on SIGTERM: {keeper.tail()}")
    finally:
        node.stop()
    return rss_start, rss_end, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", type=int, default=1000)
    parser.add_argument(
        "--venv",
        type=Path,
        default=None,
        help="run the keeper from this venv instead (e.g. .venv, to compare)",
    )
    args = parser.parse_args()
    venv = args.venv.resolve() if args.venv else runtime_venv()
    venv_mb = size_mb(venv)
    installed = packages(venv)
    print(f"venv {venv}: {venv_mb:.1f} MB, {len(installed)} packages")
    extras = sorted(set(installed) & {"vyper", "eth-ape", "pytest", "hypothesis", "mypy", "ruff", "pandas"})
    print(f"from the extras: {', '.join(extras) or 'none'}")
    rss_start, rss_end, peak = measure(venv, args.heads)
    after = f"{rss_end:.1f} MB after {args.heads} heads (peak {peak:.1f} MB)"
    print(f"rss: {rss_start:.1f} MB at the first head, {after}")
    result = {
        "bench": "runtime",
        "venv_mb": round(venv_mb, 1),
        "rss_start_mb": round(rss_start, 1),
        "rss_1000_mb": round(rss_end, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
