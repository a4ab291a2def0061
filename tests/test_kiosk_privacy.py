"""The privacy scanner finds a raw number in every form it could leak in, and nothing else."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kiosk.privacy import find_raw_numbers, scan_paths
from kiosk.recognition import KeyedHasher
from tests.kiosk_fixtures import PLAIN_CARD, VIP_CARD

ID_NO = "11010519491231002X"


@pytest.mark.parametrize(
    ("blob", "form"),
    [
        (f"swipe {VIP_CARD} ok".encode(), "ascii"),
        (f"{VIP_CARD[:4]} {VIP_CARD[4:8]} {VIP_CARD[8:12]} {VIP_CARD[12:16]} {VIP_CARD[16:]}".encode(), "ascii"),
        (f"card={VIP_CARD}".encode("utf-16-le"), "utf-16-le"),
        (f"卡号{VIP_CARD}".encode("gb18030"), "ascii"),
        ("卡号" + VIP_CARD.translate(str.maketrans("0123456789", "０１２３４５６７８９")), "full-width"),
        (b"frame " + VIP_CARD.encode().hex().encode(), "hex"),
    ],
)
def test_finds_each_form(blob: bytes | str, form: str) -> None:
    leaks = find_raw_numbers(blob, [PLAIN_CARD, VIP_CARD])
    assert leaks and leaks[0].number_index == 1 and leaks[0].form == form
    assert VIP_CARD not in str(leaks[0])


def test_id_number_with_lower_case_x() -> None:
    assert find_raw_numbers(f"id {ID_NO.lower()}", [ID_NO])


def test_hashes_and_masked_numbers_are_clean() -> None:
    h = KeyedHasher(bytes(32))
    blob = f"{h.hash_number(VIP_CARD)} 张* {VIP_CARD[:6]}******{VIP_CARD[-4:]}"
    assert find_raw_numbers(blob, [VIP_CARD, ID_NO]) == []


def test_scan_sqlite_files_and_directories(tmp_path: Path) -> None:
    db = tmp_path / "data" / "journal.db"
    db.parent.mkdir()
    con = sqlite3.connect(db)
    con.execute("create table t (x text)")
    con.execute("insert into t values (?)", (f"customer {ID_NO}",))
    con.commit()
    con.close()
    (tmp_path / "data" / "kiosk.log").write_text("all fine\n")
    leaks = scan_paths([tmp_path / "data"], [VIP_CARD, ID_NO])
    assert [(leak.number_index, leak.where.endswith("journal.db")) for leak in leaks] == [(1, True)]
