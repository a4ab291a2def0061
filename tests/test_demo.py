"""The one-command demo branch: embedded broker, core service and simulated devices on MQTT."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

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
                history=str(history)).start()
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
        assert any("please go to counter" in x for x in lines), lines[-10:]
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
