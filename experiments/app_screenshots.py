"""Screenshots of the web app's four panels for the README: docs/images/app_<panel>.png.

    python experiments/app_screenshots.py [--models_dir runs] [--output_dir docs/images]

Starts `python -m tfstyle.app` and drives it with the tests' headless Chromium (`app_browser.py`, network
blocked but for this computer): a small Optimise run (the bundled pair, 128 px, 40 iterations) and a Fast run on
the bundled photo, then the Translate and Video panels as they open.
"""

from __future__ import annotations

import os
import sys
import tempfile

import app_browser
from absl import app, flags

flags.DEFINE_string("models_dir", "runs", "the app's --models_dir (missing: only the bundled network)")
flags.DEFINE_string("output_dir", os.path.join(app_browser.REPO, "docs", "images"), "where the PNGs go")
flags.DEFINE_integer("image_size", 128, "the Optimise run's size (px)")
flags.DEFINE_integer("iterations", 40, "the Optimise run's iterations")
FLAGS = flags.FLAGS

PANELS = ("Optimise", "Fast", "Translate", "Video")
WIDTH, HEIGHT = 1280, 1500


def _text(driver, elem_id: str) -> str:
    return driver.execute_script("const e = document.getElementById(arguments[0]); return e ? e.innerText : ''",
                                 elem_id)


def main(argv: list[str]) -> int:
    del argv
    reason = app_browser.missing()
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    models_dir = FLAGS.models_dir if os.path.isdir(FLAGS.models_dir) else tempfile.mkdtemp(prefix="tfstyle-models-")
    with app_browser.AppServer(models_dir) as server:
        driver = app_browser.make_driver(WIDTH, HEIGHT)
        try:
            driver.get(server.url)
            app_browser.wait_for(lambda: driver.find_elements("css selector", "#content img"), 60, "the page")
            app_browser.set_number(driver, "opt-size", FLAGS.image_size)
            app_browser.set_number(driver, "opt-iterations", FLAGS.iterations)
            driver.find_element("id", "opt-run").click()
            app_browser.wait_for(lambda: "Done" in _text(driver, "opt-status"), 600, "the Optimise run", every=1)
            shots = {}
            for panel in PANELS:
                app_browser.open_tab(driver, panel)
                if panel == "Fast":
                    driver.find_element("id", "fast-run").click()
                    app_browser.wait_for(lambda: "Done" in _text(driver, "fast-status"), 120, "the Fast run")
                driver.execute_script("window.scrollTo(0, 0)")
                path = os.path.join(FLAGS.output_dir, f"app_{panel.lower()}.png")
                driver.save_screenshot(path)
                shots[panel] = path
        finally:
            driver.quit()
    for panel, path in shots.items():
        print(f"{panel}: {path}")
    return 0


if __name__ == "__main__":
    app.run(main)
