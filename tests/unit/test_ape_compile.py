"""`ape compile` (ape-vyper) builds every contract of contracts/ offline, with the pinned vyper."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bot.chain.contracts import CONTRACTS_DIR, REPO_ROOT


def test_ape_compile_builds_every_contract(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO_ROOT / "ape-config.yaml", project)
    shutil.copytree(CONTRACTS_DIR, project / "contracts")
    vvm = tmp_path / "vvm"
    vvm.mkdir()
    bin_dir = Path(sys.executable).parent
    (vvm / "vyper-0.4.3").symlink_to(bin_dir / "vyper")
    env = {**os.environ, "VVM_BINARY_PATH": str(vvm), "HOME": str(tmp_path)}
    done = subprocess.run(
        [str(bin_dir / "ape"), "compile"], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads((project / ".build" / "__local__.json").read_text())
    expected = {path.stem for path in CONTRACTS_DIR.rglob("*.vy")}
    assert set(manifest["contractTypes"]) == expected
