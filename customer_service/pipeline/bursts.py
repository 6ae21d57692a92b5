"""Bursts: a buyer's fragments answered as one question.

Buyers type in fragments ("在吗" / "这款" / "有XL吗"). Lines from one buyer
that arrive within the shop's quiet window form one *burst*, answered with
one reply. The window adapts to the last line:

1. After a line that looks finished — it ends with end punctuation
   (。！？!?.…~) or a sentence-final particle (吗 呢 吧 啊 呀 哦 嘛 啦), it
   holds a question word (什么, 怎么, 多少, 几, 哪, 有没有…), or it is longer
   than ``short_fragment_chars`` — the burst is ready ``base_window_ms``
   (350 ms) after it.
2. After a short fragment without such an ending ("这款", "我想问下"), or a
   greeting on its own ("在吗", "你好", "亲"), which is never the whole
   question, the window stretches to ``fragment_window_ms`` (1.2 s).
3. Never later than ``max_wait_ms`` (4 s) after the burst's first line: a
   buyer who keeps typing still gets an answer.
4. A burst is *complete* — answered at once, and the next line starts a new
   burst — when it holds ``max_lines`` (12) lines or ``max_chars`` (1,600)
   characters; a line that would take it past ``max_chars`` starts the next
   burst instead.

Everything here is pure: times come in, decisions come out; the caller
(the decision task) keeps the lines and schedules the work.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

#: The rule of a line given back to waiting because a line joined its burst while it was being answered.
RULE_BURST_GREW = "burst.grew"

_END_PUNCTUATION = "。！？!?.…~～"
_FINAL_PARTICLES = "吗呢吧啊呀哦嘛啦么"
_QUESTION_WORD = re.compile(r"什么|怎么|多少|几|哪|谁|为什么|有没有|能不能|可不可以|是不是|行不行|好不好|要不要")
_GREETING = re.compile(
    r"^(?:在吗|在嘛|在么|在不在|在不|有人吗|有人在吗|你好|您好|你好呀|您好呀|哈喽|嗨|hi|hello|亲|亲亲|亲爱的|老板|掌柜|"
    r"客服|请问|问一下|问下|我想问下|我想问一下|想问一下)[\s,，。.!！?？~～]*$",
    re.IGNORECASE,
)
# Where two fragments meet without punctuation, a Chinese comma between them keeps them readable
# (and keeps the knowledge search from reading two words as one); Latin letters or digits meet with a space.
_CJK_JOIN = "，"
_LATIN_TAIL = re.compile(r"[A-Za-z0-9]$")
_LATIN_HEAD = re.compile(r"^[A-Za-z0-9]")


@dataclass(frozen=True)
class BurstPolicy:
    """The quiet-window parameters, per shop (shop settings ``bursts``)."""

    base_window_ms: int = 350
    fragment_window_ms: int = 1200
    short_fragment_chars: int = 6
    max_wait_ms: int = 4000
    max_lines: int = 12
    max_chars: int = 1600

    @classmethod
    def from_shop_settings(cls, settings: Mapping) -> BurstPolicy:
        """Read from ``configs.selectors.shop_settings_get(shop=…)``; a missing key keeps its default."""
        values = settings.get("bursts") or {}
        return cls(**{name: int(values[name]) for name in cls.__dataclass_fields__ if name in values})


DEFAULT_POLICY = BurstPolicy()


@dataclass(frozen=True)
class BurstLine:
    """One line of a buyer's burst and when it arrived (timezone-aware)."""

    text: str
    at: datetime


@dataclass(frozen=True)
class BurstStatus:
    """When a burst is to be answered.

    ``complete``: the burst is full (lines or characters): answer now and
    start a new burst with the next line. Otherwise answer at ``answer_at``
    unless another line arrives before. ``reason``: which rule set the time —
    ``"base"``, ``"fragment"``, ``"max_wait"``, ``"max_lines"``, ``"max_chars"``.
    """

    answer_at: datetime
    complete: bool
    reason: str


