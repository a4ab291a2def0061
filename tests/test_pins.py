"""Teller PINs (issue 10, section 3): argon2id hashes on the server only, lockout against guessing
on the real Mosquitto and the real core service, `qcall pin set` prompting, weak PINs refused."""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.config import ConfigError, load, loads
from qbus.topics import Topics
from qcall.cli import main
from qserver.pins import (
    CHEAP_COST,
    DEFAULT_COST,
    PIN_LENGTHS,
    BadPin,
    PinBook,
    PinGuard,
    PinLocked,
    weak_reason,
)
from qserver.store import DurableCore
from tests.bus_helpers import Inbox
from tests.conftest import CoreOn, MakeBus
from tests.served import PINS as SERVED_PINS
from tests.served import served_branch
from tests.test_config import EXAMPLE
from tests.test_hostile_inputs import T0, HandClock

CFG = load(EXAMPLE)
TOPICS = Topics(CFG.bus.prefix, CFG.branch.id)
MANAGER_ID, MANAGER_PIN = "9001", "5839"  # the branch manager, a PIN no rule refuses
REAL_PINS = {t.id: f"{(int(t.id) * 7919) % 10000:04d}7" for t in CFG.teller} | {MANAGER_ID: MANAGER_PIN}


def _book() -> PinBook:
    return PinBook.from_pins(REAL_PINS, CHEAP_COST)


def _request(rid: str, cmd: m.Command) -> bytes:
    return m.encode(m.Request(id=rid, cmd=cmd))


def code_of(reply: m.Reply) -> str:
    """The error code of a refused reply; "ok" when it was not refused."""
    return reply.error.code if reply.error is not None else "ok"


def test_all_10000_pins_from_a_counter_are_locked_out_after_5(mosquitto: MosquittoBroker, core_on: CoreOn,
                                                             make_bus: MakeBus, caplog: pytest.LogCaptureFixture) -> None:
    """The attack of the issue: a counter credential tries every 4-digit PIN of the manager's id.
    The right one (5839) comes long after the lockout, so it gets in nowhere; the lockout is logged
    naming teller and counter and goes out on alert/pin_lockout."""
    caplog.set_level(logging.WARNING, logger="qserver.pins")
    # Without the per-device rate limit, which would answer most of these `rate_limited` before the
    # PIN is even looked at: what is tested here is the lockout itself.
    limits = msgspec.structs.replace(CFG.limits, device_rate_per_s=1e9, device_burst=1_000_000_000)
    core_on(mosquitto, msgspec.structs.replace(CFG, limits=limits), pins=_book())
    replies, alerts = Inbox(), Inbox()
    spy = make_bus(mosquitto, "manager1", connect=False, topics=TOPICS)
    spy.subscribe(TOPICS.reply("counter3"), bytes, replies)
    spy.subscribe(TOPICS.alert("pin_lockout"), m.decode_event, alerts)
    spy.connect()
    attacker = make_bus(mosquitto, "counter3", topics=TOPICS)
    for start in range(0, 10_000, 250):  # in bursts the broker's queues hold (max_queued_messages)
        for n in range(start, start + 250):
            cmd = m.Login(counter=3, teller=MANAGER_ID, pin=f"{n:04d}")
            attacker.publish_raw(TOPICS.cmd("counter3"), _request(f"try-{n}", cmd))
        assert replies.wait_count(start + 250, timeout=30), len(replies.values())
    got = [m.decode(r, m.Reply) for r in replies.values()]
    codes = [code_of(r) for r in got]
    assert "ok" not in codes  # 5839 was tried too, but while locked out
    assert codes.count("bad_pin") == CFG.pins.max_failures
    assert codes.count("pin_locked") == 10_000 - CFG.pins.max_failures
    assert alerts.wait_count(1)
    lock = alerts.values()[0]
    assert isinstance(lock, m.PinLockout)
    assert (lock.kind, lock.teller, lock.device, lock.counter) == ("teller", MANAGER_ID, "counter3", 3)
    assert lock.until - lock.at == pytest.approx(CFG.pins.lockout_minutes * 60)
    logged = [r.getMessage() for r in caplog.records if "LOCKOUT" in r.getMessage()]
    assert logged and "9001" in logged[0] and "counter 3" in logged[0] and "5839" not in caplog.text


