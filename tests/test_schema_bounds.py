"""Every field on the bus is bounded, and the largest message the core can publish fits the broker
(issue 10, section 2: a 65 kB `masked_name` made the core's reply and event too big for the broker,
which dropped the core's connection; the outbox then resent it after every restart).

Two proofs, from the schema itself rather than from examples:

- a walk over every msgspec struct reachable from the request, reply, event and retained-state
  types fails on any str, bytes, list, dict, tuple or set without a `max_length` (the exemptions
  below are the only ones, each with why);
- for every type the core publishes, the *largest* value the schema admits is built field by field
  (each string at its bound in its most expensive character: a control character JSON-escapes to
  six bytes; each collection at its bound; each number at its widest), decoded back through the
  schema (so it is a value a device could really make the core hold), and checked to fit
  `m.LARGEST_PAYLOAD`, which check-config holds `[bus] max_packet_size` to.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest

from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.client import BusClient, packet_size
from qbus.config import ConfigError, loads
from qbus.config.validate import problems
from qbus.topics import Topics
from tests.bus_helpers import Inbox
from tests.test_config import example_text

# Every root type a device sends or the core publishes (topics.py's table).
REQUEST_ROOTS: tuple[Any, ...] = (m.Request,)
PUBLISHED_ROOTS: tuple[Any, ...] = (
    m.Reply, m.CounterState, m.QueueState, m.StatsState, m.HallView, m.Presence, m.AcksState,
    m.BookingsState, m.WaitingState, m.Notice, *m.AnyEvent.__args__,
)
# Fields that need no bound, and why. Empty: every field of the contract has one.
EXEMPT: dict[str, str] = {}

_SIZED = (mi.StrType, mi.BytesType, mi.ListType, mi.DictType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)


def _fields(t: mi.Type, where: str, seen: set[type]) -> Iterator[tuple[str, mi.Type]]:
    """Every (field path, type) reachable from `t`, each struct visited once."""
    if isinstance(t, mi.StructType):
        if t.cls in seen:
            return
        seen.add(t.cls)
        for f in t.fields:
            yield from _fields(f.type, f"{t.cls.__name__}.{f.name}", seen)
        return
    yield where, t
    if isinstance(t, mi.UnionType):
        for x in t.types:
            yield from _fields(x, where, seen)
    elif isinstance(t, mi.DictType):
        yield from _fields(t.key_type, where + "[key]", seen)
        yield from _fields(t.value_type, where + "[value]", seen)
    elif isinstance(t, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)):
        yield from _fields(t.item_type, where + "[]", seen)
    elif isinstance(t, mi.TupleType):
        for x in t.item_types:
            yield from _fields(x, where + "[]", seen)


def _all_fields() -> list[tuple[str, mi.Type]]:
    seen: set[type] = set()
    out: list[tuple[str, mi.Type]] = []
    for root in REQUEST_ROOTS + PUBLISHED_ROOTS:
        out += _fields(mi.type_info(root), getattr(root, "__name__", str(root)), seen)
    return out


def test_every_string_and_collection_in_the_contract_has_a_bound() -> None:
    fields = _all_fields()
    assert len({w.split(".")[0] for w, _ in fields}) > 50  # the walk reaches every struct, not a few
    unbounded = sorted({w for w, t in fields if isinstance(t, _SIZED) and t.max_length is None
                        and w not in EXEMPT})
    assert unbounded == [], "unbounded fields: " + ", ".join(unbounded)
    # A tuple of fixed shape is bounded by its shape; none is used, so none slips past the walk.
    assert not [w for w, t in fields if isinstance(t, mi.TupleType)]


def test_the_walk_finds_an_unbounded_field() -> None:
    """The check itself can fail: a struct with a bare `str` or `list` is reported."""

    class Careless(m.Msg, kw_only=True):
        note: str
        items: list[m.Code] = []

    found = [w for w, t in _fields(mi.type_info(Careless), "Careless", set())
             if isinstance(t, _SIZED) and t.max_length is None]
    assert found == ["Careless.note", "Careless.items"]


# ------------------------------------------------------------------------------ the largest value

# Characters tried for a bounded string, the most expensive JSON encoding first: a control
# character is escaped to \\u00XX (6 bytes), a quote or backslash to 2, an astral character is 4
# bytes of UTF-8, a CJK one 3, then ASCII.
_HEAVY = [chr(c) for c in range(32)] + ['"', "\\", "\U0001F600", "\U0001F601", "张", "王", *"AZ09az_.:-"]
# Patterns with a fixed shape (not a character class repeated): their i-th longest valid value.
_SHAPED: dict[str, Any] = {
    r"^\d{4}-\d{2}-\d{2}$": lambda i: f"2026-12-{31 - i:02d}",
    r"^(\d{4}-\d{2}-\d{2})?$": lambda i: f"2026-12-{31 - i:02d}",
    r"^\d{1,3}$": lambda i: str(999 - i),  # counter ids as object keys
    r"^\d{2}$": lambda i: f"{i:02d}",  # the hours of a day
}


def _cost(c: str) -> int:
    return len(msgspec.json.encode(c)) - 2


def _strings(t: mi.StrType, n: int) -> list[str]:
    """`n` distinct strings of `t`, each as long and as expensive to encode as the schema allows."""
    size = t.max_length
    assert size is not None
    if t.pattern in _SHAPED:
        out = [_SHAPED[t.pattern](i) for i in range(n)]
        assert all(re.fullmatch(t.pattern, s) and len(s) <= size for s in out), t.pattern
        return out
    ok = [c for c in _HEAVY if t.pattern is None or re.fullmatch(t.pattern, c * size)]
    top = max(_cost(c) for c in ok)
    alphabet = [c for c in ok if _cost(c) == top] or ok
    if len(alphabet) == 1 and n > 1:
        alphabet = ok
    out = []
    for i in range(n):  # the i-th string: i in base len(alphabet), padded to the bound
        word, k = [], i
        for _ in range(size):
            word.append(alphabet[k % len(alphabet)])
            k //= len(alphabet)
        out.append("".join(reversed(word)))
    if t.pattern is not None:
        assert all(re.fullmatch(t.pattern, s) for s in out), t.pattern
    return out


def _largest(t: mi.Type, n: int = 1) -> list[Any]:
    """`n` distinct largest values of type `t` (distinct: they may be the keys of one dict)."""
    if isinstance(t, mi.StructType) and t.array_like:  # a compact JSON array, its fields in order
        return [[_largest(f.type)[0] for f in t.fields] for _ in range(n)]
    if isinstance(t, mi.StructType):
        return [{f.encode_name: _largest(f.type)[0] for f in t.fields}
                | ({t.tag_field: t.tag} if t.tag_field else {}) for _ in range(n)]
    if isinstance(t, mi.UnionType):
        options = [x for x in t.types if not isinstance(x, mi.NoneType)]
        return max((_largest(x, n) for x in options), key=lambda v: len(msgspec.json.encode(v)))
    if isinstance(t, mi.StrType):
        return _strings(t, n)
    if isinstance(t, mi.IntType):
        lo = t.ge if t.ge is not None else -(2**63)
        hi = t.le if t.le is not None else 2**63 - 1
        widest = max((lo, hi), key=lambda x: len(str(x)))
        return [widest] * n
    if isinstance(t, mi.FloatType):
        return [1.2345678901234567e-300 if (t.ge is not None or t.gt is not None) else -1.2345678901234567e-300] * n
    if isinstance(t, mi.BoolType):
        return [False] * n
    if isinstance(t, mi.LiteralType):
        return [max(t.values, key=lambda v: len(msgspec.json.encode(v)))] * n
    if isinstance(t, mi.EnumType):
        return [max((e.value for e in t.cls), key=lambda v: len(msgspec.json.encode(v)))] * n
    if isinstance(t, mi.ListType):
        assert t.max_length is not None
        return [_largest(t.item_type, t.max_length) for _ in range(n)]
    if isinstance(t, mi.DictType):
        assert t.max_length is not None
        keys = _strings(t.key_type, t.max_length) if isinstance(t.key_type, mi.StrType) else []
        assert len(set(keys)) == t.max_length, "need distinct keys"
        values = _largest(t.value_type, t.max_length)
        return [dict(zip(keys, values, strict=True)) for _ in range(n)]
    raise AssertionError(f"no largest value for {t}")


def _largest_payload(root: Any) -> bytes:
    """The largest payload of `root`, checked to be valid by decoding it through the schema."""
    payload = msgspec.json.encode(_largest(mi.type_info(root))[0])
    msgspec.json.decode(payload, type=root)  # raises if the value is not one the schema admits
    return payload


@pytest.mark.parametrize("root", PUBLISHED_ROOTS, ids=lambda r: r.__name__)
def test_the_largest_message_the_core_publishes_fits_the_bound(root: Any) -> None:
    payload = _largest_payload(root)
    assert len(payload) <= m.LARGEST_PAYLOAD, f"{root.__name__}: {len(payload)} bytes"


def test_the_bound_is_close_to_the_largest_message() -> None:
    """LARGEST_PAYLOAD is what the largest message really needs (within 10%), not a guess."""
    largest = max(len(_largest_payload(r)) for r in PUBLISHED_ROOTS)
    assert 0.9 * m.LARGEST_PAYLOAD <= largest <= m.LARGEST_PAYLOAD, largest


def test_a_value_past_a_bound_is_refused_by_the_schema() -> None:
    """The builder's values sit exactly at the bounds: one more element is a ValidationError."""
    value = _largest(mi.type_info(m.BookingsState))[0]
    value["bookings"].append(value["bookings"][0])
    with pytest.raises(msgspec.ValidationError, match="length <= 150"):
        msgspec.json.decode(msgspec.json.encode(value), type=m.BookingsState)


