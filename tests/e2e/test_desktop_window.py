"""The desktop core on real X11 windows under Xvfb: the fake Qianniu window in two looks, described to kefu
only by its title and regions, as a seller's settings would describe a real one."""

import time

import pytest

from customer_service.desktop import drift
from customer_service.desktop.dedupe import FileSeenStore, MemorySeenStore
from customer_service.desktop.poller import IDLE, PAUSED, Poller, PollSettings
from customer_service.desktop.sender import CONFIRMED, NOT_SENT, UNKNOWN, Sender
from customer_service.desktop.text import comparison_key
from customer_service.desktop.transcript import BUYER, SELLER, parse_transcript, read_nick
from customer_service.desktop.unread import find_badges, oldest_first

pytestmark = pytest.mark.slow


def settings_for(window, **overrides) -> PollSettings:
    badge = window.layout.get("badge_colour", "#ff3b30").lstrip("#")
    rgb = tuple(int(badge[i:i + 2], 16) for i in (0, 2, 4))
    return PollSettings(title=window.title, regions=window.regions, badge_rgb=rgb, window_size=window.size,
                        **overrides)


def area(desktop, window, name):
    found = desktop.find_window(window.title)
    return getattr(window.regions, name).offset(found.rect.x, found.rect.y)


def read_transcript(desktop, ocr, window):
    image = desktop.capture(area(desktop, window, "transcript"))
    return parse_transcript(ocr.read(image), window.regions.transcript.width, window.regions.transcript.height)


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_finds_the_window_by_its_chinese_title_with_its_rectangle(qianniu, desktop):
    found = desktop.find_window(qianniu.title)

    assert found is not None and found.title == qianniu.title
    assert (found.rect.width, found.rect.height) == qianniu.size
    assert desktop.find_window("没有这个窗口") is None
    assert desktop.windows_above(found) == []


