"""Kiosk benchmark: card swipe -> complete ticket bytes at the printer, through the real bus.

A stripe-reader twin on a pty (9600 baud, paced like the real line) sends the swipe; the kiosk's
serial reader decodes it, recognition hashes it and looks up the roster, the flow asks the printer's
status, issues through `kiosk.bus.BusIssuer` -> a real Mosquitto (started here on a free port) ->
the real core service (its own process, journal fsync included, as `qcall serve` runs it) -> the
reply, renders the GB18030 ticket and prints it to the printer twin. The clock stops when the
twin holds the whole ticket (up to its cut).

swipe_ticket_p50_ms / p99   per swipe, ~200 swipes (a third of them VIP cards in the roster)

Run: .venv/bin/python bench/kiosk.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec

from bench._harness import branch_server, unlimited
from hw.magcard import luhn_complete
from kiosk.bus import KioskBus
from kiosk.recognition import KeyedHasher, Roster
from kiosk.rig import SwipeRig, percentiles
from qbus.client import BusClient
from qbus.config import load
from qbus.topics import Topics

_LOADED = load(Path(__file__).resolve().parents[1] / "examples" / "branch.toml")
# The bench runs at any hour: the kiosk's opening-hours check is off.
CFG = unlimited(msgspec.structs.replace(_LOADED, kiosk=msgspec.structs.replace(_LOADED.kiosk, hours_only=False)))
KEY = bytes(range(32))
SWIPES = 200
BUDGET_S = 30.0  # stop early on a slow machine: the whole run must stay under 50 s



def measure(host: str, port: int) -> dict[str, float]:
    cards = [luhn_complete(f"6222021{i:011d}") for i in range(SWIPES)]
    hasher = KeyedHasher(KEY)
    roster = Roster({hasher.hash_number(c): "vip" for c in cards[::3]})
    bus = BusClient(host=host, port=port, topics=Topics(CFG.bus.prefix, CFG.branch.id), device="kiosk1")
    kbus = KioskBus(bus, timeout_s=CFG.kiosk.issue_timeout_s)
    rig: SwipeRig | None = None
    try:
        bus.connect(10)
        rig = SwipeRig(CFG, kbus.issuer, key=KEY, roster=roster)
        rig.swipe_to_ticket(luhn_complete("621700000000000000"), "cash")  # warm-up: imports, first status query
        samples: list[float] = []
        started = time.monotonic()
        for i, card in enumerate(cards):
            ticket, ms = rig.swipe_to_ticket(card, ("cash", "personal", "corporate")[i % 3])
            if b"\x1dV" not in ticket[-4:]:
                raise SystemExit("ticket without its cut")
            samples.append(ms)
            if time.monotonic() - started > BUDGET_S:
                break
        out: dict[str, float] = percentiles(samples)
        out["swipes"] = len(samples)
        return out
    finally:
        if rig is not None:
            rig.close()
        kbus.close()
        bus.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, branch_server(CFG, Path(tmp)) as broker:
        out = measure(broker.host, broker.port)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
