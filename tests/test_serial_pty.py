"""Host and pads over a real pty with real pyserial, the twin pacing bytes at the line speed.

Waits are on events (the twin's condition, the collector's condition) with timeouts, never sleeps.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from counter_panel.preopen import check_pads
from firmware_bridge.codec import get_codec
from firmware_bridge.frame import (
    BROADCAST,
    Command,
    Frame,
    Voice,
    beep_frame,
    key_frame,
    led_frame,
    time_frame,
    voice_frame,
)
from firmware_bridge.link import HostLink
from firmware_bridge.pad_twin import TwinLine
from hw.keypad import Key, KeyPress
from hw.serial_line import PortUnavailable, SerialPort
from qbus.config.sections import SerialLine


class Collector:
    """on_frame for the host: records frames, lets a test wait for them."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.links: list[bool] = []
        self.details: list[str] = []
        self._cond = threading.Condition()

    def __call__(self, frame: Frame) -> None:
        with self._cond:
            self.frames.append(frame)
            self._cond.notify_all()

    def on_link(self, up: bool, detail: str) -> None:
        with self._cond:
            self.links.append(up)
            self.details.append(detail)
            self._cond.notify_all()

    def keys(self) -> list[Frame]:
        return [f for f in self.frames if f.command is Command.KEY]

    def wait(self, pred: Callable[[Collector], object], timeout: float = 5.0) -> bool:
        """Whether `pred` (any truthy answer, e.g. a non-empty list) held within `timeout`."""
        with self._cond:
            return bool(self._cond.wait_for(lambda: pred(self), timeout))


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def twin() -> Iterator[TwinLine]:
    with TwinLine(9600, seed=1) as line:
        yield line


def start_host(line: TwinLine, got: Collector, counters: dict[int, int] | None = None, *,
               clock: Callable[[], float] = time.monotonic) -> HostLink:
    link = HostLink(line.line_config(counters), got, on_link=got.on_link, reconnect_s=0.05, clock=clock).start()
    assert link.wait_up(True, 5)
    return link


def test_key_press_reaches_the_host_and_led_text_reaches_the_pad(twin: TwinLine) -> None:
    keypad, pad = twin.add(1, "keypad"), twin.add(2, "rating")
    got = Collector()
    with start_host(twin, got) as link:
        sent = keypad.press(Key.TRANSFER, counter=5)
        assert got.wait(lambda c: c.keys())
        assert got.keys()[0].key_press() == KeyPress(Key.TRANSFER, counter=5)
        assert sent.wait_acked(2) and len(sent.transmissions) == 1

        assert link.send(led_frame(2, "A007")).wait(2)
        assert pad.led_text == "A007" and keypad.led_text == ""
        assert link.send(led_frame(2, "暂停服务")).wait(2)
        assert link.send(voice_frame(2, Voice.WELCOME)).wait(2)
        assert link.send(beep_frame(2, 120)).wait(2)
        assert [s.text for s in pad.led_history] == ["A007", "暂停服务"]
        assert pad.voices == [Voice.WELCOME] and pad.beeps == [120]

        # a broadcast is not acknowledged; every pad sets its clock
        when = dt.datetime(2024, 5, 6, 8, 59, 0)
        link.send(time_frame(BROADCAST, when))
        assert keypad.wait_for(lambda p: p.clock_set == when) and pad.wait_for(lambda p: p.clock_set == when)
        assert link.stats.decoder.crc_errors == 0


def test_a_lost_ack_makes_the_pad_resend_and_the_host_acts_once(twin: TwinLine) -> None:
    keypad = twin.add(1)
    got = Collector()
    with start_host(twin, got) as link:
        keypad.drop_acks(1)
        sent = keypad.press(Key.CALL_NEXT)
        assert sent.wait_acked(3)
        assert len(sent.transmissions) == 2  # the resend went out ...
        assert twin.wait_quiet()
        assert len(got.keys()) == 1  # ... and did not call a second customer
        assert link.stats.duplicates == 1
        second = keypad.press(Key.CALL_NEXT)  # a real second press has a new seq and goes through
        assert second.wait_acked(2) and got.wait(lambda c: len(c.keys()) == 2)


