"""Where a provider call may go when the config's owner is not a superadmin.

Anyone signed in may add a config with their own key and a base URL; without a limit the
connection test and every routed call would make the server send requests wherever they point
(its own health page, a database on the private network, a cloud's metadata service). So a
config owned by someone who is not a superadmin may only call:

- ``https`` URLs,
- whose host resolves only to public addresses (not loopback, private, link-local,
  shared or reserved ranges, which hold the cloud metadata services),

unless a superadmin named the host in the system config ``billing.provider_hosts_allowed``
(a JSON list, or a comma-separated text, of ``host`` or ``host:port``; such a host may use
``http`` and any address: a provider on the office network, or a test server on loopback).

The URL is checked when the config is saved and again on every call: :class:`CheckedTransport`
resolves the host at connection time, checks every address, and connects to the checked
address itself (TLS still verifies the certificate for the host name), so a DNS answer that
changes after the check (DNS rebinding) cannot send the call elsewhere. No maintained library
does this for the ``httpx2`` transport the provider SDKs use, hence this module.
"""

from __future__ import annotations

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import urlsplit

import httpx2
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

ALLOWED_HOSTS_KEY = "billing.provider_hosts_allowed"
RESOLVE_TIMEOUT_SECONDS = 3.0
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kefu-egress-resolve")


class EgressRefused(ValueError):
    """The URL may not be called for this config; the message says why (never a secret)."""


def needs_check(config) -> bool:
    """Whether ``config``'s calls are limited: it holds the key of someone who is not a superadmin."""
    return config.owner_id is not None and not config.owner.is_superadmin


def allowed_hosts() -> set[str]:
    """The hosts (``host`` or ``host:port``, lower case) a superadmin allowed beyond the rule."""
    from configs.selectors import system_config_value

    value = system_config_value(ALLOWED_HOSTS_KEY, default=[])
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list):
        return set()
    return {str(entry).strip().lower() for entry in value if str(entry).strip()}


def _host_allowed(host: str, port: int | None, allowed: set[str]) -> bool:
    host = host.lower().strip("[]")
    return host in allowed or (port is not None and f"{host}:{port}" in allowed)


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve_public(host: str, port: int) -> str:
    """The first address of ``host``, after checking that every address it resolves to is public.

    Raises EgressRefused when the name does not resolve (in RESOLVE_TIMEOUT_SECONDS) or any address
    is not public.
    """
    future = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        answers = future.result(timeout=RESOLVE_TIMEOUT_SECONDS)
    except (OSError, UnicodeError, FutureTimeout):
        raise EgressRefused(_("The host %(host)s could not be resolved.") % {"host": host}) from None
    addresses = [answer[4][0] for answer in answers]
    if not addresses:
        raise EgressRefused(_("The host %(host)s could not be resolved.") % {"host": host})
    if not all(_public(address) for address in addresses):
        raise EgressRefused(
            _("The host %(host)s resolves to a loopback, private, link-local or reserved address; "
              "only a superadmin may allow it (system config %(key)s).") % {"host": host, "key": ALLOWED_HOSTS_KEY})
    return addresses[0]


def check_url(url: str, *, allowed: set[str] | None = None) -> None:
    """Refuse ``url`` for a limited config (see the module's docstring). Resolves its host name.

    Raises EgressRefused.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        raise EgressRefused(_("The base URL has an invalid port.")) from None
    allowed = allowed_hosts() if allowed is None else allowed
    if not host:
        raise EgressRefused(_("The base URL has no host."))
    if _host_allowed(host, port, allowed):
        return
    if parts.scheme != "https":
        raise EgressRefused(_("The base URL must start with https://; only a superadmin may allow other hosts "
                              "(system config %(key)s).") % {"key": ALLOWED_HOSTS_KEY})
    resolve_public(host, port or 443)


def validate_config_url(config) -> None:
    """Save-time check of the URL ``config`` would call, for a limited config.

    Raises ValidationError on ``base_url``.
    """
    if not needs_check(config):
        return
    url = config.effective_base_url
    if not url:
        return
    try:
        check_url(url)
    except EgressRefused as exc:
        raise ValidationError({"base_url": str(exc)}, code="base_url_refused") from None


class CheckedTransport(httpx2.HTTPTransport):
    """An HTTP transport that checks the address of every request's host and connects to that address.

    The request goes to the checked IP; the Host header and the TLS server name (SNI and the
    certificate's name check) stay the host name.
    """

    def __init__(self, *, allowed: set[str], **kwargs):
        super().__init__(**kwargs)
        self.allowed = allowed

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        host, port = url.host, url.port or (443 if url.scheme == "https" else 80)
        if _host_allowed(host, url.port, self.allowed):
            return super().handle_request(request)
        if url.scheme != "https":
            raise httpx2.ConnectError(_("refused: only https may be called for this config"), request=request)
        try:
            address = resolve_public(host, port)
        except EgressRefused as exc:
            raise httpx2.ConnectError(str(exc), request=request) from None
        request.headers.setdefault("Host", url.netloc.decode("ascii"))
        request.extensions = {**request.extensions, "sni_hostname": host}
        request.url = url.copy_with(host=address)
        return super().handle_request(request)


def http_client_for(config, *, timeout: float) -> httpx2.Client | None:
    """The HTTP client a provider SDK should use for ``config``: a checked one for a limited config, else None
    (the SDK's own)."""
    if not needs_check(config):
        return None
    return httpx2.Client(transport=CheckedTransport(allowed=allowed_hosts()), timeout=timeout,
                         follow_redirects=True)
