"""Writes for alerts: raise and resolve events, fan them out to channels, send each message, manage channels.

How an outage becomes exactly one alert and one "resolved" message:

1. ``alert_raise`` opens an event for (shop, kind, key), or only counts when one is open. A new event is
   announced once: on commit, a task gives every channel that wants it a delivery row.
2. ``alert_resolve`` closes the open event. Its "resolved" message goes out once the event has stayed
   resolved for ``KEFU_ALERT_RESOLVE_HOLD_SECONDS`` (the beat task ``alerts.dispatch_due`` sends it), so a
   problem that comes back within that time reopens the same event instead of sending a new pair of
   messages (a flapping provider is one outage). With a hold of 0 it is sent on commit.
3. Each delivery row is sent by a Celery task outside any transaction; a failure is retried with
   exponential backoff and then recorded as failed on the row and its channel, visible in the admin.
4. A channel gets at most ``KEFU_ALERT_CHANNEL_HOURLY_LIMIT`` messages an hour; beyond that a message
   is recorded as suppressed instead of sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from customer_service.models import (
    AlertChannel,
    AlertDelivery,
    AlertDeliveryStatus,
    AlertEvent,
    AlertKind,
    AlertPhase,
    Shop,
)
from customer_service.shops.selectors import shop_is_manageable
from kefu.exceptions import KefuError, PermissionDenied, full_clean
from kefu.prepared import PreparedRead
from kefu.scoping import is_superadmin
from kefu.validators import without_control_characters

from .redaction import redact

logger = logging.getLogger(__name__)

TITLE_MAX = 200
MESSAGE_MAX = 2000
ERROR_MAX = 1000
_ACTIVE_STATUSES = (AlertDeliveryStatus.PENDING, AlertDeliveryStatus.SENDING, AlertDeliveryStatus.RETRYING,
                    AlertDeliveryStatus.SENT)


# -- raising and resolving ------------------------------------------------------------------------------------

def _shop_id(shop) -> int | None:
    if shop is None:
        return None
    return shop.pk if isinstance(shop, Shop) else int(shop)


def _existing_shop_id(shop) -> int | None:
    """The shop's id, checked to exist when only an id was given: the foreign key is checked at commit
    (deferred), where a wrong id would fail the caller's transaction instead of this call."""
    shop_id = _shop_id(shop)
    if shop_id is not None and not isinstance(shop, Shop) and not Shop.objects.filter(pk=shop_id).exists():
        raise ValueError(f"no shop {shop_id}")
    return shop_id


def _clean_text(text, limit: int) -> str:
    text = redact(without_control_characters(str(text or "")))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clean_detail(detail) -> dict:
    if not detail:
        return {}
    import json

    try:
        value = json.loads(json.dumps(detail, cls=DjangoJSONEncoder, ensure_ascii=False))
    except (TypeError, ValueError):
        return {"value": _clean_text(repr(detail), MESSAGE_MAX)}
    return value if isinstance(value, dict) else {"value": value}


def _enqueue(task_name: str, *args) -> None:
    """Send a task, never failing the caller: a lost message is picked up by ``alert_dispatch_due``."""
    try:
        from . import tasks

        getattr(tasks, task_name).delay(*args)
    except Exception:
        logger.exception("Could not enqueue %s%r; the next dispatch run sends it.", task_name, args)


def _on_commit(task_name: str, *args) -> None:
    transaction.on_commit(lambda: _enqueue(task_name, *args), robust=True)


def alert_raise(*, kind: str, shop=None, key: str = "", title: str, message: str = "",
                detail: dict | None = None) -> AlertEvent | None:
    """Open the event (shop, kind, key), or count one more occurrence of the open one.

    Safe inside the caller's transaction (it runs in a savepoint and sends nothing before the commit)
    and never raises into the caller's flow: a failure is logged and answered with None.
    Phone numbers, e-mail and street addresses in ``title`` and ``message`` are masked.
    Returns the open event.
    Side effect: a new event's "raised" message is enqueued on commit.
    """
    try:
        if kind not in AlertKind.values:
            raise ValueError(f"unknown alert kind {kind!r}")
        with transaction.atomic():
            return _raise(kind=kind, shop_id=_existing_shop_id(shop), key=str(key or "")[:200],
                          title=_clean_text(title, TITLE_MAX) or AlertKind(kind).label,
                          message=_clean_text(message, MESSAGE_MAX), detail=_clean_detail(detail))
    except Exception:
        logger.exception("Could not raise the %s alert (shop %s, key %r).", kind, _safe_shop_id(shop), key)
        return None


