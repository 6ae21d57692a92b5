"""Chinese OCR with RapidOCR and the PP-OCR models inside its wheel (nothing is downloaded at run time).

kefu finds the text lines itself (:func:`~customer_service.desktop.imaging.text_boxes`) and asks RapidOCR
only to *recognise* them: on screen text the detection network is the slow half of a full pass and adds
nothing. Lines already read are remembered by their exact pixels, so a transcript that scrolled costs a
model call only for the lines that are new (``bench/desktop.py`` measures both ways).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .geometry import Rect
from .imaging import crop, text_boxes

# One intra-op thread: on two busy cores (the seller's PC runs Qianniu beside it) a second thread made each
# line slower, not faster (bench/desktop.py: 322 ms with 1 thread, 712 ms with 2, same lines, same machine).
DEFAULT_THREADS = 1


@dataclass(frozen=True)
class TextPiece:
    """A recognised piece of text: what it says, how sure the model is, and where it is on the image."""

    text: str
    score: float
    rect: Rect


class OcrEngine:
    """RapidOCR, loaded once (about a second) and reused; safe to share between threads."""

    def __init__(self, *, threads: int = DEFAULT_THREADS, cache_size: int = 2048):
        self.threads = threads
        self.cache_size = cache_size
        self._engine = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self.model_calls = 0  # lines sent to the recognition model (the cache's misses), for the bench

    @property
    def engine(self):
        if self._engine is None:
            from rapidocr_onnxruntime import RapidOCR

            # One piece per recognition call: a batch pads every piece to the widest one's width, and a poll's
            # new pieces are a short caption and a long line (a batch of 6 cost 1.8× as much, bench/desktop.py).
            self._engine = RapidOCR(intra_op_num_threads=self.threads, inter_op_num_threads=1,
                                    rec_batch_num=1, det_limit_type="max", det_limit_side_len=1280)
        return self._engine

    def recognise(self, images: list[np.ndarray]) -> list[tuple[str, float]]:
        """(text, score) for each line image (BGR), in order; remembered lines cost nothing."""
        keys = [hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16,
                                person=str(image.shape).encode()[:16]).hexdigest() for image in images]
        with self._lock:
            missing = [i for i, key in enumerate(keys) if key not in self._cache]
            if missing:
                results, _ = self.engine.text_rec([np.ascontiguousarray(images[i]) for i in missing])
                self.model_calls += len(missing)
                for i, (text, score) in zip(missing, results, strict=True):
                    self._cache[keys[i]] = (text, float(score))
            out = []
            for key in keys:
                self._cache.move_to_end(key)
                out.append(self._cache[key])
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return out

    def read(self, image: np.ndarray, **segmentation) -> list[TextPiece]:
        """Every text piece of ``image`` (a BGR capture), top to bottom, by kefu's own line finding."""
        boxes = text_boxes(image, **segmentation)
        results = self.recognise([crop(image, box.rect) for box in boxes])
        return [TextPiece(text, score, box.rect) for box, (text, score) in zip(boxes, results, strict=True)
                if text.strip()]

    def read_detected(self, image: np.ndarray) -> list[TextPiece]:
        """Every text piece by RapidOCR's own detection network: slower, for what line finding cannot split
        (text over pictures); calibration shows both."""
        with self._lock:
            result, _ = self.engine(np.ascontiguousarray(image), use_cls=False)
        pieces = []
        for box, text, score in result or []:
            xs, ys = [p[0] for p in box], [p[1] for p in box]
            x0, y0 = int(min(xs)), int(min(ys))
            pieces.append(TextPiece(text, float(score), Rect(x0, y0, max(1, int(max(xs)) - x0),
                                                             max(1, int(max(ys)) - y0))))
        return pieces
