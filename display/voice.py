"""Voice calling: calls and recalls are queued and said one at a time through pygame's mixer.

`Announcer.announce()` never blocks the screen: it files the call in the AnnouncementQueue
(display.announce, which decides order, collapsing and the bounded backlog) and a single worker
thread says them, so two announcements can never overlap. Each saying is the call's clips joined
into one buffer (display.clips + display.phrase) and played in one go, so words never drift apart.

The player is a seam (one `play(samples)` method, like python-escpos's `_raw`): `MixerPlayer`
is the real one; `RecordingPlayer` is its twin for tests and for a box with no sound card, which
keeps what would have been played.

Silent mode (`[voice] enabled = false`) queues nothing and opens no audio device.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from display import clips as c
from display import phrase
from display.announce import Announcement, AnnouncementQueue
from display.errors import VoiceError
from qbus import messages as m
from qbus.config.sections import VoiceSection

_LOG = logging.getLogger(__name__)


class Player(Protocol):
    def play(self, samples: c.Samples) -> None:
        """Play 16-bit mono PCM at clips.RATE; return when it has finished."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class Played:
    """One saying, as recorded by the announcer (what a listener in the hall heard)."""

    number: str
    counter: int
    recall: int
    repeat: int
    started: float
    ended: float


class MixerPlayer:
    """pygame.mixer on the default audio device (SDL_AUDIODRIVER=dummy in tests)."""

    def __init__(self) -> None:
        import pygame

        self._pg = pygame
        self._stop = threading.Event()
        self.overlaps = 0
        try:
            pygame.mixer.pre_init(c.RATE, -16, 1, 1024)
            pygame.mixer.init()
        except pygame.error as err:
            raise VoiceError(f"no audio output for voice calling: {err}", zh="无法打开音频设备") from err
        got = pygame.mixer.get_init()
        if got is None or got[1] != -16:
            self.close()
            raise VoiceError(f"audio device gave format {got}; need 16-bit signed")
        self.rate, self.channels = got[0], got[2]

    def play(self, samples: c.Samples) -> None:
        pg = self._pg
        if pg.mixer.get_busy():
            self.overlaps += 1  # someone else is playing on our device; never from us
            _LOG.warning("voice: audio device busy before an announcement")
        data = samples if self.rate == c.RATE else c._resample(samples, c.RATE, self.rate)
        raw = data.tobytes()
        if self.channels > 1:
            raw = _interleave(data, self.channels)
        sound = pg.mixer.Sound(buffer=raw)
        channel = sound.play()
        # Sleep for most of the clip, then poll: the mixer has no thread-safe "finished" signal.
        if self._stop.wait(max(0.0, sound.get_length() - 0.05)):
            sound.stop()
            return
        while channel.get_busy() and not self._stop.wait(0.01):
            pass

    def close(self) -> None:
        self._stop.set()
        if self._pg.mixer.get_init() is not None:
            self._pg.mixer.quit()


def _interleave(data: c.Samples, channels: int) -> bytes:
    import array

    out = array.array("h", bytes(2 * len(data) * channels))
    for ch in range(channels):
        out[ch::channels] = data
    return out.tobytes()


class RecordingPlayer:
    """The twin: keeps every buffer it is asked to play, takes `seconds_per_play` to 'play' it."""

    def __init__(self, seconds_per_play: float = 0.0) -> None:
        self.played: list[c.Samples] = []
        self.delay = seconds_per_play
        self._stop = threading.Event()
        self.playing = threading.Event()

    def play(self, samples: c.Samples) -> None:
        self.playing.set()
        self.played.append(samples)
        self._stop.wait(self.delay)
        self.playing.clear()

    def close(self) -> None:
        self._stop.set()