def _safe_shop_id(shop):
    try:
        return _shop_id(shop)
    except (TypeError, ValueError):
        return None


def _raise(*, kind, shop_id, key, title, message, detail) -> AlertEvent:
    now = timezone.now()
    same = AlertEvent.objects.filter(kind=kind, shop_id=shop_id, key=key)
    changes = {"last_seen": now, "count": F("count") + 1, "title": title, "message": message, "detail": detail}

    # 1. An open event only counts.
    if same.filter(resolved_at__isnull=True).update(**changes):
        return same.get(resolved_at__isnull=True)

    # 2. One resolved so recently that its "resolved" message has not gone out yet: the same outage.
    unannounced = same.filter(resolved_at__isnull=False, resolve_notified_at__isnull=True).order_by("-resolved_at")
    for candidate in unannounced[:1]:
        if AlertEvent.objects.filter(pk=candidate.pk, resolved_at=candidate.resolved_at,
                                     resolve_notified_at__isnull=True).update(resolved_at=None, **changes) == 1:
            return AlertEvent.objects.get(pk=candidate.pk)

    # 3. A new event; when another process opened it meanwhile, count on theirs.
    try:
        with transaction.atomic():
            event = AlertEvent.objects.create(kind=kind, shop_id=shop_id, key=key, title=title, message=message,
                                              detail=detail, first_seen=now, last_seen=now)
    except IntegrityError:
        same.filter(resolved_at__isnull=True).update(**changes)
        return same.get(resolved_at__isnull=True)
    _on_commit("alert_event_notify_task", event.pk, AlertPhase.RAISED.value)
    return event


def alert_resolve(*, kind: str, shop=None, key: str = "") -> AlertEvent | None:
    """Close the open event (shop, kind, key), if there is one. Never raises into the caller's flow.

    Returns the event it closed, else None.
    Side effect: its "resolved" message is sent after the hold (see the module's docstring).
    """
    try:
        shop_id, key = _shop_id(shop), str(key or "")[:200]
        # Nearly every call finds nothing open (each successful draft, send or check says so): a plain read
        # then, not a transaction, which on SQLite would take the database's write lock.
        if not _OPEN_EVENT_READ(kind=str(kind), shop_id=shop_id, key=key):
            return None
        with transaction.atomic():
            return _resolve(kind=kind, shop_id=shop_id, key=key)
    except Exception:
        logger.exception("Could not resolve the %s alert (shop %s, key %r).", kind, _safe_shop_id(shop), key)
        return None


# Read after every draft and every send: built once per thread (a shop's alerts; the system's, shop None,
# go through the ORM).
_OPEN_EVENT_READ = PreparedRead(
    lambda kind, shop_id, key: _open_events(kind=kind, shop_id=shop_id, key=key)
    .order_by().values_list("pk", flat=True)[:1]
)


def _open_events(*, kind, shop_id, key):
    return AlertEvent.objects.filter(kind=kind, shop_id=shop_id, key=key, resolved_at__isnull=True)


def _resolve(*, kind, shop_id, key) -> AlertEvent | None:
    event = _open_events(kind=kind, shop_id=shop_id, key=key).first()
    if event is None:
        return None
    now = timezone.now()
    if AlertEvent.objects.filter(pk=event.pk, resolved_at__isnull=True).update(resolved_at=now) != 1:
        return None
    event.resolved_at = now
    if resolve_hold() <= timedelta(0):
        _on_commit("alert_event_notify_task", event.pk, AlertPhase.RESOLVED.value)
    return event


def alert_event_close(*, actor, event: AlertEvent) -> AlertEvent:
    """A person closes an open event by hand (the problem is dealt with, or was not one).

    Raises PermissionDenied unless ``actor`` manages the event's shop (superadmins for global events);
    Conflict-like KefuError when it is already resolved.
    """
    if not (is_superadmin(actor) or (event.shop_id is not None and shop_is_manageable(user=actor,
                                                                                       shop=event.shop_id))):
        raise PermissionDenied(_("Only an admin of this shop may close its alerts."))
    with transaction.atomic():
        closed = _resolve(kind=event.kind, shop_id=event.shop_id, key=event.key)
    if closed is None or closed.pk != event.pk:
        raise KefuError(_("This alert is already resolved."), code="already_resolved", status_code=409)
    return closed


