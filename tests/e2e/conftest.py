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


@pytest.fixture
def desktop_shop(world, qianniu, settings, tmp_path):
    """The shop of the fake window, its desktop switched on with the window's regions, a knowledge item that
    answers QUESTION on its own (auto mode, thresholds at its confidence)."""
    from configs import services as config_services
    from knowledge import services as knowledge_services
    from knowledge.index import forget
    from knowledge.selectors import knowledge_search
    from tests.configs.factories import shop_settings_template_ensure
    from tests.e2e.desktop_harness import ANSWER, QUESTION

    settings.KEFU_DESKTOP_LOCK_PATH = str(tmp_path / "send.lock")
    forget()
    shop_settings_template_ensure()
    world.shop.qianniu_title = qianniu.title
    world.shop.save()
    knowledge_services.knowledge_item_create(actor=world.superadmin, shop=world.shop, question=QUESTION,
                                             answer=ANSWER, keywords=["快递", "中通"],
                                             similar_questions=["发的什么快递", "用哪家快递"])
    confidence = min(knowledge_search(shop=world.shop, text=text, k=1)[0].confidence
                     for text in (QUESTION, "在吗，这款，发什么快递？"))
    badge = qianniu.layout.get("badge_colour", "#ff3b30")
    regions = {name: dict(zip("xywh", getattr(qianniu.regions, name).as_list(), strict=True))
               for name in ("conversation_list", "chat_header", "transcript", "input_box", "send_button")}
    config_services.shop_settings_update(shop=world.shop, actor=world.superadmin, values={
        "auto_mode": True, "auto_send_threshold": confidence, "draft_threshold": min(confidence, 0.6),
        "reply_delay_seconds": 0,
        "desktop": {"enabled": True, "regions": regions, "window_width": qianniu.size[0],
                    "window_height": qianniu.size[1], "badge_colour": badge, "readback_timeout_seconds": 2},
    })
    yield world.shop
    forget()
