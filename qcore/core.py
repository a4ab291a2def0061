"""The branch queue core: every queue operation, pure and deterministic.

No I/O, no threads, no wall clock: each operation takes `now` (branch time, seconds). Time is
clamped to never run backwards, so a Raspberry Pi's clock jumping back at boot cannot produce a
negative wait. Operations append domain events to `self.events`; the core service drains them,
journals the command and publishes the events. Replaying the same commands with the same `now`
values rebuilds exactly the same state.

This module holds the operations (issue, call, serve, rate, open and close, time and days). What
they work on lives beside it: the compiled config (`qcore.plan`), the day's lanes
(`qcore.queues`), who is called next (`qcore.rules`), what screens read (`qcore.views`) and which
bus command runs which operation (`qcore.dispatch`).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from qbus import messages as m
from qbus.config import BranchConfig
from qbus.messages import CounterStatus
from qcore import dispatch, views
from qcore import errors as e
from qcore.booking import Booking
from qcore.counter import CALLED, CLOSED, IDLE, PAUSED, RATING, SERVING, CounterRt, counter_of
from qcore.lane import Lane
from qcore.plan import BranchPlan
from qcore.queues import Queues
from qcore.rules import pick, plan_counter
from qcore.ticket import State, Ticket

RECENT_CALLS = m.MAX_RECENT  # what HallView.recent may hold


class BranchCore:
    """All queues, counters and tickets of one branch for one business day."""

    def __init__(self, cfg: BranchConfig, day: str = "") -> None:
        self.cfg = cfg
        self.plan = BranchPlan(cfg)
        self.counters: dict[int, CounterRt] = self.plan.new_counters()
        # The counters serving each business type (for estimates and "is anyone open for it?").
        self.serving: dict[str, list[CounterRt]] = {b: [] for b in self.plan.businesses}
        for rt in self.counters.values():
            for b in rt.serves:
                self.serving[b].append(rt)
        # Learned service time per business (moving average), the base of every wait estimate.
        self.svc_s = dict(self.plan.service_s)
        self.clock = 0.0
        self.day = day
        self.day_tag = day.replace("-", "") + "-"
        self.events: list[Any] = []
        self.notice: tuple[str, str] = ("", "")
        # Appointments by code: kept across day resets (see qcore.booking).
        self.bookings: dict[str, Booking] = {}
        self._reset_day_state()

    # ------------------------------------------------------------------ state

    def _reset_day_state(self) -> None:
        """Fresh queues for a new day; counters' calling plans point at the new lanes."""
        self.queues = Queues(self.plan)
        self.tickets: dict[str, Ticket] = {}
        self.acks: dict[str, m.AckView] = {}
        self.next_no = dict.fromkeys(self.plan.businesses, 0)
        self.seq = 0
        self.recent: deque[m.CallView] = deque(maxlen=RECENT_CALLS)
        for c in self.counters.values():
            plan_counter(self.queues, c)

    def _now(self, now: float) -> float:
        """Branch time never runs backwards (the Pi's clock may jump at boot). Inlined in the four
        hottest operations (issue, call_next, start, finish), the loop bench/core.py times."""
        if now < self.clock:
            return self.clock
        self.clock = now
        return now

    def _counter(self, cid: int) -> CounterRt:
        return counter_of(self.counters, cid)

    def _ticket(self, number: str) -> Ticket:
        t = self.tickets.get(number)
        if t is None:
            raise e.UnknownTicket(f"ticket {number} was not issued today", zh=f"今天没有 {number} 号")
        return t

    def _status(self, c: CounterRt, status: CounterStatus, now: float, by: str = "", reason: str = "") -> None:
        """Change a counter's status, accounting open and busy time, and announce it (with who
        changed it from the office and why, when someone did)."""
        elapsed = now - c.since  # CounterRt.open_busy_s inlined: every operation passes here
        old = c.status
        if old != CLOSED:
            c.open_s += elapsed
            if old == CALLED or old == SERVING:
                c.busy_s += elapsed
        c.since = now
        c.status = status
        c.by = by
        c.note = reason
        t = c.ticket
        self.events.append(m.CounterChanged(
            at=now, counter=c.id, status=status, teller=c.teller,
            number=t.number if t is not None else "", by=by, reason=reason,
        ))

    # ------------------------------------------------------------------ issuing

    def issue(
        self, now: float, business: str, tier: str = "normal", via: str = "button", customer: str = "",
        masked_name: str = "", appointment_at: float = 0.0, granted_by: str = "", kiosk: str = "",
    ) -> m.TicketView:
        """Give the customer a number; returns what the ticket shows (people ahead, estimated wait)."""
        if now < self.clock:
            now = self.clock
        else:
            self.clock = now
        q = self.queues
        lane = q.lane_of.get((business, tier))
        if lane is None:
            if business not in q.lanes:
                raise e.UnknownBusiness(f"unknown business type {business!r}", zh="没有这种业务")
            raise e.UnknownTier(f"unknown customer tier {tier!r}", zh="没有这种客户级别")
        n = self.next_no[business] + 1
        if n >= 10 ** self.plan.width:  # never a number wider than the config's: refuse, change nothing
            raise e.NumbersExhausted(
                f"all {10 ** self.plan.width - 1} numbers of {business} were given today; "
                "please ask our staff", zh=f"今日{self.plan.prefix[business]}类号码已取完，请联系大堂工作人员")
        key = now
        if appointment_at:
            if not now - 86400 < appointment_at < now + 86400:
                raise e.BadAppointment(f"appointment time {appointment_at} is not today")
            key = max(now, appointment_at)
            lane = q.appts[business][tier]
            q.appt_live += 1
        n = self.next_no[business] + 1
        self.next_no[business] = n
        seq = self.seq = self.seq + 1
        number = self.plan.prefix[business] + str(n).zfill(self.plan.width)
        t = Ticket(seq, number, business, tier, via, now, key, customer, masked_name,
                   appointment_at, granted_by, kiosk)
        q.enqueue(t, lane, key)
        self.tickets[number] = t
        ahead = -1
        for x in q.ahead_lanes[(business, tier)]:
            ahead += x.live
        open_n = 0  # views.estimate, inlined: issuing is the hottest path
        for c in self.serving[business]:
            if c.status != CLOSED:
                open_n += 1
        view = m.TicketView(
            id=self.day_tag + number, number=number, business=business, tier=tier,
            via=via, issued_at=now, ahead=ahead,  # type: ignore[arg-type]
            est_wait_s=round(ahead * self.svc_s[business] / (open_n or 1), 1), masked_name=masked_name,
            appointment_at=appointment_at, granted_by=granted_by,
        )
        self.events.append(m.TicketIssued(at=now, ticket=view))
        return view

    def cancel(self, now: float, number: str, by: str = "") -> None:
        """The customer gave up (or the kiosk could not print): the number is withdrawn."""
        now = self._now(now)
        t = self._ticket(number)
        if t.state == State.WAITING:
            self.queues.dequeue(t)
        elif t.state != State.MISSED:
            raise e.WrongState(f"{number} is {t.state.name.lower()}, only a waiting or missed ticket "
                               "can be cancelled", zh="只能取消等候中或过号的号码")
        t.state = State.CANCELLED
        self.events.append(m.TicketCancelled(at=now, number=number, by=by))

    def move(self, now: float, number: str, to_business: str, by: str = "") -> Ticket:
        """分流: a waiting ticket goes to another business type, keeping its number and its place by
        wait time (the customer has waited already). Refused when no open counter serves it there."""
        now = self._now(now)
        t = self._ticket(number)
        q = self.queues
        if t.state != State.WAITING:
            raise e.WrongState(f"{number} is {t.state.name.lower()}, only a waiting ticket can be moved",
                               zh="只能分流等候中的号码")
        if to_business not in q.lanes:
            raise e.UnknownBusiness(f"unknown business type {to_business!r}", zh="没有这种业务")
        if to_business == t.business:
            raise e.WrongState(f"{number} already waits for {to_business}", zh="该号码已在此业务排队")
        lane: Lane = t.lane  # type: ignore[assignment]
        if not lane.aged:
            raise e.WrongState(f"{number} was transferred to a counter; that counter calls it",
                               zh="该号码已转到指定窗口")
        if not any(x.status != CLOSED and t.tier in x.order for x in self.serving[to_business]):
            raise e.NotServed(f"no open counter serves {to_business} for {t.tier} customers",
                              zh="当前没有开放的窗口办理该业务")
        appt = bool(t.appointment_at) and lane is q.appts[t.business][t.tier]
        q.dequeue(t)
        from_business, t.business = t.business, to_business
        target = q.appts[to_business][t.tier] if appt else q.lanes[to_business][t.tier]
        q.enqueue(t, target, t.wait_from)
        if appt:
            q.appt_live += 1
        self.events.append(m.TicketMoved(at=now, number=number, from_business=from_business,
                                         to_business=to_business, by=by))
        return t

    # ------------------------------------------------------------------ calling

    def call_next(self, now: float, counter: int) -> Ticket:
        """Call the next customer to `counter` by the branch's rules (see qcore.rules)."""
        if now < self.clock:
            now = self.clock
        else:
            self.clock = now
        c = self.counters.get(counter)
        if c is None:
            c = self._counter(counter)
        rating = False
        if c.status != IDLE or not c.teller:
            rating = self._ready_to_call(c)
        t = pick(self.queues, c, now)
        if rating:  # only now that someone is called: a refused call must change nothing
            self._close_rating(c, now, "next_call")
        self.queues.dequeue(t)
        t.state = State.CALLED
        t.counter = c.id
        t.teller = c.teller
        t.called_at = now
        t.recalls = 0
        waited = now - t.wait_from
        if t.first_wait_s < 0:
            t.first_wait_s = waited
        c.ticket = t
        booked = t.appointment_at > 0
        self.recent.appendleft(m.CallView(number=t.number, counter=c.id, at=now, business=t.business,
                                          booked=booked))
        self.events.append(m.TicketCalled(at=now, number=t.number, counter=c.id, business=t.business,
                                          tier=t.tier, waited_s=waited, teller=c.teller, booked=booked))
        self._status(c, CALLED, now)
        return t

    def _ready_to_call(self, c: CounterRt) -> bool:
        """Refuse a call at a counter that cannot call; True when a rating is still pending."""
        s = c.status
        if s == IDLE:
            if not c.teller:
                raise e.NotLoggedIn(f"counter {c.id}: no teller logged in", zh="柜员未签到")
            return False
        if s == RATING:
            return True
        if s == CLOSED:
            raise e.CounterClosed(f"counter {c.id} is closed", zh=f"{c.id} 号窗口未开放")
        if s == PAUSED:
            raise e.CounterPaused(f"counter {c.id} is paused", zh=f"{c.id} 号窗口暂停服务中")
        raise e.CounterBusy(f"counter {c.id} is {s} with {c.ticket.number if c.ticket else '?'}; "
                            "finish, skip or transfer it first", zh="请先完成、过号或转移当前客户")

    def _in_hand(self, c: CounterRt, *states: str) -> Ticket:
        if c.status not in states or c.ticket is None:
            raise e.WrongState(f"counter {c.id} is {c.status}; this needs {' or '.join(states)}",
                               zh="当前状态不能进行此操作")
        return c.ticket

    def recall(self, now: float, counter: int) -> Ticket:
        """Call the same number again (counted; past the limit the teller must skip)."""
        now = self._now(now)
        c = self._counter(counter)
        t = self._in_hand(c, CALLED)
        if t.recalls >= self.plan.max_recalls:
            raise e.RecallLimit(f"{t.number} was recalled {t.recalls} times already; skip it",
                                zh=f"{t.number} 已重呼 {t.recalls} 次，请过号")
        t.recalls += 1
        self.recent.appendleft(m.CallView(number=t.number, counter=c.id, at=now, business=t.business,
                                          recall=t.recalls, booked=t.appointment_at > 0))
        self.events.append(m.TicketRecalled(at=now, number=t.number, counter=c.id, recalls=t.recalls))
        return t

    def skip(self, now: float, counter: int) -> Ticket:
        """The called customer did not come: keep the ticket in the missed list."""
        now = self._now(now)
        c = self._counter(counter)
        t = self._in_hand(c, CALLED)
        t.state = State.MISSED
        t.missed_at = now
        c.ticket = None
        self.events.append(m.TicketSkipped(at=now, number=t.number, counter=c.id))
        self._status(c, IDLE, now)
        return t

    def requeue(self, now: float, number: str, by: str = "") -> Ticket:
        """A missed customer came back within the window: back in the queue."""
        now = self._now(now)
        t = self._ticket(number)
        if t.state != State.MISSED:
            raise e.WrongState(f"{number} is {t.state.name.lower()}, not missed", zh="该号码未过号")
        if now - t.missed_at > self.plan.requeue_s:
            raise e.RequeueExpired(f"{number} was missed {int((now - t.missed_at) // 60)} min ago; "
                                   "the window has passed, please take a new number")
        key = t.issued_at if self.plan.requeue_front else now
        self.queues.enqueue(t, self.queues.lanes[t.business][t.tier], key)
        self.events.append(m.TicketRequeued(at=now, number=number, by=by))
        return t

    # ------------------------------------------------------------------ serving

    def start(self, now: float, counter: int) -> Ticket:
        """The 欢迎光临 key: the called customer is at the counter."""
        if now < self.clock:
            now = self.clock
        else:
            self.clock = now
        c = self.counters.get(counter) or self._counter(counter)
        t = c.ticket
        if c.status != CALLED or t is None:
            t = self._in_hand(c, CALLED)
        t.state = State.SERVING
        t.started_at = now
        self.events.append(m.ServiceStarted(at=now, number=t.number, counter=c.id, teller=c.teller))
        self._status(c, SERVING, now)
        return t

    def finish(self, now: float, counter: int, request_rating: bool = True) -> Ticket:
        """Service done. With a rating request the pad asks for stars; without, it counts as unrated."""
        if now < self.clock:
            now = self.clock
        else:
            self.clock = now
        c = self.counters.get(counter) or self._counter(counter)
        t = c.ticket
        if c.status != SERVING or t is None:
            t = self._in_hand(c, SERVING)
        t.state = State.SERVED
        t.finished_at = now
        service = now - t.started_at
        b = t.business
        self.svc_s[b] = 0.9 * self.svc_s[b] + 0.1 * service
        c.ticket = None
        self.events.append(m.ServiceFinished(at=now, number=t.number, counter=c.id, service_s=service,
                                             teller=c.teller, rating_requested=request_rating))
        if request_rating:
            c.rating_ticket = t
            c.rating_due = now + self.plan.rating_s
            self._status(c, RATING, now)
        else:
            self._record_rating(c, t, 0, now, "not_requested")
            self._status(c, IDLE, now)
        return t

    def rate(self, now: float, counter: int, stars: int, source: str = "") -> Ticket:
        """The customer pressed 1..scale stars on the pad; `source` names the device (`pad3`)."""
        now = self._now(now)
        c = self._counter(counter)
        scale = self.plan.scale
        if not 1 <= stars <= scale:
            raise e.BadRating(f"rating must be 1..{scale}, got {stars}", zh="评价星级无效")
        t = c.rating_ticket
        if c.status != RATING or t is None:
            if c.last_rated is not None and c.last_rated.rating > 0:
                raise e.AlreadyRated(f"{c.last_rated.number} was already rated", zh="该服务已评价")
            raise e.NoRatingPending(f"counter {c.id} has no finished service awaiting a rating",
                                    zh="没有待评价的服务")
        self._record_rating(c, t, stars, now, "", source)
        c.rating_ticket = None
        self._status(c, IDLE, now)
        return t

    def _record_rating(self, c: CounterRt, t: Ticket, stars: int, now: float, reason: str,
                       source: str = "") -> None:
        t.rating = stars
        c.last_rated = t
        self.events.append(m.ServiceRated(at=now, number=t.number, counter=c.id, stars=stars,
                                          teller=t.teller, reason=reason, source=source))

    def _close_rating(self, c: CounterRt, now: float, reason: str) -> None:
        t = c.rating_ticket
        if t is not None:
            self._record_rating(c, t, 0, now, reason)
        c.rating_ticket = None
        self._status(c, IDLE, now)

    def transfer(self, now: float, counter: int, to_business: str = "", to_counter: int = 0) -> Ticket:
        """Send the customer being served elsewhere, keeping the original issue time."""
        now = self._now(now)
        c = self._counter(counter)
        t = self._in_hand(c, SERVING)
        if to_counter:
            target = self._counter(to_counter)
            if target.status == CLOSED or target is c:
                raise e.NotServed(f"counter {to_counter} is closed or is this counter",
                                  zh=f"{to_counter} 号窗口未开放")
            lane = target.directed
            b = to_business or t.business
            if b not in target.serves:
                raise e.NotServed(f"counter {to_counter} does not serve {b}", zh="目标窗口不办理该业务")
        else:
            b = to_business or t.business
            if b not in self.queues.lanes:
                raise e.UnknownBusiness(f"unknown business type {b!r}")
            if not any(x.status != CLOSED and t.tier in x.order for x in self.serving[b]):
                raise e.NotServed(f"no open counter serves {b} for {t.tier} customers",
                                  zh="当前没有开放的窗口办理该业务")
            lane = self.queues.lanes[b][t.tier]
        t.business = b
        t.transfers += 1
        t.counter = 0
        c.ticket = None
        self.queues.enqueue(t, lane, t.issued_at)
        self.events.append(m.TicketTransferred(at=now, number=t.number, from_counter=c.id,
                                               to_business=b, to_counter=to_counter))
        self._status(c, IDLE, now)
        return t

    # ------------------------------------------------------------------ counters and tellers

    def login(self, now: float, counter: int, teller: str) -> None:
        """A teller signs in at a counter (opening it). The PIN was checked by the service."""
        now = self._now(now)
        c = self._counter(counter)
        if teller not in self.plan.tellers:
            raise e.UnknownTeller(f"teller {teller!r} is not in the branch config", zh="柜员号不存在")
        if c.status in (CALLED, SERVING):
            raise e.CounterBusy(f"counter {c.id} is {c.status}; finish first", zh="请先完成当前业务")
        for other in self.counters.values():
            if other is not c and other.teller == teller:
                raise e.CounterBusy(f"teller {teller} is signed in at counter {other.id}",
                                    zh=f"该柜员已在 {other.id} 号窗口签到")
        c.teller = teller
        self._status(c, IDLE if c.status == CLOSED else c.status, now)

    def logout(self, now: float, counter: int) -> None:
        now = self._now(now)
        c = self._counter(counter)
        if c.status in (CALLED, SERVING):
            raise e.CounterBusy(f"counter {c.id} is {c.status}; finish first", zh="请先完成当前业务")
        if c.status == RATING:
            self._close_rating(c, now, "logout")
        c.teller = ""
        self._status(c, CLOSED, now)

    def open(self, now: float, counter: int, by: str = "") -> None:
        now = self._now(now)
        c = self._counter(counter)
        if c.status != CLOSED:
            raise e.WrongState(f"counter {c.id} is already open", zh="窗口已开放")
        self._status(c, IDLE, now, by)

    def close(self, now: float, counter: int, by: str = "") -> None:
        now = self._now(now)
        c = self._counter(counter)
        if c.status in (CALLED, SERVING):
            raise e.CounterBusy(f"counter {c.id} is {c.status}; finish first", zh="请先完成当前业务")
        if c.status == RATING:
            self._close_rating(c, now, "closed")
        if c.status == CLOSED:
            raise e.WrongState(f"counter {c.id} is already closed", zh="窗口已关闭")
        self._status(c, CLOSED, now, by)

    def pause(self, now: float, counter: int, reason: str = "", by: str = "") -> None:
        """暂停服务: a paused counter is never called to. `reason` goes into the history."""
        now = self._now(now)
        c = self._counter(counter)
        if c.status == RATING:
            self._close_rating(c, now, "paused")
        if c.status != IDLE:
            raise e.WrongState(f"counter {c.id} is {c.status}; only an idle counter can pause",
                               zh="只有空闲的窗口可以暂停")
        self._status(c, PAUSED, now, by, reason)

    def resume(self, now: float, counter: int, by: str = "") -> None:
        now = self._now(now)
        c = self._counter(counter)
        if c.status != PAUSED:
            raise e.WrongState(f"counter {c.id} is {c.status}, not paused", zh="窗口未暂停")
        self._status(c, IDLE, now, by)

    # ------------------------------------------------------------------ people in the office

    def ack_alert(self, now: float, number: str, by: str, key: str = "") -> None:
        """An alert seen. Without `key`: staff member `by` (a teller id) acknowledges `number`'s wait
        alerts (qcall ack; the history keeps who and when). With `key`: a person signed in to the web
        acknowledges one dashboard alert; the first is recorded, a second is told who."""
        now = self._now(now)
        if not key:
            if not number:
                raise e.UnknownTicket("an acknowledgement names a ticket or an alert", zh="请指明号码或提醒")
            self._ticket(number)
            if by not in self.plan.tellers:
                raise e.UnknownTeller(f"staff {by!r} is not in the branch config", zh="员工号不存在")
        else:
            done = self.acks.get(key)
            if done is not None:
                raise e.WrongState(f"alert {key} was acknowledged by {done.by} already",
                                   zh=f"该提醒已由 {done.by} 确认")
            self.acks[key] = m.AckView(by=by, at=now)
        self.events.append(m.AlertAcked(at=now, number=number, by=by, key=key))

    def set_notice(self, now: float, zh: str, en: str, by: str = "") -> None:
        """The hall notice (empty: back to the display's configured one). Kept across days."""
        now = self._now(now)
        self.notice = (zh, en)
        self.events.append(m.NoticeSet(at=now, zh=zh, en=en, by=by))

    # ------------------------------------------------------------------ appointments (预约)

    def book(self, now: float, code: str, at: float, business: str, tier: str = "normal", customer: str = "",
             masked_name: str = "", source: m.BookingSource = "system", by: str = "") -> m.BookingView:
        """Book a slot for a business: on the slot grid, not past, within the slot's capacity."""
        now = self._now(now)
        code = code.upper()
        if business not in self.queues.lanes:
            raise e.UnknownBusiness(f"unknown business type {business!r}", zh="没有这种业务")
        if tier not in self.plan.tier_cfg:
            raise e.UnknownTier(f"unknown customer tier {tier!r}", zh="没有这种客户级别")
        slot = self.plan.slot_s
        if at % slot:
            raise e.BadBooking(f"{at} is not the start of a {slot // 60}-minute slot",
                               zh=f"预约时段须为 {slot // 60} 分钟的整点时段")
        if at + slot <= now:
            raise e.BadBooking("that slot has passed", zh="该时段已过")
        old = self.bookings.get(code)
        if old is not None and old.view.status != "cancelled":
            raise e.BadBooking(f"booking code {code} is taken", zh=f"预约码 {code} 已被使用")
        taken = sum(1 for b in self.bookings.values() if b.view.at == at and b.view.business == business
                    and b.view.status != "cancelled")
        if taken >= self.plan.slot_cap:
            raise e.SlotFull(f"the slot is full ({taken} of {self.plan.slot_cap} booked)",
                             zh=f"该时段已约满（{taken}/{self.plan.slot_cap}）")
        view = m.BookingView(code=code, at=at, business=business, tier=tier, masked_name=masked_name,
                             source=source, by=by)
        self.bookings[code] = Booking(view, customer)
        self.events.append(m.BookingMade(at=now, booking=view))
        return view

    def cancel_booking(self, now: float, code: str, by: str = "") -> None:
        now = self._now(now)
        b = self.bookings.get(code.upper())
        if b is None or not b.open:
            raise e.NoBooking(f"no open booking {code}", zh="没有这个待签到的预约")
        b.view.status = "cancelled"
        self.events.append(m.BookingCancelled(at=now, code=b.view.code, by=by))

    def check_in(self, now: float, code: str = "", customer: str = "", kiosk: str = "") -> m.TicketView:
        """The booked customer at the kiosk: an appointment ticket from `appointment_early_minutes`
        before the booked time to `appointment_late_minutes` after it; earlier is told to come back,
        later gets a normal ticket (marked `booking_late`)."""
        now = self._now(now)
        b = self._booking_for(now, code, customer)
        v = b.view
        if v.status != "booked":
            raise e.BadBooking(f"booking {v.code} was checked in already as {v.number}",
                               zh=f"该预约已签到，号码 {v.number}")
        early = v.at - now
        if early > self.plan.appt_early_s:
            mins = int(-(-(early - self.plan.appt_early_s) // 60))
            early_min = int(self.plan.appt_early_s // 60)
            raise e.TooEarly(f"too early: check in from {early_min} min before your time (in {mins} min)",
                             zh=f"预约签到时间未到：请在预约时间前 {early_min} 分钟内签到（约 {mins} 分钟后）")
        late = -early > self.plan.appt_late_s
        view = self.issue(now, v.business, v.tier, "appointment", b.customer, v.masked_name,
                          0.0 if late else v.at, kiosk=kiosk)
        view.booking, view.booking_late = v.code, late
        v.status, v.number, v.checked_in_at = ("late" if late else "checked_in"), view.number, now
        self.events.append(m.BookingCheckedIn(at=now, code=v.code, number=view.number, business=v.business,
                                              booked_at=v.at, late=late, early_s=early))
        return view

    def _booking_for(self, now: float, code: str, customer: str) -> Booking:
        """The booking a code names, or the card's nearest booking within half a day."""
        if code:
            b = self.bookings.get(code.upper())
            if b is not None and b.view.status != "cancelled" and abs(b.view.at - now) < 43200:
                return b
        elif customer:
            mine = [b for b in self.bookings.values() if b.customer == customer and b.open
                    and abs(b.view.at - now) < 43200]
            if mine:
                return min(mine, key=lambda b: abs(b.view.at - now))
        raise e.NoBooking("no booking found for today", zh="没有找到您今天的预约，请到大堂服务台咨询")

    def bookings_state(self) -> m.BookingsState:
        return m.BookingsState(bookings=sorted((b.view for b in self.bookings.values()),
                                               key=lambda v: (v.at, v.code)))

    def _close_bookings(self, now: float) -> None:
        """At the day's end: open bookings of the past are no-shows; past ones are then dropped."""
        for code, b in list(self.bookings.items()):
            if b.view.at >= now:
                continue
            if b.open:
                b.view.status = "missed"
                self.events.append(m.BookingMissed(at=now, code=code, business=b.view.business,
                                                   booked_at=b.view.at))
            del self.bookings[code]

    def acks_state(self) -> m.AcksState:
        return m.AcksState(day=self.day, acks=dict(self.acks))

    # ------------------------------------------------------------------ time and days

    def tick(self, now: float) -> None:
        """Let time pass: rating timeouts become 'unrated', wait alerts fire."""
        now = self._now(now)
        for c in self.counters.values():
            if c.status == RATING and c.rating_due <= now:
                self._close_rating(c, now, "timeout")
        for kind, limit, head in self.queues.overdue(now):
            t = head[3]
            self.events.append(m.WaitAlert(at=now, kind=kind, number=t.number,  # type: ignore[arg-type]
                                           business=t.business, tier=t.tier, waited_s=now - head[0],
                                           limit_s=limit))

    def next_deadline(self) -> float | None:
        """When `tick` next has something to do (so a service timer need not poll)."""
        due = [c.rating_due for c in self.counters.values() if c.status == RATING]
        due += self.queues.alert_due()
        return min(due) if due else None

    def at_rest(self) -> bool:
        """Nobody waiting, called or being served: a clock step now spans nobody's wait or service."""
        if any(self.queues.waiting_all().values()):
            return False
        return all(c.status not in (CALLED, SERVING) for c in self.counters.values())

    def step_clock(self, now: float) -> None:
        """Branch time steps to `now`, backwards too (the wall clock was corrected), while at rest.

        Counters' open time is booked up to the old clock and restarts from the new one, and a
        pending rating keeps its remaining seconds, so no figure spans the step.
        """
        if not self.at_rest():
            raise e.ClockBusy("the clock cannot step while customers wait or are served",
                              zh="有客户等候或办理中，不能调整时间")
        old = self.clock
        for c in self.counters.values():
            if c.status != CLOSED and old > c.since:
                c.open_s += old - c.since
            if c.status == RATING:
                c.rating_due += now - old
            c.since = now
        self.clock = now

    def reset_day(self, now: float, day: str) -> None:
        """A new business day: numbers restart, queues empty, counters close. Never twice, never back."""
        now = self._now(now)
        new = _date(day)
        if _is_date(self.day) and new <= _date(self.day):  # a bad day journaled by an old version
            raise e.DayNotAfter(f"business day {day} is not after {self.day}", zh="营业日不能回退")
        for c in self.counters.values():
            if c.status == RATING:
                self._close_rating(c, now, "day_end")
            c.ticket = None
            c.teller = ""
            if c.status != CLOSED:
                self._status(c, CLOSED, now)
            # After closing: closing books yesterday's last stretch, which the new day must not see.
            c.busy_s = c.open_s = 0.0
            c.since = now
            c.streak = c.normal_run = 0
            c.wrr = dict.fromkeys(c.serves, 0)
            c.directed.clear()
            c.last_rated = None
        self._close_bookings(now)
        self.day = day
        self.day_tag = day.replace("-", "") + "-"
        self._reset_day_state()
        self.events.append(m.DayReset(at=now, day=day))

    def note_kiosk(self, now: float, kiosk: str, kind: str, business: str = "", detail: str = "") -> None:
        """A kiosk's note (self-service offer, printer fault, unknown card): journaled, announced."""
        now = self._now(now)
        self.events.append(m.KioskNoted(at=now, kiosk=kiosk, kind=kind,  # type: ignore[arg-type]
                                        business=business, detail=detail))

    # ------------------------------------------------------------------ queries (qcore.views)

    def waiting_count(self, business: str) -> int:
        """People waiting for one business type (all tiers, appointments and transfers included)."""
        return self.queues.waiting(business)

    def queue_state(self) -> m.QueueState:
        """People waiting per business type and tier, with the estimated wait for a new ticket."""
        return views.queue_state(self)

    def waiting_state(self, limit: int = m.MAX_WAITING_LISTED) -> m.WaitingState:
        """Every waiting ticket (number, business, tier, wait key), oldest key first, at most `limit`."""
        return views.waiting_state(self, limit)

    def waiting_list(self, business: str | None = None) -> list[Ticket]:
        """Waiting tickets (optionally of one business type), oldest first."""
        return views.waiting_list(self, business)

    def counter_state(self, cid: int) -> m.CounterState:
        return views.counter_state(self, cid)

    def counter_states(self) -> list[m.CounterState]:
        return [views.counter_state(self, cid) for cid in self.counters]

    def recent_calls(self) -> list[m.CallView]:
        """Newest first, recalls included."""
        return list(self.recent)

    def hall_view(self) -> m.HallView:
        """Everything the hall display needs to redraw from nothing."""
        return views.hall_view(self)

    def missed_list(self) -> list[Ticket]:
        return views.missed_list(self)

    # ------------------------------------------------------------------ commands

    def execute(self, cmd: Any, now: float) -> Any:
        """Apply one bus command (a qbus.messages struct). Returns the ticket view or ticket touched."""
        return dispatch.execute(self, cmd, now)

    def drain(self) -> list[Any]:
        """Take the events produced since the last drain."""
        out, self.events = self.events, []
        return out


_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _date(day: str) -> tuple[int, int, int]:
    """A business day as (year, month, day): days compare as dates, never as text ("not-a-date"
    sorts after every real day). Plain arithmetic, no datetime: the core reads no clock."""
    parts = day.split("-")
    ok = len(day) == 10 and len(parts) == 3 and all(p.isascii() and p.isdigit() for p in parts)
    y, mo, d = (int(p) for p in parts) if ok else (0, 0, 0)
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    if not (ok and y >= 1 and 1 <= mo <= 12 and 1 <= d <= _MONTH_DAYS[mo - 1] - (mo == 2 and not leap)):
        raise e.BadDay(f"business day {day!r} is not a date (YYYY-MM-DD)", zh="营业日无效")
    return y, mo, d


def _is_date(day: str) -> bool:
    try:
        _date(day)
    except e.BadDay:
        return False
    return True
