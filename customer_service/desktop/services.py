"""Writes for the desktop side: polls and sends of the Qianniu window, pauses, records and schedules.

How a buyer's line reaches kefu and a reply reaches the buyer through the window:

1. Beat starts ``desktop.poll`` for each shop whose desktop settings are on, at its poll interval
   (:func:`desktop_schedules_sync` keeps the beat entries in step with the settings).
2. :func:`desktop_poll` runs the shop's poller: the cheap unread check, and when something changed the reading,
   whose new lines :class:`~customer_service.desktop.store.DatabaseSeenStore` commits and ingests (a seller line
   kefu did not type is a person's: a takeover). A drift signal pauses the shop (:func:`desktop_pause`).
3. Then, unless the shop or every shop is paused, it sends the shop's queued replies whose reply delay has
   passed (:func:`desktop_send`): claim through the outbox, type, read back, receipt. ``unknown`` is never sent
   again; two in a row pause the shop.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from datetime import timedelta

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from configs.exceptions import ConfigNotFound
from customer_service.alerts.services import alert_raise, alert_resolve
from customer_service.models import (
    AlertKind,
    CaptureKind,
    CaptureRecord,
    DesktopPause,
    JobKind,
    JobRecord,
    JobStatus,
    OutboxChannel,
    OutgoingReply,
    OutgoingState,
    Shop,
    TransitionRefused,
)
from customer_service.shops.selectors import shop_is_manageable
from kefu.exceptions import KefuError, PermissionDenied

from . import drift as drift_rules
from .drift import PauseSignal
from .geometry import RegionError
from .platform import DesktopError
from .poller import PAUSED, PollResult
from .selectors import (
    desktop_due_outgoing,
    desktop_pause_get,
    desktop_settings_get,
    recent_outgoing_texts,
)
from .sender import CONFIRMED, NOT_SENT, UNKNOWN, SendResult
from .store import DatabaseSeenStore, SeenStoreConflict

logger = logging.getLogger(__name__)

POLL_TASK = "desktop.poll"
SCHEDULE_PREFIX = "desktop-poll-"
SENDS_PER_POLL = 5
MANUAL = "manual"
# Calibration pictures stay at least this long, whatever the debug retention (the admin shows the latest).
CALIBRATION_KEEP = timedelta(days=30)

PAUSE_REASONS = {
    drift_rules.WINDOW_NOT_FOUND: gettext_lazy("the Qianniu window was not found"),
    drift_rules.WINDOW_RESIZED: gettext_lazy("the window is not the size the regions were set for"),
    drift_rules.WINDOW_OFF_SCREEN: gettext_lazy("part of the window is off the screen"),
    drift_rules.WINDOW_COVERED: gettext_lazy("another window covers the Qianniu window"),
    drift_rules.NOTHING_PLAUSIBLE: gettext_lazy("the regions read nothing plausible"),
    drift_rules.LOW_CONFIDENCE: gettext_lazy("OCR confidence stayed low"),
    drift_rules.SENDS_UNCONFIRMED: gettext_lazy("sends were not confirmed by read-back"),
    MANUAL: gettext_lazy("paused by a person"),
}


# -- pauses ---------------------------------------------------------------------------------------------------

def _require_manager(actor, shop: Shop | None) -> None:
    if actor is None:
        return
    allowed = actor.is_superadmin if shop is None else shop_is_manageable(user=actor, shop=shop)
    if not (getattr(actor, "is_active", False) and allowed):
        raise PermissionDenied(
            _("Only a superadmin pauses or resumes every shop.") if shop is None
            else _("Only an admin of this shop pauses or resumes its desktop sending."))


def pause_reason_text(reason: str) -> str:
    return str(PAUSE_REASONS.get(reason, reason))


def desktop_pause(*, shop: Shop | None = None, reason: str = MANUAL, detail: str = "", actor=None) -> DesktopPause:
    """Stop sending into ``shop``'s window (``shop`` None: every shop's) until a person resumes.

    ``actor`` None is kefu itself (drift); a person must administer the shop (a superadmin for every shop).
    An open pause is kept as it is and returned (the first reason stays the one shown).
    Side effects: a ``desktop_paused`` alert for the shop.
    """
    _require_manager(actor, shop)
    detail = (detail or "")[:2000]
    existing = DesktopPause.objects.open().filter(shop=shop).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            pause = DesktopPause.objects.create(shop=shop, reason=reason[:32], detail=detail, paused_by=actor)
    except IntegrityError:  # paused by another process meanwhile
        return DesktopPause.objects.open().get(shop=shop)
    where = shop.name if shop is not None else _("every shop")
    alert_raise(
        kind=AlertKind.DESKTOP_PAUSED, shop=shop,
        title=_("Sending through Qianniu paused: %(where)s") % {"where": where},
        message=_("%(why)s. %(detail)s Replies wait in the outbox until someone resumes in the admin.")
        % {"why": pause_reason_text(reason), "detail": f"{detail}." if detail else ""},
        detail={"reason": reason, "pause": pause.pk},
    )
    logger.warning("Desktop sending paused for %s: %s %s", where, reason, detail)
    return pause


def desktop_resume(*, actor, shop: Shop | None = None) -> DesktopPause | None:
    """End the open pause of ``shop`` (None: the pause of every shop); None when there was none.
    Side effects: the ``desktop_paused`` alert is resolved."""
    _require_manager(actor, shop)
    pause = DesktopPause.objects.open().filter(shop=shop).first()
    if pause is None:
        return None
    now = timezone.now()
    if DesktopPause.objects.filter(pk=pause.pk, resumed_at__isnull=True).update(resumed_at=now,
                                                                                 resumed_by=actor) != 1:
        return None  # resumed by someone else meanwhile
    alert_resolve(kind=AlertKind.DESKTOP_PAUSED, shop=shop)
    pause.refresh_from_db()
    return pause


# -- records --------------------------------------------------------------------------------------------------

def _png(image) -> bytes:
    from PIL import Image

    if not isinstance(image, Image.Image):  # a BGR capture
        image = Image.fromarray(image[:, :, ::-1].copy())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=3)
    return buffer.getvalue()


def capture_record_save(*, shop: Shop, kind: str, image=None, readings: dict | None = None, note: str = "",
                        job: JobRecord | None = None, keep: timedelta | None = None) -> CaptureRecord:
    """Keep a screenshot (a PIL image or a BGR capture) and what was read in it, for the shop's debug period
    (``keep`` overrides it)."""
    if keep is None:
        keep = timedelta(hours=desktop_settings_get(shop=shop).capture_retention_hours)
    now = timezone.now()
    record = CaptureRecord(shop=shop, kind=kind, job=job, readings=readings or {}, note=note[:300],
                           created_at=now, expires_at=now + keep)
    if image is not None:
        record.image.save(f"{shop.pk}-{kind}-{now:%H%M%S%f}.png", ContentFile(_png(image)), save=False)
    record.save()
    return record


def capture_records_purge(*, now=None, batch: int = 500) -> int:
    """Delete the captures (files and rows) past their expiry, the latest calibration of each shop excepted.
    Returns how many were deleted."""
    now = now or timezone.now()
    keep = set(
        CaptureRecord.objects.filter(kind=CaptureKind.CALIBRATION).order_by("shop_id", "-created_at", "-pk")
        .values_list("shop_id", "pk")
    )
    latest: dict[int, int] = {}
    for shop_id, pk in sorted(keep, key=lambda item: item[1]):
        latest[shop_id] = pk
    deleted = 0
    while True:
        rows = list(CaptureRecord.objects.filter(expires_at__lte=now).exclude(pk__in=latest.values())
                    .order_by("pk")[:batch])
        if not rows:
            return deleted
        for row in rows:
            if row.image:
                row.image.delete(save=False)  # a missing file is no error
        deleted += CaptureRecord.objects.filter(pk__in=[row.pk for row in rows]).delete()[0]


def _job(shop: Shop, kind: str, *, outgoing=None, status=JobStatus.PROCESSING, started=None) -> JobRecord:
    return JobRecord.objects.create(shop=shop, kind=kind, status=status, outgoing=outgoing,
                                    started_at=started or timezone.now())


def _finish(job: JobRecord, *, status: str, summary: str = "", error: str = "", detail: dict | None = None) -> None:
    now = timezone.now()
    job.status, job.finished_at, job.progress = status, now, 100
    job.duration_ms = max(0, int((now - job.started_at).total_seconds() * 1000))
    job.summary, job.error = summary[:300], error[:4000]
    if detail is not None:
        job.detail = json.loads(json.dumps(detail, default=str))
    job.save(update_fields=["status", "finished_at", "progress", "duration_ms", "summary", "error", "detail"])


# -- polling --------------------------------------------------------------------------------------------------

def _window_picture(runtime, poller):
    """The window (or, when it is gone, the whole screen) as it is now, for a pause's capture."""
    try:
        rect = poller.window.rect if poller.window is not None else runtime.desktop.screen()
        screen = runtime.desktop.screen()
        rect = screen.intersection(rect) or screen
        return runtime.desktop.capture(rect)
    except DesktopError:
        return None


