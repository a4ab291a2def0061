"""Voice clips: one short WAV per word, digit or letter, made once, concatenated per call.

Calls are announced offline from a fixed vocabulary, so no speech engine (and no downloaded voice
model) is needed at run time. `build()` makes the default clips with espeak-ng at set-up; a branch
that has better recordings (a real voice beats synthetic Mandarin) drops `<key>.wav` files into
`voice.custom_clips_dir` and each one found there wins over the generated clip of the same key.

Mandarin words are generated from pinyin with espeak-ng's `cmn-latn-pinyin` voice: the stock
Debian `cmn` dictionary lacks 请/号/到 and reads them as pinyin with the tone digit spoken in
English ("hao four"); given the pinyin itself the same Mandarin voice says them right. Letters in
a Mandarin sentence are said with the plain `cmn` voice, the way people in China say them.

Everything is kept as 16-bit mono PCM at RATE Hz; custom WAVs at other rates, widths or channel
counts are converted on load, quiet edges trimmed and the peak levelled so words of different
origin sound alike when joined.
"""

from __future__ import annotations

import array
import logging
import math
import os
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from display.errors import ClipError, VoiceError

_LOG = logging.getLogger(__name__)

RATE = 22050
PEAK = 0.7 * 32767          # level every clip to this peak
EDGE = 400                  # |sample| below this at the edges is trimmed as silence
KEEP_EDGE_S = 0.01          # keep a few ms either side so words do not click
MIN_RMS = 200.0             # a clip quieter than this (after levelling) is broken, not speech
Samples: TypeAlias = "array.array[int]"  # signed 16-bit, typecode 'h'


@dataclass(frozen=True)
class ClipSpec:
    """How espeak-ng makes one clip: which voice, which text."""

    key: str
    voice: str
    text: str


_ZH_WORDS = {"qing": "qing3", "hao": "hao4", "dao": "dao4", "chuangkou": "chuang1 kou3"}
_ZH_DIGITS = ["ling2", "yi1", "er4", "san1", "si4", "wu3", "liu4", "qi1", "ba1", "jiu3", "shi2"]
_EN_WORDS = ["number", "please", "go", "to", "counter"]
_EN_NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
               "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
               "eighteen", "nineteen"]
_EN_TENS = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy",
            80: "eighty", 90: "ninety"}
LETTERS = [chr(c) for c in range(ord("A"), ord("Z") + 1)]


def catalogue(words: Iterable[str] = ()) -> dict[str, ClipSpec]:
    """Every clip key the announcer may ask for, with how to generate it. `words`: the words of
    the counters' English names ("vip", "wealth", "room"), said as the signs name the counter."""
    specs: list[ClipSpec] = [ClipSpec(f"en-w-{w}", "en", w) for w in sorted(set(words))]
    specs += [ClipSpec(f"zh-{k}", "cmn-latn-pinyin", v) for k, v in _ZH_WORDS.items()]
    specs += [ClipSpec(f"zh-{i}", "cmn-latn-pinyin", v) for i, v in enumerate(_ZH_DIGITS)]
    specs += [ClipSpec(f"zh-{c}", "cmn", c) for c in LETTERS]
    specs += [ClipSpec(f"en-{w}", "en", w) for w in _EN_WORDS]
    specs += [ClipSpec(f"en-{i}", "en", w) for i, w in enumerate(_EN_NUMBERS)]
    specs += [ClipSpec(f"en-{n}", "en", w) for n, w in _EN_TENS.items()]
    specs += [ClipSpec(f"en-{c}", "en", c) for c in LETTERS]
    return {s.key: s for s in specs}


# ---------------------------------------------------------------------------------- PCM helpers


def rms(samples: Samples) -> float:
    if not samples:
        return 0.0
    return math.sqrt(sum(x * x for x in samples) / len(samples))


def trim(samples: Samples, edge: int = EDGE) -> Samples:
    """Cut the quiet lead-in and tail that TTS and recorders leave around a word."""
    first = next((i for i, x in enumerate(samples) if abs(x) >= edge), None)
    if first is None:
        return array.array("h")
    last = len(samples) - 1 - next(i for i, x in enumerate(reversed(samples)) if abs(x) >= edge)
    pad = int(KEEP_EDGE_S * RATE)
    return samples[max(0, first - pad): last + 1 + pad]


def level(samples: Samples, peak: float = PEAK) -> Samples:
    top = max((abs(x) for x in samples), default=0)
    if top == 0:
        return samples
    g = peak / top
    return array.array("h", (max(-32768, min(32767, round(x * g))) for x in samples))


def silence(seconds: float) -> Samples:
    return array.array("h", bytes(2 * int(seconds * RATE)))


