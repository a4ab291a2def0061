"""Voice calling: clips made by espeak-ng are real audio, calls are joined in the right order,
a branch's own recordings win, and announcements never overlap on the (dummy) audio device."""

from __future__ import annotations

import array
import math
import threading
import wave
from pathlib import Path

import pytest

from display import clips as c
from display import phrase
from display.errors import ClipError, VoiceError
from display.voice import Announcer, MixerPlayer, RecordingPlayer
from qbus import messages as m
from qbus.config.sections import VoiceSection
from tests.display_helpers import (  # also puts SDL audio on the dummy driver
    EXAMPLE_WORDS,
    built_clips,
    wav_samples,
)

ALL_KEYS = sorted(c.catalogue(EXAMPLE_WORDS))
FREQ = {k: 200.0 + 25.0 * i for i, k in enumerate(ALL_KEYS)}  # a distinct tone per clip key


def tone(freq: float, seconds: float, rate: int = c.RATE, amp: float = 12000) -> array.array[int]:
    return array.array("h", (int(amp * math.sin(2 * math.pi * freq * i / rate))
                             for i in range(int(seconds * rate))))


def tone_dir(path: Path, seconds: float = 0.12, keys: list[str] | None = None) -> Path:
    """A clip folder where every word is a pure tone of its own pitch."""
    for k in keys or ALL_KEYS:
        c.write_wav(path / f"{k}.wav", tone(FREQ[k], seconds))
    return path


def segments(samples: array.array[int], gap_s: float = 0.04) -> list[array.array[int]]:
    """Split on runs of digital silence (the pauses between words)."""
    out, cur, zeros = [], array.array("h"), 0
    for x in samples:
        if x == 0:
            zeros += 1
            if zeros == int(gap_s * c.RATE) and len(cur) > zeros:
                out.append(cur[: len(cur) - zeros + 1])
                cur = array.array("h")
                continue
        else:
            zeros = 0
        if zeros < int(gap_s * c.RATE):
            cur.append(x)
    if any(cur):
        out.append(cur)
    return [s for s in out if any(s)]


def pitch(s: array.array[int]) -> float:
    crossings = sum(1 for a, b in zip(s, s[1:], strict=False) if (a < 0) != (b < 0))
    return crossings / 2 / (len(s) / c.RATE)


def key_of(s: array.array[int], freq: dict[str, float] = FREQ) -> str:
    """The clip key whose tone is nearest the segment's pitch."""
    f = pitch(s)
    return min(freq, key=lambda k: abs(freq[k] - f))


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_clips(tmp_path_factory)


def test_espeak_clips_are_made_for_every_word_and_are_real_audio(built: Path) -> None:
    files = sorted(built.glob("*.wav"))
    assert [f.stem for f in files] == ALL_KEYS
    for f in files:
        samples, rate = wav_samples(f)
        assert rate == c.RATE
        seconds = len(samples) / rate
        level = math.sqrt(sum(x * x for x in samples) / len(samples))
        assert level > 1000, f"{f.name} is (nearly) silent: RMS {level:.0f}"
        assert 0.08 < seconds < 1.6, f"{f.name} lasts {seconds:.2f} s"


def test_mandarin_words_are_said_not_spelt_with_english_tone_digits(built: Path) -> None:
    """The stock cmn dictionary reads 号 as "hao four"; the pinyin voice says one syllable."""
    for key in ("zh-hao", "zh-dao", "zh-qing", "zh-1"):
        samples, rate = wav_samples(built / f"{key}.wav")
        assert len(samples) / rate < 0.6, f"{key} is too long for one syllable"


def test_build_keeps_existing_clips_and_force_remakes_them(tmp_path: Path) -> None:
    made = c.build(tmp_path, keys=["zh-qing", "en-3"])
    assert {p.name for p in made} == {"zh-qing.wav", "en-3.wav"}
    assert c.build(tmp_path, keys=["zh-qing", "en-3"]) == []
    assert len(c.build(tmp_path, keys=["zh-qing"], force=True)) == 1


def test_build_without_espeak_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(VoiceError, match="espeak-ng"):
        c.build(tmp_path, espeak="no-such-espeak-binary")


def test_a_call_is_joined_from_its_words_in_order(tmp_path: Path) -> None:
    clips = c.ClipSet(tone_dir(tmp_path))
    parts = phrase.announcement("B207", 12)
    heard = [key_of(s) for s in segments(clips.render(parts))]
    assert heard == phrase.keys(parts)
    assert heard[:6] == ["zh-qing", "zh-B", "zh-2", "zh-0", "zh-7", "zh-hao"]
    assert heard[-2:] == ["en-counter", "en-12"]


def test_branch_recordings_override_generated_clips_one_by_one(built: Path, tmp_path: Path) -> None:
    own = tone_dir(tmp_path / "own", keys=["zh-qing"])
    clips = c.ClipSet(built, own)
    assert clips.path("zh-qing") == own / "zh-qing.wav"
    assert clips.path("zh-hao") == built / "zh-hao.wav"
    first = segments(clips.render(["zh-qing", 0.1, "zh-hao"]))[0]
    assert key_of(first) == "zh-qing" and abs(pitch(first) - FREQ["zh-qing"]) < 10


