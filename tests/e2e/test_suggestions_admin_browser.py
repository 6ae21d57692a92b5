"""Knowledge suggestions in a real browser (Debian's chromium), in Chinese: a shop admin sees the pending
suggestion with how many times it came up, accepts it with one click on its row, and the new entry is in the
knowledge base, indexed, and found for the buyer's question."""

import pytest
from selenium.webdriver.common.by import By

from customer_service.models import ReplySource, ReviewStatus, SuggestionStatus
from customer_service.suggestions.services import knowledge_suggestion_record
from knowledge.models import KnowledgeItem
from knowledge.selectors import knowledge_item_vector_status, knowledge_search
from tests.customer_service.factories import MessageFactory, ReplyFactory, ReviewItemFactory
from tests.e2e.pages import wait_for_new_page
from tests.e2e.test_admin_browser import sign_in

QUESTION = "你们的蛋糕可以冷冻保存多久？"
ANSWER = "亲，冷冻可以保存一个月，解冻后当天吃完哦～"


def edited_draft(shop, content):
    message = MessageFactory(conversation__shop=shop, content=content)
    draft = ReplyFactory(message=message, source=ReplySource.AI, text="草稿")
    item = ReviewItemFactory(message=message, shop=shop, draft=draft, status=ReviewStatus.EDITED, final_text=ANSWER)
    return knowledge_suggestion_record(item=item)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_shop_admin_accepts_a_counted_suggestion_in_one_click(world, browser, live_server, settings, tmp_path):
    settings.LANGUAGE_CODE = "zh-hans"
    edited_draft(world.shop, QUESTION)
    suggestion = edited_draft(world.shop, "你们的蛋糕 可以冷冻保存多久?")  # the same question again: counted
    sign_in(browser, live_server, "shopadmin")
    browser.get(f"{live_server.url}/admin/customer_service/knowledgesuggestion/?status__exact=pending")

    row = browser.find_element(By.XPATH, f"//tr[.//a[contains(@href, '/{suggestion.pk}/change/')]]")
    assert QUESTION in row.text and "新增问答" in row.text and "待处理" in row.text
    assert row.find_element(By.CSS_SELECTOR, "td.field-count").text == "2"
    accept = row.find_element(By.CSS_SELECTOR, "button[data-decide=accept]")
    assert accept.text == "采纳"
    old_page = browser.find_element(By.TAG_NAME, "html")
    accept.click()
    wait_for_new_page(browser, old_page)
    browser.save_screenshot(str(tmp_path / "suggestion-accepted.png"))

    assert browser.current_url.endswith("/admin/customer_service/knowledgesuggestion/?status__exact=pending")
    assert f"已采纳“{QUESTION}”：知识库现在可以回答这个问题。" in browser.find_element(By.CSS_SELECTOR,
                                                                                    "ul.messagelist").text
    assert not browser.find_elements(By.CSS_SELECTOR, "button[data-decide]")  # nothing pending is left
    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.decided_by) == (SuggestionStatus.ACCEPTED, world.shop_admin)
    entry = KnowledgeItem.objects.get(shop=world.shop)
    assert (entry.pk, entry.question, entry.answer) == (suggestion.created_item_id, QUESTION, ANSWER)
    assert knowledge_item_vector_status(item=entry) == "fresh"
    assert knowledge_search(shop=world.shop, text=QUESTION)[0].item_id == entry.pk
