"""The journal file at the edges (issue 16): deleted or replaced under a running service, empty
where a journal with rows is expected, truncated or torn. Real SQLite files, the real `qcall`
command (in-process `main`, and `qcall serve` as a process on a real Mosquitto)."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.config import load
from qbus.errors import BusTimeout
from qbus.topics import Topics
from qcall.cli import main
from qserver.clock import BranchClock
from qserver.errors import JournalError, JournalGone
from qserver.journal import Journal, marker_path
from qserver.service import CoreService
from qserver.store import DurableCore
from tests.bus_helpers import RecordingBus
from tests.conftest import MakeBus
from tests.served import served_branch
from tests.test_config import EXAMPLE

CFG = load(EXAMPLE)
TOPICS = Topics(CFG.bus.prefix, CFG.branch.id)
T0 = 1_796_000_400.0  # 2026-11-30 09:00 in Shanghai


class Recorder(RecordingBus):
    def replies(self) -> list[bytes]:
        return self.on(TOPICS.reply("kiosk1"))
def service(path: Path) -> tuple[CoreService, Recorder]:
    bus = Recorder()
    clock = BranchClock(wall=lambda: T0, mono=lambda: 0.0, synced=lambda: True)
    return CoreService(CFG, DurableCore(CFG, path, outbox=True), bus, TOPICS, clock), bus


def issue(svc: CoreService, rid: str) -> None:
    svc.on_message(TOPICS.cmd("kiosk1"), m.encode(m.Request(id=rid, cmd=m.Issue(business="cash"))))
    svc.turn()


def other_journal(tmp_path: Path) -> Path:
    path = tmp_path / "other" / "journal.db"
    svc, _ = service(path)
    issue(svc, "o1")
    svc.store.close()
    return path


@pytest.mark.parametrize("how", ["deleted", "replaced", "overwritten"])
def test_a_journal_gone_under_the_service_stops_it_before_any_acknowledgement(tmp_path: Path, how: str) -> None:
    path = tmp_path / "journal.db"
    svc, bus = service(path)
    issue(svc, "r1")
    assert len(bus.replies()) == 1
    if how == "deleted":
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    elif how == "replaced":
        os.replace(other_journal(tmp_path), path)
    else:  # copied over in place: same inode, another journal's bytes
        other = other_journal(tmp_path)
        svc.store.journal.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with open(path, "r+b") as f:
            f.write(other.read_bytes())
            f.truncate()
    with pytest.raises(JournalError) as info:
        issue(svc, "r2")
    assert how in str(info.value) or isinstance(info.value, JournalError)
    assert len(bus.replies()) == 1, "nothing acknowledged into a journal nobody will read"
    svc.store.close()


def test_an_empty_journal_where_one_with_rows_was_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "journal.db"
    svc, _ = service(path)
    issue(svc, "r1")
    svc.store.close()
    assert marker_path(path).exists()
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.write_bytes(b"")  # emptied (a failed copy, a full disk, a person)
    with pytest.raises(JournalGone, match="deleted, emptied or replaced"):
        DurableCore(CFG, path)
    assert path.stat().st_size == 0, "nothing started on it"
    cfg = served_branch(tmp_path, "127.0.0.1", 1, path)
    assert main(["serve", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "emptied" in err and "Traceback" not in err
    path.unlink()  # deleted outright: refused the same way
    with pytest.raises(JournalGone):
        DurableCore(CFG, path)


def busy_journal(path: Path, tickets: int = 700) -> list[tuple[int, bytes]]:
    store = DurableCore(CFG, path, snapshot_every=10**9)
    now = T0
    store.submit("reset", "manager", m.ResetDay(day="2026-11-30"), now)
    store.submit("in", "counter1", m.Login(counter=1, teller="1001", pin="1001"), now)
    for i in range(tickets):
        now += 5
        store.submit(f"i{i}", "kiosk1", m.Issue(business="cash"), now)
        store.submit(f"c{i}", "counter1", m.CallNext(counter=1), now)
        store.submit(f"f{i}", "counter1", m.FinishService(counter=1, request_rating=False), now)
        if i % 50 == 0:
            store.commit()
    store.commit()
    store.journal.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    rows = [(r.seq, r.cmd) for r in store.journal.rows()]
    store.close()
    return rows


def readable_by_sqlite(path: Path, tmp: Path) -> int:
    """The oracle: rows SQLite itself reads, in order, once the header's page count is fixed to
    what the file holds (what a person would try first). The salvage must get at least these."""
    copy = tmp / "oracle.db"
    data = bytearray(path.read_bytes())
    pages = len(data) // 4096
    data = data[:pages * 4096]
    data[28:32] = pages.to_bytes(4, "big")
    data[92:96] = data[24:28]  # "version-valid-for" = change counter: SQLite trusts the count
    copy.write_bytes(bytes(data))
    db = sqlite3.connect(copy)
    n = 0
    try:
        for _ in db.execute("SELECT seq, cmd FROM journal ORDER BY seq"):
            n += 1
    except sqlite3.DatabaseError:
        pass
    db.close()
    return n


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out + out.err


@pytest.mark.parametrize("keep", [0.5, 0.9, "mid-page"])
def test_repair_recovers_every_intact_row_of_a_truncated_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                 keep: float | str) -> None:
    path = tmp_path / "journal.db"
    rows = busy_journal(path)
    size = path.stat().st_size
    cut = int(size * 0.7) + 1234 if keep == "mid-page" else int(size * float(keep)) // 4096 * 4096
    with open(path, "r+b") as f:
        f.truncate(cut)
    oracle = readable_by_sqlite(path, tmp_path)
    for argv in (["journal", "check", "--journal", str(path)],
                 ["report", "--config", str(EXAMPLE), "--journal", str(path)]):
        rc, text = _cli(capsys, *argv)
        assert rc == 2 and "qcall journal repair" in text and "Traceback" not in text, text
    rc, text = _cli(capsys, "journal", "repair", "--journal", str(path))
    assert rc == 0 and "repaired" in text and "damaged" in text
    j = Journal(path)
    kept = [(r.seq, r.cmd) for r in j.rows()]
    j.close()
    assert kept == rows[:len(kept)], "only intact rows, in order, unchanged"
    assert len(kept) >= oracle, (len(kept), oracle)
    assert len(kept) >= 0.8 * len(rows) * cut / size, (len(kept), len(rows), cut / size)
    assert len(kept) < len(rows)
    assert list(tmp_path.glob("journal.db.damaged-*")), "the damaged file is kept aside"
    rc, text = _cli(capsys, "journal", "check", "--journal", str(path))
    assert rc == 0 and f"OK, {len(kept)} rows" in text
    again = DurableCore(CFG, path)  # and the core starts on it
    assert again.core.day == "2026-11-30" and again.core.tickets
    again.close()


def test_repair_of_a_torn_page_keeps_the_rows_before_it_and_says_what_is_beyond(tmp_path: Path,
                                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "journal.db"
    rows = busy_journal(path)
    data = bytearray(path.read_bytes())
    middle = len(data) // 4096 // 2 * 4096
    data[middle + 1000:middle + 3000] = os.urandom(2000)  # half a page written, half garbage
    path.write_bytes(bytes(data))
    rc, text = _cli(capsys, "journal", "repair", "--journal", str(path))
    assert rc == 0
    j = Journal(path)
    kept = [(r.seq, r.cmd) for r in j.rows()]
    j.close()
    assert kept == rows[:len(kept)] and 0.3 * len(rows) < len(kept) < len(rows)
    assert "could not be recovered" in text and "intact rows after it" in text


def test_serve_stops_with_a_clear_error_when_its_journal_is_deleted(tmp_path: Path, mosquitto: MosquittoBroker,
                                                                   make_bus: MakeBus) -> None:
    journal = tmp_path / "core.db"
    cfg = served_branch(tmp_path, mosquitto.host, mosquitto.port, journal)
    proc = subprocess.Popen([sys.executable, "-m", "qcall.cli", "serve", "--config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        kiosk = make_bus(mosquitto, "kiosk1", topics=TOPICS)
        assert kiosk.request(m.Issue(business="cash"), 20).ok
        shutil.move(journal, tmp_path / "moved-away.db")
        with pytest.raises(BusTimeout):
            kiosk.request(m.Issue(business="cash"), 3)
        assert proc.wait(timeout=20) == 2
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        assert "was deleted while the service ran" in err and "Traceback" not in err, err
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)


def test_repair_reads_rows_that_are_only_in_the_wal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A power cut before any checkpoint: the rows are in journal.db-wal, the main file is short."""
    live = tmp_path / "live" / "journal.db"
    store = DurableCore(CFG, live)  # the service's settings: the service never checkpoints itself
    store.submit("reset", "manager", m.ResetDay(day="2026-11-30"), T0)
    for i in range(300):
        store.submit(f"i{i}", "kiosk1", m.Issue(business="cash"), T0 + i)
        if i % 20 == 0:
            store.commit()
    store.commit()
    rows = [(r.seq, r.cmd) for r in store.journal.rows()]
    path = tmp_path / "journal.db"
    for suffix in ("", "-wal", ".id"):  # the files as the power cut left them
        shutil.copy(live.with_name(live.name + suffix), path.with_name(path.name + suffix))
    store.close()
    assert path.with_name("journal.db-wal").stat().st_size > path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)
    rc, text = _cli(capsys, "journal", "repair", "--journal", str(path))
    assert rc == 0 and "repaired" in text, text
    j = Journal(path)
    assert [(r.seq, r.cmd) for r in j.rows()] == rows  # every row, from the WAL's frames
    j.close()
