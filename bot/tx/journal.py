"""The journal: one SQLite file per book, the audit trail and the memory of what was sent.

Shared by the manual rebalance, the dry-run and the keeper. WAL mode, `synchronous=FULL`,
one transaction per write, so a record that returned is on disk before the next step:

    runs      one per command run (rebalance, dry-run, keeper): kind, status, its message
    intents   a plan about to be executed: ops, predicted post-state, block, price provenance
    attempts  each signed transaction of an intent, its raw bytes written BEFORE broadcast
    outcomes  the receipt of an intent and the realized post-state, per op and in total

An intent is unresolved while it has attempts and neither an outcome nor an abandonment:
nothing new may be planned for the book until it resolves. Fork runs (dry-runs) are
journaled with `fork = 1` and never count as pending.

Amounts are JSON strings of integers (they exceed SQLite's 64-bit integers). No secret is
ever written here: no key, no password, no RPC URL (only its masked label).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.chain.endpoints import scrub
from bot.core.book import Moment
from bot.core.errors import BadInput, BookReadError, KeeperError, Pending, RpcError
from bot.core.tax_ledger import Quote, Transfer
from bot.core.units import decimal_text
from bot.core.valuation import Observation

if TYPE_CHECKING:
    from bot.core.outcome import Receipt

SCHEMA_VERSION = 6
JOURNAL_SUFFIX = ".journal.sqlite"
# NOTE: SQLite's own field for "which application's file is this" (`PRAGMA application_id`),
# b"AMMK". Journals from before it have exactly our four tables and user_version 1 or 2; they
# are recognised by those and stamped when opened.
APPLICATION_ID = 0x414D4D4B
TABLES = frozenset({"runs", "intents", "attempts", "outcomes"})
UPKEEP_SENT, UPKEEP_MINED, UPKEEP_REVERTED, UPKEEP_DROPPED = "sent", "mined", "reverted", "dropped"


@dataclass(frozen=True, slots=True)
class Upkeep:
    """A journaled upkeep transaction (a poke) not yet settled."""

    id: int
    kind: str
    nonce: int
    tx_hash: str
    raw: str


# v3: whose journal it is (one row), and the pairs' price observations (the keeper's TWAP window)
V3_TABLES = """
CREATE TABLE IF NOT EXISTS book (
    vault       TEXT NOT NULL,
    chain_id    INTEGER
);
CREATE TABLE IF NOT EXISTS observations (
    chain_id    INTEGER NOT NULL,
    pair        TEXT NOT NULL,
    block       INTEGER NOT NULL,
    timestamp   INTEGER NOT NULL,
    cumulative0 TEXT NOT NULL,
    cumulative1 TEXT NOT NULL,
    PRIMARY KEY (chain_id, pair, block)
);
CREATE INDEX IF NOT EXISTS observations_by_time ON observations (chain_id, pair, timestamp);
"""

# v4: the keeper's other transactions (pokes of the vault's price observations): journaled
# before they are broadcast, their fees counted in the day's gas
V4_TABLES = """
CREATE TABLE IF NOT EXISTS upkeep (
    id          INTEGER PRIMARY KEY,
    created_at  REAL NOT NULL,
    chain_id    INTEGER NOT NULL,
    vault       TEXT NOT NULL,
    keeper      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL,
    nonce       INTEGER NOT NULL,
    tx_hash     TEXT NOT NULL UNIQUE,
    raw         TEXT NOT NULL,
    max_fee_wei TEXT NOT NULL,
    status      TEXT NOT NULL,
    block       INTEGER,
    fee_wei     TEXT
)
"""

# v5: the tax ledger's inputs the intents do not hold: the vault's deposits and withdrawals found
# on chain (with their price at that block, or the basis the owner gives), and how far the chain
# was scanned for them
V5_TABLES = """
CREATE TABLE IF NOT EXISTS transfers (
    chain_id    INTEGER NOT NULL,
    vault       TEXT NOT NULL,
    tx_hash     TEXT NOT NULL,
    log_index   INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    asset       TEXT NOT NULL,
    amount      TEXT NOT NULL,
    block       INTEGER NOT NULL,
    timestamp   INTEGER NOT NULL,
    price       TEXT NOT NULL,
    source      TEXT NOT NULL,
    basis       TEXT,
    acquired_at INTEGER,
    PRIMARY KEY (chain_id, vault, tx_hash, log_index)
);
CREATE TABLE IF NOT EXISTS transfer_scans (
    chain_id    INTEGER NOT NULL,
    vault       TEXT NOT NULL,
    block       INTEGER NOT NULL,
    PRIMARY KEY (chain_id, vault)
);
"""


# v6: what the keeper did with each head (the dashboard's history and its last heads), where the
# baselines start, and the controls used from the dashboard (who paused or resumed, and when)
V6_TABLES = """
CREATE TABLE IF NOT EXISTS heads (
    chain_id    INTEGER NOT NULL,
    vault       TEXT NOT NULL,
    block       INTEGER NOT NULL,
    timestamp   INTEGER NOT NULL,
    recorded_at REAL NOT NULL,
    action      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    tx_hash     TEXT,
    value       TEXT,
    hold_value  TEXT,
    lp_value    TEXT,
    weights     TEXT,
    PRIMARY KEY (chain_id, vault, block)
);
CREATE TABLE IF NOT EXISTS baselines (
    chain_id    INTEGER NOT NULL,
    vault       TEXT NOT NULL,
    holdings    TEXT NOT NULL,
    PRIMARY KEY (chain_id, vault)
);
CREATE TABLE IF NOT EXISTS controls (
    id          INTEGER PRIMARY KEY,
    at          REAL NOT NULL,
    action      TEXT NOT NULL,
    who         TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    id          INTEGER PRIMARY KEY,
    at          REAL NOT NULL,
    kind        TEXT NOT NULL,
    title       TEXT NOT NULL,
    delivered   INTEGER NOT NULL
);
"""
KEEP_HEADS = 20_000  # heads kept besides those that sent, were refused or failed


@dataclass(frozen=True, slots=True)
class HeadRow:
    """One head as the keeper journaled it (values in the numeraire as exact decimal text)."""

    block: int
    timestamp: int
    recorded_at: float
    action: str
    reason: str
    tx_hash: str | None = None
    value: str | None = None
    hold_value: str | None = None
    lp_value: str | None = None
    weights: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ExecutedBundle:
    """An executed bundle of the vault: the intent's plan and the outcome's realized record."""

    intent_id: int
    tx_hash: str
    block: int
    plan: Mapping[str, Any]
    realized: Mapping[str, Any]
    fee_wei: int = 0
    gas_used: int = 0
    matches: bool | None = None


SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    started_at  REAL NOT NULL,
    ended_at    REAL,
    status      TEXT NOT NULL,
    message     TEXT,
    book        TEXT,
    book_sha256 TEXT,
    endpoint    TEXT,
    chain_id    INTEGER,
    keeper      TEXT
);
CREATE TABLE IF NOT EXISTS intents (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    created_at  REAL NOT NULL,
    fork        INTEGER NOT NULL,
    chain_id    INTEGER NOT NULL,
    vault       TEXT NOT NULL,
    keeper      TEXT NOT NULL,
    block       INTEGER NOT NULL,
    block_hash  TEXT NOT NULL,
    bundle_id   TEXT NOT NULL UNIQUE,
    deadline    INTEGER NOT NULL,
    calldata    TEXT NOT NULL,
    plan        TEXT NOT NULL,
    status      TEXT NOT NULL,
    resolved_at REAL,
    note        TEXT
);
CREATE TABLE IF NOT EXISTS attempts (
    id           INTEGER PRIMARY KEY,
    intent_id    INTEGER NOT NULL REFERENCES intents(id),
    created_at   REAL NOT NULL,
    nonce        INTEGER NOT NULL,
    tx_hash      TEXT NOT NULL UNIQUE,
    raw          TEXT NOT NULL,
    max_fee      INTEGER NOT NULL,
    tip          INTEGER NOT NULL,
    gas_limit    INTEGER NOT NULL,
    status       TEXT NOT NULL,
    broadcast_at REAL,
    error        TEXT,
    sent_block   INTEGER
);
CREATE TABLE IF NOT EXISTS outcomes (
    intent_id           INTEGER PRIMARY KEY REFERENCES intents(id),
    recorded_at         REAL NOT NULL,
    tx_hash             TEXT NOT NULL,
    block               INTEGER NOT NULL,
    block_hash          TEXT NOT NULL,
    success             INTEGER NOT NULL,
    gas_used            INTEGER NOT NULL,
    effective_gas_price INTEGER NOT NULL,
    fee_wei             TEXT NOT NULL,
    matches             INTEGER,
    realized            TEXT NOT NULL
);
"""

