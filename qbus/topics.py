"""The versioned MQTT topic tree of one branch: `<prefix>/v1/<branch>/...`.

Every topic any component publishes or subscribes is built here, so a typo cannot create a topic
nobody listens to, and the broker ACL (qbus.provision) is written from the same functions. The
`v1` level is the contract's major version: an incompatible change gets a new tree (`v2`) that the
core can serve alongside the old one while devices are upgraded.

    cmd/<device>          device -> core   Request          QoS 1
    reply/<device>        core -> device   Reply            QoS 1
    event/<type>          core -> all      an Event         QoS 1
    state/queues          core, retained   QueueState       QoS 1
    state/counter/<n>     core, retained   CounterState     QoS 1
    state/hall            core, retained   HallView         QoS 1
    state/acks            core, retained   AcksState        QoS 1
    state/bookings        core, retained   BookingsState    QoS 1
    state/stats           core, retained   StatsState       QoS 1 (the day's KPIs)
    notice                retained         Notice           QoS 1
    presence/<device>     retained + LWT   Presence         QoS 1
    alert/<kind>          core -> manager  WaitAlert, Advice, PinLockout   QoS 1

The pads' LED text and prompts are not sent by the core: the serial bridge works them out from
`state/counter/<n>` with the counter's own state machine, so there is one source of truth.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Literal, cast

import msgspec

API_VERSION = "v1"

TopicKind = Literal["cmd", "reply", "event", "state", "notice", "presence", "alert", "archive"]

# One topic level naming a device: lower-case, no MQTT wildcards or separators, short.
DEVICE_ID = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
# A branch id or event type / alert kind: one level, no wildcards.
_LEVEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PREFIX = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


def is_level(value: str) -> bool:
    """Whether `value` may be one topic level (the prefix, the branch id)."""
    return bool(_LEVEL.match(value))


def check_device_id(device: str) -> str:
    """Return `device` if it is a valid device id (`kiosk1`, `counter3`, `display1`, `core`)."""
    if not DEVICE_ID.match(device):
        raise ValueError(f"device id {device!r}: use lower-case letters, digits, '-' or '_' (max 32)")
    return device


def counter_device(counter: int) -> str:
    """The device id a counter's keypad / panel uses: counter 3 -> `counter3`."""
    return f"counter{_counter(counter)}"


def pad_device(counter: int) -> str:
    """The presence id under which the serial bridge reports counter N's keypad and rating pad:
    `pad3` (retained `presence/pad3`, written by the bridge, no credentials of its own)."""
    return f"pad{_counter(counter)}"


def event_type(event: msgspec.Struct) -> str:
    """The `type` tag of an event struct (`TicketCalled` -> `called`): its topic's last level."""
    tag = type(event).__struct_config__.tag
    if not isinstance(tag, str):
        raise ValueError(f"{type(event).__name__} is not a tagged event")
    return tag


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """A parsed topic of this branch's tree: its kind and the levels after it."""

    kind: TopicKind
    rest: tuple[str, ...]

    @property
    def device(self) -> str:
        """The device of a cmd / reply / presence topic ("" for other kinds)."""
        if self.kind in ("cmd", "reply", "presence") and len(self.rest) == 1:
            return self.rest[0]
        return ""

    @property
    def counter(self) -> int:
        """The counter of `state/counter/<n>` (0 for other topics)."""
        if len(self.rest) == 2 and self.rest[0] == "counter" and self.rest[1].isdigit():
            return int(self.rest[1])
        return 0


# How many levels follow each kind (None: any number >= 1; 0: none).
_SHAPES: dict[str, int | None] = {
    "cmd": 1, "reply": 1, "event": 1, "state": None, "notice": 0, "presence": 1, "alert": 1,
    "archive": 2,  # archive/<day>/<part>: a closed day's facts for head office (qhistory.parts)
}


