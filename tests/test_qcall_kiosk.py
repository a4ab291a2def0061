"""`qcall roster build` and `qcall kiosk --twin` from the command line."""

from __future__ import annotations

import csv
import stat
from pathlib import Path
from typing import Any

from kiosk_fixtures import EXAMPLE, PLAIN_CARD, VIP_CARD

from kiosk.privacy import find_raw_numbers
from kiosk.recognition import KeyedHasher, Roster, load_key
from qbus import messages as m
from qcall.cli import main
from tests.bus_helpers import Inbox
from tests.kiosk_bus_helpers import TOPICS


def branch_file(tmp_path: Path) -> Path:
    """The example branch with its key and roster in tmp_path."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace('hash_key_file = "var/hash.key"', f'hash_key_file = "{tmp_path / "hash.key"}"')
    text = text.replace('roster_file = "examples/roster.csv"', f'roster_file = "{tmp_path / "roster.csv"}"')
    out = tmp_path / "branch.toml"
    out.write_text(text, encoding="utf-8")
    return out


def test_roster_build_writes_only_keyed_hashes(tmp_path: Path, capsys: Any) -> None:
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


def test_roster_build_refuses_a_bad_line_without_repeating_the_number(tmp_path: Path, capsys: Any) -> None:
    cfg = branch_file(tmp_path)
    cards = tmp_path / "cards.csv"
    cards.write_text(f"card,tier\n{VIP_CARD},vip\n{PLAIN_CARD},gold\n", encoding="utf-8")
    out = tmp_path / "roster.csv"
    assert main(["roster", "build", "--config", str(cfg), "--csv", str(cards), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "line 3" in err and "gold" in err and PLAIN_CARD not in err
    assert not out.exists()


def test_kiosk_command_runs_a_twin_kiosk_on_the_bus(tmp_path: Path, mosquitto: Any, make_bus: Any) -> None:
    presence = Inbox()
    spy = make_bus(mosquitto, "manager", connect=False, topics=TOPICS)
    spy.subscribe(TOPICS.presence("kiosk1"), m.Presence, presence)
    spy.connect()
    cfg = branch_file(tmp_path)
    code = main(["kiosk", "--config", str(cfg), "--twin", "--no-screen", "--host", mosquitto.host,
                 "--port", str(mosquitto.port), "--seconds", "0.5"])
    assert code == 0
    details = [(p.online, p.detail) for p in presence.values()]
    assert (True, "printer:paper_ok") in details and details[-1] == (False, "closed")
    assert (tmp_path / "hash.key").exists()  # made on first start, 0600


def test_kiosk_command_without_a_broker_says_so(tmp_path: Path, capsys: Any) -> None:
    cfg = branch_file(tmp_path)
    assert main(["kiosk", "--config", str(cfg), "--twin", "--no-screen"]) == 2
    assert "bus.host is empty" in capsys.readouterr().err
