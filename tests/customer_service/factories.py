import factory

from customer_service.models import Shop, ShopMembership
from customer_service.shops.choices import ShopRole
from tests.accounts.factories import UserFactory


class ShopFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shop

    name = factory.Sequence(lambda n: f"店铺{n}")
    qianniu_title = factory.LazyAttribute(lambda o: f"{o.name} - 千牛工作台")


class ShopMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ShopMembership

    shop = factory.SubFactory(ShopFactory)
    user = factory.SubFactory(UserFactory)
    role = ShopRole.AGENT
