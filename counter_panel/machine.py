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
    """What the pads show. voice: "" | "welcome" | "please_rate" | "thanks" (played once)."""

    pad_text: str
    keypad_text: str
    voice: str = ""
    beep: bool = False


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
    ) -> None:
        self.counter = counter
        self.prefixes = dict(prefixes or {})
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
            return Output(display=replace(self.display, beep=True))
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
            self._message = ""
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

    def reply(self, ok: bool, message_zh: str = "") -> Output:
        """The core answered the last command. A refusal beeps and shows its reason on the keypad."""
        self._pending = None
        if ok:
            return NOTHING
        if self._login_sent:
            self._reset_entry()
        self._message = message_zh or "操作失败"
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
        self._message = ""
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
        pad, keypad = {
            LOGGED_OUT: (PAUSED_TEXT, self._entry_text()),
            CounterStatus.CLOSED: (PAUSED_TEXT, "已关闭"),
            CounterStatus.IDLE: (THANKS_TEXT if self._thanks else WELCOME_TEXT, "空闲"),
            CounterStatus.CALLED: (number, number),
            CounterStatus.SERVING: (number, number),
            CounterStatus.RATING: (THANKS_TEXT if self._thanks else RATE_TEXT, "评价中"),
            CounterStatus.PAUSED: (PAUSED_TEXT, PAUSED_TEXT),
        }[s]
        return Display(pad_text=pad, keypad_text=self._message or keypad)

    def _entry_text(self) -> str:
        if self._login_sent:
            return "登录中"
        if self._entering_pin:
            return "密码:" + "*" * len(self._entry_digits)
        return "工号:" + self._entry_digits
