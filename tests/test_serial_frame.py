"""Frames and codecs: every command round-trips, bad fields are refused, the bytes are the documented ones."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from firmware_bridge import dlt645, qframe
from firmware_bridge.codec import codec_names, get_codec
from firmware_bridge.dedup import Deduper
from firmware_bridge.errors import CodecError, FrameError
from firmware_bridge.frame import (
    Command,
    DeviceKind,
    Frame,
    TextEncoding,
    Voice,
    ack_frame,
    beep_frame,
    heartbeat_frame,
    key_frame,
    led_frame,
    stars_frame,
    time_frame,
    voice_frame,
)
from hw.keypad import Key, KeyPress

EVERY_FRAME = [
    key_frame(3, Key.CALL_NEXT, seq=5),
    key_frame(3, KeyPress(Key.TRANSFER, counter=12), seq=6),
    key_frame(3, KeyPress(Key.TRANSFER, prefix="B"), seq=7),
    key_frame(4, KeyPress(Key.DIGIT, digit=7), seq=8),
    *[key_frame(1, k) for k in Key if k not in (Key.DIGIT, Key.TRANSFER)],
    stars_frame(5, 4, seq=9),
    heartbeat_frame(5, DeviceKind.RATING, "1.2.3"),
    led_frame(5, "暂停服务", seq=1),
    led_frame(5, "A007", TextEncoding.GB18030, seq=2),
    voice_frame(5, Voice.THANKS, seq=3),
    beep_frame(5, 200, seq=4),
    time_frame(0, dt.datetime(2024, 5, 6, 9, 30, 15)),
    ack_frame(5, 0x7E, from_host=True),
    ack_frame(5, 0x7D, from_host=False),
]


@pytest.mark.parametrize("name", ["qframe", "dlt645"])
def test_every_frame_round_trips_in_one_stream(name: str) -> None:
    codec = get_codec(name)
    stream = b"".join(codec.encode(f) for f in EVERY_FRAME)
    got = codec.decoder().feed(stream)
    assert len(got) == len(EVERY_FRAME)
    for sent, back in zip(EVERY_FRAME, got, strict=True):
        assert (back.address, back.command) == (sent.address, sent.command)
        if codec.has_seq:
            assert back == sent
        elif sent.command is Command.LED_TEXT:
            assert back.text() == sent.text()  # dlt645 carries text as GB18030 only
        else:
            assert back.payload == sent.payload


@pytest.mark.parametrize("name", ["qframe", "dlt645"])
def test_byte_at_a_time_feeding_gives_the_same_frames(name: str) -> None:
    codec = get_codec(name)
    stream = b"".join(codec.encode(f) for f in EVERY_FRAME)
    dec = codec.decoder()
    got = [f for i in range(len(stream)) for f in dec.feed(stream[i : i + 1])]
    assert len(got) == len(EVERY_FRAME)
    assert dec.stats.discarded_bytes == 0


def test_typed_readers() -> None:
    assert key_frame(1, KeyPress(Key.TRANSFER, counter=12)).key_press() == KeyPress(Key.TRANSFER, counter=12)
    assert key_frame(1, KeyPress(Key.TRANSFER, prefix="B")).key_press().prefix == "B"
    assert key_frame(1, KeyPress(Key.DIGIT, digit=0)).key_press().digit == 0
    assert led_frame(2, "请评价", TextEncoding.GB18030).text() == "请评价"
    assert heartbeat_frame(2, DeviceKind.KEYPAD, "2.0.11").heartbeat().firmware == "2.0.11"
    assert time_frame(2, dt.datetime(2025, 1, 2, 3, 4, 5)).time() == dt.datetime(2025, 1, 2, 3, 4, 5)
    assert beep_frame(2, 150).beep_ms() == 150
    with pytest.raises(FrameError):
        stars_frame(1, 3).text()


@pytest.mark.parametrize(
    "make",
    [
        lambda: key_frame(33, Key.CALL_NEXT),  # address out of range
        lambda: key_frame(0, Key.CALL_NEXT),  # broadcast is host -> device only
        lambda: stars_frame(1, 0),
        lambda: stars_frame(1, 11),
        lambda: key_frame(1, KeyPress(Key.DIGIT, digit=10)),
        lambda: key_frame(1, KeyPress(Key.TRANSFER, counter=0)),
        lambda: key_frame(1, KeyPress(Key.TRANSFER, prefix="1")),
        lambda: led_frame(1, "很长" * 40),
        lambda: heartbeat_frame(1, DeviceKind.KEYPAD, "1.2"),
        lambda: Frame(1, Command.KEY, b"\x99"),
        lambda: Frame(1, Command.VOICE, b"\x09"),
        lambda: Frame(1, Command.SET_TIME, b"\x07\xe8\x02\x1e\x00\x00\x00"),  # 30 February
        lambda: Frame(1, Command.ACK, b"\x01"),
    ],
)
def test_bad_fields_are_refused_with_frame_error(make: Callable[[], Frame]) -> None:
    with pytest.raises(FrameError) as info:
        make()
    assert isinstance(info.value, ValueError)


def test_crc_is_ccitt_false_and_examples_match_the_docs() -> None:
    assert qframe.crc16(b"123456789") == 0x29B1
    codec = get_codec("qframe")
    assert codec.encode(key_frame(3, Key.CALL_NEXT, seq=5)).hex(" ") == "7e 03 05 01 01 01 57 bb 7e"
    # seq 0x7E must be stuffed so the flag never appears inside a frame
    assert codec.encode(ack_frame(5, 0x7E, from_host=True)).hex(" ") == "7e 05 7d 5e 86 00 4a b2 7e"
    d = get_codec("dlt645")
    assert d.encode(key_frame(3, Key.CALL_NEXT)).hex(" ") == "ff 68 02 02 68 03 81 ec 16"
    frame = d.encode(stars_frame(5, 4))
    assert frame[-2] == sum(frame[4:-2]) & 0xFF  # CS from the second 68 to the last data byte


def test_registry_names_the_known_codecs() -> None:
    assert {"qframe", "dlt645"} <= set(codec_names())
    with pytest.raises(CodecError, match="known: .*dlt645.*qframe") as info:
        get_codec("modbus")
    assert isinstance(info.value, LookupError)


def test_dlt645_with_vendor_offset_is_one_subclass() -> None:
    class Offset33(dlt645.Dlt645Codec):
        DATA_OFFSET = 0x33

    codec = Offset33()
    wire = codec.encode(stars_frame(2, 5))
    assert wire[7] == 5 + 0x33
    assert codec.decoder().feed(wire)[0].stars() == 5


def test_damaged_frames_are_counted_and_the_next_one_still_arrives() -> None:
    codec = get_codec("qframe")
    good = codec.encode(key_frame(1, Key.CALL_NEXT, seq=1))
    bad = bytearray(codec.encode(key_frame(1, Key.SKIP, seq=2)))
    bad[5] ^= 0x04
    dec = codec.decoder()
    got = dec.feed(bytes(bad) + b"\x13\x37" + good[:4] + good)
    assert [f.key_press().key for f in got] == [Key.CALL_NEXT]
    assert dec.stats.crc_errors >= 1
    assert dec.stats.discarded_bytes >= len(bad) - 2


def test_valid_crc_but_nonsense_is_invalid_not_delivered() -> None:
    body = bytes([1, 0, 0x02, 1, 0])  # STARS 0
    wire = bytes([0x7E]) + qframe.stuff(body + qframe.crc16(body).to_bytes(2, "big")) + bytes([0x7E])
    dec = get_codec("qframe").decoder()
    assert dec.feed(wire) == []
    assert dec.stats.invalid == 1


def test_endless_noise_without_flags_does_not_grow_the_buffer() -> None:
    dec = get_codec("qframe").decoder()
    assert isinstance(dec, qframe.QFrameDecoder)  # its buffer is what this test measures
    for _ in range(100):
        dec.feed(bytes(range(0x80, 0xF0)))
    assert len(dec._buf) <= qframe.MAX_STUFFED
    good = get_codec("qframe").encode(key_frame(2, Key.RECALL))
    assert len(dec.feed(good)) == 1


def test_dedup_by_seq_and_content_within_the_window() -> None:
    d = Deduper(window_s=5.0)
    f = key_frame(3, Key.CALL_NEXT, seq=9)
    assert d.accept(f, 100.0)
    assert not d.accept(f, 100.2)  # the resend
    assert d.accept(key_frame(3, Key.CALL_NEXT, seq=10), 100.3)  # a second, real press
    assert d.accept(key_frame(4, Key.CALL_NEXT, seq=9), 100.3)  # another device
    assert d.accept(key_frame(3, Key.RECALL, seq=9), 100.4)  # same seq, other content: rebooted pad
    assert d.accept(f, 200.0)  # long after: not a resend
    assert d.duplicates == 1


@pytest.mark.parametrize("name", ["qframe", "dlt645"])
def test_a_cut_long_frame_does_not_hold_back_the_short_one_after_it(name: str) -> None:
    codec = get_codec(name)
    long = codec.encode(led_frame(2, "欢迎光临欢迎光临", seq=1))
    short = codec.encode(key_frame(2, Key.CALL_NEXT, seq=2))
    dec = codec.decoder()
    # the line goes quiet after the short frame: it must come out now, not when more bytes arrive
    got = dec.feed(long[: len(long) // 3] + short)
    assert [f.command for f in got] == [Command.KEY]
    assert dec.feed(b"\x68\x40\x40\x68" + short)[0].command is Command.KEY  # a false start in noise
