"""Line noise: no damaged frame is ever delivered, every intact frame is, and resync is immediate.

Damage per frame is what the checks can prove: for qframe up to 3 flipped bits (CRC-16/CCITT has
Hamming distance 4 at these lengths), a dropped or inserted byte, a cut; for dlt645 (an 8-bit sum)
a single flipped bit or a cut. Noise between frames is arbitrary bytes at a high rate. Hypothesis is
derandomized, so the run is the same every time.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.codec import Codec, get_codec
from firmware_bridge.frame import DeviceKind, Frame, heartbeat_frame, key_frame, led_frame, stars_frame
from hw.keypad import Key, KeyPress

FUZZ = settings(max_examples=25, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_frame(i: int, kind: int, arg: int, *, has_seq: bool = True) -> Frame:
    """Frame i, told apart by (address, seq) in qframe and by content in dlt645 (no seq there)."""
    address, seq = 1 + (i // 256) % 32, i % 256
    if not has_seq:
        address, seq, kind = 1 + i % 32, 0, (0, 2, 3)[kind % 3]
    if kind == 0:
        return key_frame(address, KeyPress(Key.TRANSFER, counter=1 + i % 999), seq)
    if kind == 1:
        return stars_frame(address, 1 + arg % 5, seq)
    if kind == 2:
        return heartbeat_frame(address, DeviceKind.KEYPAD, f"1.{i % 256}.{arg % 256}", seq)
    if kind == 3:
        return led_frame(address, f"A{i:04d}", seq=seq)
    return key_frame(address, KeyPress(Key.DIGIT, digit=arg % 10), seq)


def damage(wire: bytes, how: str, rng: random.Random) -> bytes:
    b = bytearray(wire)
    if how == "flip1":
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif how == "flip3":
        for pos in rng.sample(range(len(b) * 8), rng.randint(2, 3)):
            b[pos // 8] ^= 1 << (pos % 8)
    elif how == "drop":
        del b[rng.randrange(1, len(b) - 1)]
    elif how == "insert":
        b.insert(rng.randrange(1, len(b) - 1), rng.randrange(256))
    elif how == "cut":
        del b[rng.randrange(1, len(b) - 1) :]
    return bytes(b)


def run_stream(codec: Codec, plan: list[tuple[int, int, str, bytes]], seed: int, chunking: int) -> None:
    rng = random.Random(seed)
    frames, stream, intact, ends = [], bytearray(), [], []
    for i, (kind, arg, how, noise) in enumerate(plan):
        frame = make_frame(i, kind, arg, has_seq=codec.has_seq)
        wire = codec.encode(frame)
        damaged = damage(wire, how, rng) if how != "none" else wire
        frames.append(frame)
        intact.append(damaged == wire)
        stream += noise + damaged
        ends.append(len(stream))
    last = key_frame(1, Key.RECALL, 0)  # an intact frame at the very end, with nothing after it
    stream += codec.encode(last)
    frames.append(last)
    intact.append(True)
    ends.append(len(stream))

    dec = codec.decoder()
    got: list[tuple[Frame, int, int]] = []  # frame, and the stream span of the chunk that produced it
    pos = 0
    while pos < len(stream):
        step = rng.randint(1, chunking)
        got += [(f, pos, pos + step) for f in dec.feed(bytes(stream[pos : pos + step]))]
        pos += step

    def same(a: Frame, b: Frame) -> bool:
        return a == b if codec.has_seq else (a.address, a.command, a.payload) == (b.address, b.command, b.payload)

    # Every delivered frame is one that was sent, in order; every intact one is there, and it comes
    # out of the very chunk that holds its last byte: resync costs at most the damaged frame itself.
    j = 0
    for back, start, end in got:
        while j < len(frames) and not same(back, frames[j]):
            assert not intact[j], f"intact frame {j} ({frames[j]}) was lost"
            j += 1
        assert j < len(frames), f"false frame delivered: {back}"
        if intact[j]:
            assert start < ends[j] <= end, f"intact frame {j} delivered late"
        j += 1
    assert all(not ok for ok in intact[j:]), "intact frames missing at the end"
    assert dec.stats.frames == len(got)


QFRAME_DAMAGE = st.sampled_from(["none", "none", "flip1", "flip3", "drop", "insert", "cut"])
DLT_DAMAGE = st.sampled_from(["none", "none", "flip1", "cut"])
NOISE = st.one_of(st.just(b""), st.binary(min_size=1, max_size=40))
PLAN = st.tuples(st.integers(0, 4), st.integers(0, 255))


@FUZZ
@given(
    plan=st.lists(st.tuples(PLAN, QFRAME_DAMAGE, NOISE), min_size=50, max_size=200),
    seed=st.integers(0, 2**32),
    chunking=st.integers(1, 64),
)
def test_qframe_noise_never_yields_a_false_frame(plan: list[tuple[tuple[int, int], str, bytes]], seed: int, chunking: int) -> None:
    run_stream(get_codec("qframe"), [(k, a, how, noise) for (k, a), how, noise in plan], seed, chunking)


@FUZZ
@given(
    plan=st.lists(st.tuples(PLAN, DLT_DAMAGE, NOISE), min_size=50, max_size=200),
    seed=st.integers(0, 2**32),
    chunking=st.integers(1, 64),
)
def test_dlt645_noise_never_yields_a_false_frame(plan: list[tuple[tuple[int, int], str, bytes]], seed: int, chunking: int) -> None:
    run_stream(get_codec("dlt645"), [(k, a, how, noise) for (k, a), how, noise in plan], seed, chunking)


def test_thousands_of_frames_in_heavy_garbage() -> None:
    """5000 frames, as many garbage bytes as frame bytes, a third of the frames damaged."""
    rng = random.Random(20240506)
    kinds = ["none", "none", "flip1", "flip3", "drop", "insert", "cut"]
    plan = [
        (rng.randrange(5), rng.randrange(256), rng.choice(kinds), rng.randbytes(rng.randrange(0, 30)))
        for _ in range(5000)
    ]
    run_stream(get_codec("qframe"), plan, seed=7, chunking=256)


def test_pure_garbage_yields_nothing_and_is_counted() -> None:
    rng = random.Random(1)
    for name in ("qframe", "dlt645"):
        dec = get_codec(name).decoder()
        garbage = rng.randbytes(200_000)
        assert dec.feed(garbage) == []
        assert dec.stats.frames == 0
        assert dec.stats.discarded_bytes > 150_000