def test_a_manager_lifts_the_lockout_with_qcall_pin_unlock(mosquitto: MosquittoBroker, core_on: CoreOn,
                                                          make_bus: MakeBus, capsys: pytest.CaptureFixture[str]) -> None:
    core_on(mosquitto, CFG, pins=_book())
    counter = make_bus(mosquitto, "counter2", topics=TOPICS)
    for n in range(CFG.pins.max_failures):
        assert code_of(counter.request(m.Login(counter=2, teller="1002", pin=f"{n:04d}"), 10)) == "bad_pin"
    right = m.Login(counter=2, teller="1002", pin=REAL_PINS["1002"])
    assert code_of(counter.request(right, 10)) == "pin_locked"
    args = ["pin", "unlock", "1002", "--config", str(EXAMPLE), "--host", mosquitto.host, "--port", str(mosquitto.port)]
    assert main(args) == 0 and "lifted" in capsys.readouterr().out
    assert counter.request(right, 10).ok


def test_a_counter_cannot_unlock(mosquitto: MosquittoBroker, core_on: CoreOn, make_bus: MakeBus) -> None:
    core_on(mosquitto, CFG, pins=_book())
    counter = make_bus(mosquitto, "counter2", topics=TOPICS)
    r = counter.request(m.UnlockPin(teller="1002"), 10)
    assert not r.ok and code_of(r) == "forbidden"


def test_lockout_ends_after_the_window_and_a_device_trying_many_ids_is_locked(tmp_path: Path) -> None:
    guard = PinGuard(_book(), CFG)
    for n in range(5):
        with pytest.raises(Exception, match="wrong"):
            guard.check("1001", f"{n:04d}", device="counter1", counter=1, now=100.0)
    with pytest.raises(Exception, match="locked"):
        guard.check("1001", REAL_PINS["1001"], device="counter1", counter=1, now=101.0)
    window = CFG.pins.lockout_minutes * 60
    after = 100.0 + window + 1
    for n in range(5):  # the window passed: five more guesses lock it for twice as long
        with pytest.raises(Exception, match="wrong"):
            guard.check("1001", f"{n + 10:04d}", device="counter2", counter=2, now=after)
    assert guard.alerts[-1].until - after == 2 * window
    later = after + 2 * window + 1
    guard.check("1001", REAL_PINS["1001"], device="counter1", counter=1, now=later)  # in again
    # one kiosk spreading its guesses over every id: the device is locked after 10
    ids = [t.id for t in CFG.teller] + ["nobody"]
    for n in range(CFG.pins.device_max_failures):
        with pytest.raises(Exception, match="wrong"):
            guard.check(ids[n % len(ids)], "0000", device="kiosk1", counter=0, now=later)
    with pytest.raises(Exception, match="locked"):
        guard.check("2001", REAL_PINS["2001"], device="kiosk1", counter=0, now=later)
    assert [a.kind for a in guard.alerts] == ["teller", "teller", "device"]
    assert guard.alerts[2].device == "kiosk1"


def test_kiosk_staff_pins_are_checked_by_the_core_and_never_journaled(tmp_path: Path) -> None:
    store = DurableCore(CFG, tmp_path / "j.db", pins=_book())
    store.submit("r", "manager1", m.ResetDay(day="2026-11-23"), 1.0)
    cmd = m.Issue(business="cash", tier="priority", via="staff", granted_by="2001", kiosk="kiosk1")
    bad = store.submit("a", "kiosk1", msgspec.structs.replace(cmd, staff_pin="0000"), 2.0)
    assert not bad.ok and code_of(bad) == "bad_pin"
    teller = store.submit("b", "kiosk1", msgspec.structs.replace(cmd, granted_by="1001",
                                                              staff_pin=REAL_PINS["1001"]), 2.0)
    assert not teller.ok  # a counter teller may not grant priority, even with the right PIN
    good = store.submit("c", "kiosk1", msgspec.structs.replace(cmd, staff_pin=REAL_PINS["2001"]), 2.0)
    assert good.ok and good.ticket is not None and good.ticket.granted_by == "2001"
    store.commit()
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("j.db*"))
    assert REAL_PINS["2001"].encode() not in raw and b'"staff_pin":""' in raw


