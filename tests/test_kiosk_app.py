"""A whole kiosk without a screen: GPIO buttons (MockFactory), a stripe reader on a pty, the printer
twin and a stand-in core; plus the in-process swipe -> ticket path the benchmark uses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from hw.buttons import KioskButtons
from hw.magcard import MagCardTwin, SerialMagReader
from hw.printer import Paper, Printer, PrinterEmulator, TwinDevice
from kiosk.app import KioskApp, open_readers
from kiosk.flow import KioskFlow, View, ViewKind
from kiosk.privacy import find_raw_numbers
from kiosk.recognition import KeyedHasher, Recognizer, Roster
from kiosk.rig import SwipeRig, percentiles
from qbus.config.sections import KioskSection
from tests.kiosk_fixtures import PLAIN_CARD, VIP_CARD, Clock, FakeCore, branch

KEY = bytes(range(32))
# The kiosk fixture: the app and what a test drives or reads around it.
Kiosk = tuple[KioskApp, MockFactory, MagCardTwin, PrinterEmulator, FakeCore, Clock]


@pytest.fixture
def kiosk() -> Iterator[Kiosk]:
    cfg = branch()
    clock = Clock()
    core = FakeCore(cfg, clock)
    device = TwinDevice()
    hasher = KeyedHasher(KEY)
    flow = KioskFlow(cfg, issue=core, printer=Printer(device, answer_s=0.05), clock=clock, steer=False,
                     recognizer=Recognizer(cfg, hasher, Roster({hasher.hash_number(VIP_CARD): "vip"})))
    factory = MockFactory()
    buttons = KioskButtons({"cash": 17, "wealth": 27, "priority": 22}, {"ready": 5, "fault": 6},
                           pin_factory=factory, bounce_s=None)
    twin = MagCardTwin()
    reader = SerialMagReader(twin.port)
    app = KioskApp(flow, readers=[reader], buttons=buttons)
    yield app, factory, twin, device.emulator, core, clock
    app.close()
    reader.close()
    twin.close()
    factory.reset()


def press(factory: MockFactory, pin: int) -> None:
    factory.pin(pin).drive_low()
    factory.pin(pin).drive_high()


def next_view(app: KioskApp, kind: ViewKind) -> View:
    for _ in range(20):
        view = app.step(0.5)
        if view is not None and view.kind is kind:
            return view
    raise AssertionError(f"no {kind} view")


def test_button_press_prints_a_ticket_with_the_self_service_hint(kiosk: Kiosk) -> None:
    app, factory, _twin, emu, core, _clock = kiosk
    assert factory.pin(5).state and not factory.pin(6).state  # ready
    press(factory, 17)
    view = next_view(app, ViewKind.ISSUED)
    assert view.ticket and view.ticket.number == "A001"
    assert b"the ATMs in the" in emu.tickets[0]


def test_vip_swipe_then_button(kiosk: Kiosk) -> None:
    app, factory, twin, emu, core, _clock = kiosk
    twin.swipe(VIP_CARD)
    assert next_view(app, ViewKind.IDENTIFIED).tier == "vip"
    press(factory, 27)
    next_view(app, ViewKind.ISSUED)
    assert core.commands[0].tier == "vip"
    assert not find_raw_numbers(bytes(emu.printed), [VIP_CARD])


def test_paper_out_lights_the_fault_led_and_issues_nothing(kiosk: Kiosk) -> None:
    app, factory, _twin, emu, core, _clock = kiosk
    emu.set_paper(Paper.OUT)
    press(factory, 17)
    next_view(app, ViewKind.MESSAGE)
    assert factory.pin(6).state and not factory.pin(5).state
    assert core.commands == []


def test_priority_button_asks_for_staff(kiosk: Kiosk) -> None:
    app, factory, _twin, _emu, core, _clock = kiosk
    press(factory, 22)
    next_view(app, ViewKind.STAFF_NEEDED)
    assert core.commands == []


def test_open_readers_skips_missing_ones(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    twin = MagCardTwin()
    try:
        readers = open_readers(KioskSection(magcard_port=twin.port, idcard_port=str(tmp_path / "nope")))
        assert len(readers) == 1 and readers[0].kind == "bank_card"
        readers[0].close()
        assert "ID card reader not available" in caplog.text
    finally:
        twin.close()


def test_swipe_rig_gives_ticket_bytes_and_timings() -> None:
    cfg = branch()
    core = FakeCore(cfg, Clock())
    rig = SwipeRig(cfg, core, roster=Roster({KeyedHasher(bytes(range(32))).hash_number(VIP_CARD): "vip"}))
    try:
        samples: list[float] = []
        for pan in (VIP_CARD, PLAIN_CARD, VIP_CARD):
            data, ms = rig.swipe_to_ticket(pan, "wealth")
            assert data.endswith(b"\x1dV\x00") and ms > 0
            samples.append(ms)
        assert [c.tier for c in core.commands] == ["vip", "normal", "vip"]
        figures = percentiles(samples)
        assert set(figures) == {"swipe_ticket_p50_ms", "swipe_ticket_p99_ms"}
        assert figures["swipe_ticket_p50_ms"] <= figures["swipe_ticket_p99_ms"]
    finally:
        rig.close()


def test_idle_kiosk_rereads_the_printer_for_its_leds(kiosk: Kiosk) -> None:
    app, factory, _twin, emu, _core, _clock = kiosk
    app.status_poll_s = 0.0
    emu.set_paper(Paper.OUT)
    app.step(0.01)
    assert factory.pin(6).state and not factory.pin(5).state
    emu.set_paper(Paper.OK)
    app.step(0.01)
    assert factory.pin(5).state and not factory.pin(6).state


def test_ready_led_goes_out_after_closing_time(kiosk: Kiosk) -> None:
    app, factory, _twin, _emu, core, clock = kiosk
    assert factory.pin(5).state  # 09:30: ready
    clock.advance(8 * 3600)  # 17:30
    next_view(app, ViewKind.MESSAGE)  # the idle screen gives the hours by itself
    assert not factory.pin(5).state and not factory.pin(6).state  # not ready, and not a fault
    press(factory, 17)
    app.step(0.5)
    assert core.commands == []
