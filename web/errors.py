"""Errors of the web service: each also inherits the builtin that fits, so callers can catch either."""

from __future__ import annotations

from qbus.errors import QcallError


class WebError(QcallError):
    """Base of the web service's errors."""

    code = "web"


class UsersFileError(WebError, ValueError):
    """The users file is missing, unreadable or malformed (the message names the entry)."""

    code = "users_file"


class Refused(WebError, PermissionError):
    """The signed-in person's role may not do this (the page, the service and the broker agree)."""

    code = "forbidden"
    zh = "您的角色无权进行此操作"