# ---------------------------------------------------------------------------------- the file


def _pin_set(cfg: Path, teller: str, *lines: str) -> subprocess.CompletedProcess[str]:
    """`qcall pin set` as an admin runs it, the PIN typed twice (stdin: no terminal in a test)."""
    return subprocess.run([sys.executable, "-m", "qcall.cli", "pin", "set", teller, "--config", str(cfg)],
                          input="".join(f"{x}\n" for x in lines), capture_output=True, text=True, timeout=60)


def _branch(tmp_path: Path) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8").replace('file = "var/pins.toml"', f'file = "{tmp_path / "pins.toml"}"')
    out = tmp_path / "branch.toml"
    out.write_text(text, encoding="utf-8")
    return out


def test_pin_set_writes_a_private_file_of_slow_salted_hashes(tmp_path: Path) -> None:
    cfg = _branch(tmp_path)
    done = _pin_set(cfg, "1001", "480261", "480261")
    assert done.returncode == 0, done.stderr
    assert _pin_set(cfg, "1002", "480261", "480261").returncode == 0  # same PIN, different hash
    path = tmp_path / "pins.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # not world- (nor group-) readable
    text = path.read_text()
    assert "480261" not in text and "480261" not in done.stdout + done.stderr
    book = PinBook.load(path)
    assert book.ruled == {"1001", "1002"}
    h1, h2 = book.hashes["1001"], book.hashes["1002"]
    assert h1 != h2 and h1.startswith("$argon2id$") and "m=65536,t=2" in h1
    assert book.verify("1001", "480261") and not book.verify("1001", "480262")
    assert "pin_sha256" not in (tmp_path / "branch.toml").read_text()


def test_one_verification_at_the_branch_cost_is_slow() -> None:
    """Offline guessing costs ~85 ms per PIN per core here (64 MiB, 2 passes), not 14 µs."""
    book = PinBook.from_pins({"1001": "480261"}, DEFAULT_COST)
    start = time.perf_counter()
    assert not book.verify("1001", "480262")
    assert time.perf_counter() - start >= 0.04


@pytest.mark.parametrize("pin", ["0000", "1234", "123456", "7777", "1001", "9876", "12a4", "123"])
def test_pin_set_refuses_weak_pins(tmp_path: Path, pin: str) -> None:
    cfg = _branch(tmp_path)
    done = _pin_set(cfg, "1001", pin, pin)
    assert done.returncode == 2 and "PIN refused" in done.stderr
    assert not (tmp_path / "pins.toml").exists()
    assert weak_reason("1001", pin)


def test_every_pin_the_rules_allow_can_be_typed_on_a_keypad() -> None:
    from counter_panel.machine import MAX_ENTRY_DIGITS

    assert PIN_LENGTHS.stop - 1 == MAX_ENTRY_DIGITS
    assert weak_reason("1001", "48026173") == "" and weak_reason("1001", "480261739")


def test_pin_set_refuses_two_different_pins(tmp_path: Path) -> None:
    done = _pin_set(_branch(tmp_path), "1001", "480261", "480262")
    assert done.returncode == 2 and "differ" in done.stderr


