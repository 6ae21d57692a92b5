"""numpy work on captures: where the text lines are, and what changed between two frames.

Chat text on a screen is rendered, not photographed: a line of text is a band of rows with many sharp
left-to-right contrast changes, separated from the next line by rows with none. Finding those bands
costs a few milliseconds and lets OCR skip its detection network (the slow half of a full OCR pass) and
recognise only the pieces that matter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import Rect

# Grey-level step between neighbouring pixels that counts as a glyph edge. Text on its bubble differs by
# 100–220 levels; bubble outlines and fills against the transcript background by less than 40.
EDGE_STEP = 40
# A row belongs to a text line when it has at least this many edges: a bubble's two sides give 2–4.
MIN_ROW_EDGES = 5


def grey(image: np.ndarray) -> np.ndarray:
    """Integer luminance of a BGR image (ITU-R 601 weights, in int16 so differences do not wrap)."""
    b, g, r = image[..., 0].astype(np.int16), image[..., 1].astype(np.int16), image[..., 2].astype(np.int16)
    return (r * 77 + g * 150 + b * 29) >> 8


def edge_map(image: np.ndarray, step: int = EDGE_STEP) -> np.ndarray:
    """Boolean (h, w-1): a sharp horizontal change between a pixel and its right neighbour."""
    lum = grey(image)
    return np.abs(np.diff(lum, axis=1)) >= step


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a 1-d boolean array."""
    padded = np.concatenate(([False], mask, [False]))
    changes = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(changes[::2].tolist(), changes[1::2].tolist(), strict=True))


@dataclass(frozen=True)
class TextBox:
    """A piece of text on the image: one line, or one part of a line split at a wide gap."""

    rect: Rect


def text_boxes(image: np.ndarray, *, step: int = EDGE_STEP, min_row_edges: int = MIN_ROW_EDGES,
               min_height: int = 6, row_join: int = 2, gap_factor: float = 1.5, pad: int = 3) -> list[TextBox]:
    """Boxes around the text of ``image``, top to bottom then left to right.

    1. Rows with at least ``min_row_edges`` edges are text rows; runs of them closer than ``row_join`` rows
       are one line (a glyph row may have no vertical stroke), lines lower than ``min_height`` are noise.
    2. In each line, columns with an edge give the extent; a gap wider than ``gap_factor`` × the line's height
       splits it (a caption's nick and time, far apart), narrower gaps are spaces between words.
    3. Each box is padded by ``pad`` pixels (recognition wants a little margin) and kept inside the image.
    """
    edges = edge_map(image, step)
    height, width = image.shape[:2]
    rows = edges.sum(axis=1) >= min_row_edges
    bands: list[list[int]] = []
    for start, end in _runs(rows):
        if bands and start - bands[-1][1] <= row_join:
            bands[-1][1] = end
        else:
            bands.append([start, end])
    boxes = []
    for top, bottom in bands:
        line_height = bottom - top
        if line_height < min_height:
            continue
        columns = edges[top:bottom].any(axis=0)
        pieces: list[list[int]] = []
        for start, end in _runs(columns):
            if pieces and start - pieces[-1][1] <= gap_factor * line_height:
                pieces[-1][1] = end
            else:
                pieces.append([start, end])
        for left, right in pieces:
            x0, y0 = max(0, left - pad), max(0, top - pad)
            x1, y1 = min(width, right + 1 + pad), min(height, bottom + pad)
            boxes.append(TextBox(Rect(x0, y0, x1 - x0, y1 - y0)))
    return boxes


def crop(image: np.ndarray, rect: Rect) -> np.ndarray:
    return image[rect.y:rect.bottom, rect.x:rect.right]


def packed(image: np.ndarray) -> np.ndarray:
    """(h, w) uint32, one number per pixel: two pixels are equal exactly when their numbers are.

    A capture is a BGR view of the BGRA buffer the screen gave; its buffer read as uint32 costs nothing.
    Anything else is packed by arithmetic.
    """
    base = image.base
    height, width = image.shape[:2]
    if (isinstance(base, bytes) and len(base) == height * width * 4 and image.dtype == np.uint8
            and image.strides == (width * 4, 4, 1)):
        return np.frombuffer(base, dtype=np.uint32).reshape(height, width)
    b, g, r = (image[..., i].astype(np.uint32) for i in range(3))
    return b | (g << 8) | (r << 16)


def changed_fraction(previous: np.ndarray | None, current: np.ndarray, *, stride: int = 2) -> float:
    """Share of sampled pixels (every ``stride``-th row and column) that differ between two frames; 1.0 when
    there is no previous frame or the size changed. Screen rendering is exact: an unchanged pixel is the same
    number, so the comparison needs no tolerance."""
    if previous is None or previous.shape != current.shape:
        return 1.0
    a, b = packed(previous)[::stride, ::stride], packed(current)[::stride, ::stride]
    return float(np.count_nonzero(a != b)) / a.size
