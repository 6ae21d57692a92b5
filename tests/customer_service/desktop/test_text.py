import pytest

from customer_service.desktop.text import comparison_key, normalise, similarity, split_time


@pytest.mark.parametrize(("raw", "expected"), [
    ("这款 连衣裙有ＸＬ码吗？", "这款连衣裙有XL码吗?"),
    ("  好的   亲  ", "好的亲"),
    ("size  M  or   L", "size M or L"),
    ("测试店铺：小蜜", "测试店铺:小蜜"),
])
def test_normalise_folds_what_ocr_varies(raw, expected):
    assert normalise(raw) == expected


def test_comparison_key_ignores_spaces_width_and_case():
    assert comparison_key("Size M，好的") == comparison_key("size m, 好的")


@pytest.mark.parametrize(("caption", "expected"), [
    ("tb_小明2021  20:00:44", ("tb_小明2021", "20:00:44")),
    ("tb_小明202120:00:44", ("tb_小明2021", "20:00:44")),  # OCR dropped the space
    ("测试店铺：小蜜 9：05", ("测试店铺:小蜜", "09:05")),
    ("09:15:02 买家小明", ("买家小明", "09:15:02")),
    ("2024-05-01 09:05:33", ("", "09:05:33")),
])
def test_split_time_reads_captions_with_the_time_at_either_end(caption, expected):
    assert split_time(caption) == expected


@pytest.mark.parametrize("text", ["好的", "价格12.30", "订单号 20240501"])
def test_split_time_leaves_messages_without_a_clock_alone(text):
    assert split_time(text)[1] is None


def test_similarity_is_one_for_the_same_text_and_lower_for_a_misread():
    assert similarity("好的", "好 的") == 1.0
    assert 0.85 < similarity("这款连衣裙有XL码吗", "这款连衣裙有XI码吗") < 1.0
    assert similarity("好的", "") == 0.0
