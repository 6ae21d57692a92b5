"""The admin in a real browser: sign in, Chinese by default, shop scoping, switching to English."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.accounts.factories import PASSWORD
from tests.e2e.pages import wait_for_new_page


def sign_in(browser, live_server, username):
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, 15).until(expected_conditions.presence_of_element_located((By.ID, "user-tools")))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_agent_signs_in_sees_only_their_shop_and_can_switch_to_english(world, browser, live_server, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    sign_in(browser, live_server, "agent")
    assert "后台管理" in browser.page_source  # a browser asking for en-US still gets Chinese by default
    browser.get(f"{live_server.url}/admin/customer_service/shop/")
    page = browser.page_source
    assert "甜品旗舰店" in page and "数码专营店" not in page
    old_page = browser.find_element(By.TAG_NAME, "html")
    Select(browser.find_element(By.NAME, "language")).select_by_value("en")
    wait_for_new_page(browser, old_page)
    assert "Select shop to view" in browser.page_source
    assert "Log out" in browser.page_source


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_wrong_password_shows_a_readable_message(world, browser, live_server, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("agent")
    browser.find_element(By.NAME, "password").send_keys("not-the-password")
    old_page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for_new_page(browser, old_page)
    assert "请输入一个正确的" in browser.page_source  # Django's own zh_Hans message for a bad login
