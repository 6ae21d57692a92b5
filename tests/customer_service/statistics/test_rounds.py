"""Conversation rounds as Qianniu rates them, on hand-made timelines."""

from datetime import UTC, datetime, timedelta

from customer_service.statistics.rounds import ANSWER, BUYER, Round, conversation_rounds, median_seconds, p95_seconds

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def test_a_round_runs_from_the_buyers_first_line_to_the_sellers_first_answer():
    events = [(at(0), BUYER), (at(30), BUYER), (at(100), ANSWER), (at(110), ANSWER),
              (at(400), BUYER), (at(700), ANSWER)]
    assert conversation_rounds(events) == [Round(at(0), at(100)), Round(at(400), at(700))]


def test_events_are_taken_in_time_order_and_an_answer_before_any_question_answers_nothing():
    events = [(at(50), ANSWER), (at(200), ANSWER), (at(100), BUYER)]
    assert conversation_rounds(events) == [Round(at(100), at(200))]


def test_an_unanswered_round_stays_open_and_a_line_a_day_later_starts_another():
    events = [(at(0), BUYER), (at(3600 * 23), BUYER), (at(3600 * 48), BUYER), (at(3600 * 48 + 60), ANSWER)]
    rounds = conversation_rounds(events)
    # 23 h after the first line: the same round; 25 h after the previous line: a new one
    assert rounds == [Round(at(0), None), Round(at(3600 * 48), at(3600 * 48 + 60))]


def test_an_answer_after_the_horizon_answers_nothing():
    assert conversation_rounds([(at(0), BUYER), (at(3600 * 24 + 1), ANSWER)]) == [Round(at(0), None)]


def test_three_minutes_is_in_time_one_second_more_is_not_and_night_rounds_are_not_rated():
    assert Round(at(0), at(180)).in_3_minutes and not Round(at(0), at(181)).in_3_minutes
    assert not Round(at(0), None).in_3_minutes
    night = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)  # 07:59:59 in Shanghai
    assert not Round(night, None).rated and Round(night + timedelta(seconds=1), None).rated
    assert Round(datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC), None).rated  # 23:59:59 in Shanghai


def test_median_and_nearest_rank_p95():
    values = list(range(1, 101))
    assert median_seconds(values) == 50.5 and p95_seconds(values) == 95
    assert median_seconds([]) is None and p95_seconds([]) is None
    assert p95_seconds([7.0]) == 7.0 and p95_seconds([1, 2]) == 2
