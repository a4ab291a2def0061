"""The topic tree and device roles: every topic parses back to what built it; bad ids are refused."""

from __future__ import annotations

import pytest

from qbus import messages as m
from qbus.roles import allowed, counter_of, may_send, role_of
from qbus.topics import Topics, counter_device

T = Topics("qcall", "futian")


def test_topics_live_under_a_versioned_branch_tree() -> None:
    assert T.cmd("kiosk1") == "qcall/v1/futian/cmd/kiosk1"
    assert T.reply("counter3") == "qcall/v1/futian/reply/counter3"
    assert T.state_counter(3) == "qcall/v1/futian/state/counter/3"
    assert T.state_hall() == "qcall/v1/futian/state/hall"
    assert T.event_of(m.TicketCalled(at=1.0, number="A001", counter=3, business="cash", tier="normal",
                                     waited_s=5.0)) == "qcall/v1/futian/event/called"
    assert Topics("bank/sz", "futian").presence("core") == "bank/sz/v1/futian/presence/core"


@pytest.mark.parametrize(
    ("topic", "kind", "device", "counter"),
    [
        (T.cmd("kiosk1"), "cmd", "kiosk1", 0),
        (T.reply("counter3"), "reply", "counter3", 0),
        (T.presence("display1"), "presence", "display1", 0),
        (T.event("issued"), "event", "", 0),
        (T.state_counter(7), "state", "", 7),
        (T.state_queues(), "state", "", 0),
        (T.alert("wait"), "alert", "", 0),
        (T.notice(), "notice", "", 0),
    ],
)
def test_parse_gives_back_what_built_the_topic(topic: str, kind: str, device: str, counter: int) -> None:
    info = T.parse(topic)
    assert info is not None
    assert (info.kind, info.device, info.counter) == (kind, device, counter)


@pytest.mark.parametrize(
    "topic",
    [
        "qcall/v1/other/cmd/kiosk1",        # another branch
        "qcall/v2/futian/cmd/kiosk1",       # another contract version
        "qcall/v1/futian/cmd",              # no device
        "qcall/v1/futian/cmd/kiosk1/x",     # too deep
        "qcall/v1/futian/cmd/Kiosk 1",      # not a device id
        "qcall/v1/futian/out/counter/3",    # no such kind (pads' output comes from state/counter)
        "qcall/v1/futian/bogus/x",          # unknown kind
        "qcall/v1/futian/state//3",         # empty level
    ],
)
def test_foreign_or_malformed_topics_parse_to_none(topic: str) -> None:
    assert T.parse(topic) is None


@pytest.mark.parametrize("device", ["", "Kiosk1", "kiosk/1", "kiosk+", "counter#", "a" * 40, "1kiosk"])
def test_device_ids_that_would_break_the_tree_are_refused(device: str) -> None:
    with pytest.raises(ValueError, match="device id"):
        T.cmd(device)


def test_bad_prefix_branch_or_counter_is_refused() -> None:
    for prefix, branch in (("qcall/#", "futian"), ("qcall", "fu/tian"), ("", "futian"), ("qcall", "+")):
        with pytest.raises(ValueError):
            Topics(prefix, branch)
    with pytest.raises(ValueError, match="1..999"):
        T.state_counter(0)
    with pytest.raises(ValueError, match="1..999"):
        counter_device(1000)


def test_roles_by_device_id() -> None:
    assert [role_of(d) for d in ("kiosk1", "counter3", "display1", "manager", "core", "bridge1", "pad3", "x9")] == [
        "kiosk", "counter", "display", "manager", "core", "bridge", "pad", "unknown"]
    assert counter_of("counter12") == 12 and counter_of("pad12") == 12
    assert counter_of("counter0") == 0
    assert counter_of("kiosk1") == 0


def test_allowed_ops_per_role() -> None:
    assert allowed("kiosk", "issue")
    assert not allowed("kiosk", "call_next")
    assert allowed("counter", "call_next") and allowed("pad", "rate")
    assert not allowed("counter", "issue")
    # a teller never rates their own service, whatever device they hold: only the customer's pad
    assert not any(allowed(role, "rate") for role in ("counter", "bridge", "manager", "kiosk", "core"))
    assert not allowed("pad", "call_next")
    assert not allowed("display", "rate")
    assert allowed("manager", "reset_day")
    assert not allowed("unknown", "issue")


def test_may_send_checks_the_counter_number_the_acl_cannot_see() -> None:
    assert may_send("counter3", m.CallNext(counter=3))
    assert not may_send("counter2", m.CallNext(counter=3))
    assert not may_send("kiosk1", m.CallNext(counter=3))
    assert may_send("kiosk1", m.Issue(business="cash"))
    assert not may_send("display1", m.Rate(counter=3, stars=5))
    assert may_send("pad3", m.Rate(counter=3, stars=5)) and not may_send("pad2", m.Rate(counter=3, stars=5))
