"""Reads: item lists, vector status, and search."""

import logging
import time
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

from .choices import PhrasingKind, VectorStatus
from .conf import knowledge_setting
from .embedders import get_embedder
from .engine import calibration
from .exceptions import KnowledgeError
from .models import KnowledgeItem, KnowledgeVector, ShopCalibration, text_hash

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")
logger = logging.getLogger(__name__)
MAX_QUERY_LENGTH = 2000
MAX_K = 50


@dataclass
class SearchHit:
    """One ranked answer. ``confidence`` is calibrated: of hits given ≈ c, about c are right."""

    item_id: int
    question: str
    answer: str
    category: str
    shop_id: int | None
    external_id: str
    matched_phrasing: str
    matched_kind: str
    confidence: float
    score: float
    signals: dict = field(default_factory=dict)
    # False when the calibration in use was fitted for another embedder (or cannot be
    # read): the confidence is then capped below any auto-send threshold.
    calibrated: bool = True

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def matched_kind_label(self) -> str:
        """Which part of the item matched, in the reader's language."""
        return PhrasingKind(self.matched_kind).label if self.matched_kind in PhrasingKind.values else self.matched_kind


@dataclass(frozen=True)
class CalibrationState:
    params: dict | None
    calibrated: bool
    detail: str


def calibration_path() -> Path:
    """``KEFU_KNOWLEDGE_CALIBRATION`` (a file written by ``kb_calibrate``), else the shipped one."""
    return Path(knowledge_setting("KEFU_KNOWLEDGE_CALIBRATION", "") or CALIBRATION_PATH)


@cache
def _read_calibration(path: str) -> dict:
    return calibration.validate(calibration.load(path))


def calibration_params() -> dict:
    """The calibration parameters in use; raises ``KnowledgeError`` when the file cannot be read."""
    path = calibration_path()
    try:
        return _read_calibration(str(path))
    except (OSError, ValueError) as exc:
        raise KnowledgeError(f"Cannot read the calibration file {path}: {exc}", code="calibration_unreadable") from exc


_warned: set = set()


def _fitted_on_text(params: dict) -> str:
    names = [entry.get("queries", "") if isinstance(entry, dict) else str(entry)
             for entry in params.get("fit_on") or []]
    return ", ".join(name for name in names if name) or "unnamed data"


def calibration_state(embedder=None, *, shop=None) -> CalibrationState:
    """Whether search confidences are calibrated for ``embedder`` (default: the configured one), and why not.

    With ``shop`` (a Shop or its id), the shop's own calibration when it has one
    fitted for the embedder (``ShopCalibration``), else the shipped one.
    """
    embedder = embedder or get_embedder()
    if shop is not None:
        override = ShopCalibration.objects.filter(shop=shop).values_list("params", flat=True).first()
        state = shop_calibration_state(override, embedder)
        if state is not None:
            return state
    path = calibration_path()
    try:
        params = calibration_params()
    except KnowledgeError as exc:
        return CalibrationState(None, False, exc.message)
    if not calibration.fitted_for(params, embedder):
        fitted = " ".join(filter(None, [params.get("embedder"), params.get("embedder_version")])) or "no named embedder"
        return CalibrationState(params, False, (
            f"{path} was fitted for {fitted}, not for {embedder.name} {embedder.version}: confidences are capped "
            f"at {calibration.UNCALIBRATED_CEILING} until a calibration is fitted for it "
            "(manage.py kb_calibrate PATH FAQ QUERIES, then KEFU_KNOWLEDGE_CALIBRATION=PATH)"
        ))
    return CalibrationState(params, True, (f"{path.name}: fitted for {embedder.name} {embedder.version} on "
                                           f"{_fitted_on_text(params)}"))


def shop_calibration_state(params, embedder) -> CalibrationState | None:
    """The state a shop's own calibration ``params`` gives, or None when it does not apply (none, unreadable,
    or fitted for another embedder): the shipped calibration applies then."""
    if params is None:
        return None
    try:
        calibration.validate(params)
    except ValueError as exc:
        logger.warning("A shop calibration is ignored: %s", exc)
        return None
    if not calibration.fitted_for(params, embedder):
        return None
    return CalibrationState(params, True, (f"the shop's own calibration: fitted for {embedder.name} "
                                           f"{embedder.version} on {_fitted_on_text(params)}"))