def resolve_hold() -> timedelta:
    return timedelta(seconds=getattr(settings, "KEFU_ALERT_RESOLVE_HOLD_SECONDS", 300))


# -- fan-out and delivery ---------------------------------------------------------------------------------------

def _channels_for(event: AlertEvent):
    channels = AlertChannel.objects.active().filter(Q(shop__isnull=True) | Q(shop_id=event.shop_id))
    return [channel for channel in channels.order_by("pk") if channel.wants(event.kind)]


def _over_rate_limit(channel: AlertChannel, now) -> bool:
    limit = getattr(settings, "KEFU_ALERT_CHANNEL_HOURLY_LIMIT", 30)
    recent = AlertDelivery.objects.filter(channel=channel, created_at__gte=now - timedelta(hours=1),
                                          status__in=_ACTIVE_STATUSES).count()
    return recent >= limit


def alert_event_notify(*, event_id: int, phase: str) -> list[int]:
    """Give each channel that wants the event its ``phase`` message ("raised" or "resolved"), once.

    The "resolved" message goes to the channels that were given the "raised" one. A channel over its
    hourly limit gets a suppressed row instead. Returns the ids of the deliveries to send.
    Side effect: their sending is enqueued on commit.
    """
    now = timezone.now()
    field = "raise_notified_at" if phase == AlertPhase.RAISED else "resolve_notified_at"
    claim = AlertEvent.objects.filter(pk=event_id, **{f"{field}__isnull": True})
    if phase == AlertPhase.RESOLVED:
        claim = claim.filter(resolved_at__isnull=False)
    elif phase != AlertPhase.RAISED:
        raise ValueError(f"unknown phase {phase!r}")
    with transaction.atomic():
        if claim.update(**{field: now}) != 1:
            return []
        event = AlertEvent.objects.get(pk=event_id)
        if phase == AlertPhase.RAISED:
            channels = _channels_for(event)
        else:
            told = (AlertDelivery.objects.filter(event=event, phase=AlertPhase.RAISED)
                    .exclude(status=AlertDeliveryStatus.SUPPRESSED).values("channel_id"))
            channels = list(AlertChannel.objects.active().filter(pk__in=told).order_by("pk"))
        to_send = []
        for channel in channels:
            suppressed = _over_rate_limit(channel, now)
            delivery, created = AlertDelivery.objects.get_or_create(
                event=event, channel=channel, phase=phase,
                defaults={
                    "status": AlertDeliveryStatus.SUPPRESSED if suppressed else AlertDeliveryStatus.PENDING,
                    "last_error": _("More than %(limit)s alerts in an hour to this channel.")
                    % {"limit": getattr(settings, "KEFU_ALERT_CHANNEL_HOURLY_LIMIT", 30)} if suppressed else "",
                    "created_at": now,
                },
            )
            if created and not suppressed:
                to_send.append(delivery.pk)
        for delivery_id in to_send:
            _on_commit("alert_delivery_send_task", delivery_id)
    return to_send


@dataclass(frozen=True)
class SendOutcome:
    """What one send attempt came to; ``retry_in`` (seconds) is set when the task should try again."""

    status: str
    retry_in: int | None = None
    error: str = ""


def retry_delay(attempt: int) -> int:
    """Seconds before the attempt after ``attempt`` (1-based): base × 2^(attempt-1), capped."""
    base = getattr(settings, "KEFU_ALERT_RETRY_BASE_SECONDS", 30)
    cap = getattr(settings, "KEFU_ALERT_RETRY_MAX_SECONDS", 3600)
    return int(min(cap, base * 2 ** max(0, attempt - 1)))


