"""How one alert message reaches one channel: e-mail, or a WeCom, DingTalk or Feishu group robot.

A transport per channel kind over a small base class, as healthchecks keeps one per integration
(hc/api/transports.py). Each raises :class:`DeliveryError` on failure, saying whether trying again
later may help (the network, a 5xx, a rate limit) or not (a refused signature, a bad address).

The robots' formats and signatures, as their documentation gives them:

- WeCom (企业微信群机器人): ``POST <webhook>`` ``{"msgtype": "markdown", "markdown": {"content": …}}``;
  the answer ``{"errcode": 0, "errmsg": "ok"}``.
- DingTalk (钉钉自定义机器人): ``POST <webhook>&timestamp=<ms>&sign=<sign>`` where sign is
  ``urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")))``, body
  ``{"msgtype": "markdown", "markdown": {"title": …, "text": …}}``; the answer ``{"errcode": 0}``.
- Feishu (飞书自定义机器人): ``POST <webhook>`` ``{"msg_type": "text", "content": {"text": …}}``, with
  ``"timestamp": "<s>", "sign": base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))`` when the
  robot has a secret; the answer ``{"code": 0}`` (older robots ``{"StatusCode": 0}``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import smtplib
import time
from dataclasses import dataclass
from urllib.parse import quote_plus, urlsplit

import httpx2
from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from customer_service.models import AlertChannel, AlertChannelKind, AlertDelivery, AlertPhase

from .egress import webhook_client

# Answers of the robots that mean "too many messages, try later".
_RATE_LIMIT_CODES = {45009, 130101, 9499, 11232, 11233}


class DeliveryError(Exception):
    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class AlertText:
    """One message, as a subject and body in plain text and as Markdown."""

    subject: str
    body: str
    markdown: str


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def render(delivery: AlertDelivery) -> AlertText:
    """The text of ``delivery`` in the site's language (times in the site's time zone)."""
    with translation.override(settings.LANGUAGE_CODE):
        return _render(delivery)


def _render(delivery: AlertDelivery) -> AlertText:
    event = delivery.event
    if delivery.phase == AlertPhase.TEST or event is None:
        channel = delivery.channel
        where = channel.shop.name if channel.shop_id else _("all shops")
        subject = _("[kefu test] %(where)s · %(channel)s") % {"where": where, "channel": channel.name}
        line = _("This is a test alert from kefu: the channel %(channel)s works.") % {"channel": channel.name}
        sent = _("Sent at %(time)s") % {"time": _local(timezone.now())}
        return AlertText(subject=subject, body=f"{line}\n{sent}", markdown=f"**{subject}**\n\n{line}\n\n{sent}")
    where = event.shop.name if event.shop_id else _("all shops")
    if delivery.phase == AlertPhase.RESOLVED:
        subject = _("[kefu resolved] %(where)s · %(kind)s") % {"where": where, "kind": event.get_kind_display()}
    else:
        subject = _("[kefu alert] %(where)s · %(kind)s") % {"where": where, "kind": event.get_kind_display()}
    facts = [
        (_("First seen"), _local(event.first_seen)),
        (_("Last seen"), _local(event.last_seen)),
        (_("Occurrences"), str(event.count)),
    ]
    if delivery.phase == AlertPhase.RESOLVED and event.resolved_at:
        facts.append((_("Resolved at"), _local(event.resolved_at)))
    lines = [event.title] + ([event.message] if event.message else [])
    body = "\n".join([*lines, "", *(f"{name}: {value}" for name, value in facts)])
    markdown = "\n".join([f"**{subject}**", "", *lines, "", *(f"> {name}: {value}" for name, value in facts)])
    return AlertText(subject=subject, body=body, markdown=markdown)


class Transport:
    def send(self, channel: AlertChannel, text: AlertText) -> None:
        raise NotImplementedError


class EmailTransport(Transport):
    def send(self, channel, text):
        recipients = channel.recipient_list()
        if not recipients:
            raise DeliveryError(_("The channel has no e-mail recipients."), retryable=False)
        message = EmailMessage(subject=text.subject, body=text.body, to=recipients,
                               from_email=settings.DEFAULT_FROM_EMAIL)
        try:
            message.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(_("The mail server refused the recipients: %(error)s") % {"error": exc},
                                retryable=False) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(_("The mail server could not be reached or refused the message: %(error)s")
                                % {"error": exc}, retryable=True) from None


class WebhookTransport(Transport):
    """A JSON POST to the channel's webhook; subclasses give the body, the URL and how to read the answer."""

    def url(self, channel) -> str:
        return channel.webhook_url

    def payload(self, channel, text) -> dict:
        raise NotImplementedError

    def answer_error(self, body: dict) -> tuple[int, str] | None:
        code = body.get("errcode", 0)
        return None if code == 0 else (code, str(body.get("errmsg", "")))

    def send(self, channel, text):
        if not channel.webhook_url:
            raise DeliveryError(_("The channel has no webhook URL."), retryable=False)
        host = urlsplit(channel.webhook_url).hostname or "?"
        timeout = getattr(settings, "KEFU_ALERT_WEBHOOK_TIMEOUT_SECONDS", 10)
        try:
            with webhook_client(channel, timeout=timeout) as client:
                response = client.post(self.url(channel), json=self.payload(channel, text))
        except httpx2.HTTPError as exc:
            # The exception's text may hold the URL, whose query carries the robot's token: name the host only.
            raise DeliveryError(_("%(host)s could not be reached: %(error)s")
                                % {"host": host, "error": type(exc).__name__}, retryable=True) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise DeliveryError(_("%(host)s answered HTTP %(status)s.") % {"host": host,
                                                                          "status": response.status_code},
                                retryable=True)
        if response.status_code >= 400:
            raise DeliveryError(_("%(host)s answered HTTP %(status)s.") % {"host": host,
                                                                          "status": response.status_code},
                                retryable=False)
        try:
            body = response.json()
        except ValueError:
            body = {}
        problem = self.answer_error(body if isinstance(body, dict) else {})
        if problem:
            code, text_ = problem
            raise DeliveryError(_("%(host)s refused the message: %(code)s %(message)s")
                                % {"host": host, "code": code, "message": text_[:200]},
                                retryable=code in _RATE_LIMIT_CODES)


