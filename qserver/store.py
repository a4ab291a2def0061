"""The core made durable: apply in memory, journal in groups, acknowledge after the fsync.

`submit()` applies one request to the in-memory core and queues its journal row; `commit()`
writes every queued row in one fsynced transaction. The caller (the core service, the bench, the
simulator's durable mode) sends replies and publishes events only after `commit()` returns.
Every decoded command is journaled, refused ones too: the core is deterministic, so a refused
command replays to the same refusal, and journaling it keeps the core's clock (which a refused
command may still advance) identical on replay.

Requests are de-duplicated by request id: MQTT QoS 1 delivers at least once, and a retried
"call next" must not call a second customer.
"""

from __future__ import annotations

import hashlib
import logging
import math
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any

import msgspec

from qbus import messages as m
from qbus.config import BranchConfig
from qbus.errors import QcallError
from qcore import BranchCore, Ticket
from qserver import auth
from qserver.journal import Journal

_LOG = logging.getLogger(__name__)

CORE_VERSION = "core-2"  # bumped: qcore split into plan/queues/views (BranchCore.plan, .queues)
DEDUPE_KEEP = 50_000
_cmd_decoder = msgspec.json.Decoder(m.Command)


def config_digest(cfg: BranchConfig) -> str:
    return hashlib.sha256(msgspec.json.encode(cfg)).hexdigest()[:16]


def reply_for(rid: str, result: Any) -> m.Reply:
    if isinstance(result, m.TicketView):
        return m.Reply(id=rid, ok=True, ticket=result, number=result.number)
    if isinstance(result, Ticket):
        return m.Reply(id=rid, ok=True, number=result.number, counter=result.counter)
    return m.Reply(id=rid, ok=True)


def error_reply(rid: str, err: QcallError) -> m.Reply:
    return m.Reply(id=rid, ok=False, error=m.ErrorInfo(code=err.code, en=err.en, zh=err.zh))


class DurableCore:
    """BranchCore + Journal + request de-duplication + snapshots."""

    def __init__(self, cfg: BranchConfig, path: str | Path, snapshot_every: int = 5000,
                 outbox: bool = False) -> None:
        """`outbox=True` for the core service: events of rows after the journal's `published_seq`
        mark (all rows when there is no mark: the broker never confirmed anything) are re-derived
        into `self.outbox` for publishing again. Tools that only read the state leave it off."""
        self.cfg = cfg
        self.track_published = outbox
        self.version = f"{CORE_VERSION}:{config_digest(cfg)}"
        self.snapshot_every = snapshot_every
        self.journal = Journal(path)
        # Events of journaled commands the broker never confirmed (see qserver.service).
        self.outbox: list[Any] = []
        try:
            self.core, self.done, self.snap_seq = self._restore()
        except BaseException:
            self.journal.close()
            raise
        self.pending: list[tuple[float, str, str, bytes]] = []
        self.replies: list[m.Reply] = []

    def close(self) -> None:
        self.journal.close()

    # ------------------------------------------------------------------ start-up

    def _restore(self) -> tuple[BranchCore, OrderedDict[str, m.Reply], int]:
        core, done, start = None, OrderedDict(), 0
        mark = self.journal.meta("published_seq")
        published: float = int(mark) if mark else (0 if self.track_published else math.inf)
        for seq, state in self.journal.snapshots(self.version):
            if seq > published:
                continue  # its rows' events may be unpublished: replay them to re-derive the outbox
            try:
                core, done = pickle.loads(state)
                start = seq
                break
            except Exception:  # a snapshot we wrote but cannot read: fall back, loudly
                _LOG.exception("snapshot at row %d cannot be loaded; trying an older one", seq)
        if core is None:
            core = BranchCore(self.cfg)
        core.cfg = self.cfg
        n = 0
        for row in self.journal.rows(start):
            cmd = _cmd_decoder.decode(row.cmd)
            done[row.rid] = self._apply(core, row.rid, cmd, row.at)
            n += 1
            if row.seq > published:
                self.outbox += core.drain()
            else:
                core.events.clear()
        _trim(done)
        _LOG.info("journal %s: state rebuilt from row %d + %d commands", self.journal.path, start, n)
        return core, done, start

    @staticmethod
    def _apply(core: BranchCore, rid: str, cmd: Any, now: float) -> m.Reply:
        try:
            return reply_for(rid, core.execute(cmd, now))
        except QcallError as err:
            return error_reply(rid, err)

    # ------------------------------------------------------------------ running

    def submit(self, rid: str, device: str, cmd: m.Command, now: float) -> m.Reply:
        """Apply one request (not yet durable: call commit() before replying)."""
        cached = self.done.get(rid)
        if cached is not None:
            return cached
        try:
            auth.check(device, cmd)
            if isinstance(cmd, m.Login):
                auth.verify_pin(self.cfg, cmd.teller, cmd.pin)
                cmd = msgspec.structs.replace(cmd, pin="")  # a PIN is never journaled
        except QcallError as err:
            return error_reply(rid, err)
        reply = self._apply(self.core, rid, cmd, now)
        self.done[rid] = reply
        self.pending.append((now, rid, device, msgspec.json.encode(cmd)))
        return reply

    def commit(self) -> int:
        """Make every submitted request durable (one fsync); returns the last journal row."""
        seq = self.journal.append(self.pending)
        self.pending.clear()
        if len(self.done) > DEDUPE_KEEP * 2:
            _trim(self.done)
        if seq - self.snap_seq >= self.snapshot_every:
            self.snapshot(seq)
        return seq

    def snapshot(self, seq: int | None = None) -> None:
        """Save the state as of the last committed row (events must have been drained)."""
        if self.pending:
            raise RuntimeError("snapshot with uncommitted requests")
        seq = self.journal.last_seq if seq is None else seq
        events, self.core.events = self.core.events, []
        try:
            state = pickle.dumps((self.core, self.done), protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            self.core.events = events
        self.journal.save_snapshot(seq, self.version, state)
        self.snap_seq = seq


def _trim(done: OrderedDict[str, m.Reply]) -> None:
    while len(done) > DEDUPE_KEEP:
        done.popitem(last=False)
