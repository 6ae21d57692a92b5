"""Bursts: when a buyer's fragments are answered, and how they are joined into one question."""

from datetime import UTC, datetime, timedelta

import pytest

from customer_service.pipeline.bursts import (
    BurstLine,
    BurstPolicy,
    burst_accepts,
    burst_is_ready,
    burst_split,
    burst_status,
    burst_text,
    line_is_fragment,
)

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def at(ms):
    return T0 + timedelta(milliseconds=ms)


def lines(*pairs):
    return [BurstLine(text=text, at=at(ms)) for text, ms in pairs]


@pytest.mark.parametrize("text", [
    "在吗", "你好", "亲", "在不在？", "hello", "这款", "我想问下", "XL", "那个红色", "  ",
])
def test_greetings_and_short_unfinished_lines_are_fragments(text):
    assert line_is_fragment(text)


@pytest.mark.parametrize("text", [
    "有XL吗", "好的。", "多少钱？", "包邮吧", "什么时候发货", "多少钱", "这款红色的有没有现货",
])
def test_questions_and_longer_lines_are_not_fragments(text):
    assert not line_is_fragment(text)


def test_a_finished_question_is_answered_after_the_base_window():
    status = burst_status(lines(("这款有XL吗", 0)))
    assert (status.answer_at, status.complete, status.reason) == (at(350), False, "base")


def test_a_fragment_stretches_the_window():
    status = burst_status(lines(("在吗", 0)))
    assert (status.answer_at, status.reason) == (at(1200), "fragment")


def test_fragments_typed_one_after_another_become_one_question():
    burst = lines(("在吗", 0), ("这款", 900), ("有XL吗", 1800))
    assert burst_split(burst) == [burst]
    status = burst_status(burst)
    assert (status.answer_at, status.reason) == (at(2150), "base")
    assert burst_text(line.text for line in burst) == "在吗，这款，有XL吗"


def test_a_line_after_the_quiet_window_starts_a_new_burst():
    first = lines(("这款有XL吗", 0))
    late = BurstLine(text="红色呢", at=at(350))
    early = BurstLine(text="红色呢", at=at(349))
    assert not burst_accepts(first, late)
    assert burst_accepts(first, early)
    assert burst_split([*first, late]) == [first, [late]]


def test_never_more_than_four_seconds_after_the_first_line():
    burst = lines(("在吗", 0), ("这", 1000), ("款", 2000), ("那个", 3000))
    status = burst_status(burst)
    assert (status.answer_at, status.reason) == (at(4000), "max_wait")
    assert not burst_is_ready(burst, now=at(3999))
    assert burst_is_ready(burst, now=at(4000))
    assert not burst_accepts(burst, BurstLine(text="红色", at=at(4000)))


def test_twelve_lines_complete_a_burst():
    burst = lines(*((f"第{i}句吗", i * 100) for i in range(12)))
    status = burst_status(burst)
    assert status.complete and status.reason == "max_lines" and status.answer_at == at(1100)
    assert burst_is_ready(burst, now=at(1100))
    assert not burst_accepts(burst, BurstLine(text="还有吗", at=at(1150)))
    assert not burst_status(burst[:11]).complete


def test_a_line_that_would_pass_the_character_limit_starts_a_new_burst():
    burst = lines(("好" * 1000 + "？", 0))
    big = BurstLine(text="问" * 600 + "？", at=at(100))
    small = BurstLine(text="问" * 598 + "？", at=at(100))
    assert not burst_accepts(burst, big)
    assert burst_accepts(burst, small)
    status = burst_status([*burst, small])
    assert status.complete and status.reason == "max_chars"


def test_one_line_past_the_character_limit_is_a_complete_burst_of_its_own():
    assert burst_status(lines(("长" * 2000, 0))).complete


def test_the_shop_sets_every_parameter():
    policy = BurstPolicy.from_shop_settings({"bursts": {
        "base_window_ms": 500, "fragment_window_ms": 2000, "short_fragment_chars": 2, "max_wait_ms": 3000,
        "max_lines": 3, "max_chars": 20,
    }})
    assert policy == BurstPolicy(500, 2000, 2, 3000, 3, 20)
    assert burst_status(lines(("有XL吗", 0)), policy=policy).answer_at == at(500)
    assert burst_status(lines(("这款", 0)), policy=policy).answer_at == at(2000)
    assert burst_status(lines(("这款红", 0)), policy=policy).answer_at == at(500)  # 3 chars: not short any more
    assert burst_status(lines(("这", 0), ("款", 1500)), policy=policy).reason == "max_wait"
    assert burst_status(lines(("a?", 0), ("b?", 1), ("c?", 2)), policy=policy).complete
    assert BurstPolicy.from_shop_settings({}) == BurstPolicy()


def test_a_burst_needs_lines_with_aware_times():
    with pytest.raises(ValueError):
        burst_status([])
    with pytest.raises(ValueError):
        burst_status([BurstLine(text="在吗", at=datetime(2026, 5, 1, 12, 0))])


def test_an_empty_burst_accepts_any_line():
    assert burst_accepts([], BurstLine(text="在吗", at=T0))


@pytest.mark.parametrize(("texts", "joined"), [
    (["在吗", "这款", "有XL吗"], "在吗，这款，有XL吗"),
    (["在吗？", "这款有XL吗"], "在吗？这款有XL吗"),
    (["你好，", "请问"], "你好，请问"),
    (["iphone", "15", "的壳有吗"], "iphone 15，的壳有吗"),
    (["  在吗 ", "", "在吗", "在吗", "有货吗"], "在吗，有货吗"),
    (["好的。"], "好的。"),
    ([], ""),
])
def test_lines_join_into_one_question(texts, joined):
    assert burst_text(texts) == joined
