"""Browser fixtures: Debian's Chromium driven by Playwright (it cannot fetch its own browser here),
the local world (the chain tests' fixtures), and a keeper process serving the dashboard."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.chain.conftest import World, isolated, world  # noqa: F401 (fixtures)
from tests.chain.keeper_harness import start_keeper

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".cache" / "screenshots"
# what Chromium needs as root, headless, on a machine without a network: no sandbox, no calls home
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]  # fmt: skip
TOKEN_ENV = "AMMKEEPER_TEST_DASHBOARD_TOKEN"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/web/" in str(item.fspath):
            item.add_marker(pytest.mark.chain)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one module's tests. NOTE: Playwright's sync API runs an event loop on this
    thread while it is started: an in-process `asyncio.run` (a command run by `main`) in a later
    test would fail, so it stops with the module."""
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield tab
    finally:
        context.close()
    assert errors == [], errors


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """A keeper process serving the dashboard on `url`; stopped on exit."""

    def __init__(self, chain: World, book: Path, token: str | None, rpc: str | None = None) -> None:
        self.world = chain
        self.book = book
        env_before = os.environ.get(TOKEN_ENV)
        if token is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = token
        try:
            self.process: subprocess.Popen[str] = start_keeper(book, rpc or chain.node.url)
        finally:
            if env_before is None:
                os.environ.pop(TOKEN_ENV, None)
            else:
                os.environ[TOKEN_ENV] = env_before
        self.url = ""

    def wait(self, port: int, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        url = f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the keeper exited: {self.process.communicate()[1][-2000:]}")
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1)
                self.url = url
                return url
            except OSError:
                self.world.node.rpc("evm_mine")
                time.sleep(0.2)
        raise AssertionError("the keeper's dashboard did not answer")

    def stop(self) -> str:
        self.process.terminate()
        _, err = self.process.communicate(timeout=60)
        return err
