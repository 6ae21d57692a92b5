"""When kefu should stop sending on its own and call a person: the window it knows is no longer there as it
knows it. Each check is a plain rule over what polls and sends observed; the first that fires gives the
pause its reason. Pausing and resuming (per shop, globally) is the caller's: this only says when and why."""

from __future__ import annotations

from dataclasses import dataclass

WINDOW_NOT_FOUND = "window_not_found"
WINDOW_RESIZED = "window_resized"
WINDOW_OFF_SCREEN = "window_off_screen"
WINDOW_COVERED = "window_covered"
NOTHING_PLAUSIBLE = "nothing_plausible"
LOW_CONFIDENCE = "low_confidence"
SENDS_UNCONFIRMED = "sends_unconfirmed"

REASONS = (WINDOW_NOT_FOUND, WINDOW_RESIZED, WINDOW_OFF_SCREEN, WINDOW_COVERED, NOTHING_PLAUSIBLE,
           LOW_CONFIDENCE, SENDS_UNCONFIRMED)


@dataclass(frozen=True)
class PauseSignal:
    """Stop auto-sending: ``reason`` is one of :data:`REASONS`, ``detail`` says what was seen."""

    reason: str
    detail: str = ""


class DriftMonitor:
    """Counts what goes wrong poll after poll. Window problems pause at once (nothing read there can be
    trusted); reading problems after ``polls`` polls in a row (one bad frame is not drift); unconfirmed sends
    after ``unconfirmed_sends`` in a row."""

    def __init__(self, *, polls: int = 3, min_confidence: float = 0.7, unconfirmed_sends: int = 2):
        self.polls, self.min_confidence, self.unconfirmed_sends = polls, min_confidence, unconfirmed_sends
        self.implausible = 0
        self.low_confidence = 0
        self.unconfirmed = 0

    def window(self, *, found: bool, resized: str = "", off_screen: str = "", covered: str = "") -> PauseSignal | None:
        """A pause when the window is missing, not the size the regions were set for, partly off the screen,
        or under another window."""
        if not found:
            return PauseSignal(WINDOW_NOT_FOUND)
        if resized:
            return PauseSignal(WINDOW_RESIZED, resized)
        if off_screen:
            return PauseSignal(WINDOW_OFF_SCREEN, off_screen)
        if covered:
            return PauseSignal(WINDOW_COVERED, covered)
        return None

    def reading(self, *, nick: str | None, lines: int, confidence: float | None) -> PauseSignal | None:
        """After a read: no nick in the header or no line in a changed transcript is implausible; a mean OCR
        score under ``min_confidence`` is low confidence."""
        self.implausible = 0 if nick and lines else self.implausible + 1
        if confidence is not None:
            self.low_confidence = self.low_confidence + 1 if confidence < self.min_confidence else 0
        if self.implausible >= self.polls:
            what = "no buyer nick in the chat header" if not nick else "no line read in the transcript"
            return PauseSignal(NOTHING_PLAUSIBLE, f"{what}, {self.implausible} reads in a row")
        if self.low_confidence >= self.polls:
            return PauseSignal(LOW_CONFIDENCE, f"mean OCR score {confidence:.2f} < {self.min_confidence:.2f}, "
                                               f"{self.low_confidence} reads in a row")
        return None

    def send(self, *, status: str) -> PauseSignal | None:
        """After a send that reached the window: ``confirmed`` resets the count, ``unknown`` adds to it."""
        self.unconfirmed = 0 if status == "confirmed" else self.unconfirmed + 1
        if self.unconfirmed >= self.unconfirmed_sends:
            return PauseSignal(SENDS_UNCONFIRMED, f"{self.unconfirmed} sends in a row not seen in the transcript")
        return None
