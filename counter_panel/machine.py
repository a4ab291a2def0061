"""The counter's state machine: keys in, bus commands out; bus state in, LED text and prompts out.

Pure: no I/O, no threads, time passed in. The core owns the truth. The machine shows what the
retained CounterState says and turns a key into a command only when that key makes sense in that
state; it never moves itself forward on a key press (the state changes when the core says so). A
key that does not fit the state beeps and sends nothing.

    logged_out --login--> idle --call_next--> called --welcome--> serving --rate--> rating --> idle
    idle <--pause/resume--> paused;  called: recall, skip;  serving: transfer;  rating: call_next

Two displays: the customer-facing rating pad (`pad_text`) and the teller's keypad (`keypad_text`).
Login prompts and the masked PIN appear only on the keypad, never on the customer's side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from hw.keypad import Key, KeyPress
from qbus import messages as m
from qbus.messages import CounterStatus

PENDING_TIMEOUT_S = 3.0  # = bus.command_timeout_s: after this a key may send the same command again
MAX_ENTRY_DIGITS = 8

PAUSED_TEXT = "暂停服务"
WELCOME_TEXT = "欢迎光临"
RATE_TEXT = "请评价"
THANKS_TEXT = "谢谢"


# What the panel is in: the core's CounterStatus, or None while no teller is logged in (a closed
# counter with a teller is CounterStatus.CLOSED: the teller may open it again).
PanelState = CounterStatus | None
LOGGED_OUT: PanelState = None


@dataclass(frozen=True, slots=True)
class Display:
    """What the pads show. voice: "" | "welcome" | "please_rate" | "thanks" (played once).

    `detail_zh`/`detail_en`: the customer in hand in full (business, tier, wait, how many still
    wait here), for a display with room for it (the software panel). `note_zh`/`note_en`: a
    one-off message (why a key was refused, "recalled"), also shown on the keypad in Chinese."""

    pad_text: str
    keypad_text: str
    voice: str = ""
    beep: bool = False
    detail_zh: str = ""
    detail_en: str = ""
    note_zh: str = ""
    note_en: str = ""


@dataclass(frozen=True, slots=True)
class TierInfo:
    """What the teller is told about a tier: the LED mark and the staff name (the internal
    category, e.g. 老弱病残孕, which staff need), and whether it is a priority tier."""

    mark: str
    name_zh: str
    name_en: str
    priority: bool = False


@dataclass(frozen=True, slots=True)
class Output:
    """Commands to publish and the display to send (None: unchanged)."""

    commands: list[m.Command] = field(default_factory=list)
    display: Display | None = None


NOTHING = Output()


class CounterPanel:
    """One counter. `prefixes` maps a ticket prefix letter to a business code (transfer by letter)."""

    def __init__(
        self,
        counter: int,
        *,
        prefixes: Mapping[str, str] | None = None,
        rating_scale: int = 5,
        pending_timeout_s: float = PENDING_TIMEOUT_S,
        tiers: Mapping[str, TierInfo] | None = None,
        businesses: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        self.counter = counter
        self.prefixes = dict(prefixes or {})
        self.tiers = dict(tiers or {})
        self.businesses = dict(businesses or {})  # code -> (name_zh, name_en)
        self.rating_scale = rating_scale
        self.pending_timeout_s = pending_timeout_s
        self.bus: m.CounterState | None = None
        self._entry_teller = ""  # login in progress: teller id typed so far / accepted
        self._entry_digits = ""
        self._entering_pin = False
        self._login_sent = False
        self._pending: tuple[str, float] | None = None
        self._thanks = False
        self._message = ""  # a one-off keypad message (e.g. login refused) until the next change
        self._message_en = ""
        self.display = self._render()

    # ---------------------------------------------------------------- reading

    @property
    def state(self) -> PanelState:
        """The counter's status as the core last said, or LOGGED_OUT (None) before a teller signs in."""
        s = self.bus
        if s is None or (s.status == CounterStatus.CLOSED and not s.teller):
            return LOGGED_OUT
        return CounterStatus(s.status)

    @property
    def entering_pin(self) -> bool:
        return self._entering_pin

    # ---------------------------------------------------------------- inputs

    def key(self, press: KeyPress, now: float) -> Output:
        """A key on the teller keypad (or the software panel)."""
        if self.state is LOGGED_OUT:
            return self._login_key(press)
        cmd = self._command_for(press)
        if cmd is None:
            self._message, self._message_en = refusal(self.state, press)
            out = self._show("")
            return Output(display=replace(out.display or self.display, beep=True))
        return self._send(cmd, now)

    def stars(self, stars: int, now: float) -> Output:
        """A star key on the rating pad: accepted only while the core waits for a rating."""
        if self.state is not CounterStatus.RATING or not 1 <= stars <= self.rating_scale:
            return NOTHING
        return self._send(m.Rate(counter=self.counter, stars=stars), now)

    def state_update(self, state: m.CounterState) -> Output:
        """Retained CounterState from the bus: the truth the panel shows."""
        if state.counter != self.counter:
            return NOTHING
        before = self.state
        self.bus = state
        self._pending = None
        after = self.state
        voice = ""
        if after is not before:
            self._message = self._message_en = ""
            if before is LOGGED_OUT or after is LOGGED_OUT:
                self._reset_entry()
            if after is CounterStatus.SERVING:
                voice = "welcome"
            elif after is CounterStatus.RATING:
                voice = "please_rate"
            if not (before is CounterStatus.RATING and after is CounterStatus.IDLE):
                self._thanks = False
        return self._show(voice)

    def event(self, event: m.AnyEvent) -> Output:
        """Bus events; only a rating of this counter changes the pads (谢谢 + the thanks prompt)."""
        if isinstance(event, m.ServiceRated) and event.counter == self.counter and event.stars > 0:
            if self.state in (CounterStatus.RATING, CounterStatus.IDLE) and not self._thanks:
                self._thanks = True
                return self._show("thanks")
        return NOTHING

    def reply(self, ok: bool, message_zh: str = "", message_en: str = "") -> Output:
        """The core answered the last command. A refusal beeps and shows its reason on the keypad
        (and in English where there is room); an accepted recall is confirmed ("已重呼")."""
        op = self._pending[0] if self._pending else ""
        self._pending = None
        if ok:
            if op == "Recall" and self.bus is not None and self.bus.number:
                self._message, self._message_en = f"已重呼 {self.bus.number}", f"Recalled {self.bus.number}"
                return self._show("")
            return NOTHING
        if self._login_sent:
            self._reset_entry()
        self._message = message_zh or "操作失败"
        self._message_en = message_en or ("Refused" if message_zh else "The operation failed")
        out = self._show("")
        return Output(display=replace(out.display or self.display, beep=True))

    # ---------------------------------------------------------------- keys -> commands

    def _command_for(self, press: KeyPress) -> m.Command | None:
        c, k, s = self.counter, press.key, self.state
        table: dict[tuple[PanelState, Key], m.Command] = {
            (CounterStatus.IDLE, Key.CALL_NEXT): m.CallNext(counter=c),
            (CounterStatus.IDLE, Key.PAUSE): m.Pause(counter=c),
            (CounterStatus.IDLE, Key.LOGOUT): m.Logout(counter=c),
            (CounterStatus.CALLED, Key.RECALL): m.Recall(counter=c),
            (CounterStatus.CALLED, Key.SKIP): m.Skip(counter=c),
            (CounterStatus.CALLED, Key.WELCOME): m.StartService(counter=c),
            (CounterStatus.SERVING, Key.RATE): m.FinishService(counter=c, request_rating=True),
            (CounterStatus.RATING, Key.CALL_NEXT): m.CallNext(counter=c),
            (CounterStatus.PAUSED, Key.RESUME): m.Resume(counter=c),
            (CounterStatus.PAUSED, Key.LOGOUT): m.Logout(counter=c),
            (CounterStatus.CLOSED, Key.RESUME): m.OpenCounter(counter=c),
            (CounterStatus.CLOSED, Key.LOGOUT): m.Logout(counter=c),
        }
        if s is CounterStatus.SERVING and k is Key.TRANSFER:
            return self._transfer(press)
        return table.get((s, k))

    def _transfer(self, press: KeyPress) -> m.Command | None:
        if press.counter and press.counter != self.counter:
            return m.Transfer(counter=self.counter, to_counter=press.counter)
        business = self.prefixes.get(press.prefix.upper()) if press.prefix else None
        return m.Transfer(counter=self.counter, to_business=business) if business else None

    def _send(self, cmd: m.Command, now: float) -> Output:
        op = type(cmd).__name__
        if self._pending is not None and now - self._pending[1] < self.pending_timeout_s:
            # The core has not answered the last key yet: a double press must not call two customers.
            return NOTHING
        self._pending = (op, now)
        return Output(commands=[cmd])

    # ---------------------------------------------------------------- login entry (keypad only)

    def _login_key(self, press: KeyPress) -> Output:
        if self._login_sent:
            return Output(display=replace(self.display, beep=True))
        if press.key is Key.DIGIT and 0 <= press.digit <= 9 and len(self._entry_digits) < MAX_ENTRY_DIGITS:
            self._entry_digits += str(press.digit)
        elif press.key is Key.CLEAR:
            if self._entry_digits:
                self._entry_digits = self._entry_digits[:-1]
            elif self._entering_pin:
                self._reset_entry()
        elif press.key is Key.ENTER and self._entry_digits:
            if not self._entering_pin:
                self._entry_teller, self._entry_digits, self._entering_pin = self._entry_digits, "", True
            else:
                login = m.Login(counter=self.counter, teller=self._entry_teller, pin=self._entry_digits)
                self._entry_digits = ""
                self._login_sent = True
                return Output(commands=[login], display=self._show("").display)
        else:
            return Output(display=replace(self.display, beep=True))
        self._message = self._message_en = ""
        return self._show("")

    def _reset_entry(self) -> None:
        self._entry_teller = self._entry_digits = ""
        self._entering_pin = self._login_sent = False

    # ---------------------------------------------------------------- display

    def _show(self, voice: str) -> Output:
        new = self._render()
        changed = new != self.display
        self.display = new
        if not changed and not voice:
            return NOTHING
        return Output(display=replace(new, voice=voice))

    def _render(self) -> Display:
        s, bus = self.state, self.bus
        number = bus.number if bus else ""
        in_hand = self._in_hand_led() if bus is not None else number
        pad, keypad = {
            LOGGED_OUT: (PAUSED_TEXT, self._entry_text()),
            CounterStatus.CLOSED: (PAUSED_TEXT, "已关闭"),
            CounterStatus.IDLE: (THANKS_TEXT if self._thanks else WELCOME_TEXT, "空闲"),
            CounterStatus.CALLED: (number, in_hand),
            CounterStatus.SERVING: (number, in_hand),
            CounterStatus.RATING: (THANKS_TEXT if self._thanks else RATE_TEXT, "评价中"),
            CounterStatus.PAUSED: (PAUSED_TEXT, PAUSED_TEXT),
        }[s]
        zh, en = self._detail() if s in (CounterStatus.CALLED, CounterStatus.SERVING) else ("", "")
        return Display(pad_text=pad, keypad_text=self._message or keypad, detail_zh=zh, detail_en=en,
                       note_zh=self._message, note_en=self._message_en)

    def _in_hand_led(self) -> str:
        """The keypad LED after a call: number, tier mark, minutes waited, how many still wait here
        (e.g. "B012 V 等12分 余5"), short enough for a one-line LED."""
        bus = self.bus
        assert bus is not None
        tier = self.tiers.get(bus.tier)
        parts = [bus.number]
        if tier is not None and tier.priority:
            parts.append(tier.mark or "优")
        parts += [f"等{round(bus.waited_s / 60)}分", f"余{bus.waiting}"]
        return " ".join(parts)

    def _detail(self) -> tuple[str, str]:
        """The customer in hand in full, Chinese and English (the software panel's line)."""
        bus = self.bus
        assert bus is not None
        b_zh, b_en = self.businesses.get(bus.business, (bus.business, bus.business))
        tier = self.tiers.get(bus.tier)
        minutes = round(bus.waited_s / 60)
        zh = [f"{bus.number} {b_zh}"]
        en = [f"{bus.number} {b_en}"]
        if tier is not None and tier.priority:
            zh.append(f"{tier.mark} {tier.name_zh}".strip())
            en.append(tier.name_en)
        zh += [f"已等 {minutes} 分钟", f"本窗口还有 {bus.waiting} 人等候"]
        en += [f"waited {minutes} min", f"{bus.waiting} more waiting for this counter"]
        if bus.recalls:
            zh.append(f"已重呼 {bus.recalls} 次")
            en.append(f"recalled {bus.recalls}x")
        return " · ".join(zh), " · ".join(en)

    def _entry_text(self) -> str:
        if self._login_sent:
            return "登录中"
        if self._entering_pin:
            return "密码:" + "*" * len(self._entry_digits)
        return "工号:" + self._entry_digits


