"""The console of a twin kiosk (`qcall kiosk --twin`): a person swipes a card, places an ID card,
inserts a passbook, takes the paper out or opens the cover by typing a line, as `qcall keypad`
does for the pads. The twins sit on pseudo-terminals; their paths are printed at start, so another
program (or `cat`) can watch the reader side too.

Lines: `swipe [card number]`, `id [YYYYMMDD] [name]` (place an ID card; born then), `id off`,
`passbook [account]`, `paper out|low|in`, `cover open|close`, `press cash|priority|…` (a GPIO
button, for a kiosk with no screen), `code K7Q2M9` (check in an appointment by its booking code, as
typed on the screen's code pad), `ticket` (the last ticket, as printed), `help`, `quit`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hw.idcard import IdCard, check_digit
from hw.magcard import luhn_complete
from hw.printer import Paper
from hw.printer.paper import paper_lines
from kiosk.app import KioskEvent

Out = Callable[[str], None]

HELP = ("swipe [卡号] 刷卡 swipe a card | id [YYYYMMDD] [姓名] 放身份证 place an ID card | id off 取走 remove | "
        "passbook [账号] 插存折 insert a passbook | paper out/low/in 缺纸/将尽/装纸 | cover open/close 开盖/合盖 | "
        "press cash / priority 按键 button | code K7Q2M9 预约签到 appointment check-in | ticket 看号票 last ticket | help | quit")
DEMO_CARD = luhn_complete("621700000011112222")
DEMO_ACCOUNT = "6222600100012345678"


def demo_id(birth: str = "19800101", name: str = "李四") -> IdCard:
    """A made-up ID card (valid check digit, a Futian district code) born on `birth`."""
    first = "440304" + birth + "123"
    return IdCard(name=name, sex="1", nation="01", birth=birth, address="广东省深圳市福田区福华路1号",
                  id_number=first + check_digit(first))


class KioskConsole:
    """Line commands on a twin kiosk (`twins`: qcall.kiosk.Twins, `app`: its KioskApp)."""

    def __init__(self, twins: Any, app: Any, out: Out) -> None:
        self.twins = twins
        self.app = app
        self.out = out

    def banner(self) -> list[str]:
        t = self.twins
        return [f"刷卡器 stripe reader twin: {t.mag.port}",
                f"身份证阅读器 ID card reader twin: {t.idcard.port}",
                f"存折阅读器 passbook reader twin: {t.passbook.port}",
                "打印机 printer: in-process twin (`ticket` shows the last one)", HELP]

    def handle(self, line: str) -> bool:
        """One typed line; False to quit."""
        words = line.strip().split()
        if not words:
            return True
        w, args = words[0].lower(), words[1:]
        if w in ("quit", "exit"):
            return False
        action = {"help": self._help, "?": self._help, "swipe": self._swipe, "id": self._id,
                  "passbook": self._passbook, "paper": self._paper, "cover": self._cover,
                  "press": self._press, "code": self._code, "ticket": self._ticket}.get(w)
        if action is None:
            self.out(f"? {w} — help")
        else:
            action(args)
        return True

    def _help(self, _args: list[str]) -> None:
        self.out(HELP)

    def _swipe(self, args: list[str]) -> None:
        pan = args[0] if args else DEMO_CARD
        if not pan.isdigit():
            self.out("卡号只能是数字 the card number is digits only")
            return
        self.twins.mag.swipe(pan)
        self.out(f"刷卡 swiped card ****{pan[-4:]}")

    def _id(self, args: list[str]) -> None:
        if args and args[0] == "off":
            self.twins.idcard.remove()
            self.out("身份证已取走 ID card removed")
            return
        birth = args[0] if args else "19800101"
        if not (len(birth) == 8 and birth.isdigit()):
            self.out("出生日期格式 YYYYMMDD, e.g. id 19450301")
            return
        self.twins.idcard.place(demo_id(birth, args[1] if len(args) > 1 else "李四"))
        self.out(f"身份证已放置 ID card placed (born {birth[:4]}-{birth[4:6]}-{birth[6:]})")

    def _passbook(self, args: list[str]) -> None:
        account = args[0] if args else DEMO_ACCOUNT
        if self.twins.passbook.insert(account):
            self.out(f"存折已插入 passbook inserted ****{account[-4:]}")
        else:
            self.out("存折口未打开（读卡器未就绪） the passbook slot is not open yet; try again")

    def _paper(self, args: list[str]) -> None:
        state = {"out": Paper.OUT, "low": Paper.NEAR_END, "in": Paper.OK}.get(args[0] if args else "")
        if state is None:
            self.out("paper out | paper low | paper in")
            return
        self.twins.printer.set_paper(state)
        self._poll()
        self.out({Paper.OUT: "纸已取出 paper out", Paper.NEAR_END: "纸将用完 paper low",
                  Paper.OK: "已装纸 paper in"}[state])

    def _cover(self, args: list[str]) -> None:
        if not args or args[0] not in ("open", "close"):
            self.out("cover open | cover close")
            return
        self.twins.printer.open_cover(args[0] == "open")
        self._poll()
        self.out("打印机盖已打开 cover open" if args[0] == "open" else "打印机盖已合上 cover closed")

    def _press(self, args: list[str]) -> None:
        if not args:
            self.out("press <business code> | press priority | press reprint")
            return
        self.app.events.put(KioskEvent("button", args[0]))

    def _code(self, args: list[str]) -> None:
        """The booking code, as the screen's code pad sends it (the flow checks its format)."""
        from kiosk.screen import Action  # pygame only when the console is used this way

        if len(args) != 1:
            self.out("code <预约码 booking code>, e.g. code K7Q2M9")
            return
        self.app.events.put(KioskEvent("action", Action("check_in", args[0].upper())))
        self.out(f"预约码已输入 booking code typed: {args[0].upper()}")

    def _ticket(self, _args: list[str]) -> None:
        tickets = self.twins.printer.tickets
        if not tickets:
            self.out("还没有号票 no ticket printed yet")
            return
        for ln in paper_lines(tickets[-1]):
            if ln.qr:
                self.out(f"[QR {ln.qr}]")
            elif ln.text.strip():
                self.out(("  " if ln.align == "center" else "") + ln.text)

    def _poll(self) -> None:
        """Make the kiosk's loop read its printer now (no wait for the idle poll)."""
        self.app.events.put(KioskEvent("poll"))


def run_console(console: KioskConsole, read_line: Callable[[str], str | None], stop: Any) -> None:
    """Read lines until `quit` (which stops the kiosk: sets `stop`) or the end of input (the kiosk
    goes on without a console, e.g. started with stdin from /dev/null)."""
    for line in console.banner():
        console.out(line)
    while not stop.is_set():
        text = read_line("[kiosk] > ")
        if text is None:
            return
        if not console.handle(text):
            stop.set()
            return
