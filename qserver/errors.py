"""Errors of the core service and its journal."""

from __future__ import annotations

from qbus.errors import QcallError


class JournalError(QcallError, OSError):
    """The journal file cannot be opened or written."""

    code = "journal"
    zh = "日志文件错误"


class JournalCorrupt(JournalError):
    """A journal row fails its checksum or the sequence has a gap: never used silently."""

    code = "journal_corrupt"
    zh = "日志文件损坏"

    def __init__(self, message: str, seq: int = 0) -> None:
        super().__init__(message)
        self.seq = seq
