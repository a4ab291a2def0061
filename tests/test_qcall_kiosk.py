"""`qcall roster build` and `qcall kiosk --twin` from the command line."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import pytest

from kiosk.privacy import find_raw_numbers
from kiosk.recognition import KeyedHasher, Roster, load_key
from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.client import Received
from qcall.cli import main
from tests.bus_helpers import Inbox
from tests.conftest import MakeBus
from tests.kiosk_bus_helpers import TOPICS
from tests.kiosk_fixtures import EXAMPLE, PLAIN_CARD, VIP_CARD


def branch_file(tmp_path: Path, *, key: bool = True) -> Path:
    """The example branch with its key (made by `qcall hash-key`) and roster in tmp_path."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace('hash_key_file = "var/hash.key"', f'hash_key_file = "{tmp_path / "hash.key"}"')
    text = text.replace('roster_file = ""', f'roster_file = "{tmp_path / "roster.csv"}"')
    out = tmp_path / "branch.toml"
    out.write_text(text, encoding="utf-8")
    if key:
        assert main(["hash-key", "--config", str(out)]) == 0
    return out


def test_roster_build_writes_only_keyed_hashes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = branch_file(tmp_path)
    cards = tmp_path / "cards.csv"
    cards.write_text(f"卡号,等级\n{VIP_CARD},vip\n{PLAIN_CARD},wealth\n", encoding="utf-8")
    out = tmp_path / "roster.csv"
    assert main(["roster", "build", "--config", str(cfg), "--csv", str(cards), "--out", str(out)]) == 0
    said = capsys.readouterr()
    assert "2 customers" in said.out
    key = load_key(tmp_path / "hash.key", create=False)
    roster = Roster.load(out)
    assert roster.tier_of(KeyedHasher(key).hash_number(VIP_CARD)) == "vip"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    written = out.read_bytes() + (said.out + said.err).encode()
    assert not find_raw_numbers(written, [VIP_CARD, PLAIN_CARD])
    with out.open(encoding="utf-8") as f:
        assert sorted(row[1] for row in csv.reader(f)) == ["tier", "vip", "wealth"]


