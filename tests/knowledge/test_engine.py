"""The engine without Django: normalisation, small-index guard, coarse pass, calibration."""

from collections import Counter

import numpy as np
import pytest

from knowledge.embedders import get_embedder
from knowledge.engine import KBIndex, item_phrasings
from knowledge.engine.calibration import corrected, fit_logistic, predict, refit, validate
from knowledge.engine.index import whole_item_text
from knowledge.engine.lexical import LexicalEncoder
from knowledge.engine.metrics import ece, summarize
from knowledge.engine.normalize import is_smalltalk, normalize_text
from knowledge.index import _reference_vectors
from knowledge.selectors import calibration_params


@pytest.mark.parametrize(("raw", "expected"), [
    ("亲，包油吗？？？", "包邮吗"),
    ("ＡＢＣ１２３", "abc123"),
    ("您好～请问发什么快递😊[微笑]", "发什么快递"),
    ("在吗在吗", "在吗在吗"),
])
def test_buyer_text_is_normalised(raw, expected):
    assert normalize_text(raw) == expected


def test_greetings_and_thanks_are_small_talk_questions_are_not():
    assert is_smalltalk("亲在吗") and is_smalltalk("好的谢谢！") and is_smalltalk("")
    assert not is_smalltalk("包邮吗")


def test_lexical_features_are_character_ngrams_and_dictionary_words():
    features = LexicalEncoder().features("亲，退款什么时候到账？退款")
    # Greeting and punctuation dropped; every character and bigram counted, across repeats.
    assert features["退"] == 2 and features["退款"] == 2 and features["到账"] == 1
    assert "亲" not in features and "，" not in features and "款什" in features
    # Words of two characters or more from jieba's dictionary; single characters are already n-grams.
    assert {f for f in features if f.startswith("w:")} == {"w:退款", "w:什么", "w:时候"}
    assert features["w:退款"] == 2


def test_phrasings_cover_question_similar_keywords_and_answer_without_repeats():
    phrasings = item_phrasings(question="包邮吗", similar=["包邮吗", "运费多少"], keywords=["包邮", "运费"],
                               category="物流", answer="满59包邮")
    assert phrasings == [("包邮吗", "question"), ("运费多少", "similar"), ("包邮 运费", "keywords"),
                         ("包邮吗 包邮 运费", "question"), ("物流 包邮 运费", "keywords"), ("满59包邮", "answer"),
                         ("包邮吗\n满59包邮\n包邮 运费", "item")]


def test_an_item_with_only_a_question_has_no_separate_whole_item_text():
    assert item_phrasings(question="包邮吗", answer="包邮吗") == [("包邮吗", "question")]
    assert whole_item_text(question="包邮吗", answer="包邮吗") == "包邮吗"


def test_the_whole_item_text_is_neither_ranked_nor_counted_in_the_lexical_bag():
    index = KBIndex(get_embedder(), LexicalEncoder())
    index.add("ship", item_phrasings(question="什么时候发货", answer="付款后48小时内发货", keywords=["发货"]))
    index.add("invoice", item_phrasings(question="可以开发票吗", answer="可以开电子发票"))
    index.build()
    assert "item" not in index._kinds
    ranked_texts = ["什么时候发货", "付款后48小时内发货", "发货", "什么时候发货 发货"]
    assert index._items["ship"]["feats"] == sum((LexicalEncoder().features(text) for text in ranked_texts), Counter())
    whole = get_embedder().embed([whole_item_text(question="什么时候发货", answer="付款后48小时内发货",
                                                  keywords=["发货"])])[0]
    assert np.allclose(index._items["ship"]["item_vec"], whole)


def test_the_item_margin_compares_whole_texts_with_the_query():
    index = KBIndex(get_embedder(), LexicalEncoder())
    index.add("ship", item_phrasings(question="什么时候发货", answer="付款后48小时内发货"))
    index.add("invoice", item_phrasings(question="可以开发票吗", answer="可以开电子发票"))
    query = "什么时候能发货呀"
    hits = index.search(query, k=2)
    vector = get_embedder().embed([query])[0]
    cosines = {item: float(index._items[item]["item_vec"] @ vector) for item in ("ship", "invoice")}
    assert hits[0].item_id == "ship"
    assert hits[0].features["item_margin"] == pytest.approx(cosines["ship"] - cosines["invoice"], abs=1e-5)
    assert hits[1].features["item_margin"] == pytest.approx(cosines["invoice"] - cosines["ship"], abs=1e-5)