def test_a_pad_that_missed_the_ack_window_sees_the_resent_led_once(twin: TwinLine) -> None:
    pad = twin.add(3, "rating")
    with start_host(twin, Collector()) as link:
        pad.ignore_host(1)
        pending = link.send(led_frame(3, "请评价"))
        assert pending.wait(3)
        assert link.stats.resends == 1
        assert len(pad.received) == 2 and [s.text for s in pad.led_history] == ["请评价"]


def test_a_pad_that_never_answers_makes_send_report_failure(twin: TwinLine) -> None:
    pad = twin.add(3, "rating")
    with start_host(twin, Collector()) as link:
        pad.ignore_host(10)
        pending = link.send(led_frame(3, "A001"))
        assert not pending.wait(5) and pending.done and pending.reason == "not acknowledged"
        assert link.stats.unacked == 1 and link.stats.resends == link.line.retries


def test_noise_on_the_line_is_counted_and_never_acted_on(twin: TwinLine) -> None:
    keypad = twin.add(1)
    got = Collector()
    codec = get_codec("qframe")
    with start_host(twin, got) as link:
        for i in range(20):
            damaged = bytearray(codec.encode(key_frame(1, Key.SKIP, seq=200 + i)))
            damaged[4 + i % 3] ^= 0x10
            twin.inject(bytes(damaged))  # a corrupted "skip"
            twin.inject(bytes([0x55, 0x7E, 0x00, 0xFF, 0x7D, 0x7E]) * 3)  # garbage
            twin.inject(codec.encode(led_frame(1, "echo", seq=i)))  # a host frame heard back
            keypad.press(Key.CALL_NEXT)
        assert got.wait(lambda c: len(c.keys()) == 20, 10)
        assert twin.wait_quiet()
        assert {f.key_press().key for f in got.keys()} == {Key.CALL_NEXT}  # never a guessed "skip"
        assert link.stats.decoder.crc_errors >= 20
        assert link.stats.echoes == 20


def test_unconfigured_address_is_ignored(twin: TwinLine) -> None:
    twin.add(1)
    got = Collector()
    with start_host(twin, got) as link:
        stranger = twin.add(9)
        stranger.press(Key.CALL_NEXT)
        twin.pad(1).press(Key.RECALL)
        assert got.wait(lambda c: c.keys())
        assert [f.address for f in got.keys()] == [1]
        assert got.wait(lambda c: link.stats.unknown_address >= 1)


def test_unplug_gives_a_clear_error_and_replug_reopens(twin: TwinLine) -> None:
    keypad = twin.add(1)
    got = Collector()
    with start_host(twin, got) as link:
        twin.unplug()
        assert link.wait_up(False, 5)
        assert got.wait(lambda c: c.links[-1] is False)
        assert twin.port in got.details[-1] and "lost" in got.details[-1]
        failed = link.send(led_frame(1, "A001"))
        assert failed.done and not failed.ok and "port down" in failed.reason
        assert "cannot open" in link.detail or "lost" in link.detail  # it keeps trying

        twin.replug()
        assert link.wait_up(True, 5)
        assert got.links == [True, False, True]
        keypad.press(Key.CALL_NEXT)
        assert got.wait(lambda c: c.keys())
        assert link.send(led_frame(1, "A002")).wait(2) and keypad.led_text == "A002"


def test_opening_a_missing_port_names_it() -> None:
    with pytest.raises(PortUnavailable, match="/dev/ttyNOPE") as info:
        SerialPort(SerialLine(port="/dev/ttyNOPE"))
    assert isinstance(info.value, ConnectionError)


