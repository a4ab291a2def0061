"""docs/serial-protocol.md shows the bytes the codecs really produce."""

from __future__ import annotations

import pytest

from firmware_bridge.codec import get_codec
from firmware_bridge.examples import DOC, render, section
from firmware_bridge.frame import key_frame
from hw.keypad import Key


@pytest.mark.parametrize("name", ["qframe", "dlt645"])
def test_generated_examples_match_the_codec(name: str) -> None:
    assert section(DOC.read_text(encoding="utf-8"), name) == render(name), (
        "run: .venv/bin/python -m firmware_bridge.examples"
    )


def test_annotated_example_is_right() -> None:
    wire = get_codec("qframe").encode(key_frame(3, Key.CALL_NEXT, seq=0x10))
    assert "7E   03     10    01    01    01          F0 59    7E" in DOC.read_text(encoding="utf-8")
    assert wire.hex(" ").upper() == "7E 03 10 01 01 01 F0 59 7E"
