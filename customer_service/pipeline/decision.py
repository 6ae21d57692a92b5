"""The decision: what happens to a buyer's burst, and which rule decided it.

:func:`message_decide` reads the shop's settings and its knowledge base and
returns a :class:`Decision`; it calls no LLM and writes nothing (the process
task acts on it). The rules, in order — the first that decides wins:

1. **Buyer blacklist** (settings ``buyer_blacklist``): the buyer is never
   answered → ``ignore``, rule ``blacklist.buyer``. A buyer on both lists is
   blacklisted: the refusal is the explicit one.
2. **Keyword blacklist** (``keyword_blacklist``, ``*`` for up to four
   characters, matched on normalised text like the other reply rules, hidden
   spellings such as ``微 信`` included) → ``review``, rule
   ``blacklist.keyword``. Whitelists narrow it, they never widen what is sent:

   - a buyer on the **buyer whitelist** (``buyer_whitelist``, "buyers always
     answered") skips the keyword blacklist: the shop trusts them;
   - a hit lying inside a phrase of the **keyword whitelist**
     (``keyword_whitelist``) does not count (blacklist ``退``, whitelist
     ``退色``: "会退色吗" is answered, "退色了要退款" is not).

   Neither whitelist skips the later rules: a whitelisted buyer asking for a
   refund still goes to a person.
3. **Handoff intents** (:mod:`.intents` with the shop's ``handoff`` settings)
   → ``review``, rule ``intent.<code>`` of the most urgent intent found.
4. **Human takeover** (a person answered this conversation within the shop's
   takeover period) → ``draft``, rule ``takeover``: nothing is sent on its
   own; the draft goes to review.
5. **Business hours** (``business_hours`` in Asia/Shanghai): when closed, a
   knowledge answer is sent only if the shop allows it
   (``pipeline.after_hours_knowledge_answers``) and rule 6 would send it;
   otherwise → ``draft``, rule ``after_hours`` (the draft waits in review).
6. **Knowledge search** (calibrated confidence of the best hit against the
   shop's thresholds): ≥ ``auto_send_threshold`` with ``auto_mode`` on →
   ``send`` the knowledge answer, rule ``kb.auto``; ≥ ``draft_threshold`` →
   ``draft`` with the hits at or above it as context, rule ``kb.draft``;
   below → ``draft`` without knowledge, rule ``kb.none``.

**Away message** (``pipeline.away_message``, empty: none): while the shop is
closed, every decision that sends nothing on its own right now (``review``,
``draft``) carries it in :attr:`Decision.away_message`, once per conversation
per closed period: not when the conversation's ``away_sent_at`` falls in the
current closed period. Not with ``ignore`` (blacklisted buyers get nothing),
``send`` (the buyer has their answer) or ``takeover`` (a person is on it).
The caller sends it and records ``away_sent_at``.

Business hours: ``start``–``end`` on the listed ``days`` (1 = Monday).
An ``end`` before ``start`` runs past midnight into the next day (``20:00``–
``02:00`` on Friday is open until Saturday 02:00); ``end`` equal to
``start`` is open the whole day; ``24:00`` is midnight at the end of the day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext as _

from configs.selectors import shop_settings_get
from customer_service.models import ReplySource
from knowledge.selectors import MAX_QUERY_LENGTH, SearchHit, knowledge_search

from .intents import INTENT_LABELS, HandoffSettings, handoff_intents_detect
from .text import covered, find_phrases, normalize, phrases_regex, usable_phrases

SHOP_TIME_ZONE = ZoneInfo("Asia/Shanghai")
#: How many knowledge hits are searched, and how many at most go to a draft as context.
SEARCH_K = 5
DRAFT_HITS = 3
# How far back the start of the current closed period is looked for (a week of opening days, and one).
_LOOKBACK_DAYS = 8

IGNORE, REVIEW, SEND, DRAFT = "ignore", "review", "send", "draft"
RULE_BUYER_BLACKLIST = "blacklist.buyer"
RULE_KEYWORD_BLACKLIST = "blacklist.keyword"
RULE_TAKEOVER = "takeover"
RULE_AFTER_HOURS = "after_hours"
RULE_KB_AUTO = "kb.auto"
RULE_KB_DRAFT = "kb.draft"
RULE_KB_NONE = "kb.none"


def intent_rule(intent: str) -> str:
    return f"intent.{intent}"


@dataclass(frozen=True)
class Decision:
    """What to do with a buyer's burst (see the module docstring for the rules).

    ``action``: ``ignore`` | ``review`` | ``send`` | ``draft``; ``rule``: the
    deciding rule's code; ``reason``: the same for people. For ``send``:
    ``reply_text`` (the knowledge answer), ``reply_source``, ``confidence``,
    ``knowledge_item_id``, ``matched_phrasing``. For ``draft``: ``hits``, the
    knowledge context (``item_id``, ``question``, ``answer``, ``confidence``),
    and the best hit's ``confidence`` when there was one. ``away_message``:
    also to be sent, once.
    """

    action: str
    rule: str
    reason: str = ""
    reply_text: str = ""
    reply_source: str = ""
    confidence: float | None = None
    knowledge_item_id: int | None = None
    matched_phrasing: str = ""
    hits: tuple[dict, ...] = ()
    away_message: str = ""


# --- business hours ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessHours:
    """A shop's opening hours (settings ``business_hours``); disabled means always open."""

    enabled: bool = False
    start: str = "09:00"
    end: str = "23:00"
    days: frozenset[int] = frozenset(range(1, 8))

    @classmethod
    def from_shop_settings(cls, settings: Mapping) -> BusinessHours:
        values = settings.get("business_hours") or {}
        return cls(
            enabled=bool(values.get("enabled", False)),
            start=values.get("start") or "09:00",
            end=values.get("end") or "23:00",
            days=frozenset(int(d) for d in values.get("days", range(1, 8))),
        )

    @staticmethod
    def _minutes(value: str) -> int:
        hours, minutes = value.split(":")
        return int(hours) * 60 + int(minutes)

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The opening interval that starts on ``day`` (local), if ``day`` is an opening day."""
        if day.isoweekday() not in self.days:
            return []
        start, end = self._minutes(self.start), self._minutes(self.end)
        if end <= start:
            end += 24 * 60  # past midnight, or the whole day when equal
        midnight = datetime.combine(day, time(0), tzinfo=SHOP_TIME_ZONE)
        return [(midnight + timedelta(minutes=start), midnight + timedelta(minutes=end))]

    def _recent_intervals(self, at: datetime) -> list[tuple[datetime, datetime]]:
        today = at.astimezone(SHOP_TIME_ZONE).date()
        return [iv for offset in range(_LOOKBACK_DAYS, -1, -1) for iv in self.intervals(today - timedelta(days=offset))]

    def is_open(self, at: datetime) -> bool:
        if not self.enabled:
            return True
        return any(start <= at < end for start, end in self._recent_intervals(at))

    def closed_since(self, at: datetime) -> datetime | None:
        """When the closed period holding ``at`` began (the last closing time), None when open. A shop not
        open in the last week counts its closed period from the start of that week."""
        if self.is_open(at):
            return None
        ends = [end for _start, end in self._recent_intervals(at) if end <= at]
        if ends:
            return max(ends)
        today = at.astimezone(SHOP_TIME_ZONE).date()
        return datetime.combine(today - timedelta(days=_LOOKBACK_DAYS), time(0), tzinfo=SHOP_TIME_ZONE)


# --- lists -----------------------------------------------------------------------------------------


def _buyer_key(buyer: str) -> str:
    return buyer.strip().casefold()


def _listed_buyer(buyer: str, values) -> bool:
    key = _buyer_key(buyer)
    return any(isinstance(v, str) and _buyer_key(v) == key for v in (values or ()))


def keyword_blacklist_hit(text: str, *, blacklist, whitelist=()) -> str | None:
    """The first blacklisted keyword found in ``text`` outside every whitelisted phrase, or None.

    Phrases are matched on normalised text, tolerating symbols hidden between characters.
    """
    black = usable_phrases(blacklist)
    if not black:
        return None
    norm = normalize(text)
    white_spans = [(s, e) for _i, s, e in find_phrases(norm, phrases_regex(usable_phrases(whitelist), tolerant=True))]
    for index, start, end in find_phrases(norm, phrases_regex(black, tolerant=True)):
        if not covered((start, end), white_spans):
            return black[index]
    return None


# --- the decision ----------------------------------------------------------------------------------


def _hit_dict(hit: SearchHit) -> dict:
    return {"item_id": hit.item_id, "question": hit.question, "answer": hit.answer, "confidence": hit.confidence}


def _search(shop, text: str) -> list[SearchHit]:
    # The latest lines matter most: a burst longer than a query may be is searched by its end.
    return knowledge_search(shop=shop, text=text[-MAX_QUERY_LENGTH:], k=SEARCH_K)


def _away(settings: Mapping, hours: BusinessHours, conversation, now: datetime) -> str:
    """The away message to send with this decision, or "" (open, none set, or already sent this period)."""
    text = ((settings.get("pipeline") or {}).get("away_message") or "").strip()
    if not text:
        return ""
    since = hours.closed_since(now)
    if since is None:
        return ""
    sent = conversation.away_sent_at
    if sent is not None and sent >= since:
        return ""
    return text


def message_decide(*, message, text: str, now: datetime | None = None) -> Decision:
    """Decide what happens to ``message`` (the burst's head) whose burst reads ``text``.

    Reads the shop's settings and searches its knowledge base; no LLM call,
    no writes. Raises KnowledgeError only for a search the knowledge app
    refuses (it never refuses a burst's text).
    """
    now = now or timezone.now()
    shop, conversation = message.shop, message.conversation
    settings = shop_settings_get(shop=shop)
    buyer = conversation.buyer_id
    hours = BusinessHours.from_shop_settings(settings)

    # 1. buyer blacklist
    if _listed_buyer(buyer, settings.get("buyer_blacklist")):
        return Decision(action=IGNORE, rule=RULE_BUYER_BLACKLIST,
                        reason=_("The buyer %(buyer)s is on the shop's blacklist.") % {"buyer": buyer})

    away = _away(settings, hours, conversation, now)

    # 2. keyword blacklist (a whitelisted buyer skips it; whitelisted phrases exempt the hits inside them)
    if not _listed_buyer(buyer, settings.get("buyer_whitelist")):
        keyword = keyword_blacklist_hit(text, blacklist=settings.get("keyword_blacklist"),
                                        whitelist=settings.get("keyword_whitelist"))
        if keyword is not None:
            return Decision(action=REVIEW, rule=RULE_KEYWORD_BLACKLIST, away_message=away,
                            reason=_("The message contains the blacklisted keyword “%(keyword)s”.")
                            % {"keyword": keyword})

    # 3. handoff intents
    found = handoff_intents_detect(text, settings=HandoffSettings.from_shop_settings(settings))
    if found.handoff:
        match = found.first(found.intent)
        return Decision(action=REVIEW, rule=intent_rule(found.intent), away_message=away,
                        reason=_("%(intent)s: “%(matched)s”.") % {"intent": INTENT_LABELS[found.intent],
                                                                 "matched": match.matched})

    # 4–6 search the knowledge base: the answer to send, or the context of a draft.
    hits = _search(shop, text)
    best = hits[0] if hits else None
    confidence = best.confidence if best else None
    auto_threshold = float(settings.get("auto_send_threshold", 0.9))
    draft_threshold = float(settings.get("draft_threshold", 0.6))
    # The draft's context: the leading hits a reviewer would trust as far as a draft (the best one first).
    context = tuple(_hit_dict(h) for h in hits[:DRAFT_HITS] if h.confidence >= draft_threshold)
    knowledge = {"confidence": confidence, "knowledge_item_id": best.item_id if best else None,
                 "matched_phrasing": best.matched_phrasing if best else "", "hits": context}

    # 4. human takeover
    if conversation.taken_over(now):
        return Decision(action=DRAFT, rule=RULE_TAKEOVER, **knowledge,
                        reason=_("A person is answering this buyer until %(until)s: nothing is sent on its own.")
                        % {"until": timezone.localtime(conversation.takeover_until, SHOP_TIME_ZONE)
                           .strftime("%Y-%m-%d %H:%M")})

    auto = bool(settings.get("auto_mode")) and best is not None and best.confidence >= auto_threshold
    # 5. business hours
    if not hours.is_open(now):
        after_hours_answers = bool((settings.get("pipeline") or {}).get("after_hours_knowledge_answers"))
        if not (auto and after_hours_answers):
            return Decision(action=DRAFT, rule=RULE_AFTER_HOURS, away_message=away, **knowledge,
                            reason=_("Outside business hours: the draft waits for a person."))

    # 6. the knowledge base's confidence
    if auto:
        return Decision(action=SEND, rule=RULE_KB_AUTO, reply_text=best.answer, reply_source=ReplySource.KB.value,
                        confidence=confidence, knowledge_item_id=best.item_id, matched_phrasing=best.matched_phrasing,
                        reason=_("Knowledge answer with confidence %(c).2f (auto-send at %(t).2f).")
                        % {"c": confidence, "t": auto_threshold})
    if best is not None and best.confidence >= draft_threshold:
        return Decision(action=DRAFT, rule=RULE_KB_DRAFT, **knowledge,
                        reason=_("Best knowledge match %(c).2f: an AI draft with it goes to review.")
                        % {"c": confidence})
    return Decision(action=DRAFT, rule=RULE_KB_NONE, **knowledge,
                    reason=_("No knowledge match reaches %(t).2f: an AI draft without it goes to review.")
                    % {"t": draft_threshold})
