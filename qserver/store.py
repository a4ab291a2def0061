"""The core made durable: apply in memory, journal in groups, acknowledge after the fsync.

`submit()` applies one request to the in-memory core and queues its journal row; `commit()`
writes every queued row in one fsynced transaction. The caller (the core service, the bench, the
simulator's durable mode) sends replies and publishes events only after `commit()` returns.
Every decoded command is journaled, refused ones too: the core is deterministic, so a refused
command replays to the same refusal, and journaling it keeps the core's clock (which a refused
command may still advance) identical on replay.

Requests are de-duplicated by (device, request id): MQTT QoS 1 delivers at least once, and a
retried "call next" must not call a second customer. The device is part of the key, so one device
reusing another's request id gets its own answer, never the other's (nor blocks the core's own
commands, which are submitted as device `core`).

Snapshots: every `snapshot_every` rows, `commit()` captures the core's state (qcore.snapshot, an
explicit structure with a schema derived from it) and the de-duplication cache, and hands them to
the background writer (qserver.snapshots); the reply path waits for neither the encoding nor the
disk. A snapshot is used at start-up only if its schema is this code's and it was taken under a
config the core behaves the same with (`qcore.snapshot.behaviour_digest`): editing the hall
notice, the journal path or the broker port keeps snapshots; changing the rules does not.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
from pathlib import Path
from typing import Any

import msgspec

from qbus import messages as m
from qbus.config import BranchConfig
from qbus.errors import QcallError
from qcore import BranchCore, Ticket, snapshot
from qserver import auth
from qserver.journal import Journal
from qserver.pins import PinBook, PinGuard
from qserver.snapshots import SnapshotWriter

_LOG = logging.getLogger(__name__)

DEDUPE_KEEP = 50_000
DONE_PER_PART = 2_500
_cmd_decoder = msgspec.json.Decoder(m.Command)
# The de-duplication cache, keyed by (device, request id); a snapshot stores (key, reply) in cache
# order (the key's shape is part of the snapshot schema: a cache keyed by id alone is not reused).
DoneKey = tuple[str, str]
DoneItem = tuple[DoneKey, m.Reply]
_done_dec = msgspec.msgpack.Decoder(list[DoneItem])
_enc = msgspec.msgpack.Encoder()
_count_dec = msgspec.msgpack.Decoder(tuple[int, int])


def snapshot_schema() -> str:
    """The stored snapshot's schema: the core's (derived from its structure) + the cache's items."""
    done = json.dumps(msgspec.json.schema(list[DoneItem]), sort_keys=True)
    return hashlib.sha256((snapshot.SCHEMA + done).encode()).hexdigest()[:16]


def reply_for(rid: str, result: Any) -> m.Reply:
    if isinstance(result, m.TicketView):
        return m.Reply(id=rid, ok=True, ticket=result, number=result.number)
    if isinstance(result, Ticket):
        return m.Reply(id=rid, ok=True, number=result.number, counter=result.counter)
    return m.Reply(id=rid, ok=True)


def error_reply(rid: str, err: QcallError) -> m.Reply:
    # Cut to the schema's bound: a device would refuse the whole reply for a longer text.
    return m.Reply(id=rid, ok=False, error=m.ErrorInfo(code=err.code, en=err.en[:m.MAX_TEXT], zh=err.zh[:m.MAX_TEXT]))


PIN_STRIKES = "pin_strikes"  # the journal meta key of qserver.pins' saved strikes and lockouts


