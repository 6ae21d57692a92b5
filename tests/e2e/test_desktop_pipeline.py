"""The desktop worker's poll and send through the real reply pipeline, on the fake Qianniu window under Xvfb.

Each test configures a shop the way a seller would: the window title, the regions read off the calibration
picture (here: what the window says its parts are), the badge colour; a knowledge item answers the buyer.
``desktop_poll`` is what the beat-driven ``desktop.poll`` task runs on the desktop worker: the unread check, OCR,
the durable seen lines, ``message_ingest``, and then the outbox's due replies typed into the window and read back.
The pipeline runs as the unit tests run it (Celery eager): ingest → decision → outbox in the poll's process.
Both window looks run every test (``fake_qianniu`` is parametrised).
"""

import pytest

from customer_service.desktop import services
from customer_service.desktop.runtime import DesktopRuntime
from customer_service.desktop.selectors import desktop_pause_get
from customer_service.desktop.text import normalise
from customer_service.models import (
    AlertEvent,
    AlertKind,
    CaptureKind,
    CaptureRecord,
    Conversation,
    DesktopSeenLine,
    JobKind,
    JobRecord,
    Message,
    MessageDirection,
    MessageSource,
    MessageStatus,
    OutgoingReply,
    OutgoingState,
    ReviewItem,
)
from tests.e2e.desktop_harness import ANSWER, QUESTION

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop(desktop_shop):
    return desktop_shop


@pytest.fixture
def runtime(desktop, ocr_engine):
    return DesktopRuntime(desktop=desktop, ocr=ocr_engine)


def received(qianniu):
    return [(r["conversation"], r["text"]) for r in qianniu.state()["received"]]


def test_a_buyer_question_is_answered_from_knowledge_once_and_confirmed_by_read_back(qianniu, shop, runtime,
                                                                                     desktop, ocr_engine):
    qianniu.buyer("买家小明", QUESTION)

    first = services.desktop_poll(shop_id=shop.pk, runtime=runtime)

    assert first["sent"] == ["confirmed"], first
    assert received(qianniu) == [("买家小明", ANSWER)]
    message = Message.objects.get(shop=shop, direction=MessageDirection.BUYER)
    assert (message.content, message.source, message.status) == (normalise(QUESTION), MessageSource.QIANNIU,
                                                                 MessageStatus.ANSWERED)
    assert message.external_id.startswith("qn-") and message.conversation.buyer_id == "买家小明"
    outgoing = OutgoingReply.objects.get(message=message)
    assert (outgoing.state, outgoing.channel, outgoing.text) == (OutgoingState.CONFIRMED, "desktop", ANSWER)
    assert JobRecord.objects.filter(shop=shop, kind=JobKind.POLL).count() == 1
    assert JobRecord.objects.get(shop=shop, kind=JobKind.SEND).status == "completed"

    # Polls after the answer, and a restarted worker (a new process: nothing in memory), take nothing new.
    again = services.desktop_poll(shop_id=shop.pk, runtime=runtime)
    restarted = services.desktop_poll(shop_id=shop.pk, runtime=DesktopRuntime(desktop=desktop, ocr=ocr_engine))
    assert again["sent"] == [] and again.get("pause") is None
    assert restarted["sent"] == [] and restarted.get("pause") is None
    assert Message.objects.filter(shop=shop).count() == 1
    assert received(qianniu) == [("买家小明", ANSWER)]
    assert list(DesktopSeenLine.objects.filter(shop=shop).values_list("speaker", "text")) == [
        ("buyer", normalise(QUESTION)), ("seller", normalise(ANSWER))]

    # The next question is new, and only it.
    qianniu.buyer("买家小明", "用哪家快递")
    services.desktop_poll(shop_id=shop.pk, runtime=runtime)
    assert [m.content for m in Message.objects.filter(shop=shop, direction=MessageDirection.BUYER)
            .order_by("pk")] == [normalise(QUESTION), "用哪家快递"]


def test_a_burst_of_three_fragments_gets_one_reply(qianniu, shop, runtime):
    for fragment in ("在吗", "这款", QUESTION):
        qianniu.buyer("买家小红", fragment)

    result = services.desktop_poll(shop_id=shop.pk, runtime=runtime)

    assert result["sent"] == ["confirmed"], result
    assert received(qianniu) == [("买家小红", ANSWER)]
    lines = Message.objects.filter(shop=shop, direction=MessageDirection.BUYER).order_by("pk")
    assert [m.content for m in lines] == ["在吗", "这款", normalise(QUESTION)]
    assert {m.status for m in lines} == {MessageStatus.ANSWERED}
    assert OutgoingReply.objects.filter(shop=shop).count() == 1