def alert_delivery_send(*, delivery_id: int) -> SendOutcome:
    """Make one attempt at sending delivery ``delivery_id`` (held by no transaction while it talks to the channel).

    1. Claim it (pending or retrying → sending); a delivery someone else holds or finished is left alone.
    2. Send it through its channel's transport.
    3. Record the outcome: sent; retrying with the next attempt's time when the failure may pass and
       attempts remain (``KEFU_ALERT_DELIVERY_MAX_ATTEMPTS``); failed otherwise. The channel keeps its last
       success and its last error.
    Returns the outcome; ``retry_in`` tells the task when to try again.
    """
    from .transports import DeliveryError, render, transport_for

    claimed = AlertDelivery.objects.filter(
        pk=delivery_id, status__in=(AlertDeliveryStatus.PENDING, AlertDeliveryStatus.RETRYING),
    ).update(status=AlertDeliveryStatus.SENDING, attempts=F("attempts") + 1, next_attempt_at=None,
             claimed_at=timezone.now())
    if claimed != 1:
        return SendOutcome(status="skipped")
    delivery = AlertDelivery.objects.select_related("channel", "channel__shop", "event", "event__shop").get(
        pk=delivery_id)
    channel = delivery.channel
    now = timezone.now
    try:
        transport_for(channel).send(channel, render(delivery))
    except DeliveryError as exc:
        error = _clean_error(str(exc))
        retry = exc.retryable and delivery.attempts < max_attempts()
        delay = retry_delay(delivery.attempts) if retry else None
        AlertDelivery.objects.filter(pk=delivery.pk, status=AlertDeliveryStatus.SENDING).update(
            status=AlertDeliveryStatus.RETRYING if retry else AlertDeliveryStatus.FAILED,
            last_error=error, next_attempt_at=now() + timedelta(seconds=delay) if retry else None,
        )
        AlertChannel.objects.filter(pk=channel.pk).update(last_failed_at=now(), last_error=error)
        logger.warning("Alert delivery %s to channel %s failed (attempt %s): %s", delivery.pk, channel.pk,
                       delivery.attempts, error)
        return SendOutcome(status="retrying" if retry else "failed", retry_in=delay, error=error)
    AlertDelivery.objects.filter(pk=delivery.pk, status=AlertDeliveryStatus.SENDING).update(
        status=AlertDeliveryStatus.SENT, sent_at=now(), last_error="")
    AlertChannel.objects.filter(pk=channel.pk).update(last_sent_at=now())
    return SendOutcome(status="sent")


def _clean_error(text: str) -> str:
    return _clean_text(text, ERROR_MAX)


def max_attempts() -> int:
    return getattr(settings, "KEFU_ALERT_DELIVERY_MAX_ATTEMPTS", 6)


def alert_dispatch_due(*, now=None) -> dict:
    """The beat's catch-up: whatever was due and not sent, sent now. Returns counts by what was done.

    1. "Resolved" messages of events resolved for longer than the hold.
    2. "Raised" messages of events whose enqueue was lost (older than a minute, never announced).
    3. Deliveries whose retry is overdue by more than a minute (its task message was lost), and
       deliveries left "sending" for ten minutes (their worker died), are sent again.
    """
    now = now or timezone.now()
    done = {"resolved": 0, "raised": 0, "resent": 0}
    for event_id in AlertEvent.objects.filter(
        resolved_at__isnull=False, resolved_at__lte=now - resolve_hold(), resolve_notified_at__isnull=True,
        raise_notified_at__isnull=False,
    ).values_list("pk", flat=True)[:500]:
        _enqueue("alert_event_notify_task", event_id, AlertPhase.RESOLVED.value)
        done["resolved"] += 1
    for event_id in AlertEvent.objects.filter(
        raise_notified_at__isnull=True, first_seen__lte=now - timedelta(minutes=1),
    ).values_list("pk", flat=True)[:500]:
        _enqueue("alert_event_notify_task", event_id, AlertPhase.RAISED.value)
        done["raised"] += 1
    AlertDelivery.objects.filter(status=AlertDeliveryStatus.SENDING,
                                 claimed_at__lte=now - timedelta(minutes=10)).update(
        status=AlertDeliveryStatus.RETRYING, next_attempt_at=now - timedelta(minutes=1))
    overdue = AlertDelivery.objects.filter(status=AlertDeliveryStatus.RETRYING,
                                           next_attempt_at__lte=now - timedelta(minutes=1))
    for delivery_id in overdue.values_list("pk", flat=True)[:500]:
        _enqueue("alert_delivery_send_task", delivery_id)
        done["resent"] += 1
    return done


# -- channels ---------------------------------------------------------------------------------------------------

CHANNEL_FIELDS = ("name", "kind", "recipients", "webhook_url", "secret", "event_kinds", "is_active")