class DurableCore:
    """BranchCore + Journal + request de-duplication + snapshots."""

    def __init__(self, cfg: BranchConfig, path: str | Path, snapshot_every: int = 5000,
                 outbox: bool = False, pins: PinBook | None = None) -> None:
        """`outbox=True` for the core service: events of rows after the journal's `published_seq`
        mark (all rows when there is no mark: the broker never confirmed anything) are re-derived
        into `self.outbox` for publishing again. Tools that only read the state leave it off.
        `pins`: the tellers' PIN hashes (`qcall serve` loads `[pins] file`); without them every
        PIN is refused."""
        self.cfg = cfg
        self.track_published = outbox
        self.config_digest = snapshot.behaviour_digest(cfg)
        self.schema = snapshot_schema()
        self.snapshot_every = snapshot_every
        self.journal = Journal(path)
        # PIN strikes and lockouts live in the journal's meta table (counts and times, no PIN), each
        # change written and fsynced at once, before the reply: a restart gives no fresh guesses.
        self.pins = PinGuard(pins or PinBook(), cfg, saved=self.journal.meta(PIN_STRIKES),
                             save=lambda value: self.journal.set_meta(PIN_STRIKES, value))
        self.writer = SnapshotWriter(self.journal.path, self.journal.journal_id, self.journal.write_lock)
        self.capturer = snapshot.Capturer()
        if snapshot_every <= 1_000_000:
            # The writer checkpoints after each snapshot: the service's commits never copy a
            # snapshot's pages from the WAL into the database (that would stall the replies).
            self.journal.db.execute("PRAGMA wal_autocheckpoint=0")
        # Events of journaled commands the broker never confirmed (see qserver.service).
        self.outbox: list[Any] = []
        try:
            self.core, self.done, self.snap_seq = self._restore()
        except BaseException:
            self.journal.close()
            raise
        self.pending: list[tuple[float, str, str, bytes]] = []
        self.replies: list[m.Reply] = []
        if snapshot_every <= 1_000_000:
            try:
                self.capturer.capture(self.core)  # warm: the first snapshot copies only what is new
            except snapshot.SnapshotError:
                _LOG.exception("snapshots are off: the core's state cannot be captured")

    def close(self) -> None:
        self.writer.close()
        self.journal.close()

    # ------------------------------------------------------------------ start-up

    def _restore(self) -> tuple[BranchCore, dict[DoneKey, m.Reply], int]:
        core: BranchCore | None = None
        done: dict[DoneKey, m.Reply] = {}
        start = 0
        mark = self.journal.meta("published_seq")
        published: float = int(mark) if mark else (0 if self.track_published else math.inf)
        for info in self.journal.snapshots():
            if info.seq > published:
                continue  # its rows' events may be unpublished: replay them to re-derive the outbox
            if info.seq < self.journal.first_seq - 1:
                continue  # older than the rows kept after compaction
            if info.schema != self.schema:
                _LOG.info("snapshot at row %d has schema %s, this code %s: not used", info.seq,
                          info.schema, self.schema)
                continue
            if info.config != self.config_digest:
                _LOG.info("snapshot at row %d was taken under rules that differ from this config's; "
                          "not used", info.seq)
                continue
            parts = self.journal.snapshot_parts(info)
            if parts is None:
                continue
            try:
                core, done = self._decode(parts)
                start = info.seq
                break
            except snapshot.SnapshotError as err:  # ours, but unreadable: fall back, loudly
                _LOG.error("snapshot at row %d cannot be loaded (%s); trying an older one", info.seq, err)
        if core is None:
            core = BranchCore(self.cfg)
        n = 0
        for row in self.journal.rows(start):
            cmd = journaled_command(row.cmd)
            before = len(core.events)
            done[(row.device, row.rid)] = self._apply(core, row.rid, cmd, row.at)
            _number(core.events, before, row.seq)
            n += 1
            if row.seq > published:
                self.outbox += core.drain()
            else:
                core.events.clear()
        _trim(done)
        self.replayed = n
        _LOG.info("journal %s: state rebuilt from row %d + %d commands", self.journal.path, start, n)
        return core, done, start

    @staticmethod
    def _apply(core: BranchCore, rid: str, cmd: Any, now: float) -> m.Reply:
        try:
            return reply_for(rid, core.execute(cmd, now))
        except QcallError as err:
            return error_reply(rid, err)

    # ------------------------------------------------------------------ running

    def answered(self, device: str, rid: str) -> m.Reply | None:
        """The reply already given to this device's request `rid` (a retry), or None."""
        return self.done.get((device, rid))

    def submit(self, rid: str, device: str, cmd: m.Command, now: float) -> m.Reply:
        """Apply one request (not yet durable: call commit() before replying)."""
        key = (device, rid)
        cached = self.done.get(key)
        if cached is not None:
            return cached
        try:
            cmd = auth.admit(self.cfg, self.core, device, cmd, now)
            if isinstance(cmd, m.UnlockPin):
                self.pins.unlock(cmd.teller)  # saved in meta by the guard: nothing to journal
                return m.Reply(id=rid, ok=True)
            cmd = self._check_pin(device, cmd, now)
        except QcallError as err:
            return error_reply(rid, err)
        before = len(self.core.events)
        reply = self._apply(self.core, rid, cmd, now)
        _number(self.core.events, before, self.journal.last_seq + len(self.pending) + 1)
        self.done[key] = reply
        self.pending.append((now, rid, device, msgspec.json.encode(cmd)))
        return reply

    def _check_pin(self, device: str, cmd: m.Command, now: float) -> m.Command:
        """Verify the PIN a login (or a kiosk's staff grant) carries; return the command without
        it, so a PIN is never journaled. BadPin / PinLocked when it is wrong or locked out."""
        if isinstance(cmd, m.Login):
            self.pins.check(cmd.teller, cmd.pin, device=device, counter=cmd.counter, now=now)
            return msgspec.structs.replace(cmd, pin="")
        if isinstance(cmd, m.Issue) and cmd.staff_pin:
            self.pins.check(cmd.granted_by, cmd.staff_pin, device=device, counter=0, now=now,
                            roles=("lobby", "manager"))
            return msgspec.structs.replace(cmd, staff_pin="")
        return cmd

    def commit(self) -> int:
        """Make every submitted request durable (one fsync); returns the last journal row."""
        seq = self.journal.append(self.pending)
        self.pending.clear()
        if len(self.done) > DEDUPE_KEEP * 2:
            _trim(self.done)
        if seq - self.snap_seq >= self.snapshot_every:
            try:
                self.snapshot(seq, wait=False)  # in the background; if one is still being written, later
            except snapshot.SnapshotError:  # a snapshot is an optimisation: never stop serving for it
                _LOG.exception("snapshot at row %d not taken", seq)
                self.snap_seq = seq
        return seq

    def snapshot(self, seq: int | None = None, wait: bool = True) -> bool:
        """Snapshot the state as of the last committed row: captured here, encoded and written by
        the background writer (`wait` for it). False if a snapshot is still being written."""
        if self.pending:
            raise RuntimeError("snapshot with uncommitted requests")
        seq = self.journal.last_seq if seq is None else seq
        events, self.core.events = self.core.events, []
        try:
            cap = self.capturer.capture(self.core)
        finally:
            self.core.events = events
        # Keys and values as two lists: no tuple per entry here (the pairs are made on the writer).
        keys, replies = list(self.done), list(self.done.values())

        def make_parts() -> list[bytes]:  # on the writer's thread
            core_parts = snapshot.encode(cap)
            done_parts = [_enc.encode(list(zip(keys[i:i + DONE_PER_PART], replies[i:i + DONE_PER_PART],
                                               strict=True)))
                          for i in range(0, len(keys), DONE_PER_PART)]
            return [_enc.encode((len(core_parts), len(done_parts))), *core_parts, *done_parts]

        if not self.writer.offer(seq, self.schema, self.config_digest, make_parts):
            return False
        self.snap_seq = seq
        if wait:
            self.writer.wait_idle()
        return True

    def _decode(self, parts: list[bytes]) -> tuple[BranchCore, dict[DoneKey, m.Reply]]:
        try:
            n_core, n_done = _count_dec.decode(parts[0])
            core = snapshot.restore(self.cfg, parts[1:1 + n_core])
            done: dict[DoneKey, m.Reply] = {}
            for part in parts[1 + n_core:1 + n_core + n_done]:
                done.update(_done_dec.decode(part))
        except (msgspec.DecodeError, msgspec.ValidationError, IndexError, KeyError) as err:
            raise snapshot.SnapshotError(f"unreadable: {err}") from err
        return core, done