def _pause_from_signal(shop, signal: PauseSignal, *, runtime=None, poller=None, job=None) -> DesktopPause:
    picture = _window_picture(runtime, poller) if runtime is not None and poller is not None else None
    if picture is not None or job is not None:
        capture_record_save(shop=shop, kind=CaptureKind.PAUSE, image=picture, job=job,
                            readings={"reason": signal.reason, "detail": signal.detail},
                            note=pause_reason_text(signal.reason))
    return desktop_pause(shop=shop, reason=signal.reason, detail=signal.detail)


def _read_summary(result: PollResult) -> list[dict]:
    return [{"conversation": read.conversation, "alignment": read.alignment.status, "taken": len(read.records),
             "new": [record.text for record in read.new], "human": [record.text for record in read.human]}
            for read in result.reads]


def desktop_poll(*, shop_id: int, runtime=None) -> dict:
    """One poll of ``shop_id``'s window, then its due sends; see the module docstring.

    Returns a summary (``status``: off | idle | read | paused | conflict, ``sent``: send statuses). Writes a
    JobRecord only for a poll that found something (new lines, a pause) or failed.
    """
    from .runtime import desktop_runtime

    shop = Shop.objects.filter(pk=shop_id, is_active=True).first()
    if shop is None:
        return {"status": "off"}
    conf = desktop_settings_get(shop=shop)
    if not conf.runnable:
        return {"status": "off"}
    started = timezone.now()
    try:
        runtime = runtime or desktop_runtime()
    except DesktopError as exc:
        signal = PauseSignal(drift_rules.WINDOW_NOT_FOUND, str(exc))
        if desktop_pause_get(shop=shop) is None:
            job = _job(shop, JobKind.POLL, started=started)
            _finish(job, status=JobStatus.FAILED, error=str(exc))
            _pause_from_signal(shop, signal, job=job)
        return {"status": PAUSED, "pause": signal.reason}
    store = DatabaseSeenStore(shop)
    entry = runtime.poller_for(shop, conf, store)
    poller = entry.poller
    poller.recent_outgoing = lambda nick: (recent_outgoing_texts(shop=shop, buyer_id=nick)
                                           + runtime.sender.recent_outgoing(nick))
    pause = desktop_pause_get(shop=shop)
    if pause is None and entry.pause_id is not None:
        poller.drift = conf.drift_monitor()  # resumed by a person: the counts start again
    entry.pause_id = pause.pk if pause else None

    try:
        result = poller.poll()
    except SeenStoreConflict as exc:
        job = _job(shop, JobKind.POLL, started=started)
        _finish(job, status=JobStatus.FAILED, error=str(exc))
        return {"status": "conflict"}
    except DesktopError as exc:
        result = PollResult(PAUSED, pause=PauseSignal(drift_rules.WINDOW_NOT_FOUND, str(exc)))

    summary: dict = {"status": result.status, "sent": []}
    found = [read for read in result.reads if read.records]
    if found or result.pause:
        job = _job(shop, JobKind.POLL, started=started)
        detail = {"timings": {k: round(v, 4) for k, v in result.timings.items()}, "reads": _read_summary(result),
                  "ingested": [m.pk for m in store.ingested]}
        new = sum(len(read.new) for read in found)
        text = _("%(lines)d new lines in %(conversations)d conversations") % {"lines": new,
                                                                             "conversations": len(found)}
        if result.pause:
            detail["pause"] = {"reason": result.pause.reason, "detail": result.pause.detail}
            text = _("paused: %(why)s") % {"why": pause_reason_text(result.pause.reason)}
        _finish(job, status=JobStatus.COMPLETED, summary=text, detail=detail)
        if conf.debug_captures and found and poller.window is not None:
            area = conf.regions.transcript.offset(poller.window.rect.x, poller.window.rect.y)
            with contextlib.suppress(DesktopError):
                capture_record_save(shop=shop, kind=CaptureKind.READ, image=runtime.desktop.capture(area), job=job,
                                    readings={"reads": detail["reads"]})
        if result.pause and pause is None:
            pause = _pause_from_signal(shop, result.pause, runtime=runtime, poller=poller, job=job)
            entry.pause_id = pause.pk
        summary["pause"] = result.pause.reason if result.pause else None
    if pause is not None or result.status == PAUSED:
        return summary
    for outgoing_id in desktop_due_outgoing(shop=shop, reply_delay_seconds=conf.reply_delay_seconds) \
            .values_list("pk", flat=True)[:SENDS_PER_POLL]:
        status = desktop_send(outgoing_id=outgoing_id, runtime=runtime)
        summary["sent"].append(status)
        if status == "paused":
            break
    return summary


