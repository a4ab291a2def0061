"""Appointments (预约) in the history: two hand-built days through the real core with one booking
kept on time, one late, one missed, one cancelled and one booked a day ahead; the facts, the day's
and the week's figures, the HTML and JSON report, and the journal replay giving the same facts
(bookings made on an earlier day included)."""

from __future__ import annotations

import json
from pathlib import Path

from qcall.history import archive_journal
from qhistory import period, render, report
from qhistory.facts import DayFacts
from qhistory.store import open_store
from qserver.pins import CHEAP_COST, PinBook
from qserver.store import DurableCore
from tests.coretools import DAY, MIN, T0
from tests.history_helpers import DAY2, booking_days, cfg_with, commands_of_booking_days, same

CFG = cfg_with()


def test_each_booking_of_the_day_has_its_outcome_ticket_and_wait_from_the_booked_time() -> None:
    day1, day2 = booking_days(CFG)
    b = {x.code: x for x in day1.bookings}
    assert {c: x.outcome for c, x in b.items()} == {"KEPT01": "kept", "LATE02": "late", "MISS03": "missed", "CANC04": "cancelled"}
    tickets = {t.number: t for t in day1.tickets}
    k1, k2 = b["KEPT01"], b["LATE02"]
    assert tickets[k1.number].via == "appointment" and tickets[k1.number].appointment_at == T0 + 60 * MIN
    assert k1.early_s == 10 * MIN and k1.called_at == T0 + 64 * MIN and k1.wait_s == 4 * MIN
    assert k1.tier == "normal"  # booked the day before: known from the bookings carried into the day
    assert tickets[k2.number].appointment_at == 0 and k2.early_s == -20 * MIN and k2.wait_s == 6 * MIN
    assert b["MISS03"].number == "" and b["MISS03"].called_at == 0 and b["CANC04"].booked_at == T0 + 150 * MIN
    assert [(x.code, x.outcome, x.wait_s) for x in day2.bookings] == [("NEXT05", "kept", 2 * MIN)]
    assert all(x.day == DAY for x in day1.bookings) and day2.bookings[0].day == DAY2


def _report(kind: str, days: list[str], facts: list[DayFacts]) -> report.Report:
    per = period.day(DAY) if kind == "day" else period.week("2026-W10")
    data = report.Loaded(days=days, tickets=[t for f in facts for t in f.tickets],
                         bookings=[b for f in facts for b in f.bookings])
    return report.build_from(CFG, per, data, now=T0)


def test_the_days_and_the_weeks_appointment_figures() -> None:
    day1, day2 = booking_days(CFG)
    a = _report("day", [DAY], [day1]).appointments
    assert (a.booked, a.kept, a.late, a.missed, a.cancelled) == (4, 1, 1, 1, 1)
    assert (a.kept_rate.ok, a.kept_rate.n) == (1, 3)  # the cancelled one never came due
    assert (a.wait.n, a.wait.mean, a.wait.p90) == (1, 4 * MIN, 4 * MIN)  # the late one waited as a walk-in
    w = _report("week", [DAY, DAY2], [day1, day2]).appointments
    assert (w.booked, w.kept, w.late, w.missed, w.cancelled) == (5, 2, 1, 1, 1)
    assert (w.wait.n, w.wait.mean, w.wait.p90) == (2, 3 * MIN, 4 * MIN)


def test_the_report_shows_the_appointments_in_chinese_and_english_and_in_its_json() -> None:
    day1, day2 = booking_days(CFG)
    rep = _report("week", [DAY, DAY2], [day1, day2])
    page = render.html(rep)
    table = page[page.index("<h2>预约"):]
    table = table[:table.index("</table>")]
    assert "Appointments" in table and "爽约" in table and "missed" in table and "kept" in table
    cells = [c.split("</td>")[0] for c in table.split("<td>")[1:]]
    assert cells == ["5", "2", "1", "1", "1", "50.0%", "3.0", "4.0"]  # 2 kept of 4 due
    data = json.loads(render.json(rep))["appointments"]
    assert (data["booked"], data["kept"], data["late"], data["missed"], data["cancelled"]) == (5, 2, 1, 1, 1)
    assert data["wait"]["mean"] == 180.0
    empty = render.html(_report("day", [DAY], [DayFacts(record=day1.record)]))
    assert "<h2>预约 <span class='en'>Appointments</span></h2><p>无 <span class='en'>none</span>" in empty


def test_replaying_the_journal_gives_the_booking_facts_of_the_live_days(tmp_path: Path) -> None:
    store = DurableCore(CFG, tmp_path / "journal.db", snapshot_every=10**9,
                        pins=PinBook.example_for(CFG, CHEAP_COST))
    for i, (at, cmd) in enumerate(commands_of_booking_days()):
        store.submit(f"r{i}", "manager1", cmd, at)
    store.commit()
    hist = open_store(tmp_path / "history.db")
    assert archive_journal(CFG, store.journal, hist) == ["2026-03-01", DAY, DAY2]
    live = booking_days(CFG)
    for want in live:
        d = want.record.day
        got = hist.bookings("hist", d, d)
        assert [x.code for x in got] == [x.code for x in want.bookings]
        assert all(same(a, b) for a, b in zip(got, want.bookings, strict=True)), (got, want.bookings)
        assert [t.number for t in hist.tickets("hist", d, d)] == [t.number for t in want.tickets]
    rep = report.build(hist, CFG, period.week("2026-W10"), now=T0)
    assert (rep.appointments.booked, rep.appointments.kept, rep.appointments.missed) == (5, 2, 1)
    hist.close()
    store.close()
