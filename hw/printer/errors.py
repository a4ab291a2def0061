"""Printer errors: one family under QcallError; each also inherits the builtin that fits."""

from __future__ import annotations

from qbus.errors import QcallError


class PrinterError(QcallError, OSError):
    """The ticket printer failed."""

    code = "printer"
    zh = "打印机故障，请联系工作人员"
    en_text = "The ticket printer has a fault. Please ask our staff."


class PaperOut(PrinterError):
    """The ticket printer is out of paper."""

    code = "paper_out"
    zh = "打印机缺纸，请联系工作人员"
    en_text = "The ticket printer is out of paper. Please ask our staff."


class PrinterOffline(PrinterError):
    """The ticket printer is offline or does not answer."""

    code = "printer_offline"
    zh = "打印机未连接，请联系工作人员"
    en_text = "The ticket printer is not responding. Please ask our staff."
