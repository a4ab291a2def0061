"""`state/stats`: the day's figures as a defined payload (qbus.messages.StatsState), on the real broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.config import load
from qbus.errors import PayloadError
from qbus.topics import Topics
from qcall.manager import Watch
from qcall.simulate import simulate_day
from qserver.clock import BranchClock
from qserver.runner import CoreRunner
from tests.bus_helpers import Inbox, Printed
from tests.conftest import MakeBus
from tests.test_config import EXAMPLE

CFG = load(EXAMPLE)
TOPICS = Topics(CFG.bus.prefix, CFG.branch.id)
T0 = 1_772_416_800.0  # 2026-03-02 10:00 Shanghai


@pytest.fixture(scope="module")
def busy_day() -> dict[str, Any]:
    figures = simulate_day(CFG, seed=7)  # a whole simulated branch day through the real core
    assert figures["served"] > 100 and figures["by_teller"] and figures["staffing_advice"]
    return figures


def test_a_busy_days_figures_fit_the_schema_exactly(busy_day: dict[str, Any]) -> None:
    """Every figure the core computes has a field, and no field is left unfilled: a renamed or new
    KPI fails here instead of reaching the manager's screen as a surprise."""
    state = msgspec.convert(busy_day, m.StatsState)
    # `v` is the schema's and `at` the service's stamp (when it published), not KPIs
    assert {k: v for k, v in msgspec.to_builtins(state).items() if k not in ("v", "at")} == busy_day
    assert m.decode(m.encode(state), m.StatsState) == state


@pytest.mark.parametrize(
    ("change", "field"),
    [({"issued": "many"}, "issued"), ({"surprise": 1}, "surprise"), ({"wait_s": {"n": 1}}, "wait_s")],
)
def test_a_payload_of_the_wrong_shape_is_refused_naming_the_field(
        busy_day: dict[str, Any], change: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError, match=field):
        m.decode(msgspec.json.encode({**busy_day, **change}), m.StatsState)


def test_the_core_publishes_the_days_figures_and_the_watch_reads_them(
        mosquitto: MosquittoBroker, make_bus: MakeBus, tmp_path: Path) -> None:
    mono = [0.0]
    clock = BranchClock(wall=lambda: T0, mono=lambda: mono[0])
    out = Printed()
    with CoreRunner(CFG, tmp_path / "j.db", mosquitto.host, mosquitto.port, clock=clock):
        stats = Inbox()
        manager = make_bus(mosquitto, "manager1", topics=TOPICS, connect=False)
        manager.subscribe(TOPICS.state_stats(), m.StatsState, stats)
        Watch(manager, out, clock=lambda: T0)
        manager.connect(10)
        assert stats.wait_for(lambda xs: bool(xs))  # retained: published when the core started
        first = stats.values()[-1]
        assert (first.issued, first.served, first.wait_s.n) == (0, 0, 0)
        kiosk = make_bus(mosquitto, "kiosk1", topics=TOPICS)
        assert kiosk.request(m.Issue(business="cash"), 10).ok
        assert kiosk.request(m.Issue(business="cash", tier="vip"), 10).ok
        mono[0] = 61.0  # a minute on: the service's next wake-up republishes
        assert not kiosk.request(m.Cancel(number="Z999"), 10).ok  # any request wakes it
        assert stats.wait_for(lambda xs: xs[-1].value.issued == 2)
        latest = stats.values()[-1]
        assert (latest.day, latest.still_waiting, latest.arrivals_by_hour) == ("2026-03-02", 2, {"10": 2})
        assert out.wait_line("已取号 issued 2 ")


def test_figures_that_do_not_fit_the_schema_never_stop_the_core(
        mosquitto: MosquittoBroker, make_bus: MakeBus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    import qserver.service as service

    real = service.branch_kpis
    monkeypatch.setattr(service, "branch_kpis", lambda *a: {**real(*a), "surprise": 1})
    with CoreRunner(CFG, tmp_path / "j.db", mosquitto.host, mosquitto.port):
        kiosk = make_bus(mosquitto, "kiosk1", topics=TOPICS)
        assert kiosk.request(m.Issue(business="cash"), 10).ok  # the core serves on
    assert "do not fit StatsState" in caplog.text
