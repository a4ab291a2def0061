"""Pre-opening check: are this counter's keypad and rating pad online?

A pad is online when a valid frame (a heartbeat at least) arrived from it within its line's
`heartbeat_timeout_s`. The times come from whoever reads the line (HostLink.last_seen()); `now`
is passed in, so the check is pure and testable with a fixed clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from qbus.config.sections import SerialLine


@dataclass(frozen=True, slots=True)
class PadStatus:
    port: str
    address: int
    kind: str
    online: bool
    silent_s: float | None  # seconds since the pad was last heard; None = never


@dataclass(frozen=True, slots=True)
class PadCheck:
    counter: int
    pads: tuple[PadStatus, ...]

    def _kind_online(self, kind: str) -> bool | None:
        found = [p.online for p in self.pads if p.kind == kind]
        return all(found) if found else None

    @property
    def keypad_online(self) -> bool | None:
        """None: no keypad configured (the counter uses the software panel)."""
        return self._kind_online("keypad")

    @property
    def rating_online(self) -> bool | None:
        """None: no rating pad configured."""
        return self._kind_online("rating")

    @property
    def ok(self) -> bool:
        return all(p.online for p in self.pads)

    @property
    def offline(self) -> list[PadStatus]:
        return [p for p in self.pads if not p.online]

    def summary(self) -> tuple[str, str]:
        """(zh, en) one line for the opening report."""
        if not self.pads:
            return f"{self.counter}号窗口无串口设备（使用软件面板）", f"counter {self.counter}: no pads (software panel)"
        if self.ok:
            return f"{self.counter}号窗口设备正常", f"counter {self.counter}: pads online"
        names = {"keypad": ("呼叫器", "keypad"), "rating": ("评价器", "rating pad")}
        zh = "、".join(f"{names.get(p.kind, (p.kind,))[0]}({p.port}#{p.address})" for p in self.offline)
        en = ", ".join(f"{names.get(p.kind, (p.kind, p.kind))[1]} {p.port}#{p.address}" for p in self.offline)
        return f"{self.counter}号窗口离线：{zh}", f"counter {self.counter} offline: {en}"


def check_pads(counter: int, lines: Iterable[tuple[SerialLine, Mapping[int, float]]], now: float) -> PadCheck:
    """Status of every pad configured for `counter`; `lines` pairs each line with its last_seen map."""
    pads: list[PadStatus] = []
    for line, last_seen in lines:
        for dev in line.devices:
            if dev.counter != counter:
                continue
            seen = last_seen.get(dev.address)
            silent = None if seen is None else max(0.0, now - seen)
            online = silent is not None and silent <= line.heartbeat_timeout_s
            pads.append(PadStatus(line.port, dev.address, dev.kind, online, silent))
    return PadCheck(counter, tuple(pads))
