"""Recognition: keyed hash, key file, roster building, tiers, age lane, name masking."""

from __future__ import annotations

import logging
import os
import stat
from datetime import date
from pathlib import Path

import pytest

from hw.identity import Kind, Presented, Secret
from kiosk.recognition import (
    KeyedHasher,
    PrivacyError,
    Recognizer,
    Roster,
    RosterError,
    age_on,
    build_roster,
    load_key,
)
from qbus.pii import mask_name
from tests.kiosk_fixtures import PLAIN_CARD, VIP_CARD, branch, id_card

KEY = bytes(range(32))
TODAY = date(2024, 5, 6)


def card(number: str, kind: Kind = "bank_card", *, name: str = "", birth_date: date | None = None) -> Presented:
    return Presented(kind=kind, number=Secret(number), name=name, birth_date=birth_date)


# -- key file ------------------------------------------------------------------------------------


def test_key_file_created_private_and_stable(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "var" / "hash.key"
    key = load_key(path, create=True)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_key(path) == key
    assert key.hex() not in caplog.text


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hash.key"
    load_key(path, create=True)
    os.chmod(path, 0o644)
    with pytest.raises(PrivacyError, match="chmod 600"):
        load_key(path)


@pytest.mark.parametrize("content", ["not hex at all", "abcd"])
def test_bad_key_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "hash.key"
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(PrivacyError):
        load_key(path)


def test_missing_key_without_create(tmp_path: Path) -> None:
    with pytest.raises(PrivacyError, match="does not exist"):
        load_key(tmp_path / "none.key")


def test_keyed_hash() -> None:
    h = KeyedHasher(KEY)
    assert "KEY" not in repr(h) and KEY.hex() not in repr(h)
    a = h.hash_secret(Secret(VIP_CARD))
    assert a == h.hash_number(VIP_CARD) == h.hash_number(" ".join([VIP_CARD[:4], VIP_CARD[4:]]))
    assert a != KeyedHasher(bytes(32)).hash_number(VIP_CARD)
    assert len(a) == 64 and VIP_CARD not in a


# -- roster --------------------------------------------------------------------------------------


def test_build_roster_from_bank_csv(tmp_path: Path) -> None:
    src = tmp_path / "bank.csv"
    src.write_text(f"\ufeff卡号,客户等级\n{VIP_CARD[:4]} {VIP_CARD[4:]},vip\n\n11010519491231002X,wealth\n",
                   encoding="utf-8")
    out = tmp_path / "roster.csv"
    assert build_roster(src, out, KEY, tiers={"vip", "wealth", "normal"}) == 2
    text = out.read_text()
    assert VIP_CARD not in text and "11010519491231002X" not in text
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    roster = Roster.load(out, known_tiers={"vip", "wealth"})
    assert roster.tier_of(KeyedHasher(KEY).hash_number(VIP_CARD)) == "vip"
    assert len(roster) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("card,tier\n12ab,vip\n", "line 2: not a card"),
        ("card,tier\n{v},vip\n{v},wealth\n", "line 3: same number as line 2"),
        ("card,tier\n{v},gold\n", "line 2: no such tier 'gold'"),
        ("name,level\nx,vip\n", "line 1: header"),
        ("card,tier\n{v}\n", "line 2: missing columns"),
    ],
)
def test_bad_bank_csv_names_the_line_not_the_number(tmp_path: Path, body: str, message: str) -> None:
    src = tmp_path / "bank.csv"
    src.write_text(body.format(v=VIP_CARD))
    out = tmp_path / "roster.csv"
    out.write_text("hash,tier\n")
    with pytest.raises(RosterError, match=message) as info:
        build_roster(src, out, KEY, tiers={"vip", "wealth"})
    assert VIP_CARD not in str(info.value)
    assert out.read_text() == "hash,tier\n"  # the old roster is untouched


def test_bad_roster_file(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("hash,tier\nnot-a-hash,vip\n")
    with pytest.raises(RosterError, match="line 2"):
        Roster.load(path)
    path.write_text("hash,tier\n" + "a" * 64 + ",gold\n")
    with pytest.raises(RosterError, match="no such tier"):
        Roster.load(path, known_tiers={"vip"})


# -- recognizer ----------------------------------------------------------------------------------


@pytest.fixture
def recognizer() -> Recognizer:
    hasher = KeyedHasher(KEY)
    roster = Roster({hasher.hash_number(VIP_CARD): "vip", hasher.hash_number(id_card("李四", "19400101").id_number): "wealth"})
    return Recognizer(branch(), hasher, roster)


def test_vip_card_gets_its_tier_and_is_wiped(recognizer: Recognizer) -> None:
    p = card(VIP_CARD)
    who = recognizer.recognize(p, TODAY)
    assert who.tier == "vip" and who.in_roster and who.via == "bank_card"
    assert len(p.number) == 0


def test_unknown_card_is_normal(recognizer: Recognizer) -> None:
    who = recognizer.recognize(card(PLAIN_CARD), TODAY)
    assert who.tier == "normal" and not who.in_roster and who.customer


@pytest.mark.parametrize(
    ("birth", "tier"),
    [("19490301", "priority"), ("19540506", "priority"), ("19540507", "normal"), ("19900101", "normal")],
)
def test_age_lane_from_id_birth_date(recognizer: Recognizer, birth: str, tier: str) -> None:
    c = id_card("王五", birth)
    p = card(c.id_number, kind="id_card", name=c.name, birth_date=date(int(birth[:4]), int(birth[4:6]), int(birth[6:])))
    who = recognizer.recognize(p, TODAY)
    assert who.tier == tier and who.masked_name == "王*" and who.via == "id_card"


def test_better_roster_tier_wins_over_age(recognizer: Recognizer) -> None:
    c = id_card("李四", "19400101")
    who = recognizer.recognize(card(c.id_number, kind="id_card", name="李四", birth_date=date(1940, 1, 1)), TODAY)
    assert who.tier == "wealth" and who.age == 84


def test_age_on() -> None:
    assert age_on(date(1954, 5, 6), TODAY) == 70
    assert age_on(date(1954, 5, 7), TODAY) == 69
    assert age_on(date(1952, 2, 29), date(2024, 2, 28)) == 71
    assert age_on(date(1952, 2, 29), date(2024, 2, 29)) == 72


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三", "张*"), ("欧阳娜娜", "欧***"), ("李", "李"), ("John Smith", "J*** S****"),
     ("  ", ""), ("阿卜杜·热合曼", "阿******")],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_a_bookings_masked_name_fits_the_booking_field() -> None:
    """The web and the booking import mask with the kiosk's rule, cut to a booking's 16 characters."""
    assert mask_name("Maximilian Alexander Wolfgang", 16) == "M********* A****"
    assert mask_name("张三丰", 16) == "张**"
