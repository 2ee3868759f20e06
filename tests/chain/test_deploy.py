"""scripts/deploy.py, as a plain script and as `ape run deploy`, against the world."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.chain.contracts import REPO_ROOT
from bot.chain.vault_admin import vault_contract
from tests.chain.conftest import World

BIN = Path(sys.executable).parent


def test_the_script_deploys_and_allowlists(world: World, roles: dict[str, str]) -> None:
    usdc_pair, fot_pair = world.book.pairs["WETH/USDC"].address, world.book.pairs["FOT/WETH"]
    fot_flag = "fot1" if fot_pair.token1 == "FOT" else "fot0"
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "deploy.py"), "--rpc", world.node.url,
         "--owner", roles["owner"], "--keeper", roles["keeper"],
         "--pair", f"{usdc_pair}:25", "--pair", f"{fot_pair.address}:30:{fot_flag}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    address = done.stdout.split()[1]
    vault = vault_contract(world.w3, address)
    assert vault.functions.owner().call() == roles["owner"]
    assert vault.functions.keeper().call() == roles["keeper"]
    assert vault.functions.pair_config(usdc_pair).call()[2:] == [25, 1]
    assert vault.functions.pair_config(fot_pair.address).call()[3] == 1 | (4 if fot_flag == "fot1" else 2)


def test_a_bad_pair_spec_is_one_line_and_exit_2(world: World, roles: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "deploy.py"), "--rpc", world.node.url,
         "--owner", roles["owner"], "--keeper", roles["keeper"], "--pair", "0x12:30"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == "deploy: error: '0x12' is not an address"


def test_ape_run_deploy(world: World, roles: dict[str, str], tmp_path: Path) -> None:
    pair = world.book.pairs["WETH/USDC"].address
    vvm = tmp_path / "vvm"
    vvm.mkdir()
    (vvm / "vyper-0.4.3").symlink_to(BIN / "vyper")
    env = {**os.environ, "VVM_BINARY_PATH": str(vvm)}
    # ape's own --network and --account (a test account: no passphrase to type)
    done = subprocess.run(
        [str(BIN / "ape"), "run", "deploy", "--network", world.node.url, "--account", "TEST::0",
         "--keeper", roles["keeper"], "--pair", f"{pair}:25"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    address = next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("vault "))
    vault = vault_contract(world.w3, address)
    assert vault.functions.keeper().call() == roles["keeper"]
    assert vault.functions.pair_config(pair).call()[2] == 25


def test_ape_run_deploy_on_its_own_local_network_finds_npms_anvil(
    roles: dict[str, str], tmp_path: Path
) -> None:
    """ape's foundry provider looks for anvil on PATH only; npm's is not there: the script adds it."""
    vvm = tmp_path / "vvm"
    vvm.mkdir()
    (vvm / "vyper-0.4.3").symlink_to(BIN / "vyper")
    path = os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "anvil").exists()
    )
    env = {**os.environ, "PATH": path, "VVM_BINARY_PATH": str(vvm)}
    done = subprocess.run(
        [str(BIN / "ape"), "run", "deploy", "--account", "TEST::0", "--keeper", roles["keeper"]],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"keeper {roles['keeper']}" in done.stdout and "Traceback" not in done.stderr


def test_a_script_outside_the_venv_says_so_in_one_line(tmp_path: Path) -> None:
    bare = subprocess.run(
        [sys.base_prefix + "/bin/python3", "-I", str(REPO_ROOT / "scripts" / "rebalance.py"), "--help"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bare.returncode == 2
    (line,) = bare.stderr.strip().splitlines()
    assert line.startswith("rebalance: error: ") and "make setup" in line
