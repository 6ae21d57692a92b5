"""Reads for alerts, scoped to the person asking."""

from customer_service.models import AlertChannel, AlertDelivery, AlertEvent


def alert_event_list(*, user, open_only: bool = False):
    events = AlertEvent.objects.for_user(user).select_related("shop")
    return events.filter(resolved_at__isnull=True) if open_only else events


def alert_channel_list(*, user):
    return AlertChannel.objects.for_user(user).select_related("shop")


def alert_delivery_list(*, user):
    return AlertDelivery.objects.for_user(user).select_related("channel", "event")
