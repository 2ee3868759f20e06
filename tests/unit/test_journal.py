"""The journal on a real SQLite file: schema, durability settings, the life of an intent, run records."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from bot.core.errors import BadInput, KeeperError, Pending, RpcError
from bot.core.outcome import Receipt
from bot.core.valuation import Observation
from bot.tx.journal import (
    ABANDONED,
    APPLICATION_ID,
    EXECUTED,
    KEEP_HEADS,
    SCHEMA,
    SCHEMA_VERSION,
    SENT,
    UPKEEP_DROPPED,
    UPKEEP_MINED,
    HeadRow,
    Journal,
    JournalError,
    default_path,
)

VAULT = "0x" + "11" * 20
KEEPER = "0x" + "22" * 20


def _intent(journal: Journal, run: int, bundle: str = "0x" + "ab" * 32, fork: bool = False) -> int:
    return journal.add_intent(
        run, fork=fork, chain_id=31337, vault=VAULT, keeper=KEEPER, block=7, block_hash="0x" + "cd" * 32,
        bundle_id=bundle, deadline=1_000, calldata="0x00", plan={"plan": {"ops": []}, "big": str(2**200)},
    )  # fmt: skip


def test_a_new_journal_is_wal_and_synchronous_full_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "book.journal.sqlite"
    with Journal.open(path) as journal:
        run = journal.start_run("rebalance", None)
        journal.end_run(run, "done", "ok")
        assert journal._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert journal._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with Journal.open(path) as again:
        assert [r["status"] for r in again.runs()] == ["done"]


def test_the_default_journal_sits_beside_its_book(tmp_path: Path) -> None:
    assert default_path(tmp_path / "book.toml") == tmp_path / "book.journal.sqlite"


def test_a_foreign_sqlite_file_or_a_non_database_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "other.sqlite"
    with closing(sqlite3.connect(foreign)) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(BadInput, match="not an ammkeeper journal"):
        Journal.open(foreign)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(BadInput, match="not usable"):
        Journal.open(junk)
    with pytest.raises(BadInput, match="cannot be opened"):
        Journal.open(tmp_path / "missing-dir" / "j.sqlite")


def _plain(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")


def _our_version(db: sqlite3.Connection) -> None:  # another application that also counts to 2
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    db.execute("PRAGMA user_version = 2")


def _newer_version(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    db.execute("PRAGMA user_version = 7")


def _wal(db: sqlite3.Connection) -> None:  # already in WAL mode itself
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")


def _one_of_our_tables(db: sqlite3.Connection) -> None:  # a table named like ours is not our schema
    db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY)")
    db.execute("PRAGMA user_version = 2")


@pytest.mark.parametrize(
    "make", [_plain, _our_version, _newer_version, _wal, _one_of_our_tables],
    ids=["tables", "user-version-2", "user-version-7", "wal", "one-table-named-runs"],
)  # fmt: skip
def test_a_foreign_database_is_refused_and_left_exactly_as_it_was(
    tmp_path: Path, make: Callable[[sqlite3.Connection], None]
) -> None:
    foreign = tmp_path / "app.db"
    with closing(sqlite3.connect(foreign, isolation_level=None)) as db:
        make(db)
        db.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.execute("INSERT INTO notes (body) VALUES ('keep me')")
    mode = _journal_mode(foreign)
    before = foreign.read_bytes()
    with pytest.raises(BadInput, match=rf"^journal {foreign} is an SQLite file but not an ammkeeper journal"):
        Journal.open(foreign)
    assert foreign.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["app.db"]  # no -wal, -shm or -journal left
    assert _journal_mode(foreign) == mode


def _journal_mode(path: Path) -> str:
    """The journal mode an SQLite file is in, read from its header (reading it with SQLite may change it)."""
    header = path.read_bytes()[:20]
    return "wal" if header[18:20] == b"\x02\x02" else "rollback"


def test_a_junk_file_is_refused_without_a_change(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    with pytest.raises(BadInput, match=rf"^journal {junk} is not usable"):
        Journal.open(junk)
    assert junk.read_bytes() == b"SQLite format 3\x00" + b"\xff" * 200
    assert [p.name for p in tmp_path.iterdir()] == ["junk.sqlite"]


def test_an_empty_file_becomes_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    path.touch()
    with Journal.open(path) as journal:
        assert journal._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert journal.count("runs") == 0
    with Journal.open(path) as again:
        assert again.count("intents") == 0


def test_a_version_1_journal_is_recognised_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    v1 = SCHEMA.replace("    error        TEXT,\n    sent_block   INTEGER\n", "    error        TEXT\n")
    assert v1 != SCHEMA
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.executescript(f"BEGIN; {v1} PRAGMA user_version = 1; COMMIT;")
    with Journal.open(path) as journal:
        run = journal.start_run("rebalance", None)
        intent = _intent(journal, run)
        journal.add_attempt(intent, nonce=0, tx_hash="0xaa", raw="0x00", max_fee=1, tip=1, gas_limit=1)
        assert journal.attempts(intent)[0].sent_block is None
        assert journal._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert journal._db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_a_journal_whose_parent_is_a_file_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("x")
    path = tmp_path / "not-a-dir" / "j.sqlite"
    with pytest.raises(BadInput, match=rf"^journal {path} cannot be opened") as caught:
        Journal.open(path)
    assert "\n" not in str(caught.value)


def test_a_lock_file_that_cannot_be_opened_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    lock = tmp_path / "j.sqlite.lock"
    lock.mkdir()  # open() of the lock fails with IsADirectoryError, as a read-only directory would
    refusal = rf"^journal lock {lock} cannot be opened: Is a directory$"
    with Journal.open(path) as journal, pytest.raises(BadInput, match=refusal), journal.exclusive():
        pytest.fail("the lock was not taken")
    assert lock.is_dir()


def test_a_second_exclusive_run_is_pending(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite") as first, Journal.open(tmp_path / "j.sqlite") as second:
        with (
            first.exclusive(),
            pytest.raises(Pending, match="another ammkeeper run holds"),
            second.exclusive(),
        ):
            pytest.fail("two runs held the lock")
        with second.exclusive():
            pass


def test_a_value_too_large_for_sqlite_is_a_journal_error_and_nothing_is_written(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite") as journal:
        run = journal.start_run("rebalance", None)
        with pytest.raises(JournalError, match=r"cannot be written: .*too large"):
            journal.add_intent(
                run, fork=False, chain_id=1, vault=VAULT, keeper=KEEPER, block=7, block_hash="0x00",
                bundle_id="0x01", deadline=2**63, calldata="0x00", plan={},
            )  # fmt: skip
        assert journal.count("intents") == 0
        journal.end_run(run, "done")  # the journal is still usable: no transaction left open


def test_an_intent_lives_from_planned_to_sent_to_executed(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite") as journal:
        run = journal.start_run("rebalance", None)
        intent = _intent(journal, run)
        assert [i.id for i in journal.unresolved(31337, VAULT)] == [intent]
        attempt = journal.add_attempt(
            intent, nonce=3, tx_hash="0xaa", raw="0xf00d", max_fee=10, tip=1, gas_limit=9
        )
        (pending,) = journal.unresolved(31337, VAULT)
        assert pending.status == SENT and pending.plan["big"] == str(2**200)
        assert journal.attempts(intent)[0].raw == "0xf00d"
        journal.mark_attempt(attempt, "broadcast")
        replacement = journal.add_attempt(
            intent, nonce=3, tx_hash="0xbb", raw="0xbeef", max_fee=12, tip=2, gas_limit=9
        )
        mined = Receipt(
            tx_hash="0xbb", block=8, block_hash="0x01", success=True, gas_used=100, effective_gas_price=7
        )
        journal.add_outcome(intent, mined, matches=True, realized={"ops": []})
        assert journal.unresolved(31337, VAULT) == []
        record = journal.run_record(run)
        (i,) = record["intents"]
        assert i["status"] == EXECUTED
        assert {a["tx_hash"]: a["status"] for a in i["attempts"]} == {"0xaa": "superseded", "0xbb": "mined"}
        assert i["outcome"]["fee_wei"] == "700" and i["outcome"]["matches"] == 1
        assert replacement > attempt


def test_abandoned_and_fork_intents_are_not_pending_and_bundle_ids_are_unique(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite") as journal:
        run = journal.start_run("dry-run", None)
        _intent(journal, run, fork=True)
        assert journal.unresolved(31337, VAULT) == []
        real = _intent(journal, run, bundle="0x" + "01" * 32)
        journal.abandon(real, "nonce used")
        assert journal.unresolved(31337, VAULT) == []
        assert journal.run_record(run)["intents"][1]["status"] == ABANDONED
        with pytest.raises(JournalError, match=r"UNIQUE constraint failed: intents\.bundle_id"):
            _intent(journal, run, bundle="0x" + "01" * 32)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (BadInput("weights sum to 0.9"), "refused"),
        (RpcError("eth_chainId to http://127.0.0.1:1 failed"), "refused"),
        (KeeperError("bundle reverts"), "failed"),
        (Pending("waiting for 0xaa"), "waiting"),
        (KeyboardInterrupt(), "interrupted"),
    ],
)
def test_a_run_record_says_how_the_run_ended(tmp_path: Path, error: BaseException, status: str) -> None:
    with Journal.open(tmp_path / "j.sqlite") as journal:
        with pytest.raises(type(error)), journal.recording("rebalance", tmp_path / "book.toml"):
            raise error
        (run,) = journal.runs()
        assert run["status"] == status
        assert run["message"] == (str(error) if status != "interrupted" else "interrupted")
        assert run["ended_at"] is not None and run["book_sha256"] is None  # no book file there


def test_bad_input_after_an_intent_is_a_failed_run_not_a_refused_one(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite") as journal:
        with pytest.raises(RpcError), journal.recording("rebalance") as record:
            _intent(journal, record.id)
            raise RpcError("receipt lookup timed out")
        assert journal.runs()[0]["status"] == "failed"


def test_a_clean_run_keeps_the_status_it_set(tmp_path: Path) -> None:
    book = tmp_path / "book.toml"
    book.write_text("x = 1\n")
    with Journal.open(tmp_path / "j.sqlite") as journal:
        with journal.recording("rebalance", book) as record:
            record.status, record.message = "held", "inside bands"
        (run,) = journal.runs()
        assert (run["status"], run["message"]) == ("held", "inside bands")
        assert run["book_sha256"] == hashlib.sha256(b"x = 1\n").hexdigest()
        assert journal.count("runs") == 1 and journal.count("intents") == 0


def test_a_journal_belongs_to_one_vault_and_refuses_another_books(tmp_path: Path) -> None:
    """`rebalance --journal <another book's journal>` used to send and record into it."""
    other = "0x" + "77" * 20
    with Journal.open(tmp_path / "j.sqlite") as journal:
        journal.bind(VAULT, 31337)
        journal.bind(VAULT, 31337)  # the same book again: fine
        with pytest.raises(BadInput, match=f"belongs to vault {VAULT} on chain 31337"):
            journal.bind(other, 31337)
        with pytest.raises(BadInput, match="belongs to vault"):
            journal.bind(VAULT, 1)  # the same vault address on another chain is another book
    # a journal from before the claim is known by its intents
    with Journal.open(tmp_path / "old.sqlite") as journal:
        _intent(journal, journal.start_run("rebalance", None))
        journal._db.execute("DELETE FROM book")
        with pytest.raises(BadInput, match="belongs to vault"):
            journal.bind(other, 31337)


def test_price_observations_are_journaled_found_at_or_before_a_time_and_forgotten_when_old(
    tmp_path: Path,
) -> None:
    pair = "0x" + "a1" * 20
    big = 2**255 + 12345  # cumulatives are uint256: kept exactly

    def seen(block: int) -> Observation:
        return Observation(pair, block, 1_000 + 12 * block, big + block, block)

    with Journal.open(tmp_path / "j.sqlite") as journal:
        journal.add_observations(31337, [seen(b) for b in range(0, 100, 10)], keep_s=1_000)
        assert journal.observation_before(31337, pair, 1_000 + 12 * 55) == seen(50)
        assert journal.observation_before(31337, pair, 999) is None
        assert journal.observation_before(1, pair, 10**9) is None  # another chain's are not ours
        # the newest is at 3,400 s: what is more than 1,500 s older (blocks before 75) is forgotten
        journal.add_observations(31337, [seen(200)], keep_s=1_500)
        assert journal.observation_before(31337, pair, 1_000 + 12 * 110) == seen(90)
        assert journal.observation_before(31337, pair, 1_000 + 12 * 79) is None


def test_pokes_are_journaled_before_broadcast_counted_in_the_days_gas_and_seen_by_block(
    tmp_path: Path,
) -> None:
    with Journal.open(tmp_path / "j.sqlite") as journal:
        vault = "0x" + "11" * 20
        first = journal.add_upkeep(1, vault, "0xkeeper", "poke", {"pairs": ["A/B"]}, nonce=3, tx_hash="0xaa",
                                   raw="0x02", max_fee_wei=900)  # fmt: skip
        assert [u.tx_hash for u in journal.open_upkeep(1, vault)] == ["0xaa"]
        assert journal.upkeep_unseen(1, vault, as_of=100) == ["0xaa"]  # in the air: no other poke
        assert journal.gas_spent_since(1, vault, 0) == 900  # at the most it may cost until mined
        journal.settle_upkeep(first, UPKEEP_MINED, block=105, fee_wei=400)
        assert journal.open_upkeep(1, vault) == [] and journal.gas_spent_since(1, vault, 0) == 400
        assert journal.upkeep_unseen(1, vault, as_of=104) == ["0xaa"]  # mined after that state
        assert journal.upkeep_unseen(1, vault, as_of=105) == []
        second = journal.add_upkeep(1, vault, "0xkeeper", "poke", {}, nonce=4, tx_hash="0xbb", raw="0x02",
                                    max_fee_wei=700)  # fmt: skip
        journal.settle_upkeep(second, UPKEEP_DROPPED)
        assert journal.gas_spent_since(1, vault, 0) == 400  # a dropped poke cost nothing
        assert [r["status"] for r in journal.upkeep(1, vault)] == ["mined", "dropped"]


def test_heads_are_journaled_and_quiet_ones_past_the_last_keep_heads_go(tmp_path: Path) -> None:
    vault = "0x" + "ab" * 20
    last = KEEP_HEADS + 1_000  # a multiple of 1,000: writing it prunes
    with Journal.open(tmp_path / "j.sqlite") as journal:
        for n in (5, 6, 999, 1_000, 2_001, last - 1, last):
            action = "sent" if n == 5 else "hold"
            value = f"{n}.5" if n % 2 == 0 else None
            journal.add_head(
                1, vault, HeadRow(n, 1_000 + n, 0.0, action, "why", None, value, value, value, None)
            )
        # quiet heads older than the last KEEP_HEADS went; the one that sent stays
        assert [h.block for h in journal.heads(1, vault)] == [5, 1_000, 2_001, last - 1, last]
        assert [v[0] for v in journal.head_values(1, vault)] == [1_000, last]
        assert [h.block for h in journal.heads(1, vault, limit=2)] == [last - 1, last]
        # a reorged height is written again, not twice
        journal.add_head(1, vault, HeadRow(last, 9, 0.0, "skipped", "reorg"))
        assert [(h.block, h.action) for h in journal.heads(1, vault, limit=1)] == [(last, "skipped")]


def test_baselines_are_set_once_and_controls_and_alerts_are_kept_newest_first(tmp_path: Path) -> None:
    vault = "0x" + "ab" * 20
    with Journal.open(tmp_path / "j.sqlite") as journal:
        assert journal.baselines(1, vault) is None
        journal.set_baselines(1, vault, {"block": 1})
        journal.set_baselines(1, vault, {"block": 2})
        assert journal.baselines(1, vault) == {"block": 1}
        journal.add_control("pause", "127.0.0.1", "looking")
        journal.add_control("resume", "127.0.0.1", "")
        journal.add_alert("failure", "reorg", delivered=False)
        assert [c["action"] for c in journal.controls()] == ["resume", "pause"]
        assert journal.alerts() == [{"at": journal.alerts()[0]["at"], "kind": "failure", "title": "reorg",
                                     "delivered": False}]  # fmt: skip