def test_check_config_keeps_the_broker_limit_above_the_largest_message() -> None:
    cfg = loads(example_text())
    topic = Topics(cfg.bus.prefix, cfg.branch.id).presence("x" * 32)  # the longest topic level
    assert cfg.bus.max_packet_size >= packet_size(topic, b"x" * m.LARGEST_PAYLOAD)
    tight = msgspec.structs.replace(cfg, bus=msgspec.structs.replace(cfg.bus, max_packet_size=50_000))
    assert [p for p in problems(tight) if p.startswith("bus.max_packet_size")]


# ------------------------------------------------------------------------------ the attacks, live

UNLIMITED = "\n[limits]\ndevice_rate_per_s = 100000.0\ndevice_burst = 100000\n"


def _flood(client: BusClient, topics: Topics, cmds: list[m.Command], replies: Inbox) -> list[str]:
    """Send every command at once; the error codes of their replies in order ("ok" for a success)."""
    for i, cmd in enumerate(cmds):
        client.publish_raw(topics.cmd(client.device), m.encode(m.Request(id=f"f{i}", cmd=cmd)))
    assert replies.wait_count(len(cmds), 30), len(replies.values())
    by_id = {r.id: r for r in replies.values()}
    return [(by_id[f"f{i}"].error.code if by_id[f"f{i}"].error else "ok") for i in range(len(cmds))]


