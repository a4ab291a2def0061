"""What a teller sees in `qcall panel` (the terminal's text, in order) on a real broker and core:
the customer in hand in full after a call, a confirmed recall, refusals with their reason in
Chinese and English, prompts that follow the state, and one line for a typed teller id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.client import BusClient
from qbus.config import load
from qcall.keypad import HELP as KEYPAD_HELP
from qcall.panel import BusPanel
from qserver.pins import CHEAP_COST, PinBook
from qserver.runner import CoreRunner
from tests.conftest import MakeBus
from tests.test_config import EXAMPLE

CFG = load(EXAMPLE)


@pytest.fixture
def branch(mosquitto: MosquittoBroker, tmp_path: Path) -> Iterator[MosquittoBroker]:
    with CoreRunner(CFG, tmp_path / "j.db", mosquitto.host, mosquitto.port,
                    pins=PinBook.example_for(CFG, CHEAP_COST)):
        yield mosquitto


def test_the_teller_sees_who_is_called_why_a_key_is_refused_and_prompts_in_order(
        branch: MosquittoBroker, make_bus: MakeBus) -> None:
    from qbus.topics import Topics

    topics = Topics(CFG.bus.prefix, CFG.branch.id)
    kiosk = make_bus(branch, "kiosk1", topics=topics)
    assert kiosk.request(m.Issue(business="personal", tier="vip", via="bank_card"), 10).ok
    assert kiosk.request(m.Issue(business="personal"), 10).ok
    assert kiosk.request(m.Issue(business="forex"), 10).ok
    assert kiosk.request(m.Issue(business="corporate"), 10).ok  # not served at counter 3
    shown: list[str] = []
    bus = BusClient(host=branch.host, port=branch.port, topics=topics, device="counter3")
    panel = BusPanel(CFG, 3, bus, shown.append).start()
    script = iter(["1003", "1003", "t 5", "n", "r", "p", "t 5", "w", "t E", "n", "s", "p", "c", "quit"])
    transcript: list[tuple[str, str, int]] = []  # (prompt, line typed, lines shown before the prompt)

    def read_line(prompt: str, secret: bool) -> str | None:
        line = next(script)
        transcript.append((prompt, line, len(shown)))
        return line

    try:
        panel.run(read_line)
    finally:
        panel.close()
    prompts = [p for p, _, _ in transcript]
    assert prompts[:3] == ["工号 teller id: ", "密码 PIN: ", "[idle] > "]
    assert prompts[3:] == ["[idle] > ", "[called] > ", "[called] > ", "[called] > ", "[called] > ",
                           "[serving] > ", "[idle] > ", "[called] > ", "[idle] > ",
                           "[paused] > ", "[idle] > "]  # resuming is followed by the idle prompt

    def said(i: int) -> list[str]:
        """What the panel printed after the i-th line typed (until the next prompt)."""
        start = transcript[i][2]
        end = transcript[i + 1][2] if i + 1 < len(transcript) else len(shown)
        return shown[start:end]

    help_text = shown[0]
    assert "欢迎光临之后" in help_text and "after welcome" in help_text
    assert len(said(0)) == 1 and "工号:1003" not in help_text  # the teller id is one line, not one per digit
    assert all("1003" not in line for line in said(1))  # nor is the PIN shown
    refused = "\n".join(said(2))
    assert "(beep)" in refused and "请先按欢迎光临再转移" in refused and "Transfer works after welcome" in refused
    called = "\n".join(said(3))
    # the VIP is called first: business, tier, wait and how many still wait for this counter
    assert "B001 个人非现金业务 · V 理财VIP · 已等 0 分钟 · 本窗口还有 2 人等候" in called
    assert "B001 Accounts, cards & transfers · VIP · waited 0 min · 2 more waiting for this counter" in called
    assert "keypad: B001 V 等0分 余2" in called
    recalled = "\n".join(said(4))
    assert "✓ 已重呼 B001 / Recalled B001" in recalled
    paused = "\n".join(said(5))
    assert "请先办完当前客户再暂停" in paused and "Pause works when idle" in paused
    assert "♪ welcome" in "\n".join(said(7))
    transfer = "\n".join(said(8))
    assert "(beep)" not in transfer and "keypad: 空闲" in transfer  # after welcome it works
    closed = "\n".join(said(6))  # the core's own refusal, in both languages too
    assert "请先按欢迎光临再转移" in closed


def test_the_keypad_twin_legend_is_in_chinese_and_english() -> None:
    for pair in ("叫号 call next", "重呼 recall", "过号 skip", "欢迎光临 welcome", "客户评价 rate", "暂停 pause",
                 "恢复 resume", "transfer, after welcome", "退出 log out", "清除 clear", "心跳 heartbeat"):
        assert pair in KEYPAD_HELP, pair
