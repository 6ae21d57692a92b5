"""The desktop side's Django layer: typed settings, pauses, schedules, capture records and the admin page."""

import json
from datetime import timedelta

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from configs import services as config_services
from customer_service.desktop import selectors, services
from customer_service.desktop.geometry import Rect
from customer_service.models import AlertEvent, AlertKind, CaptureKind, CaptureRecord, DesktopPause, Shop
from kefu.exceptions import PermissionDenied
from tests.configs.factories import shop_settings_template_ensure

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def template(db):
    return shop_settings_template_ensure()


def switch_on(world, shop=None, **desktop):
    config_services.shop_settings_update(shop=shop or world.shop, actor=world.superadmin,
                                         values={"desktop": {"enabled": True, **desktop}})


def test_a_shop_never_configured_reads_the_shipped_desktop_settings(world):
    conf = selectors.desktop_settings_get(shop=world.shop)

    assert not conf.enabled and not conf.runnable
    assert conf.title == world.shop.qianniu_title
    assert conf.regions.transcript == Rect(220, 44, 680, 480)
    assert (conf.poll_interval_seconds, conf.submit, conf.readback_timeout_seconds) == (1, "enter", 8.0)
    assert conf.window_size is None and conf.badge_rgb == (255, 59, 48)
    assert conf.reply_delay_seconds == 2 and conf.unread_threshold == 0.5
    assert conf.poll_settings().regions == conf.regions


def test_a_shop_admins_desktop_settings_are_read_typed(world):
    config_services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values={
        "reply_delay_seconds": 0,
        "desktop": {"enabled": True, "regions": {"transcript": {"x": 0, "y": 56, "w": 700, "h": 484}},
                    "window_width": 960, "window_height": 660, "badge_colour": "#E02020", "submit": "button",
                    "poll_interval_seconds": 2, "readback_timeout_seconds": 5.5, "drift_polls": 4},
    })

    conf = selectors.desktop_settings_get(shop=world.shop)

    assert conf.runnable and conf.regions.transcript == Rect(0, 56, 700, 484)
    assert conf.regions.chat_header == Rect(220, 0, 680, 44)  # the others keep their defaults
    assert conf.window_size == (960, 660) and conf.badge_rgb == (224, 32, 32)
    assert (conf.submit, conf.poll_interval_seconds, conf.readback_timeout_seconds) == ("button", 2, 5.5)
    assert conf.drift_monitor().polls == 4 and conf.reply_delay_seconds == 0


@pytest.mark.parametrize("desktop", [
    {"submit": "mouse"}, {"poll_interval_seconds": 0}, {"badge_colour": "red"},
    {"regions": {"transcript": {"x": 0, "y": 0, "w": 0, "h": 10}}}, {"regions": {"transcript": [0, 0, 5, 5]}},
])
def test_bad_desktop_settings_are_refused(world, desktop):
    from configs.exceptions import ConfigValidationError

    with pytest.raises(ConfigValidationError):
        config_services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values={"desktop": desktop})


def test_drift_pauses_a_shop_once_with_an_alert_until_a_person_resumes(world):
    first = services.desktop_pause(shop=world.shop, reason="window_covered", detail="covered by '提示'")
    again = services.desktop_pause(shop=world.shop, reason="window_not_found")

    assert again.pk == first.pk and again.reason == "window_covered"
    assert selectors.desktop_pause_get(shop=world.shop) == first
    assert selectors.desktop_pause_get(shop=world.other_shop) is None
    event = AlertEvent.objects.get(kind=AlertKind.DESKTOP_PAUSED, shop=world.shop)
    assert event.is_open and "提示" in event.message

    with pytest.raises(PermissionDenied):
        services.desktop_resume(actor=world.agent, shop=world.shop)
    resumed = services.desktop_resume(actor=world.shop_admin, shop=world.shop)

    assert resumed.resumed_by == world.shop_admin and resumed.resumed_at is not None
    assert selectors.desktop_pause_get(shop=world.shop) is None
    event.refresh_from_db()
    assert not event.is_open
    assert services.desktop_resume(actor=world.shop_admin, shop=world.shop) is None


