"""Typed errors for every wrong operation on the core.

Each has a stable `code` (what a device switches on), a Chinese message for the customer-facing
screens and an English one, and also inherits the builtin that fits so callers may catch either.
"""

from __future__ import annotations

from qbus.errors import QcallError


class CoreError(QcallError):
    """An operation the queue core refused; nothing changed."""

    code = "core"
    zh = "操作被拒绝"


class UnknownCounter(CoreError, KeyError):
    code = "unknown_counter"
    zh = "没有这个窗口"

    def __str__(self) -> str:  # KeyError would add quotes
        return str(self.args[0]) if self.args else self.code


class UnknownTicket(CoreError, KeyError):
    code = "unknown_ticket"
    zh = "没有这个号码"

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.code


class UnknownBusiness(CoreError, ValueError):
    code = "unknown_business"
    zh = "没有这种业务"


class UnknownTier(CoreError, ValueError):
    code = "unknown_tier"
    zh = "没有这种客户级别"


class UnknownTeller(CoreError, ValueError):
    code = "unknown_teller"
    zh = "柜员号不存在"


class CounterClosed(CoreError, RuntimeError):
    code = "counter_closed"
    zh = "窗口未开放"


class CounterPaused(CoreError, RuntimeError):
    code = "counter_paused"
    zh = "窗口暂停服务中"


class CounterBusy(CoreError, RuntimeError):
    code = "counter_busy"
    zh = "窗口正在办理业务"


class NotLoggedIn(CoreError, PermissionError):
    code = "not_logged_in"
    zh = "柜员未签到"


class WrongState(CoreError, RuntimeError):
    code = "wrong_state"
    zh = "当前状态不能进行此操作"


class QueueEmpty(CoreError, LookupError):
    code = "queue_empty"
    zh = "暂无等候客户"


class RecallLimit(CoreError, RuntimeError):
    code = "recall_limit"
    zh = "重呼次数已满，请过号"


class NoRatingPending(CoreError, RuntimeError):
    code = "no_rating_pending"
    zh = "没有待评价的服务"


class AlreadyRated(CoreError, RuntimeError):
    code = "already_rated"
    zh = "该服务已评价"


class BadRating(CoreError, ValueError):
    code = "bad_rating"
    zh = "评价星级无效"


class NotServed(CoreError, RuntimeError):
    """Transfer to a business type or counter that nobody open serves."""

    code = "not_served"
    zh = "目标业务或窗口当前无人办理"


class RequeueExpired(CoreError, RuntimeError):
    code = "requeue_expired"
    zh = "过号已超过重新排队时限，请重新取号"


class DayNotAfter(CoreError, ValueError):
    code = "day_not_after"
    zh = "营业日不能回退"


class ClockBusy(CoreError, RuntimeError):
    code = "clock_busy"
    zh = "有客户等候或办理中，不能调整时间"


class BadDay(CoreError, ValueError):
    """Not a calendar date (YYYY-MM-DD), or a day the branch has not reached yet."""

    code = "bad_day"
    zh = "营业日无效"


class NumbersExhausted(CoreError, RuntimeError):
    """Every number of the configured width was given today for this business type."""

    code = "numbers_exhausted"
    zh = "今日该业务号码已取完，请联系大堂工作人员"


class BadAppointment(CoreError, ValueError):
    code = "bad_appointment"
    zh = "预约时间无效"


class BadBooking(CoreError, ValueError):
    code = "bad_booking"
    zh = "预约信息无效"


class SlotFull(CoreError, ValueError):
    code = "slot_full"
    zh = "该时段预约已满"


class BookingsFull(CoreError, ValueError):
    """The core holds m.MAX_BOOKINGS bookings already (state/bookings lists them in one message)."""

    code = "bookings_full"
    zh = "预约已达上限，请改约其他日期或到网点办理"


class AcksFull(CoreError, ValueError):
    """m.MAX_ACKS dashboard alerts acknowledged today already (state/acks lists them in one message)."""

    code = "acks_full"
    zh = "今日已确认的提醒过多，无法再记录"


class NoBooking(CoreError, KeyError):
    code = "no_booking"
    zh = "没有找到您的预约，请到大堂服务台咨询"

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.code


class TooEarly(CoreError, ValueError):
    code = "too_early"
    zh = "预约签到时间未到"
