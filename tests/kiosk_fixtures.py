"""Shared helpers for the kiosk and hw tests: the example branch, a settable clock, sample media."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hw.idcard import IdCard, check_digit
from hw.magcard import luhn_complete
from qbus.config import BranchConfig, load
from qbus.messages import CheckIn, ErrorInfo, Issue, TicketView

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "branch.toml"
# 2024-05-06 09:30:00 Asia/Shanghai
T0 = 1714959000.0


def branch() -> BranchConfig:
    return load(EXAMPLE)


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, s: float) -> None:
        self.now += s



def id_number(region: str, birth: str, seq: str) -> str:
    first = region + birth + seq
    return first + check_digit(first)


def id_card(name: str = "张三", birth: str = "19490301", sex: str = "1") -> IdCard:
    return IdCard(
        name=name, sex=sex, nation="01", birth=birth, address="广东省深圳市福田区福华路1号",
        id_number=id_number("440304", birth, "123"),
    )


VIP_CARD = luhn_complete("622202100012345678")
PLAIN_CARD = luhn_complete("621700000011112222")


class FakeCore:
    """Numbers tickets per business prefix, like the core will; can stay silent or refuse.
    It holds no appointments: a check-in is answered as the core answers one without a booking."""

    def __init__(self, cfg: BranchConfig, clock: Callable[[], float]) -> None:
        self.prefix = {b.code: b.prefix for b in cfg.business}
        self.clock = clock
        self.commands: list[Issue] = []
        self.check_ins: list[CheckIn] = []
        self.count: dict[str, int] = {}
        self.silent = False
        self.refuse: ErrorInfo | None = None

    def __call__(self, cmd: Issue | CheckIn) -> TicketView | ErrorInfo:
        if isinstance(cmd, CheckIn):
            self.check_ins.append(cmd)
            if self.silent:
                raise TimeoutError("no reply within 3.0 s")
            return ErrorInfo(code="no_booking", zh="没有找到您的预约，请到大堂服务台咨询", en="no booking for today")
        self.commands.append(cmd)
        if self.silent:
            raise TimeoutError("no reply within 3.0 s")
        if self.refuse is not None:
            return self.refuse
        n = self.count[cmd.business] = self.count.get(cmd.business, 0) + 1
        number = f"{self.prefix[cmd.business]}{n:03d}"
        return TicketView(id=f"2024-05-06/{number}", number=number, business=cmd.business, tier=cmd.tier,
                          via=cmd.via, issued_at=self.clock(), ahead=n - 1, est_wait_s=240.0 * (n - 1),
                          masked_name=cmd.masked_name, granted_by=cmd.granted_by)
