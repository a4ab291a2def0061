"""Errors of the serial protocol layer. Each also inherits the builtin that fits."""

from __future__ import annotations

from qbus.errors import QcallError


class FrameError(QcallError, ValueError):
    """A frame is malformed: bad address, unknown command or a payload that does not fit it."""

    code = "bad_frame"
    zh = "帧格式错误"


class CodecError(QcallError, LookupError):
    """No codec by that name (config `serial[].codec`)."""

    code = "unknown_codec"
    zh = "未知的串口协议"
