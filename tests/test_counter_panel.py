"""The counter's state machine, the pre-opening check and the software panel, with a fixed clock."""

from __future__ import annotations

import pytest

from counter_panel.machine import LOGGED_OUT, CounterPanel, Output
from counter_panel.preopen import check_pads
from counter_panel.terminal import TerminalPanel
from firmware_bridge.codec import get_codec
from firmware_bridge.frame import key_frame
from hw.keypad import Key, KeyPress
from qbus import messages as m
from qbus.config.sections import SerialDevice, SerialLine
from qbus.errors import PayloadError
from qbus.messages import CounterStatus

C = 3


def bus(status: str, number: str = "", teller: str = "1001") -> m.CounterState:
    return m.CounterState(counter=C, status=CounterStatus(status), teller=teller, number=number)


def press(key: Key, *, digit: int = -1, counter: int = 0, prefix: str = "") -> KeyPress:
    return KeyPress(key, digit=digit, counter=counter, prefix=prefix)


def typed(panel: CounterPanel, digits: str, now: float = 0.0) -> list[Output]:
    outs = [panel.key(press(Key.DIGIT, digit=int(d)), now) for d in digits]
    return outs + [panel.key(press(Key.ENTER), now)]


def in_state(status: str, number: str = "A007", *, prefixes: dict[str, str] | None = None,
             rating_scale: int = 5) -> CounterPanel:
    panel = CounterPanel(C, prefixes=prefixes, rating_scale=rating_scale)
    panel.state_update(bus(status, number))
    return panel


def test_a_whole_service_from_login_to_thanks() -> None:
    p = CounterPanel(C)
    assert p.state is LOGGED_OUT
    assert (p.display.pad_text, p.display.keypad_text) == ("暂停服务", "工号:")

    typed(p, "1001")
    outs = typed(p, "1234")
    assert p.display.keypad_text == "登录中"
    assert outs[-1].commands == [m.Login(counter=C, teller="1001", pin="1234")]
    assert all("1234" not in (o.display.pad_text + o.display.keypad_text) for o in outs if o.display)

    assert p.state_update(bus("idle")).display == p.display
    assert (p.display.pad_text, p.display.keypad_text) == ("欢迎光临", "空闲")
    assert p.key(press(Key.CALL_NEXT), 1.0).commands == [m.CallNext(counter=C)]
    assert p.state is CounterStatus.IDLE  # the key alone moves nothing: the core decides

    out = p.state_update(bus("called", "A007"))
    assert out.display is not None and out.display.pad_text == "A007" and out.display.voice == ""
    assert p.key(press(Key.WELCOME), 2.0).commands == [m.StartService(counter=C)]
    out = p.state_update(bus("serving", "A007"))
    assert out.display is not None and out.display.voice == "welcome" and out.display.pad_text == "A007"

    assert p.key(press(Key.RATE), 3.0).commands == [m.FinishService(counter=C, request_rating=True)]
    out = p.state_update(bus("rating", "A007"))
    assert out.display is not None and (out.display.pad_text, out.display.voice) == ("请评价", "please_rate")

    assert p.stars(5, 4.0).commands == [m.Rate(counter=C, stars=5)]
    out = p.event(m.ServiceRated(at=4.1, number="A007", counter=C, stars=5))
    assert out.display is not None and (out.display.pad_text, out.display.voice) == ("谢谢", "thanks")
    out = p.state_update(bus("idle"))
    assert out.display is not None and out.display.pad_text == "谢谢" and out.display.voice == ""  # once
    p.key(press(Key.CALL_NEXT), 5.0)
    out = p.state_update(bus("called", "A008"))
    assert out.display is not None and out.display.pad_text == "A008"


def test_an_unrated_service_goes_back_to_the_welcome_text() -> None:
    p = in_state("rating")
    out = p.state_update(bus("idle"))
    assert out.display is not None and out.display.pad_text == "欢迎光临" and out.display.voice == ""


@pytest.mark.parametrize(
    ("status", "key"),
    [
        ("idle", Key.RECALL), ("idle", Key.SKIP), ("idle", Key.WELCOME), ("idle", Key.RATE),
        ("idle", Key.TRANSFER), ("idle", Key.RESUME), ("called", Key.CALL_NEXT),
        ("called", Key.PAUSE), ("called", Key.RATE), ("called", Key.LOGOUT),
        ("serving", Key.CALL_NEXT), ("serving", Key.SKIP), ("serving", Key.WELCOME),
        ("rating", Key.RATE), ("paused", Key.CALL_NEXT), ("idle", Key.DIGIT),
    ],
)
def test_a_key_that_does_not_fit_beeps_and_sends_nothing(status: str, key: Key) -> None:
    p = in_state(status)
    out = p.key(press(key, digit=1), 0.0)
    assert out.commands == [] and out.display is not None and out.display.beep


