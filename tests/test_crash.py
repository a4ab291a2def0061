"""Kill -9 a process while it writes the journal, at random points, many times over one day.

Checks that every number acknowledged before the kill is still there after restart, and that no
number is ever acknowledged twice (across all restarts of the day).
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

from qbus import messages as m
from qbus.config import load
from qserver.store import DurableCore
from tests.test_config import EXAMPLE

CFG = load(EXAMPLE)
TRIALS = 60
BUSINESSES = ["cash", "personal", "corporate"]


def _writer(path: Path, fd: int, seed: int) -> None:
    """Child: issue tickets in small groups; report each number only after its commit (the ack)."""
    rng = random.Random(seed)
    store = DurableCore(CFG, path, snapshot_every=150)
    if not store.core.day:
        store.submit("reset", "manager", m.ResetDay(day="2026-11-23"), 1.0)
        store.commit()
    now = store.core.clock + 1
    n = 0
    while True:
        batch = []
        for _ in range(rng.randint(1, 8)):
            n += 1
            now += 1
            reply = store.submit(f"{seed}-{n}", "kiosk1", m.Issue(business=rng.choice(BUSINESSES)), now)
            batch.append(reply.number)
        store.commit()
        os.write(fd, ("\n".join(batch) + "\n").encode())


def _run_trial(path: Path, seed: int, rng: random.Random) -> list[str]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            _writer(path, w, seed)
        finally:
            os._exit(0)
    os.close(w)
    want = rng.randint(0, 40)
    got = b""
    with os.fdopen(r, "rb", buffering=0) as pipe:
        while got.count(b"\n") < want:
            chunk = pipe.read(4096)
            if not chunk:
                break
            got += chunk
        time.sleep(rng.random() * 0.004)  # land the kill anywhere: in submit, in commit, in fsync
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        got += pipe.read()
    return [x for x in got.decode().split("\n") if x]


def test_kill9_loses_nothing_acknowledged_and_never_reuses_a_number(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    rng = random.Random(20261123)
    acked: list[str] = []
    for trial in range(TRIALS):
        acked += _run_trial(path, trial, rng)
        store = DurableCore(CFG, path)
        missing = [n for n in acked if n not in store.core.tickets]
        assert not missing, f"trial {trial}: acknowledged numbers lost after kill -9: {missing[:5]}"
        store.close()
    assert len(acked) == len(set(acked)), "a number was acknowledged twice"
    assert len(acked) > TRIALS  # the kills really landed in a working writer
