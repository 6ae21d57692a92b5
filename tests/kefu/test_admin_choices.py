"""What the admin offers in a foreign-key field: shops one administers, reference rows one may read."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.billing.factories import ModelConfigFactory, ProviderFactory

pytestmark = pytest.mark.django_db


def test_an_owner_can_save_their_own_config_with_a_provider_from_the_catalogue(world, allow_provider_hosts):
    allow_provider_hosts("127.0.0.1:9")  # the factory's provider URL (loopback, nothing listens)
    config = ModelConfigFactory(owner=world.shop_admin, provider=ProviderFactory(code="deepseek"))
    browser = Client()
    browser.force_login(world.shop_admin)
    url = reverse("admin:billing_modelconfig_change", args=[config.pk])
    page = browser.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert config.provider in form.fields["provider"].queryset
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update({"provider": config.provider.pk, "owner": world.shop_admin.pk, "model": config.model_id,
                 "name": "我的深度求索", "new_extra_headers": ""})
    response = browser.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    config.refresh_from_db()
    assert config.name == "我的深度求索"


def test_shops_offered_are_only_those_one_administers(world):
    from customer_service.models import Shop
    from kefu.admin import ScopedModelAdmin
    from knowledge.models import KnowledgeItem

    field = KnowledgeItem._meta.get_field("shop")

    class Request:
        user = world.shop_admin

    offered = ScopedModelAdmin(KnowledgeItem, None).formfield_for_foreignkey(field, Request()).queryset
    assert list(offered) == [world.shop] and Shop.objects.count() == 2


def test_a_fresh_superadmin_is_offered_to_change_not_only_to_view(world):
    from configs.models import UserConfig

    assert not UserConfig.objects.exists()
    browser = Client()
    browser.force_login(world.superadmin)
    page = browser.get(reverse("admin:configs_userconfig_changelist"))
    assert page.status_code == 200
    assert page.context["title"] == "Select config to change"
    # History stays read-only, whatever the role.
    page = browser.get(reverse("admin:configs_confighistory_changelist"))
    assert page.context["title"].endswith("to view")

