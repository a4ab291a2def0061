"""The branch manager's tools: the day's report, the hall notice, and a live watch.

`qcall report` rebuilds the day from the journal (read-only replay, nothing published) and prints
the KPIs a manager reads: waits per tier and business, satisfaction and unrated rates, stars per
teller, priority tickets granted per staff member, arrivals per hour and staffing advice.
`qcall notice` sets (or clears) the hall display's scrolling notice through the bus, as device
`manager1`, the only role the ACL lets publish it. `qcall watch` prints wait alerts, devices going
offline or coming back, and the live KPIs as they change, so a manager without a dashboard still
sees a pad that died or a VIP waiting too long.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qbus import messages as m
from qbus.client import BusClient, Received
from qbus.config import BranchConfig
from qbus.errors import BusError, ConfigError, QcallError
from qserver.service import branch_kpis
from qserver.store import DurableCore

Out = Callable[[str], None]


def report(cfg: BranchConfig, journal: str | Path, now: float | None = None) -> dict[str, Any]:
    """KPIs of the journal's current business day. Opens the journal read-only in spirit: replays,
    writes nothing, publishes nothing. `now` defaults to the journal's last time (a closed day)."""
    path = Path(journal)
    if not path.is_file():
        raise ConfigError(f"{path}: no journal here (storage.journal in the config, or --journal)")
    store = DurableCore(cfg, path, snapshot_every=10**12)
    try:
        return branch_kpis(cfg, store.core, store.core.clock if now is None else now)
    finally:
        store.close()


def set_notice(bus: BusClient, zh: str, en: str, timeout: float = 5.0) -> None:
    """Publish the retained notice (empty texts clear it: the display falls back to its config)."""
    sent = threading.Event()
    bus.publish(bus.topics.notice(), m.Notice(zh=zh, en=en), retain=True, on_sent=sent.set)
    if not sent.wait(timeout):
        raise BusError(f"notice not acknowledged by the broker within {timeout:.0f} s")


class TicketRefused(QcallError, ValueError):
    """The core refused a manager's ticket operation; the message is the core's, in both languages."""

    code = "refused"


def ticket_op(bus: BusClient, cmd: m.Requeue | m.Cancel | m.AckAlert) -> m.Reply:
    """Re-queue, cancel or acknowledge one ticket as the manager; a refusal becomes TicketRefused."""
    reply = bus.request(cmd)
    if not reply.ok:
        err = reply.error
        text = f"{err.zh} / {err.en} ({err.code})" if err else "refused"
        raise TicketRefused(f"{cmd.number}: {text}")
    return reply


class Watch:
    """Lines for a person: alerts, presence changes, KPI changes. `start()` then `close()`."""

    def __init__(self, bus: BusClient, out: Out, clock: Callable[[], float] = time.time) -> None:
        self.bus = bus
        self.out = out
        self.clock = clock
        self._presence: dict[str, bool] = {}
        self._via: dict[str, str] = {}  # pad<N> -> the bridge that reports it
        self._lock = threading.Lock()
        self._kpis: tuple[Any, ...] = ()
        t = bus.topics
        bus.subscribe(t.all_alerts(), m.decode_event, self._on_alert)
        bus.subscribe(t.all_presence(), m.Presence, self._on_presence)
        bus.subscribe(t.state_stats(), m.StatsState, self._on_stats)

    def _line(self, text: str) -> None:
        self.out(f"{time.strftime('%H:%M:%S', time.localtime(self.clock()))}  {text}")

    def _on_alert(self, msg: Received[Any]) -> None:
        a = msg.value
        if isinstance(a, m.Advice):
            self._line(f"> 建议 advice: {a.zh} / {a.en}")
            return
        if not isinstance(a, m.WaitAlert):
            return
        what = "贵宾超时 VIP over target" if a.kind == "tier" else "等待超时 waiting too long"
        self._line(f"! {what}: {a.number} ({a.business}, {a.tier}) waited {a.waited_s / 60:.1f} min, "
                   f"limit {a.limit_s / 60:.0f} min")

    def _on_presence(self, msg: Received[m.Presence]) -> None:
        p = msg.value
        with self._lock:
            before = self._presence.get(p.device)
            self._presence[p.device] = p.online
            if p.via:
                self._via[p.device] = p.via
            reported = sorted(d for d, via in self._via.items() if via == p.device and self._presence.get(d))
        if before == p.online:
            return
        if p.online:
            self._line(f"+ 在线 online: {p.device} {p.detail}".rstrip())
        elif before is not None or msg.retained:
            self._line(f"- 离线 offline: {p.device} ({p.detail or 'lost'})")
            if reported:  # their presence came from this device: it is no longer current
                self._line(f"? 状态未知 unknown: {', '.join(reported)} (reported by {p.device}, now offline)")

    def _on_stats(self, msg: Received[m.StatsState]) -> None:
        k = msg.value
        key = (k.issued, k.served, k.still_waiting, k.satisfaction_rate, k.unrated_rate)
        with self._lock:
            if key == self._kpis:
                return
            self._kpis = key
        self._line(
            f"= issued {k.issued}  served {k.served}  waiting {k.still_waiting}  "
            f"satisfaction {_pct(k.satisfaction_rate)}  unrated {_pct(k.unrated_rate)}  "
            f"wait p90 {k.wait_s.p90 / 60:.1f} min")

    def offline(self) -> list[str]:
        with self._lock:
            return sorted(d for d, up in self._presence.items() if not up)


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * float(x):.1f}%"


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=1)
