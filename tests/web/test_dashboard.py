"""The dashboard in a real browser, served by a running keeper on the world: the book page against
`ammkeeper plan --json`, a rebalance on the history page, pause and resume from the page, a
read-only dashboard and forged requests, and no secret anywhere a browser can reach."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

from eth_account import Account
from playwright.sync_api import Page, expect

from anvil.world import ACCOUNT_NAMES, dev_key, ensure_world
from bot.chain.contracts import compiled
from tests.chain.books import write_book
from tests.chain.conftest import World
from tests.chain.fault_proxy import fault_proxy
from tests.web.conftest import SCREENSHOTS, TOKEN_ENV, Served, free_port

TOKEN = "t0k3n-" + "9f" * 16
VAULT_ABI = compiled("Executor").abi
BIN = Path(sys.executable).parent


def _book(tmp_path: Path, port: int, **keeper: Any) -> Path:
    def change(raw: dict[str, Any]) -> None:
        address = f"127.0.0.1:{port}"
        raw["keeper"] = {"block_time_s": 0.1, "metrics": address, "dashboard_token_env": TOKEN_ENV, **keeper}
        raw["guards"] = {
            **raw.get("guards", {}),
            "max_twap_deviation": 0.9,
        }  # the price moves here are sudden

    return write_book(tmp_path, change)


def _get(url: str, **headers: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
            return r.status, r.read().decode()
    except HTTPError as exc:
        return exc.code, exc.read().decode()


def _post(url: str, headers: dict[str, str], body: str = "{}") -> tuple[int, str]:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read().decode()
    except HTTPError as exc:
        return exc.code, exc.read().decode()


def _heads(url: str) -> list[dict[str, Any]]:
    return list(json.loads(_get(url + "/api/keeper")[1])["heads"])


def _until(check: Any, world: World, timeout_s: float = 60.0, seen: Any = None) -> Any:
    """Mine a block at a time until `check()` is truthy; its value (`seen()`: what to say if not)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        world.node.rpc("evm_mine")
        time.sleep(0.25)
    raise AssertionError(f"not reached in time: {seen() if seen else ''}")


@contextlib.contextmanager
def _serving(
    world: World, folder: Path, token: str | None, rpc: str | None = None
) -> Iterator[tuple[str, Path]]:
    """`ammkeeper run` on the world's book in `folder`, serving its dashboard: (its URL, the book)."""
    port = free_port()
    book = _book(folder, port)
    served = Served(world, book, token, rpc=rpc)
    try:
        yield served.wait(port), book
    finally:
        served.stop()


def _sent_then_held(url: str, world: World) -> None:
    """The world's book starts drifted: the keeper sends a bundle, then holds."""
    _until(lambda: any(h["action"] == "sent" for h in _heads(url)), world)
    _until(lambda: _heads(url)[0]["action"] == "hold", world)