def _listen(make_bus: Any, broker: MosquittoBroker, device: str, topic: str, kind: Any,
            topics: Topics) -> tuple[BusClient, Inbox]:
    inbox = Inbox()
    client: BusClient = make_bus(broker, device, connect=False, topics=topics)
    client.subscribe(topic, kind, inbox)
    client.connect()
    return client, inbox


def test_a_booking_flood_is_refused_past_the_bound_and_state_bookings_stays_published(
        mosquitto: MosquittoBroker, core_on: Any, make_bus: Any) -> None:
    """Bookings had no bound: 400 of them made `state/bookings` too big to publish, so the lobby's
    day list went stale for good. Now the 151st is refused and the list is published with all 150."""
    cfg = loads(example_text() + UNLIMITED)
    topics = Topics(cfg.bus.prefix, cfg.branch.id)
    runner = core_on(mosquitto, cfg)
    manager, replies = _listen(make_bus, mosquitto, "manager1", topics.reply("manager1"), m.Reply, topics)
    _, state = _listen(make_bus, mosquitto, "web1", topics.state_bookings(), m.BookingsState, topics)
    slot = cfg.rules.appointment_slot_minutes * 60
    first = (int(runner.service.clock.now()) // slot + 1) * slot
    books: list[m.Command] = [
        m.Book(code=f"Q{i:05d}", at=float(first + i * slot), business="cash", masked_name="\x01" * 16,
               by="x" * 32, source="system") for i in range(400)]
    codes = _flood(manager, topics, books, replies)
    assert codes == ["ok"] * m.MAX_BOOKINGS + ["bookings_full"] * (400 - m.MAX_BOOKINGS)
    assert state.wait_for(lambda xs: bool(xs) and len(xs[-1].value.bookings) == m.MAX_BOOKINGS)
    assert runner.bus.oversized == 0 and runner.bus.online
    # Cancelling frees no place until the day ends (the cancelled booking is still listed), but
    # the list keeps being published.
    assert manager.request(m.CancelBooking(code="Q00000"), 10).ok
    assert state.wait_for(lambda xs: xs[-1].value.bookings[0].status == "cancelled")


def test_an_acknowledgement_flood_is_refused_past_the_bound_and_state_acks_stays_published(
        mosquitto: MosquittoBroker, core_on: Any, make_bus: Any) -> None:
    cfg = loads(example_text() + UNLIMITED)
    topics = Topics(cfg.bus.prefix, cfg.branch.id)
    runner = core_on(mosquitto, cfg)
    web, replies = _listen(make_bus, mosquitto, "web1", topics.reply("web1"), m.Reply, topics)
    _, state = _listen(make_bus, mosquitto, "display1", topics.state_acks(), m.AcksState, topics)
    acks: list[m.Command] = [m.AckAlert(key=f"wait:{i:075d}", by="y" * 32) for i in range(600)]
    codes = _flood(web, topics, acks, replies)
    assert codes == ["ok"] * m.MAX_ACKS + ["acks_full"] * (600 - m.MAX_ACKS)
    assert state.wait_for(lambda xs: bool(xs) and len(xs[-1].value.acks) == m.MAX_ACKS)
    assert runner.bus.oversized == 0 and runner.bus.online


def test_made_up_grantors_are_refused_so_state_stats_stays_bounded(
        mosquitto: MosquittoBroker, core_on: Any, make_bus: Any) -> None:
    """A kiosk naming a different made-up `granted_by` on each normal ticket grew
    `priority_grants_by_staff` without end; a grant must name real lobby staff or a manager."""
    cfg = loads(example_text() + UNLIMITED)
    topics = Topics(cfg.bus.prefix, cfg.branch.id)
    core_on(mosquitto, cfg)
    kiosk, replies = _listen(make_bus, mosquitto, "kiosk1", topics.reply("kiosk1"), m.Reply, topics)
    issues: list[m.Command] = [m.Issue(business="cash", granted_by=f"g{i}") for i in range(200)]
    assert set(_flood(kiosk, topics, issues, replies)) == {"staff_grant_required"}
    real = kiosk.request(m.Issue(business="cash", granted_by="2001"), 10)
    assert real.ok and real.ticket is not None and real.ticket.granted_by == "2001"


@pytest.mark.parametrize(("edit", "refusal"), [
    (lambda t: t.replace('code = "cash"', 'code = "现金"'), "business[0].code: '现金' must be letters"),
    (lambda t: t.replace('id = "1001"', 'id = "10 01"'), "teller[0].id: '10 01' must be letters"),
    (lambda t: t + "".join(f'\n[[teller]]\nid = "{7000 + i}"\nname = "T{i}"\n' for i in range(130)),
     "teller: 13"),
    (lambda t: t.replace('password_file = ""\n', 'password_file = ""\nmax_packet_size = 60000\n', 1),
     "bus.max_packet_size: must be 62"),
])
def test_check_config_refuses_what_the_bounds_cannot_carry(edit: Any, refusal: str) -> None:
    text = edit(example_text())
    assert text != example_text()
    with pytest.raises(ConfigError, match=re.escape(refusal)):
        loads(text)
