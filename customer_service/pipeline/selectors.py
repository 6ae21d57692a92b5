"""Reads of the reply pipeline: conversations and messages as people see them, and the lines waiting
for an answer."""

from __future__ import annotations

from dataclasses import dataclass

from configs.selectors import shop_settings_get
from customer_service.models import Conversation, Message, MessageDirection, MessageStatus

from .bursts import BurstPolicy


@dataclass(frozen=True)
class PipelineSettings:
    """The shop settings group ``pipeline`` (configs migration 0007), defaults = the shipped behaviour."""

    takeover_minutes: int = 60
    after_hours_knowledge_answers: bool = False
    away_message: str = ""
    llm_time_budget_seconds: int = 50
    retention_days: int = 180

    @classmethod
    def from_shop_settings(cls, settings) -> PipelineSettings:
        values = settings.get("pipeline") or {}
        return cls(**{name: values[name] for name in cls.__dataclass_fields__ if name in values})


def pipeline_settings_get(*, shop) -> PipelineSettings:
    return PipelineSettings.from_shop_settings(shop_settings_get(shop=shop))


def burst_policy_get(*, shop) -> BurstPolicy:
    return BurstPolicy.from_shop_settings(shop_settings_get(shop=shop))


def conversation_list(*, user):
    return Conversation.objects.for_user(user).select_related("shop")


def message_list(*, user):
    return Message.objects.for_user(user).select_related("conversation")


def pending_buyer_lines(*, conversation_id: int):
    """The conversation's buyer lines waiting to be answered (status new), in arrival order."""
    return Message.objects.filter(
        conversation_id=conversation_id, direction=MessageDirection.BUYER, status=MessageStatus.NEW
    ).order_by("received_at", "id")
