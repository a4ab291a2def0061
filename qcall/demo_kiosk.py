"""The demo's ticket kiosk: the real KioskFlow and KioskApp with twin devices, issuing over the bus.

Customers arrive at the demo's rate (Poisson, sped up like the rest of the demo) and each one does
what people at a branch do: press a business button, swipe a VIP card (tiers from a roster built
in memory), place an elderly person's ID card (the priority lane by age), insert a passbook, or
swipe a card the bank does not list (normal tier). The swipe, ID and passbook bytes go through
the reader twins on ptys, so the demo runs the same code as a branch kiosk; tickets come out of
the printer twin, and the last one is saved as `last_ticket.bin` (raw ESC/POS) in the demo's
temporary directory.
"""

from __future__ import annotations

import logging
import random
import secrets
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import msgspec

from hw.idcard import IdCard, check_digit
from hw.magcard import luhn_complete
from kiosk.app import KioskEvent
from kiosk.flow import View, ViewKind
from kiosk.recognition import KeyedHasher, Roster
from qbus.config import BranchConfig
from qcall.kiosk import KioskRuntime, Twins
from qcall.simulate import _business_mix

_LOG = logging.getLogger(__name__)

# share of arrivals per kind of customer
MIX = {"button": 0.45, "vip_card": 0.14, "elder_id": 0.08, "id": 0.05, "passbook": 0.12, "unknown_card": 0.16}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟"]
DONE = (ViewKind.ISSUED, ViewKind.MESSAGE, ViewKind.PRINT_FAILED)



class DemoKiosk:
    """`start()`, then `stop()` (safe twice). `issued` counts the tickets printed."""

    def __init__(self, cfg: BranchConfig, host: str, port: int, *, seed: int = 7, arrivals_per_hour: float = 40.0,
                 speed: float = 30.0, out: Callable[[str], None] = print, workdir: Path | None = None) -> None:
        # A demo runs at any hour: the kiosk's opening-hours check is off.
        kiosk = msgspec.structs.replace(cfg.kiosk, repeat_guard_s=cfg.kiosk.repeat_guard_s / speed,
                                        hours_only=False)
        self.cfg = msgspec.structs.replace(cfg, kiosk=kiosk)
        self.host, self.port = host, port
        self.rng = random.Random(seed)
        self.rate = arrivals_per_hour * speed / 3600
        self.out = out
        self.stop_event = threading.Event()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="qcall-kiosk-")
            workdir = Path(self._tmp.name)
        self.workdir = workdir
        self.issued = 0
        self.vias: dict[str, int] = {}  # tickets per way of taking them (button, bank_card, id_card, ...)
        self.rt: KioskRuntime | None = None
        self._threads: list[threading.Thread] = []
        self._cond = threading.Condition()
        self._seq = 0
        self._view: View | None = None
        key = secrets.token_bytes(32)  # a fresh key per demo: its hashes mean nothing elsewhere
        hasher = KeyedHasher(key)
        tiers = [t.code for t in cfg.tier if t.priority and not t.by_staff_only] or ["normal"]
        self.vip_cards = [luhn_complete(f"62220210{i:010d}") for i in range(12)]
        # one card per top tier, the rest VIP
        self.roster = Roster({hasher.hash_number(c): tiers[i] if i < len(tiers) else tiers[-1]
                              for i, c in enumerate(self.vip_cards)})
        self._key = key
        self._mix = _business_mix(cfg)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> DemoKiosk:
        try:
            self.rt = KioskRuntime(self.cfg, host=self.host, port=self.port, twin=True, screen=False,
                                   key=self._key, roster=self.roster, on_view=self._seen).start()
            self._spawn("kiosk-app", self._app_loop)
            self._spawn("kiosk-customers", self._customers)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.stop_event.set()
        with self._cond:
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=5)
        self._threads.clear()
        if self.rt is not None:
            self.rt.close()
            self.rt = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _spawn(self, name: str, fn: Callable[[], None]) -> None:
        t = threading.Thread(target=fn, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def _app_loop(self) -> None:
        if self.rt is not None:
            self.rt.run(self.stop_event)

    def wait_issued(self, n: int, timeout: float) -> bool:
        """Wait until `n` tickets have been printed (tests)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.issued >= n, timeout)

    # -- customers ------------------------------------------------------------------------------
    def _seen(self, view: View) -> None:
        with self._cond:
            self._seq += 1
            self._view = view
            self._cond.notify_all()

    def _await(self, seq: int, kinds: tuple[ViewKind, ...], timeout: float = 5.0) -> View | None:
        """The first view after `seq` whose kind is one of `kinds` (None: timed out or stopping)."""
        with self._cond:
            ok = self._cond.wait_for(lambda: self.stop_event.is_set() or (
                self._seq > seq and self._view is not None and self._view.kind in kinds), timeout)
            return self._view if ok and not self.stop_event.is_set() else None

    def _customers(self) -> None:
        rng = self.rng
        while not self.stop_event.wait(rng.expovariate(self.rate)):
            kind = rng.choices(list(MIX), list(MIX.values()))[0]
            business = rng.choices(list(self._mix), list(self._mix.values()))[0]
            try:
                self._one(kind, business)
            except (OSError, RuntimeError) as err:
                _LOG.warning("demo kiosk customer (%s) failed: %s", kind, err)

    def _one(self, kind: str, business: str) -> None:
        rt = self.rt
        if rt is None or rt.twins is None or rt.app is None:
            return
        twins = rt.twins
        with self._cond:
            seq = self._seq
        if kind != "button":
            if not self._present(kind, twins):
                return
            if self._await(seq, (ViewKind.IDENTIFIED,)) is None:
                return
            if kind.endswith("id"):
                twins.idcard.remove()
            with self._cond:
                seq = self._seq
        rt.app.events.put(KioskEvent("button", business))
        view = self._await(seq, DONE)
        if view is None:
            return
        if view.kind is ViewKind.ISSUED and view.ticket is not None:
            t = view.ticket
            (self.workdir / "last_ticket.bin").write_bytes(twins.printer.tickets[-1])
            with self._cond:
                self.issued += 1
                self.vias[t.via] = self.vias.get(t.via, 0) + 1
                self._cond.notify_all()
            self.out(f"  取号 {t.number} {t.business}/{t.tier} via {t.via}: {t.ahead} ahead, "
                     f"~{t.est_wait_s / 60:.0f} min")
        else:
            self.out(f"  取号机 kiosk: {view.zh} / {view.en}")

    def _present(self, kind: str, t: Twins) -> bool:
        rng = self.rng
        if kind == "vip_card":
            t.mag.swipe(rng.choice(self.vip_cards))
        elif kind == "unknown_card":
            t.mag.swipe(luhn_complete(f"6217{rng.randrange(10**14):014d}"))
        elif kind == "passbook":
            if not t.passbook.armed.wait(1.0):
                return False
            return bool(t.passbook.insert(f"6013{rng.randrange(10**15):015d}"))
        else:
            year = rng.randint(1935, 1953) if kind == "elder_id" else rng.randint(1960, 2004)
            birth = f"{year}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
            first = f"440304{birth}{rng.randrange(1000):03d}"
            name = rng.choice(SURNAMES) + rng.choice(GIVEN)
            t.idcard.place(IdCard(name=name, sex=str(rng.randint(1, 2)), nation="01", birth=birth,
                                  address="广东省深圳市福田区", id_number=first + check_digit(first)))
        return True