def _plan_json(book: Path, world: World, block: int) -> dict[str, Any]:
    """`ammkeeper plan --json` of the book at `block`, as another process."""
    plan = subprocess.run(
        [str(BIN / "ammkeeper"), "plan", "--config", str(book), "--rpc", world.node.url,
         "--block", str(block), "--json", "--no-simulate"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return dict(json.loads(plan.stdout))


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_the_book_page_is_plan_json_at_its_block_and_the_rebalance_shows_on_the_history_page(
    world: World, tmp_path: Path, page: Page
) -> None:
    with _serving(world, tmp_path, TOKEN) as (url, book):
        # the world's book starts drifted: the keeper sends a bundle, then holds
        _sent_then_held(url, world)
        page.goto(url + "/book")
        expect(page.locator("#block")).to_have_text(str(_heads(url)[0]["block"]), timeout=20_000)
        block = int(page.locator("#block").inner_text())
        total = page.locator("#summary .total").get_attribute("data-exact")
        weights = {
            row.get_attribute("data-sleeve"): row.locator(".weight").get_attribute("data-exact")
            for row in page.locator("tr[data-sleeve]").all()
        }
        _shot(page, "book")
        report = _plan_json(book, world, block)
        assert report["block"] == block and total == report["total"]
        assert weights == {s["label"]: s["weight"] for s in report["sleeves"]} and len(weights) == 10

        # the page follows the next head by itself, without reloading
        page.evaluate("window.stillTheSamePage = true")
        world.node.rpc("evm_mine")
        expect(page.locator("#block")).not_to_have_text(str(block), timeout=20_000)
        assert page.evaluate("window.stillTheSamePage") is True

        page.goto(url + "/history")
        row = page.locator("#rebalance-table tr[data-intent]")
        expect(row).to_have_count(1, timeout=20_000)
        expect(row.locator(".matches")).to_have_text("realized equals predicted")
        sent = next(h for h in _heads(url) if h["action"] == "sent")
        expect(row.locator(".hash")).to_have_text(sent["tx_hash"])
        assert page.locator("#value-chart").count() == 1  # drawn by Chart.js
        _shot(page, "history")


def test_pause_from_the_page_stops_the_keeper_and_is_journaled_then_resume_sends(
    world: World, tmp_path: Path, page: Page
) -> None:
    with _serving(world, tmp_path, TOKEN) as (url, _):
        _sent_then_held(url, world)
        page.goto(url + "/keeper")
        page.fill("#token", TOKEN)
        page.fill("#reason", "looking into it")
        page.click("#pause")
        expect(page.locator("#control-said")).to_contain_text("paused")
        expect(page.locator("#kill-switch")).to_contain_text("PAUSED: looking into it", timeout=20_000)
        # drift the book: a paused keeper sends nothing
        world.owner_deposit("USDC", 200_000 * 10**6)
        paused = _until(lambda: [h for h in _heads(url)[:3] if h["action"] == "paused"], world)
        assert "looking into it" in paused[0]["reason"]
        for _ in range(3):
            world.node.rpc("evm_mine")
            time.sleep(0.3)
        assert sum(h["action"] == "sent" for h in _heads(url)) == 1
        controls = json.loads(_get(url + "/api/keeper")[1])["controls"]
        assert controls[0]["action"] == "pause" and controls[0]["who"] == "127.0.0.1"
        assert controls[0]["detail"] == "looking into it"
        _shot(page, "keeper")
        page.click("#resume")
        expect(page.locator("#kill-switch")).to_have_text("kill switch off", timeout=20_000)
        sent_twice = lambda: sum(h["action"] == "sent" for h in _heads(url)) == 2  # noqa: E731
        _until(sent_twice, world, seen=lambda: _heads(url)[:4])


def test_without_a_token_the_buttons_are_absent_and_forged_posts_are_refused(
    world: World, tmp_path: Path, page: Page
) -> None:
    with _serving(world, tmp_path, None) as (url, _):
        for name in ("book", "history", "keeper"):
            page.goto(f"{url}/{name}")
            expect(page.locator("section h2").first).to_be_visible(timeout=20_000)
            assert page.locator("#controls, #pause, #resume, #token").count() == 0
        status, body = _post(url + "/api/pause", {"Origin": url, "Authorization": f"Bearer {TOKEN}"})
        assert status == 403 and "read-only" in body
        # a page elsewhere whose name points at 127.0.0.1 (DNS rebinding) reads nothing
        port = url.rsplit(":", 1)[1]
        status, body = _get(url + "/api/keeper", Host=f"evil.example:{port}")
        assert status == 403 and "loopback" in body
        assert _get(url + "/api/keeper", Host=f"localhost:{port}")[0] == 200
    # with a token: another site's page, a wrong token, no origin: all refused, nothing paused
    (tmp_path / "with").mkdir()
    with _serving(world, tmp_path / "with", TOKEN) as (url, _):
        forged = [
            ({"Origin": "http://evil.example", "Authorization": f"Bearer {TOKEN}"}, "own page"),
            ({"Origin": url, "Authorization": "Bearer " + "x" * 40}, "wrong token"),
            ({"Authorization": f"Bearer {TOKEN}"}, "own page"),
            ({"Origin": url}, "wrong token"),
        ]
        for headers, why in forged:
            status, body = _post(url + "/api/pause", headers)
            assert status == 403 and why in body, (headers, body)
        keeper = json.loads(_get(url + "/api/keeper")[1])
        assert keeper["kill_switch"] is None and keeper["controls"] == []
        status, _ = _post(url + "/api/pause", {"Origin": url, "Authorization": f"Bearer {TOKEN}"})
        assert status == 200


def test_no_secret_reaches_a_page_or_an_endpoint(world: World, tmp_path: Path, page: Page) -> None:
    # an RPC URL with what providers put in it: a user, a password, a key in the path and the query
    # (a proxy on loopback takes any path, as providers do, and forwards to the world's node)
    with fault_proxy(world.node.url) as forward:
        secret_rpc = (
            forward.replace("http://", "http://alice:hunter2pass@") + "/v2/SECRETAPIKEY123?key=QUERYKEY456"
        )
        with _serving(world, tmp_path, TOKEN, rpc=secret_rpc) as (url, _):
            _until(lambda: any(h["action"] == "sent" for h in _heads(url)), world)
            seen = []
            for name in ("book", "history", "keeper"):
                page.goto(f"{url}/{name}")
                expect(page.locator("section h2").first).to_be_visible(timeout=20_000)
                time.sleep(1.2)
                seen.append(page.content())
            for endpoint in (
                "/api/book",
                "/api/history",
                "/api/keeper",
                "/metrics",
                "/healthz",
                "/static/dashboard.js",
            ):
                seen.append(_get(url + endpoint)[1])
            files = ensure_world()
            password = files.keeper_password.read_text().strip()
            key = bytes(Account.decrypt(files.keeper_keystore.read_text(), password)).hex()
            dev = dev_key(ACCOUNT_NAMES.index("keeper")).removeprefix("0x")
            everything = "\n".join(seen)
            for secret in (
                TOKEN,
                "hunter2pass",
                "alice",
                "SECRETAPIKEY123",
                "QUERYKEY456",
                key,
                dev,
                password,
            ):
                assert secret not in everything, secret
            assert "http://127.0.0.1" in everything  # endpoints are shown, as scheme://host:port


def test_pause_on_chain_from_the_keepers_page_pauses_the_vault_itself(
    world: World, tmp_path: Path, page: Page
) -> None:
    with _serving(world, tmp_path, TOKEN) as (url, _):
        page.goto(url + "/keeper")
        page.fill("#token", TOKEN)
        page.check("#on-chain")
        page.click("#pause")
        expect(page.locator("#control-said")).to_contain_text(
            "the vault's pause() sent in 0x", timeout=20_000
        )
        vault = world.w3.eth.contract(address=world.book.accounts["vault"], abi=VAULT_ABI)
        _until(lambda: vault.functions.paused().call(), world)
        expect(page.locator("#status")).to_contain_text("vault paused on-chain: yes", timeout=20_000)
        controls = json.loads(_get(url + "/api/keeper")[1])["controls"]
        assert [c["action"] for c in controls] == ["pause on-chain"]


def test_the_dashboard_without_a_keeper_reads_the_journal_and_the_chain(
    world: World, tmp_path: Path, page: Page
) -> None:
    world.node.rpc("evm_mine")
    port = free_port()
    book = _book(tmp_path, free_port())
    files = ensure_world()
    keys = ["--keystore", str(files.keeper_keystore), "--password-file", str(files.keeper_password)]
    rebalance = [
        str(BIN / "ammkeeper"),
        "rebalance",
        "--config",
        str(book),
        "--rpc",
        world.node.url,
        *keys,
        "--yes",
    ]
    subprocess.run(rebalance, check=True, capture_output=True, timeout=300)
    server = subprocess.Popen(
        [str(BIN / "ammkeeper"), "dashboard", "--config", str(book), "--rpc", world.node.url,
         "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _get(url + "/api/keeper")[0] == 200 if _port_open(port) else False, world)
        page.goto(url + "/keeper")
        expect(page.locator("#status")).to_contain_text("no keeper in this process", timeout=20_000)
        assert page.locator("#controls").count() == 0  # no token: read-only
        page.goto(url + "/history")
        expect(page.locator("#rebalance-table tr[data-intent] .matches")).to_have_text(
            "realized equals predicted"
        )
        page.goto(url + "/book")
        expect(page.locator("#summary")).to_contain_text("read now", timeout=20_000)
        block = int(page.locator("#block").inner_text())
        assert (
            page.locator("#summary .total").get_attribute("data-exact")
            == _plan_json(book, world, block)["total"]
        )
    finally:
        server.terminate()
        server.communicate(timeout=30)


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False
