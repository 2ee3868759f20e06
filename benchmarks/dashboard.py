"""How fast the dashboard's pages load over a long journal: 10,000 heads and 500 rebalances.

The local world, one real rebalance by `ammkeeper rebalance`, then its journal grown to 500
executed bundles (copies of that one's records under new intents and transactions) and 10,000
valued heads. `ammkeeper dashboard` serves it; headless Chromium (Debian's, driven by Playwright)
loads each page: time to first byte (Navigation Timing), and full load, from navigation until the
page's data is drawn (its table filled from the JSON endpoint, the chart by Chart.js).
Last line: one JSON object.

    .venv/bin/python benchmarks/dashboard.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import sync_playwright

from anvil.world import ensure_world, start_world
from bot.tx.journal import HeadRow, Journal, default_path
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS

HEADS = 10_000
REBALANCES = 500
BIN = Path(sys.executable).parent
READY = {"history": "#rebalance-table tr[data-intent]", "book": "tr[data-sleeve]"}
# the page marks "drawn" once its data is in and its chart drawn (dashboard.js)
DRAWN = "() => performance.getEntriesByName('drawn').length > 0"
TIMING = """() => {
  const n = performance.getEntriesByType('navigation')[0];
  return {ttfb: n.responseStart - n.startTime, drawn: performance.getEntriesByName('drawn')[0].startTime};
}"""


def grow(journal_path: Path, chain_id: int, vault: str) -> None:
    """The journal's one executed bundle copied to REBALANCES, and HEADS valued heads."""
    db = sqlite3.connect(journal_path)
    with db:
        intent = db.execute("SELECT * FROM intents WHERE status = 'executed'").fetchone()
        columns = [c[1] for c in db.execute("PRAGMA table_info(intents)")]
        outcome = db.execute("SELECT * FROM outcomes WHERE intent_id = ?", (intent[0],)).fetchone()
        out_columns = [c[1] for c in db.execute("PRAGMA table_info(outcomes)")]
        attempt = db.execute("SELECT * FROM attempts WHERE intent_id = ?", (intent[0],)).fetchone()
        att_columns = [c[1] for c in db.execute("PRAGMA table_info(attempts)")]
        for n in range(1, REBALANCES):
            row = dict(zip(columns, intent, strict=True))
            row.update(id=None, bundle_id=f"0x{n:064x}", block=row["block"] + 20 * n)
            cursor = db.execute(
                f"INSERT INTO intents ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
            new_id = cursor.lastrowid
            o = dict(zip(out_columns, outcome, strict=True))
            o.update(intent_id=new_id, tx_hash=f"0x{n:064x}", block=o["block"] + 20 * n)
            db.execute(
                f"INSERT INTO outcomes ({', '.join(o)}) VALUES ({', '.join('?' * len(o))})", list(o.values())
            )
            a = dict(zip(att_columns, attempt, strict=True))
            a.update(id=None, intent_id=new_id, tx_hash=f"0x{n:064x}")
            db.execute(
                f"INSERT INTO attempts ({', '.join(a)}) VALUES ({', '.join('?' * len(a))})", list(a.values())
            )
    db.close()
    with Journal.open(journal_path) as journal:
        start = 1_000
        for i in range(HEADS):
            value = 720_000 + (i % 500) * 3.7
            journal.add_head(chain_id, vault, HeadRow(
                start + i, 1_800_000_000 + 12 * i, time.time(), "sent" if i % 20 == 0 else "hold", "in bands",
                None, f"{value:.6f}", f"{value * 1.01:.6f}", f"{value * 1.005:.6f}", {"WETH": "0.04"},
            ))  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    node, _ = start_world()
    files = ensure_world()
    with tempfile.TemporaryDirectory() as tmp:
        book = Path(tmp) / "book.toml"
        book.write_text(files.config.read_text())
        keys = ["--keystore", str(files.keeper_keystore), "--password-file", str(files.keeper_password)]
        rebalance = [
            str(BIN / "ammkeeper"),
            "rebalance",
            "--config",
            str(book),
            "--rpc",
            node.url,
            *keys,
            "--yes",
        ]
        subprocess.run(rebalance,
                       check=True, capture_output=True, timeout=300)  # fmt: skip
        raw = tomllib.loads(book.read_text())
        grow(default_path(book), 31337, raw["vault"])
        port = free_port()
        server = subprocess.Popen(
            [str(BIN / "ammkeeper"), "dashboard", "--config", str(book), "--rpc", node.url,
             "--listen", f"127.0.0.1:{port}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(url + "/api/history", timeout=2)
                    break
                except OSError:
                    time.sleep(0.1)
            figures: dict[str, float] = {}
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for name in ("history", "book"):
                    loads, walls, ttfbs = [], [], []
                    for run in range(args.runs + 1):  # the first warms the server's caches and the browser's
                        page = browser.new_page()
                        start = time.perf_counter()
                        page.goto(f"{url}/{name}")
                        page.wait_for_selector(READY[name])
                        page.wait_for_function(DRAWN)
                        wall = (time.perf_counter() - start) * 1000
                        timing = page.evaluate(TIMING)
                        page.close()
                        if run:
                            loads.append(timing["drawn"])
                            ttfbs.append(timing["ttfb"])
                            walls.append(wall)
                    figures[f"{name}_ms"] = statistics.median(loads)
                    figures[f"{name}_ttfb_ms"] = statistics.median(ttfbs)
                    figures[f"{name}_wall_ms"] = statistics.median(walls)
                    print(
                        f"{name}: first byte {figures[f'{name}_ttfb_ms']:.1f} ms, loaded, filled and drawn "
                        f"{figures[f'{name}_ms']:.0f} ms (the browser's clock from navigation start; "
                        f"{figures[f'{name}_wall_ms']:.0f} ms as Playwright waits for it), "
                        f"median of {args.runs}"
                    )
                browser.close()
            api = {}
            for name in ("history", "book"):
                start = time.perf_counter()
                body = urllib.request.urlopen(f"{url}/api/{name}", timeout=30).read()
                api[name] = ((time.perf_counter() - start) * 1000, len(body))
            history = json.loads(urllib.request.urlopen(f"{url}/api/history").read())
            points = len(history["series"]["block"])
            print(f"journal: {history['heads']:,} valued heads (charted as {points:,} points), "
                  f"{len(history['rebalances'])} rebalances; /api/history {api['history'][0]:.0f} ms, "
                  f"{api['history'][1] / 1024:.0f} KiB")  # fmt: skip
        finally:
            server.terminate()
            server.communicate(timeout=30)
            node.stop()
    print(json.dumps({"bench": "dashboard", **{k: round(v, 1) for k, v in figures.items()}}))


if __name__ == "__main__":
    main()
