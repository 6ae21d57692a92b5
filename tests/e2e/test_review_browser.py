"""The review queue in a real browser: an agent inserts a template, edits and approves; a second agent who had
the same item open gets the 409 message on the page."""

import shutil

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from customer_service.models import OutgoingReply, ReviewItem
from customer_service.shops.choices import ShopRole
from tests.accounts.factories import UserFactory
from tests.configs.factories import shop_settings_template_ensure
from tests.customer_service.factories import (
    MessageFactory,
    ReplyTemplateFactory,
    ReviewItemFactory,
    ShopMembershipFactory,
)
from tests.e2e.pages import wait_for_new_page
from tests.e2e.test_admin_browser import sign_in
from tests.plugins.servers import missing

DRAFT = "亲，XL有货的哦～"


@pytest.fixture
def second_browser():
    """Another headless chromium, with its own cookies: a second person at another desk."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        missing("Chromium", "apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,900", "--lang=en-US"):
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(driver), options=options)
    session.implicitly_wait(5)
    yield session
    session.quit()


def click_and_wait(browser, element):
    old_page = browser.find_element(By.TAG_NAME, "html")
    element.click()
    wait_for_new_page(browser, old_page)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_agent_inserts_a_template_edits_and_approves_and_a_second_agent_gets_the_409(
        world, browser, second_browser, live_server, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    shop_settings_template_ensure()
    ShopMembershipFactory(shop=world.shop, user=UserFactory(username="agent2"), role=ShopRole.AGENT)
    item = ReviewItemFactory(message__conversation__shop=world.shop, message__content="有XL吗", draft__text=DRAFT,
                             draft__confidence=0.72)
    MessageFactory(conversation=item.message.conversation, content="在吗", burst_head=item.message)
    ReplyTemplateFactory(shop=world.shop, code="thanks", text="感谢您的支持～")
    item_url = f"{live_server.url}/admin/customer_service/reviewitem/{item.pk}/change/"

    # The second agent opens the same item first and leaves it open.
    sign_in(second_browser, live_server, "agent2")
    second_browser.get(item_url)
    assert second_browser.find_element(By.ID, "id_text").get_property("value") == DRAFT

    # The first agent: the queue, the item, a template inserted, an edit, approve.
    sign_in(browser, live_server, "agent")
    browser.get(f"{live_server.url}/admin/customer_service/reviewitem/")
    assert "有XL吗" in browser.page_source
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "有XL吗"))
    page = browser.page_source
    assert "在吗" in page and "0.72" in page and "review.js" in page
    box = browser.find_element(By.ID, "id_text")
    assert box.get_property("value") == DRAFT
    box.click()
    box.send_keys(Keys.CONTROL, Keys.END)
    box.send_keys("今天下单明天发。")
    code = browser.find_element(By.ID, "template-code")
    code.send_keys("thanks")
    code.send_keys(Keys.ENTER)  # inserts at the cursor; it does not submit
    WebDriverWait(browser, 5).until(
        lambda b: b.find_element(By.ID, "id_text").get_property("value") == DRAFT + "今天下单明天发。感谢您的支持～")
    code.send_keys("nosuch", Keys.ENTER)
    assert browser.find_element(By.ID, "template-error").is_displayed()
    click_and_wait(browser, browser.find_element(By.ID, "approve"))
    assert "/admin/customer_service/reviewitem/" in browser.current_url
    assert "感谢您的支持～" in browser.page_source  # the success message quotes what was queued

    item.refresh_from_db()
    item.message.refresh_from_db()
    assert (item.status, item.reviewer.username) == ("edited", "agent")
    assert item.message.status == "answered"
    outgoing = OutgoingReply.objects.get()
    assert (outgoing.state, outgoing.text) == ("queued", DRAFT + "今天下单明天发。感谢您的支持～")

    # The second agent approves the page they had open: the 409 message, not an error page.
    click_and_wait(second_browser, second_browser.find_element(By.ID, "approve"))
    WebDriverWait(second_browser, 5).until(expected_conditions.presence_of_element_located((By.ID, "decision")))
    page = second_browser.page_source
    assert "有人先处理了" in page, page[:2000]
    assert "Server Error" not in page and "Traceback" not in page
    assert OutgoingReply.objects.count() == 1
    assert ReviewItem.objects.get(pk=item.pk).reviewer.username == "agent"