def test_a_line_typed_by_hand_takes_the_conversation_over(qianniu, shop, runtime):
    qianniu.buyer("买家小明", QUESTION)
    services.desktop_poll(shop_id=shop.pk, runtime=runtime)

    qianniu.seller("买家小明", "我是店长，这单给您改价")
    services.desktop_poll(shop_id=shop.pk, runtime=runtime)
    qianniu.buyer("买家小明", "用哪家快递")
    after = services.desktop_poll(shop_id=shop.pk, runtime=runtime)

    seller = Message.objects.get(shop=shop, direction=MessageDirection.SELLER)
    assert seller.content == "我是店长,这单给您改价"
    assert Conversation.objects.get(shop=shop, buyer_id="买家小明").taken_over()
    assert after["sent"] == []
    assert received(qianniu) == [("买家小明", ANSWER)]  # only kefu's first answer; the rest is the person's
    assert Message.objects.get(shop=shop, content="用哪家快递").status != MessageStatus.ANSWERED


def test_covering_moving_off_screen_or_closing_the_window_pauses_sending_until_someone_resumes(
        qianniu, shop, runtime, world):
    qianniu.buyer("买家小明", "在吗")
    services.desktop_poll(shop_id=shop.pk, runtime=runtime)

    qianniu.command("cover")
    covered = services.desktop_poll(shop_id=shop.pk, runtime=runtime)
    pause = desktop_pause_get(shop=shop)
    assert covered["pause"] == "window_covered" and pause.reason == "window_covered"
    assert AlertEvent.objects.filter(kind=AlertKind.DESKTOP_PAUSED, shop=shop, resolved_at=None).exists()
    assert CaptureRecord.objects.filter(shop=shop, kind=CaptureKind.PAUSE).exists()

    # Uncovered, the window reads again and the question is taken, but nothing is typed until a person resumes.
    qianniu.command("uncover")
    qianniu.buyer("买家小明", QUESTION)
    services.desktop_poll(shop_id=shop.pk, runtime=runtime)
    queued = OutgoingReply.objects.get(shop=shop)
    assert queued.state == OutgoingState.QUEUED and received(qianniu) == []

    services.desktop_resume(actor=world.shop_admin, shop=shop)
    resumed = services.desktop_poll(shop_id=shop.pk, runtime=runtime)
    assert resumed["sent"] == ["confirmed"] and received(qianniu) == [("买家小明", ANSWER)]

    for command, reason in (({"cmd": "move", "x": 1100, "y": 300}, "window_off_screen"),
                            ({"cmd": "close"}, "window_not_found")):
        qianniu.command(**command)
        result = services.desktop_poll(shop_id=shop.pk, runtime=runtime)
        assert result["pause"] == reason and desktop_pause_get(shop=shop).reason == reason
        qianniu.command("show")
        qianniu.command("move", x=qianniu.layout.get("x", 40), y=qianniu.layout.get("y", 30))
        services.desktop_resume(actor=world.shop_admin, shop=shop)


def test_a_send_the_window_swallows_ends_unknown_goes_to_a_person_and_is_never_sent_again(qianniu, shop, runtime):
    qianniu.buyer("买家小明", QUESTION)
    qianniu.command("swallow", count=1)

    first = services.desktop_poll(shop_id=shop.pk, runtime=runtime)
    later = [services.desktop_poll(shop_id=shop.pk, runtime=runtime) for _ in range(2)]

    assert first["sent"] == ["unknown"] and all(result["sent"] == [] for result in later)
    assert [r["swallowed"] for r in qianniu.state()["received"]] == [True]
    outgoing = OutgoingReply.objects.get(shop=shop)
    assert outgoing.state == OutgoingState.UNKNOWN
    assert ReviewItem.objects.filter(message=outgoing.message, status="pending").exists()
    assert AlertEvent.objects.filter(kind=AlertKind.UNKNOWN_SEND, shop=shop, resolved_at=None).exists()
    assert CaptureRecord.objects.filter(shop=shop, kind=CaptureKind.SEND).exists()


def test_calibration_reads_each_configured_region_of_the_window(qianniu, shop, runtime):
    qianniu.buyer("买家小明", "在吗")

    record = services.desktop_calibrate(shop=shop, runtime=runtime)

    assert record.kind == CaptureKind.CALIBRATION and record.image
    assert record.readings["readings"]["chat_header"] == "买家小明"
    assert record.readings["outside"] == [] and record.readings["window"][2:] == list(qianniu.size)
    assert JobRecord.objects.get(shop=shop, kind=JobKind.CALIBRATE).status == "completed"


def test_the_calibrate_command_prints_each_region_and_writes_the_picture(qianniu, shop, runtime, tmp_path):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    from customer_service.desktop.runtime import desktop_runtime_install

    qianniu.buyer("买家小明", "在吗")
    previous = desktop_runtime_install(runtime)
    try:
        out = StringIO()
        call_command("desktop_calibrate", shop=shop.name, out=tmp_path / "calibration.png", stdout=out)
        with pytest.raises(CommandError, match="No shop named"):
            call_command("desktop_calibrate", shop="没有这个店")
        shop.qianniu_title = "没有这个窗口"
        shop.save()
        with pytest.raises(CommandError, match="No window titled"):
            call_command("desktop_calibrate", shop=shop.name)
    finally:
        desktop_runtime_install(previous)

    printed = out.getvalue()
    assert "chat_header" in printed and "买家小明" in printed and "OUTSIDE" not in printed
    assert (tmp_path / "calibration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
