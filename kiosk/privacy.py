"""Privacy check for tests: is any raw card / account / ID number anywhere in these bytes?

Used by the kiosk tests and the lead's end-to-end test to scan the SQLite journal (and its WAL),
logs, a capture of MQTT traffic and the printer's bytes after a day of swipes. A number is looked for
in the forms it could leak in: plain ASCII / UTF-8 / GB18030, grouped in fours with spaces or dashes,
UTF-16 (LE and BE), full-width digits, and hex dumps of the ASCII (a logged frame).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


@dataclass(frozen=True)
class Leak:
    number_index: int  # which number of the list (the number itself is not repeated here)
    form: str
    offset: int
    where: str = ""

    def __str__(self) -> str:
        at = f"{self.where} " if self.where else ""
        return f"{at}@{self.offset}: raw number #{self.number_index} found as {self.form}"


def _forms(number: str) -> dict[str, list[bytes]]:
    grouped = [sep.join(number[i : i + 4] for i in range(0, len(number), 4)) for sep in (" ", "-")]
    texts = {number, number.lower()} | set(grouped)
    ascii_forms = sorted(t.encode("ascii") for t in texts)
    wide = number.translate(_FULL_WIDTH)
    return {
        "ascii": ascii_forms,
        "utf-16-le": [t.encode("utf-16-le") for t in sorted(texts)],
        "utf-16-be": [t.encode("utf-16-be") for t in sorted(texts)],
        "full-width": [wide.encode("utf-8"), wide.encode("gb18030"), wide.encode("utf-16-le")],
        "hex": [number.encode().hex().encode(), number.encode().hex().upper().encode(),
                " ".join(f"{b:02x}" for b in number.encode()).encode()],
    }


def find_raw_numbers(data: bytes | str, numbers: Iterable[str], *, where: str = "") -> list[Leak]:
    """Every place one of `numbers` occurs in `data`, in any of the forms above."""
    blob = data.encode("utf-8", errors="surrogatepass") if isinstance(data, str) else bytes(data)
    leaks: list[Leak] = []
    for idx, number in enumerate(numbers):
        number = number.strip().upper()
        if not number:
            continue
        for form, needles in _forms(number).items():
            for needle in needles:
                at = blob.find(needle)
                if at >= 0:
                    leaks.append(Leak(idx, form, at, where))
    return leaks


def scan_paths(paths: Iterable[str | Path], numbers: Iterable[str]) -> list[Leak]:
    """Scan files, and every file under directories (SQLite db + -wal + -shm, log dirs, captures)."""
    wanted = list(numbers)
    leaks: list[Leak] = []
    for root in paths:
        root = Path(root)
        files = [root] if root.is_file() else [Path(d) / f for d, _, fs in os.walk(root) for f in fs]
        for f in files:
            try:
                blob = f.read_bytes()
            except OSError:
                continue
            leaks += find_raw_numbers(blob, wanted, where=str(f))
    return leaks
