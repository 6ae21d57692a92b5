import pytest
from django.core.exceptions import ValidationError

from billing.exceptions import BillingError
from configs.exceptions import ConfigValidationError
from kefu.exceptions import KefuError, full_clean, problems_text, validation_problems
from knowledge.exceptions import KnowledgeError
from knowledge.models import KnowledgeItem


def test_every_message_is_kept_with_its_field_and_the_object_s_own_under_no_field():
    exc = ValidationError({"name": ["Too long.", "Not unique."], "__all__": ["Periods overlap."]})
    assert validation_problems(exc) == [("name", "Too long."), ("name", "Not unique."), ("", "Periods overlap.")]
    assert validation_problems(ValidationError(["One.", "Two."])) == [("", "One."), ("", "Two.")]


def test_the_message_names_every_problem_in_one_readable_line():
    assert problems_text([("name", "Too long."), ("", "Periods overlap."), ("code", "bad"), ("x", "y")]) == (
        "name: Too long. Periods overlap. code: bad; x: y")


def test_a_validator_error_is_given_the_field_it_checked():
    error = KnowledgeError.from_validation_error(ValidationError("Contains U+0000."), field="keywords",
                                                 code="invalid_item")
    assert (error.code, error.message, error.detail) == ("invalid_item", "keywords: Contains U+0000.",
                                                         {"keywords": ["Contains U+0000."]})


def test_each_family_keeps_its_code_and_its_detail_shape():
    exc = ValidationError({"temperature": ["Too hot."], "__all__": ["Bad."]})
    config = ConfigValidationError.from_validation_error(exc)
    assert config.code == "config_invalid" and config.detail == [
        {"path": "temperature", "message": "Too hot."}, {"path": "(root)", "message": "Bad."}]
    billing = BillingError.from_validation_error(exc, code="invalid_texts", detail={"index": 2})
    assert (billing.code, billing.detail, billing.status_code) == ("invalid_texts", {"index": 2}, 400)
    assert isinstance(billing, KefuError) and billing.message == "temperature: Too hot. Bad."


@pytest.mark.django_db
def test_full_clean_raises_the_family_s_coded_error():
    with pytest.raises(KnowledgeError) as caught:
        full_clean(KnowledgeItem(question="", answer="x"), error=KnowledgeError, code="invalid_item")
    assert caught.value.code == "invalid_item" and "question" in caught.value.detail
    assert caught.value.message.startswith("question: ")
