"""Wiring of `qcall bridge`: the serial bridge (firmware_bridge) driven by counter_panel's state machine.

qcall is the only package that may join components; here the bridge gets its counter logic
(`CounterPanel`, which fits `firmware_bridge.logic.CounterLogic` as it is) and its pad report (the pre-opening check,
`counter_panel.preopen.check_pads`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any, cast
from zoneinfo import ZoneInfo

import msgspec

from counter_panel.machine import CounterPanel, TierInfo
from counter_panel.preopen import check_pads
from firmware_bridge.bridge import Bridge, rating_counters
from firmware_bridge.logic import LogicFactory
from qbus.client import BusClient
from qbus.config import BranchConfig
from qbus.config.sections import SerialCodec, SerialDevice, SerialLine
from qbus.errors import ConfigError
from qbus.provision import bridge_device
from qbus.topics import Topics, counter_device, pad_device
from qcall.keypad import pads_for

_LOG = logging.getLogger(__name__)


def counter_panel(cfg: BranchConfig, counter: int) -> CounterPanel:
    """One counter's state machine as the branch configures it: transfer prefixes, rating scale,
    the tiers' marks and staff names, the business names (for the teller's display)."""
    return CounterPanel(counter, prefixes={b.prefix: b.code for b in cfg.business},
                        rating_scale=cfg.rating.scale, pending_timeout_s=cfg.bus.command_timeout_s,
                        tiers={t.code: TierInfo(t.mark, t.name_zh, t.name_en, t.priority) for t in cfg.tier},
                        businesses={b.code: (b.name_zh, b.name_en) for b in cfg.business})


def panel_factory(cfg: BranchConfig) -> LogicFactory:
    """Counter id -> its CounterPanel (a CounterLogic as it is: both speak hw.keypad's keys)."""
    def make(counter: int) -> CounterPanel:
        return counter_panel(cfg, counter)

    return make


def preopen_report(counter: int, line: SerialLine, last_seen: Any, now: float) -> tuple[bool, str]:
    """The pre-opening check as the pads' presence: online when every pad answers, else which not."""
    check = check_pads(counter, [(line, last_seen)], now)
    zh, en = check.summary()
    return check.ok, f"{en} / {zh}"


def branch_clock(cfg: BranchConfig) -> Callable[[], dt.datetime]:
    """Local wall time in the branch's time zone, for the pads' clocks."""
    zone = ZoneInfo(cfg.branch.timezone)
    return lambda: dt.datetime.now(zone).replace(tzinfo=None)


def find_line(cfg: BranchConfig, name: str) -> tuple[int, SerialLine]:
    """The [[serial]] line named on the command line: its 0-based index (what the systemd unit
    passes), its port path, or the last part of the port path (`ttyUSB0`)."""
    for i, line in enumerate(cfg.serial):
        if name in (str(i), line.port, line.port.rsplit("/", 1)[-1]):
            return i, line
    known = ", ".join(f"{i} ({line.port})" for i, line in enumerate(cfg.serial)) or "none configured"
    raise ConfigError(f"no [[serial]] line {name!r}; lines: {known}")


def adhoc_line(cfg: BranchConfig, counter: int, port: str) -> SerialLine:
    """One counter's keypad and rating pad on `port`, at the addresses `qcall keypad` uses."""
    if not port or not counter:
        raise ConfigError("name a [[serial]] line (--line), or give both --port and --counter")
    keypad, rating, baud, codec = pads_for(cfg, counter)
    return SerialLine(port=port, baudrate=baud, codec=cast(SerialCodec, codec), devices=[
        SerialDevice(address=keypad, counter=counter, kind="keypad"),
        SerialDevice(address=rating, counter=counter, kind="rating")])


def build_bridge(
    cfg: BranchConfig, line_name: str, *, host: str | None = None, port: int | None = None,
    serial_port: str = "", bus_kw: dict[str, Any] | None = None, **bridge_kw: Any,
) -> Bridge:
    """The bridge for one configured line, its bus client made from [bus] (or host/port given).

    serial_port overrides the line's port (point a bridge at a `qcall keypad` twin)."""
    index, line = find_line(cfg, line_name) if line_name else (0, None)
    if line is None:  # no line named: one counter's pads on `serial_port` (a `qcall keypad` twin)
        line = adhoc_line(cfg, bridge_kw.pop("counter", 0), serial_port)
    elif serial_port:
        line = msgspec.structs.replace(line, port=serial_port)
    counters = sorted({d.counter for d in line.devices})
    device = bridge_device(index)
    act_as = tuple(counter_device(n) for n in counters) + tuple(pad_device(n) for n in rating_counters(line))
    # A persistent session: replies and state for the pads queued while this bridge's link is down.
    kw = {"clean_session": False, **(bus_kw or {})}
    if host is not None and not cfg.bus.password_file:
        bus = BusClient(host=host, port=cfg.bus.port if port is None else port,
                        topics=Topics(cfg.bus.prefix, cfg.branch.id), device=device, act_as=act_as,
                        keepalive_s=cfg.bus.keepalive_s, command_timeout_s=cfg.bus.command_timeout_s,
                        reconnect_min_s=cfg.bus.reconnect_min_s, reconnect_max_s=cfg.bus.reconnect_max_s, **kw)
    else:
        bus = BusClient.from_config(cfg.bus, cfg.branch.id, device, host=host, port=port, act_as=act_as, **kw)
    try:
        return Bridge(line, bus, panel_factory(cfg), counters={c.id for c in cfg.counter},
                      report=preopen_report, wall_clock=branch_clock(cfg), **bridge_kw)
    except BaseException:
        bus.close()
        raise


def run_bridge(cfg: BranchConfig, line_name: str, stop: threading.Event, *, serial_port: str = "",
               counter: int = 0, host: str | None = None, port: int | None = None) -> None:
    """`qcall bridge`: run until `stop` is set."""
    kw: dict[str, Any] = {"counter": counter} if not line_name else {}
    with build_bridge(cfg, line_name, serial_port=serial_port, host=host, port=port, **kw) as bridge:
        _LOG.info("bridge %s on %s: counters %s", bridge.bus.device, bridge.line.port,
                  ", ".join(str(n) for n in bridge.counters))
        stop.wait()
