"""What is said for a call, as a list of clip keys and pauses.

"请 A001 号 到 3 号窗口" then "Number A001, please go to counter 3". A ticket number is spelt
letter by letter and digit by digit (A 零 零 一 / A zero zero one) because that is how it is
printed; a counter number is said as a number (十二号窗口 / counter twelve) because that is how
it is signed.
"""

from __future__ import annotations

import re

WORD_GAP = 0.06          # between words of one sentence
COMMA = 0.25             # after the number in English
SENTENCE_GAP = 0.5       # between the Mandarin and the English sentence
REPEAT_GAP = 0.9         # between repeats of the whole announcement

Part = str | float


def spell(number: str, lang: str) -> list[str]:
    """A ticket number as clip keys, one per letter or digit; other characters are not said."""
    return [f"{lang}-{ch}" for ch in number.upper() if ch.isascii() and ch.isalnum()]


def zh_count(n: int) -> list[str]:
    """A counter number in Mandarin: 3 三, 10 十, 12 十二, 20 二十, 35 三十五; 100+ digit by digit."""
    if n < 0:
        raise ValueError(f"counter {n} is negative")
    if n < 10:
        return [f"zh-{n}"]
    if n < 100:
        tens, ones = divmod(n, 10)
        head = ["zh-10"] if tens == 1 else [f"zh-{tens}", "zh-10"]
        return head + ([f"zh-{ones}"] if ones else [])
    return [f"zh-{d}" for d in str(n)]


def en_count(n: int) -> list[str]:
    """A counter number in English: three, twelve, twenty five; 100+ digit by digit."""
    if n < 0:
        raise ValueError(f"counter {n} is negative")
    if n < 20:
        return [f"en-{n}"]
    if n < 100:
        tens, ones = divmod(n, 10)
        return [f"en-{tens * 10}"] + ([f"en-{ones}"] if ones else [])
    return [f"en-{d}" for d in str(n)]


def _words(*groups: list[str]) -> list[Part]:
    out: list[Part] = []
    for g in groups:
        for key in g:
            if out:
                out.append(WORD_GAP)
            out.append(key)
    return out


def mandarin(number: str, counter: int) -> list[Part]:
    """请 A001 号 到 3 号窗口."""
    return _words(["zh-qing"], spell(number, "zh"), ["zh-hao", "zh-dao"], zh_count(counter),
                  ["zh-hao", "zh-chuangkou"])


def name_words(name_en: str) -> list[str]:
    """The words of a counter's English name that need a clip of their own ("VIP Counter 5" ->
    ["vip"]): digits are said as numbers and "counter" has its clip already."""
    return [w.lower() for w in re.findall(r"[A-Za-z]+", name_en) if w.lower() != "counter"]


def en_counter(counter: int, name_en: str = "") -> list[str]:
    """The counter as the hall's signs name it in English: "VIP Counter 5" -> vip counter five;
    with no name, counter five."""
    if not name_en:
        return ["en-counter", *en_count(counter)]
    out: list[str] = []
    for token in re.findall(r"[A-Za-z]+|\d+", name_en):
        if token.isdigit():
            out += en_count(int(token))
        else:
            out.append("en-counter" if token.lower() == "counter" else f"en-w-{token.lower()}")
    return out or ["en-counter", *en_count(counter)]


def english(number: str, counter: int, name_en: str = "") -> list[Part]:
    """Number A001, please go to counter 3 (or to the counter's own name: VIP Counter 5)."""
    head = _words(["en-number"], spell(number, "en"))
    tail = _words(["en-please", "en-go", "en-to"], en_counter(counter, name_en))
    return [*head, COMMA, *tail]


def announcement(number: str, counter: int, *, with_english: bool = True, name_en: str = "") -> list[Part]:
    """One saying of a call: Mandarin, then English if the branch wants it."""
    parts = mandarin(number, counter)
    if with_english:
        parts += [SENTENCE_GAP, *english(number, counter, name_en)]
    return parts


def keys(parts: list[Part]) -> list[str]:
    """Just the clip keys, in order."""
    return [p for p in parts if isinstance(p, str)]
