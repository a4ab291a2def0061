"""Identity readers over real pyserial on ptys (and key-event decoding for USB stripe readers)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from hw.idcard import (
    CMD_READ,
    FrameParser,
    IdCardReader,
    IdCardTwin,
    build_frame,
    check_digit,
    valid_id_number,
)
from hw.identity import (
    FrameError,
    Presented,
    ReaderError,
    ReaderOffline,
    ReaderThread,
    Secret,
    UnreadableCard,
)
from hw.magcard import (
    KeySwipeDecoder,
    MagCardTwin,
    SerialMagReader,
    keystrokes,
    luhn_complete,
    luhn_ok,
    parse_swipe,
    swipe_text,
)
from hw.passbook import PassbookReader, PassbookTwin, decode_line, encode_line
from tests.kiosk_fixtures import PLAIN_CARD, VIP_CARD, id_card, id_number

# -- the identity interface ----------------------------------------------------------------------


def test_secret_never_shows_the_number() -> None:
    s = Secret("6222021000123456781")
    p = Presented(kind="bank_card", number=s, name="张三", birth_date=date(1949, 3, 1))
    for text in (repr(s), str(s), f"{s}", repr(p), str(p), f"{p}"):
        assert "6222" not in text and "张三" not in text and "1949" not in text
    assert bytes(s.view()) == b"6222021000123456781"
    p.wipe()
    p.wipe()
    assert len(s) == 0 and bytes(s.view()) == b""


def test_secret_refuses_pickling() -> None:
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Secret("1234"))


def test_errors_inherit_builtins() -> None:
    assert issubclass(UnreadableCard, ValueError) and issubclass(FrameError, UnreadableCard)
    assert issubclass(ReaderOffline, OSError) and issubclass(ReaderOffline, ReaderError)


# -- ID card -------------------------------------------------------------------------------------


def test_gb11643_check_digit() -> None:
    assert check_digit("11010519491231002") == "X"
    assert valid_id_number("11010519491231002X")
    assert not valid_id_number("110105194912310021")
    assert not valid_id_number("11010519491331002" + check_digit("11010519491331002"))  # month 13


def test_frame_roundtrip_and_bad_checksum() -> None:
    frame = build_frame(b"\x20\x01")
    assert frame == bytes.fromhex("aaaaaa9669000320 0122".replace(" ", ""))
    parser = FrameParser()
    assert parser.feed(b"\x00noise" + frame[:4]) == []
    assert parser.feed(frame[4:]) == [b"\x20\x01"]
    bad = bytearray(frame)
    bad[-1] ^= 0xFF
    with pytest.raises(FrameError, match="checksum"):
        FrameParser().feed(bytes(bad))


IdRig = tuple[IdCardTwin, IdCardReader]


@pytest.fixture
def id_reader() -> Iterator[IdRig]:
    twin = IdCardTwin()
    reader = IdCardReader(twin.port)
    yield twin, reader
    reader.close()
    twin.close()


def test_id_card_read_once_per_placement(id_reader: IdRig) -> None:
    twin, reader = id_reader
    assert reader.read(0.2) is None
    card = id_card("欧阳娜娜", "19500615", "2")
    twin.place(card)
    got = reader.read(2.0)
    assert got is not None and got.kind == "id_card"
    assert got.name == "欧阳娜娜" and got.sex == "F" and got.birth_date == date(1950, 6, 15)
    assert bytes(got.number.view()).decode() == card.id_number
    assert reader.read(0.3) is None  # still on the reader: not read again
    twin.remove()
    assert reader.read(0.3) is None
    twin.place(card)
    assert reader.read(2.0) is not None


def test_id_card_with_bad_check_digit_is_unreadable(id_reader: IdRig) -> None:
    twin, reader = id_reader
    good = id_card()
    wrong = "0" if good.id_number[-1] != "0" else "1"
    twin.place(replace(good, id_number=good.id_number[:-1] + wrong))
    with pytest.raises(UnreadableCard, match="GB 11643") as info:
        reader.read(2.0)
    assert good.id_number[:-1] not in str(info.value)
    assert reader.read(0.3) is None  # reported once; lift and place again


def test_id_birth_field_must_match_number(id_reader: IdRig) -> None:
    twin, reader = id_reader
    card = id_card()
    twin.place(replace(card, birth="19490302"))
    with pytest.raises(UnreadableCard):
        reader.read(2.0)


def test_corrupt_frame_is_retried_once(id_reader: IdRig) -> None:
    twin, reader = id_reader
    twin.corrupt_next_read()
    twin.place(id_card())
    got = reader.read(3.0)
    assert got is not None
    assert twin.commands.count(CMD_READ) == 2


def test_id_reader_that_does_not_answer_is_offline() -> None:
    twin = IdCardTwin()
    twin.go_silent()
    try:
        with pytest.raises(ReaderOffline):
            IdCardReader(twin.port, answer_s=0.2)
    finally:
        twin.close()


def test_missing_port_is_offline(tmp_path: Path) -> None:
    with pytest.raises(ReaderOffline):
        IdCardReader(str(tmp_path / "ttyNONE"))
    with pytest.raises(ReaderOffline):
        SerialMagReader(str(tmp_path / "ttyNONE"))
    with pytest.raises(ReaderOffline):
        PassbookReader(str(tmp_path / "ttyNONE"))


# -- magnetic stripe -----------------------------------------------------------------------------


def test_parse_track2_and_track1_name() -> None:
    p = parse_swipe(swipe_text(VIP_CARD, name="SMITH/JOHN"))
    assert p.kind == "bank_card" and bytes(p.number.view()).decode() == VIP_CARD
    assert p.name == "JOHN SMITH"


@pytest.mark.parametrize(
    "line",
    [
        ";E?",
        "garbage without tracks",
        f";{VIP_CARD[:-1]}{(int(VIP_CARD[-1]) + 1) % 10}=2912220?",  # Luhn fails: a misread digit
        f"%B{PLAIN_CARD}^X/Y^2912?;{VIP_CARD}=2912?",  # tracks disagree
    ],
)
def test_bad_swipes_are_unreadable(line: str) -> None:
    with pytest.raises(UnreadableCard):
        parse_swipe(line)


def test_luhn() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112") and not luhn_ok("41111")
    assert luhn_complete("411111111111111") == "4111111111111111"
    for body in ("62220210000000000", "621700000011112222", "6222021000000000001"[:18]):
        card = luhn_complete(body)
        assert luhn_ok(card) and sum(luhn_ok(card[:-1] + d) for d in "0123456789") == 1


def _events(text: str, start: float = 100.0, step: float = 0.004) -> list[tuple[int, int, float]]:
    return [(code, value, start + i * step) for i, (code, value) in enumerate(keystrokes(text))]


def test_key_events_decode_to_track2() -> None:
    dec = KeySwipeDecoder()
    lines = [line for c, v, t in _events(swipe_text(VIP_CARD, name="SMITH/JOHN"))
             if (line := dec.feed(c, v, t)) is not None]
    assert len(lines) == 1
    p = parse_swipe(lines[0])
    assert bytes(p.number.view()).decode() == VIP_CARD and p.name == "JOHN SMITH"


def test_key_repeat_and_stale_prefix_are_ignored() -> None:
    dec = KeySwipeDecoder(gap_s=0.5)
    for c, v, t in _events("123", start=0.0)[:-2]:
        dec.feed(c, v, t)  # a half line typed long ago, no Enter
    events = _events(swipe_text(PLAIN_CARD), start=10.0)
    events.insert(3, (events[2][0], 2, events[2][2]))  # autorepeat event: ignored
    lines = [line for c, v, t in events if (line := dec.feed(c, v, t)) is not None]
    assert lines == [swipe_text(PLAIN_CARD)]


def test_evdev_events_decode_like_a_device_sends_them() -> None:
    from dataclasses import dataclass

    from hw.magcard import EV_KEY, decode_events

    @dataclass
    class Ev:  # the shape of evdev.InputEvent
        type: int
        code: int
        value: int
        t: float

        def timestamp(self) -> float:
            return self.t

    sync = [Ev(0, 0, 0, 100.0)]  # EV_SYN between keys: skipped
    events = sync + [Ev(EV_KEY, c, v, t) for c, v, t in _events(swipe_text(VIP_CARD))] + sync
    lines = decode_events(KeySwipeDecoder(), events)
    assert lines == [swipe_text(VIP_CARD)]


def test_evdev_reader_needs_the_extra_or_a_device(tmp_path: Path) -> None:
    from hw.magcard import EvdevMagReader

    with pytest.raises(ReaderError):
        EvdevMagReader(str(tmp_path / "event99"))


def test_serial_stripe_reader_on_pty() -> None:
    twin = MagCardTwin()
    reader = SerialMagReader(twin.port)
    try:
        assert reader.read(0.1) is None
        twin.swipe(VIP_CARD)
        got = reader.read(2.0)
        assert got is not None and bytes(got.number.view()).decode() == VIP_CARD
        twin.swipe_raw(b"\x02;E?\x03")
        with pytest.raises(UnreadableCard):
            reader.read(2.0)
        twin.swipe(PLAIN_CARD)  # a bad swipe loses nothing after it
        got = reader.read(2.0)
        assert got is not None and bytes(got.number.view()).decode() == PLAIN_CARD
    finally:
        reader.close()
        twin.close()


# -- passbook ------------------------------------------------------------------------------------


def test_passbook_line_checksum() -> None:
    assert decode_line(encode_line("PB,6228480012345678")) == "PB,6228480012345678"
    line = bytearray(encode_line("PB,6228480012345678"))
    line[5] ^= 1
    with pytest.raises(FrameError):
        decode_line(bytes(line))


def test_passbook_reader_on_pty() -> None:
    twin = PassbookTwin()
    reader = PassbookReader(twin.port)
    try:
        assert twin.armed.wait(2.0)
        assert twin.insert("62284800123456789")
        got = reader.read(2.0)
        assert got is not None and got.kind == "passbook"
        assert bytes(got.number.view()).decode() == "62284800123456789"
        assert twin.armed.wait(2.0)  # ejected and re-armed for the next customer
        assert twin.commands[-2:] == ["EJ", "RD"]
        twin.insert_blank()
        with pytest.raises(UnreadableCard):
            reader.read(2.0)
        assert twin.armed.wait(2.0)
        twin.corrupt_next()
        twin.insert("62284800123456789")
        with pytest.raises(FrameError):
            reader.read(2.0)
        assert twin.armed.wait(2.0)
        assert twin.insert("62284800999999999")
        got = reader.read(2.0)
        assert got is not None and bytes(got.number.view()).decode() == "62284800999999999"
    finally:
        reader.close()
        twin.close()


def test_passbook_not_armed_refuses_insert() -> None:
    twin = PassbookTwin()
    try:
        assert not twin.insert("62284800123456789")
    finally:
        twin.close()


# -- reader thread -------------------------------------------------------------------------------


def test_reader_thread_hands_over_presented_and_errors(caplog: pytest.LogCaptureFixture) -> None:
    import threading

    twin = MagCardTwin()
    reader = SerialMagReader(twin.port)
    got: list[Presented] = []
    errors: list[ReaderError] = []
    seen = threading.Event()

    def on_presented(p: Presented) -> None:
        got.append(p)
        seen.set()

    def on_error(e: ReaderError) -> None:
        errors.append(e)
        seen.set()

    caplog.set_level(logging.DEBUG)
    thread = ReaderThread(reader, on_presented, on_error, poll_s=0.05)
    try:
        twin.swipe_raw(";E?")
        assert seen.wait(2.0)
        seen.clear()
        twin.swipe(VIP_CARD)
        assert seen.wait(2.0)
    finally:
        thread.close()
        reader.close()
        twin.close()
    assert len(errors) == 1 and isinstance(errors[0], UnreadableCard)
    assert len(got) == 1
    assert VIP_CARD not in caplog.text


def test_id_number_helper_matches_gb11643() -> None:
    assert valid_id_number(id_number("440304", "19490301", "123"))
