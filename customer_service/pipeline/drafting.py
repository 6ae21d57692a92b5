"""The LLM draft: a reply for a person to review, written by the shop's AI model.

:func:`reply_draft` builds the prompt — the shop's system prompt with its name
and tone, the knowledge context (or a note that there is none), the
conversation so far and the buyer's burst — and calls ``billing.router``,
which picks the shop's model configs, fails over between them, keeps the
budgets and writes a usage record (``message_ref`` = the message) for every
attempt. It never raises for an AI failure: the :class:`Draft` then has no
text and says why, and the message waits in review with that reason.

The prompts are the configs template ``reply_prompts`` (configs migration
0008): a shop edits its own copy, versioned like every config; a shop without
one uses the template's defaults (:data:`DEFAULT_PROMPTS` when the template
itself is missing, e.g. in a database flushed by a test).

Time budget (``pipeline.llm_time_budget_seconds``, default 50 s): the router
runs in a thread of its own and the draft waits for it at most that long.
Past it the draft is given up (``llm.timeout``); the router's call runs on to
its own timeouts so that whatever the provider answers is still metered — its
usage record carries the message's id, but not the draft, which has none.

Never call this inside a database transaction: the call takes seconds and
SQLite's write lock, or a PostgreSQL row lock, would be held all along.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import close_old_connections, connection, connections
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import router
from billing.exceptions import AllProvidersFailed, BillingError, BudgetExceeded, NoProviderConfigured
from billing.models import UsageRecord
from configs.exceptions import ConfigNotFound
from configs.selectors import config_values_get, shop_settings_get
from customer_service.models import Message, MessageDirection, Reply
from kefu.prepared import PreparedRead
from kefu.validators import without_control_characters

from .decision import SHOP_TIME_ZONE

logger = logging.getLogger(__name__)
_WEEKDAYS = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]

PROMPTS_TEMPLATE = "reply_prompts"
DEFAULT_TIME_BUDGET_SECONDS = 50

ERROR_NO_PROVIDER = "llm.no_provider"
ERROR_FAILED = "llm.failed"
ERROR_BUDGET = "llm.budget_exhausted"
ERROR_TIMEOUT = "llm.timeout"

#: The template's shipped values (configs migration 0008 seeds the same; a test compares them).
DEFAULT_PROMPTS: dict = {
    "system_prompt": (
        "你是淘宝/天猫店铺“{shop_name}”的在线客服，正在千牛里回复买家。{tone}\n"
        "规则：只根据下面的店铺知识和对话内容回答，不知道的不要编造，说明会帮买家确认；"
        "不承诺退款、赔偿或任何保证；不说已经为买家办理了什么（如已退款、已发货、已备注）；"
        "不给出微信、QQ、电话、链接等任何站外联系方式；不使用“最”“第一”等绝对化用语。"
        "只输出发给买家的这一条回复，不要解释。"
    ),
    "tone": "语气亲切礼貌，称呼买家为“亲”，回复简短（一般不超过80字），不用Markdown。",
    "knowledge_intro": "店铺知识库中可能相关的问答（按相关程度排列）：",
    "knowledge_item": "问：{question}\n答：{answer}",
    "no_knowledge": "店铺知识库中没有找到相关答案：不要编造商品或服务信息，礼貌地告诉买家会帮他确认。",
    "history_lines": 10,
}


@dataclass(frozen=True)
class Draft:
    """What :func:`reply_draft` produced.

    ``text``: the draft, "" when none could be made; ``usage_record_ids``: the
    billing usage records of every attempt that ended within the time budget;
    ``error_rule``: ``llm.no_provider`` | ``llm.failed`` |
    ``llm.budget_exhausted`` | ``llm.timeout`` when there is no text;
    ``error``: the same for people.
    """

    text: str
    usage_record_ids: tuple[int, ...] = ()
    error_rule: str = ""
    error: str = ""


# --- the prompt ------------------------------------------------------------------------------------


def _fill(template: str, values: Mapping[str, str]) -> str:
    # Plain replacement, not str.format: a shop's prompt is text, and "{" in it is just a brace.
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


def reply_prompts_get(*, shop) -> dict:
    """The shop's reply prompts: its own config of ``reply_prompts``, else the template's defaults."""
    try:
        values = config_values_get(template_code=PROMPTS_TEMPLATE, shop=shop)
    except ConfigNotFound:
        values = {}
    return {**DEFAULT_PROMPTS, **values}


def _earlier_lines(*, conversation_id, received_at, message_id, lines: int):
    return (
        Message.objects.filter(conversation_id=conversation_id, received_at__lte=received_at)
        .exclude(pk=message_id)
        .exclude(burst_head_id=message_id)  # the burst's earlier lines are in ``text``
        .order_by("-received_at", "-pk")
        .values_list("direction", "content")[:lines]
    )


# One prepared read per history length (the limit is part of the statement): a shop setting, few values.
_history_reads: dict[int, PreparedRead] = {}


def conversation_history(*, message: Message, lines: int) -> list[dict]:
    """The conversation before ``message``'s burst, oldest first: at most ``lines`` chat turns
    (buyer → ``user``, seller → ``assistant``), consecutive lines of one side joined."""
    if lines <= 0:
        return []
    read = _history_reads.get(lines)
    if read is None:
        read = _history_reads.setdefault(lines, PreparedRead(functools.partial(_earlier_lines, lines=lines)))
    earlier = read(conversation_id=message.conversation_id, received_at=message.received_at, message_id=message.pk)
    turns: list[dict] = []
    for direction, content in reversed(earlier):
        role = "assistant" if direction == MessageDirection.SELLER else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n" + content
        else:
            turns.append({"role": role, "content": content})
    return turns


def reply_prompt_build(*, message: Message, text: str, hits: Iterable[Mapping] = (),
                       now: datetime | None = None) -> list[dict]:
    """The chat messages sent for a draft: system prompt with the knowledge context, the conversation
    so far, then the buyer's burst ``text`` (the last buyer turn).

    The system prompt's placeholders: ``{shop_name}``, ``{tone}``, and ``{now}``, the time in
    Shanghai (``2025-03-12 14:00 周三``) for a shop whose prompt speaks of today's dispatch.
    """
    prompts = reply_prompts_get(shop=message.shop)
    local = timezone.localtime(now or timezone.now(), SHOP_TIME_ZONE)
    system = _fill(prompts["system_prompt"], {
        "shop_name": message.shop.name, "tone": prompts["tone"],
        "now": f"{local:%Y-%m-%d %H:%M} {_WEEKDAYS[local.weekday()]}",
    })
    hits = list(hits)
    if hits:
        items = "\n\n".join(
            _fill(prompts["knowledge_item"], {"question": str(h.get("question", "")),
                                              "answer": str(h.get("answer", ""))})
            for h in hits
        )
        knowledge = f"{prompts['knowledge_intro']}\n\n{items}".strip()
    else:
        knowledge = prompts["no_knowledge"].strip()
    if knowledge:
        system = f"{system}\n\n{knowledge}"
    turns = conversation_history(message=message, lines=int(prompts["history_lines"]))
    if turns and turns[0]["role"] == "assistant":
        turns = turns[1:]  # a chat starts with the buyer's turn (Anthropic requires it)
    if turns and turns[-1]["role"] == "user":
        # Buyer lines left unanswered before this burst belong to the same question.
        text = f"{turns.pop()['content']}\n{text}"
    return [{"role": "system", "content": system}, *turns, {"role": "user", "content": text}]


# --- the call --------------------------------------------------------------------------------------


class _CallThreads:
    """Daemon threads that make the LLM calls, kept between calls with their database connection.

    A thread per call opened a database connection per draft (the router records usage from the
    calling thread), which on PostgreSQL costs more than the rest of the draft's own work. A call
    never waits for a thread: when every kept thread is busy (calls past their time budget still
    finishing), it gets a new one, so one slow provider cannot delay the next draft. Daemon threads,
    like the thread per call before: a stuck provider call never holds up the worker's shutdown.
    """

    #: Idle threads kept per process; a prefork worker makes one call at a time.
    KEEP = 2

    def __init__(self):
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue] = []
        self._pid = os.getpid()

    def start(self, work, *, name: str) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked worker process: the parent's threads are not here
                self._idle, self._pid = [], os.getpid()
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(target=self._serve, args=(inbox,), name=name, daemon=True).start()
        inbox.put(work)

    def _serve(self, inbox: queue.SimpleQueue) -> None:
        while True:
            work = inbox.get()
            work()
            with self._lock:
                if len(self._idle) >= self.KEEP:
                    break
                self._idle.append(inbox)
        connections.close_all()  # this thread's connections only: they are per thread


_call_threads = _CallThreads()


class _Call:
    """``router.chat`` in a thread of its own, so that the caller waits at most the time budget."""

    def __init__(self, messages, *, shop, message):
        self.messages, self.shop, self.message = messages, shop, message
        self.result = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:
        # The kept connection is closed here when it is too old or broken (CONN_MAX_AGE, CONN_HEALTH_CHECKS),
        # as a request or a task does for its own.
        close_old_connections()
        try:
            self.result = router.chat(self.messages, shop=self.shop, message=self.message)
        except BaseException as exc:  # handed to the waiting caller
            self.error = exc
        finally:
            close_old_connections()
            self.done.set()

    def wait(self, seconds: float) -> bool:
        _call_threads.start(self.run, name="reply-draft")
        return self.done.wait(seconds)


def _attempt_usage_ids(attempts) -> tuple[int, ...]:
    return tuple(a["usage"] for a in attempts or () if a.get("usage"))


def _time_budget(shop) -> float:
    pipeline = shop_settings_get(shop=shop).get("pipeline") or {}
    return float(pipeline.get("llm_time_budget_seconds") or DEFAULT_TIME_BUDGET_SECONDS)


def _attempts_text(error: AllProvidersFailed) -> str:
    """Each attempt as "config: error code" (or why it was skipped), for the reviewer."""
    attempts = (error.detail or {}).get("attempts") or []
    parts = [f"{a.get('name', a.get('config'))}: {a.get('error') or a.get('skipped') or a.get('status')}"
             for a in attempts]
    return "; ".join(parts) or error.message


def _clean(text: str) -> str:
    return without_control_characters(text or "").strip()[: Reply._meta.get_field("text").max_length]


def reply_draft(*, message: Message, text: str, hits: Iterable[Mapping] = (), now: datetime | None = None) -> Draft:
    """Ask the shop's AI model for a draft reply to ``message`` (the burst's head) reading ``text``.

    ``hits``: the knowledge context of the decision (``question``, ``answer``…);
    ``now``: the time the draft is for (the prompt's ``{now}``), default now.
    Returns a Draft with the text, or without it and with the reason
    (see :class:`Draft`); never raises for an AI failure. Makes network calls:
    never call it inside a transaction (checked: raises RuntimeError).
    """
    if any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks):
        raise RuntimeError("reply_draft waits on network calls: never call it inside a database transaction.")
    started_at = timezone.now()  # the wall clock: the usage records' times are
    started = time.monotonic()
    messages = reply_prompt_build(message=message, text=text, hits=hits, now=now)
    budget = _time_budget(message.shop)
    call = _Call(messages, shop=message.shop, message=message)
    if not call.wait(budget):
        ids = tuple(UsageRecord.objects.filter(message_ref=message.pk, created_at__gte=started_at)
                    .order_by("pk").values_list("pk", flat=True))
        logger.warning("reply draft for message %s gave up after %.1f s", message.pk, time.monotonic() - started)
        return Draft(text="", usage_record_ids=ids, error_rule=ERROR_TIMEOUT,
                     error=_("The AI model did not answer within %(s)d seconds.") % {"s": budget})
    error = call.error
    if error is None:
        ids = _attempt_usage_ids(call.result.attempts)
        draft_text = _clean(call.result.text)
        if not draft_text:
            return Draft(text="", usage_record_ids=ids, error_rule=ERROR_FAILED,
                         error=_("The AI model answered with an empty text."))
        return Draft(text=draft_text, usage_record_ids=ids)
    ids = _attempt_usage_ids((getattr(error, "detail", None) or {}).get("attempts"))
    if isinstance(error, NoProviderConfigured):
        return Draft(text="", usage_record_ids=ids, error_rule=ERROR_NO_PROVIDER,
                     error=_("No AI model is configured for drafts: a person answers."))
    if isinstance(error, BudgetExceeded):
        return Draft(text="", usage_record_ids=ids, error_rule=ERROR_BUDGET,
                     error=_("The AI budget is used up: %(error)s") % {"error": error.message})
    if isinstance(error, AllProvidersFailed):
        return Draft(text="", usage_record_ids=ids, error_rule=ERROR_FAILED,
                     error=_("No AI provider answered: %(errors)s") % {"errors": _attempts_text(error)})
    if isinstance(error, BillingError):
        return Draft(text="", usage_record_ids=ids, error_rule=ERROR_FAILED, error=error.message)
    if isinstance(error, Exception):
        logger.error("reply draft for message %s failed", message.pk, exc_info=error)
        return Draft(text="", usage_record_ids=ids, error_rule=ERROR_FAILED,
                     error=_("The AI draft failed: %(error)s") % {"error": type(error).__name__})
    raise error  # KeyboardInterrupt, SystemExit: not ours to swallow
