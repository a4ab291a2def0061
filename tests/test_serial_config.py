"""Serial lines in the branch config: mistakes name their key."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from firmware_bridge.codec import codec_names, get_codec
from firmware_bridge.errors import CodecError
from qbus.config import ConfigError, loads
from qbus.config.sections import SerialCodec

EXAMPLE = (Path(__file__).resolve().parents[1] / "examples" / "branch.toml").read_text(encoding="utf-8")
LINE = """
[[serial]]
port = "/dev/ttyUSB0"
rs485 = true
rs485_mode = "{mode}"
codec = "{codec}"
devices = [{{ address = 1, counter = 1 }}, {{ address = 2, counter = 1, kind = "rating" }}]
"""


def test_a_serial_line_loads_with_defaults() -> None:
    cfg = loads(EXAMPLE + LINE.format(mode="pyserial", codec="dlt645"))
    line = cfg.serial[0]
    assert (line.baudrate, line.rs485_mode, line.heartbeat_timeout_s, line.retries) == (9600, "pyserial", 10.0, 3)
    assert [d.kind for d in line.devices] == ["keypad", "rating"]
    assert get_codec(line.codec).name == "dlt645"


def test_a_wrong_rs485_mode_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"serial\[0\]\.rs485_mode"):
        loads(EXAMPLE + LINE.format(mode="rts", codec="qframe"))


def test_an_unknown_codec_is_refused_with_the_known_ones() -> None:
    """check-config refuses it (not only the bridge at start), and names the codecs there are."""
    with pytest.raises(ConfigError, match=r"serial\[0\]\.codec: Invalid enum value 'vendorx' \(one of: 'dlt645', 'qframe'\)"):
        loads(EXAMPLE + LINE.format(mode="auto", codec="vendorx"))
    with pytest.raises(CodecError, match="vendorx.*known: dlt645, qframe"):
        get_codec("vendorx")
    assert set(typing.get_args(SerialCodec)) == set(codec_names())  # the config's list is the registry's