@dataclass(frozen=True, slots=True)
class Topics:
    """Builds and parses the topics of one branch. `Topics("qcall", "futian").cmd("kiosk1")`."""

    prefix: str
    branch: str
    base: str = field(init=False)

    def __post_init__(self) -> None:
        if not _PREFIX.match(self.prefix):
            raise ValueError(f"bus prefix {self.prefix!r}: levels of letters, digits, '-', '_', '.'")
        if not _LEVEL.match(self.branch):
            raise ValueError(f"branch id {self.branch!r}: one topic level of letters, digits, '-', '_', '.'")
        object.__setattr__(self, "base", f"{self.prefix}/{API_VERSION}/{self.branch}")

    # ---------------------------------------------------------------- device <-> core

    def cmd(self, device: str) -> str:
        return f"{self.base}/cmd/{check_device_id(device)}"

    def reply(self, device: str) -> str:
        return f"{self.base}/reply/{check_device_id(device)}"

    def presence(self, device: str) -> str:
        return f"{self.base}/presence/{check_device_id(device)}"

    # ---------------------------------------------------------------- core -> everyone

    def event(self, type_: str) -> str:
        return f"{self.base}/event/{_level(type_)}"

    def event_of(self, event: msgspec.Struct) -> str:
        """The topic an event struct is published on: `event/<its type tag>`."""
        return self.event(event_type(event))

    def alert(self, kind: str) -> str:
        return f"{self.base}/alert/{_level(kind)}"

    def state_queues(self) -> str:
        return f"{self.base}/state/queues"

    def state_counter(self, counter: int) -> str:
        return f"{self.base}/state/counter/{_counter(counter)}"

    def state_hall(self) -> str:
        return f"{self.base}/state/hall"

    def state_acks(self) -> str:
        return f"{self.base}/state/acks"

    def state_bookings(self) -> str:
        return f"{self.base}/state/bookings"

    def state_waiting(self) -> str:
        return f"{self.base}/state/waiting"

    def state_stats(self) -> str:
        return f"{self.base}/state/stats"

    def notice(self) -> str:
        return f"{self.base}/notice"

    def archive(self, day: str, part: int) -> str:
        """Part `part` (1..n) of a closed day's facts, for head office's history (docs/hq.md)."""
        if part < 1:
            raise ValueError(f"archive part {part}: parts count from 1")
        return f"{self.base}/archive/{_level(day)}/{part}"

    # ---------------------------------------------------------------- subscription filters

    def all_commands(self) -> str:
        return f"{self.base}/cmd/+"

    def all_events(self) -> str:
        return f"{self.base}/event/+"

    def all_state(self) -> str:
        return f"{self.base}/state/#"

    def all_counter_states(self) -> str:
        return f"{self.base}/state/counter/+"

    def all_presence(self) -> str:
        return f"{self.base}/presence/+"

    def all_alerts(self) -> str:
        return f"{self.base}/alert/+"

    def everything(self) -> str:
        return f"{self.base}/#"

    # ---------------------------------------------------------------- parsing

    def parse(self, topic: str) -> TopicInfo | None:
        """The kind and levels of one of this branch's topics; None for any other topic.

        Cached: every message the core receives is parsed, and a busy bus repeats few topics (a
        TopicInfo is immutable, so one instance serves every caller)."""
        return _parse_cached(self, topic)

    def _parse(self, topic: str) -> TopicInfo | None:
        head = self.base + "/"
        if not topic.startswith(head):
            return None
        levels = topic[len(head):].split("/")
        kind, rest = levels[0], tuple(levels[1:])
        if kind not in _SHAPES or any(not part for part in rest):
            return None
        shape = _SHAPES[kind]
        if (shape is None and not rest) or (shape is not None and len(rest) != shape):
            return None
        info = TopicInfo(cast(TopicKind, kind), rest)  # kind was checked against _SHAPES
        if kind in ("cmd", "reply", "presence") and not DEVICE_ID.match(rest[0]):
            return None
        return info


@functools.lru_cache(maxsize=4096)
def _parse_cached(topics: Topics, topic: str) -> TopicInfo | None:
    return topics._parse(topic)


def _level(value: str) -> str:
    if not _LEVEL.match(value):
        raise ValueError(f"topic level {value!r}: letters, digits, '-', '_', '.' only")
    return value


def _counter(counter: int) -> int:
    """A counter id as topics and device ids carry it (1..999, as qbus.roles reads it back)."""
    if not 1 <= counter <= 999:
        raise ValueError(f"counter {counter}: must be 1..999")
    return counter


def packet_size(topic: str, payload: bytes) -> int:
    """Bytes of the MQTT 3.1.1 PUBLISH packet for `payload` on `topic` at QoS 1: fixed header
    (1 byte + up to 4 of remaining length), topic length (2) + topic, packet id (2), payload. The
    broker's max_packet_size counts the whole packet."""
    remaining = 2 + len(topic.encode("utf-8")) + 2 + len(payload)
    length_bytes = 1 if remaining < 128 else 2 if remaining < 16_384 else 3 if remaining < 2_097_152 else 4
    return 1 + length_bytes + remaining
