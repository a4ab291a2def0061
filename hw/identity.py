""""An identity was presented": the one small interface every card / passbook / ID reader feeds.

Readers stay thin: they turn bytes into a `Presented` and nothing else. The raw number travels in a
`Secret` whose repr, str and format are masked and which can be wiped, so a stray log line, an
exception message or a debugger dump never shows it. The consumer (kiosk.recognition) turns it into a
keyed hash at once and wipes it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, Protocol

from qbus.errors import QcallError

_LOG = logging.getLogger(__name__)

Kind = Literal["bank_card", "passbook", "id_card"]


class ReaderError(QcallError):
    """A card / passbook / ID reader failed; the customer is asked to try again."""

    code = "reader"
    zh = "读卡失败，请重试"


class UnreadableCard(ReaderError, ValueError):
    """The medium was read but its data is not valid (bad check digit, bad track, bad checksum)."""

    code = "unreadable"
    zh = "无法识别，请重新刷卡"


class FrameError(UnreadableCard):
    """A reader frame or line is corrupt (checksum, length, sentinel). Counts as an unreadable card."""

    code = "bad_frame"


class ReaderOffline(ReaderError, OSError):
    """The reader does not answer or its port failed."""

    code = "reader_offline"
    zh = "读卡器故障，请联系工作人员"


class Secret:
    """A raw card / account / ID number that must not linger.

    Held in a bytearray so `wipe()` can overwrite it (Python str objects cannot be overwritten, so
    readers hand over a bytearray). repr/str/format never show a digit.
    """

    __slots__ = ("_buf",)

    def __init__(self, raw: bytes | bytearray | str) -> None:
        self._buf = bytearray(raw.encode("ascii") if isinstance(raw, str) else raw)

    def __repr__(self) -> str:
        return f"<Secret {len(self._buf)} chars>" if self._buf else "<Secret wiped>"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("a Secret is never pickled")

    def __len__(self) -> int:
        return len(self._buf)

    def __bool__(self) -> bool:
        return bool(self._buf)

    def view(self) -> memoryview:
        """Read-only view for the one consumer that hashes it; do not keep it."""
        return memoryview(self._buf).toreadonly()

    def wipe(self) -> None:
        """Overwrite and empty the buffer; safe to call twice."""
        for i in range(len(self._buf)):
            self._buf[i] = 0
        self._buf.clear()


@dataclass(frozen=True, eq=False, repr=False)
class Presented:
    """One medium presented at the kiosk. `number` is raw: hash it at once, then call `wipe()`."""

    kind: Kind
    number: Secret
    name: str = ""
    birth_date: date | None = None
    sex: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        named = "named" if self.name else "no name"
        born = "birth date" if self.birth_date else "no birth date"
        return f"Presented({self.kind}, {self.number!r}, {named}, {born})"

    __str__ = __repr__

    def wipe(self) -> None:
        self.number.wipe()


class IdentityReader(Protocol):
    """What every reader offers: block up to `timeout` s for the next medium (None: nothing came)."""

    kind: Kind

    def read(self, timeout: float) -> Presented | None: ...

    def close(self) -> None: ...


class ReaderThread:
    """Runs one reader in a thread and hands each `Presented` (or `ReaderError`) to callbacks.

    The kiosk app starts one per reader; callbacks must be quick (they usually queue the event).
    """

    def __init__(
        self,
        reader: IdentityReader,
        on_presented: Callable[[Presented], None],
        on_error: Callable[[ReaderError], None],
        *,
        poll_s: float = 0.2,
    ) -> None:
        self._reader = reader
        self._on_presented = on_presented
        self._on_error = on_error
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"reader-{reader.kind}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        offline = False
        while not self._stop.is_set():
            try:
                got = self._reader.read(self._poll_s)
            except ReaderOffline as err:
                if not offline:
                    _LOG.warning("%s reader offline: %s", self._reader.kind, err)
                    self._on_error(err)
                offline = True
                self._stop.wait(1.0)
                continue
            except ReaderError as err:
                self._on_error(err)
                continue
            if offline:
                _LOG.info("%s reader back online", self._reader.kind)
                offline = False
            if got is not None:
                self._on_presented(got)

    def close(self) -> None:
        """Stop the thread (the reader itself is closed by its owner). Safe twice."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