# -- sending --------------------------------------------------------------------------------------------------

def desktop_send(*, outgoing_id: int, runtime=None) -> str:
    """Type one queued reply into its shop's window and record what became of it.

    1. Nothing happens unless the row is queued, the shop's desktop is on, not paused, and its reply delay
       has passed ("gone", "off", "paused", "not_due"); the next poll picks up a row that is not yet due.
    2. Claim it through the outbox (``queued`` → ``sending``); someone else's claim → "taken".
    3. Type, submit, read back; the receipt says ``confirmed``, ``unknown`` (it may have reached the buyer:
       never sent again, a person is asked) or ``rejected`` (stopped before the submit: nothing was sent).
    4. Two unconfirmed sends in a row pause the shop.

    Returns the status: one of the above, or confirmed | unknown | rejected.
    """
    from customer_service.outbox.services import outgoing_reply_claim, outgoing_reply_receipt

    from .runtime import desktop_runtime

    row = OutgoingReply.objects.select_related("shop", "conversation").filter(pk=outgoing_id).first()
    if row is None or row.state != OutgoingState.QUEUED:
        return "gone"
    shop = row.shop
    conf = desktop_settings_get(shop=shop)
    if not conf.runnable or not shop.is_active:
        return "off"
    if desktop_pause_get(shop=shop) is not None:
        return "paused"
    if timezone.now() < row.created_at + timedelta(seconds=conf.reply_delay_seconds):
        return "not_due"
    runtime = runtime or desktop_runtime()
    try:
        outgoing_reply_claim(actor=None, outgoing=row, channel=OutboxChannel.DESKTOP, claimer=runtime.name)
    except TransitionRefused:
        return "taken"
    job = _job(shop, JobKind.SEND, outgoing=row)
    conversation = row.conversation.buyer_id
    started = time.monotonic()
    try:
        result = runtime.sender.send(title=conf.title, regions=conf.regions, conversation=conversation,
                                     text=row.text, submit=conf.submit, timeout=conf.readback_timeout_seconds)
    except Exception as exc:  # after the claim an unexpected failure may have come after the submit
        logger.exception("Desktop send of outgoing reply %s failed", row.pk)
        result = SendResult(UNKNOWN, _("the sender failed: %(error)s") % {"error": exc})
    receipt = {CONFIRMED: OutgoingState.CONFIRMED, UNKNOWN: OutgoingState.UNKNOWN,
               NOT_SENT: OutgoingState.REJECTED}[result.status]
    error = ""
    try:
        outgoing_reply_receipt(actor=None, outgoing=row, result=receipt, reason=result.reason,
                               claimer=runtime.name)
    except KefuError as exc:  # the lease ran out meanwhile: the sweeper already made it unknown
        error = exc.message
    detail = {"timings": result.timings, "seconds": round(time.monotonic() - started, 3), "reason": result.reason,
              "conversation": conversation}
    _finish(job, status=JobStatus.COMPLETED if result.status == CONFIRMED else JobStatus.FAILED,
            summary=f"{receipt}: {result.reason}" if result.reason else receipt, error=error, detail=detail)
    if result.status == NOT_SENT:
        return receipt
    if result.status == UNKNOWN:
        picture = None
        poller_entry = runtime.pollers.get(shop.pk)
        window = poller_entry.poller.window if poller_entry else None
        if window is not None:
            try:
                picture = runtime.desktop.capture(conf.regions.transcript.offset(window.rect.x, window.rect.y))
            except DesktopError:
                picture = None
        capture_record_save(shop=shop, kind=CaptureKind.SEND, image=picture, job=job,
                            readings={"text": row.text, "reason": result.reason}, note=result.reason)
    entry = runtime.poller_for(shop, conf, DatabaseSeenStore(shop))
    signal = entry.poller.drift.send(status=result.status)
    if signal is not None:
        pause = _pause_from_signal(shop, signal, runtime=runtime, poller=entry.poller, job=job)
        entry.pause_id = pause.pk
    return receipt