def _require_channel_manager(*, actor, shop_id: int | None) -> None:
    if shop_id is None:
        if not is_superadmin(actor):
            raise PermissionDenied(_("Only a superadmin may manage global alert channels."))
    elif not shop_is_manageable(user=actor, shop=shop_id):
        raise PermissionDenied(_("Only an admin of this shop may manage its alert channels."))


def _save_channel(*, actor, channel: AlertChannel) -> AlertChannel:
    # The URL check resolves the webhook's host: done before the transaction opens.
    full_clean(channel)
    with transaction.atomic():
        channel.stamp(actor)
        channel.save()
    return channel


def alert_channel_create(*, actor, shop=None, name: str, kind: str, recipients: str = "", webhook_url: str = "",
                         secret: str = "", event_kinds: list | None = None, is_active: bool = True) -> AlertChannel:
    """A new channel for ``shop`` (None: global, superadmins only).

    Raises PermissionDenied unless ``actor`` manages the shop; KefuError naming every bad field.
    """
    _require_channel_manager(actor=actor, shop_id=_shop_id(shop))
    channel = AlertChannel(shop_id=_shop_id(shop), name=name, kind=kind, recipients=recipients,
                           webhook_url=webhook_url, secret=secret, event_kinds=list(event_kinds or []),
                           is_active=is_active)
    return _save_channel(actor=actor, channel=channel)


def alert_channel_update(*, actor, channel: AlertChannel, **fields) -> AlertChannel:
    """Change ``channel``'s fields (any of CHANNEL_FIELDS and ``shop``); a field not given stays.

    Raises PermissionDenied unless ``actor`` manages the channel's shop, before and after the change;
    KefuError naming every bad field.
    """
    unknown = set(fields) - {*CHANNEL_FIELDS, "shop"}
    if unknown:
        raise KefuError(_("Unknown fields: %(fields)s.") % {"fields": ", ".join(sorted(unknown))})
    _require_channel_manager(actor=actor, shop_id=channel.shop_id)
    if "shop" in fields:
        channel.shop_id = _shop_id(fields.pop("shop"))
        _require_channel_manager(actor=actor, shop_id=channel.shop_id)
    for name, value in fields.items():
        setattr(channel, name, list(value or []) if name == "event_kinds" else value)
    return _save_channel(actor=actor, channel=channel)


def alert_channel_delete(*, actor, channel: AlertChannel) -> None:
    _require_channel_manager(actor=actor, shop_id=channel.shop_id)
    channel.delete()


def alert_channel_test(*, actor, channel: AlertChannel) -> AlertDelivery:
    """Send a test message to ``channel`` now, once, and answer the delivery with its outcome.

    No retry: the person is waiting for the answer. The delivery row is written first (committed),
    the message sent outside any transaction.
    Raises PermissionDenied unless ``actor`` manages the channel's shop.
    """
    _require_channel_manager(actor=actor, shop_id=channel.shop_id)
    delivery = AlertDelivery.objects.create(channel=channel, phase=AlertPhase.TEST)
    outcome = alert_delivery_send(delivery_id=delivery.pk)
    if outcome.status == "retrying":
        # A test is tried once: what would be retried for an alert is this test's failure.
        AlertDelivery.objects.filter(pk=delivery.pk, status=AlertDeliveryStatus.RETRYING).update(
            status=AlertDeliveryStatus.FAILED, next_attempt_at=None)
    delivery.refresh_from_db()
    return delivery


def alert_delivery_retry(*, actor, delivery: AlertDelivery) -> AlertDelivery:
    """Send a failed or suppressed delivery again (attempts start over). Raises PermissionDenied unless
    ``actor`` manages its channel; KefuError when it is not failed or suppressed."""
    _require_channel_manager(actor=actor, shop_id=delivery.channel.shop_id)
    with transaction.atomic():
        reset = AlertDelivery.objects.filter(
            pk=delivery.pk, status__in=(AlertDeliveryStatus.FAILED, AlertDeliveryStatus.SUPPRESSED),
        ).update(status=AlertDeliveryStatus.PENDING, attempts=0, next_attempt_at=None)
        if reset != 1:
            raise KefuError(_("Only a failed or suppressed message can be sent again."), code="not_failed",
                            status_code=409)
        _on_commit("alert_delivery_send_task", delivery.pk)
    delivery.refresh_from_db()
    return delivery
