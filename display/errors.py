"""Errors of the hall display and voice calling, one family under QcallError.

Each also inherits the builtin that fits, so a caller that only knows Python can still catch it
(`except FileNotFoundError` works for a missing font or clip folder).
"""

from __future__ import annotations

from qbus.errors import QcallError


class DisplayError(QcallError):
    """The hall display cannot run as configured."""

    code = "display"
    zh = "显示屏错误"


class FontError(DisplayError, FileNotFoundError):
    """The CJK font named in [display] is missing, unreadable or has no Chinese glyphs."""

    code = "font"
    zh = "字体缺失"


class VoiceError(DisplayError, RuntimeError):
    """Voice calling cannot work: no espeak-ng, no audio device, or a clip cannot be used."""

    code = "voice"
    zh = "语音呼叫错误"


class ClipError(VoiceError, ValueError):
    """A voice clip file is missing, silent or in a format we cannot read."""

    code = "clip"
    zh = "语音文件错误"