def _confidences(raw, embedder, shop_params=None) -> tuple[list[float], bool]:
    state = shop_calibration_state(shop_params, embedder) or calibration_state(embedder)
    if not state.calibrated and (state.detail, embedder.name) not in _warned:
        _warned.add((state.detail, embedder.name))
        logger.warning("Knowledge search is not calibrated: %s", state.detail)
    if state.params is None:
        return [0.0] * len(raw), False
    confidences = calibration.predict(state.params, [hit.features for hit in raw])
    if not state.calibrated:
        confidences = [min(float(c), calibration.UNCALIBRATED_CEILING) for c in confidences]
    return [float(c) for c in confidences], state.calibrated


def knowledge_search(*, shop, text: str, k: int = 5) -> list[SearchHit]:
    """The ``k`` best items of ``shop`` (its own and the shared ones) for a buyer's ``text``.

    ``shop`` is a Shop or its id. Returns hits best first (empty when the shop has
    no items or the text has no content). Raises ``KnowledgeError`` on bad input.
    Reads one stamp row per search and rebuilds this process's index of the shop
    when an edit was committed since it was built.
    """
    from .index import shop_index

    if not isinstance(text, str):
        raise KnowledgeError("The query must be text.", code="invalid_query")
    if len(text) > MAX_QUERY_LENGTH:
        raise KnowledgeError(f"The query is longer than {MAX_QUERY_LENGTH} characters.", code="invalid_query")
    if not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise KnowledgeError(f"k must be between 1 and {MAX_K}.", code="invalid_k")
    if not text.strip():
        return []
    shop_id = getattr(shop, "pk", shop)
    built = shop_index(shop_id)
    raw = built.index.search(text, k=k)
    if not raw:
        return []
    confidences, calibrated = _confidences(raw, built.index.dense, built.calibration)
    hits = []
    for hit, confidence in zip(raw, confidences, strict=True):
        meta = built.items[hit.item_id]
        hits.append(SearchHit(
            item_id=hit.item_id,
            question=meta["question"],
            answer=meta["answer"],
            category=meta["category"],
            shop_id=meta["shop_id"],
            external_id=meta["external_id"],
            matched_phrasing=hit.phrasing,
            matched_kind=hit.phrasing_kind,
            confidence=round(float(confidence), 4),
            score=round(hit.score, 4),
            signals={name: round(float(value), 4) for name, value in hit.features.items()},
            calibrated=calibrated,
        ))
    return hits


def knowledge_search_timed(*, shop, text: str, k: int = 5) -> tuple[list[SearchHit], float]:
    started = time.perf_counter()
    hits = knowledge_search(shop=shop, text=text, k=k)
    return hits, (time.perf_counter() - started) * 1000


def knowledge_vector_statuses(*, items, embedder=None) -> dict[int, str]:
    """Item id → ``fresh`` / ``stale`` / ``missing`` for ``items`` (prefetch ``similar_questions``).

    Fresh: every current phrasing has a vector of the current embedder and no other
    vector is stored. Missing: none of the current embedder. Else stale. One query
    for the vectors, whatever the number of items.
    """
    embedder = embedder or get_embedder()
    items = list(items)
    stored: dict[int, set] = {item.pk: set() for item in items}
    foreign: set[int] = set()
    rows = KnowledgeVector.objects.filter(item__in=[item.pk for item in items]).values_list(
        "item_id", "embedder", "embedder_version", "text_hash"
    )
    for item_id, name, version, digest in rows.iterator(chunk_size=5000):
        if (name, version) == (embedder.name, embedder.version):
            stored[item_id].add(digest)
        else:
            foreign.add(item_id)
    statuses = {}
    for item in items:
        have = stored[item.pk]
        if not have:
            statuses[item.pk] = VectorStatus.MISSING
        elif item.pk in foreign or have != {text_hash(text) for text, _ in item.phrasings()}:
            statuses[item.pk] = VectorStatus.STALE
        else:
            statuses[item.pk] = VectorStatus.FRESH
    return statuses


def knowledge_item_vector_status(*, item: KnowledgeItem, embedder=None) -> str:
    return knowledge_vector_statuses(items=[item], embedder=embedder)[item.pk]