class WeComTransport(WebhookTransport):
    def payload(self, channel, text):
        return {"msgtype": "markdown", "markdown": {"content": text.markdown[:4000]}}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature: base64 of HMAC-SHA256 over "timestamp\\nsecret" keyed by the secret (not URL-encoded)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's signature: base64 of HMAC-SHA256 keyed by "timestamp\\nsecret" over an empty message."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class DingTalkTransport(WebhookTransport):
    def url(self, channel):
        if not channel.secret:
            return channel.webhook_url
        timestamp = int(time.time() * 1000)
        joiner = "&" if "?" in channel.webhook_url else "?"
        sign = quote_plus(dingtalk_sign(channel.secret, timestamp))
        return f"{channel.webhook_url}{joiner}timestamp={timestamp}&sign={sign}"

    def payload(self, channel, text):
        return {"msgtype": "markdown", "markdown": {"title": text.subject, "text": text.markdown}}


class FeishuTransport(WebhookTransport):
    def payload(self, channel, text):
        body = {"msg_type": "text", "content": {"text": f"{text.subject}\n{text.body}"}}
        if channel.secret:
            timestamp = int(time.time())
            body.update(timestamp=str(timestamp), sign=feishu_sign(channel.secret, timestamp))
        return body

    def answer_error(self, body):
        code = body.get("code", body.get("StatusCode", 0))
        return None if code == 0 else (code, str(body.get("msg", body.get("StatusMessage", ""))))


_TRANSPORTS = {
    AlertChannelKind.EMAIL: EmailTransport(),
    AlertChannelKind.WECOM: WeComTransport(),
    AlertChannelKind.DINGTALK: DingTalkTransport(),
    AlertChannelKind.FEISHU: FeishuTransport(),
}


def transport_for(channel: AlertChannel) -> Transport:
    return _TRANSPORTS[channel.kind]
