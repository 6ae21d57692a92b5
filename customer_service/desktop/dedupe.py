"""Which lines on screen are new: durable de-duplication by aligning what is visible with what was seen.

A chat window shows a contiguous slice of the conversation. kefu keeps, per conversation, the lines it has
already taken (normalised, in order, with a sequence number). Each poll aligns the visible lines against the
tail of that history: the longest run of visible lines that matches the history line for line fixes where
the window stands, and only what lies below the end of the history is new. Matching runs, not single lines,
is what tells a second "好的" from the first: set membership would drop it, alignment does not.

- scrolled up: the visible slice lies inside the history → nothing new;
- a restart: the history is stored, the same alignment runs → nothing new, nothing skipped;
- first sight of a conversation: what is already there is the seller's past; only the buyer lines after the
  last seller line are waiting for an answer, and they are the new ones;
- no overlap at all (more lines arrived than the window shows, or the view jumped): new only when the clock
  says every visible line is later than the last one seen, and then flagged as a gap; otherwise nothing.

When the ambiguity cannot be resolved the larger overlap wins: fewer lines are taken as new. Missing a line
is better than answering one twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from .text import comparison_key, normalise, similarity
from .transcript import BUYER, SELLER, TranscriptLine

HISTORY_TAIL = 200  # lines of history read back per poll: many windows' worth
FUZZY_MIN_LENGTH = 8  # below this, two readings must agree exactly
FUZZY_SIMILARITY = 0.9
MAX_LEADING_SKIP = 2  # visible lines at the top allowed not to match (cut, or misread at the edge)

FIRST_SIGHT, ALIGNED, INSIDE, GAP, UNALIGNED = "first_sight", "aligned", "inside", "gap", "unaligned"


def fingerprint(speaker: str, text: str) -> str:
    """A stable digest of a line's speaker and comparison form (OCR's spacing and width variants fold away)."""
    return hashlib.sha256(f"{speaker}\n{comparison_key(text)}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SeenLine:
    """A line kefu has taken from a conversation: its place in the conversation (``seq``) and what it said."""

    seq: int
    speaker: str
    text: str
    time: str | None
    fingerprint: str

    def external_id(self, conversation: str) -> str:
        """The id ingest is idempotent on: the same line at the same place always gets the same id."""
        digest = hashlib.sha256(f"{conversation}\n{self.seq}\n{self.fingerprint}".encode()).hexdigest()
        return f"qn-{digest[:40]}"


def same_line(seen: SeenLine, line: TranscriptLine) -> bool:
    """Whether a visible line is the reading of ``seen``: same speaker, same text (exactly when short,
    ≥ 90 % alike when longer, as OCR may misread a character of a long line), and no conflicting time."""
    if seen.speaker != line.speaker:
        return False
    if seen.time and line.time and seen.time != line.time:
        return False
    a, b = comparison_key(seen.text), comparison_key(line.text)
    if a == b:
        return True
    shorter, longer = sorted((len(a), len(b)))
    if shorter < FUZZY_MIN_LENGTH or shorter < FUZZY_SIMILARITY * longer:  # cannot reach the similarity
        return False
    return similarity(a, b) >= FUZZY_SIMILARITY


@dataclass
class Alignment:
    """What :func:`align` found. ``take``: the visible lines to add to the history, in order; ``new``: its
    tail that is waiting for kefu (the same lines, except at first sight, where older lines are history)."""

    status: str
    take: list[TranscriptLine] = field(default_factory=list)
    new: list[TranscriptLine] = field(default_factory=list)
    overlap: int = 0

    def records(self, history: Sequence[SeenLine]) -> list[SeenLine]:
        """``take`` as history entries, numbered after ``history``'s last."""
        start = history[-1].seq + 1 if history else 0
        return [SeenLine(start + i, line.speaker, normalise(line.text), line.time,
                         fingerprint(line.speaker, line.text)) for i, line in enumerate(self.take)]

    def new_records(self, history: Sequence[SeenLine]) -> list[SeenLine]:
        """The entries of :meth:`records` that are ``new`` (its tail)."""
        return self.records(history)[len(self.take) - len(self.new):] if self.new else []


def _complete(visible: Sequence[TranscriptLine]) -> list[TranscriptLine]:
    """Visible lines without those the region's edge cuts (their text may be incomplete)."""
    return [line for line in visible if not line.partial]


def align(history: Sequence[SeenLine], visible: Sequence[TranscriptLine]) -> Alignment:
    """Find the visible lines not yet in ``history`` (see the module's docstring for the rules)."""
    lines = _complete(visible)
    if not lines:
        return Alignment(INSIDE if history else FIRST_SIGHT)
    if not history:
        last_seller = max((i for i, line in enumerate(lines) if line.speaker == SELLER), default=-1)
        waiting = lines[last_seller + 1:]  # only buyer lines follow the last seller line
        return Alignment(FIRST_SIGHT, lines, waiting)

    n, m = len(history), len(lines)
    best: tuple[int, int, int] | None = None  # (overlap, -skip, offset)
    for skip in range(min(MAX_LEADING_SKIP, m - 1) + 1):
        for offset in range(max(0, n - (m - skip)), n):
            overlap = min(m - skip, n - offset)
            if all(same_line(history[offset + i], lines[skip + i]) for i in range(overlap)):
                candidate = (overlap, -skip, offset)
                if best is None or candidate > best:
                    best = candidate
        # Offsets that place the visible slice wholly inside the history (scrolled up).
        for offset in range(0, max(0, n - (m - skip))):
            if all(same_line(history[offset + i], lines[skip + i]) for i in range(m - skip)):
                candidate = (m - skip, -skip, offset)
                if best is None or candidate > best:
                    best = candidate
    if best is not None:
        overlap, neg_skip, offset = best
        if offset + overlap < n:
            return Alignment(INSIDE, overlap=overlap)
        new = lines[-neg_skip + overlap:]
        return Alignment(ALIGNED, new, new, overlap)

    last_time = history[-1].time
    if last_time and all(line.time for line in lines) and all(len(line.time) == len(last_time) for line in lines) \
            and lines[0].time > last_time:
        return Alignment(GAP, lines, lines)
    return Alignment(UNALIGNED)