def line_is_fragment(text: str, *, policy: BurstPolicy = DEFAULT_POLICY) -> bool:
    """Whether ``text`` looks unfinished: a greeting alone, or short with no ending and no question word."""
    stripped = text.strip()
    if not stripped or _GREETING.match(stripped):
        return True
    if stripped[-1] in _END_PUNCTUATION or stripped[-1] in _FINAL_PARTICLES or _QUESTION_WORD.search(stripped):
        return False
    return len(stripped) <= policy.short_fragment_chars


def _chars(lines: Iterable[BurstLine]) -> int:
    return sum(len(line.text.strip()) for line in lines)


def burst_status(lines: Sequence[BurstLine], *, policy: BurstPolicy = DEFAULT_POLICY) -> BurstStatus:
    """When the burst made of ``lines`` (in arrival order, at least one) is to be answered.

    Raises ValueError for no lines or a naive time.
    """
    if not lines:
        raise ValueError("a burst has at least one line")
    if any(line.at.tzinfo is None for line in lines):
        raise ValueError("burst times must be timezone-aware")
    first, last = lines[0], lines[-1]
    if len(lines) >= policy.max_lines:
        return BurstStatus(answer_at=last.at, complete=True, reason="max_lines")
    if _chars(lines) >= policy.max_chars:
        return BurstStatus(answer_at=last.at, complete=True, reason="max_chars")
    fragment = line_is_fragment(last.text, policy=policy)
    window = policy.fragment_window_ms if fragment else policy.base_window_ms
    answer_at = last.at + timedelta(milliseconds=window)
    cap = first.at + timedelta(milliseconds=policy.max_wait_ms)
    if cap <= answer_at:
        return BurstStatus(answer_at=max(cap, last.at), complete=False, reason="max_wait")
    return BurstStatus(answer_at=answer_at, complete=False, reason="fragment" if fragment else "base")


def burst_is_ready(lines: Sequence[BurstLine], *, now: datetime, policy: BurstPolicy = DEFAULT_POLICY) -> bool:
    """Whether the burst is to be answered at ``now``: it is complete, or its answer time has come."""
    status = burst_status(lines, policy=policy)
    return status.complete or now >= status.answer_at


def burst_accepts(lines: Sequence[BurstLine], line: BurstLine, *, policy: BurstPolicy = DEFAULT_POLICY) -> bool:
    """Whether ``line`` joins the burst of ``lines``, or starts a new one.

    It joins when it arrives before the burst's answer time (a line arriving
    exactly then is too late) and the burst is neither complete nor pushed past
    ``max_chars`` by it. An empty burst accepts any line. A caller that already
    started answering may still cancel that reply and answer again with the
    new line: that decision is the caller's, this only says what the window is.
    """
    if not lines:
        return True
    status = burst_status(lines, policy=policy)
    if status.complete or line.at >= status.answer_at:
        return False
    return _chars(lines) + len(line.text.strip()) <= policy.max_chars


def burst_split(lines: Iterable[BurstLine], *, policy: BurstPolicy = DEFAULT_POLICY) -> list[list[BurstLine]]:
    """Group ``lines`` (in arrival order, e.g. an import) into bursts as they would have been answered."""
    bursts: list[list[BurstLine]] = []
    for line in lines:
        if bursts and burst_accepts(bursts[-1], line, policy=policy):
            bursts[-1].append(line)
        else:
            bursts.append([line])
    return bursts


def burst_text(texts: Iterable[str]) -> str:
    """The burst's lines joined into one question.

    Whitespace is trimmed, empty lines dropped, a line repeated straight after
    itself ("在吗" / "在吗") kept once. Lines meet as they were typed: after
    end punctuation nothing is added; otherwise a Chinese comma, or a space
    between Latin letters or digits ("iphone" / "15" → "iphone 15").
    """
    parts: list[str] = []
    for raw in texts:
        text = raw.strip()
        if not text or (parts and parts[-1] == text):
            continue
        parts.append(text)
    joined = ""
    for text in parts:
        if not joined:
            joined = text
        elif joined[-1] in _END_PUNCTUATION or joined[-1] in "，,、；;：:":
            joined += text
        elif _LATIN_TAIL.search(joined) and _LATIN_HEAD.match(text):
            joined += " " + text
        else:
            joined += _CJK_JOIN + text
    return joined
