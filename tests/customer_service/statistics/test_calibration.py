"""The calibrated auto-send threshold: precision per threshold with a Wilson interval, the suggestion on
synthetic review outcomes with a known precision curve, and applying it as a versioned settings change."""

import random
import re

import pytest

from configs.exceptions import ConfigPermissionDenied
from configs.selectors import shop_settings_config, shop_settings_get
from configs.services import config_rollback, shop_settings_update
from customer_service.models import ReviewStatus
from customer_service.statistics.calibration import (
    THRESHOLDS,
    shop_calibration_get,
    threshold_curve,
    threshold_suggest,
    wilson_interval,
)
from customer_service.statistics.services import CalibrationError, shop_threshold_apply
from tests.customer_service.factories import ConversationFactory, MessageFactory, ReplyFactory, ReviewItemFactory


def test_the_wilson_interval_matches_published_values():
    # Newcombe (1998), table I: 81/263 → 0.2553–0.3662; 15/148 → 0.0624–0.1605; 0/20 → 0–0.1611
    for right, n, low, high in [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611)]:
        got = wilson_interval(right, n)
        assert (round(got[0], 4), round(got[1], 4)) == (low, high)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_a_smooth_known_precision_curve_is_recovered():
    # P(right | c) = 1 - 2(1 - c)², c uniform on [0.5, 1): the precision of everything at or above t is
    # 1 - 2(1 - t)²/3, which reaches 0.95 at t = 1 - sqrt(0.075) ≈ 0.726.
    rng = random.Random(2026)
    outcomes = []
    for _ in range(40_000):
        c = 0.5 + rng.random() * 0.5
        outcomes.append((c, rng.random() < 1 - 2 * (1 - c) ** 2))
    points = threshold_curve(outcomes)
    for point in points:
        true = 1 - 2 * (1 - point.threshold) ** 2 / 3
        assert point.low <= true + 0.002 and point.high >= true - 0.002  # the interval holds the truth
    suggested = threshold_suggest(points, target=0.95, reviewed=len(outcomes), min_reviewed=100)
    assert 0.73 <= suggested <= 0.75  # the first grid point past 0.726, or the next while the bound catches up


def test_counts_at_a_threshold_take_every_answer_at_or_above_it():
    points = {p.threshold: p for p in threshold_curve([(0.9, True), (0.95, False), (0.89, True), (0.99, True)])}
    assert (points[0.9].answers, points[0.9].right) == (3, 2)
    assert (points[0.99].answers, points[0.99].right) == (1, 1)
    assert (points[0.5].answers, points[0.5].right) == (4, 3)
    assert len(points) == len(THRESHOLDS) == 50


def review(shop, confidence, status, conversation):
    message = MessageFactory(shop=shop, conversation=conversation)
    draft = ReplyFactory(message=message, confidence=confidence)
    return ReviewItemFactory(message=message, shop=shop, draft=draft, status=status)


def step_outcomes(shop, *, right_above=30, below=10):
    """At 0.90–0.99 every reviewed answer was right; at 0.60–0.89 seven in ten were."""
    conversation = ConversationFactory(shop=shop)
    for level in range(60, 100):
        confidence = level / 100
        if level >= 90:
            for _ in range(right_above):
                review(shop, confidence, ReviewStatus.APPROVED, conversation)
        else:
            for n in range(below):
                status = ReviewStatus.APPROVED if n < 7 else (ReviewStatus.EDITED if n < 9 else ReviewStatus.REJECTED)
                review(shop, confidence, status, conversation)


@pytest.mark.django_db
def test_a_step_in_review_outcomes_gives_its_threshold_and_silence_counts_for_nothing(world):
    step_outcomes(world.shop)
    conversation = ConversationFactory(shop=world.shop)
    for status in (ReviewStatus.PENDING, ReviewStatus.EXPIRED):  # nobody judged these: no evidence
        for _ in range(20):
            review(world.shop, 0.7, status, conversation)
    for _ in range(5):  # a draft with no confidence says nothing about a threshold
        review(world.shop, None, ReviewStatus.REJECTED, conversation)

    calibration = shop_calibration_get(shop=world.shop)

    assert calibration.reviewed == 600 and calibration.target == 0.98 and calibration.current == 0.9
    assert calibration.suggested == 0.90
    at = {p.threshold: p for p in calibration.points}
    assert (at[0.90].answers, at[0.90].right) == (300, 300)
    assert (at[0.89].answers, at[0.89].right) == (310, 307) and at[0.89].low < 0.98 <= at[0.90].low
    assert "300" in calibration.reason


