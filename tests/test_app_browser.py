"""The web app in a real browser: `python -m tfstyle.app` in a subprocess, driven by headless Chromium (Selenium),
with every address but 127.0.0.1 blocked. Tiny images (64 px) and few iterations keep it near a minute on 2 cores.

Skipped, with the reason, where selenium, /usr/bin/chromium or /usr/bin/chromedriver is missing.
"""

from __future__ import annotations

import urllib.parse

import helpers
import numpy as np
import pytest
from PIL import Image

app_browser = helpers.load_experiment("app_browser")
MISSING = app_browser.missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"no browser to drive: {MISSING}")

MAX_PIXELS = 1_000_000  # the server's --max_pixels: a 1200 x 1000 px upload is over it
MAX_UPLOAD_MB = 1  # the server's --max_upload_mb: a 0.6 megapixel photo of noise (1.7 MB) is over it


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / "photo.png")
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / "painting.png")
    Image.new("RGB", (1200, 1000), (200, 30, 30)).save(folder / "huge.png")  # 1.2 Mpx, a few kB
    Image.fromarray(rng.integers(0, 256, (700, 800, 3), dtype=np.uint8)).save(folder / "heavy.png")  # 1.7 MB
    from tfstyle.video import io

    ramp = np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (48, 1, 3))
    io.write_video([np.roll(ramp, 3 * index, axis=1) for index in range(4)], folder / "clip.mp4", 24)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    limits = ("--max_pixels", str(MAX_PIXELS), "--max_upload_mb", str(MAX_UPLOAD_MB))
    with app_browser.AppServer(tmp_path_factory.mktemp("models"), limits) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    driver = app_browser.make_driver()
    yield driver
    driver.quit()


@pytest.fixture
def page(server, browser):
    """The page freshly loaded (its samples in the picker), the performance log emptied first."""
    browser.get_log("performance")
    browser.get(server.url)
    app_browser.wait_for(lambda: _image_size(browser, "content"), 60, "the sample photo")
    return browser


def _image_size(driver, elem_id: str) -> tuple[int, int] | None:
    """(width, height) of the loaded picture inside `#elem_id`, or None while there is none."""
    size = driver.execute_script(
        "const i = document.querySelector(arguments[0]); return i && i.complete ? [i.naturalWidth, "
        "i.naturalHeight] : null", f"#{elem_id} img")
    return tuple(size) if size and size[0] else None


def _text(driver, elem_id: str) -> str:
    return driver.execute_script("const e = document.getElementById(arguments[0]); return e ? e.innerText : ''",
                                 elem_id)


def _displayed(driver, elem_id: str) -> bool:
    """Whether `#elem_id` is on the page and visible (Gradio leaves hidden components out of the page)."""
    return any(element.is_displayed() for element in driver.find_elements("id", elem_id))


def _command(driver, prefix: str) -> str:
    return driver.execute_script("return document.querySelector(arguments[0]).value", f"#{prefix}-command textarea")


def _upload_pair(driver, pictures) -> None:
    app_browser.upload(driver, "content", pictures / "photo.png")
    app_browser.upload(driver, "style", pictures / "painting.png")
    app_browser.wait_for(lambda: _image_size(driver, "content") == (64, 48), 30, "the uploaded photo")
    app_browser.wait_for(lambda: _image_size(driver, "style") == (40, 40), 30, "the uploaded painting")


def test_the_page_loads_with_the_network_blocked_and_asks_only_this_computer(page, server):
    """Scripts, styles and fonts all come from the app: every request went to 127.0.0.1."""
    assert page.title == "tfstyle"
    for name in ("Optimise", "Fast", "Translate", "Video"):
        app_browser.open_tab(page, name)
    urls = app_browser.requested_urls(page)
    assert any(url.startswith(server.url + "/assets/") for url in urls), urls[:20]
    assert any("/static/fonts/" in url for url in urls), "the theme's fonts should be served by the app"
    elsewhere = [url for url in urls if urllib.parse.urlsplit(url).hostname != "127.0.0.1"]
    assert not elsewhere


def test_fast_stylises_the_uploaded_photo_at_its_size_with_its_command(page, pictures):
    _upload_pair(page, pictures)
    app_browser.open_tab(page, "Fast")
    page.find_element("id", "fast-run").click()
    assert app_browser.wait_for(lambda: _image_size(page, "fast-result"), 120, "the Fast result") == (64, 48)
    assert "Done" in _text(page, "fast-status")
    assert _command(page, "fast") == "python -m tfstyle.fast.stylize --input photo.png --output photo_starry_night.png"
    assert _displayed(page, "fast-download")


