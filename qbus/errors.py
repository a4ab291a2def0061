"""The project's error family.

One base class; each error also inherits the builtin that fits, so callers may catch either
(`except ValueError` works for a bad config). Errors that travel on the bus carry a stable `code`
and a Chinese and an English message.
"""

from __future__ import annotations


class QcallError(Exception):
    """Base of every error this project raises on purpose."""

    code = "error"
    zh = "系统错误"

    def __init__(self, message: str = "", *, zh: str = "") -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        if zh:
            self.zh = zh

    @property
    def en(self) -> str:
        return str(self)


class ConfigError(QcallError, ValueError):
    """The branch configuration is invalid."""

    code = "config"
    zh = "配置错误"


class PayloadError(QcallError, ValueError):
    """A bus payload is malformed or fails the schema."""

    code = "bad_payload"
    zh = "消息格式错误"


class BusError(QcallError, ConnectionError):
    """The MQTT bus cannot carry the message (broker unreachable, refused, or the client is closed)."""

    code = "bus"
    zh = "消息总线连接故障"


class BusTimeout(BusError, TimeoutError):
    """No reply came within the timeout (the request may still be applied: retry with the same id)."""

    code = "timeout"
    zh = "请求超时，请重试"


class BrokerError(QcallError, RuntimeError):
    """The embedded or launched MQTT broker could not be started or stopped."""

    code = "broker"
    zh = "消息服务器启动失败"
