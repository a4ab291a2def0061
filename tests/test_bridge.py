"""The serial bridge end to end: pad twins on a pty (real pyserial, 9600 baud, paced), the bridge as
`qcall bridge` wires it, a real Mosquitto and the real core service.

Every wait is on a condition (the twin's, an inbox's) with a timeout; nothing sleeps for a result.
"""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec
import pytest

from firmware_bridge.frame import Voice, key_frame
from hw.keypad import Key
from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.client import BusClient
from qbus.config.sections import SerialDevice, SerialLine
from qbus.errors import ConfigError
from qbus.topics import Topics
from qcall.bridge import build_bridge
from qcall.demo_counters import DemoCounters
from qcall.keypad import KeypadConsole
from qserver.pins import CHEAP_COST, PinBook
from qserver.runner import CoreRunner
from tests.bridge_helpers import CFG, branch_with, rig, teller_of
from tests.bus_helpers import Inbox, Printed


def _rated(rig_events: Inbox, counter: int) -> list[m.ServiceRated]:
    return [e for e in rig_events.values() if isinstance(e, m.ServiceRated) and e.counter == counter]


def test_login_call_welcome_serve_rate_shows_on_the_pads_and_the_core_records_the_teller(tmp_path: Path) -> None:
    with rig(tmp_path, [3]) as r:
        keypad, pad = r.keypads[3], r.pads[3]
        # logged out: the customer sees 暂停服务, the teller a prompt for the teller id; clocks set
        assert pad.wait_led("暂停服务") and keypad.wait_led("工号:")
        assert keypad.wait_for(lambda p: p.clock_set is not None) and pad.clock_set is not None

        keypad.type_digits("1003")
        assert keypad.wait_led("密码:")
        keypad.type_digits("1003", enter=False)
        assert keypad.wait_led("密码:****")
        assert "1003" not in [s.text for s in pad.led_history]  # nothing typed shows on the customer's side
        keypad.press(Key.ENTER)
        assert keypad.wait_led("空闲") and pad.wait_led("欢迎光临")

        number = r.issue("personal")
        keypad.press(Key.CALL_NEXT)
        # the teller sees the number, minutes waited and how many still wait here; the customer the number
        assert keypad.wait_led(f"{number} 等0分 余0") and pad.wait_led(number)
        assert r.events.wait_for(lambda xs: any(isinstance(x.value, m.TicketCalled) and x.value.teller == "1003"
                                                for x in xs))

        keypad.press(Key.WELCOME)
        assert pad.wait_for(lambda p: p.voices == [Voice.WELCOME])
        assert r.events.wait_for(lambda xs: any(isinstance(x.value, m.ServiceStarted) for x in xs))
        assert pad.led_text == number  # still the number while serving

        keypad.press(Key.RATE)
        assert pad.wait_led("请评价") and keypad.wait_led("评价中")
        assert pad.wait_for(lambda p: p.voices[-1:] == [Voice.PLEASE_RATE])

        pad.rate(5)
        assert pad.wait_led("谢谢") and pad.wait_for(lambda p: p.voices[-1:] == [Voice.THANKS])
        assert r.events.wait_for(lambda xs: bool(_rated(r.events, 3)))
        rated = _rated(r.events, 3)
        assert [(e.number, e.stars, e.teller, e.source) for e in rated] == [(number, 5, "1003", "pad3")]
        assert keypad.wait_led("空闲")
        assert pad.voices == [Voice.WELCOME, Voice.PLEASE_RATE, Voice.THANKS]  # each prompt once
        assert keypad.voices == [] and r.bridge.link.stats.decoder.crc_errors == 0


def test_pause_shows_paused_on_both_pads_and_resume_brings_welcome_back(tmp_path: Path) -> None:
    with rig(tmp_path, [2]) as r:
        keypad, pad = r.keypads[2], r.pads[2]
        r.login_by_keypad(2, "1002")
        keypad.press(Key.PAUSE)
        assert pad.wait_led("暂停服务") and keypad.wait_led("暂停服务")
        r.issue()
        keypad.press(Key.CALL_NEXT)  # not a key for a paused counter: a beep, nothing sent
        assert keypad.wait_for(lambda p: len(p.beeps) == 1)
        keypad.press(Key.RESUME)
        assert pad.wait_led("欢迎光临") and keypad.wait_led("空闲")
        assert not [x for x in r.events.values() if isinstance(x, m.TicketCalled)]


def test_a_refused_key_beeps_and_says_why_on_the_keypad_only(tmp_path: Path) -> None:
    with rig(tmp_path, [1]) as r:
        keypad, pad = r.keypads[1], r.pads[1]
        keypad.login("1001", "9999")  # wrong PIN
        assert keypad.wait_for(lambda p: len(p.beeps) >= 1)
        assert keypad.wait_for(lambda p: p.led_text not in ("", "登录中") and not p.led_text.startswith("密码"))
        assert pad.led_text == "暂停服务"
        r.login_by_keypad(1, "1001")
        keypad.press(Key.CALL_NEXT)  # nobody waits
        assert keypad.wait_for(lambda p: len(p.beeps) >= 2)
        assert keypad.wait_led("暂无等候客户"), keypad.led_text
        assert pad.led_text == "欢迎光临"


