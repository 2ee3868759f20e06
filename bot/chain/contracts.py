"""This repo's Vyper contracts (contracts/): shipped compiled, or compiled on demand for tests.

The contracts the keeper and the local world deploy or call (`SHIPPED`) ship inside the package as
JSON (bot/chain/compiled/: ABI, initcode, runtime code and the hash of the source they came from).
Reading them needs no compiler and writes nothing, so a keeper runs from a read-only install
(systemd's ProtectSystem=strict) and an upgrade that changes a contract changes the JSON with it.
`make contracts` (`python -m bot.chain.contracts`) regenerates them with the pinned vyper, and
tests/unit/test_compiled_contracts.py recompiles them and requires the same bytes.

The test-only contracts (contracts/testing/) compile on first use with vyper (the `ape` extra),
cached by source hash in .cache/contracts (ignored).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.errors import KeeperError

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = REPO_ROOT / "contracts"
COMPILED_DIR = Path(__file__).resolve().with_name("compiled")
# the contracts shipped compiled: every contracts/*.vy outside contracts/testing/
SHIPPED = ("BookLens", "Executor", "TestToken")
REGENERATE = "make contracts"


def cache_root() -> Path:
    """Where generated files live: $AMMKEEPER_CACHE, else .cache in the repo."""
    return Path(os.environ.get("AMMKEEPER_CACHE", REPO_ROOT / ".cache"))


@dataclass(frozen=True, slots=True)
class Compiled:
    """A compiled contract: ABI, initcode and runtime code."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    runtime: bytes


def source_path(name: str) -> Path:
    """`contracts/<name>.vy`: the source of contract `name` (e.g. "Executor", "testing/HostilePair")."""
    return CONTRACTS_DIR / f"{name}.vy"


def shipped_path(name: str) -> Path:
    """The shipped JSON of contract `name` (exists for the names in `SHIPPED`)."""
    return COMPILED_DIR / f"{name}.json"


def source_sha256(source: bytes) -> str:
    """The hash a shipped JSON records of the source it was compiled from."""
    return hashlib.sha256(source).hexdigest()


@functools.cache
def compiled(name: str) -> Compiled:
    """Contract `name`: the shipped JSON if it has one, else `contracts/<name>.vy` compiled, cached.

    Raises:
        KeeperError: a shipped contract's JSON is missing or older than its source (in a checkout);
            a test contract's source is missing, does not compile, or vyper is not installed.
    """
    if name in SHIPPED:
        return _shipped(name)
    return _compiled_on_demand(name)


def _shipped(name: str) -> Compiled:
    path = shipped_path(name)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KeeperError(f"{path} cannot be read (package data of ammkeeper): {exc}") from exc
    source = source_path(name)
    # NOTE: only in a checkout (an installed wheel has no contracts/): stale bytes must not be deployed
    # as if they were the source in front of the developer.
    if source.is_file() and source_sha256(source.read_bytes()) != data["source_sha256"]:
        raise KeeperError(f"{source} changed since {path} was generated: run `{REGENERATE}`")
    return _from_outputs(name, data)


def _compiled_on_demand(name: str) -> Compiled:
    source = source_path(name)
    try:
        text = source.read_text()
    except OSError as exc:
        raise KeeperError(f"contract source {source} cannot be read: {exc}") from exc
    version = _vyper(source).__version__
    key = hashlib.sha256(f"{version}\n{text}".encode()).hexdigest()[:16]
    cache_file = cache_root() / "contracts" / f"{name.replace('/', '.')}-{key}.json"
    if cache_file.is_file():
        data = json.loads(cache_file.read_text())
    else:
        data = compile_source(name)
        _write_atomically(cache_file, json.dumps(data))
    return _from_outputs(name, data)


def _vyper(source: Path) -> Any:
    try:
        import vyper  # heavy, and not in the runtime install: only when a test contract is compiled
    except ImportError as exc:
        raise KeeperError(
            f"compiling {source} needs vyper (the `ape` extra): run `make setup`, "
            "or pip install -r requirements/ape.lock"
        ) from exc
    return vyper


def compile_source(name: str) -> dict[str, Any]:
    """Compile `contracts/<name>.vy` with the installed vyper: {"abi", "bytecode", "runtime"}.

    Raises:
        KeeperError: the source is missing, does not compile, or vyper is not installed.
    """
    source = source_path(name)
    try:
        text = source.read_text()
    except OSError as exc:
        raise KeeperError(f"contract source {source} cannot be read: {exc}") from exc
    vyper = _vyper(source)
    try:
        # a relative path: the output must not depend on where the checkout is
        out = vyper.compile_code(
            text, contract_path=f"contracts/{name}.vy", output_formats=["abi", "bytecode", "bytecode_runtime"]
        )
    except Exception as exc:  # vyper raises many unrelated types; name the contract, keep the cause
        raise KeeperError(f"{source} does not compile: {exc}") from exc
    return {"abi": out["abi"], "bytecode": out["bytecode"], "runtime": out["bytecode_runtime"]}


def shipped_record(name: str) -> str:
    """The text of `name`'s shipped JSON as the installed vyper makes it now (what `make contracts`
    writes): the outputs of `compile_source` and the source's path and hash, and the compiler."""
    source = source_path(name)
    outputs = compile_source(name)
    record = {
        "contract": name,
        "source": f"contracts/{name}.vy",
        "source_sha256": source_sha256(source.read_bytes()),
        "compiler": f"vyper {_vyper(source).__version__}",
        **outputs,
    }
    return json.dumps(record, indent=1) + "\n"


def regenerate(names: tuple[str, ...] = SHIPPED) -> list[str]:
    """Write the shipped JSON of `names` from their sources; returns the names whose file changed."""
    changed = []
    for name in names:
        text = shipped_record(name)
        path = shipped_path(name)
        if not path.is_file() or path.read_text() != text:
            _write_atomically(path, text)
            changed.append(name)
    return changed


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(text)
    partial.replace(path)


def _from_outputs(name: str, data: dict[str, Any]) -> Compiled:
    return Compiled(
        name=name,
        abi=data["abi"],
        bytecode=bytes.fromhex(data["bytecode"].removeprefix("0x")),
        runtime=bytes.fromhex(data["runtime"].removeprefix("0x")),
    )


def main() -> int:
    """`make contracts`: regenerate the shipped JSON from contracts/*.vy."""
    try:
        changed = regenerate()
    except KeeperError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name in SHIPPED:
        state = "written" if name in changed else "unchanged"
        print(f"{shipped_path(name).relative_to(REPO_ROOT)}: {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
