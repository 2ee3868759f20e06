"""What every script here does first (not a script itself: ape skips names starting with `_`).

Run outside the project's venv, or before `make setup`, a script says so in one line and exits 2
instead of a traceback; ape's foundry provider finds the anvil that npm installed, not only one
on PATH.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NPM_ANVIL_DIR = REPO / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin"


def prepare(script: str, needs: tuple[str, ...] = ("web3", "eth_account", "pydantic", "aiohttp")) -> None:
    """Put the repo on sys.path and npm's anvil on PATH; exit 2 in one line when a package is missing."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    if (NPM_ANVIL_DIR / "anvil").is_file():
        os.environ["PATH"] = f"{NPM_ANVIL_DIR}{os.pathsep}{os.environ.get('PATH', '')}"
    missing = [name for name in needs if importlib.util.find_spec(name) is None]
    if missing:
        print(
            f"{script}: error: {', '.join(missing)} not installed for {sys.executable}: run `make setup`, "
            f"then `.venv/bin/python scripts/{script}.py …`",
            file=sys.stderr,
        )
        raise SystemExit(2)
