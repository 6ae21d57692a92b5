"""Text normalisation and phrase matching shared by the reply rules (safety check, handoff intents).

Rules never match the raw text: they match a *normalised* copy in which the
usual ways of hiding a word are undone, and every hit is mapped back to the
span of the original text so that a reviewer sees exactly what was caught.

Normalisation, in order:

1. Format characters (zero-width space and joiners, BOM, soft hyphen, bidi
   marks), variation selectors and enclosing marks (the keycap of ``1️⃣``)
   are dropped.
2. NFKC: full-width letters, digits and punctuation become half-width
   (``１５８`` → ``158``, ``ＷＸ`` → ``WX``), circled digits become digits.
3. Lower case.
4. Traditional Chinese becomes Simplified (OpenCC ``t2s``), so ``退貨``,
   ``轉賬`` and ``驗證碼`` meet the same rules as ``退货``, ``转账``, ``验证码``.
5. Whitespace is removed — spacing letters or digits out (``v x``,
   ``1 3 8 …``, ``微 信``) is the commonest evasion — except between two
   words of Latin letters or digits, two or more each (``add me``,
   ``160 165``), which keep one space.
6. A run of seven or more digits written in Chinese (``一三八零零…``,
   ``壹叁捌…``, with ``幺`` for one and ``两`` for two) becomes digits: a
   phone number spelt out to slip past a digit filter. Shorter runs
   (``一一``, ``十一``) are ordinary words and stay.

Phrases (the shop's forbidden phrases and patterns, the handoff intents'
phrases) are normalised the same way and compiled by :func:`phrase_regex`:
``*`` stands for at most four characters within one clause; in *tolerant*
mode up to two symbols or punctuation marks may also sit between any two
characters (``微❤信``, ``微.信``), which is how people hide a word from a
filter that matches it literally.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import opencc

# Loading the dictionaries takes milliseconds, converting microseconds: one converter per process,
# which conversions only read.
_T2S = opencc.OpenCC("t2s")

_DROPPED_CATEGORIES = frozenset({"Cf", "Me"})
_VARIATION_SELECTORS = frozenset(range(0xFE00, 0xFE10)) | frozenset(range(0xE0100, 0xE01F0))

_CHINESE_DIGITS = {
    "〇": "0", "零": "0", "一": "1", "幺": "1", "壹": "1", "二": "2", "两": "2", "贰": "2", "三": "3", "叁": "3",
    "四": "4", "肆": "4", "五": "5", "伍": "5", "六": "6", "陆": "6", "七": "7", "柒": "7", "八": "8", "捌": "8",
    "九": "9", "玖": "9",
}
_SPELT_NUMBER = re.compile("[0-9%s]{7,}" % "".join(_CHINESE_DIGITS))  # noqa: UP031
_WORD_BEFORE = re.compile(r"(?<![a-z0-9])[a-z0-9]{2,}$")
_WORD_AFTER = re.compile(r"[a-z0-9]{2,}(?![a-z0-9])")

#: Symbols or punctuation that may hide inside a word (``[\W_]`` also matches whitespace, already gone).
SEPARATOR = r"[\W_]{0,2}"
#: What ``*`` in a phrase stands for: at most four characters, never across a clause.
WILDCARD = r"[^。！？!?；;，,\n]{0,4}?"
#: Where a clause ends, for rules that look at the clause around a hit.
CLAUSE_END = "。！？!?；;\n"


@dataclass(frozen=True)
class Normalized:
    """A normalised copy of a text and, for each of its characters, the index it came from."""

    original: str
    text: str
    origin: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that produced ``text[start:end]`` (``start < end``)."""
        return self.origin[start], self.origin[end - 1] + 1


def _t2s(text: str) -> str:
    converted = _T2S.convert(text)
    if len(converted) == len(text):
        return converted
    # A phrase conversion changed the length: fall back to character by character so that
    # every character keeps its origin.
    return "".join(c2 if len(c2 := _T2S.convert(c)) == 1 else c for c in text)


@functools.lru_cache(maxsize=65536)
def _normalized_char(ch: str) -> str:
    """What one character becomes: "" when dropped, else its NFKC form in lower case."""
    if ord(ch) in _VARIATION_SELECTORS or unicodedata.category(ch) in _DROPPED_CATEGORIES:
        return ""
    return "".join(
        c for c in unicodedata.normalize("NFKC", ch).lower()
        if ord(c) not in _VARIATION_SELECTORS and unicodedata.category(c) not in _DROPPED_CATEGORIES
    )


_WHITESPACE = re.compile(r"\s+")


