"""The durable journal: every accepted command, in order, in SQLite (WAL, synchronous=FULL).

Why commands and not state: the core is deterministic, so replaying the commands with the `now`
each was applied at rebuilds exactly the live state, and a command row is small (~100 bytes).
Why group commit: one fsync per batch instead of per command; the service acknowledges a
command only after the batch holding it is committed, so an acknowledged command survives a
power cut. Each row carries a CRC32 over (seq, at, request id, device, command), and sequence
numbers must be contiguous: a flipped bit or a missing row is reported (JournalCorrupt), never
replayed.

Snapshots (qcore.snapshot's explicit structure, stored in parts, CRC-checked, tagged with the
snapshot schema and the digest of the config parts the core reads) bound start-up time: replay
starts from the newest valid snapshot. They live in the journal file itself, so moving the file
moves them; `qserver.snapshots` writes them from its own thread and connection.

Identity: a new journal gets a random `journal_id` (meta row) and a marker file beside it
(`<journal>.id`) holding the same id. A journal whose file was deleted, emptied or replaced is
refused at start (the marker names a journal that is not there), and noticed before every commit
while running (the file's inode, and the id row read inside the commit's transaction): the
service stops instead of acknowledging into a file nobody will read again.

Compaction (archiving old days) may delete the rows up to a snapshot's row and record the first
row kept as meta `first_seq`: replay then needs a snapshot at or after `first_seq - 1`.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import struct
import threading
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from qserver.errors import JournalCorrupt, JournalError, JournalGone

_LOG = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq    INTEGER PRIMARY KEY,
    at     REAL    NOT NULL,
    rid    TEXT    NOT NULL,
    device TEXT    NOT NULL,
    cmd    BLOB    NOT NULL,
    crc    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    seq    INTEGER PRIMARY KEY,
    schema TEXT    NOT NULL,
    config TEXT    NOT NULL,
    parts  INTEGER NOT NULL,
    crc    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshot_parts (
    seq  INTEGER NOT NULL,
    part INTEGER NOT NULL,
    data BLOB    NOT NULL,
    PRIMARY KEY (seq, part)
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
DROP TABLE IF EXISTS snapshot;
"""
REPAIR_HINT = "stop the service and run `qcall journal repair` (it keeps the damaged file aside)"


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """One stored snapshot: as of row `seq`, of a snapshot `schema`, under a config `config`."""

    seq: int
    schema: str
    config: str
    parts: int
    crc: int


def parts_crc(seq: int, schema: str, config: str, parts: list[bytes]) -> int:
    crc = zlib.crc32(f"{seq}:{schema}:{config}:{len(parts)}".encode())
    for p in parts:
        crc = zlib.crc32(p, crc)
    return crc


def _header_id(journal_id: str) -> tuple[int, int]:
    """The journal id as the two signed 32-bit header fields (application_id, user_version)."""
    raw = bytes.fromhex(journal_id[:16].ljust(16, "0"))
    return int.from_bytes(raw[:4], "big", signed=True), int.from_bytes(raw[4:], "big", signed=True)


def marker_path(path: Path) -> Path:
    """The marker beside a journal: it says which journal (id) belongs at that path."""
    return path.with_name(path.name + ".id")