def _number(events: list[Any], before: int, seq: int) -> None:
    """Stamp the events one journal row produced with (row seq, place): the same on replay."""
    for k, ev in enumerate(events[before:]):
        ev.seq, ev.n = seq, k


def journaled_command(data: bytes) -> m.Command:
    """A journal row's command. A row was validated by the schema of the version that wrote it;
    one written before the schema bounded its strings (a 65 kB `masked_name`) fails today's
    bounds, and must still replay, or the branch could not start from its own journal."""
    try:
        return _cmd_decoder.decode(data)
    except msgspec.ValidationError:
        raw = msgspec.json.decode(data)
        cls = _COMMAND_BY_OP[raw.pop("op")]
        cmd: m.Command = cls(**raw)  # the constructor checks no bounds: the row is replayed as written
        _LOG.warning("journal row with an out-of-bounds %s replayed as written", type(cmd).__name__)
        return cmd


_COMMAND_BY_OP: dict[str, Any] = {c.__struct_config__.tag: c for c in m.Command.__args__}


def _trim(done: dict[DoneKey, m.Reply]) -> None:
    """Forget the oldest replies beyond DEDUPE_KEEP (a dict keeps insertion order)."""
    extra = len(done) - DEDUPE_KEEP
    if extra > 0:
        for key in list(itertools.islice(done, extra)):
            del done[key]
