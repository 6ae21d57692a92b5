import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from customer_service.models import Shop
from knowledge.evaluation import query_digest
from knowledge.models import IndexStamp, KnowledgeItem, KnowledgeVector
from knowledge.selectors import CALIBRATION_PATH

from .conftest import DATA, read_jsonl

pytestmark = pytest.mark.django_db


def kb_eval(*args) -> str:
    out = StringIO()
    call_command("kb_eval", *map(str, args), "--no-progress", stdout=out)
    return out.getvalue()


def calibration_fitted_elsewhere(tmp_path) -> Path:
    """The shipped calibration, as though it had been fitted on none of the shipped test queries."""
    path = tmp_path / "elsewhere.json"
    path.write_text(json.dumps({**json.loads(CALIBRATION_PATH.read_text()), "fitted_queries": []}), encoding="utf-8")
    return path


def test_json_output_has_the_documented_shape_and_sane_values(tmp_path):
    result = json.loads(kb_eval(DATA / "faq.jsonl", DATA / "queries.jsonl", "--json",
                                "--calibration", calibration_fitted_elsewhere(tmp_path)))
    assert set(result) == {"hit_at_1", "hit_at_5", "mrr", "ece", "thresholds", "best_coverage_at_precision_98",
                           "latency_ms", "confidence_from"}
    assert result["confidence_from"] == "calibration"
    assert [row["threshold"] for row in result["thresholds"]] == [0.8, 0.9, 0.95, 0.98]
    assert all(set(row) == {"threshold", "precision", "coverage", "out_of_scope_sent"}
               for row in result["thresholds"])
    assert set(result["latency_ms"]) == {"p50", "p95"}
    assert result["hit_at_1"] >= 0.8 and result["hit_at_5"] >= result["hit_at_1"]
    assert 0 <= result["ece"] <= 1
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p95"]


def test_it_leaves_the_database_as_it_was():
    kb_eval(DATA / "faq.jsonl", DATA / "queries.jsonl", "--json")
    assert not Shop.objects.exists()
    assert not KnowledgeItem.all_objects.exists()
    assert not KnowledgeVector.objects.exists()
    assert not IndexStamp.objects.exists()


def test_the_table_names_every_metric():
    text = kb_eval(DATA / "faq.jsonl", DATA / "queries.jsonl")
    for word in ("hit@1", "hit@5", "MRR", "ECE", "p95", "0.80", "0.90", "0.95", "precision ≥ 0.98"):
        assert word in text


def test_a_file_without_shops_goes_into_one_shop(tmp_path):
    faq = tmp_path / "faq.jsonl"
    queries = tmp_path / "queries.jsonl"
    faq.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in [
        {"id": "a", "question": "花呗怎么还款", "answer": "在账单页还款。"},
        {"id": "b", "question": "借呗额度为什么降低", "answer": "按综合评估调整。"},
    ]), encoding="utf-8")
    queries.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in [
        {"query": "花呗如何还钱", "expected_id": "a"},
        {"query": "借呗额度降了", "expected_id": "b"},
        {"query": "你好", "expected_id": None},
    ]), encoding="utf-8")
    result = json.loads(kb_eval(faq, queries, "--json"))
    assert result["hit_at_1"] == 1.0


def test_confidence_figures_on_queries_the_calibration_was_fitted_on_are_cross_validated(tmp_path):
    queries = read_jsonl(DATA / "queries.jsonl")
    elsewhere = calibration_fitted_elsewhere(tmp_path)
    fitted_on_one = tmp_path / "fitted-on-one.json"
    fitted_on_one.write_text(json.dumps({**json.loads(elsewhere.read_text()),
                                         "fitted_queries": [query_digest(queries[0]["query"])]}), encoding="utf-8")
    out_of_sample = json.loads(kb_eval(DATA / "faq.jsonl", DATA / "queries.jsonl", "--json", "--calibration",
                                       elsewhere))
    result = json.loads(kb_eval(DATA / "faq.jsonl", DATA / "queries.jsonl", "--json", "--calibration", fitted_on_one))
    assert result["confidence_from"] == "cross-validation"
    # The calibration's own figures are only given apart, labelled, and equal what it scores out of sample here.
    assert result["in_sample"]["ece"] == out_of_sample["ece"]
    assert result["ece"] != out_of_sample["ece"]
    assert result["hit_at_1"] == out_of_sample["hit_at_1"]  # the ranking owes nothing to the calibration
    text = kb_eval(DATA / "faq.jsonl", DATA / "queries.jsonl", "--calibration", fitted_on_one)
    assert "cross-validation by FAQ item" in text and "fitted on 1 of these queries" in text
    assert "In sample" in text and "not a measurement" in text
    assert "out of sample" in kb_eval(DATA / "faq.jsonl", DATA / "queries.jsonl", "--calibration", elsewhere)