@pytest.mark.parametrize(
    ("status", "key", "cmd"),
    [
        ("idle", Key.PAUSE, m.Pause(counter=C)),
        ("idle", Key.LOGOUT, m.Logout(counter=C)),
        ("called", Key.RECALL, m.Recall(counter=C)),
        ("called", Key.SKIP, m.Skip(counter=C)),
        ("rating", Key.CALL_NEXT, m.CallNext(counter=C)),
        ("paused", Key.RESUME, m.Resume(counter=C)),
        ("paused", Key.LOGOUT, m.Logout(counter=C)),
        ("closed", Key.RESUME, m.OpenCounter(counter=C)),
    ],
)
def test_keys_that_fit_send_their_command(status: str, key: Key, cmd: m.Command) -> None:
    assert in_state(status).key(press(key), 0.0).commands == [cmd]


def test_paused_shows_paused_on_both_pads() -> None:
    p = in_state("paused")
    assert (p.display.pad_text, p.display.keypad_text) == ("暂停服务", "暂停服务")


def test_transfer_by_counter_or_business_letter() -> None:
    p = in_state("serving", prefixes={"B": "personal"})
    assert p.key(press(Key.TRANSFER, counter=5), 0.0).commands == [m.Transfer(counter=C, to_counter=5)]
    p.state_update(bus("serving", "A007"))
    assert p.key(press(Key.TRANSFER, prefix="b"), 1.0).commands == [
        m.Transfer(counter=C, to_business="personal")
    ]
    for bad in (press(Key.TRANSFER, prefix="Z"), press(Key.TRANSFER, counter=C), press(Key.TRANSFER)):
        p.state_update(bus("serving", "A007"))
        assert p.key(bad, 2.0).commands == []


def test_a_double_press_does_not_call_two_customers() -> None:
    p = in_state("idle")
    assert p.key(press(Key.CALL_NEXT), 10.0).commands
    assert p.key(press(Key.CALL_NEXT), 10.2).commands == []
    assert p.key(press(Key.CALL_NEXT), 13.5).commands  # the core never answered: try again
    p.reply(False, "无人等候")
    assert p.display.keypad_text == "无人等候"
    assert p.key(press(Key.CALL_NEXT), 13.6).commands  # the refusal cleared the guard


def test_stars_only_while_waiting_for_a_rating() -> None:
    for status in ("idle", "called", "serving", "paused"):
        assert in_state(status).stars(5, 0.0) == Output()
    p = in_state("rating")
    assert p.stars(6, 0.0).commands == [] and p.stars(0, 0.0).commands == []
    assert p.stars(2, 0.0).commands == [m.Rate(counter=C, stars=2)]
    assert p.stars(5, 0.1).commands == []  # one rating per service
    assert in_state("rating", rating_scale=10).stars(9, 0.0).commands == [m.Rate(counter=C, stars=9)]


def test_the_bus_is_the_truth_even_after_a_restart() -> None:
    p = CounterPanel(C)
    p.state_update(bus("serving", "B012"))  # the panel restarts mid-service: no login, shows the number
    assert p.state is CounterStatus.SERVING and p.display.pad_text == "B012"
    assert p.state_update(m.CounterState(counter=C + 1, status=m.CounterStatus.IDLE)) == Output()
    assert p.state is CounterStatus.SERVING
    p.state_update(bus("closed", teller=""))
    assert p.state is LOGGED_OUT and p.display.keypad_text == "工号:"


def test_a_refused_login_starts_the_entry_again() -> None:
    p = CounterPanel(C)
    typed(p, "1001")
    typed(p, "9999")
    beeped = p.key(press(Key.DIGIT, digit=1), 0.0).display
    assert beeped is not None and beeped.beep
    out = p.reply(False, "密码错误")
    assert out.display is not None and out.display.beep and out.display.keypad_text == "密码错误"
    p.key(press(Key.DIGIT, digit=1), 1.0)
    assert p.display.keypad_text == "工号:1"


def test_clear_corrects_the_entry() -> None:
    p = CounterPanel(C)
    for d in "107":
        p.key(press(Key.DIGIT, digit=int(d)), 0.0)
    p.key(press(Key.CLEAR), 0.0)
    assert p.display.keypad_text == "工号:10"
    assert p.key(press(Key.ENTER), 0.0).commands == []
    assert p.display.keypad_text == "密码:"
    p.key(press(Key.CLEAR), 0.0)  # clear on an empty PIN goes back to the teller id
    assert p.display.keypad_text == "工号:"