def test_badges_are_found_and_ordered_oldest_first(qianniu, desktop):
    qianniu.buyer("买家甲", "在吗")
    for nick in ("买家乙", "买家丙", "买家丁"):
        qianniu.buyer(nick, "请问有货吗")
    qianniu.buyer("买家乙", "还在吗")  # 乙 moves to the top: its last line is the newest

    badges = find_badges(desktop.capture(area(desktop, qianniu, "conversation_list")),
                         rgb=settings_for(qianniu).badge_rgb)

    state = qianniu.state()
    row_h = qianniu.layout.get("list_row_height", 56)
    badged = [nick for nick in state["list_order"] if state["conversations"][nick]["unread"]]
    assert [state["list_order"][badge.y // row_h] for badge in badges] == badged
    ordered = [state["list_order"][badge.y // row_h] for badge in oldest_first(badges)]
    assert ordered == ["买家丙", "买家丁", "买家乙"]


def test_transcript_reads_as_lines_with_speaker_time_and_merged_wraps(qianniu, desktop, ocr_engine):
    long_question = "这款连衣裙有XL码吗？我平时穿L的，但是这款好像偏小一点，想买大一码，什么时候能发货呢"
    qianniu.buyer("tb_小明2021", "在吗", time="09:15:02")
    qianniu.seller("tb_小明2021", "亲，在的，请问有什么可以帮您？", time="09:15:30")
    qianniu.buyer("tb_小明2021", long_question, time="09:16:11")

    lines = read_transcript(desktop, ocr_engine, qianniu)

    assert [(line.speaker, line.time) for line in lines] == [(BUYER, "09:15:02"), (SELLER, "09:15:30"),
                                                            (BUYER, "09:16:11")]
    assert [comparison_key(line.text) for line in lines] == [
        comparison_key(t) for t in ("在吗", "亲，在的，请问有什么可以帮您？", long_question)]
    assert lines[0].nick == "tb_小明2021"
    header = desktop.capture(area(desktop, qianniu, "chat_header"))
    assert read_nick(ocr_engine.read(header)) == "tb_小明2021"


def test_a_chinese_reply_is_pasted_once_confirmed_by_read_back_and_the_clipboard_restored(
        qianniu, desktop, ocr_engine, tmp_path):
    qianniu.buyer("买家小红", "发什么快递？")
    desktop.set_clipboard_text("卖家自己复制的内容")
    sender = Sender(desktop, ocr_engine, lock_path=tmp_path / "send.lock")
    reply = "亲，默认发中通快递，江浙沪次日达哦～"

    result = sender.send(title=qianniu.title, regions=qianniu.regions, conversation="买家小红", text=reply)

    assert result.status == CONFIRMED, result.reason
    assert qianniu.received() == [reply]
    assert desktop.clipboard_text() == "卖家自己复制的内容"
    assert sender.recent_outgoing("买家小红") == [reply]


def test_the_send_button_submits_when_settings_say_so(qianniu, desktop, ocr_engine, tmp_path):
    qianniu.buyer("买家小红", "可以开发票吗")
    sender = Sender(desktop, ocr_engine, lock_path=tmp_path / "send.lock")

    result = sender.send(title=qianniu.title, regions=qianniu.regions, conversation="买家小红",
                         text="可以的，下单后在订单里申请电子发票", submit="button")

    assert result.status == CONFIRMED, result.reason
    assert qianniu.received() == ["可以的，下单后在订单里申请电子发票"]


def test_a_swallowed_send_ends_unknown_and_is_not_sent_again(qianniu, desktop, ocr_engine, tmp_path):
    qianniu.buyer("买家小红", "在吗")
    qianniu.command("swallow", count=1)
    sender = Sender(desktop, ocr_engine, lock_path=tmp_path / "send.lock")

    result = sender.send(title=qianniu.title, regions=qianniu.regions, conversation="买家小红",
                         text="在的亲", timeout=1.5)

    assert result.status == UNKNOWN
    assert [r["swallowed"] for r in qianniu.state()["received"]] == [True]


def test_a_repeated_reply_is_confirmed_only_by_its_new_line(qianniu, desktop, ocr_engine, tmp_path):
    qianniu.buyer("买家小红", "在吗")
    qianniu.seller("买家小红", "好的")
    qianniu.command("swallow", count=1)
    sender = Sender(desktop, ocr_engine, lock_path=tmp_path / "send.lock")

    # "好的" is already the latest seller line; the swallowed send adds nothing, so it is not confirmed.
    result = sender.send(title=qianniu.title, regions=qianniu.regions, conversation="买家小红", text="好的",
                         timeout=1.5)

    assert result.status == UNKNOWN


def test_a_send_refuses_the_wrong_conversation_and_a_busy_input_box(qianniu, desktop, ocr_engine, tmp_path):
    qianniu.buyer("买家小红", "在吗")
    sender = Sender(desktop, ocr_engine, lock_path=tmp_path / "send.lock")

    wrong = sender.send(title=qianniu.title, regions=qianniu.regions, conversation="买家小蓝", text="在的")
    input_box = area(desktop, qianniu, "input_box")
    desktop.click(*input_box.center)
    desktop.paste("我正在手动输入")
    assert wait_for(lambda: qianniu.state()["input"] == "我正在手动输入")
    busy = sender.send(title=qianniu.title, regions=qianniu.regions, conversation="买家小红", text="在的")

    assert (wrong.status, busy.status) == (NOT_SENT, NOT_SENT)
    assert "买家小蓝" in wrong.reason and "input box" in busy.reason
    assert qianniu.received() == []


def test_polls_take_each_new_line_once_across_polls_and_a_restart(qianniu, desktop, ocr_engine, tmp_path):
    store_path = tmp_path / "seen.json"
    qianniu.buyer("买家小明", "在吗")
    poller = Poller(desktop, ocr_engine, FileSeenStore(store_path), settings_for(qianniu))

    first = poller.poll()
    second = poller.poll()
    qianniu.buyer("买家小明", "好的")
    qianniu.buyer("买家小明", "好的")
    third = poller.poll()
    restarted = Poller(desktop, ocr_engine, FileSeenStore(store_path), settings_for(qianniu))
    after_restart = restarted.poll()
    qianniu.buyer("买家小明", "有XL码吗")
    fourth = restarted.poll()

    taken = lambda result: [(r.speaker, r.text) for read in result.reads for r in read.new]  # noqa: E731
    assert taken(first) == [(BUYER, "在吗")]
    assert second.status == IDLE and taken(second) == []
    assert taken(third) == [(BUYER, "好的"), (BUYER, "好的")]
    assert taken(after_restart) == []
    assert taken(fourth) == [(BUYER, "有XL码吗")]
    history = FileSeenStore(store_path).tail("买家小明")
    assert [line.text for line in history] == ["在吗", "好的", "好的", "有XL码吗"]
    assert len({line.external_id("买家小明") for line in history}) == 4


def test_badged_conversations_are_opened_and_read_oldest_first(qianniu, desktop, ocr_engine):
    qianniu.buyer("买家甲", "在吗")
    poller = Poller(desktop, ocr_engine, MemorySeenStore(), settings_for(qianniu))
    poller.poll()
    qianniu.buyer("买家乙", "这个有现货吗")
    qianniu.buyer("买家丙", "能便宜点吗")

    result = poller.poll()

    assert [(read.conversation, [r.text for r in read.new]) for read in result.reads] == [
        ("买家乙", ["这个有现货吗"]), ("买家丙", ["能便宜点吗"])]
    assert all(not c["unread"] for c in qianniu.state()["conversations"].values())


def test_a_seller_line_kefu_did_not_send_is_a_takeover(qianniu, desktop, ocr_engine, tmp_path):
    qianniu.buyer("买家小明", "在吗")
    sender = Sender(desktop, ocr_engine, lock_path=tmp_path / "send.lock")
    poller = Poller(desktop, ocr_engine, MemorySeenStore(), settings_for(qianniu),
                    recent_outgoing=sender.recent_outgoing)
    poller.poll()

    assert sender.send(title=qianniu.title, regions=qianniu.regions, conversation="买家小明",
                       text="在的亲，有什么可以帮您").status == CONFIRMED
    by_kefu = poller.poll()
    qianniu.seller("买家小明", "我是店长，这单给您改价")
    by_hand = poller.poll()

    assert [r.text for read in by_kefu.reads for r in read.new] == ["在的亲,有什么可以帮您"]
    assert [r for read in by_kefu.reads for r in read.human] == []
    assert [r.text for read in by_hand.reads for r in read.human] == ["我是店长,这单给您改价"]


def test_moving_the_window_is_followed_and_off_screen_covered_or_closed_pauses(qianniu, desktop, ocr_engine):
    qianniu.buyer("买家小明", "在吗")
    poller = Poller(desktop, ocr_engine, MemorySeenStore(), settings_for(qianniu))
    poller.poll()

    qianniu.command("move", x=5, y=5)
    qianniu.buyer("买家小明", "还在吗")
    moved = poller.poll()
    qianniu.command("move", x=900, y=300)
    off_screen = poller.poll()
    qianniu.command("move", x=5, y=5)
    qianniu.command("cover")
    covered = poller.poll()
    qianniu.command("uncover")
    qianniu.command("close")
    closed = poller.poll()
    qianniu.command("show")
    back = poller.poll()

    assert [r.text for read in moved.reads for r in read.new] == ["还在吗"]
    assert (off_screen.status, off_screen.pause.reason) == (PAUSED, drift.WINDOW_OFF_SCREEN)
    assert (covered.status, covered.pause.reason) == (PAUSED, drift.WINDOW_COVERED)
    assert (closed.status, closed.pause.reason) == (PAUSED, drift.WINDOW_NOT_FOUND)
    assert back.pause is None


def test_regions_that_read_nothing_pause_after_a_few_polls(qianniu, desktop, ocr_engine):
    qianniu.buyer("买家小明", "在吗")
    regions = qianniu.regions
    # The header region set over the empty input box: no nick can be read there.
    wrong = type(regions)(conversation_list=regions.conversation_list, chat_header=regions.input_box,
                          transcript=regions.transcript, input_box=regions.input_box,
                          send_button=regions.send_button)
    poller = Poller(desktop, ocr_engine, MemorySeenStore(),
                    PollSettings(title=qianniu.title, regions=wrong, window_size=qianniu.size))
    results = []
    for text in ("一", "二", "三"):
        qianniu.buyer("买家小明", f"第{text}个问题")
        results.append(poller.poll())

    assert [r.pause for r in results[:2]] == [None, None]
    assert results[2].pause.reason == drift.NOTHING_PLAUSIBLE
    assert "nick" in results[2].pause.detail


def test_calibration_draws_the_regions_and_reads_each(qianniu, desktop, ocr_engine):
    from customer_service.desktop.calibration import calibrate

    qianniu.buyer("买家小明", "在吗")

    result = calibrate(desktop, ocr_engine, title=qianniu.title, regions=qianniu.regions)

    assert result.picture.size == qianniu.size
    assert result.readings["chat_header"] == "买家小明"
    assert "在吗" in result.readings["transcript"] and "买家小明" in result.readings["conversation_list"]
    assert result.readings["send_button"] == "发送" and result.outside == []
    x, y = qianniu.regions.transcript.x, qianniu.regions.transcript.y
    assert result.picture.getpixel((x + 1, y + 20)) == (46, 139, 87)  # the transcript's outline
    assert calibrate(desktop, ocr_engine, title="没有这个窗口", regions=qianniu.regions) is None
