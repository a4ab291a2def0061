"""Writing snapshots without stalling the replies: their own thread, their own SQLite connection.

The service thread only *captures* the state (qcore.snapshot.Capturer: plain copies, a few ms at
40,000 tickets) and hands it here. This thread encodes it and writes it into the journal file in
parts, one small transaction each, then the head row that makes it visible, then a passive WAL
checkpoint (so the service's own commits never copy a snapshot's pages into the database). Between
two parts the service's group commits get the journal's write lock; none waits for more than one
part. The parts are committed without an fsync of their own (synchronous=NORMAL): the head row's
transaction is fsynced (FULL), and in WAL mode that makes every earlier part durable with it, so
a head that survives a power cut always has its parts.

A snapshot is an optimisation: one that fails to be written is logged and the next one is tried;
the journal rows are the truth.
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qserver.journal import parts_crc

_LOG = logging.getLogger(__name__)

KEEP = 3  # snapshots kept: an older one is used if the newest is damaged


@dataclass(frozen=True, slots=True)
class _Job:
    seq: int
    schema: str
    config: str
    make_parts: Callable[[], list[bytes]]


class SnapshotWriter:
    """One snapshot at a time, in the background. `offer()` returns False while one is in flight."""

    def __init__(self, path: Path, journal_id: str, write_lock: threading.Lock) -> None:
        self.path = path
        self.journal_id = journal_id
        self._write_lock = write_lock
        self.written: list[int] = []  # rows of the snapshots written by this process
        self.failed = 0
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self._closed = False

    def offer(self, seq: int, schema: str, config: str, make_parts: Callable[[], list[bytes]]) -> bool:
        if self._closed or not self._idle.is_set():
            return False
        self._idle.clear()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="snapshot-writer", daemon=True)
            self._thread.start()
        self._jobs.put(_Job(seq, schema, config, make_parts))
        return True

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)

    def close(self) -> None:
        """Let a snapshot in flight finish (its parts are worthless without its head), then stop."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()

    def _run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        try:
            db.execute("PRAGMA synchronous=NORMAL")
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                try:
                    self._write(db, job)
                    self.written.append(job.seq)
                except Exception:
                    self.failed += 1
                    _LOG.exception("snapshot at row %d not written; the next one will be tried", job.seq)
                    try:
                        db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                finally:
                    self._idle.set()
        finally:
            db.close()

    def _write(self, db: sqlite3.Connection, job: _Job) -> None:
        parts = job.make_parts()
        crc = parts_crc(job.seq, job.schema, job.config, parts)
        self._txn(db, "DELETE FROM snapshot_parts WHERE seq NOT IN (SELECT seq FROM snapshots)", ())
        for i, data in enumerate(parts):
            self._txn(db, "INSERT OR REPLACE INTO snapshot_parts VALUES (?,?,?)", (job.seq, i, data))
            self._sync_wal()  # flushed now, by us: the service's next fsync finds nothing of ours
        old = "SELECT seq FROM snapshots ORDER BY seq DESC LIMIT -1 OFFSET ?"
        self._txn(db, f"DELETE FROM snapshot_parts WHERE seq IN ({old})", (KEEP - 1,))
        self._sync_wal()
        with self._write_lock:  # the head, fsynced: the snapshot exists once this commits
            db.execute("PRAGMA synchronous=FULL")
            try:
                db.execute("BEGIN IMMEDIATE")
                self._check_identity(db)
                db.execute("INSERT OR REPLACE INTO snapshots VALUES (?,?,?,?,?)",
                           (job.seq, job.schema, job.config, len(parts), crc))
                db.execute(f"DELETE FROM snapshots WHERE seq IN ({old})", (KEEP,))
                db.execute("COMMIT")
            finally:
                db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        _LOG.info("snapshot at row %d written (%d parts, %d bytes)", job.seq, len(parts),
                  sum(len(p) for p in parts))

    def _txn(self, db: sqlite3.Connection, sql: str, args: tuple[object, ...]) -> None:
        """One short write transaction (synchronous=NORMAL: no fsync while holding the lock)."""
        with self._write_lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                self._check_identity(db)
                db.execute(sql, args)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _sync_wal(self) -> None:
        """fdatasync the WAL outside the write lock (a part's pages are in it, unsynced)."""
        try:
            fd = os.open(self.path.with_name(self.path.name + "-wal"), os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)

    def _check_identity(self, db: sqlite3.Connection) -> None:
        row = db.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()
        if row is None or row[0] != self.journal_id:
            raise RuntimeError(f"{self.path} no longer holds journal {self.journal_id}")
