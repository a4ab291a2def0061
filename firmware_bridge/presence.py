"""Are a counter's pads online? The bridge's view, published as retained `presence/pad<counter>`.

A pad is online while the line is up and a valid frame from it (a heartbeat at least) arrived
within the line's `heartbeat_timeout_s`. The report per counter is pluggable: the wiring in qcall
passes the pre-opening check of counter_panel (same rule, its zh / en wording); the default here
says the same thing in a plainer way so the bridge works on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from qbus.config.sections import SerialLine
from qbus.topics import pad_device

__all__ = ["PadReport", "PadsState", "default_report", "pad_device", "pad_online"]

# (counter, line, last_seen by address, now) -> (online, detail)
PadReport = Callable[[int, SerialLine, Mapping[int, float], float], tuple[bool, str]]

NAMES = {"keypad": "keypad", "rating": "rating pad"}


def pad_online(line: SerialLine, last_seen: Mapping[int, float], address: int, now: float) -> bool:
    seen = last_seen.get(address)
    return seen is not None and now - seen <= line.heartbeat_timeout_s


def default_report(counter: int, line: SerialLine, last_seen: Mapping[int, float], now: float) -> tuple[bool, str]:
    """Online when every pad of the counter is; the detail names the silent ones."""
    silent = []
    for dev in line.devices:
        if dev.counter != counter or pad_online(line, last_seen, dev.address, now):
            continue
        seen = last_seen.get(dev.address)
        how = "never heard" if seen is None else f"silent {now - seen:.0f} s"
        silent.append(f"{NAMES.get(dev.kind, dev.kind)} {line.port}#{dev.address} {how}")
    if silent:
        return False, f"counter {counter} offline: " + ", ".join(silent)
    return True, f"counter {counter}: pads online"


@dataclass(frozen=True, slots=True)
class PadsState:
    """What was last published for one counter's pads."""

    online: bool
    detail: str