def test_the_global_pause_stops_every_shop_and_only_a_superadmin_sets_it(world):
    with pytest.raises(PermissionDenied):
        services.desktop_pause(shop=None, actor=world.shop_admin)
    pause = services.desktop_pause(shop=None, actor=world.superadmin, detail="系统维护")

    assert selectors.desktop_pause_get(shop=world.shop) == pause
    assert selectors.desktop_pause_get(shop=world.other_shop) == pause
    shop_pause = services.desktop_pause(shop=world.shop, actor=world.shop_admin)
    services.desktop_resume(actor=world.superadmin, shop=None)
    assert selectors.desktop_pause_get(shop=world.other_shop) is None
    assert selectors.desktop_pause_get(shop=world.shop) == shop_pause
    assert DesktopPause.objects.open().count() == 1


def test_beat_entries_follow_the_shop_settings(world):
    assert services.desktop_schedules_sync() == {"created": 0, "updated": 0, "disabled": 0, "deleted": 0}

    switch_on(world, poll_interval_seconds=1)
    assert services.desktop_schedules_sync()["created"] == 1
    task = PeriodicTask.objects.get(name=f"desktop-poll-{world.shop.pk}")
    assert (task.task, json.loads(task.args), task.queue, task.enabled) == ("desktop.poll", [world.shop.pk],
                                                                           "desktop", True)
    assert (task.interval.every, task.interval.period, task.expire_seconds) == (1, "seconds", 1)

    switch_on(world, poll_interval_seconds=3)
    assert services.desktop_schedules_sync()["updated"] == 1
    assert PeriodicTask.objects.get(pk=task.pk).interval.every == 3
    assert services.desktop_schedules_sync()["updated"] == 0  # in step: nothing to write

    world.shop.is_active = False
    world.shop.save()
    assert services.desktop_schedules_sync(shop_ids=[world.shop.pk])["disabled"] == 1
    assert not PeriodicTask.objects.get(pk=task.pk).enabled

    shop_id = world.shop.pk
    world.shop.delete()
    assert services.desktop_schedules_sync()["deleted"] == 1
    assert not PeriodicTask.objects.filter(name=f"desktop-poll-{shop_id}").exists()


def test_expired_captures_lose_their_files_and_rows_but_not_the_latest_calibration(world):
    picture = np.full((20, 30, 3), 200, dtype=np.uint8)
    old_calibration = services.capture_record_save(shop=world.shop, kind=CaptureKind.CALIBRATION, image=picture,
                                                   keep=timedelta(hours=-2))
    latest_calibration = services.capture_record_save(shop=world.shop, kind=CaptureKind.CALIBRATION,
                                                      image=picture, keep=timedelta(hours=-1))
    expired = services.capture_record_save(shop=world.shop, kind=CaptureKind.PAUSE, image=picture,
                                           keep=timedelta(seconds=-1))
    kept = services.capture_record_save(shop=world.shop, kind=CaptureKind.PAUSE, image=picture)
    storage = expired.image.storage
    paths = {record.pk: record.image.name for record in (old_calibration, latest_calibration, expired, kept)}
    assert all(storage.exists(name) for name in paths.values())

    assert services.capture_records_purge() == 2

    assert set(CaptureRecord.objects.values_list("pk", flat=True)) == {latest_calibration.pk, kept.pk}
    assert not storage.exists(paths[expired.pk]) and not storage.exists(paths[old_calibration.pk])
    assert storage.exists(paths[kept.pk]) and storage.exists(paths[latest_calibration.pk])
    assert kept.expires_at - kept.created_at == timedelta(hours=72)


