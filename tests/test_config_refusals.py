"""`qcall check-config` refuses what a component would refuse later (issue 10, section 4), in one
line naming the key, and counters by their number; the journal is private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from qcall.cli import main
from qserver.journal import Journal
from tests.test_config import EXAMPLE

SERIAL = '''
[[serial]]
port = "/dev/ttyUSB0"
devices = [{ address = 1, counter = 1 }, { address = 2, counter = 1, kind = "rating" }]
'''


def _check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    cfg = tmp_path / "branch.toml"
    cfg.write_text(text, encoding="utf-8")
    code = main(["check-config", "--config", str(cfg)])
    said = capsys.readouterr()
    return code, said.err.strip()


BASE = EXAMPLE.read_text(encoding="utf-8")


@pytest.mark.parametrize(("old", "new", "said"), [
    ('timezone = "Asia/Shanghai"', 'timezone = "Asia/Shangai"', "branch.timezone: 'Asia/Shangai' is not a known time zone"),
    ('kind = "twin"', 'kind = "lpt"', "printer.kind"),
    ('kind = "twin"', 'kind = "network"', "printer.host: kind = 'network' needs it"),
    ('kind = "twin"', 'kind = "usb"', "printer.usb_vendor"),
    ('serves = { wealth = 1 }', 'serves = { loans = 1 }', "counter 6.serves.loans: no such business type"),
    ('[[counter]]\nid = 6', '[[counter]]\nid = 1000', "counter 1000: id 1000 must be 1..999"),
    ('tls = false\nca_file = ""', 'tls = true\nca_file = ""', "bus.ca_file: tls = true needs the branch CA"),
    ('lockout_minutes = 15', 'lockout_minutes = 0', "pins.lockout_minutes"),
    ('id = "kiosk1"', 'id = "lobby1"', "kiosk.id"),
    ('host = ""', 'host = ""\nprefix = "bank/qcall"', "bus.prefix"),
    ('snapshot_every = 5000', 'snapshot_every = 0', "storage:"),
    ('priority_age = 70', 'priority_age = 700', "privacy:"),
    ('repeat_guard_s = 3.0', 'repeat_guard_s = 3.0\nresolution = [0, 0]', "kiosk.resolution"),
])
def test_check_config_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, said: str) -> None:
    assert old in BASE
    code, err = _check(tmp_path, BASE.replace(old, new, 1), capsys)
    assert code == 2 and said in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(("serial", "said"), [
    (SERIAL.replace('kind = "rating"', 'kind = "ratng"'), "serial[0].devices[1].kind"),
    (SERIAL.replace("address = 2", "address = 1"), "address 1 is used twice"),
    (SERIAL.replace("address = 2", "address = 40"), "address 40 must be 1..32"),
    (SERIAL.replace("counter = 1 }, {", "counter = 9 }, {"), "names counter 9, which the branch does not have"),
    (SERIAL.replace('port = "/dev/ttyUSB0"', 'port = "/dev/ttyUSB0"\ncodec = "modbus"'), "serial[0].codec"),
    (SERIAL.replace('port = "/dev/ttyUSB0"', 'port = "/dev/ttyUSB0"\nbaudrate = 9601'), "9601 is not a standard rate"),
    (SERIAL + SERIAL.replace("counter = 1", "counter = 2"), "port '/dev/ttyUSB0' is used by two lines"),
])
def test_check_config_refuses_what_the_bridge_would(tmp_path: Path, capsys: pytest.CaptureFixture[str], serial: str, said: str) -> None:
    code, err = _check(tmp_path, BASE + serial, capsys)
    assert code == 2 and said in err, err


def test_the_example_and_a_wired_line_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _check(tmp_path, BASE + SERIAL, capsys)[0] == 0


def test_report_with_a_misspelt_zone_is_one_line_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "branch.toml"
    cfg.write_text(BASE.replace('"Asia/Shanghai"', '"Asia/Shangai"'), encoding="utf-8")
    assert main(["report", "--config", str(cfg), "--journal", str(tmp_path / "j.db")]) == 2
    assert "branch.timezone" in capsys.readouterr().err


def test_the_journal_is_not_world_readable(tmp_path: Path) -> None:
    j = Journal(tmp_path / "var" / "journal.db")
    j.append([(1.0, "r1", "kiosk1", b'{"op":"tick"}')])
    j.close()
    data = list((tmp_path / "var").glob("journal.db*"))
    assert len(data) >= 2  # the file and its WAL at least
    for f in data:
        if f.suffix != ".id":  # the marker holds only the journal's random id
            assert stat.S_IMODE(f.stat().st_mode) & 0o077 == 0, f
    loose = tmp_path / "old.db"
    loose.touch(mode=0o644)
    loose.chmod(0o644)
    Journal(loose).close()
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600
