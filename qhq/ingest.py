"""`qcall hq ingest`: every branch's messages from the central broker into PostgreSQL.

A persistent MQTT session (clean session off, QoS 1, a fixed client id) means the broker keeps
what arrives while the ingest is down and delivers it when it is back. Messages are acknowledged
by hand (paho `manual_ack`), and only after the batch that holds them is committed: killed at
any point (-9), the ingest loses nothing (unacknowledged messages are delivered again) and stores
nothing twice (the database drops what it already has, by (branch, seq, n)).

Threads: paho's network thread only appends to `inbox`; the writer thread takes up to
`batch_max` messages (waiting at most `batch_wait_ms` for a batch to fill), writes them in one
transaction, then acknowledges them. An acknowledgement belongs to the connection that delivered
the message: after a reconnect the broker re-sends the unacknowledged ones under new ids, so
acks of an older connection are dropped, never sent for somebody else's id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from qbus.client import tcp_no_delay
from qbus.errors import BusError, ConfigError
from qhq.config import HqConfig
from qhq.store import HqStore, Written

_LOG = logging.getLogger(__name__)

SUBSCRIPTIONS = ("event/+", "state/#", "archive/+/+", "link")


def filters(prefix: str, share: str = "") -> list[str]:
    """Every branch's outgoing topics (`$share/<group>/...` to spread them over several workers)."""
    head = f"$share/{share}/" if share else ""
    return [f"{head}{prefix}/v1/+/{s}" for s in SUBSCRIPTIONS]


@dataclass(slots=True)
class Totals:
    events: int = 0
    duplicates: int = 0
    state: int = 0
    rejected: int = 0
    batches: int = 0
    messages: int = 0
    retries: int = 0  # batches written again after the database came back
    days_archived: int = 0  # whole days handed to the history store


class Ingest:
    """The central broker -> PostgreSQL pump. `start()`, `stop()`; `totals` for figures."""

    def __init__(self, cfg: HqConfig, *, dsn: str | None = None, password: str | None = None,
                 client_id: str = "", share: str = "") -> None:
        self.cfg = cfg
        self._dsn = dsn
        self.store = HqStore.connect(cfg, dsn)
        self.totals = Totals()
        self._inbox: deque[tuple[str, bytes, int, int]] = deque()
        self._wake = threading.Condition()
        self._gen = 0
        self._stop = threading.Event()
        self._online = threading.Event()
        self._thread: threading.Thread | None = None
        self.share = share
        self.failed: BaseException | None = None
        b = cfg.broker
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or b.username,
                                  clean_session=False, protocol=mqtt.MQTTv311, manual_ack=True)
        if b.username:
            self.client.username_pw_set(b.username, password if password is not None else _password(b.password_file))
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 5)
        self.client.on_socket_open = tcp_no_delay  # acks must not wait ~40 ms for Nagle
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # ------------------------------------------------------------------ MQTT (network thread)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        if rc.is_failure:
            _LOG.error("central broker refused the ingest: %s", rc)
            return
        with self._wake:
            self._gen += 1
        client.subscribe([(f, 1) for f in filters(self.cfg.hq.prefix, self.share)])
        self._online.set()
        _LOG.info("ingest connected to %s:%d", self.cfg.broker.host, self.cfg.broker.port)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        self._online.clear()
        with self._wake:
            self._gen += 1  # what this connection delivered is re-sent by the broker on the next
        _LOG.warning("ingest lost the central broker (%s); reconnecting", rc)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._wake:
            self._inbox.append((msg.topic, bytes(msg.payload), msg.mid, self._gen if msg.qos else -1))
            if len(self._inbox) >= self.cfg.database.batch_max or len(self._inbox) == 1:
                self._wake.notify()

    # ------------------------------------------------------------------ the writer

    def start(self, timeout: float = 10.0) -> Ingest:
        b = self.cfg.broker
        try:
            self.client.connect(b.host, b.port, keepalive=b.keepalive_s)
        except OSError as err:
            raise BusError(f"central broker {b.host}:{b.port}: {err}") from err
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="hq-ingest-writer", daemon=True)
        self._thread.start()
        if not self._online.wait(timeout):
            raise BusError(f"central broker {b.host}:{b.port}: not connected within {timeout:g} s")
        return self

    def _take(self) -> list[tuple[str, bytes, int, int]]:
        cap, wait = self.cfg.database.batch_max, self.cfg.database.batch_wait_ms / 1000
        with self._wake:
            self._wake.wait_for(lambda: bool(self._inbox) or self._stop.is_set(), 0.5)
            if not self._inbox:
                return []
            deadline = time.monotonic() + wait
            while len(self._inbox) < cap and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0 or not self._wake.wait(left):
                    break
            return [self._inbox.popleft() for _ in range(min(cap, len(self._inbox)))]

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                batch = self._take()
                if batch:
                    self._write_until_stored(batch)
        except (psycopg.Error, OSError) as err:
            _LOG.critical("ingest stopped: %s", err)
            self.failed = err
            self.client.disconnect()  # nothing acknowledged: the broker keeps the rest

    def _write_until_stored(self, batch: list[tuple[str, bytes, int, int]]) -> None:
        """Write the batch; while the database is unreachable (a restart, a fail-over to the
        replica), wait and try the same batch again on a new connection. Nothing is acknowledged
        meanwhile, so the broker holds everything else (up to its in-flight window here)."""
        pause = 0.5
        while True:
            try:
                self._write(batch)
                return
            except psycopg.OperationalError as err:
                if self._stop.is_set():
                    raise
                _LOG.warning("database unreachable (%s); retrying in %.1f s",
                             str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__, pause)
                self.totals.retries += 1
                self._stop.wait(pause)
                pause = min(pause * 2, 5.0)
                self._reconnect()

    def _reconnect(self) -> None:
        try:
            self.store.close()
        except psycopg.Error:
            pass
        try:
            self.store = HqStore.connect(self.cfg, self._dsn)
        except psycopg.OperationalError:
            return  # still down: the next write fails fast and waits again

    def _write(self, batch: list[tuple[str, bytes, int, int]]) -> None:
        done: Written = self.store.write((t, p) for t, p, _, _ in batch)
        t = self.totals
        t.events += done.events
        t.duplicates += done.duplicates
        t.state += done.state
        t.rejected += done.rejected
        t.days_archived += done.days_archived
        t.batches += 1
        t.messages += len(batch)
        with self._wake:
            gen = self._gen
        for _, _, mid, g in batch:
            if g == gen:
                self.client.ack(mid, 1)

    def stop(self) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(10)
        self.client.disconnect()
        self.client.loop_stop()
        self.store.close()

    def run_forever(self) -> None:
        """`qcall hq ingest`: until SIGTERM / Ctrl-C (both leave nothing half-written)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(1.0)
        finally:
            self.stop()
        if self.failed is not None:
            raise BusError(f"ingest stopped: {self.failed}")


def _password(path: str) -> str:
    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"broker.password_file: {path}: {err.strerror}") from err
