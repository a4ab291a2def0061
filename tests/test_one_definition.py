"""One concept, one definition (issue 10, section 5): the keypad's keys, the counter status, the pty
twin and the serial opener each exist once, and every other module uses that one. A second copy
(a status as bare strings in the core, a reader opening pyserial itself) fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("qbus", "qcore", "qserver", "qcall", "kiosk", "display", "counter_panel", "firmware_bridge", "hw",
            "web", "qhistory", "qhq")


def _sources() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
            for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _classes(name: str) -> list[str]:
    """Where a class called `name` is defined."""
    return [path for path, text in _sources().items()
            if any(isinstance(n, ast.ClassDef) and n.name == name for n in ast.walk(ast.parse(text)))]


@pytest.mark.parametrize(("concept", "where"), [
    ("Key", "hw/keypad.py"),  # the teller keypad's keys (the bridge's frames and the panel use them)
    ("CounterStatus", "qbus/messages.py"),  # closed / idle / called / serving / rating / paused
    ("PtyTwin", "hw/twinpty.py"),  # every serial twin stands on it
    ("SerialPort", "hw/serial_line.py"),  # the one serial port wrapper
])
def test_a_concept_has_one_definition(concept: str, where: str) -> None:
    assert _classes(concept) == [where]


@pytest.mark.parametrize(("call", "only_in"), [
    (r"\bserial\.(Serial|serial_for_url)\(", "hw/serial_line.py"),  # the one serial opener
    (r"\bos\.openpty\(|\bpty\.openpty\(", "hw/twinpty.py"),  # the one pty twin
])
def test_one_module_does_it(call: str, only_in: str) -> None:
    assert [p for p, text in _sources().items() if re.search(call, text)] == [only_in]


def test_the_counter_status_values_are_written_nowhere_else_as_an_enum() -> None:
    """No second status type: nothing else subclasses an Enum with the status's members."""
    members = {"CLOSED", "IDLE", "CALLED", "SERVING", "RATING", "PAUSED"}
    dupes = []
    for path, text in _sources().items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.name != "CounterStatus":
                names = {t.id for s in node.body if isinstance(s, ast.Assign) for t in s.targets
                         if isinstance(t, ast.Name)}
                if len(members & names) >= 4:
                    dupes.append(f"{path}:{node.name}")
    assert dupes == []