def test_retained_state_after_a_bridge_restart_shows_the_number_without_replaying_prompts(tmp_path: Path) -> None:
    with rig(tmp_path, [4]) as r:
        r.login_by_keypad(4, "1004")
        number = r.issue("corporate")
        r.keypads[4].press(Key.CALL_NEXT)
        assert r.pads[4].wait_led(number)
        r.keypads[4].press(Key.WELCOME)
        assert r.pads[4].wait_for(lambda p: p.voices == [Voice.WELCOME])
        r.bridge.close()
        r.pads[4].led_text = ""  # the pad rebooted (what it shows is lost)
        again = build_bridge(r.cfg, "0", host=r.broker.host, port=r.broker.port, reconnect_s=0.05,
                             check_every_s=0.05)
        try:
            again.start()
            assert r.pads[4].wait_led(number) and r.keypads[4].wait_led(f"{number} 等0分 余0")
            assert r.pads[4].wait_for(lambda p: len(p.led_history) >= 2)
            assert r.pads[4].voices == [Voice.WELCOME]
        finally:
            again.close()


def test_unplugged_adapter_takes_pads_offline_and_replug_brings_them_and_the_keys_back(tmp_path: Path) -> None:
    with rig(tmp_path, [5], heartbeat_timeout_s=5.0) as r:
        keypad, pad = r.keypads[5], r.pads[5]
        keypad.heartbeat()
        pad.heartbeat()
        r.wait_presence(5, True)
        r.login_by_keypad(5, "1005")

        r.line.unplug()
        offline = r.wait_presence(5, False)
        assert "serial port down" in offline.detail and r.line.port in offline.detail
        bridge_presence = [p for p in r.presence.values() if p.device == r.bridge.bus.device]
        assert any("down" in p.detail for p in bridge_presence)

        pad.led_text = keypad.led_text = ""  # the pads lost power with the adapter
        r.line.replug()
        assert r.bridge.link.wait_up(True, 5)
        assert keypad.wait_led("空闲") and pad.wait_led("欢迎光临")  # resent on reconnect
        keypad.heartbeat()
        pad.heartbeat()
        r.wait_presence(5, True)
        number = r.issue()
        keypad.press(Key.CALL_NEXT)
        assert keypad.wait_led(f"{number} 等0分 余0") and pad.wait_led(number)


def test_a_pad_that_stops_heartbeats_goes_offline_and_comes_back(tmp_path: Path) -> None:
    with rig(tmp_path, [6], heartbeat_timeout_s=0.6, heartbeat_s=0.15) as r:
        online = r.wait_presence(6, True)
        assert "pads online" in online.detail
        assert online.via == r.bridge.bus.device  # read it as unknown while that bridge is offline
        r.pads[6].stop_heartbeats()
        offline = r.wait_presence(6, False)
        assert "评价器" in offline.detail and "rating pad" in offline.detail and "#12" in offline.detail
        r.pads[6].led_text = ""  # it rebooted
        r.pads[6].start_heartbeats(0.15)
        r.wait_presence(6, True)
        assert r.pads[6].wait_led("暂停服务")  # told again what to show
        assert r.pads[6].wait_for(lambda p: p.clock_set is not None)


def test_32_devices_on_one_rs485_line_all_work(tmp_path: Path) -> None:
    counters = list(range(1, 17))
    with rig(tmp_path, counters, cfg=branch_with(16)) as r:
        for c in counters:  # sign in over the bus: typing 16 logins would only test the same path 16 times
            assert r.manager.request(m.Login(counter=c, teller=teller_of(c), pin=teller_of(c)), 10).ok
        for c in counters:
            assert r.keypads[c].wait_led("空闲") and r.pads[c].wait_led("欢迎光临")
        numbers = {r.issue() for _ in counters}
        for c in counters:  # all at once: frames queue on the shared line, none is lost
            r.keypads[c].press(Key.CALL_NEXT)
        for c in counters:
            assert r.keypads[c].wait_for(lambda p: p.led_text.split(" ")[0] in numbers, 10), (c, r.keypads[c].led_text)
        shown = {r.keypads[c].led_text.split(" ")[0] for c in counters}
        assert shown == numbers
        for c in counters:
            assert r.pads[c].wait_led(r.keypads[c].led_text.split(" ")[0])
        for c in counters:
            r.keypads[c].press(Key.WELCOME)
        for c in counters:
            assert r.pads[c].wait_for(lambda p: p.voices == [Voice.WELCOME], 10)
        assert r.bridge.link.stats.decoder.crc_errors == 0 and r.bridge.link.stats.unacked == 0


