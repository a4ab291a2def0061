"""A branch with real pads for bridge tests: Mosquitto, the core service, pad twins on one pty line
(real pyserial, paced at the baud rate) and the bridge wired as `qcall bridge` wires it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from firmware_bridge.bridge import Bridge
from firmware_bridge.pad_twin import PadTwin, TwinLine
from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.client import BusClient
from qbus.config import BranchConfig, Counter, Teller, load
from qbus.topics import Topics
from qcall.bridge import build_bridge
from qserver.pins import CHEAP_COST, PinBook
from qserver.runner import CoreRunner
from tests.bus_helpers import Inbox

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "branch.toml"
CFG = load(EXAMPLE)


def branch_with(n: int) -> BranchConfig:
    """The example branch with n counters serving cash and personal, teller 50NN at counter NN."""
    counters = [Counter(id=i, serves={"cash": 1, "personal": 1}) for i in range(1, n + 1)]
    tellers = [Teller(id=teller_of(i), name=f"柜员{i}") for i in range(1, n + 1)]
    return msgspec.structs.replace(CFG, counter=counters, teller=tellers)


def teller_of(counter: int) -> str:
    return f"{5000 + counter}"


@dataclass
class Rig:
    cfg: BranchConfig
    broker: MosquittoBroker
    line: TwinLine
    core: CoreRunner
    bridge: Bridge
    kiosk: BusClient
    manager: BusClient
    events: Inbox
    presence: Inbox
    keypads: dict[int, PadTwin] = field(default_factory=dict)
    pads: dict[int, PadTwin] = field(default_factory=dict)

    @property
    def topics(self) -> Topics:
        return Topics(self.cfg.bus.prefix, self.cfg.branch.id)

    def issue(self, business: str = "cash") -> str:
        reply = self.kiosk.request(m.Issue(business=business), 10)
        assert reply.ok and reply.ticket is not None
        return reply.ticket.number

    def pad_presence(self, counter: int) -> list[m.Presence]:
        return [p for p in self.presence.values() if p.device == f"pad{counter}"]

    def wait_presence(self, counter: int, online: bool, timeout: float = 10.0) -> m.Presence:
        device = f"pad{counter}"
        assert self.presence.wait_for(
            lambda xs: any(x.value.device == device and x.value.online is online for x in xs[-8:])
            and [x.value for x in xs if x.value.device == device][-1].online is online, timeout
        ), f"{device} never became {'online' if online else 'offline'}: {self.pad_presence(counter)}"
        return self.pad_presence(counter)[-1]

    def login_by_keypad(self, counter: int, teller: str | None = None) -> None:
        teller = teller or teller_of(counter)
        keypad = self.keypads[counter]
        keypad.login(teller, teller)
        assert keypad.wait_led("空闲", 10), keypad.led_text


@contextmanager
def rig(tmp_path: Path, counters: list[int], *, cfg: BranchConfig = CFG, baudrate: int = 9600,
        heartbeat_timeout_s: float = 10.0, heartbeat_s: float = 0.0, **bridge_kw: Any) -> Iterator[Rig]:
    """Counter c gets a keypad at address 2c-1 and a rating pad at 2c on one line."""
    with ExitStack() as stack:
        broker = stack.enter_context(MosquittoBroker(tmp_path / "mosquitto").start())
        line = stack.enter_context(TwinLine(baudrate, seed=1))
        keypads = {c: line.add(2 * c - 1, "keypad", heartbeat_s=heartbeat_s) for c in counters}
        pads = {c: line.add(2 * c, "rating", heartbeat_s=heartbeat_s) for c in counters}
        wiring = {2 * c - 1: c for c in counters} | {2 * c: c for c in counters}
        serial = line.line_config(wiring, heartbeat_timeout_s=heartbeat_timeout_s)
        cfg = msgspec.structs.replace(cfg, serial=[serial])
        core = CoreRunner(cfg, tmp_path / "journal.db", broker.host, broker.port,
                          pins=PinBook.example_for(cfg, CHEAP_COST)).start()
        stack.callback(core.stop)
        topics = Topics(cfg.bus.prefix, cfg.branch.id)
        events, presence = Inbox(), Inbox()
        manager = BusClient(host=broker.host, port=broker.port, topics=topics, device="manager")
        stack.callback(manager.close)
        manager.subscribe(topics.all_events(), m.decode_event, events)
        manager.subscribe(topics.all_presence(), m.Presence, presence)
        manager.connect(10)
        kiosk = BusClient(host=broker.host, port=broker.port, topics=topics, device="kiosk1").connect(10)
        stack.callback(kiosk.close)
        bridge_kw.setdefault("reconnect_s", 0.05)
        bridge_kw.setdefault("check_every_s", 0.05)
        bridge = build_bridge(cfg, "0", host=broker.host, port=broker.port, **bridge_kw)
        stack.callback(bridge.close)
        bridge.start()
        assert bridge.link.wait_up(True, 5), bridge.link.detail
        assert bridge.bus.wait_online(10)
        yield Rig(cfg, broker, line, core, bridge, kiosk, manager, events, presence, keypads, pads)
