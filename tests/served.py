"""A branch file that `qcall serve` accepts in a test: the example branch on a given broker and
journal, with real (made-up, rule-abiding) PINs in a private PIN file and a trusted clock."""

from __future__ import annotations

from pathlib import Path

from qbus.config import load
from qserver.pins import CHEAP_COST, PinBook
from tests.test_config import EXAMPLE

CFG = load(EXAMPLE)
# Rule-abiding PINs nobody would guess from the id (7 digits); hashed cheaply for speed.
PINS = {t.id: f"{int(t.id) * 7 + 13579:07d}" for t in CFG.teller}


def served_branch(tmp_path: Path, host: str, port: int, journal: Path) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace('journal = "var/journal.db"', f'journal = "{journal}"')
    text = text.replace('host = ""\nport = 1883', f'host = "{host}"\nport = {port}')
    pins = tmp_path / "pins.toml"
    PinBook.checked(PINS, CHEAP_COST).save(pins)
    text = text.replace('file = "var/pins.toml"', f'file = "{pins}"')
    text = text.replace('confirm = "sync"', 'confirm = "rtc"')  # no NTP in a test container
    path = tmp_path / "branch.toml"
    path.write_text(text, encoding="utf-8")
    return path