@pytest.mark.parametrize("codec", ["qframe", "dlt645"])
@pytest.mark.parametrize(
    ("status", "sent", "cmd"),
    [
        ("idle", KeyPress(Key.CALL_NEXT), m.CallNext(counter=C)),
        ("called", KeyPress(Key.WELCOME), m.StartService(counter=C)),
        ("serving", KeyPress(Key.TRANSFER, counter=5), m.Transfer(counter=C, to_counter=5)),
        ("serving", KeyPress(Key.TRANSFER, prefix="B"), m.Transfer(counter=C, to_business="personal")),
    ],
)
def test_a_key_off_the_wire_drives_the_panel_as_it_is(codec: str, status: str, sent: KeyPress,
                                                      cmd: m.Command) -> None:
    """One key vocabulary (hw.keypad): what the bridge decodes is what the panel reads, no mapping."""
    wire = get_codec(codec).encode(key_frame(7, sent, seq=1))
    (frame,) = get_codec(codec).decoder().feed(wire)
    assert frame.key_press() == sent
    assert in_state(status, prefixes={"B": "personal"}).key(frame.key_press(), 0.0).commands == [cmd]


def test_preopening_check() -> None:
    line = SerialLine(
        port="/dev/ttyUSB0",
        heartbeat_timeout_s=10.0,
        devices=[SerialDevice(address=1, counter=3), SerialDevice(address=2, counter=3, kind="rating"),
                 SerialDevice(address=3, counter=4)],
    )
    check = check_pads(3, [(line, {1: 95.0, 2: 91.0})], now=100.0)
    assert check.ok and check.keypad_online and check.rating_online
    check = check_pads(3, [(line, {1: 95.0, 2: 80.0})], now=100.0)
    assert check.keypad_online and check.rating_online is False and not check.ok
    assert check.offline[0].silent_s == 20.0
    assert check_pads(3, [(line, {})], now=100.0).offline[0].silent_s is None
    none = check_pads(6, [(line, {})], now=100.0)
    assert none.ok and none.keypad_online is None and "软件面板" in none.summary()[0]


def test_software_panel_drives_the_same_machine() -> None:
    sent: list[m.Command] = []
    shown: list[str] = []
    ui = TerminalPanel(CounterPanel(C), sent.append, shown.append, clock=lambda: 0.0)
    prompts: list[tuple[str, bool]] = []
    script = iter(["1001", "1234", "n", "w", "bogus", "t 5", "quit", "never read"])

    def read_line(prompt: str, secret: bool) -> str | None:
        prompts.append((prompt, secret))
        line = next(script)
        if line == "n":  # the core answers the login before the teller's next line
            ui.on_state(bus("idle"))
        if line == "w":
            ui.on_state(bus("called", "A001"))
        if line == "t 5":
            ui.on_state(bus("serving", "A001"))
        return line

    ui.run(read_line)
    assert prompts[0] == ("工号 teller id: ", False) and prompts[1] == ("密码 PIN: ", True)
    assert sent == [
        m.Login(counter=C, teller="1001", pin="1234"),
        m.CallNext(counter=C),
        m.StartService(counter=C),
        m.Transfer(counter=C, to_counter=5),
    ]
    assert any(s.startswith("评价器 pad: A001") and "♪ welcome" in s for s in shown)
    assert any("bogus" in s for s in shown)
    assert not any("1234" in s for s in shown)  # the PIN is never printed


@pytest.mark.parametrize("status", list(CounterStatus))
def test_every_status_the_core_can_publish_is_shown_by_the_panel(status: CounterStatus) -> None:
    """One CounterStatus (qbus.messages) for core, bus and panel: each value survives the wire and
    the panel has something to show for it, with a teller signed in."""
    state = m.decode(m.encode(bus(status, "A007")), m.CounterState)
    assert isinstance(state, m.CounterState) and state.status is status
    p = CounterPanel(C)
    p.state_update(state)
    assert p.state is status and p.display.pad_text and p.display.keypad_text


def test_a_status_outside_the_vocabulary_is_refused_naming_the_field() -> None:
    with pytest.raises(PayloadError, match=r"status"):
        m.decode(b'{"counter":3,"status":"busy"}', m.CounterState)


def test_software_panel_pauses_with_a_reason_for_the_history() -> None:
    sent: list[m.Command] = []
    shown: list[str] = []
    ui = TerminalPanel(CounterPanel(C), sent.append, shown.append, clock=lambda: 0.0)
    for line in ("1001", "1234"):
        ui.handle_line(line)
    ui.on_state(bus("idle"))
    sent.clear()
    ui.handle_line("p nap")  # not a reason the history knows: nothing sent, the reasons listed
    assert sent == [] and "lunch" in shown[-1]
    ui.handle_line("p lunch")
    assert sent == [m.Pause(counter=C, reason="lunch")]
