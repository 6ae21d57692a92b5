"""Channels and alerts in the admin and the API: secrets never shown, test alerts, scoping by shop role."""

import pytest
from django.core import mail
from django.urls import reverse

from customer_service.alerts.services import alert_raise
from customer_service.models import AlertChannel, AlertChannelKind, AlertDelivery, AlertDeliveryStatus, AlertKind

from .factories import AlertChannelFactory

pytestmark = pytest.mark.django_db

SECRET = "SECxyz-very-secret-9f8e7d"
TOKEN = "access_token=tok-9f8e7d6c5b4a"


@pytest.fixture(autouse=True)
def dingtalk_allowed(allow_webhook_hosts):
    # The test machine resolves no public names: the robot's host is allowed as a superadmin would.
    allow_webhook_hosts("oapi.dingtalk.com")


def _add_form(shop, **extra):
    return {"shop": shop.pk, "name": "钉钉群", "kind": "dingtalk", "recipients": "", "is_active": "on",
            "new_webhook_url": f"https://oapi.dingtalk.com/robot/send?{TOKEN}", "new_secret": SECRET, **extra}


def test_a_shop_admin_adds_a_channel_whose_secrets_are_stored_encrypted_and_never_shown(world, client):
    client.force_login(world.shop_admin)
    response = client.post(reverse("admin:customer_service_alertchannel_add"), _add_form(world.shop))
    assert response.status_code == 302, response.context["adminform"].form.errors
    channel = AlertChannel.objects.get()
    assert channel.shop == world.shop and channel.secret == SECRET and channel.created_by == world.shop_admin
    raw = AlertChannel.objects.filter(pk=channel.pk).values_list("webhook_url", "secret").get()
    assert all(value.startswith("enc1:") for value in raw)
    page = client.get(reverse("admin:customer_service_alertchannel_change", args=[channel.pk])).content.decode()
    assert SECRET not in page and "tok-9f8e7d6c5b4a" not in page and "https://oapi.dingtalk.com/…" in page
    api = client.get(f"/api/alert-channels/{channel.pk}/").json()
    assert api["webhook_url_masked"] == "https://oapi.dingtalk.com/…" and api["has_secret"] is True
    assert SECRET not in str(api) and "tok-9f8e7d6c5b4a" not in str(api)


def test_saving_without_typing_the_secrets_keeps_them(world, client):
    client.force_login(world.shop_admin)
    client.post(reverse("admin:customer_service_alertchannel_add"), _add_form(world.shop))
    channel = AlertChannel.objects.get()
    url = reverse("admin:customer_service_alertchannel_change", args=[channel.pk])
    assert client.post(url, _add_form(world.shop, name="改名", new_webhook_url="", new_secret="")).status_code == 302
    channel.refresh_from_db()
    assert channel.name == "改名" and channel.secret == SECRET and TOKEN in channel.webhook_url
    client.post(url, _add_form(world.shop, new_webhook_url="", new_secret="", clear_secret="on"))
    channel.refresh_from_db()
    assert channel.secret == ""


def test_a_shop_admin_cannot_add_a_global_channel_or_one_for_another_shop(world, client):
    client.force_login(world.shop_admin)
    url = reverse("admin:customer_service_alertchannel_add")
    assert "only a superadmin" in client.post(url, {**_add_form(world.shop), "shop": ""}).content.decode()
    assert client.post(url, _add_form(world.other_shop)).status_code == 200  # the shop is not among the choices
    assert not AlertChannel.objects.exists()


def test_a_shop_webhook_on_the_private_network_is_refused_when_saved(world, client):
    client.force_login(world.shop_admin)
    response = client.post(reverse("admin:customer_service_alertchannel_add"),
                           _add_form(world.shop, new_webhook_url="http://127.0.0.1:6379/robot/send"))
    assert response.status_code == 200 and "public internet" in response.content.decode()
    assert not AlertChannel.objects.exists()


def test_the_test_button_sends_a_test_alert_and_says_so(world, client):
    channel = AlertChannelFactory(shop=world.shop, kind=AlertChannelKind.EMAIL, recipients="ops@example.com")
    client.force_login(world.shop_admin)
    response = client.post(reverse("admin:customer_service_alertchannel_test", args=[channel.pk]), follow=True)
    assert "the test alert was sent" in response.content.decode()
    assert len(mail.outbox) == 1 and mail.outbox[0].subject.startswith("[kefu test]")
    assert AlertDelivery.objects.get().status == AlertDeliveryStatus.SENT
    client.force_login(world.agent)
    assert client.post(reverse("admin:customer_service_alertchannel_test", args=[channel.pk])).status_code == 404
    assert len(mail.outbox) == 1


def test_the_api_test_action_answers_the_failure_of_a_dead_channel(world, client_for, allow_webhook_hosts):
    # (this test's allowed hosts replace the fixture's)
    from tests.plugins.servers import free_port

    port = free_port()  # nothing listens there
    allow_webhook_hosts(f"127.0.0.1:{port}")
    channel = AlertChannelFactory(shop=world.shop, kind=AlertChannelKind.WECOM,
                                  webhook_url=f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key=k")
    response = client_for(world.shop_admin).post(f"/api/alert-channels/{channel.pk}/test")
    assert response.status_code == 200
    assert response.json()["status"] == "failed" and "could not be reached" in response.json()["last_error"]
    channel.refresh_from_db()
    assert channel.last_failed_at is not None


def test_an_agent_sees_their_shops_alerts_in_the_admin_but_no_channels(world, client):
    alert_raise(kind=AlertKind.REVIEW_BACKLOG, shop=world.shop, title="待审核 120 条")
    AlertChannelFactory(shop=world.shop, name="甜品渠道")
    client.force_login(world.agent)
    events = client.get(reverse("admin:customer_service_alertevent_changelist")).content.decode()
    assert "待审核 120 条" in events
    channels = client.get(reverse("admin:customer_service_alertchannel_changelist"))
    assert channels.status_code == 403 or "甜品渠道" not in channels.content.decode()


def test_the_api_refuses_bad_channels_with_field_errors(world, client_for):
    client = client_for(world.shop_admin)
    response = client.post("/api/alert-channels/", {"shop": world.shop.pk, "name": "x", "kind": "email",
                                                    "recipients": "not-an-address"}, format="json")
    assert response.status_code == 400 and "recipients" in response.json()["detail"]
    response = client.post("/api/alert-channels/", {"shop": world.shop.pk, "name": "x", "kind": "wecom",
                                                    "secret": "s"}, format="json")
    assert response.status_code == 400 and {"webhook_url", "secret"} <= set(response.json()["detail"])
    response = client.post("/api/alert-channels/", {"shop": world.shop.pk, "name": "x", "kind": "email",
                                                    "recipients": "a@example.com", "event_kinds": ["nope"]},
                           format="json")
    assert response.status_code == 400