def read_wav(path: Path) -> Samples:
    """A WAV file as RATE Hz 16-bit mono samples (converted if needed)."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as err:
        raise ClipError(f"{path}: not a PCM WAV file ({err}); convert it with "
                        f"`sox IN -b 16 -c 1 -r {RATE} {path.name}`", zh="语音文件格式错误") from err
    except OSError as err:
        raise ClipError(f"{path}: cannot read: {err.strerror}", zh="语音文件无法读取") from err
    mono = _to_mono16(raw, channels, width, path)
    return mono if rate == RATE else _resample(mono, rate, RATE)


def write_wav(path: Path, samples: Samples, rate: int = RATE) -> None:
    """Write atomically: a half-written clip is never picked up by a running announcer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        with wave.open(tmp, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(samples.tobytes())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _to_mono16(raw: bytes, channels: int, width: int, path: Path) -> Samples:
    if width == 2:
        data = array.array("h", raw)
    elif width == 1:
        data = array.array("h", ((b - 128) << 8 for b in raw))
    elif width in (3, 4):
        step = width
        data = array.array("h", (int.from_bytes(raw[i + step - 2: i + step], "little", signed=True)
                                 for i in range(0, len(raw) - step + 1, step)))
    else:
        raise ClipError(f"{path}: {width * 8}-bit samples are not supported", zh="语音文件格式错误")
    if channels == 1:
        return data
    return array.array("h", (sum(data[i: i + channels]) // channels
                             for i in range(0, len(data) - channels + 1, channels)))


def _resample(data: Samples, src: int, dst: int) -> Samples:
    """Linear interpolation: plenty for speech clips converted once at load."""
    if not data:
        return data
    n = max(1, int(len(data) * dst / src))
    ratio = (len(data) - 1) / max(1, n - 1)
    out = array.array("h", bytes(2 * n))
    for i in range(n):
        pos = i * ratio
        j = int(pos)
        frac = pos - j
        nxt = data[j + 1] if j + 1 < len(data) else data[j]
        out[i] = int(data[j] + (nxt - data[j]) * frac)
    return out


# ---------------------------------------------------------------------------------- building


def build(clips_dir: str | Path, *, espeak: str = "espeak-ng", force: bool = False,
          keys: list[str] | None = None, words: Iterable[str] = ()) -> list[Path]:
    """Generate the default clips into `clips_dir` (existing ones are kept unless `force`).

    Returns the clips written. Each is trimmed, levelled and checked to be real audio, so a
    broken espeak-ng install fails here at set-up, not in front of customers.
    """
    exe = shutil.which(espeak)
    if exe is None:
        raise VoiceError(f"{espeak} not found; install it (apt-get install espeak-ng) to make the "
                         "voice clips", zh="未安装 espeak-ng")
    out_dir = Path(clips_dir)
    specs = catalogue(words)
    todo = [specs[k] for k in (keys or list(specs))
            if force or not (out_dir / f"{k}.wav").is_file()]
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="qcall-clips-") as tmp:
        for batch in _batches(todo, 8):
            procs = [(s, Path(tmp) / f"{s.key}.wav", _espeak(exe, s, Path(tmp) / f"{s.key}.wav"))
                     for s in batch]
            for spec, raw_path, proc in procs:
                _, err = proc.communicate()
                if proc.returncode != 0:
                    raise VoiceError(f"espeak-ng failed for {spec.key} ({spec.voice} "
                                     f"{spec.text!r}): {err.decode(errors='replace').strip()}")
                written.append(_finish(spec, raw_path, out_dir))
    _LOG.info("voice clips: %d written to %s", len(written), out_dir)
    return written


def _batches(items: list[ClipSpec], n: int) -> list[list[ClipSpec]]:
    return [items[i: i + n] for i in range(0, len(items), n)]


def _espeak(exe: str, spec: ClipSpec, out: Path) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen([exe, "-v", spec.voice, "-s", "150", "-w", str(out), spec.text],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError as err:
        raise VoiceError(f"cannot run {exe}: {err.strerror}") from err


def _finish(spec: ClipSpec, raw_path: Path, out_dir: Path) -> Path:
    samples = level(trim(read_wav(raw_path)))
    if rms(samples) < MIN_RMS:
        raise ClipError(f"espeak-ng made a silent clip for {spec.key} ({spec.voice} {spec.text!r})")
    dest = out_dir / f"{spec.key}.wav"
    write_wav(dest, samples)
    return dest


# ---------------------------------------------------------------------------------- loading


class ClipSet:
    """Clips by key: the branch's own recording if there is one, else the generated one.

    Loaded lazily and kept (a clip is a few kB), so announcing costs no disk read after the
    first time a word is used.
    """

    def __init__(self, clips_dir: str | Path, custom_dir: str | Path = "") -> None:
        self.clips_dir = Path(clips_dir)
        self.custom_dir = Path(custom_dir) if custom_dir else None
        self._cache: dict[str, Samples] = {}

    def path(self, key: str) -> Path:
        """Where the clip for `key` comes from (custom first)."""
        if self.custom_dir is not None:
            own = self.custom_dir / f"{key}.wav"
            if own.is_file():
                return own
        return self.clips_dir / f"{key}.wav"

    def missing(self, keys: list[str] | None = None, words: Iterable[str] = ()) -> list[str]:
        return [k for k in (keys or list(catalogue(words))) if not self.path(k).is_file()]

    def get(self, key: str) -> Samples:
        got = self._cache.get(key)
        if got is None:
            p = self.path(key)
            if not p.is_file():
                raise ClipError(f"no voice clip {key!r} in {self.clips_dir}"
                                + (f" or {self.custom_dir}" if self.custom_dir else "")
                                + "; run `qcall voice build`", zh="缺少语音文件")
            got = level(trim(read_wav(p)))
            if not got:
                raise ClipError(f"{p}: the clip is silent", zh="语音文件无声音")
            self._cache[key] = got
        return got

    def render(self, parts: list[str | float]) -> Samples:
        """Concatenate clips (str keys) and pauses (float seconds), in order."""
        out = array.array("h")
        for part in parts:
            out += silence(part) if isinstance(part, float) else self.get(part)
        return out
