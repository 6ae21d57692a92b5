"""What an operator looks at to set the regions: the window with each configured region drawn on it and
what OCR reads there. The Django side stores the picture and shows it beside the shop's settings."""

from __future__ import annotations

from dataclasses import dataclass

from .geometry import REGION_NAMES, Rect, Regions
from .ocr import OcrEngine
from .platform.base import Desktop

COLOURS = {"conversation_list": (255, 140, 0), "chat_header": (30, 144, 255), "transcript": (46, 139, 87),
           "input_box": (186, 85, 211), "send_button": (220, 20, 60)}
FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


@dataclass
class Calibration:
    """``picture``: a PIL image of the window with the regions drawn; ``readings``: region name → the text
    OCR reads in it (pieces top to bottom, one per line); ``outside``: regions that do not fit the window."""

    picture: object
    readings: dict[str, str]
    outside: list[str]
    window: Rect


def calibrate(desktop: Desktop, ocr: OcrEngine, *, title: str, regions: Regions) -> Calibration | None:
    """Capture the window titled ``title`` and read each region; None when the window is not found."""
    from PIL import Image, ImageDraw, ImageFont

    window = desktop.find_window(title)
    if window is None:
        return None
    image = desktop.capture(window.rect)
    picture = Image.fromarray(image[:, :, ::-1].copy())
    draw = ImageDraw.Draw(picture)
    try:
        font = ImageFont.truetype(FONT, 14)
    except OSError:  # a Windows PC has no WenQuanYi: the labels are ASCII anyway
        font = ImageFont.load_default()
    frame = Rect(0, 0, window.rect.width, window.rect.height)
    readings, outside = {}, []
    for name in REGION_NAMES:
        region = getattr(regions, name)
        visible = frame.intersection(region)
        if visible is None or visible != region:
            outside.append(name)
        if visible is None:
            readings[name] = ""
            continue
        pieces = ocr.read(image[visible.y:visible.bottom, visible.x:visible.right])
        readings[name] = "\n".join(piece.text for piece in pieces)
        colour = COLOURS[name]
        draw.rectangle((region.x, region.y, region.right - 1, region.bottom - 1), outline=colour, width=3)
        draw.text((region.x + 4, region.y + 2), name, fill=colour, font=font)
    return Calibration(picture, readings, outside, window.rect)
