import factory

from knowledge.models import KnowledgeItem, SimilarQuestion
from tests.customer_service.factories import ShopFactory


class KnowledgeItemFactory(factory.django.DjangoModelFactory):
    """A plain row; tests that exercise indexing create items through the services instead."""

    class Meta:
        model = KnowledgeItem

    shop = factory.SubFactory(ShopFactory)
    question = factory.Sequence(lambda n: f"问题{n}是什么？")
    answer = factory.Sequence(lambda n: f"答案{n}。")
    category = "常见问题"
    keywords = factory.LazyFunction(list)


class SimilarQuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SimilarQuestion

    item = factory.SubFactory(KnowledgeItemFactory)
    text = factory.Sequence(lambda n: f"相似问法{n}")
