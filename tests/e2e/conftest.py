import os
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


@pytest.fixture(scope="session")
def xvfb():
    """A virtual X screen for the session; DISPLAY points at it (the clipboard tool reads it too)."""
    for tool, package in (("Xvfb", "xvfb"), ("xclip", "xclip")):
        if not shutil.which(tool):
            missing(tool, f"apt-get install {package}")
    from tests.e2e.desktop_harness import Xvfb

    try:
        server = Xvfb()
    except RuntimeError as exc:
        missing("Xvfb", str(exc))
    previous = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = server.display
    yield server
    if previous is None:
        os.environ.pop("DISPLAY", None)
    else:
        os.environ["DISPLAY"] = previous
    server.stop()


@pytest.fixture(scope="session")
def ocr_engine():
    """One RapidOCR for the session: loading the models takes a second or two."""
    from customer_service.desktop.ocr import OcrEngine

    engine = OcrEngine()
    engine.engine  # noqa: B018 - load the models now, not inside the first test's timing
    return engine


@pytest.fixture(scope="module", params=["default", "alt"])
def fake_qianniu(request, xvfb):
    """The fake Qianniu window, once in its default look and once in another one (module-wide; reset per test
    by ``qianniu``)."""
    from tests.e2e.desktop_harness import ALT_LAYOUT, FakeWindow

    window = FakeWindow(xvfb.display, ALT_LAYOUT if request.param == "alt" else None)
    yield window
    window.stop()


@pytest.fixture
def qianniu(fake_qianniu):
    fake_qianniu.command("reset")
    return fake_qianniu


@pytest.fixture
def desktop(xvfb):
    from customer_service.desktop.platform.x11 import X11Desktop

    screen = X11Desktop(xvfb.display)
    yield screen
    screen.close()
