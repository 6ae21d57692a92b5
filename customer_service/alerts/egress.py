"""Where a shop's alert webhooks may go.

A shop admin types a channel's webhook URL, and the server then posts to it: without a limit they could
make it call its own network (a database, a cloud's metadata service). So a shop's channel may only
call ``https`` URLs whose host resolves to public addresses, checked when the channel is saved and at
every connection (billing.egress's rule and its DNS-rebinding-proof transport), unless a superadmin
named the host in the system config ``alerts.webhook_hosts_allowed`` (a JSON list, or a comma-separated
text, of ``host`` or ``host:port``: an internal relay, or a test server on loopback). Global channels
are a superadmin's own and are not limited.
"""

from __future__ import annotations

import httpx2
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from billing.egress import CheckedTransport, EgressRefused, check_url

ALLOWED_HOSTS_KEY = "alerts.webhook_hosts_allowed"


def allowed_hosts() -> set[str]:
    from configs.selectors import system_config_value

    value = system_config_value(ALLOWED_HOSTS_KEY, default=[])
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list):
        return set()
    return {str(entry).strip().lower() for entry in value if str(entry).strip()}


def needs_check(channel) -> bool:
    return channel.shop_id is not None


def validate_webhook_url(channel) -> None:
    """Save-time check of a shop channel's webhook URL. Raises ValidationError on ``webhook_url``."""
    if not needs_check(channel) or not channel.webhook_url:
        return
    try:
        check_url(channel.webhook_url, allowed=allowed_hosts())
    except EgressRefused:
        raise ValidationError(
            {"webhook_url": _("A shop's webhook must be an https address on the public internet; a superadmin may "
                              "allow other hosts (system config %(key)s).") % {"key": ALLOWED_HOSTS_KEY}},
            code="webhook_url_refused",
        ) from None


def webhook_client(channel, *, timeout: float) -> httpx2.Client:
    """The HTTP client for ``channel``'s webhook: the checked transport for a shop's channel."""
    if needs_check(channel):
        return httpx2.Client(transport=CheckedTransport(allowed=allowed_hosts()), timeout=timeout,
                             follow_redirects=False)
    return httpx2.Client(timeout=timeout, follow_redirects=False)
