"""The provider embedder goes through billing's router to a real OpenAI-compatible HTTP server."""

import numpy as np
import pytest

from billing.models import UsageRecord
from knowledge import services
from knowledge.embedders.provider import ProviderEmbedder
from knowledge.exceptions import KnowledgeError
from knowledge.models import KnowledgeVector
from tests.billing.conftest import _clean_breakers, _llm_server, fake_llm, llm_config  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def test_it_embeds_through_the_router_and_meters_usage(world, llm_config, fake_llm):  # noqa: F811
    llm_config("emb-kb", capability="embedding", per_1k_in="0.0005", per_1k_out="0")
    fake_llm.behave("emb-kb", "ok", prompt_tokens=10)
    embedder = ProviderEmbedder(user=world.agent, shop=world.shop)
    vectors = embedder.embed(["退货", "运费险怎么买"])
    assert vectors.shape == (2, 4) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert embedder.version == "emb-kb" and embedder.dimension == 4
    assert UsageRecord.objects.filter(usage_type="embedding", shop=world.shop).exists()


def test_vectors_it_makes_are_stored_under_its_name_and_model(world, llm_config, fake_llm):  # noqa: F811
    llm_config("emb-kb", capability="embedding")
    item = services.knowledge_item_create(actor=world.shop_admin, shop=world.shop, question="可以退货吗？",
                                          answer="七天无理由。", reindex=False)
    services.knowledge_item_reindex(item=item, embedder=ProviderEmbedder())
    stored = set(KnowledgeVector.objects.filter(item=item).values_list("embedder", "embedder_version", "dimension"))
    assert stored == {("provider", "emb-kb", 4)}
    assert KnowledgeVector.objects.filter(item=item).count() == len(item.phrasings())


def test_a_failing_provider_is_a_knowledge_error(world, llm_config, fake_llm):  # noqa: F811
    llm_config("emb-broken", capability="embedding")
    fake_llm.behave("emb-broken", "500")
    with pytest.raises(KnowledgeError) as info:
        ProviderEmbedder().embed(["退货"])
    assert info.value.code == "embedder_failed"


def test_a_new_process_recognises_the_vectors_stored_before(world, llm_config, fake_llm):  # noqa: F811
    from knowledge.selectors import knowledge_item_vector_status

    llm_config("emb-kb", capability="embedding")
    item = services.knowledge_item_create(actor=world.shop_admin, shop=world.shop, question="可以退货吗？",
                                          answer="七天无理由。", reindex=False)
    services.knowledge_item_reindex(item=item, embedder=ProviderEmbedder())
    calls = UsageRecord.objects.count()
    fresh_process = ProviderEmbedder()  # has made no call yet
    assert fresh_process.version == "emb-kb"
    assert knowledge_item_vector_status(item=item, embedder=fresh_process) == "fresh"
    result = services.knowledge_item_reindex(item=item, embedder=fresh_process)
    assert result["created"] == 0 and result["kept"] == len(item.phrasings())
    assert UsageRecord.objects.count() == calls  # nothing embedded (nor paid for) again


def test_without_an_embedding_config_the_version_says_so():
    assert ProviderEmbedder().version == "router"


def test_control_characters_in_a_buyer_message_do_not_fail_the_embedding(world, llm_config, fake_llm):  # noqa: F811
    llm_config("emb-kb", capability="embedding")
    vectors = ProviderEmbedder().embed(["可以\x0b退货吗\x00", "退货"])
    assert vectors.shape[0] == 2