_EXECUTED = (
    "FROM outcomes o JOIN intents i ON i.id = o.intent_id "
    "WHERE i.fork = 0 AND i.chain_id = ? AND i.vault = ? AND o.success = 1"
)

# intent statuses
PLANNED = "planned"  # written, nothing signed yet
SENT = "sent"  # at least one attempt broadcast (or about to be: its raw bytes are saved)
EXECUTED = "executed"  # mined and succeeded
REVERTED = "reverted"  # mined and reverted
ABANDONED = "abandoned"  # can never execute: nonce used by another transaction, or never sent
RESOLVED = (EXECUTED, REVERTED, ABANDONED)

# attempt statuses
SIGNED = "signed"  # raw bytes saved, broadcast not yet confirmed by the node
BROADCAST = "broadcast"  # the node accepted it (or already knew it)
MINED = "mined"
SUPERSEDED = "superseded"  # its nonce was used by another transaction


def default_path(book_path: Path) -> Path:
    """The journal beside its book file: `book.toml` -> `book.journal.sqlite`."""
    return book_path.with_name(book_path.stem + JOURNAL_SUFFIX)


def journal_path(explicit: Path | None, book: Path | None) -> Path:
    """The journal a command uses: `--journal` if given, else the one beside its book."""
    if explicit is not None:
        return Path(explicit)
    if book is None:
        raise BadInput("which journal? pass --config BOOK or --journal PATH")
    return default_path(Path(book))


def file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class Attempt:
    id: int
    intent_id: int
    nonce: int
    tx_hash: str
    raw: str
    max_fee: int
    tip: int
    gas_limit: int
    status: str
    created_at: float
    sent_block: int | None = None


@dataclass(frozen=True, slots=True)
class Intent:
    id: int
    run_id: int
    fork: bool
    chain_id: int
    vault: str
    keeper: str
    block: int
    bundle_id: str
    deadline: int
    calldata: str
    plan: dict[str, Any]
    status: str
    created_at: float


class JournalError(KeeperError):
    """The journal cannot be written (disk full, locked too long, damaged)."""


@dataclass(slots=True)
class RunRecord:
    """The run being recorded: set `status` and `message` before the block ends."""

    journal: Journal
    id: int
    status: str = "done"
    message: str = ""


