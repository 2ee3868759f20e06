"""The compiled contracts the package ships (bot/chain/compiled/) are what the pinned vyper makes of
contracts/*.vy, the package carries them, and the keeper runs on the runtime lock alone: reading them
needs no compiler and writes nothing, and the keeper's import path needs nothing from the extras."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import vyper

from bot.chain import contracts
from bot.chain.contracts import (
    COMPILED_DIR,
    CONTRACTS_DIR,
    REGENERATE,
    REPO_ROOT,
    SHIPPED,
    compile_source,
    compiled,
    shipped_path,
    shipped_record,
    source_path,
    source_sha256,
)
from bot.core.errors import KeeperError

BIN = Path(sys.executable).parent


def _stale(name: str, what: str) -> str:
    return f"{shipped_path(name).relative_to(REPO_ROOT)}: {what}; run `{REGENERATE}` and commit the result"


def test_every_contract_outside_testing_ships_compiled() -> None:
    sources = {path.stem for path in CONTRACTS_DIR.glob("*.vy")}
    shipped = {path.stem for path in COMPILED_DIR.glob("*.json")}
    assert sources == set(SHIPPED), "contracts/*.vy and bot.chain.contracts.SHIPPED differ"
    assert shipped == set(SHIPPED), _stale("*", f"the shipped files are {sorted(shipped)}")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_json_records_its_source(name: str) -> None:
    record = json.loads(shipped_path(name).read_text())
    assert record["source"] == f"contracts/{name}.vy"
    digest = source_sha256(source_path(name).read_bytes())
    assert record["source_sha256"] == digest, _stale(
        name, f"contracts/{name}.vy changed since it was generated"
    )


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_bytes_are_what_the_pinned_vyper_compiles(name: str) -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    pinned = [p for p in pyproject["project"]["optional-dependencies"]["ape"] if p.startswith("vyper==")]
    assert pinned == [f"vyper=={vyper.__version__}"], "the installed vyper is not the one pyproject pins"
    record = json.loads(shipped_path(name).read_text())
    assert record["compiler"] == f"vyper {vyper.__version__}", _stale(name, f"made by {record['compiler']}")
    fresh = compile_source(name)
    for field in ("abi", "bytecode", "runtime"):
        assert record[field] == fresh[field], _stale(name, f"its {field} is not what vyper compiles now")
    # and byte for byte the file `make contracts` writes (fields, order, formatting)
    assert shipped_path(name).read_text() == shipped_record(name), _stale(name, "not as generated")


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    compiled.cache_clear()
    yield
    compiled.cache_clear()


@pytest.mark.usefixtures("fresh_cache")
def test_a_source_edited_without_regenerating_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shutil.copytree(CONTRACTS_DIR, tmp_path / "contracts")
    edited = tmp_path / "contracts" / "Executor.vy"
    edited.write_text(edited.read_text() + "\n# an edit\n")
    monkeypatch.setattr(contracts, "CONTRACTS_DIR", tmp_path / "contracts")
    message = f"Executor.vy changed since {shipped_path('Executor')} was generated: run `{REGENERATE}`"
    with pytest.raises(KeeperError, match=re.escape(message)):
        compiled("Executor")
    assert compiled("BookLens").runtime  # the others are unchanged


@pytest.mark.usefixtures("fresh_cache")
def test_a_missing_shipped_json_is_named_not_compiled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(contracts, "COMPILED_DIR", tmp_path)
    with pytest.raises(KeeperError, match=r"BookLens\.json cannot be read \(package data of ammkeeper\)"):
        compiled("BookLens")


# Run in a child: the keeper's view, where the extras are not installed. Every module of a
# distribution outside requirements/runtime.lock (and the project) fails to import.
_RUNTIME_ONLY = """
import importlib.abc, importlib.metadata, json, re, sys

canon = lambda name: re.sub(r"[-_.]+", "-", name).lower()
allowed = {canon(name) for name in json.loads(sys.argv[1])}
blocked = {
    module
    for module, dists in importlib.metadata.packages_distributions().items()
    if not any(canon(d) in allowed for d in dists)
}

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in blocked:
            raise ImportError(f"{fullname} is not in the runtime lock")
        return None

sys.meta_path.insert(0, Blocker())
"""


def _runtime_only(code: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    lock = (REPO_ROOT / "requirements" / "runtime.lock").read_text().splitlines()
    allowed = [line.split("==")[0] for line in lock if line and not line.startswith("#")]
    allowed += ["ammkeeper", "pip"]
    env = {**os.environ, "AMMKEEPER_CACHE": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-c", _RUNTIME_ONLY + code, json.dumps(allowed), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_shipped_contracts_load_without_a_compiler_and_write_nothing(tmp_path: Path) -> None:
    code = """
from bot.chain.contracts import SHIPPED, compiled
from bot.core.errors import KeeperError
for name in SHIPPED:
    assert compiled(name).runtime, name
assert "vyper" not in sys.modules
try:
    compiled("testing/HostilePair")
except KeeperError as exc:
    print(exc)
"""
    done = _runtime_only(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "testing/HostilePair.vy needs vyper (the `ape` extra)" in done.stdout
    assert len(done.stdout.strip().splitlines()) == 1  # one line, not a traceback
    assert list(tmp_path.iterdir()) == []  # no cache, nothing else


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"]])
def test_the_keeper_command_imports_nothing_outside_the_runtime_lock(tmp_path: Path, argv: list[str]) -> None:
    code = """
import bot.cli.main
try:
    bot.cli.main.main(sys.argv[2:])
except SystemExit as exc:
    sys.exit(exc.code)
"""
    done = _runtime_only(code, tmp_path, *argv)
    assert done.returncode == 0, done.stderr
    assert "usage: ammkeeper" in done.stdout


def test_the_wheel_carries_the_compiled_contracts(tmp_path: Path) -> None:
    source = tmp_path / "src"  # a copy: an in-tree build would leave build/ and egg-info in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source)
    for package in ("bot", "strategies", "anvil"):
        shutil.copytree(REPO_ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run(
        [str(BIN / "python"), "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (tmp_path / "dist").glob("ammkeeper-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"bot/chain/compiled/{name}.json" for name in SHIPPED} <= names
    assert not any(name.startswith("contracts/") for name in names)
