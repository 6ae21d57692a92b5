from customer_service.desktop.dedupe import (
    ALIGNED,
    FIRST_SIGHT,
    GAP,
    INSIDE,
    UNALIGNED,
    FileSeenStore,
    MemorySeenStore,
    align,
    fingerprint,
    human_seller_lines,
    read_conversation,
)
from customer_service.desktop.transcript import BUYER, SELLER, TranscriptLine


def line(speaker, text, time=None, partial=False):
    return TranscriptLine(speaker, text, time, None, 0, 10, 0.99, partial)


def b(text, time=None, partial=False):
    return line(BUYER, text, time, partial)


def s(text, time=None):
    return line(SELLER, text, time)


def remember(store, conversation, visible):
    read = read_conversation(conversation, visible, store.tail(conversation))
    store.commit(read)
    return read


def test_first_sight_takes_the_buyer_lines_after_the_last_seller_line_and_keeps_the_rest_as_history():
    visible = [b("在吗"), s("在的"), b("有XL吗"), b("什么时候发货")]

    alignment = align([], visible)

    assert alignment.status == FIRST_SIGHT
    assert [x.text for x in alignment.take] == ["在吗", "在的", "有XL吗", "什么时候发货"]
    assert [x.text for x in alignment.new] == ["有XL吗", "什么时候发货"]


def test_the_same_screen_twice_adds_nothing():
    store = MemorySeenStore()
    visible = [b("在吗"), s("在的")]
    remember(store, "c", visible)

    assert align(store.tail("c"), visible).new == []


def test_a_second_identical_line_is_new_because_alignment_not_membership_decides():
    store = MemorySeenStore()
    remember(store, "c", [s("您好"), b("好的")])

    alignment = align(store.tail("c"), [s("您好"), b("好的"), b("好的")])

    assert alignment.status == ALIGNED
    assert [x.text for x in alignment.new] == ["好的"]


def test_lines_that_scrolled_off_the_top_still_align():
    store = MemorySeenStore()
    remember(store, "c", [b("一"), s("二"), b("三"), s("四")])

    alignment = align(store.tail("c"), [b("三"), s("四"), b("五")])

    assert [x.text for x in alignment.new] == ["五"]


def test_a_view_scrolled_up_into_the_history_adds_nothing():
    store = MemorySeenStore()
    remember(store, "c", [s("您好")])
    remember(store, "c", [s("您好"), b("一"), s("二"), b("三"), s("四"), b("五")])

    alignment = align(store.tail("c"), [b("一"), s("二"), b("三")])

    assert (alignment.status, alignment.new) == (INSIDE, [])


def test_a_cut_line_at_the_top_or_bottom_is_not_taken_and_does_not_break_alignment():
    store = MemorySeenStore()
    remember(store, "c", [s("您好"), b("一"), s("二")])

    alignment = align(store.tail("c"), [b("一部分", partial=True), s("二"), b("三"), b("四的上半", partial=True)])

    assert [x.text for x in alignment.new] == ["三"]


def test_an_ocr_misread_of_a_long_line_still_aligns_but_a_short_one_must_match_exactly():
    store = MemorySeenStore()
    remember(store, "c", [s("您好"), b("这款连衣裙有XL码吗我平时穿L的")])

    misread = align(store.tail("c"), [s("您好"), b("这款连衣裙有XI码吗我平时穿L的"), b("好的")])

    assert [x.text for x in misread.new] == ["好的"]


def test_times_tell_two_identical_lines_apart():
    store = MemorySeenStore()
    remember(store, "c", [s("您好", "10:00"), b("好的", "10:01")])

    alignment = align(store.tail("c"), [b("好的", "10:01"), b("好的", "10:02")])

    assert [(x.text, x.time) for x in alignment.new] == [("好的", "10:02")]


def test_no_overlap_takes_lines_only_when_the_clock_says_they_are_later():
    store = MemorySeenStore()
    remember(store, "c", [s("您好", "10:00:00"), b("在吗", "10:00:05")])

    later = align(store.tail("c"), [b("一", "10:05:00"), b("二", "10:05:01")])
    unknown = align(store.tail("c"), [b("一"), b("二")])

    assert (later.status, [x.text for x in later.new]) == (GAP, ["一", "二"])
    assert (unknown.status, unknown.new) == (UNALIGNED, [])


def test_records_are_numbered_after_the_history_with_stable_external_ids(tmp_path):
    store = FileSeenStore(tmp_path / "seen.json")
    remember(store, "c", [b("在吗")])
    read = remember(store, "c", [b("在吗"), b("好的"), b("好的")])

    reopened = FileSeenStore(tmp_path / "seen.json").tail("c")

    assert [(r.seq, r.text) for r in reopened] == [(0, "在吗"), (1, "好的"), (2, "好的")]
    assert [r.seq for r in read.new] == [1, 2]
    ids = [r.external_id("c") for r in reopened]
    assert len(set(ids)) == 3 and ids == [r.external_id("c") for r in FileSeenStore(tmp_path / "seen.json").tail("c")]
    assert reopened[1].fingerprint == fingerprint(BUYER, "好 的")


def test_seller_lines_kefu_did_not_send_are_a_persons():
    new = [s("在的,亲"), s("好的"), s("好的"), b("谢谢")]

    human = human_seller_lines(new, ["在的，亲", "好的"])

    assert [x.text for x in human] == ["好的"]  # kefu sent one "好的"; the second is a person's


def test_takeover_is_not_read_into_the_past_at_first_sight():
    read = read_conversation("c", [s("人工回复过的"), b("在吗")], [], recent_outgoing=[])

    assert read.human == [] and [r.text for r in read.new_buyer] == ["在吗"]


def test_the_file_store_keeps_the_tail_and_numbering_goes_on(tmp_path):
    store = FileSeenStore(tmp_path / "seen.json", keep=3)
    words = ["一", "二", "三", "四"]
    for count in range(1, len(words) + 1):  # the conversation grows one line per poll
        remember(store, "c", [b(word) for word in words[:count]])

    assert [(r.seq, r.text) for r in store.tail("c")] == [(1, "二"), (2, "三"), (3, "四")]