# A cached entry holds the text twice and an index per character: 1,024 replies of 800 characters stay
# under about 10 MB per process.
@functools.lru_cache(maxsize=1024)
def normalize(text: str) -> Normalized:
    """Normalise ``text`` for matching (see the module docstring); cached, so rules may call it freely."""
    mapped = [_normalized_char(ch) for ch in text]
    joined = "".join(mapped)
    # The common case: every character maps to exactly one.
    origin = list(range(len(text))) if len(joined) == len(text) else [i for i, out in enumerate(mapped) for _ in out]
    if any(ord(c) > 0x2E7F for c in joined):
        joined = _t2s(joined)

    # Whitespace: keep one space only between two words of Latin letters or digits, two or more each.
    if _WHITESPACE.search(joined):
        pieces: list[str] = []
        kept: list[int] = []
        last = 0
        for m in _WHITESPACE.finditer(joined):
            start, end = m.span()
            pieces.append(joined[last:start])
            kept.extend(origin[last:start])
            if _WORD_BEFORE.search(joined, max(0, start - 40), start) and _WORD_AFTER.match(joined, end):
                pieces.append(" ")
                kept.append(origin[start])
            last = end
        pieces.append(joined[last:])
        kept.extend(origin[last:])
        joined, origin = "".join(pieces), kept

    if _SPELT_NUMBER.search(joined):
        joined = _SPELT_NUMBER.sub(lambda m: "".join(_CHINESE_DIGITS.get(c, c) for c in m.group()), joined)
    return Normalized(original=text, text=joined, origin=tuple(origin))


def _is_latin_or_digit(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def phrase_regex(phrase: str, *, tolerant: bool) -> str:
    """The regular expression (source) that finds ``phrase`` in normalised text.

    ``*`` in the phrase stands for at most four characters within one clause.
    ``tolerant`` lets up to two symbols or punctuation marks sit between any two
    characters. A phrase that starts or ends with a Latin letter or digit only
    matches at a word edge (``vx`` is not found inside ``vxyz``; ``12315`` not
    inside a longer number). Raises ValueError for a phrase with nothing to
    match (empty, or only ``*`` and spaces).
    """
    pieces = [normalize(part).text for part in phrase.split("*")]
    if not any(pieces):
        raise ValueError(f"nothing to match in {phrase!r}")
    joiner = SEPARATOR if tolerant else ""
    body = WILDCARD.join(joiner.join(re.escape(c) for c in piece) for piece in pieces if piece)
    literal = "".join(pieces)
    if _is_latin_or_digit(literal[0]):
        body = r"(?<![a-z0-9])" + body
    if _is_latin_or_digit(literal[-1]):
        body += r"(?![a-z0-9])"
    return body


@functools.lru_cache(maxsize=512)
def phrases_regex(phrases: tuple[str, ...], *, tolerant: bool) -> re.Pattern | None:
    """One compiled pattern finding any of ``phrases`` at every position (overlapping hits included).

    ``m.lastgroup`` names the phrase that matched by its index (``p12``).
    Longer phrases are tried first at a given position. None when ``phrases``
    is empty.
    """
    if not phrases:
        return None
    ordered = sorted(range(len(phrases)), key=lambda i: -len(phrases[i]))
    alternatives = "|".join(f"(?P<p{i}>{phrase_regex(phrases[i], tolerant=tolerant)})" for i in ordered)
    # Most positions cannot start any phrase: a class of the possible first characters skips them in one
    # step instead of trying every phrase there (a phrase starting with "*" can start anywhere).
    firsts = {normalize(phrase).text[:1] for phrase in phrases}
    if "*" in firsts or "" in firsts:
        return re.compile(f"(?=(?:{alternatives}))")
    first_class = "".join(re.escape(c) for c in sorted(firsts))
    return re.compile(f"(?=[{first_class}])(?=(?:{alternatives}))")


def find_phrases(norm: Normalized, pattern: re.Pattern | None) -> Iterable[tuple[int, int, int]]:
    """``(phrase index, start, end)`` in normalised text for each position where a phrase of ``pattern`` starts."""
    if pattern is None:
        return
    for m in pattern.finditer(norm.text):
        start, end = m.span(m.lastgroup)
        if end > start:
            yield int(m.lastgroup[1:]), start, end


def usable_phrases(values) -> tuple[str, ...]:
    """The phrases of a settings list that can match something, in order.

    A phrase of nothing but ``*`` and spaces would match everywhere: it is
    skipped (the settings' schema refuses one; this covers a value stored
    before it did, or a dict that never went through the schema).
    """
    return tuple(p for p in (values or ()) if isinstance(p, str) and normalize(p.replace("*", "")).text)


def clause_around(text: str, start: int, end: int) -> str:
    """The clause of ``text`` (between clause-ending punctuation) that holds ``text[start:end]``."""
    left = max((text.rfind(c, 0, start) for c in CLAUSE_END), default=-1) + 1
    rights = [i for i in (text.find(c, end) for c in CLAUSE_END) if i >= 0]
    return text[left:min(rights) if rights else len(text)]


def covered(span: tuple[int, int], spans: Iterable[tuple[int, int]]) -> bool:
    """Whether ``span`` lies within one of ``spans``."""
    return any(s <= span[0] and span[1] <= e for s, e in spans)