def test_rs485_modes(twin: TwinLine) -> None:
    with SerialPort(SerialLine(port=twin.port, rs485=True, rs485_mode="auto")) as port:
        assert port.rs485_effective == "auto"
    # a pty (like many USB adapters) refuses the kernel RS-485 ioctl: fall back, say so, keep working
    with SerialPort(SerialLine(port=twin.port, rs485=True, rs485_mode="pyserial")) as port:
        assert port.rs485_effective.startswith("auto (pyserial rs485_mode unsupported")
        port.write(get_codec("qframe").encode(led_frame(1, "ok")))
    port.close()  # safe twice


def test_a_pad_that_stops_heartbeats_is_reported_offline(twin: TwinLine) -> None:
    keypad = twin.add(1, "keypad", heartbeat_s=0.05)
    rating = twin.add(2, "rating", heartbeat_s=0.05, firmware="2.1.0")
    clock = FakeClock()
    got = Collector()
    with start_host(twin, got, {1: 1, 2: 1}, clock=clock) as link:
        line = link.line
        assert got.wait(lambda c: {f.address for f in c.frames if f.command is Command.HEARTBEAT} == {1, 2})
        check = check_pads(1, [(line, link.last_seen())], clock.t)
        assert check.ok and check.keypad_online and check.rating_online
        assert link.heartbeats()[2].firmware == "2.1.0"

        rating.stop_heartbeats()
        clock.t += line.heartbeat_timeout_s + 1
        # the keypad keeps beating: wait for one stamped with the new time
        assert got.wait(lambda c: link.last_seen().get(1) == clock.t)
        check = check_pads(1, [(line, link.last_seen())], clock.t)
        assert check.keypad_online and check.rating_online is False and not check.ok
        assert "评价器" in check.summary()[0] and "rating pad" in check.summary()[1]
        assert keypad.heartbeats_sent > 1


def test_thirty_two_pads_on_one_line(twin: TwinLine) -> None:
    pads = [twin.add(a, "keypad" if a % 2 else "rating") for a in range(1, 33)]
    got = Collector()
    with start_host(twin, got) as link:
        sent = [p.press(Key.CALL_NEXT) for p in pads]  # everyone at once
        assert all(s.wait_acked(10) for s in sent)
        assert got.wait(lambda c: len(c.keys()) == 32)
        assert sorted(f.address for f in got.keys()) == list(range(1, 33))
        pending = [link.send(led_frame(p.address, f"A{p.address:03d}")) for p in pads]
        assert all(x.wait(10) for x in pending)
        assert all(p.led_text == f"A{p.address:03d}" for p in pads)
        assert link.stats.decoder.crc_errors == 0 and link.stats.duplicates <= 32


def test_dlt645_keypad_over_pty() -> None:
    with TwinLine(9600, "dlt645") as line:
        keypad = line.add(4)
        got = Collector()
        with start_host(line, got) as link:
            keypad.press(Key.DIGIT, digit=7)
            assert got.wait(lambda c: c.keys())
            assert got.keys()[0].key_press() == KeyPress(Key.DIGIT, digit=7)
            assert link.send(led_frame(4, "欢迎光临")).wait(2)
            assert keypad.led_text == "欢迎光临"


def test_press_to_reply_includes_the_time_on_the_wire() -> None:
    """bench/keypad.py's loop: at 9600 baud a KEY (9 bytes), the ACK (8) and an LED frame (13) take
    31 ms on the wire, so no honest figure can be below that; at 115200 the same is 2.6 ms."""
    spec = importlib.util.spec_from_file_location("bench_keypad", Path(__file__).parents[1] / "bench" / "keypad.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    slow, fast = bench.press_reply_ms(9600, 5), bench.press_reply_ms(115200, 5)
    assert all(0.0312 <= t / 1000 < 0.5 for t in slow)
    assert all(0.0026 <= t / 1000 < 0.5 for t in fast)
    assert min(slow) > max(fast)
