"""The history of each conversation in the database, and the one durable step of a poll.

:class:`DatabaseSeenStore` is the :class:`~customer_service.desktop.dedupe.SeenStore` of the desktop worker:
the lines it has taken live in ``DesktopSeenLine`` rows, so a restarted worker (or another PC taking over
the window) aligns against the same history. Its :meth:`~DatabaseSeenStore.commit` adds the new lines and hands
them to ingest in one transaction: either both happen or neither does, and ingest is idempotent on the line's
external id, so a retry adds nothing twice.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from customer_service.models import DesktopSeenLine, MessageDirection, MessageSource, Shop

from .dedupe import HISTORY_TAIL, ConversationRead, SeenLine
from .transcript import SELLER

KEEP_LINES = 5 * HISTORY_TAIL  # per conversation; alignment reads HISTORY_TAIL, numbering goes on
# A clock time on screen later than now by more than this is yesterday's (Qianniu shows times without dates).
CLOCK_SKEW = dt.timedelta(minutes=5)


class SeenStoreConflict(RuntimeError):
    """Another poll committed lines of the same conversation first: this reading is stale, read again."""


def shown_time(clock: str | None, *, now=None) -> dt.datetime | None:
    """The aware time a line's ``HH:MM[:SS]`` caption means: today in the shop's time zone, or yesterday
    when that would lie in the future."""
    if not clock:
        return None
    try:
        parts = [int(part) for part in clock.split(":")]
        zone = ZoneInfo(settings.TIME_ZONE)
        local_now = (now or timezone.now()).astimezone(zone)
        shown = local_now.replace(hour=parts[0], minute=parts[1], second=parts[2] if len(parts) > 2 else 0,
                                  microsecond=0)
    except (ValueError, IndexError):
        return None
    if shown - local_now > CLOCK_SKEW:
        shown -= dt.timedelta(days=1)
    return shown


class DatabaseSeenStore:
    """The seen lines of one shop's conversations (conversation = the buyer's nick as read)."""

    def __init__(self, shop: Shop, *, keep: int = KEEP_LINES):
        self.shop = shop
        self.keep = keep
        self.ingested: list = []  # messages the last commit created, for the caller's records

    def tail(self, conversation: str, limit: int = HISTORY_TAIL) -> list[SeenLine]:
        rows = (DesktopSeenLine.objects.filter(shop=self.shop, conversation=conversation)
                .order_by("-seq").values_list("seq", "speaker", "text", "time", "fingerprint")[:limit])
        return [SeenLine(seq, speaker, text, time or None, fingerprint)
                for seq, speaker, text, time, fingerprint in reversed(rows)]

    def commit(self, read: ConversationRead) -> None:
        """Add ``read.records`` to the history; new buyer lines to ingest (source qianniu), new seller lines
        a person typed to ingest as seller lines (a takeover); all in one transaction.

        Raises :class:`SeenStoreConflict` when another poll took the same places first (nothing is written).
        """
        from customer_service.pipeline.services import message_ingest

        conversation = read.conversation[:128]
        human = {id(record) for record in read.human}
        self.ingested = []
        try:
            with transaction.atomic():
                DesktopSeenLine.objects.bulk_create([
                    DesktopSeenLine(shop=self.shop, conversation=conversation, seq=record.seq,
                                    speaker=record.speaker, text=record.text, time=record.time or "",
                                    fingerprint=record.fingerprint, external_id=record.external_id(conversation))
                    for record in read.records
                ])
                for record in read.new:
                    if record.speaker == SELLER and id(record) not in human:
                        continue  # kefu's own reply, already in the outbox
                    message, created = message_ingest(
                        shop=self.shop, buyer_id=conversation, content=record.text,
                        external_id=record.external_id(conversation), source=MessageSource.QIANNIU,
                        direction=MessageDirection.SELLER if record.speaker == SELLER else MessageDirection.BUYER,
                        sent_at=shown_time(record.time),
                    )
                    if created:
                        self.ingested.append(message)
        except IntegrityError as exc:
            raise SeenStoreConflict(f"{conversation}: lines were taken by another poll first") from exc
        if read.records:
            last = read.records[-1].seq
            DesktopSeenLine.objects.filter(shop=self.shop, conversation=conversation,
                                           seq__lte=last - self.keep).delete()
