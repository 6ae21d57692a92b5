import numpy as np
from PIL import Image, ImageDraw, ImageFont

from customer_service.desktop.imaging import changed_fraction, text_boxes
from customer_service.desktop.unread import UnreadCheck, find_badges, oldest_first

FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


def rendered(lines, size=(400, 200), background=(245, 246, 248)):
    """A BGR image with Chinese text drawn at the given places, as a chat window renders it."""
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 14)
    for x, y, text in lines:
        draw.rectangle((x - 8, y - 6, x + 14 * len(text) + 8, y + 22), fill=(255, 255, 255), outline=(227, 229, 232))
        draw.text((x, y), text, font=font, fill=(34, 34, 34))
    return np.asarray(image)[:, :, ::-1].copy()


def test_text_boxes_find_each_line_and_not_the_bubbles():
    image = rendered([(20, 20, "在吗"), (20, 80, "这款有XL码吗"), (200, 140, "有的亲")])

    boxes = [box.rect for box in text_boxes(image)]

    assert len(boxes) == 3
    assert [(r.x < 40, r.y < 40) for r in boxes] == [(True, True), (True, False), (False, False)]
    assert all(12 <= r.height <= 30 for r in boxes)


def test_a_blank_image_has_no_text_boxes():
    assert text_boxes(np.full((100, 300, 3), 240, dtype=np.uint8)) == []


def test_changed_fraction_is_zero_for_the_same_frame_and_grows_with_the_change():
    before = rendered([(20, 20, "在吗")])
    after = rendered([(20, 20, "在吗"), (20, 80, "新消息来了")])

    assert changed_fraction(before, before.copy()) == 0.0
    assert 0 < changed_fraction(before, after) < 0.2
    assert changed_fraction(None, after) == 1.0


def draw_badges(ys, colour=(255, 59, 48), size=(220, 400)):
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for y in ys:
        draw.ellipse((190, y - 9, 208, y + 9), fill=colour)
        draw.text((196, y - 7), "2", fill=(255, 255, 255))
    return np.asarray(image)[:, :, ::-1].copy()


def test_badges_are_found_at_their_rows_and_the_lowest_is_the_oldest():
    badges = find_badges(draw_badges([28, 84, 252]))

    assert [abs(b.y - y) <= 2 for b, y in zip(badges, [28, 84, 252], strict=True)] == [True] * 3
    assert [b.y for b in oldest_first(badges)] == sorted((b.y for b in badges), reverse=True)
    assert [b.y for b in oldest_first(badges, newest_on_top=False)] == sorted(b.y for b in badges)


def test_badges_of_another_red_need_their_colour():
    image = draw_badges([40], colour=(200, 30, 120))

    assert find_badges(image) == []
    assert len(find_badges(image, rgb=(200, 30, 120))) == 1


def test_the_unread_check_scores_badges_and_transcript_change_against_the_threshold():
    check = UnreadCheck(threshold=0.5)
    quiet_list, transcript = draw_badges([]), rendered([(20, 20, "在吗")])

    first = check.check(quiet_list, transcript)  # no previous frame: a change
    idle = check.check(quiet_list, transcript.copy())
    badge = check.check(draw_badges([40]), transcript.copy())
    changed = check.check(quiet_list, rendered([(20, 20, "在吗"), (20, 80, "新消息")]))

    assert (first.triggered, idle.triggered, badge.triggered, changed.triggered) == (True, False, True, True)
    assert idle.score == 0.0 and len(badge.badges) == 1
