"""The knowledge import page in a real browser: one click, one import, and a sign that it is running."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from knowledge.models import KnowledgeItem
from tests.e2e.pages import wait_for_new_page
from tests.e2e.test_admin_browser import sign_in


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_double_clicked_import_sends_the_file_once_and_shows_it_is_working(world, browser, live_server, tmp_path):
    upload = tmp_path / "faq.csv"
    upload.write_text("question,answer\n" + "".join(f"问题{n}？,答案{n}\n" for n in range(20)), encoding="utf-8")
    sign_in(browser, live_server, "shopadmin")
    browser.get(f"{live_server.url}/admin/knowledge/knowledgeitem/import/")
    Select(browser.find_element(By.NAME, "shop")).select_by_value(str(world.shop.pk))
    browser.find_element(By.NAME, "file").send_keys(str(upload))
    old_page = browser.find_element(By.TAG_NAME, "html")
    state = browser.execute_script("""
        const form = document.getElementById("import-form");
        form.requestSubmit();
        const state = {disabled: document.getElementById("import-submit").disabled,
                       progress: !document.getElementById("import-progress").hidden};
        form.requestSubmit();  // the second click of a double click
        return state;
    """)
    assert state == {"disabled": True, "progress": True}
    wait_for_new_page(browser, old_page, timeout=30)
    WebDriverWait(browser, 30).until(expected_conditions.presence_of_element_located((By.ID, "import-form")))
    assert "Imported: 20 new, 0 updated, 0 skipped." in browser.page_source
    assert KnowledgeItem.objects.filter(shop=world.shop).count() == 20
    browser.back()  # the form is usable again when the person comes back to it
    WebDriverWait(browser, 15).until(
        lambda b: b.execute_script('return !document.getElementById("import-submit").disabled'))
