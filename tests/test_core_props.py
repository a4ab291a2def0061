"""Property tests: random operation sequences against the queue core, checked op by op.

Each example picks a branch config and a list of operations (issue, call, recall, skip, requeue,
transfer, start, finish, rate, pause, resume, open, close, login, logout, cancel, tick, reset)
with a clock that mostly moves forward in small steps, sometimes jumps past the aging bound and
sometimes runs backwards. Every command goes through `BranchCore.execute` as a qbus command
struct, as the core service sends it. After every operation:

* no ticket is lost or duplicated: each number issued today is in exactly one state, the waiting
  ones are exactly the tickets a small independent model says are waiting, in the same queue,
  with the same wait key, and numbers are unique per day and follow prefix + count;
* a counter holds at most one ticket, each called / serving ticket is held by exactly one
  counter whose status matches, and tickets only move along legal transitions;
* each call picks exactly what a reference model of the rules picks (directed transfers, the
  aging bound, due appointments, tier order with preferences and the interleave ratio, smooth
  weighted round-robin, first come first served) and the aging bound holds on every call;
* queue_state and the hall view count exactly the waiting tickets; no wait is negative.

At the end the same command list is replayed on a fresh core (and from a pickled mid-run
snapshot, as the journal does) and must give identical state, events and replies.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from random import Random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qbus import messages as m
from qbus.config import BranchConfig
from qcore import BranchCore, CoreError, State, Ticket, snapshot
from qcore import errors as e
from tests.core_export import export, where
from tests.coretools import DAY, EXAMPLE_CFG, T0, counter, small_cfg

# Rules tight enough that aging, alerts, requeue windows and recall limits all come into play.
SMALL_A = small_cfg(
    rules="aging_minutes = 8\ninterleave_priority = 2\ninterleave_normal = 2\nmax_recalls = 1\n"
          'requeue_window_minutes = 5\nrequeue_position = "front"\nwait_alert_minutes = 4',
    rating="timeout_s = 30",
    counters=counter(1, "cash = 3, loan = 1")
    + counter(2, "cash = 1, loan = 1", prefers='"vip"')
    + counter(3, "loan = 2", tiers='"vip", "normal"')
    + counter(4, "cash = 2, loan = 1", prefers='"prio"', tiers='"prio", "normal"'),
)
SMALL_B = small_cfg(
    rules="aging_minutes = 15\ninterleave_priority = 1\nmax_recalls = 2\nrequeue_window_minutes = 10",
    counters=counter(1, "cash = 1, loan = 2") + counter(2, "cash = 5", tiers='"vip"')
    + counter(3, "cash = 1, loan = 1", prefers='"prio", "vip"'),
)
CONFIGS = [SMALL_A, SMALL_B, EXAMPLE_CFG]

PROPS = settings(max_examples=300, derandomize=True, database=None, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Legal ticket moves (old state -> new states); a ticket keeps its state otherwise.
MOVES = {
    State.WAITING: {State.CALLED, State.CANCELLED},
    State.CALLED: {State.SERVING, State.MISSED},
    State.SERVING: {State.SERVED, State.WAITING},
    State.SERVED: set(),
    State.MISSED: {State.WAITING, State.CANCELLED},
    State.CANCELLED: set(),
}
STATUS_OF = {State.CALLED: "called", State.SERVING: "serving"}


def day_str(i: int) -> str:
    return (dt.date.fromisoformat(DAY) + dt.timedelta(days=i)).isoformat()


# ---------------------------------------------------------------------------------- operations


# Operation kinds and how often each is drawn: mostly issuing and moving counters along, enough
# of everything else (including refusals) to reach every state.
KINDS = {
    "issue": 20, "advance": 35, "call": 3, "start": 2, "finish": 2, "rate": 2, "recall": 2, "skip": 2,
    "requeue": 5, "cancel": 3, "transfer": 3, "pause": 3, "resume": 3, "open": 1, "close": 2,
    "login": 2, "logout": 2, "tick": 6, "reset": 1, "move": 3, "ack": 1, "notice": 1,
}
STEPS = {0.0: 5, 1.0: 5, 5.0: 10, 20.0: 15, 60.0: 20, 90.0: 15, 240.0: 10, 600.0: 4, 1500.0: 2,
         -45.0: 2, -900.0: 1}


def random_op(rnd: Random, cfg: BranchConfig) -> tuple[float, tuple[Any, ...]]:
    """(clock step, abstract operation); `Run.command` turns it into a bus command."""
    bus = [b.code for b in cfg.business]
    cids = [c.id for c in cfg.counter]
    cid = rnd.choice(cids) if rnd.random() < 0.95 else 99
    kind = rnd.choices(list(KINDS), list(KINDS.values()))[0]
    op: tuple[Any, ...]
    if kind == "issue":
        business = rnd.choice(bus) if rnd.random() < 0.97 else "nope"
        tier = rnd.choice([t.code for t in cfg.tier]) if rnd.random() < 0.97 else "gold"
        appt = rnd.choice([-400.0, 0.0, 90.0, 900.0, 2e5]) if rnd.random() < 0.15 else None
        op = (kind, business, tier, appt)
    elif kind == "advance":
        op = (kind, rnd.choice(cids), rnd.randrange(10))
    elif kind == "finish":
        op = (kind, cid, rnd.random() < 0.5)
    elif kind == "rate":
        op = (kind, cid, rnd.randrange(7))
    elif kind in ("requeue", "cancel"):
        op = (kind, rnd.randrange(1000))
    elif kind == "move":
        op = (kind, rnd.randrange(1000), rnd.choice(bus) if rnd.random() < 0.95 else "nope")
    elif kind == "ack":
        op = (kind, rnd.choice(["wait:A001", "tier:B002", "offline:pad1:0"]), rnd.choice(["zhou", "zhao"]))
    elif kind == "notice":
        op = (kind, rnd.choice(["", "今日外汇暂停"]), rnd.choice(["zhou", "zhao"]))
    elif kind == "transfer":
        op = (kind, cid, rnd.choice(["", *bus]), rnd.choice([0, 0, *cids]))
    elif kind == "login":
        op = (kind, cid, rnd.choice([t.id for t in cfg.teller][: len(cids) + 1] + ["nobody"]))
    elif kind == "tick":
        op = (kind,)
    elif kind == "reset":
        op = (kind, rnd.choice([1, 1, 0, -1]))
    else:
        op = (kind, cid)
    return rnd.choices(list(STEPS), list(STEPS.values()))[0], op


# ---------------------------------------------------------------------------------- reference model


@dataclass
class Waiting:
    business: str
    tier: str
    wait_from: float
    seq: int
    queue: str  # 'tier', 'appointment' or 'counter:<id>'


@dataclass
class Model:
    """What is waiting and each counter's calling memory, kept independently of the core."""

    cfg: BranchConfig
    clock: float = 0.0
    seq: int = 0
    next_no: dict[str, int] = field(default_factory=dict)
    issued: list[str] = field(default_factory=list)
    info: dict[str, tuple[str, str, float, int]] = field(default_factory=dict)  # business, tier, issued, seq
    business: dict[str, str] = field(default_factory=dict)  # changes with a transfer
    waiting: dict[str, Waiting] = field(default_factory=dict)
    streak: dict[int, int] = field(default_factory=dict)
    normal_run: dict[int, int] = field(default_factory=dict)
    wrr: dict[int, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tier = {t.code: t for t in self.cfg.tier}
        self.by_rank = [t.code for t in sorted(self.cfg.tier, key=lambda t: t.rank)]
        self.counter = {c.id: c for c in self.cfg.counter}
        self.new_day()

    def new_day(self) -> None:
        self.seq = 0
        self.next_no = {b.code: 0 for b in self.cfg.business}
        self.issued, self.info, self.waiting, self.business = [], {}, {}, {}
        for c in self.cfg.counter:
            self.streak[c.id] = self.normal_run[c.id] = 0
            self.wrr[c.id] = dict.fromkeys(c.serves, 0)

    def expected_number(self, business: str) -> str:
        prefix = next(b.prefix for b in self.cfg.business if b.code == business)
        return prefix + str(self.next_no[business] + 1).zfill(self.cfg.rules.number_width)

    def add(self, number: str, business: str, tier: str, wait_from: float, queue: str) -> None:
        self.waiting[number] = Waiting(business, tier, wait_from, self.info[number][3], queue)

    def pick(self, cid: int, now: float) -> tuple[str | None, str, dict[str, Any]]:
        """(number the rules call, which rule, the counter's calling memory afterwards)."""
        cc = self.counter[cid]
        allowed = cc.tiers or self.by_rank
        order = [t for t in cc.prefers if t in allowed] + [t for t in self.by_rank
                                                           if t in allowed and t not in cc.prefers]
        memo: dict[str, Any] = {"streak": self.streak[cid], "normal_run": self.normal_run[cid],
                                "wrr": dict(self.wrr[cid])}
        items = list(self.waiting.items())

        def oldest(xs: list[tuple[str, Waiting]]) -> str:
            return min(xs, key=lambda x: (x[1].wait_from, x[1].seq))[0]

        directed = [x for x in items if x[1].queue == f"counter:{cid}"]
        if directed:
            return oldest(directed), "directed", memo
        mine = [x for x in items if x[1].queue in ("tier", "appointment")
                and x[1].business in cc.serves and x[1].tier in allowed]
        aged = [x for x in mine if x[1].wait_from <= now - self.cfg.rules.aging_minutes * 60]
        if aged:
            return oldest(aged), "aging", memo
        due = [x for x in mine if x[1].queue == "appointment" and x[1].wait_from <= now]
        if due:
            return oldest(due), "appointment", memo
        queued = [x for x in mine if x[1].queue == "tier"]
        rows = [t for t in order if any(w.tier == t for _, w in queued)]
        if not rows:
            return None, "", memo
        chosen = rows[0]
        if not self.tier[chosen].priority:
            memo["streak"] = memo["normal_run"] = 0
        elif chosen not in cc.prefers:
            normal = [t for t in rows if not self.tier[t].priority]
            if memo["streak"] >= self.cfg.rules.interleave_priority and normal:
                chosen = normal[0]
                memo["normal_run"] += 1
                if memo["normal_run"] >= self.cfg.rules.interleave_normal:
                    memo["streak"] = memo["normal_run"] = 0
            else:
                memo["streak"] += 1
        in_tier = [x for x in queued if x[1].tier == chosen]
        types = [b for b in cc.serves if any(w.business == b for _, w in in_tier)]
        business = types[0]
        if len(types) > 1:  # smooth weighted round-robin, first listed type wins ties
            wrr, total, best = memo["wrr"], 0, None
            for b in types:
                total += cc.serves[b]
                wrr[b] += cc.serves[b]
                if best is None or wrr[b] > best:
                    best, business = wrr[b], b
            wrr[business] -= total
        return oldest([x for x in in_tier if x[1].business == business]), "tier", memo


# ---------------------------------------------------------------------------------- one run


class Run:
    """Drives a core and the model through one operation list, checking after each step."""

    def __init__(self, cfg: BranchConfig, strict: bool = True) -> None:
        self.cfg = cfg
        self.strict = strict  # also check that every refused command changed nothing (slower)
        self.core = BranchCore(cfg, DAY)
        self.model = Model(cfg)
        self.log: list[tuple[Any, float]] = []
        self.outcomes: list[str] = []
        self.events: list[Any] = []
        self.now = T0
        self.day = 0
        self.prev: dict[str, State] = {}
        for c in cfg.counter:  # start staffed, so the random operations reach interesting states
            self.execute(m.Login(counter=c.id, teller=cfg.teller[c.id - 1].id), T0)

    # -- commands

    def advance(self, cid: int, choice: int) -> Any:
        """The natural next step at a counter (so random runs get far), varied by `choice`."""
        c = self.core.counters[cid]
        if c.status == "closed":
            return m.Login(counter=cid, teller=self.cfg.teller[cid - 1].id)
        if c.status == "paused":
            return m.Resume(counter=cid)
        if c.status == "called":
            return m.Skip(counter=cid) if choice == 0 else m.Recall(counter=cid) if choice == 1 \
                else m.StartService(counter=cid)
        if c.status == "serving":
            if choice == 0:
                return m.Transfer(counter=cid, to_business=self.cfg.business[cid % len(self.cfg.business)].code)
            if choice == 1:
                others = [x.id for x in self.cfg.counter if x.id != cid]
                return m.Transfer(counter=cid, to_counter=others[cid % len(others)])
            return m.FinishService(counter=cid, request_rating=choice < 6)
        if c.status == "rating" and choice < 4:
            return m.Rate(counter=cid, stars=choice + 2)
        return m.CallNext(counter=cid)

    def command(self, op: tuple[Any, ...]) -> Any:
        kind, *a = op
        model = self.model
        if kind == "advance":
            return self.advance(a[0], a[1])
        pick = "A001"
        if kind in ("requeue", "cancel", "move") and model.issued:
            missed = [t.number for t in self.core.missed_list()]
            pool = missed if kind == "requeue" and missed and a[0] % 4 else \
                list(model.waiting) if kind in ("cancel", "move") and model.waiting and a[0] % 2 else model.issued
            pick = pool[a[0] % len(pool)]
        if kind == "issue":
            appt = 0.0 if a[2] is None else max(self.now, model.clock) + a[2] + 1.0
            return m.Issue(business=a[0], tier=a[1], appointment_at=appt)
        simple = {"call": m.CallNext, "start": m.StartService, "recall": m.Recall, "skip": m.Skip,
                  "pause": m.Pause, "resume": m.Resume, "open": m.OpenCounter, "close": m.CloseCounter,
                  "logout": m.Logout}
        if kind in simple:
            return simple[kind](counter=a[0])
        if kind == "finish":
            return m.FinishService(counter=a[0], request_rating=a[1])
        if kind == "rate":
            return m.Rate(counter=a[0], stars=a[1])
        if kind == "login":
            return m.Login(counter=a[0], teller=a[1])
        if kind == "transfer":
            return m.Transfer(counter=a[0], to_business=a[1], to_counter=a[2])
        if kind == "requeue":
            return m.Requeue(number=pick)
        if kind == "cancel":
            return m.Cancel(number=pick, by="zhao")
        if kind == "move":
            return m.Move(number=pick, to_business=a[1], by="zhao")
        if kind == "ack":
            return m.AckAlert(key=a[0], by=a[1])  # a dashboard alert, as the web sends it
        if kind == "notice":
            return m.SetNotice(zh=a[0], by=a[1])
        if kind == "tick":
            return m.Tick()
        return m.ResetDay(day=day_str(self.day + a[0]))

    def step(self, dt_s: float, op: tuple[Any, ...]) -> None:
        self.now += dt_s
        self.execute(self.command(op), self.now)

    def execute(self, cmd: Any, now: float) -> None:
        core, model = self.core, self.model
        model.clock = max(model.clock, now)
        status = {c.id: c.status for c in core.counters.values()}
        before = export(core) if self.strict else None
        expect: tuple[str | None, str, dict[str, Any]] | None = None
        if isinstance(cmd, m.CallNext) and cmd.counter in core.counters:
            expect = model.pick(cmd.counter, model.clock)
        try:
            result = core.execute(cmd, now)
        except CoreError as err:
            self.log.append((cmd, now))
            self.outcomes.append(type(err).__name__)
            self.refused(cmd, err, status, expect)
            assert core.events == [], f"refused {cmd!r} emitted {core.events}"
            if before is not None:  # a refusal changes nothing (the clock may still advance)
                assert {**before, "clock": 0} == {**export(core), "clock": 0}, f"refused {cmd!r} changed state"
        else:
            self.log.append((cmd, now))
            self.outcomes.append(_describe(result))
            self.accepted(cmd, result, status, expect)
        evs = core.drain()
        self.events += evs
        self.check_events(evs)
        self.check_state()

    def refused(self, cmd: Any, err: CoreError, status: dict[int, m.CounterStatus],
                expect: tuple[str | None, str, dict[str, Any]] | None) -> None:
        if isinstance(cmd, m.CallNext) and expect is not None:
            s = status[cmd.counter]
            if isinstance(err, e.QueueEmpty):
                assert expect[0] is None, f"core found nobody; the rules say {expect[0]} ({expect[1]})"
                assert s in ("idle", "rating")
            else:
                assert s not in ("idle", "rating") or isinstance(err, e.NotLoggedIn), (s, err)
        if isinstance(cmd, m.Issue) and isinstance(err, (e.UnknownBusiness, e.UnknownTier)):
            assert cmd.business not in self.model.next_no or cmd.tier not in self.model.tier

    def accepted(self, cmd: Any, result: Any, status: dict[int, m.CounterStatus],
                 expect: tuple[str | None, str, dict[str, Any]] | None) -> None:
        model, now = self.model, self.model.clock
        if isinstance(cmd, m.Issue):
            assert result.number == model.expected_number(cmd.business), "numbers are prefix + count per type"
            assert result.number not in model.info, f"{result.number} issued twice in a day"
            assert result.issued_at == now
            model.next_no[cmd.business] += 1
            model.seq += 1
            model.issued.append(result.number)
            model.info[result.number] = (cmd.business, cmd.tier, now, model.seq)
            model.business[result.number] = cmd.business
            appt = cmd.appointment_at
            model.add(result.number, cmd.business, cmd.tier, max(now, appt) if appt else now,
                      "appointment" if appt else "tier")
        elif isinstance(cmd, m.CallNext):
            assert expect is not None
            assert status[cmd.counter] in ("idle", "rating"), f"called at a {status[cmd.counter]} counter"
            number, rule, memo = expect
            assert result.number == number, (
                f"counter {cmd.counter} called {result.number}; the rules say {number} ({rule})")
            self.check_aging(cmd.counter, result, rule)
            del model.waiting[result.number]
            if rule == "tier":
                model.streak[cmd.counter] = memo["streak"]
                model.normal_run[cmd.counter] = memo["normal_run"]
                model.wrr[cmd.counter] = memo["wrr"]
        elif isinstance(cmd, m.Requeue):
            _, tier, issued, _ = model.info[cmd.number]
            front = self.cfg.rules.requeue_position == "front"
            model.add(cmd.number, model.business[cmd.number], tier, issued if front else now, "tier")
        elif isinstance(cmd, m.Transfer):
            _, tier, issued, _ = model.info[result.number]
            queue = f"counter:{cmd.to_counter}" if cmd.to_counter else "tier"
            business = model.business[result.number] = cmd.to_business or model.business[result.number]
            model.add(result.number, business, tier, issued, queue)
        elif isinstance(cmd, m.Cancel):
            model.waiting.pop(cmd.number, None)
        elif isinstance(cmd, m.Move):  # same place by wait time, same kind of queue, another business
            model.business[cmd.number] = cmd.to_business
            model.waiting[cmd.number].business = cmd.to_business
        elif isinstance(cmd, m.ResetDay):
            self.day = (dt.date.fromisoformat(cmd.day) - dt.date.fromisoformat(DAY)).days
            model.new_day()
            self.prev = {}

    # -- checks

    def check_aging(self, cid: int, called: Ticket, rule: str) -> None:
        """No call passes over a ticket this counter takes that has waited past the aging bound."""
        if rule == "directed":
            return
        cc = self.model.counter[cid]
        limit = self.model.clock - self.cfg.rules.aging_minutes * 60
        older = [n for n, w in self.model.waiting.items()
                 if n != called.number and w.queue in ("tier", "appointment") and w.business in cc.serves
                 and (not cc.tiers or w.tier in cc.tiers) and w.wait_from <= limit
                 and (w.wait_from, w.seq) < (called.wait_from, called.seq)]
        assert not older, f"{called.number} called while over-aged {older} waited at counter {cid}"

    def check_events(self, evs: list[Any]) -> None:
        for ev in evs:
            if isinstance(ev, m.TicketCalled):
                assert ev.waited_s >= 0
            elif isinstance(ev, m.ServiceFinished):
                assert ev.service_s >= 0
            elif isinstance(ev, m.WaitAlert):
                assert ev.waited_s >= ev.limit_s > 0
                assert self.core.tickets[ev.number].state == State.WAITING

    def check_state(self) -> None:
        core, model = self.core, self.model
        tickets = core.tickets
        assert list(tickets) == model.issued, "every number issued today, once, and nothing else"
        waiting = {n for n, t in tickets.items() if t.state == State.WAITING}
        assert waiting == set(model.waiting), "the waiting tickets are the ones the model expects"
        for n, w in model.waiting.items():
            t = tickets[n]
            assert (t.business, t.tier, t.wait_from, where(core, t)) == (w.business, w.tier, w.wait_from, w.queue)
        listed = [t.number for t in core.waiting_list()]
        assert listed == sorted(model.waiting, key=lambda n: (model.waiting[n].wait_from, model.waiting[n].seq))
        held: dict[str, int] = {}
        for c in core.counters.values():
            if c.ticket is not None:
                assert c.ticket.number not in held, f"{c.ticket.number} held by two counters"
                held[c.ticket.number] = c.id
                assert STATUS_OF.get(c.ticket.state) == c.status and c.ticket.counter == c.id
            else:
                assert c.status not in ("called", "serving")
            assert (c.status == "rating") == (c.rating_ticket is not None)
        in_hand = {n for n, t in tickets.items() if t.state in (State.CALLED, State.SERVING)}
        assert in_hand == set(held), "each called ticket is held by exactly one counter"
        for n, t in tickets.items():
            old = self.prev.get(n, State.WAITING)
            assert t.state == old or t.state in MOVES[old], f"{n}: {old.name} -> {t.state.name}"
            if t.state in (State.SERVED, State.MISSED) or t.first_wait_s >= 0:
                assert t.first_wait_s >= 0
        self.prev = {n: t.state for n, t in tickets.items()}
        qs = core.queue_state()
        for b in model.next_no:
            count = sum(1 for w in model.waiting.values() if w.business == b)
            assert qs.waiting[b] == count == sum(qs.by_tier[b].values()) == core.waiting_count(b)
        assert core.hall_view().waiting == qs.waiting

    def finish(self, split: int) -> None:
        """Replay the log on a fresh core, and from a snapshot (qcore.snapshot) taken after `split`
        commands (as the journal restores): identical replies, events and state."""
        final = export(self.core)
        again = BranchCore(self.cfg, DAY)
        outcomes, events, snap = [], [], []
        for i, (cmd, now) in enumerate(self.log):
            if i == split:
                snap = snapshot.encode(snapshot.capture(again))
            try:
                outcomes.append(_describe(again.execute(cmd, now)))
            except CoreError as err:
                outcomes.append(type(err).__name__)
            events += again.drain()
        assert outcomes == self.outcomes
        assert [m.encode(x) for x in events] == [m.encode(x) for x in self.events]
        assert export(again) == final
        restored = snapshot.restore(self.cfg, snap) if snap else again
        for cmd, now in self.log[split:]:
            try:
                restored.execute(cmd, now)
            except CoreError:
                pass
        assert export(restored) == final


def _describe(result: Any) -> str:
    if isinstance(result, m.TicketView):
        return f"view:{result.number}:{result.ahead}:{result.est_wait_s}"
    if isinstance(result, Ticket):
        return f"ticket:{result.number}"
    return repr(result)


# ---------------------------------------------------------------------------------- the properties


@PROPS
@given(st.integers(0, len(CONFIGS) - 1), st.integers(0, 2**32 - 1), st.integers(20, 250), st.floats(0, 1))
def test_random_operations_keep_every_invariant_and_replay_identically(
        ci: int, seed: int, n: int, split: float) -> None:
    """Operations drawn from a seeded generator with realistic weights (Hypothesis' own random
    source skews weighted choices); a failure shrinks to the shortest failing prefix `n`."""
    cfg = CONFIGS[ci]
    rnd = Random(seed)
    run = Run(cfg)
    try:
        for _ in range(n):
            run.step(*random_op(rnd, cfg))
        run.finish(int(split * len(run.log)))
    except AssertionError as err:
        tail = "\n".join(f"  {now - T0:9.0f}  {cmd!r}  -> {out}"
                         for (cmd, now), out in zip(run.log[-15:], run.outcomes[-15:], strict=False))
        raise AssertionError(f"{err}\nlast commands (time since T0, command, outcome):\n{tail}") from err


@settings(PROPS, max_examples=120)
@given(st.integers(0, len(CONFIGS) - 1), st.integers(0, 2**32 - 1), st.integers(50, 400))
def test_busy_branch_follows_the_rules_call_after_call(ci: int, seed: int, n: int) -> None:
    """Long queues of every tier, counters calling and serving at once, no refusals to speak of:
    a longer stress of tier order, preferences, interleaving and weights against the model."""
    cfg = CONFIGS[ci]
    rnd = Random(seed)
    tiers = [t.code for t in cfg.tier]
    weights = [3 if t.priority else 5 for t in cfg.tier]
    run = Run(cfg, strict=False)
    for _ in range(n):
        if rnd.random() < 0.5:
            op: tuple[Any, ...] = ("issue", rnd.choice(cfg.business).code, rnd.choices(tiers, weights)[0], None)
        else:
            op = ("advance", rnd.choice(cfg.counter).id, 2 + rnd.randrange(8))  # no skips or transfers
        run.step(rnd.choice([0.0, 2.0, 5.0, 10.0]), op)
    run.finish(len(run.log) // 2)
