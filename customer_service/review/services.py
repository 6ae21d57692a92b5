"""Putting a buyer's message in front of a person (``review_item_open``), the review settings, and the
shops' reply templates. What a person then decides is in ``decisions``, above the outbox and the pipeline,
which open items through this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Max, Min, Q, Value
from django.utils import timezone
from django.utils.translation import gettext as _

from configs.selectors import shop_settings_get
from customer_service.models import (
    MESSAGE_STATES,
    Message,
    MessageStatus,
    Reply,
    ReplyTemplate,
    ReviewItem,
    ReviewStatus,
)
from customer_service.shops.selectors import shop_is_manageable
from kefu.exceptions import PermissionDenied, full_clean
from kefu.models import unique_row
from kefu.prepared import PreparedRead


@dataclass(frozen=True)
class ReviewSettings:
    deadline_seconds: int = 180
    holding_before_seconds: int = 45
    holding_reply: str = "亲，稍等，马上为您查询～"
    backlog_alert: int = 20

    @classmethod
    def from_shop_settings(cls, settings) -> ReviewSettings:
        review = settings.get("review") or {}
        return cls(**{name: review[name] for name in cls.__dataclass_fields__ if name in review})


def review_settings_get(*, shop) -> ReviewSettings:
    return ReviewSettings.from_shop_settings(shop_settings_get(shop=shop))


def burst_messages(message: Message):
    """The message and the earlier lines of its burst that its reply answers too."""
    return Message.objects.filter(pk=message.pk) | Message.objects.filter(burst_head=message)


# A burst answered again after the buyer wrote more keeps its clock (its first line), and a buyer already told
# to wait for it is not told twice (the latest holding reply of its earlier items). The same read says whether
# an item is pending for the message already, as is seldom the case. One row, aggregated over the whole burst
# (grouped by a constant, which the ORM leaves out of GROUP BY), so that the read can be prepared.
_BURST_REVIEW_READ = PreparedRead(lambda message_id: (
    Message.objects.filter(Q(pk=message_id) | Q(burst_head_id=message_id)).order_by()
    .annotate(burst=Value(1)).values("burst")
    .annotate(first_line_at=Min("received_at"), holding_sent_at=Max("review_items__holding_sent_at"),
              pending_id=Max("review_items__id", filter=Q(review_items__message=message_id,
                                                          review_items__status=ReviewStatus.PENDING)))
    .values("first_line_at", "holding_sent_at", "pending_id")
))


def review_item_open(
    *, message: Message, reason: str, reason_detail: str = "", draft: Reply | None = None, fragments: bool = True
) -> ReviewItem:
    """Put ``message`` (with its burst) in the review queue, because of ``reason`` (a rule code).

    The message moves to ``review`` from wherever the pipeline left it; an item already pending for it is
    kept (its deadline runs from the buyer's first line) and takes the newer reason and draft. The deadline
    counts from the burst's first line, as Qianniu counts its response time. ``fragments`` false: the caller
    knows no earlier line of the burst points to this message (nothing to move with it).
    """
    settings = review_settings_get(shop=message.shop)
    # Inside a caller's transaction no savepoint: a failure here fails the caller's whole write anyway.
    with transaction.atomic(savepoint=False):
        if message.status != MessageStatus.REVIEW:
            MESSAGE_STATES.transition(
                Message, pk=message.pk, old=message.status, new=MessageStatus.REVIEW,
                status_rule=reason, status_detail=reason_detail, lease_owner="", lease_until=None,
            )
            message.status = MessageStatus.REVIEW
        if fragments:
            Message.objects.filter(burst_head=message).exclude(status=MessageStatus.REVIEW).update(
                status=MessageStatus.REVIEW, status_rule=reason
            )
        (burst,) = _BURST_REVIEW_READ(message_id=message.pk)
        if burst["pending_id"] is not None:
            # One pending item per message (a constraint): no ordering to build, nor to lock rows by.
            pending = unique_row(
                ReviewItem.objects.select_for_update().filter(pk=burst["pending_id"], status=ReviewStatus.PENDING)
            )
            if pending is not None:
                pending.reason, pending.reason_detail = reason, reason_detail
                pending.draft = draft or pending.draft
                pending.save(update_fields=["reason", "reason_detail", "draft", "updated_at"])
                return pending
        first_line_at = burst["first_line_at"] or timezone.now()
        return ReviewItem.objects.create(
            shop=message.shop, message=message, draft=draft, reason=reason, reason_detail=reason_detail,
            deadline_at=first_line_at + timedelta(seconds=settings.deadline_seconds),
            holding_sent_at=burst["holding_sent_at"],
        )


# -- reply templates -------------------------------------------------------------------------------------------

TEMPLATE_FIELDS = ("code", "title", "text", "is_active")


def template_manager_check(*, actor, shop) -> None:
    """Raises PermissionDenied unless ``actor`` may change the templates of ``shop`` (None: the shared ones)."""
    if shop is None:
        if not getattr(actor, "is_superadmin", False):
            raise PermissionDenied(_("Only a superadmin may change the templates shared by every shop."))
    elif not shop_is_manageable(user=actor, shop=shop):
        raise PermissionDenied(_("Only an admin of this shop may change its reply templates."))


def _template_save(*, actor, template: ReplyTemplate) -> ReplyTemplate:
    for name in ("code", "title", "text"):
        setattr(template, name, (getattr(template, name) or "").strip())
    full_clean(template, code="validation_error")
    template.stamp(actor)
    template.save()
    return template


def reply_template_create(*, actor, shop=None, code: str, text: str, title: str = "",
                          is_active: bool = True) -> ReplyTemplate:
    """A canned reply of ``shop`` (None: shared by every shop). Raises PermissionDenied (shop admins for
    their shops, superadmins for shared ones), KefuError ``validation_error`` (a code in use, bad text)."""
    template_manager_check(actor=actor, shop=shop)
    return _template_save(actor=actor, template=ReplyTemplate(shop=shop, code=code, text=text, title=title,
                                                              is_active=is_active))


def reply_template_update(*, actor, template: ReplyTemplate, **changes) -> ReplyTemplate:
    """Change ``template``'s fields among code, title, text, is_active and shop (moving it needs the right to
    change both the old and the new shop's templates). Raises like ``reply_template_create``."""
    template_manager_check(actor=actor, shop=template.shop)
    if "shop" in changes:
        template_manager_check(actor=actor, shop=changes["shop"])
        template.shop = changes.pop("shop")
    for name, value in changes.items():
        if name not in TEMPLATE_FIELDS:
            raise TypeError(f"reply_template_update() got an unexpected field {name!r}")
        setattr(template, name, value)
    return _template_save(actor=actor, template=template)


def reply_template_delete(*, actor, template: ReplyTemplate) -> None:
    template_manager_check(actor=actor, shop=template.shop)
    template.delete()
