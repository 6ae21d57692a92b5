import shutil

import pytest

from tests.plugins.servers import missing


@pytest.fixture
def browser():
    """Debian's headless chromium through its chromedriver."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        missing("Chromium", "apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,900", "--lang=en-US"):
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(driver), options=options)
    session.implicitly_wait(5)
    yield session
    session.quit()
