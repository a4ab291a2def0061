"""Worked examples for docs/serial-protocol.md, made by the codecs themselves.

The doc holds the rendered tables between marker comments; a test checks they still match, and
`python -m firmware_bridge.examples` rewrites them after a protocol change.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from firmware_bridge.codec import get_codec
from firmware_bridge.frame import (
    BROADCAST,
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

DOC = Path(__file__).resolve().parents[1] / "docs" / "serial-protocol.md"
_KEY_NAMES = {
    Key.CALL_NEXT: "叫号 call next", Key.RECALL: "重呼 recall", Key.SKIP: "过号 skip",
    Key.PAUSE: "暂停 pause", Key.RESUME: "恢复 resume", Key.WELCOME: "欢迎光临 welcome",
    Key.RATE: "客户评价 rate", Key.LOGOUT: "退出 logout", Key.ENTER: "确认 enter", Key.CLEAR: "清除 clear",
}


def examples() -> list[tuple[str, Frame]]:
    """(what, frame): one per command and key. Keypad at address 3, rating pad at address 4."""
    out: list[tuple[str, Frame]] = []
    seq = 0x10
    for key, name in _KEY_NAMES.items():
        out.append((f"KEY {name}", key_frame(3, key, seq)))
        seq += 1
    out += [
        ("KEY transfer 转移 to counter 5", key_frame(3, KeyPress(Key.TRANSFER, counter=5), 0x1A)),
        ("KEY transfer 转移 to business B", key_frame(3, KeyPress(Key.TRANSFER, prefix="B"), 0x1B)),
        ("KEY digit 7 (login entry)", key_frame(3, KeyPress(Key.DIGIT, digit=7), 0x1C)),
        ("STARS 5 (rating pad)", stars_frame(4, 5, 0x20)),
        ("HEARTBEAT rating pad, firmware 1.2.0", heartbeat_frame(4, DeviceKind.RATING, "1.2.0", 0x21)),
        ("DEV_ACK from the keypad for host seq 0x7E", ack_frame(3, 0x7E, from_host=False)),
        ("LED_TEXT \"A007\" (UTF-8)", led_frame(4, "A007", TextEncoding.UTF8, 0x30)),
        ("LED_TEXT \"暂停服务\" (GB18030)", led_frame(4, "暂停服务", TextEncoding.GB18030, 0x31)),
        ("LED_TEXT \"欢迎光临\" (UTF-8)", led_frame(4, "欢迎光临", TextEncoding.UTF8, 0x32)),
        ("LED_TEXT \"请评价\" (GB18030)", led_frame(4, "请评价", TextEncoding.GB18030, 0x33)),
        ("VOICE welcome 欢迎光临", voice_frame(4, Voice.WELCOME, 0x34)),
        ("VOICE please_rate 请您对我的服务进行评价", voice_frame(4, Voice.PLEASE_RATE, 0x35)),
        ("VOICE thanks 谢谢", voice_frame(4, Voice.THANKS, 0x36)),
        ("BEEP 200 ms", beep_frame(3, 200, 0x37)),
        ("SET_TIME 2024-05-06 08:59:30, broadcast", time_frame(BROADCAST, dt.datetime(2024, 5, 6, 8, 59, 30), 0x38)),
        ("ACK from the host for keypad seq 0x10", ack_frame(3, 0x10, from_host=True)),
    ]
    return out


def render(codec_name: str) -> str:
    codec = get_codec(codec_name)
    rows = ["| frame | bytes on the wire (hex) | ms at 9600 |", "|---|---|---|"]
    for what, frame in examples():
        wire = codec.encode(frame)
        rows.append(f"| {what} | `{wire.hex(' ').upper()}` | {len(wire) * 10 / 9.6:.1f} |")
    return "\n".join(rows)


def _marker(name: str) -> tuple[str, str]:
    return f"<!-- examples:{name}:begin -->", f"<!-- examples:{name}:end -->"


def section(text: str, name: str) -> str:
    """The generated part of the doc for one codec."""
    begin, end = _marker(name)
    return text.split(begin, 1)[1].split(end, 1)[0].strip()


def rewrite(path: Path = DOC) -> None:
    text = path.read_text(encoding="utf-8")
    for name in ("qframe", "dlt645"):
        begin, end = _marker(name)
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{render(name)}\n{end}{tail}"
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    rewrite(Path(sys.argv[1]) if len(sys.argv) > 1 else DOC)