def test_a_corrupt_frame_never_becomes_an_action(tmp_path: Path) -> None:
    with rig(tmp_path, [1]) as r:
        keypad = r.keypads[1]
        r.login_by_keypad(1, "1001")
        r.issue()
        good = r.line.codec.encode(key_frame(1, Key.CALL_NEXT, seq=200))
        for bit in range(8 * (len(good) - 2)):  # every single-bit flip of a "call next" between the flags
            damaged = bytearray(good)
            damaged[1 + bit // 8] ^= 1 << (bit % 8)
            r.line.inject(bytes(damaged))
        r.line.inject(good[:5])  # and one cut in half
        keypad.press(Key.PAUSE)  # a real key after the garbage: once it acted, the garbage was judged
        assert keypad.wait_led("暂停服务")
        assert not [x for x in r.events.values() if isinstance(x, m.TicketCalled)]
        stats = r.bridge.link.stats.decoder
        assert stats.crc_errors + stats.invalid >= 8 * (len(good) - 2) // 2


def test_a_frame_from_an_unknown_address_is_a_clear_logged_error(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    with rig(tmp_path, [1]) as r, caplog.at_level(logging.ERROR, logger="firmware_bridge.link"):
        stranger = r.line.add(9, "keypad")  # wired, but not in the config
        first = stranger.press(Key.CALL_NEXT)
        assert stranger.wait_for(lambda p: len(first.transmissions) >= 2)  # never acknowledged: resent
        r.keypads[1].press(Key.CLEAR)  # acknowledged once the host has read everything before it
        assert r.keypads[1].wait_all_acked()
        errors = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR]
        assert len(errors) == 1, errors  # once per address, not once per frame
        assert "address 9" in errors[0] and "no pad with that address" in errors[0]
        assert r.bridge.link.stats.unknown_address >= 2
        assert not [x for x in r.events.values() if isinstance(x, m.TicketCalled)]


def test_a_pad_wired_to_a_counter_the_branch_does_not_have_is_refused_at_start(tmp_path: Path) -> None:
    bad = SerialLine(port=str(tmp_path / "ttyX"), devices=[SerialDevice(address=1, counter=42)])
    cfg = msgspec.structs.replace(CFG, serial=[bad])
    with pytest.raises(ConfigError, match="counter 42, which the branch does not have"):
        build_bridge(cfg, "0", host="127.0.0.1", port=1)
    with pytest.raises(ConfigError, match="no \\[\\[serial\\]\\] line 'ttyZ'"):
        build_bridge(cfg, "ttyZ", host="127.0.0.1", port=1)



def test_qcall_keypad_console_drives_a_bridge_pointed_at_its_pty(tmp_path: Path) -> None:
    """`qcall keypad --counter 3` and `qcall bridge --serial PATH --counter 3`, as a person would run them."""
    out = Printed()
    shown = out.wait_line

    with MosquittoBroker(tmp_path / "mqtt").start() as broker, \
            CoreRunner(CFG, tmp_path / "journal.db", broker.host, broker.port, pins=PinBook.example_for(CFG, CHEAP_COST)) as core:
        console = KeypadConsole(CFG, 3, out, link=str(tmp_path / "ttyKEYPAD"), heartbeat_s=0)
        try:
            with build_bridge(CFG, "", host=broker.host, port=broker.port, serial_port=console.line.port,
                              counter=3, reconnect_s=0.05) as bridge:
                assert shown("评价器 pad #2: 暂停服务")
                for text in ("1003", "1003"):
                    assert console.handle(text)
                assert shown("keypad #1: 空闲")
                kiosk = BusClient(host=broker.host, port=broker.port, topics=bridge.topics, device="kiosk1")
                with kiosk.connect(10):
                    assert kiosk.request(m.Issue(business="personal"), 10).ok
                assert console.handle("n")
                assert shown("keypad #1: B001 等0分 余0  |  评价器 pad #2: B001")
                assert console.handle("w")
                assert shown("♪ welcome")
                assert not console.handle("quit")
                assert core.failed is None
        finally:
            console.close()


def test_demo_counters_serve_and_rate_through_the_bridge(tmp_path: Path) -> None:
    """The demo's tellers and customers act only on pad twins; the core sees rated services."""
    events = Inbox()
    with MosquittoBroker(tmp_path / "mqtt").start() as broker, \
            CoreRunner(CFG, tmp_path / "journal.db", broker.host, broker.port, pins=PinBook.example_for(CFG, CHEAP_COST)):
        topics = Topics(CFG.bus.prefix, CFG.branch.id)
        watcher = BusClient(host=broker.host, port=broker.port, topics=topics, device="manager")
        watcher.subscribe(topics.all_events(), m.decode_event, events)
        kiosk = BusClient(host=broker.host, port=broker.port, topics=topics, device="kiosk1")
        with watcher.connect(10), kiosk.connect(10):
            for business in ("cash", "personal", "cash"):
                assert kiosk.request(m.Issue(business=business), 10).ok
            counters = DemoCounters(CFG, broker.host, broker.port, speed=600, rate_share=1.0).start()
            try:
                assert events.wait_for(lambda xs: sum(isinstance(x.value, m.ServiceRated) and x.value.stars > 0
                                                      for x in xs) >= 2, 20)
            finally:
                counters.stop()
    rated = [e for e in events.values() if isinstance(e, m.ServiceRated) and e.stars > 0]
    tellers = {t.id for t in CFG.teller}
    assert all(e.teller in tellers for e in rated)