# What a refused key means, by key and state (Chinese for the keypad LED, English for the panel).
_REASONS: dict[Key, tuple[str, str]] = {
    Key.TRANSFER: ("请先按欢迎光临再转移", "Transfer works after welcome (while serving)"),
    Key.CALL_NEXT: ("请先办完当前客户", "Finish, skip or transfer the current customer first"),
    Key.RECALL: ("当前没有叫号", "No customer is called: call next first"),
    Key.SKIP: ("当前没有叫号", "No customer is called: call next first"),
    Key.WELCOME: ("当前没有叫号", "No customer is called: call next first"),
    Key.RATE: ("请先按欢迎光临", "Rating comes after welcome (while serving)"),
    Key.PAUSE: ("请先办完当前客户再暂停", "Pause works when idle, between customers"),
    Key.RESUME: ("窗口未暂停", "The counter is not paused"),
    Key.LOGOUT: ("请先办完当前客户再退出", "Finish the current customer before logging out"),
}


def refusal(state: PanelState, press: KeyPress) -> tuple[str, str]:
    """Why `press` does nothing in `state` (zh, en)."""
    if press.key is Key.TRANSFER and state is CounterStatus.SERVING:
        return "转移需窗口号或业务字母", "Transfer needs a counter number or a business letter (t 3 / t B)"
    if press.key is Key.CALL_NEXT and state is CounterStatus.PAUSED:
        return "暂停中，请先恢复", "Paused: resume first"
    if state is CounterStatus.PAUSED:
        return "暂停中，请先恢复", "Paused: resume first"
    return _REASONS.get(press.key, ("此键现在不可用", "That key does nothing now"))
