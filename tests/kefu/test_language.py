import pytest


@pytest.fixture(autouse=True)
def _product_default_language(settings):
    settings.LANGUAGE_CODE = "zh-hans"


def test_the_product_default_is_simplified_chinese():
    from kefu.settings import base

    assert base.LANGUAGE_CODE == "zh-hans" and base.TIME_ZONE == "Asia/Shanghai"


@pytest.mark.django_db
def test_the_admin_speaks_simplified_chinese_by_default(client):
    page = client.get("/admin/login/").content.decode()
    assert "登录" in page and "kefu 智能客服后台" in page


@pytest.mark.django_db
def test_english_can_be_chosen(client):
    client.post("/i18n/setlang/", {"language": "en", "next": "/admin/login/"})
    page = client.get("/admin/login/").content.decode()
    assert "Log in" in page and "kefu customer service" in page


@pytest.mark.django_db
def test_api_errors_follow_the_chosen_language(client):
    zh = client.post("/api/auth/login", {"username": "nobody", "password": "x"}, content_type="application/json")
    assert zh.json()["message"] == "用户名或密码错误。"
    en = client.post("/api/auth/login", {"username": "nobody", "password": "x"}, content_type="application/json",
                     HTTP_ACCEPT_LANGUAGE="en")
    assert en.json()["message"] == "The username or password is wrong."


def test_times_are_stored_in_utc_and_shown_in_shanghai(settings):
    assert settings.USE_TZ is True and settings.TIME_ZONE == "Asia/Shanghai"


@pytest.mark.django_db
def test_a_browser_set_to_english_still_gets_the_chinese_admin_until_english_is_chosen(client, world):
    page = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "登录" in page
    client.force_login(world.superadmin)
    index = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert 'name="language"' in index and "后台管理" in index
    client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    assert "Back office" in client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