def test_a_calibration_that_does_not_list_its_queries_is_cross_validated(tmp_path):
    old = tmp_path / "old.json"
    params = json.loads(CALIBRATION_PATH.read_text())
    del params["fitted_queries"]
    old.write_text(json.dumps(params), encoding="utf-8")
    text = kb_eval(DATA / "faq.jsonl", DATA / "queries.jsonl", "--calibration", old)
    assert "does not list the queries it was fitted on" in text


def test_bad_files_are_refused_with_a_message(tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "a", "question": "q"}\nnot json\n', encoding="utf-8")
    with pytest.raises(CommandError, match="line 2"):
        kb_eval(broken, DATA / "queries.jsonl")
    with pytest.raises(CommandError, match="Cannot read"):
        kb_eval(tmp_path / "missing.jsonl", DATA / "queries.jsonl")


def test_the_databases_own_items_neither_answer_nor_change(world, kb):
    from knowledge.selectors import knowledge_search

    alone = json.loads(kb_eval(DATA / "faq.jsonl", DATA / "queries.jsonl", "--json"))
    assert KnowledgeItem.objects.filter(shop__isnull=True, is_active=True).count() == 3
    assert knowledge_search(shop=world.shop, text="能开发票吗", k=1)[0].external_id == "t-shared-002"
    empty = {key: value for key, value in alone.items() if key != "latency_ms"}
    KnowledgeItem.all_objects.all().delete()
    again = json.loads(kb_eval(DATA / "faq.jsonl", DATA / "queries.jsonl", "--json"))
    assert {key: value for key, value in again.items() if key != "latency_ms"} == empty


@pytest.mark.parametrize(("faq_lines", "query_lines", "message"), [
    (['["花呗", "a"]'], ['{"query": "q", "expected_id": null}'], "line 1 is not a JSON object"),
    (['{"id": "a", "answer": "x"}'], ['{"query": "q", "expected_id": null}'], "line 1 has no text under question"),
    (['{"id": "a", "question": "q"}'], ['{"expected_id": "a"}'], "line 1 has no text under query"),
    (['{"id": "a", "question": "q"}', '{"id": "b", "question": "r", "keywords": 5}'],
     ['{"query": "q", "expected_id": "a"}'], "FAQ row 2"),
])
def test_malformed_rows_are_refused_with_their_line(tmp_path, faq_lines, query_lines, message):
    faq, queries = tmp_path / "faq.jsonl", tmp_path / "queries.jsonl"
    faq.write_text("\n".join(faq_lines), encoding="utf-8")
    queries.write_text("\n".join(query_lines), encoding="utf-8")
    with pytest.raises(CommandError, match=message):
        kb_eval(faq, queries)


def kb_calibrate(*args) -> str:
    out = StringIO()
    call_command("kb_calibrate", *map(str, args), "--no-progress", stdout=out)
    return out.getvalue()


def mixed_queries(tmp_path, name="mixed.jsonl", every=3) -> Path:
    """The test queries where one in ``every`` expects another item: a fit needs rights and wrongs."""
    path = tmp_path / name
    queries = read_jsonl(DATA / "queries.jsonl")
    for n, row in enumerate(queries):
        if n % every == 0 and row.get("expected_id") is not None:
            row["expected_id"] = "no-such-item"
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in queries), encoding="utf-8")
    return path


