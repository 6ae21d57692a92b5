"""What OCR output goes through before kefu compares or stores it.

OCR of the same words varies in ways a reader does not see: full-width or half-width forms (``：`` / ``:``,
``？`` / ``?``, full-width digits), spaces between Chinese characters that it inserts or drops, runs of spaces.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_CJK = r"\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_SPACE_NEAR_CJK = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")
_SPACES = re.compile(r"\s+")
# A clock time at the end or the start of a caption: 9:05, 09:05:33 (a full-width colon is a colon after NFKC),
# optional spaces; a date before it (2024-05-01, 05-01, 2024/5/1) is allowed. Only colons: "12.30" is a price.
_CLOCK = (r"(?:(?P<date>(?:\d{4}[-/.])?\d{1,2}[-/.]\d{1,2})\s*)?"
          r"(?P<hour>[01]?\d|2[0-3])\s*:\s*(?P<minute>[0-5]\d)(?:\s*:\s*(?P<second>[0-5]\d))?")
TIME_AT_END = re.compile(_CLOCK + r"\s*$")
TIME_AT_START = re.compile(r"^\s*" + _CLOCK + r"(?!\d)")


def normalise(text: str) -> str:
    """NFKC, no space next to a Chinese character, one space elsewhere, trimmed.

    NFKC folds full-width forms (``ＸＬ`` → ``XL``, ``：`` → ``:``, ``？`` → ``?``), so the same text read
    twice compares equal however OCR rendered its punctuation.
    """
    text = unicodedata.normalize("NFKC", text or "")
    text = _SPACE_NEAR_CJK.sub("", text)
    return _SPACES.sub(" ", text).strip()


def comparison_key(text: str) -> str:
    """The form two readings are compared in: normalised, without any space, case folded."""
    return _SPACES.sub("", normalise(text)).casefold()


def split_time(text: str) -> tuple[str, str | None]:
    """``("nick", "HH:MM[:SS]")`` when ``text`` ends or starts with a clock time (a caption: "nick 09:15:02" or
    "09:15:02 nick"), else ``(text, None)``."""
    normal = normalise(text)
    match = TIME_AT_END.search(normal) or TIME_AT_START.search(normal)
    if not match:
        return normal, None
    clock = f"{int(match['hour']):02d}:{match['minute']}"
    if match["second"]:
        clock += f":{match['second']}"
    return (normal[: match.start()] + normal[match.end():]).strip(), clock


@functools.lru_cache(maxsize=8192)  # polls compare the same pairs of lines again and again
def similarity(a: str, b: str) -> float:
    """1 − normalised edit distance of the comparison keys (1.0: the same text)."""
    a, b = comparison_key(a), comparison_key(b)
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1.0 - previous[-1] / max(len(a), len(b))
