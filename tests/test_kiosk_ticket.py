"""Ticket bytes, decoded the way a printer would: GB18030 Chinese, readable English, QR, cut."""

from __future__ import annotations

import re

import pytest

from hw.printer import Printer, TwinDevice
from kiosk.ticket import FS_CHINESE_ON, INVERT_ON, TicketLayout, display_width, encode, wrap, zone_words
from qbus.messages import TicketView
from tests.kiosk_fixtures import T0, branch


def gb(text: str) -> bytes:
    return text.encode("gb18030")


def printed(data: bytes) -> tuple[str, str]:
    """The text as printed, decoded from GB18030: (without any whitespace, with single spaces).

    Lines are wrapped to the paper, so checks run on the joined text."""
    text = re.sub(r"[\x00-\x09\x0b-\x1f]", "", data.decode("gb18030", errors="replace"))
    return re.sub(r"\s+", "", text), re.sub(r"\s+", " ", text)


def ticket(*, number: str = "A012", business: str = "cash", tier: str = "normal", ahead: int = 3,
           est_wait_s: float = 400.0, masked_name: str = "", granted_by: str = "") -> TicketView:
    return TicketView(id="2024-05-06/A012", number=number, business=business, tier=tier, issued_at=T0,
                      ahead=ahead, est_wait_s=est_wait_s, masked_name=masked_name, granted_by=granted_by)


@pytest.fixture(scope="module")
def layout() -> TicketLayout:
    return TicketLayout(branch())


def test_chinese_is_gb18030_and_english_readable(layout: TicketLayout) -> None:
    data = layout.render(ticket())
    for zh in ("示范银行", "深圳福田支行", "个人现金业务", "取号时间"):
        assert gb(zh) in data, zh  # short lines: the bytes themselves
    flat, spaced = printed(data)
    for zh in ("您前面还有3人等候", "预计等候约7分钟", "请留意现金区1号窗口、2号窗口；贵宾区5号VIP窗口叫号"):
        assert zh in flat, zh
    for en in ("Demo Bank", "Shenzhen Futian Branch", "Cash deposit & withdrawal", "3 people ahead of you",
               "about 7 min", "2024-05-06 09:30:00", "Cash area: Counter 1, Counter 2; VIP area: VIP Counter 5"):
        assert en in spaced, en
    assert "个人现金业务".encode() not in data  # not UTF-8


def test_printer_put_in_chinese_mode_first(layout: TicketLayout) -> None:
    data = layout.render(ticket())
    assert data.startswith(b"\x1b@")
    assert data.index(FS_CHINESE_ON) < data.index(gb("示范银行"))


def test_full_width_punctuation_is_not_question_marks(layout: TicketLayout) -> None:
    assert encode("（）、：；“”") == gb("（）、：；“”")
    assert b"?" not in encode("（）、：")
    data = layout.render(ticket())
    assert gb("大堂自助存取款机（ATM）") in data


def test_number_is_very_large_then_back_to_normal(layout: TicketLayout) -> None:
    data = layout.render(ticket())
    at = data.index(b"A012\n")
    assert data[at - 6 : at] == b"\x1d!\x55\x1bE\x01"  # GS ! : 6x width, 6x height; bold
    assert b"\x1d!\x00" in data[at : at + 12]


def test_qr_code_of_the_ticket_id_and_cut(layout: TicketLayout) -> None:
    t = ticket()
    data = layout.render(t)
    store = b"\x1d(k" + (len(t.id) + 3).to_bytes(2, "little") + b"1P0" + t.id.encode()
    assert store in data
    assert b"\x1d(k\x03\x001Q0" in data  # print the stored symbol
    assert data.index(store) < data.index(b"\x1d(k\x03\x001Q0")
    assert data.endswith(b"\x1dV\x00")


def test_vip_tier_mark_and_masked_name(layout: TicketLayout) -> None:
    data = layout.render(ticket(tier="wealth", masked_name="张*"))
    assert INVERT_ON + gb(" 财 ") in data
    assert gb("财富客户") in data and b"Wealth" in data
    assert gb("尊敬的 张* 您好") in data


def test_normal_ticket_has_no_mark_and_no_greeting(layout: TicketLayout) -> None:
    data = layout.render(ticket(business="corporate"))
    assert INVERT_ON not in data
    assert gb("尊敬的") not in data
    assert gb("温馨提示") not in data  # corporate banking has no self-service machine
    assert gb("对公区 4号窗口") in data


def test_self_service_hint_names_the_machine(layout: TicketLayout) -> None:
    flat, spaced = printed(layout.render(ticket(business="personal")))
    assert "此业务也可在智能柜员机（STM）办理，无需排队" in flat
    assert "you can also do this at the Smart Teller Machine (STM)" in spaced


def test_next_in_line_and_priority_granted(layout: TicketLayout) -> None:
    data = layout.render(ticket(ahead=0, est_wait_s=0.0, tier="priority", granted_by="2001"))
    assert gb("您是下一位") in data and b"You are next" in data
    assert gb("预计等候") not in data
    assert "Priority granted by lobby staff" in printed(data)[1]


def test_reprint_is_marked(layout: TicketLayout) -> None:
    assert b"REPRINT" in layout.render(ticket(), reprint=True)
    assert b"REPRINT" not in layout.render(ticket())


def test_control_characters_cannot_be_injected(layout: TicketLayout) -> None:
    data = layout.render(ticket(masked_name="张\x1b@\x1dV\x00*"))
    assert data.count(b"\x1b@") == 1 and data.count(b"\x1dV") == 1


def test_wrap_respects_display_width() -> None:
    text = "温馨提示：此业务也可在大堂自助存取款机（ATM）办理，无需排队。Tip: you can also do this at the ATMs."
    for columns in (32, 48):
        lines = wrap(text, columns)
        assert all(display_width(line) <= columns for line in lines)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_zone_words_respect_counter_tiers() -> None:
    cfg = branch()
    zh, en = zone_words(cfg, "wealth", "normal")
    assert "贵宾区 5号VIP窗口、6号理财室" in zh and "Wealth Room 6" in en


def test_ticket_prints_whole_on_the_twin(layout: TicketLayout) -> None:
    dev = TwinDevice()
    data = layout.render(ticket())
    Printer(dev).print_ticket(data)
    assert dev.emulator.tickets == [data]


def test_narrow_58mm_paper(layout: TicketLayout) -> None:
    data = TicketLayout(branch(), width_chars=32).render(ticket(number="B105"))
    assert b"-" * 32 + b"\n" in data and b"-" * 33 not in data