def desktop_dispatch(*, outgoing_id: int, shop_id: int, created_at, shop: Shop | None = None) -> bool:
    """Hand a just-queued reply to the desktop worker (task ``desktop.send_reply``, due after the shop's reply
    delay) when the shop's desktop is on and not paused. Returns whether it was handed over. The task expires
    with the next minute: without a desktop worker nothing piles up, and the poll sends what is due.

    ``shop``: the reply's shop as the caller read it in the same unit of work (not read again)."""
    from kefu.celery import app

    if shop is None or shop.pk != shop_id:
        shop = Shop.objects.filter(pk=shop_id).first()
    if shop is None or not shop.is_active or shop.deleted_at is not None:
        return False
    try:
        conf = desktop_settings_get(shop=shop)
    except (ConfigNotFound, RegionError):
        return False
    if not conf.runnable or desktop_pause_get(shop=shop) is not None:
        return False
    due = created_at + timedelta(seconds=conf.reply_delay_seconds)
    countdown = max(0.0, (due - timezone.now()).total_seconds())
    app.send_task("desktop.send_reply", args=(outgoing_id,), queue="desktop", countdown=countdown,
                  expires=countdown + 60)
    return True


# -- schedules ------------------------------------------------------------------------------------------------

def desktop_schedules_sync(*, shop_ids=None) -> dict:
    """Keep one django-celery-beat entry per shop in step with its settings: enabled at the shop's poll
    interval on queue ``desktop`` while its desktop is on (and the shop active), disabled otherwise, removed
    with the shop. Each run expires after one interval, so a busy worker skips polls instead of piling them
    up. Returns counts of created, updated, disabled and deleted entries."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    counts = {"created": 0, "updated": 0, "disabled": 0, "deleted": 0}
    shops = Shop.objects.all() if shop_ids is None else Shop.objects.filter(pk__in=shop_ids)
    for shop in shops:
        try:
            runnable = desktop_settings_get(shop=shop).runnable
        except (ConfigNotFound, RegionError):  # no settings template (a bare database), or regions unreadable
            runnable = False
        name = f"{SCHEDULE_PREFIX}{shop.pk}"
        task = PeriodicTask.objects.filter(name=name).first()
        if not (shop.is_active and runnable):
            if task is not None and task.enabled:
                task.enabled = False
                task.save(update_fields=["enabled"])
                counts["disabled"] += 1
            continue
        conf = desktop_settings_get(shop=shop)
        interval, _created = IntervalSchedule.objects.get_or_create(every=conf.poll_interval_seconds,
                                                             period=IntervalSchedule.SECONDS)
        wanted = {"task": POLL_TASK, "interval": interval, "args": json.dumps([shop.pk]), "queue": "desktop",
                  "expire_seconds": conf.poll_interval_seconds, "enabled": True,
                  "description": f"Poll the Qianniu window of {shop.name}"}
        if task is None:
            PeriodicTask.objects.create(name=name, **wanted)
            counts["created"] += 1
        elif any(getattr(task, key) != value for key, value in wanted.items()):
            for key, value in wanted.items():
                setattr(task, key, value)
            task.save()
            counts["updated"] += 1
    if shop_ids is None:
        existing = set(Shop.objects.values_list("pk", flat=True))
        stale = [task.pk for task in PeriodicTask.objects.filter(name__startswith=SCHEDULE_PREFIX)
                 if not task.name[len(SCHEDULE_PREFIX):].isdigit()
                 or int(task.name[len(SCHEDULE_PREFIX):]) not in existing]
        counts["deleted"] = PeriodicTask.objects.filter(pk__in=stale).delete()[0] if stale else 0
    return counts


# -- calibration ----------------------------------------------------------------------------------------------

def desktop_calibrate(*, shop: Shop, runtime=None) -> CaptureRecord | None:
    """Capture ``shop``'s window with its configured regions drawn on it and what OCR reads in each; kept
    as the shop's latest calibration. None when the window is not found (the job record says so)."""
    from .calibration import calibrate
    from .runtime import desktop_runtime

    conf = desktop_settings_get(shop=shop)
    job = _job(shop, JobKind.CALIBRATE)
    if not conf.title:
        _finish(job, status=JobStatus.FAILED, error=_("The shop has no Qianniu window title."))
        return None
    try:
        runtime = runtime or desktop_runtime()
        result = calibrate(runtime.desktop, runtime.ocr, title=conf.title, regions=conf.regions)
    except DesktopError as exc:
        _finish(job, status=JobStatus.FAILED, error=str(exc))
        raise
    if result is None:
        _finish(job, status=JobStatus.FAILED, error=_("No window titled “%(title)s” is open.") % {"title": conf.title})
        return None
    readings = {"readings": result.readings, "outside": result.outside, "window": result.window.as_list(),
                "regions": conf.regions.as_dict(), "title": conf.title}
    keep = max(timedelta(hours=conf.capture_retention_hours), CALIBRATION_KEEP)
    record = capture_record_save(shop=shop, kind=CaptureKind.CALIBRATION, image=result.picture, readings=readings,
                                 job=job, keep=keep)
    _finish(job, status=JobStatus.COMPLETED, detail=readings,
            summary=_("regions outside the window: %(names)s") % {"names": ", ".join(result.outside)}
            if result.outside else _("all regions inside the window"))
    return record