class Journal:
    """One book's journal. Open with `Journal.open(path)`; use as a context manager or `close()`."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Journal:
        """Open (creating if needed) the journal at `path`.

        A file that is not an ammkeeper journal (another application's database, junk) is
        refused before anything is written to it: it is left exactly as it was.

        Raises:
            BadInput: the file cannot be opened or created, or is not an ammkeeper journal.
        """
        path = Path(path)
        _probe(path)
        try:
            db = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        except sqlite3.Error as exc:
            raise BadInput(f"journal {path} cannot be opened: {exc}") from None
        try:
            # NOTE: recognised again, now under SQLite's locks (the probe reads the main file only,
            # without them), and before `journal_mode=WAL`, the first statement that writes.
            current = _recognise(path, db).current
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            if not current:
                db.execute("BEGIN IMMEDIATE")  # and a third time inside: two runs may open it at once
                try:
                    _initialise(db, _recognise(path, db))
                except BaseException:
                    if db.in_transaction:  # SQLite rolls some failures back itself
                        db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            db.close()
            raise BadInput(f"journal {path} is not usable: {exc}") from None
        except BadInput:
            db.close()
            raise
        db.row_factory = sqlite3.Row
        return cls(db, path)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """This process alone acts on the book while inside (a lock file beside the journal).

        Raises:
            Pending: another run holds it.
            BadInput: the lock file cannot be opened or locked (a read-only directory, say).
        """
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            handle = lock_path.open("a")
        except OSError as exc:
            raise BadInput(f"journal lock {lock_path} cannot be opened: {exc.strerror}") from exc
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Pending(
                    f"another ammkeeper run holds the journal {self.path}; try again when it ends"
                ) from None
            except OSError as exc:
                raise BadInput(f"journal lock {lock_path} cannot be taken: {exc.strerror}") from exc
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path} cannot be written: {exc}") from None
        try:
            yield self._db
        except (sqlite3.Error, OverflowError) as exc:  # OverflowError: an int beyond SQLite's 64 bits
            self._db.execute("ROLLBACK")
            raise JournalError(f"journal {self.path} cannot be written: {exc}") from None
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path} cannot be written: {exc}") from None

    # --- runs ---------------------------------------------------------------------------------

    def start_run(self, kind: str, book: Path | None = None) -> int:
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO runs (kind, started_at, status, book, book_sha256) "
                "VALUES (?, ?, 'running', ?, ?)",
                (kind, time.time(), str(book) if book else None, file_sha256(book) if book else None),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def describe_run(self, run_id: int, endpoint: str | None = None, chain_id: int | None = None,
                     keeper: str | None = None) -> None:  # fmt: skip
        """What the run talks to, once known (the endpoint as its masked label)."""
        with self._write() as db:
            db.execute(
                "UPDATE runs SET endpoint = COALESCE(?, endpoint), chain_id = COALESCE(?, chain_id), "
                "keeper = COALESCE(?, keeper) WHERE id = ?",
                (endpoint, chain_id, keeper, run_id),
            )

    def end_run(self, run_id: int, status: str, message: str = "") -> None:
        with self._write() as db:
            db.execute(
                "UPDATE runs SET ended_at = ?, status = ?, message = ? WHERE id = ?",
                (time.time(), status, scrub(message), run_id),
            )

    @contextmanager
    def recording(self, kind: str, book: Path | None = None) -> Iterator[RunRecord]:
        """A run record around a command: 'refused' on bad input before any intent, 'failed' on
        other errors, 'interrupted' on Ctrl-C; otherwise the status the command set (default 'done')."""
        record = RunRecord(self, self.start_run(kind, book))
        try:
            yield record
        except (BadInput, BookReadError, RpcError) as exc:
            status = "failed" if self._has_intents(record.id) else "refused"
            self.end_run(record.id, status, str(exc))
            raise
        except KeeperError as exc:
            self.end_run(record.id, getattr(exc, "run_status", "failed"), str(exc))
            raise
        except (KeyboardInterrupt, asyncio.CancelledError):
            self.end_run(record.id, "interrupted", "interrupted")
            raise
        except BaseException as exc:
            self.end_run(record.id, "crashed", type(exc).__name__)
            raise
        self.end_run(record.id, record.status, record.message)

    def _has_intents(self, run_id: int) -> bool:
        return self._db.execute("SELECT 1 FROM intents WHERE run_id = ?", (run_id,)).fetchone() is not None

    # --- intents, attempts, outcomes ----------------------------------------------------------

    def add_intent(
        self,
        run_id: int,
        *,
        fork: bool,
        chain_id: int,
        vault: str,
        keeper: str,
        block: int,
        block_hash: str,
        bundle_id: str,
        deadline: int,
        calldata: str,
        plan: Mapping[str, Any],
    ) -> int:
        """Record a plan about to be executed (before anything is signed)."""
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO intents (run_id, created_at, fork, chain_id, vault, keeper, block, block_hash, "
                "bundle_id, deadline, calldata, plan, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, time.time(), int(fork), chain_id, vault, keeper, block, block_hash, bundle_id,
                 deadline, calldata, json.dumps(plan, sort_keys=True), PLANNED),
            )  # fmt: skip
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def add_attempt(
        self, intent_id: int, *, nonce: int, tx_hash: str, raw: str, max_fee: int, tip: int, gas_limit: int
    ) -> int:
        """Save a signed transaction before it is broadcast; the intent becomes SENT."""
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO attempts (intent_id, created_at, nonce, tx_hash, raw, max_fee, tip, gas_limit, "
                "status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (intent_id, time.time(), nonce, tx_hash, raw, max_fee, tip, gas_limit, SIGNED),
            )
            db.execute(
                "UPDATE intents SET status = ? WHERE id = ? AND status = ?", (SENT, intent_id, PLANNED)
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def mark_attempt(
        self, attempt_id: int, status: str, error: str | None = None, block: int | None = None
    ) -> None:
        """A new status; `block` is the head it was (re)broadcast at (replacements count from it)."""
        with self._write() as db:
            db.execute(
                "UPDATE attempts SET status = ?, error = COALESCE(?, error), "
                "broadcast_at = CASE WHEN ? = ? AND broadcast_at IS NULL THEN ? ELSE broadcast_at END, "
                "sent_block = COALESCE(?, sent_block) WHERE id = ?",
                (status, error, status, BROADCAST, time.time(), block, attempt_id),
            )

    def add_outcome(
        self, intent_id: int, receipt: Receipt, *, matches: bool | None, realized: Mapping[str, Any]
    ) -> None:
        """The receipt and the realized post-state; resolves the intent (executed or reverted)."""
        tx_hash, success = receipt.tx_hash, receipt.success
        gas_used, effective_gas_price = receipt.gas_used, receipt.effective_gas_price
        block, block_hash = receipt.block, receipt.block_hash
        with self._write() as db:
            db.execute(
                "INSERT INTO outcomes (intent_id, recorded_at, tx_hash, block, block_hash, success, "
                "gas_used, effective_gas_price, fee_wei, matches, realized) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (intent_id, time.time(), tx_hash, block, block_hash, int(success), gas_used,
                 effective_gas_price, str(gas_used * effective_gas_price),
                 None if matches is None else int(matches), json.dumps(realized, sort_keys=True)),
            )  # fmt: skip
            db.execute("UPDATE attempts SET status = ? WHERE intent_id = ? AND tx_hash = ?",
                       (MINED, intent_id, tx_hash))  # fmt: skip
            db.execute(
                "UPDATE attempts SET status = ? WHERE intent_id = ? AND tx_hash != ?",
                (SUPERSEDED, intent_id, tx_hash),
            )
            db.execute(
                "UPDATE intents SET status = ?, resolved_at = ? WHERE id = ?",
                (EXECUTED if success else REVERTED, time.time(), intent_id),
            )

    def abandon(self, intent_id: int, note: str) -> None:
        """The intent can never execute (its nonce went to another transaction, or it was never sent)."""
        with self._write() as db:
            db.execute(
                "UPDATE intents SET status = ?, resolved_at = ?, note = ? WHERE id = ?",
                (ABANDONED, time.time(), note, intent_id),
            )
            db.execute(
                "UPDATE attempts SET status = ? WHERE intent_id = ? AND status != ?",
                (SUPERSEDED, intent_id, MINED),
            )

    def reopen(self, intent_id: int, note: str) -> None:
        """A reorg took the intent's transaction out of the chain: it is SENT again (its outcome is
        deleted, its attempts are broadcast again) so the next settle finds or rebroadcasts it."""
        with self._write() as db:
            db.execute("DELETE FROM outcomes WHERE intent_id = ?", (intent_id,))
            db.execute(
                "UPDATE intents SET status = ?, resolved_at = NULL, note = ? WHERE id = ?",
                (SENT, note, intent_id),
            )
            db.execute(
                "UPDATE attempts SET status = ? WHERE intent_id = ? AND status IN (?, ?)",
                (BROADCAST, intent_id, MINED, SUPERSEDED),
            )

    # --- reading ------------------------------------------------------------------------------

    def unresolved(self, chain_id: int, vault: str) -> list[Intent]:
        """Intents of this vault on this chain (not forks) that were sent and have not resolved."""
        rows = self._db.execute(
            "SELECT * FROM intents WHERE fork = 0 AND chain_id = ? AND vault = ? AND status IN (?, ?) "
            "ORDER BY id",
            (chain_id, vault, PLANNED, SENT),
        ).fetchall()
        return [_intent(r) for r in rows]

    def recent_outcomes(self, chain_id: int, vault: str, since_block: int) -> list[tuple[int, str, int, str]]:
        """(intent id, tx hash, block, block hash) of outcomes mined at or after `since_block`."""
        rows = self._db.execute(
            "SELECT o.intent_id, o.tx_hash, o.block, o.block_hash FROM outcomes o JOIN intents i "
            "ON i.id = o.intent_id WHERE i.fork = 0 AND i.chain_id = ? AND i.vault = ? AND o.block >= ? "
            "ORDER BY o.block",
            (chain_id, vault, since_block),
        ).fetchall()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    # --- whose journal, and the price observations ---------------------------------------------

    def bind(self, vault: str, chain_id: int | None) -> None:
        """Claim the journal for a book's vault (on its first use), or refuse another book's journal.

        Raises:
            BadInput: the journal belongs to another vault or chain (from its claim, or from the
                intents it holds).
        """
        row = self._db.execute("SELECT vault, chain_id FROM book").fetchone()
        owners = {(row[0], row[1])} if row else set()
        owners |= set(self._db.execute("SELECT DISTINCT vault, chain_id FROM intents WHERE fork = 0"))
        for owner_vault, owner_chain in owners:
            if owner_vault != vault or (chain_id is not None and owner_chain not in (None, chain_id)):
                raise BadInput(
                    f"journal {self.path} belongs to vault {owner_vault} on chain {owner_chain}, not to this "
                    f"book's vault {vault}: pass the book's own journal"
                )
        if row is None:
            with self._write() as db:
                db.execute("INSERT INTO book (vault, chain_id) VALUES (?, ?)", (vault, chain_id))
        elif row[1] is None and chain_id is not None:
            with self._write() as db:
                db.execute("UPDATE book SET chain_id = ?", (chain_id,))

    def add_observations(self, chain_id: int, observations: Iterable[Observation], keep_s: int) -> None:
        """Journal pairs' price observations, and forget those older than `keep_s` before the newest."""
        rows = [
            (chain_id, o.pair, o.block, o.timestamp, str(o.cumulative0), str(o.cumulative1))
            for o in observations
        ]
        if not rows:
            return
        newest = max(r[3] for r in rows)
        with self._write() as db:
            db.executemany("INSERT OR REPLACE INTO observations VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.execute(
                "DELETE FROM observations WHERE chain_id = ? AND timestamp < ?", (chain_id, newest - keep_s)
            )

    def observation_before(self, chain_id: int, pair: str, timestamp: int) -> Observation | None:
        """The pair's latest journaled observation at or before `timestamp`."""
        row = self._db.execute(
            "SELECT block, timestamp, cumulative0, cumulative1 FROM observations "
            "WHERE chain_id = ? AND pair = ? AND timestamp <= ? ORDER BY timestamp DESC, block DESC LIMIT 1",
            (chain_id, pair, timestamp),
        ).fetchone()
        if row is None:
            return None
        return Observation(pair, int(row[0]), int(row[1]), int(row[2]), int(row[3]))

    def forget_observations_after(self, chain_id: int, block: int) -> None:
        """Drop observations of blocks a reorg replaced."""
        with self._write() as db:
            db.execute("DELETE FROM observations WHERE chain_id = ? AND block > ?", (chain_id, block))

    def executed_ops(self, chain_id: int, vault: str) -> list[list[dict[str, Any]]]:
        """The realized ops of the vault's executed bundles (not forks), oldest first."""
        rows = self._db.execute(
            "SELECT o.realized FROM outcomes o JOIN intents i ON i.id = o.intent_id "
            "WHERE i.fork = 0 AND i.chain_id = ? AND i.vault = ? AND o.success = 1 ORDER BY o.block, i.id",
            (chain_id, vault),
        )
        out = []
        for (realized,) in rows:
            ops = json.loads(realized).get("ops", [])
            out.append([op for op in ops if isinstance(op, dict)])
        return out

    def executed_bundles(
        self, chain_id: int, vault: str, only: Iterable[int] | None = None
    ) -> list[ExecutedBundle]:
        """The vault's executed bundles (not forks) with their plans and realized records, oldest
        first (`only`: those of these intents)."""
        wanted = None if only is None else set(only)
        return [
            ExecutedBundle(i, h, b, json.loads(p), json.loads(r), int(f), g, None if m is None else bool(m))
            for i, h, b, p, r, f, g, m in self._db.execute(
                "SELECT i.id, o.tx_hash, o.block, i.plan, o.realized, o.fee_wei, o.gas_used, o.matches "
                f"{_EXECUTED} "
                "ORDER BY o.block, i.id",
                (chain_id, vault),
            )
            if wanted is None or i in wanted
        ]

    def executed_bundle_keys(self, chain_id: int, vault: str) -> list[tuple[int, str, int]]:
        """(intent, transaction, block) of the vault's executed bundles, oldest first: what changed
        since a cache of them was made, without reading their records."""
        rows = self._db.execute(
            f"SELECT i.id, o.tx_hash, o.block {_EXECUTED} ORDER BY o.block, i.id", (chain_id, vault)
        )
        return [(int(i), str(h), int(b)) for i, h, b in rows]

    # --- heads, baselines and controls (the dashboard's records) --------------------------------

    def add_head(self, chain_id: int, vault: str, head: HeadRow) -> None:
        """What the keeper did with a head (a reorged height is written again); old quiet heads go."""
        weights = None if head.weights is None else json.dumps(dict(head.weights), sort_keys=True)
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO heads (chain_id, vault, block, timestamp, recorded_at, action, "
                "reason, tx_hash, value, hold_value, lp_value, weights) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (chain_id, vault, head.block, head.timestamp, head.recorded_at, head.action, head.reason,
                 head.tx_hash, head.value, head.hold_value, head.lp_value, weights),
            )  # fmt: skip
            if head.block % 1000 == 0:  # now and then: the quiet heads past the last KEEP_HEADS
                db.execute(
                    "DELETE FROM heads WHERE chain_id = ? AND vault = ? AND block < ? "
                    "AND action NOT IN ('sent', 'refused', 'failed')",
                    (chain_id, vault, head.block - KEEP_HEADS),
                )

    def heads(
        self, chain_id: int, vault: str, limit: int | None = None, valued: bool = False
    ) -> list[HeadRow]:
        """Journaled heads, oldest first: the last `limit`, or all; `valued`: only those with a value."""
        where = "chain_id = ? AND vault = ?" + (" AND value IS NOT NULL" if valued else "")
        rows = self._db.execute(
            "SELECT block, timestamp, recorded_at, action, reason, tx_hash, value, hold_value, lp_value, "
            f"weights FROM heads WHERE {where} ORDER BY block DESC"
            + ("" if limit is None else f" LIMIT {int(limit)}"),
            (chain_id, vault),
        ).fetchall()
        return [
            HeadRow(b, t, r, a, why, h, v, hv, lv, None if w is None else json.loads(w))
            for b, t, r, a, why, h, v, hv, lv, w in reversed(rows)
        ]

    def head_values(self, chain_id: int, vault: str) -> list[tuple[int, int, str, str | None, str | None]]:
        """(block, timestamp, value, holding's, the never-rebalanced LP's) per valued head, oldest first."""
        return self._db.execute(
            "SELECT block, timestamp, value, hold_value, lp_value FROM heads "
            "WHERE chain_id = ? AND vault = ? AND value IS NOT NULL ORDER BY block",
            (chain_id, vault),
        ).fetchall()

    def baselines(self, chain_id: int, vault: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT holdings FROM baselines WHERE chain_id = ? AND vault = ?", (chain_id, vault)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def set_baselines(self, chain_id: int, vault: str, holdings: Mapping[str, Any]) -> None:
        """Where the baselines start: written once, kept after (the first keeper's first head)."""
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO baselines (chain_id, vault, holdings) VALUES (?, ?, ?)",
                (chain_id, vault, json.dumps(holdings, sort_keys=True)),
            )

    def add_control(self, action: str, who: str, detail: str) -> None:
        """A pause or resume from the dashboard: what, by whom (the remote address), and why."""
        with self._write() as db:
            db.execute(
                "INSERT INTO controls (at, action, who, detail) VALUES (?, ?, ?, ?)",
                (time.time(), action, who, detail),
            )

    def add_alert(self, kind: str, title: str, delivered: bool) -> None:
        """An alert the keeper raised, and whether its webhook took it."""
        with self._write() as db:
            db.execute(
                "INSERT INTO alerts (at, kind, title, delivered) VALUES (?, ?, ?, ?)",
                (time.time(), kind, title, int(delivered)),
            )

    def alerts(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT at, kind, title, delivered FROM alerts ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [{"at": at, "kind": k, "title": t, "delivered": bool(d)} for at, k, t, d in rows]

    def controls(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT at, action, who, detail FROM controls ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [{"at": at, "action": a, "who": w, "detail": d} for at, a, w, d in rows]

    # --- the vault's deposits and withdrawals (the tax ledger's other inputs) -------------------

    def add_transfers(self, chain_id: int, vault: str, rows: Iterable[Transfer], scanned_to: int) -> int:
        """Journal transfers found on chain up to block `scanned_to` (those already known are kept
        as they are, with any basis the owner gave); returns how many were new."""
        added = 0
        with self._write() as db:
            for r in rows:
                added += _insert_transfer(db, chain_id, vault, r)
            db.execute(
                "INSERT INTO transfer_scans (chain_id, vault, block) VALUES (?, ?, ?) ON CONFLICT "
                "(chain_id, vault) DO UPDATE SET block = MAX(block, excluded.block)",
                (chain_id, vault, scanned_to),
            )
        return added

    def transfers_scanned_to(self, chain_id: int, vault: str) -> int | None:
        """The last block the chain was scanned to for the vault's transfers (None: never)."""
        row = self._db.execute(
            "SELECT block FROM transfer_scans WHERE chain_id = ? AND vault = ?", (chain_id, vault)
        ).fetchone()
        return None if row is None else int(row[0])

    def replace_transfers(
        self,
        chain_id: int,
        vault: str,
        start: int,
        end: int,
        keep: set[tuple[str, int]],
        added: Iterable[Transfer],
    ) -> None:
        """A rescan of blocks start..end: forget the transfers there that it did not find again (a
        reorg took them off the chain), and add those it found new; one transaction."""
        with self._write() as db:
            mine = "chain_id = ? AND vault = ?"
            rows = db.execute(
                f"SELECT tx_hash, log_index FROM transfers WHERE {mine} AND block BETWEEN ? AND ?",
                (chain_id, vault, start, end),
            ).fetchall()
            for tx_hash, log_index in rows:
                if (tx_hash, log_index) not in keep:
                    db.execute(
                        f"DELETE FROM transfers WHERE {mine} AND tx_hash = ? AND log_index = ?",
                        (chain_id, vault, tx_hash, log_index),
                    )
            for r in added:
                _insert_transfer(db, chain_id, vault, r)

    def transfers(self, chain_id: int, vault: str) -> list[Transfer]:
        """The vault's journaled deposits and withdrawals, as the ledger's events, in chain order."""
        rows = self._db.execute(
            "SELECT tx_hash, log_index, kind, asset, amount, block, timestamp, price, source, basis, "
            "acquired_at FROM transfers WHERE chain_id = ? AND vault = ? ORDER BY block, log_index",
            (chain_id, vault),
        )
        return [
            Transfer(
                "deposit" if k == "deposit" else "withdrawal", a, int(n), Moment(b, t), h, li,
                Quote(Fraction(Decimal(p)), s), None if basis is None else Fraction(Decimal(basis)),
                None if acq is None else Moment(0, acq),  # a holding start the owner gave: no block
            )
            for h, li, k, a, n, b, t, p, s, basis, acq in rows
        ]  # fmt: skip

    def set_basis(
        self, chain_id: int, vault: str, tx_hash: str, asset: str, basis: str, acquired_at: int | None
    ) -> int:
        """The owner's basis (and holding start) for the deposits of `asset` in one transaction;
        returns how many deposits it set (0: no such deposit)."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE transfers SET basis = ?, acquired_at = ? WHERE chain_id = ? AND vault = ? "
                "AND tx_hash = ? AND asset = ? AND kind = 'deposit'",
                (basis, acquired_at, chain_id, vault, tx_hash, asset),
            )
        return cursor.rowcount

    def gas_spent_since(self, chain_id: int, vault: str, since: float) -> int:
        """Wei paid for gas since `since` (unix time) by the vault's mined bundles and the keeper's
        pokes (a poke not yet mined counts at the most it may cost; a dropped one not at all)."""
        rows = self._db.execute(
            "SELECT o.fee_wei FROM outcomes o JOIN intents i ON i.id = o.intent_id "
            "WHERE i.fork = 0 AND i.chain_id = ? AND i.vault = ? AND o.recorded_at >= ?",
            (chain_id, vault, since),
        )
        pokes = self._db.execute(
            "SELECT COALESCE(fee_wei, max_fee_wei) FROM upkeep WHERE chain_id = ? AND vault = ? "
            "AND created_at >= ? AND status != ?",
            (chain_id, vault, since, UPKEEP_DROPPED),
        )
        return sum(int(r[0]) for r in rows) + sum(int(r[0]) for r in pokes)

    # --- the keeper's other transactions (pokes) ------------------------------------------------

    def add_upkeep(
        self, chain_id: int, vault: str, keeper: str, kind: str, detail: Mapping[str, Any], *, nonce: int,
        tx_hash: str, raw: str, max_fee_wei: int,
    ) -> int:  # fmt: skip
        """Journal a signed upkeep transaction before it is broadcast (durable at return)."""
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO upkeep (created_at, chain_id, vault, keeper, kind, detail, nonce, tx_hash, raw, "
                "max_fee_wei, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (time.time(), chain_id, vault, keeper, kind, json.dumps(detail), nonce, tx_hash, raw,
                 str(max_fee_wei), UPKEEP_SENT),
            )  # fmt: skip
            return int(cursor.lastrowid or 0)

    def open_upkeep(self, chain_id: int, vault: str) -> list[Upkeep]:
        """Upkeep transactions sent and not yet mined or dropped, oldest first."""
        rows = self._db.execute(
            "SELECT id, kind, nonce, tx_hash, raw FROM upkeep "
            "WHERE chain_id = ? AND vault = ? AND status = ? ORDER BY id",
            (chain_id, vault, UPKEEP_SENT),
        )
        return [Upkeep(int(r[0]), str(r[1]), int(r[2]), str(r[3]), str(r[4])) for r in rows]

    def upkeep_unseen(self, chain_id: int, vault: str, as_of: int) -> list[str]:
        """Hashes of upkeep transactions a state at block `as_of` does not show yet: still in the
        air, or mined after it."""
        rows = self._db.execute(
            "SELECT tx_hash FROM upkeep WHERE chain_id = ? AND vault = ? AND (status = ? OR block > ?) "
            "ORDER BY id",
            (chain_id, vault, UPKEEP_SENT, as_of),
        )
        return [str(r[0]) for r in rows]

    def settle_upkeep(self, upkeep_id: int, status: str, block: int | None = None, fee_wei: int = 0) -> None:
        """An upkeep transaction mined (its block and fee) or dropped (its nonce went elsewhere)."""
        with self._write() as db:
            db.execute(
                "UPDATE upkeep SET status = ?, block = ?, fee_wei = ? WHERE id = ?",
                (status, block, str(fee_wei), upkeep_id),
            )

    def upkeep(self, chain_id: int, vault: str) -> list[dict[str, Any]]:
        """Every upkeep transaction of the vault, oldest first (for `journal` and reports)."""
        rows = self._db.execute(
            "SELECT id, created_at, kind, detail, nonce, tx_hash, status, block, fee_wei FROM upkeep "
            "WHERE chain_id = ? AND vault = ? ORDER BY id",
            (chain_id, vault),
        )
        out = []
        for r in rows:
            row = dict(r)
            row["detail"] = json.loads(row["detail"])
            row["fee_wei"] = None if row["fee_wei"] is None else int(row["fee_wei"])
            out.append(row)
        return out

    def intent_outcome(self, intent_id: int) -> tuple[int, int] | None:
        """(block, fee in wei) of an intent's outcome."""
        row = self._db.execute(
            "SELECT block, fee_wei FROM outcomes WHERE intent_id = ?", (intent_id,)
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def last_outcome_block(self, chain_id: int, vault: str) -> int | None:
        """The block of the vault's latest executed bundle (the strategy's last rebalance)."""
        row = self._db.execute(
            "SELECT MAX(o.block) FROM outcomes o JOIN intents i ON i.id = o.intent_id "
            "WHERE i.fork = 0 AND i.chain_id = ? AND i.vault = ? AND o.success = 1",
            (chain_id, vault),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def attempts(self, intent_id: int) -> list[Attempt]:
        rows = self._db.execute("SELECT * FROM attempts WHERE intent_id = ? ORDER BY id", (intent_id,))
        return [
            Attempt(
                r["id"],
                r["intent_id"],
                r["nonce"],
                r["tx_hash"],
                r["raw"],
                r["max_fee"],
                r["tip"],
                r["gas_limit"],
                r["status"],
                r["created_at"],
                r["sent_block"],
            )
            for r in rows
        ]

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest runs, newest first, each with its intents' ids, statuses and transactions."""
        rows = self._db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        out = []
        for r in rows:
            run = dict(r)
            run["intents"] = [
                {**dict(i), "tx_hashes": [a["tx_hash"] for a in self._db.execute(
                    "SELECT tx_hash FROM attempts WHERE intent_id = ? ORDER BY id", (i["id"],))]}
                for i in self._db.execute(
                    "SELECT id, status, fork, block, bundle_id FROM intents WHERE run_id = ? ORDER BY id",
                    (r["id"],))
            ]  # fmt: skip
            out.append(run)
        return out

    def run_record(self, run_id: int) -> dict[str, Any]:
        """One run with every intent, attempt (raw bytes included) and outcome, as JSON-ready data.

        Raises:
            BadInput: no run has this id.
        """
        row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise BadInput(f"journal {self.path} has no run {run_id}")
        record = dict(row)
        intents = []
        for i in self._db.execute("SELECT * FROM intents WHERE run_id = ? ORDER BY id", (run_id,)):
            intent = dict(i)
            intent["plan"] = json.loads(intent["plan"])
            intent["attempts"] = [
                dict(a)
                for a in self._db.execute(
                    "SELECT * FROM attempts WHERE intent_id = ? ORDER BY id", (i["id"],)
                )
            ]
            outcome = self._db.execute("SELECT * FROM outcomes WHERE intent_id = ?", (i["id"],)).fetchone()
            if outcome is not None:
                intent["outcome"] = {**dict(outcome), "realized": json.loads(outcome["realized"])}
            intents.append(intent)
        record["intents"] = intents
        return record

    def count(self, table: str) -> int:
        if table not in ("runs", "intents", "attempts", "outcomes"):
            raise ValueError(table)
        return int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _intent(r: sqlite3.Row) -> Intent:
    return Intent(
        id=r["id"], run_id=r["run_id"], fork=bool(r["fork"]), chain_id=r["chain_id"], vault=r["vault"],
        keeper=r["keeper"], block=r["block"], bundle_id=r["bundle_id"], deadline=r["deadline"],
        calldata=r["calldata"], plan=json.loads(r["plan"]), status=r["status"], created_at=r["created_at"],
    )  # fmt: skip


# --- recognising a journal -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Marker:
    """What says whose file an SQLite database is."""

    application_id: int
    version: int
    tables: frozenset[str]
    empty: bool  # no table, index, view or trigger at all

    @property
    def current(self) -> bool:
        """A journal of this schema version, stamped: nothing to create, migrate or stamp."""
        return self.application_id == APPLICATION_ID and self.version == SCHEMA_VERSION


def _marker(db: sqlite3.Connection) -> _Marker:
    """Read only: none of these statements writes to the file."""
    application_id = int(db.execute("PRAGMA application_id").fetchone()[0])
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    rows = db.execute("SELECT type, name FROM sqlite_master").fetchall()
    tables = frozenset(name for kind, name in rows if kind == "table")
    return _Marker(application_id, version, tables, empty=not rows)


def _recognise(path: Path, db: sqlite3.Connection) -> _Marker:
    """The file's marker when it is ours or empty (a new journal).

    Raises:
        BadInput: another application's database, or a journal of a newer ammkeeper.
    """
    marker = _marker(db)
    legacy = marker.application_id == 0 and marker.version in (1, 2) and marker.tables == TABLES
    if marker.application_id == APPLICATION_ID or legacy:
        if marker.version > SCHEMA_VERSION:
            raise BadInput(
                f"journal {path} has schema version {marker.version}; this ammkeeper knows {SCHEMA_VERSION}"
            )
        return marker
    if marker.application_id == 0 and marker.version == 0 and marker.empty:
        return marker
    raise BadInput(f"journal {path} is an SQLite file but not an ammkeeper journal; it was left unchanged")


def _probe(path: Path) -> None:
    """Refuse another application's database without SQLite's locks or WAL files touching it.

    `immutable=1` reads the main file alone, read-only: no lock, no -wal or -shm created, no
    checkpoint on close. What it misses (pages still in a -wal) the locked check in
    `Journal.open` sees; a file it cannot read is left to that check too.

    Raises:
        BadInput: the file cannot be looked at, or is an SQLite database that is not a journal.
    """
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return  # absent (created by the open), empty, or not a file (the open names the error)
    except OSError as exc:
        raise BadInput(f"journal {path} cannot be opened: {exc.strerror}") from exc
    try:
        probe = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error:
        return
    try:
        _recognise(path, probe)
    except sqlite3.Error:
        return
    finally:
        probe.close()


def _initialise(db: sqlite3.Connection, marker: _Marker) -> None:
    """Create, migrate and stamp the journal, inside the caller's transaction."""
    if marker.version == 0:
        _execute_all(db, SCHEMA)
    elif marker.version == 1:  # v2: the head an attempt was broadcast at (replacement after N blocks)
        db.execute("ALTER TABLE attempts ADD COLUMN sent_block INTEGER")
    if marker.version < 3:
        _execute_all(db, V3_TABLES)
    if marker.version < 4:
        db.execute(V4_TABLES)
    if marker.version < 5:
        _execute_all(db, V5_TABLES)
    if marker.version < 6:
        _execute_all(db, V6_TABLES)
    if marker.version != SCHEMA_VERSION:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    if marker.application_id != APPLICATION_ID:
        db.execute(f"PRAGMA application_id={APPLICATION_ID}")


def _insert_transfer(db: sqlite3.Connection, chain_id: int, vault: str, t: Transfer) -> int:
    """One transfer, unless it is journaled already (its basis kept); 1 when it was new."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO transfers (chain_id, vault, tx_hash, log_index, kind, asset, amount, block, "
        "timestamp, price, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (chain_id, vault, t.tx_hash, t.log_index, t.kind, t.asset, str(t.amount), t.at.block, t.at.timestamp,
         decimal_text(t.quote.price), t.quote.source),
    )  # fmt: skip
    return cursor.rowcount


def _execute_all(db: sqlite3.Connection, script: str) -> None:
    """Each statement of `script` in the caller's transaction (executescript would commit it)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)
