"""The codec seam: one small interface, so a vendor's framing is one new module.

A codec turns a `Frame` into bytes and gives a stream `Decoder` that is fed whatever chunks the
serial port returns (half a frame, three frames, noise) and hands back only frames that passed
every check. Codecs are looked up by the name in config (`serial[].codec`); built-in ones load
lazily, others join with `@register`.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Protocol

from firmware_bridge.errors import CodecError
from firmware_bridge.frame import Frame


@dataclass(slots=True)
class DecoderStats:
    """What the decoder threw away, for the bridge's health report.

    `crc_errors` counts damaged frame candidates (checksum or length wrong), `invalid` counts
    candidates whose checksum was right but whose fields make no sense, `discarded_bytes` every
    byte that did not end up in a delivered frame.
    """

    frames: int = 0
    crc_errors: int = 0
    invalid: int = 0
    discarded_bytes: int = 0


class Decoder(Protocol):
    """A stateful stream decoder; `feed` never raises on bad input, it counts and resyncs."""

    stats: DecoderStats

    def feed(self, data: bytes) -> list[Frame]: ...

    def reset(self) -> None:
        """Forget a partial frame (after the port was reopened)."""


class Codec(ABC):
    """One framing. `has_seq` says whether frames carry a sequence number (de-dup and resends)."""

    name: ClassVar[str]
    has_seq: ClassVar[bool]

    @abstractmethod
    def encode(self, frame: Frame) -> bytes:
        """The exact bytes to put on the wire for `frame` (raises FrameError if it cannot)."""

    @abstractmethod
    def decoder(self) -> Decoder:
        """A fresh stream decoder."""


_BUILTIN = {"qframe": "firmware_bridge.qframe", "dlt645": "firmware_bridge.dlt645"}
_REGISTRY: dict[str, type[Codec]] = {}


def register(cls: type[Codec]) -> type[Codec]:
    """Class decorator: make a codec available by its `name`."""
    _REGISTRY[cls.name] = cls
    return cls


def codec_names() -> list[str]:
    return sorted(set(_BUILTIN) | set(_REGISTRY))


def get_codec(name: str) -> Codec:
    """A codec instance for the config name; CodecError names the known ones."""
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise CodecError(
            f"unknown serial codec {name!r}; known: {', '.join(codec_names())}", zh=f"未知的串口协议 {name}"
        ) from None
