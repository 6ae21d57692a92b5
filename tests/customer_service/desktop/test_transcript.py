from customer_service.desktop.geometry import Rect
from customer_service.desktop.ocr import TextPiece
from customer_service.desktop.transcript import BUYER, SELLER, parse_transcript, read_nick

WIDTH, HEIGHT = 680, 480


def piece(text, x, y, w, h=20, score=0.99):
    return TextPiece(text, score, Rect(x, y, w, h))


def test_captions_speakers_and_wrapped_rows_make_messages():
    pieces = [
        piece("tb_小明 09:15:02", 12, 10, 130, 17),
        piece("这款有XL码吗？我平时穿L的，但是这款好像偏小", 20, 38, 400),
        piece("一点", 20, 56, 40),  # the bubble's second row: closer than two messages are
        piece("店铺:小蜜 09:15:30", 530, 100, 140, 17),
        piece("有的亲", 600, 128, 60),
    ]

    lines = parse_transcript(pieces, WIDTH, HEIGHT)

    assert [(x.speaker, x.nick, x.time, x.text) for x in lines] == [
        (BUYER, "tb_小明", "09:15:02", "这款有XL码吗?我平时穿L的,但是这款好像偏小一点"),
        (SELLER, "店铺:小蜜", "09:15:30", "有的亲"),
    ]


def test_a_long_seller_message_is_the_sellers_by_its_caption_side():
    pieces = [
        piece("店铺:小蜜 10:00:00", 520, 10, 150, 17),
        piece("亲，这款是按标准尺码做的，平时穿L的话建议拍XL，", 150, 38, 510),
        piece("偏小一点", 150, 56, 90),  # a short last row far from the right edge
    ]

    (line,) = parse_transcript(pieces, WIDTH, HEIGHT)

    assert line.speaker == SELLER and line.text.endswith("偏小一点")


def test_without_captions_the_side_the_message_hugs_decides():
    pieces = [piece("在吗", 16, 10, 40), piece("在的", 620, 60, 40)]

    assert [x.speaker for x in parse_transcript(pieces, WIDTH, HEIGHT)] == [BUYER, SELLER]


def test_a_time_alone_stamps_the_messages_under_it_and_a_message_that_is_a_time_stays_a_message():
    pieces = [
        piece("10:30", 320, 5, 40, 15),
        piece("在吗", 16, 40, 40),
        piece("买家 10:31", 12, 90, 80, 17),
        piece("10:30", 20, 118, 40),  # the buyer wrote a time
    ]

    lines = parse_transcript(pieces, WIDTH, HEIGHT)

    assert [(x.text, x.time) for x in lines] == [("在吗", "10:30"), ("10:30", "10:31")]


def test_a_message_cut_by_the_top_or_bottom_edge_is_partial():
    pieces = [piece("被截断的上半句", 16, 0, 120), piece("买家 10:31", 12, 60, 80, 17), piece("完整的", 16, 88, 60),
              piece("买家 10:32", 12, 430, 80, 17), piece("下半截", 16, 460, 60)]

    lines = parse_transcript(pieces, WIDTH, HEIGHT)

    assert [(x.text, x.partial) for x in lines] == [("被截断的上半句", True), ("完整的", False), ("下半截", True)]


def test_pieces_side_by_side_are_one_row():
    pieces = [piece("买家小明", 12, 10, 60, 17), piece("09:15:02", 90, 11, 60, 16), piece("好的", 16, 40, 40)]

    (line,) = parse_transcript(pieces, WIDTH, HEIGHT)

    assert (line.nick, line.time, line.text) == ("买家小明", "09:15:02", "好的")


def test_the_nick_is_the_first_piece_of_the_header():
    assert read_nick([piece("更多", 600, 10, 40), piece("tb_小明2021", 16, 12, 100)]) == "tb_小明2021"
    assert read_nick([]) is None