def human_seller_lines(new: Sequence[TranscriptLine], recent_outgoing: Sequence[str]) -> list[TranscriptLine]:
    """New seller lines kefu did not send: a person is answering in Qianniu (a takeover).

    Each of kefu's recent outgoing texts accounts for one seller line at most, so a person repeating kefu's
    "好的" is still seen.
    """
    unused = [comparison_key(text) for text in recent_outgoing]
    human = []
    for line in new:
        if line.speaker != SELLER:
            continue
        key = comparison_key(line.text)
        match = next((i for i, sent in enumerate(unused) if sent == key or (
            min(len(sent), len(key)) >= FUZZY_MIN_LENGTH and similarity(sent, key) >= FUZZY_SIMILARITY)), None)
        if match is None:
            human.append(line)
        else:
            unused.pop(match)
    return human


@dataclass
class ConversationRead:
    """One reading of one conversation: what was visible, how it aligned, and what it adds.

    ``records`` go into the history; ``new`` (their tail) are waiting for kefu; ``human`` are new seller lines
    kefu did not send (a takeover). External ids come from :meth:`SeenLine.external_id`.
    """

    conversation: str
    lines: list[TranscriptLine]
    alignment: Alignment
    records: list[SeenLine]
    new: list[SeenLine]
    human: list[SeenLine]

    @property
    def new_buyer(self) -> list[SeenLine]:
        return [record for record in self.new if record.speaker == BUYER]


def read_conversation(conversation: str, visible: Sequence[TranscriptLine], history: Sequence[SeenLine],
                      recent_outgoing: Sequence[str] = ()) -> ConversationRead:
    """Align ``visible`` against ``history`` and number what it adds; seller lines among the new ones that
    are not in ``recent_outgoing`` are a person's (never at first sight: those are the past)."""
    alignment = align(history, visible)
    records = alignment.records(history)
    new = alignment.new_records(history)
    human: list[SeenLine] = []
    if alignment.status != FIRST_SIGHT:
        human_lines = human_seller_lines(alignment.new, recent_outgoing)
        human = [record for record, line in zip(new, alignment.new, strict=True)
                 if any(line is person for person in human_lines)]
    return ConversationRead(conversation, list(visible), alignment, records, new, human)


class SeenStore(Protocol):
    """Where the history of each conversation lives: the database on the server, a file or memory here.

    :meth:`commit` is the one durable step of a poll: it adds ``read.records`` to the history and, in a
    database store, hands ``read.new_buyer`` to ingest and marks a takeover for ``read.human`` in the same
    transaction (ingest is idempotent on the external id, so a retry after a crash adds nothing twice).
    """

    def tail(self, conversation: str, limit: int = HISTORY_TAIL) -> list[SeenLine]: ...

    def commit(self, read: ConversationRead) -> None: ...


class MemorySeenStore:
    def __init__(self):
        self._lines: dict[str, list[SeenLine]] = {}
        self.committed: list[ConversationRead] = []

    def tail(self, conversation: str, limit: int = HISTORY_TAIL) -> list[SeenLine]:
        return list(self._lines.get(conversation, [])[-limit:])

    def commit(self, read: ConversationRead) -> None:
        self._lines.setdefault(read.conversation, []).extend(read.records)
        self.committed.append(read)


class FileSeenStore:
    """A JSON file per store, rewritten atomically (write, fsync, rename) on every commit; keeps the last
    ``keep`` lines of each conversation (alignment reads :data:`HISTORY_TAIL`; numbering goes on)."""

    def __init__(self, path: Path | str, *, keep: int = 5 * HISTORY_TAIL):
        self.path = Path(path)
        self.keep = keep
        self._lock = threading.Lock()

    def _load(self) -> dict[str, list[dict]]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}

    def tail(self, conversation: str, limit: int = HISTORY_TAIL) -> list[SeenLine]:
        with self._lock:
            return [SeenLine(**row) for row in self._load().get(conversation, [])[-limit:]]

    def commit(self, read: ConversationRead) -> None:
        with self._lock:
            data = self._load()
            lines = data.setdefault(read.conversation, [])
            lines.extend(asdict(line) for line in read.records)
            del lines[:-self.keep]
            tmp = self.path.with_suffix(self.path.suffix + ".tmp")
            with tmp.open("w", encoding="utf-8") as handle:
                json.dump(data, handle, ensure_ascii=False)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(self.path)
