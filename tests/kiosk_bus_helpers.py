"""A whole kiosk on the real bus for tests: real Mosquitto, the real core service, and the kiosk
wired by `qcall.kiosk.KioskRuntime` with twin readers (ptys) and the printer twin."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol

import msgspec

from kiosk.app import KioskEvent
from kiosk.flow import View, ViewKind
from kiosk.recognition import KeyedHasher, Roster
from qbus.config import BranchConfig, load
from qbus.messages import TicketView
from qbus.topics import Topics
from qcall.kiosk import KioskRuntime
from qserver.runner import CoreRunner
from tests.conftest import Broker
from tests.kiosk_fixtures import EXAMPLE, VIP_CARD

KEY = bytes(range(32))
_LOADED = load(EXAMPLE)
# These tests run on the wall clock at any hour; opening hours are tested with an injected clock.
CFG = msgspec.structs.replace(_LOADED, kiosk=msgspec.structs.replace(_LOADED.kiosk, hours_only=False))
TOPICS = Topics(CFG.bus.prefix, CFG.branch.id)


def kiosk_cfg(**kiosk: Any) -> BranchConfig:
    return msgspec.structs.replace(CFG, kiosk=msgspec.structs.replace(CFG.kiosk, **kiosk))


def vip_roster() -> Roster:
    return Roster({KeyedHasher(KEY).hash_number(VIP_CARD): "vip"})


class Gate:
    """Holds the core's incoming commands (a core too busy to answer) until `release()`."""

    def __init__(self, runner: CoreRunner) -> None:
        self._service = runner.service
        self._original = runner.service.on_message
        self.held: list[tuple[str, bytes]] = []
        self._cond = threading.Condition()
        # The seam: the runner hands every command to service.on_message; the gate stands in for it.
        runner.service.on_message = self._hold  # type: ignore[method-assign]  # replaced on purpose, put back by release()

    def _hold(self, topic: str, payload: bytes) -> None:
        with self._cond:
            self.held.append((topic, payload))
            self._cond.notify_all()

    def wait_held(self, n: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.held) >= n, timeout)

    def release(self, *, drop: bool = False) -> None:
        """Open the gate; the held commands reach the core (or are lost with `drop`)."""
        with self._cond:
            held, self.held = self.held, []
        self._service.on_message = self._original  # type: ignore[method-assign]  # the core's own handler again
        if not drop:
            for topic, payload in held:
                self._original(topic, payload)


def wait_view(rt: KioskRuntime, *kinds: ViewKind, timeout: float = 10.0) -> View:
    """Step the kiosk loop until a NEW view of one of `kinds` shows (the previous one does not count)."""
    assert rt.app is not None
    before = rt.flow.view
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rt.app.step(0.05)
        view = rt.flow.view
        if view is not before and view.kind in kinds:
            return view
    raise AssertionError(f"no {[k.value for k in kinds]} view within {timeout} s; showing {rt.flow.view}")


def wait_ticket(rt: KioskRuntime, timeout: float = 10.0) -> TicketView:
    """Step the kiosk until a new ISSUED view shows, and give the ticket it shows."""
    view = wait_view(rt, ViewKind.ISSUED, timeout=timeout)
    assert view.ticket is not None, f"an issued view without its ticket: {view}"
    return view.ticket


def press(rt: KioskRuntime, business: str) -> None:
    assert rt.app is not None
    rt.app.events.put(KioskEvent("button", business))


class KioskOn(Protocol):
    """The `kiosk_on` fixture: a started twin kiosk on `broker` (the VIP roster, no screen, unless told)."""

    def __call__(self, broker: Broker, cfg: BranchConfig = CFG, *, roster: Roster | None = None,
                 screen: bool = False) -> KioskRuntime: ...


def kiosk_factory() -> Iterator[KioskOn]:
    """Body of a `kiosk_on` fixture: `kiosk_on(broker, cfg, roster=, screen=)` -> started twin kiosk."""
    made: list[KioskRuntime] = []

    def start(broker: Broker, cfg: BranchConfig = CFG, *, roster: Roster | None = None,
              screen: bool = False) -> KioskRuntime:
        rt = KioskRuntime(cfg, host=broker.host, port=broker.port, twin=True, key=KEY,
                          roster=vip_roster() if roster is None else roster, screen=screen)
        made.append(rt)
        return rt.start()

    yield start
    for rt in made:
        rt.close()
