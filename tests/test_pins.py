"""Teller PINs (issue 10, section 3): argon2id hashes on the server only, lockout against guessing
on the real Mosquitto and the real core service, `qcall pin set` prompting, weak PINs refused."""

from __future__ import annotations

import logging
import os
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
from qserver.pins import CHEAP_COST, DEFAULT_COST, PIN_LENGTHS, PinBook, PinGuard, weak_reason
from qserver.store import DurableCore
from tests.bus_helpers import Inbox
from tests.conftest import CoreOn, MakeBus
from tests.test_config import EXAMPLE

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
