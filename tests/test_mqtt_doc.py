"""docs/mqtt.md stays true: every JSON example decodes with the real schema (strict), and every
command op and event type has an example."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from qbus import messages as m
from qbus.roles import ALL_OPS
from qbus.topics import event_type

DOC = Path(__file__).resolve().parents[1] / "docs" / "mqtt.md"
BLOCK = re.compile(r"<!-- schema: (\w+) -->\s*```json\n(.*?)```", re.S)
def _strict(kind: type[msgspec.Struct], data: bytes) -> Any:
    return m.decode(data, kind)


DECODERS: dict[str, Callable[[bytes], Any]] = {
    "Request": m.decode_request,
    "Event": m.decode_event,
    **{t.__name__: functools.partial(_strict, t)
       for t in (m.Reply, m.QueueState, m.CounterState, m.HallView, m.Notice, m.Presence, m.StatsState,
                 m.AcksState, m.BookingsState, m.WaitingState)},
}


def examples() -> list[tuple[str, Any]]:
    found = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert found, "no examples found in docs/mqtt.md"
    return [(kind, DECODERS[kind](text.encode())) for kind, text in found]


def test_every_example_matches_the_schema() -> None:
    decoded = examples()  # raises PayloadError naming the field if an example drifted
    assert len(decoded) >= 40


def test_every_command_and_event_has_an_example() -> None:
    decoded = examples()
    ops = {type(v.cmd).__struct_config__.tag for k, v in decoded if k == "Request"}
    assert ops == ALL_OPS
    types = {event_type(v) for k, v in decoded if k == "Event"}
    assert types == {t.__struct_config__.tag for t in m.AnyEvent.__args__}


def test_one_line_examples_are_exactly_what_goes_on_the_wire() -> None:
    """Compact examples show every field, in the order and form the encoder writes them."""
    checked = 0
    for kind, text in BLOCK.findall(DOC.read_text(encoding="utf-8")):
        if "\n" not in text.strip():
            assert m.encode(DECODERS[kind](text.encode())) == text.strip().encode()
            checked += 1
    assert checked >= 30