def test_roster_build_refuses_a_bad_line_without_repeating_the_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = branch_file(tmp_path)
    cards = tmp_path / "cards.csv"
    cards.write_text(f"card,tier\n{VIP_CARD},vip\n{PLAIN_CARD},gold\n", encoding="utf-8")
    out = tmp_path / "roster.csv"
    assert main(["roster", "build", "--config", str(cfg), "--csv", str(cards), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "line 3" in err and "gold" in err and PLAIN_CARD not in err
    assert not out.exists()


def test_kiosk_command_runs_a_twin_kiosk_on_the_bus(tmp_path: Path, mosquitto: MosquittoBroker, make_bus: MakeBus) -> None:
    presence = Inbox()
    spy = make_bus(mosquitto, "manager", connect=False, topics=TOPICS)
    spy.subscribe(TOPICS.presence("kiosk1"), m.Presence, presence)
    spy.connect()
    cfg = branch_file(tmp_path)
    code = main(["kiosk", "--config", str(cfg), "--twin", "--no-screen", "--host", mosquitto.host,
                 "--port", str(mosquitto.port), "--seconds", "0.5"])
    assert code == 0

    def details(items: list[Received[m.Presence]]) -> list[tuple[bool, str]]:
        return [(p.value.online, p.value.detail) for p in items]

    # The goodbye was acknowledged before main() returned; reaching the spy is another hop: wait.
    assert presence.wait_for(lambda items: (False, "closed") in details(items))
    seen = details(presence.items)
    assert (True, "printer:paper_ok") in seen and seen[-1] == (False, "closed")


def test_hash_key_is_made_once_and_never_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = branch_file(tmp_path)
    key = (tmp_path / "hash.key").read_bytes()
    assert stat.S_IMODE((tmp_path / "hash.key").stat().st_mode) == 0o600
    assert main(["hash-key", "--config", str(cfg)]) == 2
    assert "never replaced" in capsys.readouterr().err
    assert (tmp_path / "hash.key").read_bytes() == key


def test_kiosk_without_the_branch_key_refuses_to_start(tmp_path: Path, capsys: pytest.CaptureFixture[str], mosquitto: MosquittoBroker) -> None:
    """A kiosk that made its own key would recognise nobody on the roster: it must not start."""
    cfg = branch_file(tmp_path, key=False)
    code = main(["kiosk", "--config", str(cfg), "--twin", "--no-screen", "--host", mosquitto.host,
                 "--port", str(mosquitto.port), "--seconds", "0.5"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert str(tmp_path / "hash.key") in err and "qcall hash-key" in err
    assert not (tmp_path / "hash.key").exists()


def test_kiosk_without_the_phone_link_key_refuses_to_start(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          mosquitto: MosquittoBroker) -> None:
    """A kiosk that made its own phone link key would print QR codes the web service cannot open
    (it looks tokens up under the branch server's key): with `web.base_url` it must not start."""
    cfg = branch_file(tmp_path)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('base_url = ""', 'base_url = "https://q.example"'),
                   encoding="utf-8")
    code = main(["kiosk", "--config", str(cfg), "--twin", "--no-screen", "--host", mosquitto.host,
                 "--port", str(mosquitto.port), "--seconds", "0.5"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert str(tmp_path / "ticket-link.key") in err and "qcall web" in err
    assert not (tmp_path / "ticket-link.key").exists()


def test_kiosk_command_without_a_broker_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = branch_file(tmp_path)
    assert main(["kiosk", "--config", str(cfg), "--twin", "--no-screen"]) == 2
    assert "bus.host is empty" in capsys.readouterr().err


def test_twin_kiosk_console_swipes_places_inserts_and_takes_the_paper_out(tmp_path: Path) -> None:
    """What a person types at `qcall kiosk --twin` reaches the readers and the printer twins."""
    import os

    from hw.printer import Printer, TwinDevice
    from kiosk.app import KioskApp
    from kiosk.flow import KioskFlow, View, ViewKind
    from kiosk.recognition import KeyedHasher, Recognizer
    from qcall.kiosk import Twins, _open_twin_readers
    from qcall.kiosk_console import KioskConsole
    from tests.kiosk_fixtures import Clock, FakeCore, branch

    cfg = branch()
    clock = Clock()
    printer = Printer(TwinDevice(), answer_s=0.05)
    readers, mag, idc, pb = _open_twin_readers(paced=False)
    twins = Twins(mag, idc, pb, printer.device.emulator)
    flow = KioskFlow(cfg, issue=FakeCore(cfg, clock), printer=printer, clock=clock, steer=False,
                     recognizer=Recognizer(cfg, KeyedHasher(bytes(range(32))), Roster()))
    app = KioskApp(flow, readers=readers)
    said: list[str] = []
    console = KioskConsole(twins, app, said.append)

    def until(kind: ViewKind, **want: str) -> View:
        for _ in range(40):
            view = app.step(0.25)
            if view is not None and view.kind is kind and all(getattr(view, k) == v for k, v in want.items()):
                return view
        raise AssertionError(f"no {kind} {want}; last {app.flow.view}")

    try:
        banner = "\n".join(console.banner())
        for twin in (mag, idc, pb):
            assert twin.port in banner and os.path.exists(twin.port)  # the device paths, printed
        assert console.handle("swipe")
        until(ViewKind.IDENTIFIED)
        assert console.handle("press corporate")
        until(ViewKind.ISSUED)
        said.clear()
        console.handle("ticket")
        assert any("C001" in line for line in said) and any("对公业务" in line for line in said)
        flow.reset()
        console.handle("id 19400301")
        view = until(ViewKind.IDENTIFIED, tier="priority")
        assert "优先客户" in view.zh
        flow.reset()
        console.handle("paper out")
        view = until(ViewKind.HOME)
        assert view.fault_zh and "缺纸" in view.fault_zh
        console.handle("paper in")
        until(ViewKind.HOME, fault_zh="")
        console.handle("cover open")
        assert until(ViewKind.HOME).fault_zh
        console.handle("cover close")
        until(ViewKind.HOME, fault_zh="")
        flow.reset()
        pb.armed.set()
        console.handle("passbook")
        until(ViewKind.IDENTIFIED)
        said.clear()
        console.handle("bogus")
        assert said == ["? bogus — help"]
        assert console.handle("quit") is False
    finally:
        app.close()
        for r in readers:
            r.close()
        twins.close()
