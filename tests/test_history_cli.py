"""The history's commands as a manager uses them: simulate a month into a history file, report a
week / month with a breakdown, close the day twice, the complaints book; every bad input is one
clear line and loses nothing; check-config refuses bad [targets] / [history] / [complaints]."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qbus.config import ConfigError, loads
from qcall.cli import main
from qhistory.store import open_store
from tests.coretools import EXAMPLE, T0
from tests.history_helpers import cfg_with, journaled_hand_day

EX = str(EXAMPLE)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_simulated_fortnight_reported_by_week_and_teller(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hist = str(tmp_path / "history.db")
    code, out, _ = run(capsys, "simulate", "--config", EX, "--days", "14", "--start", "2026-11-30",
                       "--history", hist)
    assert code == 0 and "14 days archived" in out and "2026-11-30 .. 2026-12-13" in out
    code, out, _ = run(capsys, "report", "--config", EX, "--history", hist, "--week", "2026-W49", "--by", "teller",
                       "--out", str(tmp_path / "out"))
    assert code == 0 and "周报 Weekly report 2026-W49: 7 days" in out
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["report-futian-2026-W49.csv", "report-futian-2026-W49.html", "report-futian-2026-W49.json"]
    data = json.loads((tmp_path / "out" / "report-futian-2026-W49.json").read_text(encoding="utf-8"))
    assert data["by"] == "teller" and set(data["groups"]) >= {"1001", "1002"}
    assert data["period"] == {"kind": "week", "label": "2026-W49", "first": "2026-11-30", "last": "2026-12-06"}
    code, out, _ = run(capsys, "report", "--config", EX, "--history", hist, "--from", "2026-12-01", "--to",
                       "2026-12-03", "--format", "json", "--out", str(tmp_path / "r"))
    assert code == 0 and "3 days" in out and len(list((tmp_path / "r").iterdir())) == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["--week", "2026-W60"], "has no week 60"),
    (["--month", "2026-13"], "not a month"),
    (["--day", "yesterday"], "not a date"),
    (["--from", "2026-12-05", "--to", "2026-12-01"], "before --from"),
    (["--from", "2026-12-05"], "go together"),
    (["--day", "2026-12-01", "--month", "2026-12"], "give one period"),
    (["--month", "2026-12", "--by", "weather"], "--by 'weather'"),
    (["--month", "2026-12", "--format", "pdf"], "pdf"),
])
def test_bad_report_options_are_one_clear_line(argv: list[str], message: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "report", "--config", EX, "--history", str(tmp_path / "h.db"), *argv,
                       "--out", str(tmp_path / "out"))
    assert code == 2 and err.startswith("qcall: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_day_close_archives_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = cfg_with()
    cfg_file = tmp_path / "branch.toml"
    from tests.history_helpers import cfg_toml

    cfg_file.write_text(cfg_toml(), encoding="utf-8")
    journaled_hand_day(cfg, tmp_path / "journal.db").close()
    args = ("day", "close", "--config", str(cfg_file), "--journal", str(tmp_path / "journal.db"))
    code, out, _ = run(capsys, *args)
    assert code == 0 and "archived into" in out and "2026-03-02" in out
    code, out, _ = run(capsys, *args)
    assert code == 0 and "nothing new to archive" in out
    store = open_store(tmp_path / "history.db")
    assert len(store.tickets("hist", "2026-03-02", "2026-03-02")) == 6
    store.close()
    code, _, err = run(capsys, "day", "close", "--config", str(cfg_file), "--journal", str(tmp_path / "none.db"))
    assert code == 2 and "no journal here" in err


def test_the_complaints_book(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ("--config", EX, "--history", str(tmp_path / "h.db"))
    code, out, _ = run(capsys, "complaint", "add", *base, "--source", "comment_book", "--text", "叫号听不清",
                       "--contact", "13912345678", "--counter", "3")
    assert code == 0 and out.startswith("complaint #1 opened; contact by")
    code, out, _ = run(capsys, "complaint", "list", *base, "--json")
    [c] = json.loads(out)
    assert c["status"] == "open" and c["counter"] == 3 and "13912345678" not in out  # the contact stays
    code, out, _ = run(capsys, "complaint", "progress", "1", *base, "--contacted", "--handler", "2001")
    assert code == 0 and "[contacted]" in out
    code, _, err = run(capsys, "complaint", "close", "1", *base, "--outcome", " ", "--by", "2001")
    assert code == 2 and "outcome" in err
    code, out, _ = run(capsys, "complaint", "close", "1", *base, "--outcome", "已调音量", "--by", "2001")
    assert code == 0 and "[closed]" in out
    code, out, _ = run(capsys, "complaint", "list", *base, "--open")
    assert out.strip() == "no complaints"
    code, _, err = run(capsys, "complaint", "close", "7", *base, "--outcome", "x", "--by", "2001")
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "complaint", "add", *base, "--source", "phone", "--text", "  ")
    assert code == 2 and "needs its text" in err


@pytest.mark.parametrize(("toml", "message"), [
    ("[targets]\nsatisfaction = 85", "targets.satisfaction: a share"),
    ("[targets]\ntier_wait_minutes = { gold = 5 }", "targets.tier_wait_minutes.gold: no such tier"),
    ("[targets]\nbusiness_wait_minutes = { cash = 0 }", "must be > 0 minutes"),
    ("[targets]\nreferral_businesses = [\"loans\"]", "'loans' is no business type"),
    ("[targets]\nstar_grades = [0.9, 0.8]", "targets.star_grades"),
    ("[targets]\nstar_grade_min = 9", "targets.star_grade_min"),
    ("[targets]\nadvice_ratings = 0", "targets.advice_ratings"),
    ("[targets]\nsatisfaction = \"high\"", "targets.satisfaction"),
    ("[targets]\nfavourite = 1", "favourite"),
    ("[history]\nkeep_days_in_journal = -1", "history.keep_days_in_journal"),
    ("[history]\nstore = \"postgresql://hq:secret@db/qcall\"", "not in the config"),
    ("[complaints]\nreply_days = 40", "deadlines must come in order"),
    ("[complaints]\ncontact_hours = 0", "complaints.contact_hours"),
])
def test_check_config_refuses_bad_history_settings(toml: str, message: str) -> None:
    from tests.history_helpers import cfg_toml

    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        loads(cfg_toml() + toml)


def test_day_close_on_the_hand_day_counts_the_still_waiting_as_abandoned(tmp_path: Path) -> None:
    from qcall.history import close_day

    cfg = cfg_with()
    journaled_hand_day(cfg, tmp_path / "journal.db").close()
    assert close_day(cfg, tmp_path / "journal.db", now=T0 + 10 * 3600) == ["2026-03-02"]
    store = open_store(tmp_path / "history.db")
    outcome = {t.number: t.outcome for t in store.tickets("hist", "2026-03-02", "2026-03-02")}
    assert outcome["A005"] == "abandoned" and outcome["A002"] == "no_show"
    store.close()


def test_watch_lists_overdue_complaints_from_the_history_beside_the_journal(tmp_path: Path) -> None:
    from qcall.cli_history import overdue_lines
    from qhistory import complaints as cm

    cfg = cfg_with()
    journal = str(tmp_path / "journal.db")
    assert overdue_lines(cfg, journal) == []  # no history yet: nothing, and no file made
    assert not (tmp_path / "history.db").exists()
    store = open_store(tmp_path / "history.db")
    late = store.add_complaint(cm.new(cfg, source="phone", opened_at=T0, text="排队太久", counter=2))
    store.add_complaint(cm.new(cfg, source="phone", opened_at=T0 + 86400 * 40, text="ok"))
    store.close()
    [line] = overdue_lines(cfg, journal, now=T0 + 2 * 86400)
    assert f"#{late} " in line and "OVERDUE (contact)" in line and "c2" in line