def test_the_desktop_page_shows_settings_beside_the_calibration_and_resumes(world, client):
    from PIL import Image

    switch_on(world)
    calibration = services.capture_record_save(
        shop=world.shop, kind=CaptureKind.CALIBRATION, image=Image.new("RGB", (90, 62), "white"),
        readings={"readings": {"chat_header": "买家小明"}, "outside": ["send_button"], "window": [40, 30, 900, 620]})
    services.desktop_pause(shop=world.shop, reason="window_covered", detail="covered by '提示'")
    url = reverse("admin:customer_service_capturerecord_shop", args=[world.shop.pk])

    client.force_login(world.agent)
    page = client.get(url).content.decode()
    assert "买家小明" in page and "220, 44, 680, 480" in page and "提示" in page
    assert reverse("admin:customer_service_capturerecord_image", args=[calibration.pk]) in page
    assert "Resume sending" not in page and client.post(url, {"action": "resume"}).status_code == 404
    image = client.get(reverse("admin:customer_service_capturerecord_image", args=[calibration.pk]))
    assert image.status_code == 200 and image["Content-Type"] == "image/png"

    client.force_login(world.outsider)
    assert client.get(url).status_code == 404
    assert client.get(reverse("admin:customer_service_capturerecord_image", args=[calibration.pk])).status_code == 404

    client.force_login(world.shop_admin)
    assert client.post(url, {"action": "resume"}).status_code == 302
    assert selectors.desktop_pause_get(shop=world.shop) is None


def test_the_pause_admin_pauses_and_resumes_through_the_services(world, client):
    client.force_login(world.shop_admin)
    added = client.post(reverse("admin:customer_service_desktoppause_add"),
                        {"shop": world.shop.pk, "detail": "换电脑"})
    assert added.status_code == 302
    pause = selectors.desktop_pause_get(shop=world.shop)
    assert (pause.reason, pause.detail, pause.paused_by) == ("manual", "换电脑", world.shop_admin)
    assert AlertEvent.objects.filter(kind=AlertKind.DESKTOP_PAUSED, shop=world.shop, resolved_at=None).exists()

    changelist = reverse("admin:customer_service_desktoppause_changelist")
    assert "换电脑" in client.get(changelist).content.decode()
    client.post(changelist, {"action": "resume_selected", "_selected_action": [pause.pk]})
    assert selectors.desktop_pause_get(shop=world.shop) is None
    assert timezone.now() - DesktopPause.objects.get(pk=pause.pk).resumed_at < timedelta(minutes=1)


# Handing over publishes to the broker even when the tests run tasks eagerly (there is no desktop here).
@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_a_queued_reply_is_handed_to_the_desktop_worker_only_when_its_desktop_is_on_and_not_paused(world):
    from customer_service.models import OutgoingReply
    from tests.customer_service.factories import OutgoingReplyFactory

    outgoing = OutgoingReplyFactory(shop=world.shop)
    hand_over = lambda: services.desktop_dispatch(  # noqa: E731
        outgoing_id=outgoing.pk, shop_id=world.shop.pk, created_at=outgoing.created_at)

    assert not hand_over()
    switch_on(world)
    assert hand_over()
    services.desktop_pause(shop=world.shop, reason="window_covered")
    assert not hand_over()
    assert OutgoingReply.objects.get(pk=outgoing.pk).state == "queued"  # handing over changes nothing


@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_a_reply_of_a_shop_switched_off_or_deleted_meanwhile_is_not_handed_over(world):
    from customer_service.shops.services import shop_delete
    from tests.customer_service.factories import OutgoingReplyFactory

    outgoing = OutgoingReplyFactory(shop=world.shop)
    switch_on(world)
    as_read = Shop.all_objects.get(pk=world.shop.pk)

    def hand_over(shop):
        return services.desktop_dispatch(outgoing_id=outgoing.pk, shop_id=world.shop.pk,
                                         created_at=outgoing.created_at, shop=shop)

    assert hand_over(as_read) and hand_over(None)
    Shop.all_objects.filter(pk=world.shop.pk).update(is_active=False)
    assert not hand_over(None)
    assert not hand_over(Shop.all_objects.get(pk=world.shop.pk))
    Shop.all_objects.filter(pk=world.shop.pk).update(is_active=True)
    shop_delete(actor=world.superadmin, shop=world.shop)
    assert not hand_over(None)
    assert not hand_over(Shop.all_objects.get(pk=world.shop.pk))
