"""The web service over HTTP with hostile and unlucky input, on Mosquitto and the real core: forged
forms, expired and forged sessions, unknown and malformed ticket numbers, two people acting on the
same ticket at once, password guessing. The service runs in a thread so the clock is injected."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import pytest

from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.client import BusClient
from qbus.config import load
from qcall.web import WebServer, build_context
from qserver.runner import CoreRunner
from tests.bus_helpers import Inbox
from tests.web_helpers import PEOPLE, csrf_of, result_of, signed_in, write_branch


class FakeClock:
    def __init__(self, t: float = 1_780_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@dataclass
class Branch:
    url: str
    core: CoreRunner
    kiosk: BusClient
    clock: FakeClock
    server: WebServer

    def issue(self, business: str = "cash") -> str:
        reply = self.kiosk.request(m.Issue(business=business), 10)
        assert reply.ok and reply.ticket is not None
        return reply.ticket.number


@pytest.fixture
def branch(tmp_path: Path, mosquitto: MosquittoBroker, make_bus: object) -> Iterator[Branch]:
    config = write_branch(tmp_path / "etc")
    cfg = load(config)
    core = CoreRunner(cfg, tmp_path / "journal.db", mosquitto.host, mosquitto.port).start()
    clock = FakeClock()
    ctx = build_context(cfg, config, host=mosquitto.host, port=mosquitto.port, clock=clock)
    server = WebServer(ctx).start()
    kiosk = BusClient(host=mosquitto.host, port=mosquitto.port, topics=core.topics, device="kiosk1").connect(10)
    try:
        assert ctx.feed is not None and ctx.feed.reader.wait_online(10)
        yield Branch(server.url, core, kiosk, clock, server)
    finally:
        kiosk.close()
        server.stop()
        core.stop()


def state_of(b: Branch, number: str) -> str:
    return b.core.service.store.core.tickets[number].state.name


def test_a_forged_or_missing_csrf_token_changes_nothing(branch: Branch) -> None:
    number = branch.issue()
    c = signed_in(branch.url, "zhao")
    for token in ("forged-token", ""):
        r = c.post("/act/cancel", data={"csrf": token, "number": number})
        assert r.status_code == 403 and "表单已过期或不是从本系统提交的" in r.text
    # a form posted from another site carries no session cookie at all: sign in first
    other = httpx.Client(base_url=branch.url)
    r = other.post("/act/cancel", data={"csrf": csrf_of(c), "number": number})
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert state_of(branch, number) == "WAITING"


def test_an_expired_session_goes_back_to_the_sign_in_page(branch: Branch) -> None:
    number = branch.issue()
    c = signed_in(branch.url, "zhou")
    token = csrf_of(c)
    assert c.get("/").status_code == 200
    branch.clock.t += branch.server.ctx.cfg.web.session_minutes * 60 + 1
    r = c.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login?expired=1"
    assert "会话已过期" in c.get("/login?expired=1").text
    r = c.post("/act/cancel", data={"csrf": token, "number": number})
    assert r.status_code == 303 and state_of(branch, number) == "WAITING"
    assert b"event: bye" in c.get("/events").content


def test_a_forged_cookie_opens_nothing(branch: Branch) -> None:
    c = signed_in(branch.url, "zhou")
    cookie = c.cookies["qcall_session"]
    forged = httpx.Client(base_url=branch.url, cookies={"qcall_session": cookie[:-3] + "abc"})
    assert forged.get("/").status_code == 303
    assert forged.get("/reports.csv").status_code == 303


def test_an_unknown_or_malformed_ticket_number_is_named_back(branch: Branch) -> None:
    branch.issue()
    c = signed_in(branch.url, "zhao")
    token = csrf_of(c)
    r = c.post("/act/requeue", data={"csrf": token, "number": "A999"})
    assert r.status_code == 404 and "今天没有 A999 号" in result_of(r.text)
    r = c.post("/act/cancel", data={"csrf": token, "number": "<script>1"})
    assert r.status_code == 400 and "号码格式不对" in result_of(r.text) and "<script>" not in r.text
    r = c.post("/act/move", data={"csrf": token, "number": "A001", "to_business": "nope"})
    assert r.status_code == 400 and "请选择要转去的业务" in result_of(r.text)


def test_two_people_cancel_the_same_ticket_at_once_one_wins_the_other_is_told_why(branch: Branch) -> None:
    number = branch.issue()
    people = [signed_in(branch.url, login) for login in ("zhao", "qian")]
    tokens = [csrf_of(c) for c in people]
    go = threading.Barrier(2)
    results: list[httpx.Response] = [httpx.Response(0)] * 2

    def act(i: int) -> None:
        go.wait()
        results[i] = people[i].post("/act/cancel", data={"csrf": tokens[i], "number": number})

    threads = [threading.Thread(target=act, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409], [result_of(r.text) for r in results]
    loser = next(r for r in results if r.status_code == 409)
    winner = next(r for r in results if r.status_code == 200)
    winner_name = "赵敏" if winner is results[0] else "钱进"
    assert "只能取消等候中或过号的号码" in result_of(loser.text)
    assert f"已取消，由 {winner_name} 操作" in result_of(loser.text)
    assert state_of(branch, number) == "CANCELLED"


def test_password_guessing_is_slowed_and_the_right_password_waits_too(branch: Branch) -> None:
    c = httpx.Client(base_url=branch.url)
    limit = branch.server.ctx.cfg.web.login_attempts
    for _ in range(limit):
        r = c.post("/login", data={"login": "zhou", "password": "guess", "next": "/"})
        assert r.status_code == 401 and "用户名或密码错误" in r.text
    r = c.post("/login", data={"login": "zhou", "password": PEOPLE["zhou"][2], "next": "/"})
    assert r.status_code == 429 and "尝试次数过多" in r.text
    branch.clock.t += branch.server.ctx.cfg.web.login_window_s + 1
    r = c.post("/login", data={"login": "zhou", "password": PEOPLE["zhou"][2], "next": "//evil.example/"})
    assert r.status_code == 303 and r.headers["location"] == "/"  # and never off-site


def test_a_priority_ticket_at_the_desk_needs_a_reason_and_names_who_granted_it(branch: Branch) -> None:
    c = signed_in(branch.url, "zhao")
    token = csrf_of(c)
    r = c.post("/act/issue", data={"csrf": token, "business": "cash", "tier": "priority", "reason": ""})
    assert r.status_code == 400 and "需要填写原因" in result_of(r.text)
    r = c.post("/act/issue", data={"csrf": token, "business": "cash", "tier": "priority", "reason": "孕妇"})
    assert r.status_code == 200 and "已取号 A001" in result_of(r.text)
    t = branch.core.service.store.core.tickets["A001"]
    assert (t.tier, t.granted_by, t.via) == ("priority", "zhao", "staff")
    rows = list(branch.core.store.journal.rows(0))
    assert any(b'"granted_by":"zhao"' in row.cmd and "孕妇".encode() in row.cmd for row in rows)


def test_every_action_names_the_person_in_the_journal(branch: Branch) -> None:
    a, b = branch.issue(), branch.issue()
    mgr = signed_in(branch.url, "zhou")
    token = csrf_of(mgr)
    assert mgr.post("/act/counter", data={"csrf": token, "counter": "1", "op": "open"}).status_code == 200
    assert mgr.post("/act/move", data={"csrf": token, "number": b, "to_business": "personal"}).status_code == 200
    assert mgr.post("/act/cancel", data={"csrf": token, "number": a}).status_code == 200
    r = mgr.post("/act/counter", data={"csrf": token, "counter": "1", "op": "pause", "reason": "lunch"})
    assert r.status_code == 200
    assert mgr.post("/act/notice", data={"csrf": token, "zh": "今日外汇暂停", "en": ""}).status_code == 200
    by_op = {}
    for row in branch.core.store.journal.rows(0):
        cmd = msgspec.json.decode(row.cmd)  # a journal row holds the command as sent
        by_op[cmd["op"]] = (row.device, cmd.get("by"))
    assert {op: by_op[op] for op in ("open", "move", "cancel", "pause", "set_notice")} == dict.fromkeys(
        ("open", "move", "cancel", "pause", "set_notice"), ("web1", "zhou"))
    state = branch.core.service.store.core.counter_state(1)
    assert (state.status, state.reason, state.by) == ("paused", "lunch", "zhou")
    hall = Inbox()  # the hall display's view of the notice: the retained `notice` topic
    screen = BusClient(host=branch.kiosk.host, port=branch.kiosk.port, topics=branch.core.topics, device="display1")
    screen.subscribe(branch.core.topics.notice(), m.Notice, hall)
    try:
        screen.connect(10)
        assert hall.wait_for(lambda xs: xs and xs[-1].value == m.Notice(zh="今日外汇暂停"), 5), hall.values()
    finally:
        screen.close()


def test_the_lobby_never_gets_teller_ratings_from_reports_and_pages_refuse_framing(branch: Branch) -> None:
    lobby, mgr = signed_in(branch.url, "zhao"), signed_in(branch.url, "zhou")
    assert "柜员 Tellers" in mgr.get("/reports").text
    assert "柜员 Tellers" not in lobby.get("/reports").text
    assert "by_teller" not in lobby.get("/reports.csv").text and "satisfaction_rate" not in lobby.get("/reports.csv").text
    page = mgr.get("/")
    assert page.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


def test_the_door_poster_is_off_by_default_and_then_nothing_of_it_answers(branch: Branch) -> None:
    """[web] poster is off: no door screen, no remote ticket page or form (a plain 404), and the
    core refuses the poster's identity even if someone sends as it."""
    c = signed_in(branch.url, "zhao")
    assert c.get("/poster").status_code == 404
    for code in ("AAAAAAAAAAAA", "x"):
        assert httpx.get(f"{branch.url}/p/{code}", timeout=5).status_code == 404
        assert httpx.post(f"{branch.url}/p/{code}", data={"business": "cash"}, timeout=5).status_code == 404
    assert 'href="/poster"' not in c.get("/lobby").text
    poster = BusClient(host=branch.kiosk.host, port=branch.kiosk.port, topics=branch.core.topics,
                       device="web_poster1").connect(10)
    try:
        reply = poster.request(m.Issue(business="cash"), 10)
    finally:
        poster.close()
    assert not reply.ok and reply.error is not None and reply.error.code == "forbidden"
    assert "[web] poster" in reply.error.en
