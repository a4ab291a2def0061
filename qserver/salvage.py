"""`qcall journal repair`: recover every intact row of a damaged journal by reading its pages.

A truncated or torn SQLite file stops SQLite itself ("database disk image is malformed") while
nearly every row is still on disk. SQLite's `.recover` is a shell command, not part of Python's
sqlite3 module, so this reads the file format directly: every page of the database file and every
committed frame of its WAL is parsed as a table b-tree leaf, each cell's record is decoded, and a
cell counts as a journal row only if it has the journal's six columns and its CRC32 checks. That
CRC (qserver.journal.row_crc) is what makes the salvage safe: a torn cell, a half-written page or
a stale copy of someone else's page cannot pass it. The tree structure is not needed at all, so a
lost interior page or a wrong page count in the header loses nothing.

The repaired journal holds the contiguous rows from the first (a replay needs every row), with
the journal's identity and marks; rows intact beyond a gap are counted in the report and stay in
the damaged file, which is kept aside untouched. Snapshots are not salvaged: the rows rebuild the
state.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from qserver.errors import JournalError
from qserver.journal import SCHEMA, Row, read_marker, row_crc, write_marker

_LOG = logging.getLogger(__name__)

_MAGIC = b"SQLite format 3\x00"
_WAL_MAGIC = (0x377F0682, 0x377F0683)
_META_KEYS = ("journal_id", "published_seq", "first_seq")


@dataclass(slots=True)
class Salvage:
    """What the pages hold: intact journal rows by seq, and meta values found (all versions)."""

    rows: dict[int, Row] = field(default_factory=dict)
    meta: dict[str, list[str]] = field(default_factory=dict)
    pages: int = 0
    wal_frames: int = 0


@dataclass(frozen=True, slots=True)
class RepairReport:
    path: Path
    backup: Path
    kept: int  # rows first..last kept in the repaired journal
    first: int
    beyond_gap: int  # intact rows after the first gap: not replayable, left in the backup
    missing_from: int  # the first row that could not be recovered (0: none missing before the end)

    def text(self) -> str:
        out = (f"{self.path}: repaired. Kept rows {self.first}..{self.first + self.kept - 1} "
               f"({self.kept} rows); the damaged file is kept as {self.backup}.")
        if self.kept == 0:
            out = f"{self.path}: repaired, but no intact row was found; the damaged file is kept as {self.backup}."
        if self.beyond_gap:
            out += (f" Row {self.missing_from} could not be recovered, so {self.beyond_gap} intact "
                    "rows after it cannot be replayed and were left out (they are in the backup).")
        return out


# ------------------------------------------------------------------ reading the file format

def _varint(buf: bytes, i: int) -> tuple[int, int]:
    v = 0
    for k in range(9):
        b = buf[i + k]
        if k == 8:
            return (v << 8) | b, i + 9
        v = (v << 7) | (b & 0x7F)
        if b < 0x80:
            return v, i + k + 1
    raise IndexError("varint")


def _value(buf: bytes, i: int, t: int) -> tuple[object, int]:
    if t == 0:
        return None, i
    if 1 <= t <= 6:
        n = (1, 2, 3, 4, 6, 8)[t - 1]
        if i + n > len(buf):
            raise IndexError("value")
        return int.from_bytes(buf[i:i + n], "big", signed=True), i + n
    if t == 7:
        return struct.unpack(">d", buf[i:i + 8])[0], i + 8
    if t in (8, 9):
        return t - 8, i
    if t >= 12:
        n = (t - 12) // 2
        if i + n > len(buf):
            raise IndexError("value")
        raw = bytes(buf[i:i + n])
        return (raw if t % 2 == 0 else raw.decode("utf-8")), i + n
    raise ValueError(f"serial type {t}")


def _record(payload: bytes) -> list[object]:
    size, i = _varint(payload, 0)
    types = []
    while i < size:
        t, i = _varint(payload, i)
        types.append(t)
    vals, j = [], size
    for t in types:
        v, j = _value(payload, j, t)
        vals.append(v)
    return vals


class _Pages:
    def __init__(self, size: int, usable: int, pages: dict[int, bytes], older: dict[int, bytes]) -> None:
        self.size, self.usable, self.pages, self.older = size, usable, pages, older

    def overflow(self, first: int, need: int) -> bytes | None:
        out, pg, seen = bytearray(), first, set()
        while need > 0 and pg and pg not in seen:
            seen.add(pg)
            page = self.pages.get(pg) or self.older.get(pg)
            if page is None:
                return None
            take = min(need, self.usable - 4)
            out += page[4:4 + take]
            need -= take
            pg = int.from_bytes(page[:4], "big")
        return bytes(out) if need <= 0 else None

    def cells(self, pgno: int, page: bytes) -> list[tuple[int, bytes]]:
        """(rowid, payload) of every readable cell of a table leaf page; [] for any other page."""
        h = 100 if pgno == 1 else 0
        if len(page) < h + 8 or page[h] != 0x0D:
            return []
        n = int.from_bytes(page[h + 3:h + 5], "big")
        out = []
        u = self.usable
        x = u - 35
        for k in range(n):
            try:
                ptr = int.from_bytes(page[h + 8 + 2 * k:h + 10 + 2 * k], "big")
                plen, i = _varint(page, ptr)
                rowid, i = _varint(page, i)
                if plen <= x:
                    payload = page[i:i + plen]
                    if len(payload) != plen:
                        continue
                else:
                    m_ = ((u - 12) * 32 // 255) - 23
                    kk = m_ + (plen - m_) % (u - 4)
                    local = kk if kk <= x else m_
                    rest = self.overflow(int.from_bytes(page[i + local:i + local + 4], "big"), plen - local)
                    if rest is None:
                        continue
                    payload = page[i:i + local] + rest
                out.append((rowid, bytes(payload)))
            except (IndexError, ValueError):
                continue
        return out


def _read_pages(path: Path) -> tuple[_Pages, list[tuple[int, bytes]], int]:
    """The database pages (the WAL's committed frames win) and every page version to scan."""
    data = path.read_bytes() if path.exists() else b""
    size, reserved = 4096, 0
    if data[:16] == _MAGIC:
        raw = int.from_bytes(data[16:18], "big")
        size = 65536 if raw == 1 else (raw or 4096)
        reserved = data[20]
    main = {i // size + 1: data[i:i + size] for i in range(0, len(data) - size + 1, size)}
    frames = _wal_frames(path.with_name(path.name + "-wal"), size)
    pages = dict(main)
    for pgno, page in frames:
        pages[pgno] = page
    scan = list(main.items()) + frames
    return _Pages(size, size - reserved, pages, main), scan, len(frames)


def _wal_frames(wal: Path, size: int) -> list[tuple[int, bytes]]:
    """Committed frames of the WAL's current generation (salts match the header), in order."""
    try:
        data = wal.read_bytes()
    except FileNotFoundError:
        return []
    if len(data) < 32 or int.from_bytes(data[:4], "big") not in _WAL_MAGIC:
        return []
    if int.from_bytes(data[8:12], "big") != size:
        return []
    salts = data[16:24]
    frames, pending = [], []
    for off in range(32, len(data) - 24 - size + 1, 24 + size):
        head = data[off:off + 24]
        if head[8:16] != salts:
            break
        pending.append((int.from_bytes(head[:4], "big"), data[off + 24:off + 24 + size]))
        if int.from_bytes(head[4:8], "big"):  # a commit frame: its transaction is whole
            frames += pending
            pending = []
    return frames


def salvage(path: Path) -> Salvage:
    """Every intact journal row and meta value readable from the file and its WAL."""
    pages, scan, n_frames = _read_pages(path)
    found = Salvage(pages=len(pages.pages), wal_frames=n_frames)
    for pgno, page in scan:
        for rowid, payload in pages.cells(pgno, page):
            try:
                vals = _record(payload)
            except (IndexError, ValueError, UnicodeDecodeError):
                continue
            row = _journal_row(rowid, vals)
            if row is not None:
                found.rows[row.seq] = row
            elif len(vals) == 2 and vals[0] in _META_KEYS and isinstance(vals[1], str):
                found.meta.setdefault(str(vals[0]), []).append(vals[1])
    return found


def _journal_row(rowid: int, vals: list[object]) -> Row | None:
    if len(vals) != 6 or vals[0] is not None:
        return None
    _, at, rid, device, cmd, crc = vals
    if isinstance(at, int) and not isinstance(at, bool):
        at = float(at)  # SQLite stores a whole REAL as an integer
    if not (isinstance(at, float) and isinstance(rid, str) and isinstance(device, str)
            and isinstance(cmd, bytes) and isinstance(crc, int)):
        return None
    if row_crc(rowid, at, rid, device, cmd) != crc:
        return None
    return Row(rowid, at, rid, device, cmd)


# ------------------------------------------------------------------ writing the repaired journal

def repair(path: Path) -> RepairReport:
    """Salvage `path` into a fresh journal at the same path; the damaged files are moved aside."""
    path = Path(path)
    if not path.exists():
        raise JournalError(f"{path}: no such journal file")
    found = salvage(path)
    jid = read_marker(path) or (found.meta.get("journal_id") or [""])[0]
    first = max((int(v) for v in found.meta.get("first_seq", []) if v.isdigit()), default=1)
    kept: list[Row] = []
    seq = first
    while seq in found.rows:
        kept.append(found.rows[seq])
        seq += 1
    beyond = sum(1 for s in found.rows if s > seq)
    marks = [int(v) for v in found.meta.get("published_seq", []) if v.isdigit()]
    published = min(min(marks, default=0), seq - 1)  # the lowest mark seen: republish, never skip
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.name}.damaged-{stamp}")
    tmp = path.with_name(f"{path.name}.repairing")
    _write(tmp, kept, jid, first, published)
    try:
        for suffix in ("", "-wal", "-shm"):
            src = path.with_name(path.name + suffix)
            if src.exists():
                os.replace(src, backup.with_name(backup.name + suffix))
        os.replace(tmp, path)
        if jid:
            write_marker(path, jid)
        os.sync()
    except OSError as err:
        raise JournalError(f"{path}: repair failed while moving files: {err}") from err
    _LOG.warning("journal %s repaired: %d rows kept, %d beyond a gap", path, len(kept), beyond)
    return RepairReport(path, backup, len(kept), first, beyond, seq if beyond else 0)


def _write(tmp: Path, rows: list[Row], jid: str, first: int, published: int) -> None:
    tmp.unlink(missing_ok=True)
    try:
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=DELETE")
            db.executescript(SCHEMA)
            db.execute("BEGIN")
            db.executemany("INSERT INTO journal VALUES (?,?,?,?,?,?)",
                           [(r.seq, r.at, r.rid, r.device, r.cmd, row_crc(r.seq, r.at, r.rid, r.device, r.cmd))
                            for r in rows])
            meta = {"published_seq": str(published)}
            if jid:
                meta["journal_id"] = jid
            if first > 1:
                meta["first_seq"] = str(first)
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())
            db.execute("COMMIT")
        finally:
            db.close()
    except sqlite3.Error as err:
        raise JournalError(f"{tmp}: cannot write the repaired journal: {err}") from err