class Announcer:
    """Says calls and recalls, one at a time, newest never lost behind a backlog."""

    def __init__(self, clips: c.ClipSet, player: Player, *, repeat: int = 2, english: bool = True,
                 max_pending: int = 4, names_en: dict[int, str] | None = None) -> None:
        self.clips = clips
        self.names_en = dict(names_en or {})  # counter -> its English name, said as signed
        self.player = player
        self.repeat = max(1, repeat)
        self.english = english
        self.history: list[Played] = []
        self.dropped: list[Announcement] = []
        self._queue = AnnouncementQueue(max_pending)
        self._lock = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="voice", daemon=True)
        self._thread.start()

    @classmethod
    def from_config(cls, voice: VoiceSection, player: Player | None = None,
                    names_en: dict[int, str] | None = None) -> Announcer | None:
        """The announcer for `[voice]`, or None in silent mode. Checks every clip is there."""
        if not voice.enabled:
            _LOG.info("voice calling is off ([voice] enabled = false)")
            return None
        clips = c.ClipSet(voice.clips_dir, voice.custom_clips_dir)
        missing = clips.missing(words=_words(names_en))
        if missing:
            raise VoiceError(f"{len(missing)} voice clips missing in {voice.clips_dir} (e.g. "
                             f"{', '.join(missing[:4])}); run `qcall voice build`", zh="缺少语音文件")
        player = player or MixerPlayer()
        try:
            return cls(clips, player, repeat=voice.repeat, english=voice.english,
                       max_pending=voice.max_pending, names_en=names_en)
        except BaseException:
            player.close()
            raise

    def announce(self, event: m.TicketCalled | m.TicketRecalled) -> None:
        """Queue a call or recall to be said; returns at once."""
        recall = event.recalls if isinstance(event, m.TicketRecalled) else 0
        self.say(Announcement(event.number, event.counter, recall))

    def say(self, a: Announcement) -> None:
        with self._lock:
            if self._closed:
                return
            dropped = self._queue.push(a)
            self.dropped += dropped
            for d in dropped:
                _LOG.info("voice: %s for counter %d not said (superseded or backlog)", d.number,
                          d.counter)
            self._lock.notify()

    def wait_idle(self, timeout: float) -> bool:
        """Block until everything queued has been said (tests, orderly shutdown)."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._busy and not len(self._queue), timeout)

    def close(self) -> None:
        """Stop after the current word; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._lock.notify_all()
        self.player.close()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._closed or len(self._queue) > 0)
                if self._closed:
                    return
                a = self._queue.pop()
                self._busy = True
            try:
                if a is not None:
                    self._say(a)
            except Exception:  # a bad clip must not silence every later call
                _LOG.exception("voice: cannot say %s", a)
            finally:
                with self._lock:
                    self._busy = False
                    self._lock.notify_all()

    def _say(self, a: Announcement) -> None:
        buf = self.clips.render(phrase.announcement(a.number, a.counter, with_english=self.english,
                                                    name_en=self.names_en.get(a.counter, "")))
        done = 0
        while True:
            with self._lock:
                if self._closed or (done and not self._queue.more_repeats(done, self.repeat)):
                    return
            if done:
                self.player.play(c.silence(phrase.REPEAT_GAP))
            started = time.monotonic()
            self.player.play(buf)
            done += 1
            self.history.append(Played(a.number, a.counter, a.recall, done, started, time.monotonic()))


def _words(names_en: dict[int, str] | None) -> list[str]:
    return [w for name in (names_en or {}).values() for w in phrase.name_words(name)]


def build_clips(voice: VoiceSection, *, force: bool = False, names_en: dict[int, str] | None = None) -> list[Path]:
    """`qcall voice build`: generate the default clips (and the words of the counters' English
    names) into `[voice] clips_dir`."""
    return c.build(voice.clips_dir, force=force, words=_words(names_en))


def open_announcer(voice: VoiceSection, player: Player | None = None, *,
                   build_missing: bool = True, names_en: dict[int, str] | None = None) -> Announcer | None:
    """The announcer a display starts with: None in silent mode; missing default clips made first.

    Clips are normally made at set-up (`./run.sh setup` runs `qcall voice build`); a display whose
    clip folder is empty or incomplete (a new machine, a `clips_dir` moved in config) makes the
    missing ones itself, which takes a few seconds once. Raises VoiceError when that is not
    possible (no espeak-ng) or there is no audio device; the caller runs the screen without voice.
    """
    if voice.enabled and build_missing:
        missing = c.ClipSet(voice.clips_dir, voice.custom_clips_dir).missing(words=_words(names_en))
        if missing:
            _LOG.warning("voice: %d clips missing in %s; making them with espeak-ng", len(missing),
                         voice.clips_dir)
            c.build(voice.clips_dir, keys=missing, words=_words(names_en))
    return Announcer.from_config(voice, player, names_en=names_en)
