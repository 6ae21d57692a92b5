"""Waiting for the browser to leave a page, robust to how Chrome reports an unloading page."""

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.support.ui import WebDriverWait


def wait_for_new_page(browser, old_page, timeout: float = 15) -> None:
    """Wait until ``old_page`` (an element of the page before a click) is gone.

    While the old document unloads, ChromeDriver may answer a question about its
    element with "Node with given id does not belong to the document" instead of
    a stale-element error: that, too, means the page was left.
    """

    def left(_):
        try:
            old_page.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    WebDriverWait(browser, timeout).until(left)