def _serve(cfg_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "qcall.cli", "serve", "--config", str(cfg_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _serve_refusal(cfg: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["serve", "--config", str(cfg)]) == 2
    return capsys.readouterr().err


def _served_branch(tmp_path: Path) -> Path:
    cfg = _branch(tmp_path)
    cfg.write_text(cfg.read_text().replace('host = ""', 'host = "127.0.0.1"'))
    return cfg


def test_serve_refuses_the_demo_pins_a_missing_file_and_a_readable_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _served_branch(tmp_path)
    path = tmp_path / "pins.toml"
    assert "qcall pin set" in _serve_refusal(cfg, capsys)  # no file at all
    PinBook.example_for(CFG, CHEAP_COST).save(path)
    assert "demo's example PINs" in _serve_refusal(cfg, capsys)
    demo_pin = PinBook.from_pins({t.id: t.id for t in CFG.teller}, CHEAP_COST)  # not marked as the demo's
    demo_pin.save(path)
    assert "not set through the weak-PIN rules" in _serve_refusal(cfg, capsys)
    demo_pin.ruled = {t.id for t in CFG.teller}  # a hand-edited file claiming the rules: still caught
    demo_pin.save(path)
    assert "demo's example PIN (the teller id)" in _serve_refusal(cfg, capsys)
    PinBook.checked({k: v for k, v in REAL_PINS.items() if k != "1003"}, CHEAP_COST).save(path)
    assert "teller 1003" in _serve_refusal(cfg, capsys)
    weak = PinBook.checked(REAL_PINS, CHEAP_COST)
    weak.hashes["1004"] = PinBook.from_pins({"1004": "0000"}, CHEAP_COST).hashes["1004"]  # not via the rules
    weak.ruled.discard("1004")
    weak.save(path)
    assert "teller 1004's PIN was not set through the weak-PIN rules" in _serve_refusal(cfg, capsys)
    PinBook.checked(REAL_PINS, CHEAP_COST).save(path)
    os.chmod(path, 0o644)
    assert "chmod 600" in _serve_refusal(cfg, capsys)


def test_an_old_branch_file_with_pin_sha256_says_what_replaced_it() -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace('name = "王芳"', 'name = "王芳"\npin_sha256 = "' + "0" * 64 + '"')
    with pytest.raises(ConfigError, match=r"teller\[0\]\.pin_sha256: .*qcall pin set 1001"):
        loads(text)


def test_pin_set_on_a_terminal_asks_twice_without_echo(tmp_path: Path) -> None:
    """On a real terminal (a pty) the PIN is read with getpass: prompted twice, never echoed."""
    import pty
    import select

    cfg = _branch(tmp_path)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "qcall.cli", "pin", "set", "1003", "--config", str(cfg)],
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    seen = b""

    def read_until(text: bytes) -> None:
        nonlocal seen
        while text not in seen:
            ready, _, _ = select.select([master], [], [], 30)
            assert ready, f"no {text!r} on the terminal; got {seen!r}"
            try:
                seen += os.read(master, 1024)
            except OSError:  # the child closed the terminal
                break

    try:
        read_until(b"New PIN for 1003")
        os.write(master, b"480261\n")
        read_until(b"Same PIN again")
        os.write(master, b"480261\n")
        read_until(b"PIN set in")
        assert proc.wait(30) == 0
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert b"480261" not in seen  # echo was off while it was typed
    assert PinBook.load(tmp_path / "pins.toml").verify("1003", "480261")


# ---------------------------------------------------------------------------------- restarts


def test_strikes_and_a_lockout_survive_a_core_restart_and_end_on_the_branch_clock(
        mosquitto: MosquittoBroker, core_on: CoreOn, make_bus: MakeBus, tmp_path: Path) -> None:
    """An attacker who can make the core restart gets no fresh tries: the wrong PINs before a
    restart still count, the lockout holds across the next one, and it ends when branch time
    (injected here) passes the configured window, not before."""
    clock = HandClock()
    limits = msgspec.structs.replace(CFG.limits, device_rate_per_s=1e9, device_burst=1_000_000_000)
    cfg = msgspec.structs.replace(CFG, limits=limits)
    runner = core_on(mosquitto, cfg, pins=_book(), clock=clock.branch())
    alerts = Inbox()
    spy = make_bus(mosquitto, "manager1", connect=False, topics=TOPICS)
    spy.subscribe(TOPICS.alert("pin_lockout"), m.decode_event, alerts)
    spy.connect()
    counter = make_bus(mosquitto, "counter2", topics=TOPICS)
    wrong = [f"8642{n}" for n in range(CFG.pins.max_failures)]
    for pin in wrong[:-1]:
        assert code_of(counter.request(m.Login(counter=2, teller="1002", pin=pin), 10)) == "bad_pin"
    runner.stop()
    runner = core_on(mosquitto, cfg, pins=_book(), clock=clock.branch())  # a fresh process's memory
    assert code_of(counter.request(m.Login(counter=2, teller="1002", pin=wrong[-1]), 10)) == "bad_pin"
    right = m.Login(counter=2, teller="1002", pin=REAL_PINS["1002"])
    assert code_of(counter.request(right, 10)) == "pin_locked"  # the 5th wrong PIN locked it
    assert alerts.wait_count(1) and _failures(alerts.values()[0]) == CFG.pins.max_failures
    runner.stop()
    clock.to(T0 + 60)
    core_on(mosquitto, cfg, pins=_book(), clock=clock.branch())
    assert code_of(counter.request(right, 10)) == "pin_locked"  # still, after a second restart
    window = CFG.pins.lockout_minutes * 60
    clock.to(T0 + window - 5)
    assert code_of(counter.request(right, 10)) == "pin_locked"
    clock.to(T0 + window + 5)
    assert code_of(counter.request(right, 10)) == "ok"
    saved = b"".join(p.read_bytes() for p in tmp_path.glob("journal.db*"))
    assert not [p for p in [*wrong, REAL_PINS["1002"]] if p.encode() in saved]  # counts, never a PIN


def test_a_killed_qcall_serve_keeps_its_pin_lockouts(tmp_path: Path, mosquitto: MosquittoBroker,
                                                     make_bus: MakeBus) -> None:
    """The real `qcall serve`, SIGKILLed right after the lockout (no clean stop), starts locked."""
    cfg_path = served_branch(tmp_path, mosquitto.host, mosquitto.port, tmp_path / "core.db")
    proc = _serve(cfg_path)
    try:
        counter = make_bus(mosquitto, "counter2", topics=TOPICS, retry_s=0.5)
        for n in range(CFG.pins.max_failures):
            assert code_of(counter.request(m.Login(counter=2, teller="1002", pin=f"9753{n}"), 20)) == "bad_pin"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc = _serve(cfg_path)
        right = m.Login(counter=2, teller="1002", pin=SERVED_PINS["1002"])
        assert code_of(counter.request(right, 30)) == "pin_locked"
        assert counter.request(m.Login(counter=2, teller="1001", pin=SERVED_PINS["1001"]), 10).ok  # others may
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def _failures(alert: object) -> int:
    assert isinstance(alert, m.PinLockout)
    return alert.failures


def test_saved_strikes_hold_no_pin_an_unlock_is_saved_and_a_damaged_value_is_survived(
        caplog: pytest.LogCaptureFixture) -> None:
    kept: dict[str, str] = {}
    guard = PinGuard(_book(), CFG, save=lambda v: kept.__setitem__("v", v))
    for n in range(CFG.pins.max_failures):
        with pytest.raises(BadPin):
            guard.check("1001", f"1357{n}", device="counter1", counter=1, now=100.0)
    assert "1357" not in kept["v"] and REAL_PINS["1001"] not in kept["v"]
    again = PinGuard(_book(), CFG, saved=kept["v"], save=lambda v: kept.__setitem__("v", v))
    with pytest.raises(PinLocked):
        again.check("1001", REAL_PINS["1001"], device="counter1", counter=1, now=101.0)
    again.unlock("1001")  # a manager's `qcall pin unlock` is kept too
    PinGuard(_book(), CFG, saved=kept["v"]).check("1001", REAL_PINS["1001"], device="counter1", counter=1,
                                                   now=102.0)
    caplog.set_level(logging.ERROR, logger="qserver.pins")
    fresh = PinGuard(_book(), CFG, saved="{not json")
    assert "cannot be read" in caplog.text
    fresh.check("1001", REAL_PINS["1001"], device="counter1", counter=1, now=103.0)
