"""Run the core service on a bus: the production `qcall serve`, the demo and the tests share this."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from qbus.client import BusClient, Received
from qbus.config import BranchConfig
from qbus.topics import Topics
from qserver.clock import BranchClock, branch_clock
from qserver.errors import JournalError
from qserver.pins import PinBook
from qserver.service import CoreService
from qserver.store import DurableCore

_LOG = logging.getLogger(__name__)
# QoS 1 messages the core keeps in flight to the broker (paho's default is 20): the core publishes
# a reply, events and state per command, and waiting a round trip per 20 of them made the outbox,
# not the core, the bottleneck under a flood.
CORE_INFLIGHT = 1000


class CoreRunner:
    """The core service in a thread, connected as device `core`. `start()`, `stop()` (safe twice).

    A journal that cannot be written is fatal: the in-memory core would run ahead of what is
    durable, so the runner stops (`failed` says why) and a supervisor (systemd) restarts the
    process, which rebuilds the state from the journal.
    """

    def __init__(self, cfg: BranchConfig, journal: str | Path, host: str, port: int,
                 clock: BranchClock | None = None, pins: PinBook | None = None, **bus_kw: Any) -> None:
        self.cfg = cfg
        self.topics = Topics(cfg.bus.prefix, cfg.branch.id)
        self.store = DurableCore(cfg, journal, cfg.storage.snapshot_every, outbox=True, pins=pins)
        try:
            bus_kw = {"reconnect_min_s": cfg.bus.reconnect_min_s, "reconnect_max_s": cfg.bus.reconnect_max_s,
                      "max_packet_size": cfg.bus.max_packet_size, "max_inflight": CORE_INFLIGHT, **bus_kw}
            self.bus = BusClient(host=host, port=port, topics=self.topics, device="core", kind="core",
                                 keepalive_s=cfg.bus.keepalive_s, **bus_kw)
            self.service = CoreService(cfg, self.store, self.bus, self.topics,
                                       clock or branch_clock(cfg, floor=self.store.core.clock))
            self.bus.subscribe(self.topics.all_commands(), bytes, self._on_command)
            self.bus.on_online = self._on_online
        except BaseException:
            self.store.close()
            raise
        self.failed: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def _on_command(self, msg: Received[bytes]) -> None:
        self.service.on_message(msg.topic, msg.value)

    def _on_online(self) -> None:
        """After every (re)connect: republish all retained state (the broker may have lost it)."""
        self.service.request_full_state()

    def start(self, timeout: float = 10.0) -> CoreRunner:
        self.bus.start()
        self._thread = threading.Thread(target=self._run, name="core-service", daemon=True)
        self._thread.start()
        self.bus.wait_online(timeout)
        return self

    def _run(self) -> None:
        try:
            self.service.run()
        except JournalError as err:
            _LOG.critical("journal failure, stopping the core service: %s", err)
            self.failed = err
        except BaseException as err:
            _LOG.exception("core service crashed")
            self.failed = err

    def stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.service.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.bus.close()
        self.store.close()

    def __enter__(self) -> CoreRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
