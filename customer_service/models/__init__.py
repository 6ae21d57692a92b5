"""Every model of customer_service, where Django looks for them.

The shop layer's models (shops, memberships) live in ``customer_service.shops.models``, which the
apps below the top layer import. This package belongs to the top layer: its other modules hold the
top layer's models (one module per area) and refer to lower apps' models by string.
"""

from customer_service.shops.models import Shop, ShopMembership

from .alerts import (
    AlertChannel,
    AlertChannelKind,
    AlertDelivery,
    AlertDeliveryStatus,
    AlertEvent,
    AlertKind,
    AlertPhase,
)
from .conversations import MESSAGE_STATES, Conversation, Message, MessageDirection, MessageSource, MessageStatus
from .desktop import CaptureKind, CaptureRecord, DesktopPause, DesktopSeenLine, JobKind, JobRecord, JobStatus
from .outbox import OUTBOX_STATES, OutboxChannel, OutgoingReply, OutgoingState
from .replies import Reply, ReplySource, ReplyTemplate
from .review import REVIEW_STATES, ReviewItem, ReviewStatus
from .states import StateMachine, TransitionRefused
from .statistics import DailyStatistics
from .suggestions import KnowledgeSuggestion, SuggestionKind, SuggestionStatus

__all__ = [
    "MESSAGE_STATES",
    "OUTBOX_STATES",
    "REVIEW_STATES",
    "AlertChannel",
    "AlertChannelKind",
    "AlertDelivery",
    "AlertDeliveryStatus",
    "AlertEvent",
    "AlertKind",
    "AlertPhase",
    "CaptureKind",
    "CaptureRecord",
    "Conversation",
    "DailyStatistics",
    "DesktopPause",
    "DesktopSeenLine",
    "JobKind",
    "JobRecord",
    "JobStatus",
    "KnowledgeSuggestion",
    "Message",
    "MessageDirection",
    "MessageSource",
    "MessageStatus",
    "OutboxChannel",
    "OutgoingReply",
    "OutgoingState",
    "Reply",
    "ReplySource",
    "ReplyTemplate",
    "ReviewItem",
    "ReviewStatus",
    "Shop",
    "ShopMembership",
    "StateMachine",
    "SuggestionKind",
    "SuggestionStatus",
    "TransitionRefused",
]