def read_marker(path: Path) -> str:
    try:
        data = json.loads(marker_path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ""
    except (OSError, ValueError) as err:
        raise JournalError(f"{marker_path(path)}: unreadable journal marker: {err}") from err
    jid = data.get("journal_id") if isinstance(data, dict) else None
    if not isinstance(jid, str) or not jid:
        raise JournalError(f"{marker_path(path)}: the journal marker names no journal")
    return jid


def write_marker(path: Path, journal_id: str) -> None:
    """Atomically and durably (a marker lost in a power cut would un-protect the journal)."""
    target = marker_path(path)
    tmp = target.with_name(target.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"journal_id": journal_id, "journal": path.name}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as err:
        raise JournalError(f"{target}: cannot write the journal marker: {err}") from err


@dataclass(frozen=True, slots=True)
class Row:
    """One journaled command."""

    seq: int
    at: float
    rid: str
    device: str
    cmd: bytes


def row_crc(seq: int, at: float, rid: str, device: str, cmd: bytes) -> int:
    head = struct.pack("<qd", seq, at)
    return zlib.crc32(cmd, zlib.crc32(f"{rid}\x00{device}".encode(), zlib.crc32(head)))


def _private(path: Path) -> None:
    """The journal holds who was served when, by whom, with customers' keyed hashes and masked
    names: owner only (0600). SQLite gives its -wal and -shm files the main file's mode."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
        _LOG.warning("%s was readable by others; now mode 0600", path)


class Journal:
    """Append-only command log with group commit, verified replay and snapshots."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            expected = read_marker(self.path)
            if expected and (not self.path.exists() or self.path.stat().st_size == 0):
                raise JournalGone(self._missing(expected))  # before SQLite creates anything there
            _private(self.path)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except JournalError:
            raise
        except (OSError, sqlite3.Error) as err:
            raise JournalError(f"{self.path}: cannot open journal: {err}") from err
        try:
            if expected and not self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
                raise JournalGone(self._missing(expected))
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(SCHEMA)
            row = self.db.execute("SELECT max(seq), count(*) FROM journal").fetchone()
            self.journal_id = self._identify(expected, row[1])
            self.first_seq = int(self.meta("first_seq", "1"))
            st = os.stat(self.path)
        except sqlite3.DatabaseError as err:
            self.db.close()
            raise JournalCorrupt(f"{self.path}: the journal file is damaged ({err}); {REPAIR_HINT}") from err
        except BaseException:
            self.db.close()
            raise
        self._inode = (st.st_dev, st.st_ino)
        self._fd = os.open(self.path, os.O_RDONLY)
        # Held around every write transaction, ours and the snapshot writer's (qserver.snapshots):
        # a commit waits for at most one snapshot part, handed over at once instead of by SQLite's
        # busy handler, which sleeps in growing steps (1, 2, 5, 10 … ms).
        self.write_lock = threading.Lock()
        self.last_seq: int = row[0] or 0
        self._staged: dict[str, str] = {}

    def _identify(self, expected: str, rows: int) -> str:
        """This file's journal id, checked against the marker; a new journal gets one of each."""
        jid = self.meta("journal_id")
        if jid and expected and jid != expected:
            raise JournalGone(f"{self.path} is journal {jid}, but {marker_path(self.path)} says journal "
                              f"{expected} belongs here: the file was replaced. Put the right file "
                              "back, or remove the marker to adopt this one on purpose.")
        if not jid and expected:
            raise JournalGone(self._missing(expected))
        if not jid:
            jid = uuid.uuid4().hex
            if rows:
                _LOG.info("%s: journal from before identities; naming it %s", self.path, jid)
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('journal_id', ?)", (jid,))
        app, user = _header_id(jid)
        if self.db.execute("PRAGMA application_id").fetchone()[0] != app:
            # The id in the file's own header too, where a direct read finds it (check_identity).
            self.db.execute(f"PRAGMA application_id = {app}")
            self.db.execute(f"PRAGMA user_version = {user}")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if not expected:
            write_marker(self.path, jid)
        return jid

    def _missing(self, expected: str) -> str:
        return (f"{self.path} is missing or empty, but {marker_path(self.path)} says journal {expected} "
                "with its rows was here: the file was deleted, emptied or replaced. Restore it from a "
                "backup (or remove the marker to start an empty journal on purpose); nothing was started.")

    def check_identity(self) -> None:
        """Raise JournalGone if the file at our path is no longer the one we write (deleted, renamed
        away or replaced): SQLite would go on writing into the old inode without a word."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise JournalGone(f"{self.path} was deleted while the service ran; nothing more is "
                              "acknowledged. Restore it (or its backup) and restart.") from None
        except OSError as err:
            raise JournalGone(f"{self.path}: cannot check the journal file: {err}") from err
        if (st.st_dev, st.st_ino) != self._inode:
            raise JournalGone(f"{self.path} was replaced by another file while the service ran; "
                              "nothing more is acknowledged. Put the journal back and restart.")
        head = os.pread(self._fd, 12, 60)  # user_version (60) and application_id (68)
        if len(head) < 12 or (int.from_bytes(head[8:], "big", signed=True),
                              int.from_bytes(head[:4], "big", signed=True)) != _header_id(self.journal_id):
            raise JournalGone(f"{self.path} was overwritten (it no longer holds journal {self.journal_id}) "
                              "while the service ran; nothing more is acknowledged.")

    def close(self) -> None:
        """Safe to call twice."""
        db, self.db = self.db, None  # type: ignore[assignment]
        if db is not None:
            db.close()
            os.close(self._fd)

    # ------------------------------------------------------------------ writing

    def append(self, rows: list[tuple[float, str, str, bytes]]) -> int:
        """Write (at, request id, device, command JSON) rows in ONE transaction, fsynced; returns last seq.

        Nothing is visible to a reader, and nothing may be acknowledged, until this returns.
        """
        if not rows:
            return self.last_seq
        seq = self.last_seq
        out = []
        for at, rid, device, cmd in rows:
            seq += 1
            out.append((seq, at, rid, device, cmd, row_crc(seq, at, rid, device, cmd)))
        self.check_identity()
        staged, self._staged = self._staged, {}
        try:
            with self.write_lock:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany("INSERT INTO journal VALUES (?,?,?,?,?,?)", out)
                self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", staged.items())
                self.db.execute("COMMIT")
        except sqlite3.Error as err:
            self._rollback()
            self._staged = staged | self._staged
            raise JournalError(f"{self.path}: journal write failed: {err}") from err
        self.last_seq = seq
        return seq

    def stage_meta(self, key: str, value: str) -> None:
        """Remember a meta value to write with the next `append` (same transaction, no fsync of
        its own) or the next `flush_meta`. For marks whose loss only repeats work, like the
        service's `published_seq` (losing it republishes events: at least once, never lost)."""
        self._staged[key] = value

    def flush_meta(self) -> None:
        """Write staged meta values now (when the service is idle or stopping)."""
        staged, self._staged = self._staged, {}
        for key, value in staged.items():
            self.set_meta(key, value)

    def _rollback(self) -> None:
        try:
            self.db.execute("ROLLBACK")
        except sqlite3.Error:
            _LOG.debug("rollback after failed write also failed", exc_info=True)

    def set_meta(self, key: str, value: str) -> None:
        try:
            with self.write_lock:
                self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
        except sqlite3.Error as err:
            raise JournalError(f"{self.path}: cannot write meta {key}: {err}") from err

    def meta(self, key: str, default: str = "") -> str:
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError as err:
            raise JournalCorrupt(f"{self.path}: the journal file is damaged ({err}); {REPAIR_HINT}") from err
        return str(row[0]) if row else default

    # ------------------------------------------------------------------ reading

    def rows(self, after: int = 0) -> Iterator[Row]:
        """Every row after `after`, verified: CRC and contiguous sequence numbers."""
        if after < self.first_seq - 1:
            raise JournalCorrupt(f"{self.path}: rows before {self.first_seq} were archived; replay "
                                 f"needs a snapshot at row {self.first_seq - 1} or later", after + 1)
        expect = after + 1
        try:
            cur = self.db.execute("SELECT seq, at, rid, device, cmd, crc FROM journal WHERE seq > ? "
                                  "ORDER BY seq", (after,))
        except sqlite3.DatabaseError as err:
            raise JournalCorrupt(f"{self.path}: the journal file is damaged ({err}); {REPAIR_HINT}",
                                 expect) from err
        try:
            while True:
                try:
                    item = cur.fetchone()
                except sqlite3.DatabaseError as err:
                    raise JournalCorrupt(f"{self.path}: the journal file is damaged near row {expect} "
                                         f"({err}); {REPAIR_HINT}", expect) from err
                if item is None:
                    return
                seq, at, rid, device, cmd, crc = item
                if seq != expect:
                    raise JournalCorrupt(f"{self.path}: journal rows {expect}..{seq - 1} are missing; "
                                         f"{REPAIR_HINT}", expect)
                if not isinstance(cmd, bytes) or row_crc(seq, at, rid, device, cmd) != crc:
                    raise JournalCorrupt(f"{self.path}: journal row {seq} fails its checksum; {REPAIR_HINT}",
                                         seq)
                yield Row(seq, at, rid, device, cmd)
                expect += 1
        finally:
            cur.close()

    def verify(self) -> int:
        """Check every row kept (from `first_seq`); returns how many there are (raises JournalCorrupt
        at the first bad one)."""
        n = 0
        for _ in self.rows(self.first_seq - 1):
            n += 1
        return n

    def reset_rows(self) -> list[tuple[int, bytes]]:
        """(seq, command) of every `reset_day` row (accepted or not), oldest first: day boundaries."""
        try:
            return self.db.execute("SELECT seq, cmd FROM journal WHERE seq >= ? AND CAST(cmd AS TEXT) LIKE ? ORDER BY seq",
                                   (self.first_seq, '%"op":"reset_day"%')).fetchall()
        except sqlite3.DatabaseError as err:
            raise JournalCorrupt(f"{self.path}: the journal file is damaged: {err}") from err

    def rows_between(self, first: int, last: int | None = None) -> Iterator[Row]:
        """Verified rows first..last (inclusive; to the end when `last` is None)."""
        for row in self.rows(first - 1):
            if last is not None and row.seq > last:
                return
            yield row

    def compact(self, before: int) -> int:
        """Delete the rows before `before` and the snapshots older than row `before - 1`; record
        `first_seq`. The caller (qcall.history.compact) cuts only at a day's `reset_day` row whose
        earlier days are archived, and only where a usable snapshot at or after `before - 1` is
        stored and confirmed published, so start-up never needs a row that is gone. Returns how
        many rows went. SQLite reuses the freed pages: the file does not grow with the days."""
        if before <= self.first_seq:
            return 0
        if before > self.last_seq + 1:
            raise JournalError(f"{self.path}: cannot compact past the last row ({self.last_seq})")
        if not any(info.seq >= before - 1 for info in self.snapshots()):
            raise JournalError(f"{self.path}: no snapshot at row {before - 1} or later; not compacting")
        with self.write_lock:
            try:
                self.db.execute("BEGIN IMMEDIATE")
                n = self.db.execute("DELETE FROM journal WHERE seq < ?", (before,)).rowcount
                self.db.execute("DELETE FROM snapshot_parts WHERE seq < ?", (before - 1,))
                self.db.execute("DELETE FROM snapshots WHERE seq < ?", (before - 1,))
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('first_seq', ?)", (str(before),))
                self.db.execute("COMMIT")
            except sqlite3.Error as err:
                self._rollback()
                raise JournalError(f"{self.path}: compaction failed: {err}") from err
        self.first_seq = before
        _LOG.info("journal %s: %d rows of archived days compacted; rows now start at %d", self.path, n, before)
        return n

    # ------------------------------------------------------------------ snapshots

    def snapshots(self) -> list[SnapshotInfo]:
        """Stored snapshots, newest first (their parts are read and checked by `snapshot_parts`)."""
        try:
            found = self.db.execute("SELECT seq, schema, config, parts, crc FROM snapshots "
                                    "ORDER BY seq DESC").fetchall()
        except sqlite3.Error as err:
            _LOG.error("snapshots cannot be read (%s); replaying the whole journal", err)
            return []
        out = []
        for seq, schema, config, parts, crc in found:
            if seq > self.last_seq:
                _LOG.error("snapshot at row %d is ahead of the journal (%d); not used", seq, self.last_seq)
                continue
            out.append(SnapshotInfo(seq, str(schema), str(config), int(parts), int(crc)))
        return out

    def snapshot_parts(self, info: SnapshotInfo) -> list[bytes] | None:
        """The parts of one snapshot, or None (logged) if any is missing or fails the checksum."""
        try:
            rows = self.db.execute("SELECT data FROM snapshot_parts WHERE seq = ? ORDER BY part",
                                   (info.seq,)).fetchall()
        except sqlite3.Error as err:
            _LOG.error("snapshot at row %d cannot be read (%s); trying an older one", info.seq, err)
            return None
        parts = [r[0] for r in rows]
        if len(parts) != info.parts or not all(isinstance(p, bytes) for p in parts) \
                or parts_crc(info.seq, info.schema, info.config, parts) != info.crc:
            _LOG.error("snapshot at row %d is damaged; falling back to an older one", info.seq)
            return None
        return parts