@pytest.mark.django_db
def test_no_suggestion_before_enough_reviewed_answers_or_when_no_threshold_reaches_the_target(world):
    conversation = ConversationFactory(shop=world.shop)
    for _ in range(99):
        review(world.shop, 0.95, ReviewStatus.APPROVED, conversation)
    calibration = shop_calibration_get(shop=world.shop)
    assert calibration.reviewed == 99 and calibration.suggested is None and "100" in calibration.reason
    with pytest.raises(CalibrationError):
        shop_threshold_apply(actor=world.shop_admin, shop=world.shop)
    review(world.shop, 0.95, ReviewStatus.APPROVED, conversation)
    # 100 of 100 right: the Wilson lower bound is 100 / (100 + 1.96²) ≈ 0.963, which does not prove 0.98
    calibration = shop_calibration_get(shop=world.shop)
    assert calibration.reviewed == 100 and calibration.suggested is None and "98.00%" in calibration.reason
    shop_settings_update(shop=world.shop, actor=world.shop_admin,
                         values={"auto_send_calibration": {"target_precision": 0.95}})
    assert shop_calibration_get(shop=world.shop).suggested == 0.5  # proven at every threshold


@pytest.mark.django_db
def test_applying_the_suggestion_is_a_settings_version_that_rolls_back(world):
    step_outcomes(world.shop, right_above=30)
    shop_settings_update(shop=world.shop, actor=world.shop_admin, values={"auto_send_threshold": 0.95})
    before = shop_settings_config(shop=world.shop).version

    with pytest.raises(ConfigPermissionDenied):
        shop_threshold_apply(actor=world.agent, shop=world.shop)
    shop_threshold_apply(actor=world.shop_admin, shop=world.shop)

    config = shop_settings_config(shop=world.shop)
    assert shop_settings_get(shop=world.shop)["auto_send_threshold"] == 0.9
    assert config.version == before + 1
    assert "0.90" in config.history.order_by("-pk").first().reason  # the change says where it came from
    config_rollback(config=config, version=before, actor=world.shop_admin)
    assert shop_settings_get(shop=world.shop)["auto_send_threshold"] == 0.95


@pytest.mark.django_db
def test_the_admin_shows_the_curve_and_a_shop_admin_applies_the_suggestion_in_one_click(world, client):
    from django.urls import reverse

    step_outcomes(world.shop)
    shop_settings_update(shop=world.shop, actor=world.shop_admin, values={"auto_send_threshold": 0.95})
    url = reverse("admin:customer_service_dailystatistics_threshold", args=[world.shop.pk])

    client.force_login(world.agent)
    page = client.get(url).content.decode()
    assert 'data-suggested="0.9"' in page and 'name="apply"' not in page  # agents see, admins apply
    point = re.search(r'class="calibration-point"[^>]*data-threshold="0.9" data-precision="([\d.]+)" '
                      r'data-low="([\d.]+)"[^>]*data-answers="(\d+)"', page)
    assert point.groups() == ("1.0000", f"{wilson_interval(300, 300)[0]:.4f}", "300")
    client.post(url)
    assert shop_settings_get(shop=world.shop)["auto_send_threshold"] == 0.95

    client.force_login(world.shop_admin)
    assert 'name="apply"' in client.get(url).content.decode()
    response = client.post(url, follow=True)
    assert shop_settings_get(shop=world.shop)["auto_send_threshold"] == 0.9
    assert 'name="apply"' not in response.content.decode()  # applied: nothing left to apply

    client.force_login(world.outsider)
    assert client.get(url).status_code == 404


@pytest.mark.django_db
def test_the_api_reports_the_curve_and_applies_for_shop_admins_only(world, client_for):
    step_outcomes(world.shop, right_above=30)
    shop_settings_update(shop=world.shop, actor=world.shop_admin, values={"auto_send_threshold": 0.95})

    report = client_for(world.agent).get("/api/statistics/threshold/", {"shop": world.shop.pk})
    assert report.status_code == 200
    body = report.json()
    assert (body["reviewed"], body["suggested"], body["current"], body["target"]) == (600, 0.9, 0.95, 0.98)
    assert {p["threshold"]: p["answers"] for p in body["points"]}[0.9] == 300

    assert client_for(world.agent).post("/api/statistics/threshold/apply", {"shop": world.shop.pk},
                                        format="json").status_code == 403
    foreign = client_for(world.outsider).get("/api/statistics/threshold/", {"shop": world.shop.pk})
    assert foreign.status_code == 400 and "shop" in foreign.json()["detail"]  # like an id nobody has
    assert client_for(world.shop_admin).get("/api/statistics/threshold/", {"shop": "x"}).status_code == 400
    applied = client_for(world.shop_admin).post("/api/statistics/threshold/apply", {"shop": world.shop.pk},
                                                format="json")
    assert applied.status_code == 200 and applied.json()["current"] == 0.9
    chosen = client_for(world.shop_admin).post("/api/statistics/threshold/apply",
                                               {"shop": world.shop.pk, "threshold": 0.93}, format="json")
    assert chosen.json()["current"] == 0.93
    below_draft = client_for(world.shop_admin).post("/api/statistics/threshold/apply",
                                                    {"shop": world.shop.pk, "threshold": 0.5}, format="json")
    assert below_draft.status_code == 400 and below_draft.json()["error"]  # under the draft threshold (0.6)
    assert shop_settings_get(shop=world.shop)["auto_send_threshold"] == 0.93
