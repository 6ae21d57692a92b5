import json
from decimal import Decimal
from urllib.parse import quote

import pytest

from billing import router
from billing.models import ModelConfig, UsageRecord
from tests.billing.factories import ModelConfigFactory, ProviderFactory

pytestmark = pytest.mark.django_db
HI = [{"role": "user", "content": "在吗"}]


def _spend(world, llm_config, fake_llm):
    llm_config("gpt-a", is_default=True)
    llm_config("gpt-b", priority=10)
    fake_llm.behave("gpt-a", ["500", "ok", "ok"])
    router.chat(HI, user=world.agent, shop=world.shop)  # a failure + a success
    router.chat(HI, user=world.agent, shop=world.shop)
    router.chat(HI, user=world.outsider, shop=world.other_shop)


def test_catalogue_is_readable_by_anyone_signed_in_and_written_by_superadmins(client_for, world):
    provider = ProviderFactory(code="deepseek")
    assert client_for(None).get("/api/providers/").status_code in (401, 403)
    assert client_for(world.agent).get("/api/providers/").json()["count"] == 1
    refused = client_for(world.shop_admin).post("/api/providers/", {"code": "x", "name": "X"})
    assert refused.status_code == 403 and refused.json()["error"] == "permission_denied"
    created = client_for(world.superadmin).post("/api/providers/", {"code": "newco", "name": "NewCo"})
    assert created.status_code == 201
    assert client_for(world.agent).get(f"/api/providers/{provider.pk}").status_code == 200


