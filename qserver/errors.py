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


class ClockUnconfirmed(QcallError):
    """The branch clock is not confirmed (no time sync yet): requests wait for it."""

    code = "clock_unconfirmed"
    zh = "系统时间未确认，请稍候"


class JournalGone(JournalError):
    """The journal file was deleted or replaced under the running service, or is missing its rows."""

    code = "journal_gone"
    zh = "日志文件丢失或被替换"
