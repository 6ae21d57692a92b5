import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils import translation


def test_a_too_short_password_is_explained_in_chinese():
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        validate_password("x9Q")

    text = " ".join(caught.value.messages)
    assert "密码长度太短" in text and "8" in text
    assert "too short" not in text


def test_a_too_short_password_is_explained_in_english():
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        validate_password("x9Q")

    assert "too short. It must contain at least 8 characters." in " ".join(caught.value.messages)