def tiny_index(with_reference: bool) -> KBIndex:
    index = KBIndex(get_embedder(), LexicalEncoder())
    index.add("ship", [("什么时候发货", "question"), ("付款后48小时内发货", "answer")])
    index.add("invoice", [("可以开发票吗", "question"), ("可以开电子发票", "answer")])
    if with_reference:
        for n, (text, vector) in enumerate(_reference_vectors(get_embedder())):
            index.add_reference(n, [(text, "question")], vector[None, :])
    return index


def test_a_two_item_index_is_not_confident_about_an_unrelated_question_thanks_to_reference_items():
    params = calibration_params()
    unrelated = "你们的衣服是纯棉的吗"
    bare = predict(params, tiny_index(False).search(unrelated, k=1)[0].features)
    guarded_hits = tiny_index(True).search(unrelated, k=2)
    assert bare > 0.8  # two items: z-scores are ±1 whatever the query
    assert predict(params, guarded_hits[0].features) < 0.5
    assert {h.item_id for h in guarded_hits} == {"ship", "invoice"}  # reference items are never returned
    assert tiny_index(True).search("什么时候能发货呀", k=1)[0].item_id == "ship"


def test_the_coarse_pass_finds_the_same_best_item_as_exact_search():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(400, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = KBIndex(get_embedder(), LexicalEncoder(), {"coarse_rows": 10**9})
    coarse = KBIndex(get_embedder(), LexicalEncoder(), {"coarse_rows": 100, "coarse_candidates": 50})
    for n, vector in enumerate(vectors):
        for index in (exact, coarse):
            index.add(n, [(f"条目{n}", "question")], vector[None, :])
    for n in (3, 99, 250):
        query = vectors[n] + 0.05 * rng.normal(size=512).astype(np.float32)
        assert coarse.search("x", k=1, query_vector=query)[0].item_id == exact.search(
            "x", k=1, query_vector=query)[0].item_id == n


def lexical_scores(index: KBIndex, text: str) -> np.ndarray:
    index.build()
    return index._lex_scores(index.lex.features(text))


def test_dense_lexical_columns_score_exactly_like_postings():
    questions = [f"{a}{b}怎么{c}" for a in "花借余" for b in "呗宝卡" for c in ("还款", "开通", "关闭", "提额")]
    postings = KBIndex(get_embedder(), LexicalEncoder(), {"dense_column_items": 10**9})
    columns = KBIndex(get_embedder(), LexicalEncoder(), {"dense_column_items": 10})
    vector = np.ones((1, 512), np.float32)
    for n, question in enumerate(questions):
        for index in (postings, columns):
            index.add(n, [(question, "question")], vector)
    columns.build()
    assert columns._dense_cols  # "怎么" is in every item
    for query in ("花呗怎么还款", "余额宝开通", "没有的词"):
        assert np.allclose(lexical_scores(postings, query), lexical_scores(columns, query), atol=1e-5)


def test_an_index_built_from_adopted_items_scores_like_one_built_from_scratch():
    encoder, vector = LexicalEncoder(), np.ones((1, 512), np.float32)
    texts = {"a": "花呗怎么还款", "b": "借呗额度降低了", "c": "余额宝怎么转出", "d": "花呗分期手续费"}
    first = KBIndex(get_embedder(), encoder)
    for key, text in texts.items():
        first.add(key, [(text, "question")], vector)
    first.build()
    rebuilt = KBIndex(get_embedder(), encoder)
    rebuilt.adopt(first, ["a", "b", "c"])
    rebuilt.add("e", [("借呗怎么关闭", "question")], vector)
    scratch = KBIndex(get_embedder(), LexicalEncoder())
    for key, text in [*[(k, texts[k]) for k in "abc"], ("e", "借呗怎么关闭")]:
        scratch.add(key, [(text, "question")], vector)
    for query in ("借呗关闭", "花呗还款"):
        assert np.allclose(lexical_scores(rebuilt, query), lexical_scores(scratch, query), atol=1e-6)


def test_logistic_calibration_fits_and_caps_small_talk():
    rng = np.random.default_rng(1)
    margin, item_margin = rng.uniform(0, 3, 400), rng.uniform(-0.2, 0.4, 400)
    features = [{"margin": m, "item_margin": i, "smalltalk": 0.0} for m, i in zip(margin, item_margin, strict=True)]
    labels = rng.uniform(size=400) < 1 / (1 + np.exp(-(2 * margin + 5 * item_margin - 3)))
    params = fit_logistic(features, labels)
    confidence = predict(params, features)
    assert params["features"] == ["margin", "item_margin"] and all(c > 0 for c in params["coef"])
    assert ece(confidence, labels) < 0.08
    assert predict(params, {"margin": 3, "item_margin": 0.4, "smalltalk": 1.0}) <= 0.01


def test_a_monotone_fit_drops_a_feature_that_would_lower_the_confidence_as_it_grows():
    rng = np.random.default_rng(2)
    margin, noise = rng.uniform(0, 3, 400), rng.uniform(0, 1, 400)
    labels = rng.uniform(size=400) < 1 / (1 + np.exp(-(2 * margin - 3 * noise - 1)))
    features = [{"margin": m, "noise": n} for m, n in zip(margin, noise, strict=True)]
    free = fit_logistic(features, labels, names=["margin", "noise"], monotone=False)
    monotone = fit_logistic(features, labels, names=["margin", "noise"])
    assert free["coef"][1] < 0
    assert monotone["coef"][1] == 0.0 and monotone["coef"][0] > 0
    assert monotone["features"] == ["margin", "noise"]  # the document still names both
    assert refit(monotone, features, labels) == monotone


def _kinked(seed, n=3000):
    """Margins whose true log-odds rise by 2 per unit up to 2, then by 8: a straight line cannot follow both."""
    rng = np.random.default_rng(seed)
    margin = rng.uniform(0, 3, n)
    logit = 2 * margin - 2 + 6 * np.maximum(margin - 2, 0)
    labels = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    return [{"margin": m, "smalltalk": 0.0} for m in margin], labels


def test_the_link_follows_log_odds_that_bend_and_never_lowers_a_confidence():
    features, labels = _kinked(3)
    plain = fit_logistic(features, labels, names=["margin"])
    linked = fit_logistic(features, labels, names=["margin"], knots=(1.5,))
    assert "link" not in plain
    assert linked["link"]["knots"] == [1.5] and all(c >= 0 for c in linked["link"]["coef"])
    assert linked["link"]["coef"][1] > 0  # the data bend, so the link does
    grid = [{"margin": m, "smalltalk": 0.0} for m in np.linspace(-1, 4, 201)]
    assert np.all(np.diff(predict(linked, grid)) >= 0)
    # Measured on other draws: the top of the range is confident where it is right, the whole better calibrated.
    held, truth = _kinked(4)
    top = np.array([f["margin"] > 2.5 for f in held])
    assert abs(predict(linked, held)[top].mean() - truth[top].mean()) < abs(predict(plain, held)[top].mean()
                                                                            - truth[top].mean())
    assert ece(predict(linked, held), truth) < ece(predict(plain, held), truth)
    assert refit(linked, features, labels) == linked
    assert predict(linked, {"margin": 3.0, "smalltalk": 1.0}) <= 0.01


def test_a_link_fitted_to_lower_the_confidence_as_the_score_grows_is_dropped():
    rng = np.random.default_rng(5)
    margin = rng.uniform(0, 3, 2000)
    # Right answers get rarer past the knot: a monotone link may not follow that down.
    labels = rng.uniform(size=2000) < 1 / (1 + np.exp(-(2 * margin - 2 - 6 * np.maximum(margin - 2, 0))))
    linked = fit_logistic([{"margin": m} for m in margin], labels, names=["margin"], gates=(), knots=(1.5,))
    assert linked["link"]["coef"][1] == 0.0 and linked["link"]["coef"][0] > 0
    grid = [{"margin": m} for m in np.linspace(-1, 4, 101)]
    assert np.all(np.diff(predict(linked, grid)) >= 0)


def test_a_correction_of_a_linked_calibration_rescales_its_final_log_odds():
    features, labels = _kinked(6, n=800)
    params = fit_logistic(features, labels, names=["margin"], knots=(1.5,))
    fixed = corrected(params, slope=0.5, intercept=-1.0)
    confidence = predict(params, features)
    logit = np.log(confidence / (1 - confidence))
    assert np.allclose(predict(fixed, features), 1 / (1 + np.exp(-(0.5 * logit - 1.0))))
    assert fixed["coef"] == params["coef"] and validate(fixed) is fixed


def test_a_link_fitted_on_one_sets_rows_follows_that_set_and_the_weights_still_come_from_every_set():
    bent, bent_labels = _kinked(7, n=1500)
    # Another set whose log-odds do not bend: right answers get no likelier past the knot than a line says.
    rng = np.random.default_rng(8)
    margin = rng.uniform(0, 3, 1500)
    straight = [{"margin": m, "smalltalk": 0.0} for m in margin]
    straight_labels = rng.uniform(size=1500) < 1 / (1 + np.exp(-(1.5 * margin - 2)))
    features, labels = bent + straight, np.r_[bent_labels, straight_labels]
    sets = ["bent"] * 1500 + ["straight"] * 1500
    shared = fit_logistic(features, labels, names=["margin"], knots=(1.5,))
    own = fit_logistic(features, labels, names=["margin"], knots=(1.5,), link_sets=("bent",), sets=sets)
    assert own["link"]["sets"] == ["bent"] and "sets" not in shared["link"]
    assert own["coef"] == shared["coef"] and own["bias"] == shared["bias"]  # the weights: every set
    # The link: the bent set's rows only, as though the features' log-odds had been fitted on them.
    score = np.array([f["margin"] for f in bent]) * own["coef"][0] + own["bias"]
    alone = fit_logistic([{"s": v, "past": max(v - 1.5, 0.0)} for v in score], bent_labels, names=["s", "past"],
                         gates=())
    assert own["link"]["coef"] == pytest.approx(alone["coef"]) and own["link"]["bias"] == pytest.approx(alone["bias"])
    top = np.array([f["margin"] > 2.5 for f in bent])
    truth = bent_labels[top].mean()
    assert abs(predict(own, bent)[top].mean() - truth) < abs(predict(shared, bent)[top].mean() - truth)
    assert refit(own, features, labels, sets=sets) == own
    # Named sets without both right and wrong answers among the rows: the link is fitted on every row.
    assert refit(own, features, labels, sets=None)["link"]["coef"] == shared["link"]["coef"]
    only_right = fit_logistic(features, labels, names=["margin"], knots=(1.5,), link_sets=("right",),
                              sets=["right" if label else "other" for label in labels])
    assert only_right["link"]["coef"] == shared["link"]["coef"]


@pytest.mark.parametrize("link", [
    [1.5], {"knots": [1.5], "coef": [1.0], "bias": 0.0}, {"knots": [1.5], "coef": [1.0, -0.5], "bias": 0.0},
    {"knots": ["x"], "coef": [1.0, 0.5], "bias": 0.0}, {"knots": [1.5], "coef": [1.0, 0.5]},
    {"knots": [1.5], "coef": [1.0, 0.5], "bias": 0.0, "sets": "e-commerce"},
    {"knots": [1.5], "coef": [1.0, 0.5], "bias": 0.0, "sets": [1]},
])
def test_a_calibration_with_a_bad_link_is_refused_with_a_reason(link):
    with pytest.raises(ValueError, match="link"):
        validate({"features": ["margin"], "coef": [1.0], "bias": 0.0, "link": link})


@pytest.mark.parametrize("params", [
    [], {"features": ["margin"], "coef": []}, {"features": ["margin"], "coef": [1.0], "bias": "x"},
    {"features": ["margin"], "coef": [float("nan")], "bias": 0.0},
    {"features": ["margin"], "coef": [1.0], "bias": 0.0, "gates": ["smalltalk"]},
])
def test_a_document_that_is_not_a_calibration_is_refused_with_a_reason(params):
    with pytest.raises(ValueError, match=r"calibration|finite|gates"):
        validate(params)


def test_metrics_follow_the_documented_definitions():
    records = [
        {"expected": "a", "ids": ["a", "b"], "confidence": 0.95, "ms": 1.0},
        {"expected": "b", "ids": ["a", "b"], "confidence": 0.85, "ms": 2.0},
        {"expected": None, "ids": ["a"], "confidence": 0.92, "ms": 3.0},
        {"expected": "c", "ids": ["c"], "confidence": 0.10, "ms": 4.0},
    ]
    summary = summarize(records)
    assert summary["hit_at_1"] == pytest.approx(2 / 3) and summary["hit_at_5"] == 1.0
    assert summary["mrr"] == pytest.approx((1 + 0.5 + 1) / 3)
    at_90 = summary["thresholds"][1]
    assert at_90 == {"threshold": 0.9, "precision": 0.5, "coverage": 0.5, "out_of_scope_sent": 1.0}
    assert summary["best_coverage_at_precision_98"] == 0.25


def test_a_correction_of_a_calibration_rescales_its_log_odds_and_keeps_its_gates():
    params = calibration_params()
    features = [{"margin": m, "item_margin": i, "smalltalk": 0.0} for m in (0.2, 1.5, 3.0) for i in (-0.1, 0.2)]
    fixed = corrected(params, slope=0.5, intercept=-1.0, fit_on=[{"queries": "review outcomes"}])
    logit = np.log(predict(params, features) / (1 - predict(params, features)))
    assert np.allclose(predict(fixed, features), 1 / (1 + np.exp(-(0.5 * logit - 1.0))))
    assert predict(fixed, {"margin": 3.0, "item_margin": 0.3, "smalltalk": 1.0}) <= 0.01
    assert (fixed["embedder"], fixed["fit_on"]) == (params["embedder"], [{"queries": "review outcomes"}])
    with pytest.raises(ValueError, match="slope"):
        corrected(params, slope=0.0, intercept=0.0)
