"""The web console in a real headless Chromium (Debian ``chromium`` + ``chromium-driver``,
driven by selenium): no token → the login page, a camera token → refused, an operator
logs in and sees the camera with its picture; frames streamed while the page is open
update the picture and its boxes without a reload; a class search returns exactly the
frames with that class; the frame view draws the boxes and moving the β slider from 1 to 0
loads a different picture, pulling the enhancement layer from the edge.

``POLC_CONSOLE_SCREENSHOTS=DIR`` also saves the grid and the frame view as PNGs there.
Skips (saying what to install) without chromium, chromedriver or selenium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from console_support import CAM_TOKEN, CAMERA, OP_TOKEN, running_console
from search_clip import CLIP_FRAMES, clip_detections

HALF = 17  # streamed before the page opens; the rest arrives live
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs a headless browser: apt-get install chromium chromium-driver",
)


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium (dev)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,860",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(DRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, condition, timeout: float = 20.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d) or None)


def _shot(driver, name: str) -> None:
    folder = os.environ.get("POLC_CONSOLE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / name))


def _log_in(driver, token: str) -> None:
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.ID, "login-token")
    field.clear()
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#login-form button").click()


def test_console_in_a_browser(tmp_path, small_codec, small_codec_file, frames, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with running_console(tmp_path, small_codec, small_codec_file, frames) as console:
        console.stream(range(HALF), frames["base"])
        console.wait_analysed(HALF)
        d = browser
        d.get(console.url + "/")
        _wait(d, lambda d: d.find_element(By.ID, "login").is_displayed())
        assert not d.find_element(By.ID, "cameras").is_displayed()

        _log_in(d, CAM_TOKEN)  # a camera token may not view
        error = _wait(d, lambda d: d.find_element(By.ID, "login-error").text)
        assert "Refused" in error and "operator" in error
        assert d.find_element(By.ID, "login").is_displayed()

        _log_in(d, OP_TOKEN)
        card = _wait(
            d, lambda d: d.find_elements(By.CSS_SELECTOR, f'.camera[data-camera="{CAMERA}"]')
        )[0]
        _wait(d, lambda d: card.get_attribute("data-seq") == str(HALF - 1))
        img = card.find_element(By.TAG_NAME, "img")
        assert d.execute_script("return arguments[0].naturalWidth", img) > 0
        assert all(OP_TOKEN not in c["value"] for c in d.get_cookies())
        _wait(d, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-live"))

        # live: the rest of the clip arrives while the page is open (no reload)
        d.execute_script("window.polcSamePage = true")
        console.stream(range(HALF, CLIP_FRAMES), frames["base"])
        last = CLIP_FRAMES - 1
        _wait(d, lambda d: card.get_attribute("data-seq") == str(last), timeout=30)
        assert d.execute_script("return window.polcSamePage") is True
        svg = card.find_element(By.TAG_NAME, "svg")
        assert svg.get_attribute("data-boxes") == str(len(clip_detections(last)))
        labels = [r.get_attribute("data-label") for r in svg.find_elements(By.TAG_NAME, "rect")]
        assert labels == [det.label for det in clip_detections(last)]
        _wait(d, lambda d: card.find_elements(By.CSS_SELECTOR, ".timeline button"))
        _shot(d, "console-grid.png")

        # search: exactly the frames with a person
        d.find_element(By.CSS_SELECTOR, 'a[data-view="search"]').click()
        form = _wait(d, lambda d: d.find_element(By.ID, "search-form"))
        form.find_element(By.NAME, "classes").send_keys("person")
        form.find_element(By.CSS_SELECTOR, "button").click()
        results = d.find_element(By.ID, "results")
        _wait(d, lambda d: results.get_attribute("data-done"))
        seqs = [
            int(r.get_attribute("data-seq")) for r in results.find_elements(By.CLASS_NAME, "result")
        ]
        assert seqs == [
            s for s in range(CLIP_FRAMES) if any(x.label == "person" for x in clip_detections(s))
        ]

        # the frame view: boxes, then β 1 → 0 pulls the enhancement layer
        results.find_elements(By.CLASS_NAME, "result")[0].find_element(By.TAG_NAME, "img").click()
        picture = _wait(d, lambda d: d.find_element(By.CSS_SELECTOR, "#frame-picture .picture"))
        _wait(d, lambda d: picture.get_attribute("data-beta") == "1")
        seq = seqs[0]
        assert picture.find_element(By.TAG_NAME, "svg").get_attribute("data-boxes") == str(
            len(clip_detections(seq))
        )
        assert f"#{seq}" in d.find_element(By.ID, "frame-title").text
        assert "bpp" in d.find_element(By.ID, "frame-facts").text
        at_one = picture.get_attribute("data-digest")
        d.find_element(By.ID, "beta").send_keys(Keys.HOME)
        _wait(d, lambda d: picture.get_attribute("data-beta") == "0", timeout=30)
        assert picture.get_attribute("data-digest") != at_one
        assert picture.get_attribute("data-fetched") == "true"
        assert "pulled from the edge" in d.find_element(By.ID, "frame-source").text
        assert console.answered == [seq]
        _shot(d, "console-frame.png")