def test_config_key_is_write_only_and_masked(client_for, world):
    provider = ProviderFactory(code="deepseek")
    response = client_for(world.superadmin).post("/api/model-configs/", {
        "name": "ds", "provider": provider.pk, "model_code": "deepseek-chat", "api_key": "sk-live-1234567890abcdef",
        "extra_headers": {"X-Trace": "abc"},
    }, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert "api_key" not in body and "extra_headers" not in body
    assert body["api_key_masked"] == "sk-…cdef" and body["has_api_key"] is True
    assert body["extra_header_names"] == ["X-Trace"]
    assert body["model"] is not None  # catalogue row found or created
    listing = client_for(world.superadmin).get("/api/model-configs/").content.decode()
    assert "sk-live-1234567890abcdef" not in listing
    config = ModelConfig.objects.get(pk=body["id"])
    assert config.api_key == "sk-live-1234567890abcdef"

    patched = client_for(world.superadmin).patch(f"/api/model-configs/{config.pk}", {"priority": 5}, format="json")
    assert patched.status_code == 200
    config.refresh_from_db()
    assert config.api_key == "sk-live-1234567890abcdef" and config.priority == 5


def test_a_user_adds_their_own_key_and_nobody_else_sees_it(client_for, world, allow_provider_hosts):
    allow_provider_hosts("127.0.0.1:9")  # the factory's provider URL (loopback, nothing listens)
    provider = ProviderFactory(code="moonshot")
    response = client_for(world.agent).post("/api/model-configs/", {
        "name": "mine", "provider": provider.pk, "model_code": "moonshot-v1-8k", "api_key": "sk-agent-000000001111",
        "owner": world.shop_admin.pk,
    }, format="json")
    assert response.status_code == 201
    assert response.json()["owner"] == world.agent.pk
    assert client_for(world.shop_admin).get(f"/api/model-configs/{response.json()['id']}").status_code == 404
    system = ModelConfigFactory(owner=None)
    assert client_for(world.agent).patch(f"/api/model-configs/{system.pk}", {"priority": 1},
                                         format="json").status_code == 403


@pytest.mark.parametrize("payload", [
    {"timeout_seconds": -1},
    {"temperature": 5},
    {"provider": 999999},
    {"model_code": ""},
    {"base_url": "not a url"},
    {"extra_headers": ["a"]},
])
def test_bad_config_input_is_a_coded_400(client_for, world, payload):
    provider = ProviderFactory(code="openai")
    data = {"name": "x", "provider": provider.pk, "model_code": "gpt-4o-mini", **payload}
    response = client_for(world.superadmin).post("/api/model-configs/", data, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


@pytest.mark.parametrize(("field", "value"), [
    ("timeout_seconds", 0), ("temperature", 5), ("api_key", "sk-live-12345\x00678"),
    ("extra_headers", {"X-Trace": "a\r\nInjected: 1"}),
])
def test_a_config_the_model_refuses_is_a_400_naming_the_field(client_for, world, field, value):
    provider = ProviderFactory(code="deepseek")
    response = client_for(world.superadmin).post("/api/model-configs/", {
        "name": "ds", "provider": provider.pk, "model_code": "deepseek-chat", "api_key": "sk-live-1234567890abcdef",
        field: value}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "validation_error" and field in json.dumps(response.json())
    assert not ModelConfig.objects.exists()


def test_bad_pricing_input_is_a_coded_400(client_for, world, llm_config):
    model = llm_config("gpt-a").model
    response = client_for(world.superadmin).post("/api/pricing/", {
        "model": model.pk, "pricing_type": "input_1k", "unit_price": "-1", "currency": "CNY",
        "effective_from": "2026-01-01T00:00:00+08:00"}, format="json")
    assert response.status_code == 400
    response = client_for(world.superadmin).post("/api/pricing/", {
        "model": model.pk, "pricing_type": "input_1k", "unit_price": "abc", "currency": "CNY",
        "effective_from": "2026-01-01T00:00:00+08:00"}, format="json")
    assert response.status_code == 400


def test_the_pricing_api_refuses_what_the_admin_refuses(client_for, world, llm_config):
    model = llm_config("gpt-a").model  # priced: an open-ended input price already in force
    client = client_for(world.superadmin)
    price = {"model": model.pk, "pricing_type": "input_1k", "unit_price": "0.004", "currency": "CNY"}
    response = client.post("/api/pricing/", {**price, "effective_from": "2031-01-01T00:00:00+08:00"}, format="json")
    assert response.status_code == 400 and "still in force" in json.dumps(response.json(), ensure_ascii=False)
    current = model.prices.get(pricing_type="input_1k")
    response = client.patch(f"/api/pricing/{current.pk}/", {"effective_from": "0001-01-02T00:00:00Z"}, format="json")
    assert response.status_code == 400 and "effective_from" in json.dumps(response.json())
    assert model.prices.count() == 2
    # Ending the old price first makes room for the new one.
    end = "2031-01-01T00:00:00+08:00"
    assert client.patch(f"/api/pricing/{current.pk}/", {"effective_to": end}, format="json").status_code == 200
    assert client.post("/api/pricing/", {**price, "effective_from": end}, format="json").status_code == 201


def test_deleting_a_model_with_usage_is_a_409_not_a_500(client_for, world, llm_config, fake_llm):
    config = llm_config("gpt-a")
    router.chat(HI, user=world.agent)
    config.delete()
    response = client_for(world.superadmin).delete(f"/api/models/{config.model_id}")
    assert response.status_code == 409 and response.json()["error"] == "in_use"


def test_provider_test_endpoint_makes_a_real_call_and_stores_the_result(client_for, world, llm_config, fake_llm):
    good = llm_config("gpt-a")
    response = client_for(world.superadmin).post(f"/api/providers/{good.provider_id}/test", {}, format="json")
    assert response.status_code == 200
    assert response.json()[0]["ok"] is True
    good.refresh_from_db()
    assert good.last_test_ok is True and good.last_tested_at

    fake_llm.behave("gpt-a", "quota_openai")
    response = client_for(world.superadmin).post(f"/api/model-configs/{good.pk}/test", format="json")
    assert response.json()[0]["ok"] is False and "quota_exhausted" in response.json()[0]["message"]
    assert client_for(world.agent).post(f"/api/providers/{good.provider_id}/test", {}, format="json"
                                        ).status_code == 404


def test_usage_is_scoped_to_the_users_shops(client_for, world, llm_config, fake_llm):
    _spend(world, llm_config, fake_llm)

    assert client_for(world.superadmin).get("/api/usage/").json()["count"] == 4
    assert client_for(world.shop_admin).get("/api/usage/").json()["count"] == 3
    assert client_for(world.outsider).get("/api/usage/").json()["count"] == 1
    # A shop they do not see is answered like a shop nobody has: its id cannot be told from a free one.
    foreign = client_for(world.outsider).get(f"/api/usage/?shop={world.shop.pk}")
    unknown = client_for(world.outsider).get("/api/usage/?shop=999999")
    assert foreign.status_code == unknown.status_code == 400
    assert foreign.json()["error"] == unknown.json()["error"] == "validation_error"


@pytest.mark.parametrize("url", ["/api/usage/?date_from={t}", "/api/usage/?date_to={t}", "/api/pricing/?at={t}"])
@pytest.mark.parametrize("time", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_a_time_that_leaves_the_calendar_in_utc_is_a_400(client_for, world, url, time):
    # It overflowed while converting to UTC for the database: a 500.
    response = client_for(world.superadmin).get(url.format(t=quote(time)))
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "validation_error"


def test_a_time_filter_takes_any_offset_python_reads(client_for, world, llm_config, fake_llm):
    # PostgreSQL refuses offsets past ±15:59 (a 500 there); they are sent as UTC.
    _spend(world, llm_config, fake_llm)
    client = client_for(world.superadmin)
    assert client.get(f"/api/usage/?date_from={quote('2000-01-01T00:00:00+18:31')}").json()["count"] == 4
    assert client.get(f"/api/usage/?date_to={quote('2000-01-01T00:00:00-23:59')}").json()["count"] == 0
    assert client.get(f"/api/pricing/?at={quote('2000-01-01T00:00:00+18:31')}").status_code == 200


def test_usage_aggregates_equal_the_sum_of_the_records(client_for, world, llm_config, fake_llm):
    _spend(world, llm_config, fake_llm)

    body = client_for(world.superadmin).get("/api/usage/aggregates?by=day").json()

    records = list(UsageRecord.objects.all())
    assert body["totals"]["calls"] == len(records) == 4
    assert body["totals"]["errors"] == 1
    assert Decimal(body["totals"]["cost"]) == sum(r.cost for r in records)
    assert body["totals"]["input_tokens"] == sum(r.input_tokens for r in records)
    assert sum(row["calls"] for row in body["rows"]) == 4
    assert sum(Decimal(row["cost"]) for row in body["by_model"]) == sum(r.cost for r in records)
    mine = client_for(world.outsider).get("/api/usage/aggregates").json()
    assert mine["totals"]["calls"] == 1


@pytest.mark.parametrize("query", ["by=nonsense", "date_from=yesterday", "date_from=2026-02-01&date_to=2026-01-01",
                                   "top=0", "shop=abc"])
def test_bad_aggregate_queries_are_a_coded_400(client_for, world, query):
    response = client_for(world.superadmin).get(f"/api/usage/aggregates?{query}")
    assert response.status_code == 400 and response.json()["error"] == "validation_error"


def test_budgets_api(client_for, world):
    response = client_for(world.superadmin).post("/api/budgets/", {"shop": world.shop.pk, "monthly_limit": "50"},
                                                 format="json")
    assert response.status_code == 201 and response.json()["scope"] == "shop"
    assert client_for(world.shop_admin).get("/api/budgets/").json()["count"] == 1
    assert client_for(world.outsider).get("/api/budgets/").json()["count"] == 0
    bad = client_for(world.superadmin).post("/api/budgets/", {"monthly_limit": "50"}, format="json")
    assert bad.status_code == 400


def test_a_connection_test_asks_for_few_tokens_and_works_for_embedding_and_anthropic_configs(
    client_for, world, llm_config, anthropic_config, fake_llm, fake_anthropic
):
    chat = llm_config("gpt-a")
    embedding = llm_config("emb-a", capability="embedding")
    claude = anthropic_config("claude-a")
    for config in (chat, embedding, claude):
        response = client_for(world.superadmin).post(f"/api/model-configs/{config.pk}/test", format="json")
        assert response.json()[0]["ok"] is True, response.json()
    assert fake_llm.requests[0]["body"]["max_tokens"] == 8
    assert fake_llm.requests[1]["path"].endswith("/embeddings")
    assert fake_anthropic.requests[0]["body"]["max_tokens"] == 8


def test_the_usage_list_reads_a_fixed_number_of_queries_whatever_its_length(client_for, world, llm_config,
                                                                             fake_llm):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    llm_config("gpt-a")
    llm_config("gpt-b", priority=10, is_default=True)
    api = client_for(world.superadmin)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            response = api.get("/api/usage/")
        assert response.status_code == 200
        return len(captured), response.json()

    router.chat(HI, user=world.agent, shop=world.shop)
    few, _body = queries()
    for _ in range(8):
        router.chat(HI, user=world.agent, shop=world.shop)
    many, body = queries()

    assert many == few
    assert body["count"] == 9 and {row["model_code"] for row in body["results"]} == {"gpt-b"}
