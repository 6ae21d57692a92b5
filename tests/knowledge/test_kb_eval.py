import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from customer_service.models import Shop
from knowledge.models import IndexStamp, KnowledgeItem, KnowledgeVector

from .conftest import DATA

pytestmark = pytest.mark.django_db


def kb_eval(*args) -> str:
    out = StringIO()
    call_command("kb_eval", *map(str, args), "--no-progress", stdout=out)
    return out.getvalue()


def test_json_output_has_the_documented_shape_and_sane_values():
    result = json.loads(kb_eval(DATA / "faq.jsonl", DATA / "queries.jsonl", "--json"))
    assert set(result) == {"hit_at_1", "hit_at_5", "mrr", "ece", "thresholds", "best_coverage_at_precision_98",
                           "latency_ms"}
    assert [row["threshold"] for row in result["thresholds"]] == [0.8, 0.9, 0.95]
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


def test_fit_calibration_writes_parameters_that_evaluate(tmp_path):
    params = tmp_path / "calibration.json"
    kb_eval(DATA / "faq.jsonl", DATA / "queries.jsonl", "--json", "--fit-calibration", params)
    fitted = json.loads(params.read_text())
    assert fitted["type"] == "logistic" and len(fitted["coef"]) == len(fitted["features"])
    json.loads(kb_eval(DATA / "faq.jsonl", DATA / "queries.jsonl", "--json", "--calibration", params))


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


def test_kb_calibrate_fits_on_several_sets_and_names_them_and_the_embedder(tmp_path):
    from knowledge.embedders import get_embedder

    mixed = tmp_path / "mixed.jsonl"
    queries = [json.loads(line) for line in (DATA / "queries.jsonl").read_text(encoding="utf-8").splitlines()
               if line.strip()]
    # A second set where one in three queries expects another item: the fit needs rights and wrongs.
    for n, row in enumerate(queries):
        if n % 3 == 0 and row.get("expected_id") is not None:
            row["expected_id"] = "no-such-item"
    mixed.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in queries), encoding="utf-8")
    params = tmp_path / "calibration.json"
    output = kb_calibrate(params, DATA / "faq.jsonl", DATA / "queries.jsonl", DATA / "faq.jsonl", mixed)
    fitted = json.loads(params.read_text())
    embedder = get_embedder()
    assert fitted["fit_on"] == [str(DATA / "queries.jsonl"), str(mixed)]
    assert (fitted["embedder"], fitted["embedder_version"]) == (embedder.name, embedder.version)
    assert 0 < fitted["n_fit"] <= 2 * len(queries)  # greetings-only queries are capped, not fitted
    assert "calibration error on its own queries" in output
    assert not Shop.objects.exists()  # each set was rolled back
    json.loads(kb_eval(DATA / "faq.jsonl", DATA / "queries.jsonl", "--json", "--calibration", params))


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
    with pytest.raises(CommandError, match="Cannot write"):
        kb_eval(DATA / "faq.jsonl", DATA / "queries.jsonl", "--fit-calibration", tmp_path / "no" / "such" / "dir.json")
