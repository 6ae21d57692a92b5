"""From OCR pieces of the transcript region to chat lines: who said it, when, and what.

What is used is what every chat window shares, not one window's pixels: messages are stacked top to bottom;
the buyer's hug the left side and the seller's the right; a caption with a clock time (and usually a nick)
sits above a message; the rows of one bubble are closer together than two messages are.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from .ocr import TextPiece
from .text import normalise, split_time

BUYER, SELLER = "buyer", "seller"
# A caption holds a nick and a time; anything longer with a time at its end is a message.
MAX_CAPTION_NICK = 40


@dataclass(frozen=True)
class TranscriptLine:
    """One message as read: ``text`` is normalised, its wrapped rows joined; ``partial`` when the region's
    edge cuts it (its text may be incomplete); ``score`` is the lowest OCR score of its pieces."""

    speaker: str
    text: str
    time: str | None
    nick: str | None
    top: int
    bottom: int
    score: float
    partial: bool = False


@dataclass
class _Row:
    pieces: list[TextPiece]

    @property
    def top(self) -> int:
        return min(p.rect.y for p in self.pieces)

    @property
    def bottom(self) -> int:
        return max(p.rect.bottom for p in self.pieces)

    @property
    def left(self) -> int:
        return min(p.rect.x for p in self.pieces)

    @property
    def right(self) -> int:
        return max(p.rect.right for p in self.pieces)

    @property
    def text(self) -> str:
        return normalise(" ".join(p.text for p in sorted(self.pieces, key=lambda p: p.rect.x)))

    @property
    def score(self) -> float:
        return min(p.score for p in self.pieces)


def _rows(pieces: Sequence[TextPiece]) -> list[_Row]:
    """Pieces side by side (vertical centres within half a piece's height) form one row."""
    rows: list[_Row] = []
    for piece in sorted(pieces, key=lambda p: (p.rect.y + p.rect.height / 2, p.rect.x)):
        centre = piece.rect.y + piece.rect.height / 2
        if rows:
            last = rows[-1]
            if abs(centre - (last.top + last.bottom) / 2) <= min(piece.rect.height, last.bottom - last.top) / 2:
                last.pieces.append(piece)
                continue
        rows.append(_Row([piece]))
    return rows


def _caption(row: _Row) -> tuple[str, str] | None:
    """(nick, time) when ``row`` reads as a caption."""
    nick, clock = split_time(row.text)
    if clock is None or len(nick) > MAX_CAPTION_NICK:
        return None
    return nick, clock


def parse_transcript(pieces: Sequence[TextPiece], width: int, height: int, *,
                     gap_factor: float = 0.5) -> list[TranscriptLine]:
    """Lines of the transcript region (``width`` × ``height``) from its OCR pieces, top to bottom.

    1. Pieces side by side are a row; rows closer than ``gap_factor`` × the median row height (wrapped rows of
       one bubble) are a group, a wider gap starts the next group.
    2. A row that reads "nick time" at the start of a group is a caption: it opens a message and the rows
       after it (in its group, or the next group when the caption stands apart) are that message. A time
       alone is a time stamp for the messages under it.
    3. A message hugging the left side (its leftmost edge nearer the left than its rightmost edge to the
       right) is the buyer's, else the seller's.
    """
    rows = _rows(pieces)
    if not rows:
        return []
    row_height = statistics.median(r.bottom - r.top for r in rows)
    groups: list[list[_Row]] = []
    for row in rows:
        if groups and row.top - groups[-1][-1].bottom <= gap_factor * row_height:
            groups[-1].append(row)
        else:
            groups.append([row])

    lines: list[TranscriptLine] = []
    pending: tuple[_Row, str, str] | None = None  # a caption standing apart, waiting for its message
    stamp: str | None = None
    for group in groups:
        caption_row, nick, clock = None, None, None
        content = group
        if pending is None:
            found = _caption(group[0])
            if found is not None:
                if not found[0] and len(group) == 1:  # a time on its own: a stamp for what follows
                    stamp = found[1]
                    continue
                caption_row, (nick, clock) = group[0], found
                content = group[1:]
                if not content:
                    pending = (caption_row, nick, clock)
                    continue
        else:
            caption_row, nick, clock = pending
            pending = None
        text = normalise("".join(r.text for r in content))
        if not text:
            continue
        shape = content + ([caption_row] if caption_row else [])
        left, right = min(r.left for r in shape), max(r.right for r in shape)
        if caption_row is not None:  # a caption is short: its side is unmistakable
            left, right = caption_row.left, caption_row.right
        top, bottom = (caption_row or content[0]).top, content[-1].bottom
        lines.append(TranscriptLine(
            speaker=BUYER if left < width - right else SELLER,
            text=text, time=clock or stamp, nick=nick or None, top=top, bottom=bottom,
            score=min(r.score for r in shape),
            partial=(caption_row is None and top <= 0) or bottom >= height,
        ))
    return lines


def read_nick(pieces: Sequence[TextPiece]) -> str | None:
    """The buyer's nick from the chat header's pieces: the first piece of the top row, normalised."""
    rows = _rows(pieces)
    if not rows:
        return None
    first = min(rows[0].pieces, key=lambda p: p.rect.x)
    nick = normalise(first.text)
    return nick or None
