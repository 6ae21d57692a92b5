"""Normalisation for the reply rules: what it undoes, and that every character keeps its origin."""

import pytest

from customer_service.pipeline.text import find_phrases, normalize, phrase_regex, phrases_regex


@pytest.mark.parametrize(("raw", "normal"), [
    ("ＷＸ：ＡＢＣ１２３", "wx:abc123"),
    ("微\u200b信\u200d号\ufeff", "微信号"),
    ("退貨運費誰出", "退货运费谁出"),
    ("1 3 8 0 0 1 3 8 0 0 0", "13800138000"),
    ("v x", "vx"),
    ("微 信", "微信"),
    ("add me please", "add me please"),
    ("尺码 160 165", "尺码160 165"),
    ("一三八零零一三八零零零", "13800138000"),
    ("壹叁捌零零壹叁捌零零零", "13800138000"),
    ("一一得一", "一一得一"),
    ("十一月", "十一月"),
    ("①③⑧", "138"),
    ("1\ufe0f\u20e32\ufe0f\u20e3", "12"),
    ("", ""),
])
def test_normalise_undoes_the_usual_disguises(raw, normal):
    assert normalize(raw).text == normal


def test_each_normalised_character_points_back_into_the_original():
    raw = "加 Ｖ\u200b信：１３８"
    norm = normalize(raw)
    assert len(norm.origin) == len(norm.text)
    assert [raw[i] for i in norm.origin] == ["加", "Ｖ", "信", "：", "１", "３", "８"]
    assert norm.span(1, 3) == (2, 5)


def test_a_wildcard_phrase_stays_within_a_clause():
    pattern = phrases_regex(("改*地址",), tolerant=False)
    found = [(i, s, e) for i, s, e in find_phrases(normalize("帮我改一下收货地址"), pattern)]
    assert found == [(0, 2, 9)]
    assert list(find_phrases(normalize("改一下，地址"), pattern)) == []
    assert list(find_phrases(normalize("改了很多很多次的地址"), pattern)) == []


def test_a_latin_phrase_matches_whole_words_only():
    pattern = phrases_regex(("sb", "12315"), tolerant=False)
    assert [i for i, *_ in find_phrases(normalize("usb接口"), pattern)] == []
    assert [i for i, *_ in find_phrases(normalize("你sb吧"), pattern)] == [0]
    assert [i for i, *_ in find_phrases(normalize("123156"), pattern)] == []
    assert [i for i, *_ in find_phrases(normalize("打12315"), pattern)] == [1]


def test_tolerant_phrases_see_through_symbols_between_characters():
    text = normalize("清❤仓，清.仓，清——仓")
    tolerant = phrases_regex(("清仓",), tolerant=True)
    strict = phrases_regex(("清仓",), tolerant=False)
    assert len(list(find_phrases(text, tolerant))) == 3
    assert list(find_phrases(text, strict)) == []


def test_overlapping_phrases_are_all_found():
    pattern = phrases_regex(("退款", "不退款"), tolerant=False)
    found = {(i, s, e) for i, s, e in find_phrases(normalize("不退款"), pattern)}
    assert found == {(1, 0, 3), (0, 1, 3)}


@pytest.mark.parametrize("phrase", ["", "*", " * ", "**"])
def test_a_phrase_with_nothing_to_match_is_refused(phrase):
    with pytest.raises(ValueError):
        phrase_regex(phrase, tolerant=False)
