"""This repo's Vyper contracts (contracts/), compiled on first use and cached by source hash.

Compiling here rather than committing bytecode keeps one source of truth; the cache
(.cache/contracts, ignored) makes every later use instant.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.errors import KeeperError

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = REPO_ROOT / "contracts"


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


@functools.cache
def compiled(name: str) -> Compiled:
    """Compile `contracts/<name>.vy` (e.g. "BookLens", "testing/NoDecimalsToken"), cached.

    Raises:
        KeeperError: the source is missing or does not compile.
    """
    source_path = CONTRACTS_DIR / f"{name}.vy"
    try:
        source = source_path.read_text()
    except OSError as exc:
        raise KeeperError(f"contract source {source_path} cannot be read: {exc}") from exc
    import vyper  # heavy import, only when something is compiled

    key = hashlib.sha256(f"{vyper.__version__}\n{source}".encode()).hexdigest()[:16]
    cache_file = cache_root() / "contracts" / f"{name.replace('/', '.')}-{key}.json"
    if cache_file.is_file():
        data = json.loads(cache_file.read_text())
    else:
        try:
            out = vyper.compile_code(
                source, contract_path=str(source_path), output_formats=["abi", "bytecode", "bytecode_runtime"]
            )
        except Exception as exc:  # vyper raises many unrelated types; name the contract, keep the cause
            raise KeeperError(f"{source_path} does not compile: {exc}") from exc
        data = {"abi": out["abi"], "bytecode": out["bytecode"], "runtime": out["bytecode_runtime"]}
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        partial = cache_file.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(data))
        partial.replace(cache_file)
    return Compiled(
        name=name,
        abi=data["abi"],
        bytecode=bytes.fromhex(data["bytecode"].removeprefix("0x")),
        runtime=bytes.fromhex(data["runtime"].removeprefix("0x")),
    )
