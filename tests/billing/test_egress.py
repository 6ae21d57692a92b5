"""Provider base URLs of configs held by someone who is not a superadmin: https to public addresses only,
checked when saved and again when called; a superadmin may allow further hosts."""

import socket

import pytest

from billing import egress
from billing.models import ModelConfig, UsageRecord
from tests.billing.factories import ProviderFactory

SSRF_URL = "http://127.0.0.1:8000/health#"


def create(client, **fields):
    provider = ProviderFactory(code="custom")
    return client.post("/api/model-configs/", {"name": "mine", "provider": provider.pk, "model_code": "gpt-x",
                                               "api_key": "sk-mine-000000001111", **fields}, format="json")


@pytest.mark.parametrize("address, public", [
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.9", False), ("192.168.1.1", False),
    ("169.254.169.254", False),  # AWS, GCP, Azure metadata
    ("100.100.100.200", False),  # Alibaba Cloud metadata (shared address space)
    ("0.0.0.0", False), ("::1", False), ("fe80::1", False), ("fd00:ec2::254", False),  # noqa: S104 (AWS metadata over IPv6)
    ("::ffff:127.0.0.1", False), ("224.0.0.1", False),
    ("8.8.8.8", True), ("2606:4700:4700::1111", True),
])
def test_only_public_addresses_count_as_public(address, public):
    assert egress._public(address) is public


@pytest.mark.parametrize("url", [SSRF_URL, "https://127.0.0.1/v1", "https://[::1]/v1", "https://localhost/v1",
                                 "https://169.254.169.254/latest", "http://8.8.8.8/v1", "ftp://8.8.8.8/", "https:///v1"])
def test_loopback_private_metadata_and_plain_http_urls_are_refused(db, url):
    with pytest.raises(egress.EgressRefused):
        egress.check_url(url, allowed=set())


def test_an_https_url_to_a_public_address_is_accepted():
    egress.check_url("https://8.8.8.8/v1", allowed=set())  # a numeric host: resolved without the network


def test_a_signed_in_person_cannot_point_their_config_at_the_server_itself(client_for, world):
    response = create(client_for(world.agent), base_url=SSRF_URL)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "validation_error" and "base_url" in response.json()["detail"]
    assert not ModelConfig.objects.exists()


def test_a_config_on_the_providers_loopback_default_is_refused_too(client_for, world):
    assert create(client_for(world.agent)).status_code == 400  # the factory's provider answers on 127.0.0.1


def test_a_superadmins_system_config_may_use_any_url(client_for, world):
    assert create(client_for(world.superadmin), base_url=SSRF_URL).status_code == 201


def test_an_allowed_host_is_accepted_and_called(client_for, world, fake_llm, llm_config, allow_provider_hosts):
    allow_provider_hosts(f"127.0.0.1:{fake_llm.port}")
    config = llm_config("gpt-own", owner=world.agent)
    response = client_for(world.agent).post(f"/api/model-configs/{config.pk}/test", format="json")
    assert response.json()[0]["ok"] is True, response.content
    assert fake_llm.calls["gpt-own"] == 1


def test_the_url_is_checked_again_when_called(client_for, world, fake_llm, llm_config, allow_provider_hosts):
    allow_provider_hosts(f"127.0.0.1:{fake_llm.port}")
    config = llm_config("gpt-own", owner=world.agent)
    allow_provider_hosts()  # the superadmin takes the allowance back after the config was saved
    response = client_for(world.agent).post(f"/api/model-configs/{config.pk}/test", format="json")
    assert response.json()[0]["ok"] is False
    assert fake_llm.calls["gpt-own"] == 0  # no request reached the loopback server
    record = UsageRecord.objects.get(config=config)
    assert record.error_code == "connection" and "https" in record.error_text


def test_a_name_that_resolves_elsewhere_after_the_check_is_refused_when_called(world, monkeypatch):
    # DNS rebinding: a public address when saved, loopback when called. The resolver is replaced
    # because no name server runs here; the transport resolves again and refuses to connect.
    from billing.services import model_config_create

    answers = iter(["8.8.8.8", "127.0.0.1"])

    def resolve(host, port, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(egress.socket, "getaddrinfo", resolve)
    provider = ProviderFactory(code="custom")
    config = model_config_create(actor=world.agent, provider=provider, name="mine", model_code="gpt-x",
                                 api_key="sk-mine-000000001111", owner=world.agent,
                                 base_url="https://provider.example/v1")
    client = egress.http_client_for(config, timeout=5)
    with pytest.raises(Exception, match="loopback"):
        client.post("https://provider.example/v1/chat/completions", json={})


def test_the_admin_refuses_the_url_on_the_field(client, world, allow_provider_hosts):
    from django.urls import reverse

    from tests.billing.factories import ModelConfigFactory

    allow_provider_hosts("127.0.0.1:9")  # the factory's provider URL: the config can be opened and saved
    config = ModelConfigFactory(owner=world.shop_admin, provider=ProviderFactory(code="deepseek"))
    client.force_login(world.shop_admin)
    url = reverse("admin:billing_modelconfig_change", args=[config.pk])
    form = client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update({"provider": config.provider.pk, "model": config.model_id, "new_extra_headers": "",
                 "base_url": SSRF_URL})
    response = client.post(url, data)
    assert response.status_code == 200  # the form again, with the error
    assert "https" in str(response.context["adminform"].form.errors)
    config.refresh_from_db()
    assert config.base_url == ""