def test_kb_calibrate_fits_on_several_sets_and_records_them_the_embedder_and_its_out_of_sample_figures(tmp_path):
    from knowledge.embedders import get_embedder

    mixed, held = mixed_queries(tmp_path), mixed_queries(tmp_path, "held.jsonl", every=4)
    params = tmp_path / "calibration.json"
    output = kb_calibrate(params, DATA / "faq.jsonl", DATA / "queries.jsonl", DATA / "faq.jsonl", mixed,
                          "--held-out", DATA / "faq.jsonl", held)
    fitted = json.loads(params.read_text())
    embedder = get_embedder()
    assert fitted["features"] == ["margin", "item_margin"]
    assert fitted["fit_on"] == [
        {"faq": str(DATA / "faq.jsonl"), "queries": str(DATA / "queries.jsonl"), "queries_count": 19},
        {"faq": str(DATA / "faq.jsonl"), "queries": str(mixed), "queries_count": 19},
    ]
    assert (fitted["embedder"], fitted["embedder_version"]) == (embedder.name, embedder.version)
    queries = read_jsonl(DATA / "queries.jsonl")
    assert set(fitted["fitted_queries"]) == {query_digest(row["query"]) for row in queries}
    assert 0 < fitted["n_fit"] <= 2 * len(queries)  # greetings-only queries are capped, not fitted
    assert fitted["command"] == (f"manage.py kb_calibrate {params} {DATA / 'faq.jsonl'} {DATA / 'queries.jsonl'} "
                                 f"{DATA / 'faq.jsonl'} {mixed} --held-out {DATA / 'faq.jsonl'} {held}")
    figures = fitted["out_of_sample"]
    for model in ("model", "baseline_margin"):
        assert set(figures[model]["cross_validation"]) == {str(DATA / "queries.jsonl"), str(mixed)}
        assert set(figures[model]["phrasing_halves"]) == {str(DATA / "queries.jsonl"), str(mixed)}
        assert [(row["fit_on"], row["measured_on"]) for row in figures[model]["cross_set"]] == [
            (str(DATA / "queries.jsonl"), str(mixed)), (str(mixed), str(DATA / "queries.jsonl"))]
        assert set(figures[model]["held_out"]) == {str(held)}
        assert "in_sample" not in figures[model]
        assert {"hit_at_1", "ece", "thresholds", "best_coverage_at_precision_98"} <= set(
            figures[model]["cross_validation"][str(mixed)])
    for title in ("grouped 5-fold cross-validation by FAQ item", "new phrasings of known items",
                  "fitted on one set, measured on another",
                  "held-out sets", "In sample", "margin (baseline)", "margin + item_margin"):
        assert title in output
    assert not Shop.objects.exists()  # each set was rolled back
    json.loads(kb_eval(DATA / "faq.jsonl", DATA / "queries.jsonl", "--json", "--calibration", params))
    # Measured on queries it was fitted on, kb_eval refits the same model, link included, by cross-validation.
    table = kb_eval(DATA / "faq.jsonl", DATA / "queries.jsonl", "--calibration", params)
    assert "its model (margin + item_margin (link at 1.5)) was refitted" in table


def test_kb_calibrate_writes_the_same_file_from_the_same_data(tmp_path):
    mixed = mixed_queries(tmp_path)
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    kb_calibrate(first, DATA / "faq.jsonl", mixed)
    kb_calibrate(second, DATA / "faq.jsonl", mixed)
    assert json.loads(first.read_text())["command"] != json.loads(second.read_text())["command"]
    assert {**json.loads(first.read_text()), "command": None} == {**json.loads(second.read_text()), "command": None}


def test_kb_calibrate_refuses_a_feature_search_does_not_give(tmp_path):
    with pytest.raises(CommandError, match="no feature called colour"):
        kb_calibrate(tmp_path / "out.json", DATA / "faq.jsonl", mixed_queries(tmp_path), "--features",
                     "margin,colour")
    assert not (tmp_path / "out.json").exists()


