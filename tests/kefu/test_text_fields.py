"""Typed text refuses control characters through one field type; recorded text is cleaned instead."""

import pytest
from django.apps import apps
from django.db import models
from django.test import RequestFactory
from django.utils import translation

from accounts.services import client_user_agent
from kefu.fields import InputCharField, InputTextField, InputURLField
from kefu.validators import without_control_characters

PROJECT_APPS = {"accounts", "customer_service", "knowledge", "billing", "configs"}

# Text no person types into: each with why it needs no refusal.
NOT_TYPED = {
    "accounts.User.password": "a hash",
    "accounts.User.username": "Django's username validator allows letters, digits and @.+-_ only",
    "accounts.LoginSession.user_agent": "recorded request header, cleaned (client_user_agent)",
    "accounts.LoginSession.device_info": "derived from the cleaned user agent",
    "knowledge.KnowledgeVector.text": "a phrasing of an item's typed text",
    "knowledge.KnowledgeVector.text_hash": "a hash",
    "knowledge.KnowledgeVector.embedder": "the embedder's own name",
    "knowledge.KnowledgeVector.embedder_version": "the embedder's own version",
    "knowledge.IndexStamp.scope": "written by the index",
    "knowledge.IndexStamp.token": "a random token",
    "billing.ModelConfig.api_key": "a secret, stored as ciphertext",
    "customer_service.AlertEvent.key": "the raising code's own dedupe key",
    "customer_service.AlertChannel.webhook_url": "a secret, stored as ciphertext (checked as a URL on input)",
    "customer_service.AlertChannel.secret": "a secret, stored as ciphertext",
    "customer_service.AlertDelivery.last_error": "the delivery's own error text",
    "customer_service.DesktopSeenLine.conversation": "read off the window by OCR, normalised",
    "customer_service.DesktopSeenLine.speaker": "the transcript reader's own value",
    "customer_service.DesktopSeenLine.text": "read off the window by OCR, normalised",
    "customer_service.DesktopSeenLine.time": "read off the window by OCR, normalised",
    "customer_service.DesktopSeenLine.fingerprint": "a hash",
    "customer_service.DesktopSeenLine.external_id": "derived from the fingerprint",
    "customer_service.DesktopPause.reason": "the drift detector's own reason",
    "customer_service.JobRecord.summary": "written by the desktop worker",
    "customer_service.JobRecord.error": "the desktop worker's own error text",
    "billing.ModelConfig.extra_headers": "a secret JSON document, stored as ciphertext (headers checked on input)",
    "billing.UsageRecord.request_id": "a generated id",
    "billing.UsageRecord.config_name": "copied from the config's typed name",
    "billing.UsageRecord.error_code": "the router's own codes",
    "billing.UsageRecord.error_text": "the router's own messages",
    "billing.RequestLog.prompt": "recorded as JSON, which escapes control characters",
    "billing.RequestLog.response": "recorded provider output, cleaned",
    "billing.SpendCounter.period": "a date written by the budget ledger",
    "configs.ConfigHistory.user_agent": "recorded request header, cleaned (client_user_agent)",
    "configs.SystemConfig.key": "its own rule allows lower-case letters, digits and ._- only",
    "configs.SystemConfig.value": "checked by its value type in system_config_create/update (ciphertext when secret)",
    "configs.SystemConfigHistory.key": "copied from the system config's key",
    "configs.SystemConfigHistory.user_agent": "recorded request header, cleaned (client_user_agent)",
}


def text_fields():
    for model in apps.get_models():
        if model._meta.app_label not in PROJECT_APPS:
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, models.CharField | models.TextField):
                yield f"{model._meta.label}.{field.name}", field


def test_every_typed_text_field_refuses_control_characters():
    own_rules = (models.SlugField, models.EmailField, models.GenericIPAddressField)
    plain = sorted(name for name, field in text_fields()
                   if not isinstance(field, InputCharField | InputTextField | InputURLField)
                   and not field.choices and field.editable and not isinstance(field, own_rules)
                   and name not in NOT_TYPED)
    assert plain == [], "typed text belongs in kefu.fields.InputCharField / InputTextField / InputURLField"


def test_the_list_of_text_nobody_types_names_only_fields_that_exist():
    assert set(NOT_TYPED) <= {name for name, _field in text_fields()}


@pytest.mark.django_db
def test_a_shop_name_with_a_control_character_is_refused_naming_it_in_chinese(world, client_for):
    with translation.override("zh-hans"):
        response = client_for(world.superadmin).post("/api/shops/", {"name": "新店\x07", "qianniu_title": "新店"},
                                                     format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    body = response.json()
    assert response.status_code == 400 and body["error"] == "validation_error"
    assert "第 3 个字符是不可见的控制字符（U+0007）" in body["detail"]["name"][0]


@pytest.mark.django_db
def test_a_control_character_in_a_history_reason_is_refused(world):
    from configs.exceptions import ConfigValidationError
    from configs.services import system_config_create

    with pytest.raises(ConfigValidationError) as caught:
        system_config_create(actor=world.superadmin, key="a.b", value_type="string", value="x", reason="why\x00")
    assert caught.value.detail[0]["path"] == "reason" and "U+0000" in caught.value.message


def test_recorded_text_is_cleaned_with_one_replacement_character():
    assert without_control_characters("a\x00b\x1b[0m\tc\n") == "a\ufffdb\ufffd[0m\tc\n"
    request = RequestFactory().get("/", HTTP_USER_AGENT="curl/8\x00\x07")
    assert client_user_agent(request) == "curl/8\ufffd\ufffd"