def test_optimise_streams_previews_before_the_final_image(page, pictures):
    _upload_pair(page, pictures)
    app_browser.set_number(page, "opt-size", 64)
    app_browser.set_number(page, "opt-iterations", 40)
    # Every picture the result shows, in order (a preview can be replaced before a poll would see it).
    page.execute_script("""
        window.shown = [];
        const box = document.getElementById('opt-result');
        new MutationObserver(() => {
            const image = box.querySelector('img');
            if (image && image.src && window.shown[window.shown.length - 1] !== image.src) window.shown.push(image.src);
        }).observe(box, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});""")
    page.find_element("id", "opt-run").click()
    app_browser.wait_for(lambda: "Done" in _text(page, "opt-status"), 240, "the Optimise run")
    shown = page.execute_script("return window.shown")
    assert len(shown) >= 3, shown  # at least two previews (iterations 10, 20, 30, 40), then the final image
    assert shown[-1].endswith(".png")
    assert app_browser.wait_for(lambda: _image_size(page, "opt-result"), 30, "the final image") == (64, 48)
    command = _command(page, "opt")
    assert command.startswith("python -m tfstyle.optimize --content photo.png --style painting.png ")
    assert "--image_size 64 --iterations 40" in command and command.endswith("--output photo_painting.png")
    fraction = page.execute_script("return document.querySelector('#opt-progress .tfstyle-progress').dataset.fraction")
    assert float(fraction) == 1.0


def test_cancel_stops_an_optimise_run_and_frees_the_device(page, pictures):
    _upload_pair(page, pictures)
    app_browser.set_number(page, "opt-size", 64)
    app_browser.set_number(page, "opt-iterations", 2000)
    page.find_element("id", "opt-run").click()
    app_browser.wait_for(lambda: "iteration" in _text(page, "opt-status"), 240, "the first preview")
    page.find_element("id", "opt-cancel").click()
    app_browser.wait_for(lambda: "Cancelled" in _text(page, "opt-status"), 60, "the run to stop")
    assert not _displayed(page, "opt-download")
    # The queue's one device slot is free again: a Fast run goes through at once.
    app_browser.open_tab(page, "Fast")
    page.find_element("id", "fast-run").click()
    assert app_browser.wait_for(lambda: _image_size(page, "fast-result"), 60, "a Fast run after Cancel") == (64, 48)


def test_video_paints_an_uploaded_clip(page, pictures):
    app_browser.open_tab(page, "Video")
    app_browser.upload(page, "video-input", pictures / "clip.mp4")
    app_browser.wait_for(lambda: page.find_elements("css selector", "#video-input video"), 30, "the uploaded clip")
    page.find_element("id", "video-run").click()
    app_browser.wait_for(lambda: "Done" in _text(page, "video-status"), 120, "the painted clip")
    source = page.execute_script("const v = document.querySelector('#video-result video'); return v && v.src")
    assert source and source.endswith("clip_starry_night.mp4")
    assert _command(page, "video") == "python -m tfstyle.video --input clip.mp4 --output clip_starry_night.mp4"
    assert _displayed(page, "video-download")


def test_an_image_over_the_pixel_limit_is_refused_with_a_message(page, pictures):
    app_browser.upload(page, "style2", pictures / "huge.png")
    message = app_browser.wait_for(
        lambda: next((text for text in [page.execute_script("return document.body.innerText")]
                      if "megapixels" in text), None), 30, "the refusal")
    assert "huge.png is 1200x1000 px = 1.2 megapixels; the limit is 1 megapixels (--max_pixels)" in message
    # A run with it is refused too, with the same line, and the server keeps serving.
    count = lambda: page.execute_script("return document.body.innerText").count("megapixels")  # noqa: E731
    before = count()
    page.find_element("id", "opt-run").click()
    app_browser.wait_for(lambda: count() > before, 30, "the refusal of the run")
    assert "Done" not in _text(page, "opt-status")


def test_an_upload_over_the_byte_limit_is_refused_with_a_message(page, pictures):
    assert (pictures / "heavy.png").stat().st_size > MAX_UPLOAD_MB * 1_000_000
    app_browser.upload(page, "style2", pictures / "heavy.png")
    message = app_browser.wait_for(
        lambda: next((text for text in [page.execute_script("return document.body.innerText")]
                      if "maximum allowed size" in text), None), 30, "the refusal")
    assert "heavy.png" in message
    assert _image_size(page, "style2") is None  # nothing was taken
