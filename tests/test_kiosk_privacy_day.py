"""Privacy after a day of swipes through the real broker and core: no raw card, passbook or ID number
(nor a long run of its digits), and no full name, in the SQLite journal (db, -wal, -shm), the broker's
persistence, the logs (every logger at DEBUG), the MQTT traffic (a subscriber on `#`) or the printed
bytes. The masked name (张*) is the most that leaves the kiosk."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hw.magcard import luhn_complete
from kiosk.flow import ViewKind
from kiosk.privacy import find_raw_numbers, scan_paths
from kiosk.recognition import KeyedHasher, Roster
from qbus.broker import MosquittoBroker
from qbus.client import Received
from tests.conftest import CoreOn, MakeBus
from tests.kiosk_bus_helpers import KEY, KioskOn, kiosk_cfg, kiosk_factory, press, wait_view
from tests.kiosk_fixtures import id_card

CARDS = [luhn_complete(f"62220210{i:02d}4817{i:03d}5") for i in range(10)]
ACCOUNTS = [f"60138800{i:02d}93517{i:03d}" for i in range(6)]
PEOPLE = [("张三丰", "19460302"), ("李四光", "19800515"), ("欧阳娜娜", "19521111"), ("王小明", "19990101"),
          ("陈静怡", "19500720"), ("赵德胜", "19870909")]
BUSINESS = ["cash", "personal", "corporate", "forex"]


@pytest.fixture
def kiosk_on() -> Iterator[KioskOn]:
    yield from kiosk_factory()


def digit_runs(number: str, width: int = 12) -> list[str]:
    """Every run of `width` consecutive characters of the number (long enough not to occur by chance)."""
    return [number[i:i + width] for i in range(len(number) - width + 1)]


def name_forms(name: str) -> list[bytes]:
    return [name.encode(enc) for enc in ("utf-8", "gb18030", "utf-16-le", "utf-16-be")] + [
        name.encode("unicode_escape"), name.encode("ascii", "backslashreplace")]


def assert_clean(places: dict[str, bytes], numbers: list[str], names: list[str]) -> None:
    """No raw number (in any form, nor 12 of its digits in a row) and no full name in any place."""
    for where, blob in places.items():
        assert not find_raw_numbers(blob, numbers, where=where), where
        for number in numbers:
            for run in digit_runs(number):
                assert run.encode() not in blob, f"{where}: 12 digits of a raw number"
        for name in names:
            for form in name_forms(name):
                assert form not in blob, f"{where}: a full name"


def test_a_day_of_swipes_leaves_no_raw_number_or_name_anywhere(
        tmp_path: Path, mosquitto: MosquittoBroker, core_on: CoreOn, kiosk_on: KioskOn, make_bus: MakeBus,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    traffic: list[bytes] = []
    lock = threading.Lock()

    def capture(msg: Received[bytes]) -> None:
        with lock:
            traffic.append(msg.topic.encode() + b" " + msg.value)

    spy = make_bus(mosquitto, "manager-spy", connect=False)
    spy.subscribe("#", bytes, capture)
    spy.connect()
    core = core_on(mosquitto)
    hasher = KeyedHasher(KEY)
    roster = Roster({hasher.hash_number(c): "vip" for c in CARDS[:3]} | {hasher.hash_number(ACCOUNTS[0]): "wealth"})
    rt = kiosk_on(mosquitto, kiosk_cfg(repeat_guard_s=0.0), roster=roster)
    assert rt.twins is not None and rt.app is not None  # a started twin kiosk has both
    twins = rt.twins
    ids = []
    n = 0
    for round_ in range(2):  # morning and afternoon: every customer comes twice
        for i, card in enumerate(CARDS):
            twins.mag.swipe(card, name="ZHANG/SAN" if i == 0 else "")
            wait_view(rt, ViewKind.IDENTIFIED)
            press(rt, BUSINESS[(i + round_) % len(BUSINESS)])
            wait_view(rt, ViewKind.ISSUED)
            n += 1
        for i, (name, birth) in enumerate(PEOPLE):
            person = id_card(name=name, birth=birth, sex=str(i % 2 + 1))
            ids.append(person.id_number)
            twins.idcard.place(person)
            assert wait_view(rt, ViewKind.IDENTIFIED).masked_name == name[0] + "*" * (len(name) - 1)
            twins.idcard.remove()
            assert twins.idcard.wait_polled()  # the reader saw it lifted: the next card is a new placement
            press(rt, "personal")
            wait_view(rt, ViewKind.ISSUED)
            n += 1
        for account in ACCOUNTS:
            assert twins.passbook.armed.wait(5)
            assert twins.passbook.insert(account)
            wait_view(rt, ViewKind.IDENTIFIED)
            press(rt, "cash")
            wait_view(rt, ViewKind.ISSUED)
            n += 1
    assert len(twins.printer.tickets) == n
    numbers = CARDS + ACCOUNTS + sorted(set(ids))
    names = [p[0] for p in PEOPLE] + ["ZHANG/SAN", "ZHANG SAN"]

    # what was captured is real: the issue requests and the events went through the spy
    with lock:
        mqtt_blob = b"\n".join(traffic)
    assert mqtt_blob.count(b'"op":"issue"') >= n and b'"masked_name":"\xe5\xbc\xa0**"' in mqtt_blob
    journal = [p for p in tmp_path.glob("journal.db*")]
    assert {p.name for p in journal} >= {"journal.db", "journal.db-wal"}
    log_text = caplog.text + "\n".join(repr(r.args) for r in caplog.records)
    assert "customer recognised via id_card" in log_text and "paho" in log_text

    places: dict[str, bytes] = {
        "mqtt": mqtt_blob,
        "logs": log_text.encode("utf-8"),
        "printer": bytes(twins.printer.printed),
    }
    for p in journal:
        places[p.name] = p.read_bytes()
    assert not scan_paths(journal + [mosquitto.workdir], numbers)
    assert_clean(places, numbers, names)
    core.stop()  # checkpointed journal too
    assert not scan_paths(list(tmp_path.glob("journal.db*")), numbers)