def test_recordings_in_other_wav_formats_are_converted(tmp_path: Path) -> None:
    src = tone(440.0, 0.5, rate=44100)
    path = tmp_path / "zh-qing.wav"
    with wave.open(str(path), "wb") as w:  # 8-bit unsigned stereo at 44.1 kHz
        w.setnchannels(2)
        w.setsampwidth(1)
        w.setframerate(44100)
        w.writeframes(bytes(b for x in src for b in ((x >> 8) + 128,) * 2))
    got = c.ClipSet(tmp_path).get("zh-qing")
    assert abs(len(got) / c.RATE - 0.5) < 0.03
    assert abs(pitch(got) - 440.0) < 10
    assert c.rms(got) > 1000


def test_a_broken_recording_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "zh-qing.wav").write_bytes(b"ID3\x03 this is an mp3, not a wav")
    with pytest.raises(ClipError, match="zh-qing.wav.*not a PCM WAV"):
        c.ClipSet(tmp_path).get("zh-qing")


def test_missing_clips_stop_voice_start_up_with_the_fix(tmp_path: Path) -> None:
    tone_dir(tmp_path, keys=ALL_KEYS[:10])
    with pytest.raises(VoiceError, match="qcall voice build"):
        Announcer.from_config(VoiceSection(clips_dir=str(tmp_path)), RecordingPlayer())


def test_silent_mode_has_no_announcer() -> None:
    assert Announcer.from_config(VoiceSection(enabled=False)) is None


class GatedPlayer(RecordingPlayer):
    """Plays only when the test lets it, so a burst can pile up behind the first call."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Semaphore(0)
        self.started = threading.Semaphore(0)

    def play(self, samples: array.array[int]) -> None:
        self.started.release()
        self.gate.acquire(timeout=10)
        self.played.append(samples)


def test_a_burst_of_calls_and_recalls_is_said_in_order_newest_kept(tmp_path: Path) -> None:
    clips = c.ClipSet(tone_dir(tmp_path, seconds=0.02))
    player = GatedPlayer()
    ann = Announcer(clips, player, repeat=2, english=False, max_pending=3)
    try:
        ann.announce(m.TicketCalled(at=0, number="A001", counter=1, business="cash", tier="normal",
                                    waited_s=0))
        assert player.started.acquire(timeout=5)  # A001 is being said now
        for n, counter in (("A002", 2), ("B001", 3), ("C001", 4), ("A003", 2)):
            ann.announce(m.TicketCalled(at=0, number=n, counter=counter, business="cash",
                                        tier="normal", waited_s=0))
        ann.announce(m.TicketRecalled(at=0, number="A001", counter=1, recalls=1))
        for _ in range(20):
            player.gate.release()
        assert ann.wait_idle(10)
    finally:
        ann.close()
    said = [(h.number, h.counter, h.recall, h.repeat) for h in ann.history]
    # A001 is said once (others were waiting, so no repeat). A003 took counter 2's place from
    # A002; then the recall of A001 made four waiting, so the oldest slot (counter 2) was dropped.
    # The recall, newest, is said last, and repeated because nothing waits behind it.
    assert said == [("A001", 1, 0, 1), ("B001", 3, 0, 1), ("C001", 4, 0, 1), ("A001", 1, 1, 1),
                    ("A001", 1, 1, 2)]
    assert [d.number for d in ann.dropped] == ["A002", "A003"]


def test_announcements_play_through_the_mixer_one_after_another(tmp_path: Path) -> None:
    clips = c.ClipSet(tone_dir(tmp_path, seconds=0.03))
    player = MixerPlayer()
    ann = Announcer(clips, player, repeat=2, english=False, max_pending=4)
    try:
        for n, counter in (("A1", 1), ("B2", 2)):
            ann.announce(m.TicketCalled(at=0, number=n, counter=counter, business="cash",
                                        tier="normal", waited_s=0))
        assert ann.wait_idle(20)
    finally:
        ann.close()
        ann.close()  # safe twice
    said = [(h.number, h.repeat) for h in ann.history]
    assert said == [("A1", 1), ("B2", 1), ("B2", 2)]  # A1 not repeated: B2 was waiting
    for a, b in zip(ann.history, ann.history[1:], strict=False):
        assert b.started >= a.ended, "announcements overlapped"
    expected = len(clips.render(phrase.announcement("A1", 1, with_english=False))) / c.RATE
    assert all(h.ended - h.started >= expected * 0.9 for h in ann.history), "audio cut short"
    assert player.overlaps == 0


def test_the_english_call_names_the_counter_as_its_sign_does(tmp_path: Path) -> None:
    """"VIP Counter 5" is said "... please go to VIP counter five", not "counter five"."""
    keys = sorted(c.catalogue(["vip"]))
    freq = {k: 200.0 + 25.0 * i for i, k in enumerate(keys)}
    for k in keys:
        c.write_wav(tmp_path / f"{k}.wav", tone(freq[k], 0.12))
    voice = VoiceSection(clips_dir=str(tmp_path), repeat=1)
    player = RecordingPlayer()
    ann = Announcer.from_config(voice, player, names_en={5: "VIP Counter 5", 1: "Counter 1"})
    assert ann is not None
    try:
        ann.announce(m.TicketCalled(at=0.0, number="A014", counter=5, business="cash", tier="vip", waited_s=0.0))
        assert ann.wait_idle(10)
        heard = [key_of(s, freq) for s in segments(player.played[0])]
        assert heard[-5:] == ["en-go", "en-to", "en-w-vip", "en-counter", "en-5"]
    finally:
        ann.close()
    assert phrase.keys(phrase.english("A001", 1, "Counter 1"))[-2:] == ["en-counter", "en-1"]


def test_a_missing_name_word_clip_is_reported() -> None:
    clips = c.ClipSet("/nonexistent")
    assert "en-w-vip" in clips.missing(words=["vip"])
