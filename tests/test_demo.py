"""The one-command demo branch: embedded broker, core service and simulated devices on MQTT."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from qbus import messages as m
from qbus.client import BusClient, Received
from qbus.config import load
from qcall.cli import main
from qcall.demo import Demo
from tests.test_config import EXAMPLE

CFG = load(EXAMPLE)


class Seen:
    """Counts the demo's events as a device on its bus sees them."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self._cond = threading.Condition()

    def __call__(self, msg: Received[Any]) -> None:
        with self._cond:
            self.kinds[type(msg.value).__name__] += 1
            self._cond.notify_all()

    def wait_for(self, need: dict[str, int], timeout: float = 60.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: all(self.kinds[k] >= n for k, n in need.items()), timeout)


def test_the_demo_branch_issues_calls_serves_and_rates(tmp_path: Path) -> None:
    lines: list[str] = []
    history = tmp_path / "history.db"
    demo = Demo(CFG, speed=600.0, seed=3, out=lines.append, arrivals_per_hour=240.0,
                history=str(history), web=True).start()
    seen = Seen()
    watcher = BusClient(host=demo.host, port=demo.port, topics=demo.topics, device="manager9")
    try:
        watcher.subscribe(demo.topics.all_events(), m.decode_event, seen)
        watcher.connect(10)
        assert seen.wait_for({"TicketIssued": 8, "TicketCalled": 5, "ServiceStarted": 3,
                              "ServiceFinished": 3, "ServiceRated": 1}), dict(seen.kinds)
        k = demo.kpis()
        assert k["served"] >= 3 and k["issued"] >= k["served"]
        assert k["by_teller"] and "" not in k["by_teller"], "services belong to logged-in tellers"
        assert any("please go to Counter" in x or "please go to VIP Counter" in x for x in lines), lines[-10:]
        assert demo.web is not None  # the manager's pages, with the logins made for this run
        web = httpx.Client(base_url=demo.web.url)
        signed = web.post("/login", data={"login": "manager", "password": demo.web_logins["manager"]})
        assert signed.status_code == 303
        page = web.get("/")
        assert page.status_code == 200 and "5号VIP窗口" in page.text and "今日" in page.text
    finally:
        watcher.close()
        demo.stop()
    demo.stop()  # safe twice
    # The demo leaves its day in the history: the tickets it served are there to report on.
    from qhistory.store import open_store

    store = open_store(history)
    [day] = demo.archived
    archived = store.tickets(CFG.branch.id, day, day)
    store.close()
    assert sum(1 for t in archived if t.outcome == "served") >= k["served"]


def test_demo_arguments_out_of_range_are_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in (["--speed", "0"], ["--arrivals-per-hour", "-5"]):
        assert main(["demo", "--seconds", "1", *bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("qcall: ") and "must be positive" in err and "Traceback" not in err


def test_the_demo_says_recalls_and_skips_in_both_languages_with_waits_in_its_own_clock() -> None:
    from qcall.demo import hall_line

    names = {5: ("5号VIP窗口", "VIP Counter 5")}

    def say(ev: object) -> str:
        return hall_line(ev, lambda c: names[c][0], lambda c: names[c][1], lambda s: s * 30 / 60, {"1005": "陈静"}, 5)

    called = say(m.TicketCalled(at=0, number="A001", counter=5, business="cash", tier="normal", waited_s=20.0))
    assert called == "请 A001 号到 5号VIP窗口  Number A001, please go to VIP Counter 5  (等了 waited 10 min)"
    recall = say(m.TicketRecalled(at=0, number="A001", counter=5, recalls=2))
    assert "再次呼叫 A001" in recall and "Recall 2: number A001, please go to VIP Counter 5" in recall
    skip = say(m.TicketSkipped(at=0, number="A001", counter=5))
    assert "过号 A001" in skip and "Skipped A001" in skip
    rated = say(m.ServiceRated(at=0, number="A001", counter=5, stars=4, teller="1005"))
    assert "★★★★☆" in rated and "陈静" in rated


def test_a_taken_port_is_said_in_one_line_or_avoided(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        assert main(["demo", "--seconds", "1", "--port", str(taken)]) == 2
        err = capsys.readouterr().err
        assert f"port {taken} is already in use" in err and "Traceback" not in err
        from qcall.demo import _embedded

        broker = _embedded(taken)  # the config's port taken: another one, cleanly
        try:
            assert broker.port != taken
        finally:
            broker.stop()