def test_kb_calibrate_refuses_unpaired_files_and_sets_with_nothing_to_learn(tmp_path):
    with pytest.raises(CommandError, match="pairs"):
        kb_calibrate(tmp_path / "out.json", DATA / "faq.jsonl")
    answered = tmp_path / "answered.jsonl"
    answered.write_text('{"query": "保质期多久", "shop": "cake", "expected_id": "t-cake-001"}\n', encoding="utf-8")
    with pytest.raises(CommandError, match="both rightly and wrongly"):
        kb_calibrate(tmp_path / "out.json", DATA / "faq.jsonl", answered)
    assert not (tmp_path / "out.json").exists()
    with pytest.raises(CommandError, match="no folder"):
        kb_calibrate(tmp_path / "no" / "out.json", DATA / "faq.jsonl", DATA / "queries.jsonl")
    with pytest.raises(CommandError, match="given once"):
        kb_calibrate(tmp_path / "out.json", DATA / "faq.jsonl", DATA / "queries.jsonl", "--held-out",
                     DATA / "faq.jsonl", DATA / "queries.jsonl")
    with pytest.raises(CommandError, match="folds"):
        kb_calibrate(tmp_path / "out.json", DATA / "faq.jsonl", DATA / "queries.jsonl", "--folds", "1")
    with pytest.raises(CommandError, match="knots"):
        kb_calibrate(tmp_path / "out.json", DATA / "faq.jsonl", DATA / "queries.jsonl", "--knots", "2,1")
    with pytest.raises(CommandError, match="numbers"):
        kb_calibrate(tmp_path / "out.json", DATA / "faq.jsonl", DATA / "queries.jsonl", "--knots", "high")


def test_kb_calibrate_fits_the_link_it_is_given_and_records_it_in_the_command(tmp_path):
    mixed = mixed_queries(tmp_path)
    plain, bent = tmp_path / "plain.json", tmp_path / "bent.json"
    kb_calibrate(plain, DATA / "faq.jsonl", mixed, "--knots", "none")
    output = kb_calibrate(bent, DATA / "faq.jsonl", mixed, "--knots", "0.5,2")
    plain, bent = json.loads(plain.read_text()), json.loads(bent.read_text())
    assert "link" not in plain and plain["command"].endswith(" --knots none")
    assert bent["link"]["knots"] == [0.5, 2.0] and bent["command"].endswith(" --knots 0.5,2")
    assert "margin + item_margin (link at 0.5,2)" in output


def test_kb_calibrate_fits_the_link_on_the_sets_it_names_and_records_them(tmp_path):
    mixed = mixed_queries(tmp_path)
    shared, own = tmp_path / "shared.json", tmp_path / "own.json"
    kb_calibrate(shared, DATA / "faq.jsonl", DATA / "queries.jsonl", DATA / "faq.jsonl", mixed)
    output = kb_calibrate(own, DATA / "faq.jsonl", DATA / "queries.jsonl", DATA / "faq.jsonl", mixed,
                          "--link-on", mixed)
    shared, own = json.loads(shared.read_text()), json.loads(own.read_text())
    assert own["link"]["sets"] == [str(mixed)] and "sets" not in shared["link"]
    assert own["command"].endswith(f" --link-on {mixed}")
    assert (own["coef"], own["bias"]) == (shared["coef"], shared["bias"])  # the weights: every set
    assert own["link"]["coef"] != shared["link"]["coef"]
    assert f"margin + item_margin (link at 1.5 fitted on {mixed})" in output


def test_kb_calibrate_refuses_a_link_on_a_set_it_does_not_fit_or_without_a_link(tmp_path):
    mixed = mixed_queries(tmp_path)
    with pytest.raises(CommandError, match="not fitted"):
        kb_calibrate(tmp_path / "out.json", DATA / "faq.jsonl", mixed, "--link-on", DATA / "queries.jsonl")
    with pytest.raises(CommandError, match="needs a link"):
        kb_calibrate(tmp_path / "out.json", DATA / "faq.jsonl", mixed, "--link-on", mixed, "--knots", "none")
    assert not (tmp_path / "out.json").exists()
