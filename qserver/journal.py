"""The durable journal: every accepted command, in order, in SQLite (WAL, synchronous=FULL).

Why commands and not state: the core is deterministic, so replaying the commands with the `now`
each was applied at rebuilds exactly the live state, and a command row is small (~100 bytes).
Why group commit: one fsync per batch instead of per command; the service acknowledges a
command only after the batch holding it is committed, so an acknowledged command survives a
power cut. Each row carries a CRC32 over (seq, at, request id, device, command), and sequence
numbers must be contiguous: a flipped bit or a missing row is reported (JournalCorrupt), never
replayed.

Snapshots (pickled core state, also CRC-checked, tagged with the code and config versions) bound
start-up time: replay starts from the newest valid snapshot.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from qserver.errors import JournalCorrupt, JournalError

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
CREATE TABLE IF NOT EXISTS snapshot (
    seq     INTEGER PRIMARY KEY,
    version TEXT    NOT NULL,
    state   BLOB    NOT NULL,
    crc     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


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


class Journal:
    """Append-only command log with group commit, verified replay and snapshots."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as err:
            raise JournalError(f"{self.path}: cannot open journal: {err}") from err
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(SCHEMA)
            row = self.db.execute("SELECT max(seq) FROM journal").fetchone()
        except sqlite3.DatabaseError as err:
            self.db.close()
            raise JournalCorrupt(f"{self.path}: the journal file is damaged: {err}") from err
        self.last_seq: int = row[0] or 0
        self._staged: dict[str, str] = {}

    def close(self) -> None:
        """Safe to call twice."""
        db, self.db = self.db, None  # type: ignore[assignment]
        if db is not None:
            db.close()

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
        staged, self._staged = self._staged, {}
        try:
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
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
        except sqlite3.Error as err:
            raise JournalError(f"{self.path}: cannot write meta {key}: {err}") from err

    def meta(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    # ------------------------------------------------------------------ reading

    def rows(self, after: int = 0) -> Iterator[Row]:
        """Every row after `after`, verified: CRC and contiguous sequence numbers."""
        expect = after + 1
        try:
            cur = self.db.execute("SELECT seq, at, rid, device, cmd, crc FROM journal WHERE seq > ? "
                                  "ORDER BY seq", (after,))
        except sqlite3.DatabaseError as err:
            raise JournalCorrupt(f"{self.path}: the journal file is damaged: {err}", expect) from err
        try:
            while True:
                try:
                    item = cur.fetchone()
                except sqlite3.DatabaseError as err:
                    raise JournalCorrupt(f"{self.path}: the journal file is damaged near row {expect}: "
                                         f"{err}", expect) from err
                if item is None:
                    return
                seq, at, rid, device, cmd, crc = item
                if seq != expect:
                    raise JournalCorrupt(f"{self.path}: journal rows {expect}..{seq - 1} are missing", expect)
                if not isinstance(cmd, bytes) or row_crc(seq, at, rid, device, cmd) != crc:
                    raise JournalCorrupt(f"{self.path}: journal row {seq} fails its checksum", seq)
                yield Row(seq, at, rid, device, cmd)
                expect += 1
        finally:
            cur.close()

    def verify(self) -> int:
        """Check every row; returns how many there are (raises JournalCorrupt at the first bad one)."""
        n = 0
        for _ in self.rows():
            n += 1
        return n

    # ------------------------------------------------------------------ snapshots

    def save_snapshot(self, seq: int, version: str, state: bytes, keep: int = 3) -> None:
        """Store the core state as of row `seq`; keep the newest `keep` snapshots."""
        crc = zlib.crc32(state, zlib.crc32(f"{seq}:{version}".encode()))
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT OR REPLACE INTO snapshot VALUES (?,?,?,?)", (seq, version, state, crc))
            self.db.execute("DELETE FROM snapshot WHERE seq NOT IN "
                            "(SELECT seq FROM snapshot ORDER BY seq DESC LIMIT ?)", (keep,))
            self.db.execute("COMMIT")
        except sqlite3.Error as err:
            self._rollback()
            raise JournalError(f"{self.path}: snapshot write failed: {err}") from err

    def snapshots(self, version: str) -> Iterator[tuple[int, bytes]]:
        """Valid snapshots of this version, newest first; bad ones are reported and skipped."""
        try:
            found = self.db.execute("SELECT seq, version, state, crc FROM snapshot ORDER BY seq DESC").fetchall()
        except sqlite3.Error as err:
            _LOG.error("snapshots cannot be read (%s); replaying the whole journal", err)
            return
        for seq, ver, state, crc in found:
            if not isinstance(state, bytes):
                _LOG.error("snapshot at row %d is damaged; falling back to an older one", seq)
                continue
            if ver != version:
                _LOG.info("snapshot at row %d is from another version (%s); not used", seq, ver)
                continue
            if zlib.crc32(state, zlib.crc32(f"{seq}:{ver}".encode())) != crc:
                _LOG.error("snapshot at row %d fails its checksum; falling back to an older one", seq)
                continue
            if seq > self.last_seq:
                _LOG.error("snapshot at row %d is ahead of the journal (%d); not used", seq, self.last_seq)
                continue
            yield seq, state

    # ------------------------------------------------------------------ repair

    def cut_from(self, seq: int) -> Path:
        """Remove rows >= seq after copying the whole file aside; returns the backup's path.

        For a person who has read the report and decided: what follows a corrupt row cannot be
        trusted, what precedes it can.
        """
        backup = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            shutil.copy2(self.path, backup)
            self.db.execute("DELETE FROM journal WHERE seq >= ?", (seq,))
            self.db.execute("DELETE FROM snapshot WHERE seq >= ?", (seq,))
        except (OSError, sqlite3.Error) as err:
            raise JournalError(f"{self.path}: repair failed: {err}") from err
        self.last_seq = seq - 1
        os.sync()
        return backup
