"""The web app in a real browser: start `python -m tfstyle.app` in a subprocess and drive headless Chromium.

Shared by `tests/test_app_browser.py` and `experiments/app_screenshots.py`:

    with AppServer(models_dir) as server, closing(make_driver()) as driver:
        driver.get(server.url)

The driver blocks every network address but this computer's (`--host-resolver-rules`, a dead proxy for anything
not on 127.0.0.1) and records the performance log, so `requested_urls(driver)` lists every request the page made.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

REPO = pathlib.Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
START_TIMEOUT_S = 180
# Everything but this computer is unreachable: unknown host names, and a proxy that refuses connections.
BLOCK_NETWORK = ("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--proxy-server=127.0.0.1:9",
                 "--proxy-bypass-list=127.0.0.1;localhost")


def missing() -> str | None:
    """Why the browser cannot run here (no selenium, chromium or chromedriver), or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) or shutil.which(os.path.basename(path))):
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AppServer:
    """`python -m tfstyle.app` on a free port in a subprocess, until the `with` block ends.

    Args:
        models_dir: its --models_dir.
        extra: more flags (e.g. ["--max_pixels", "100000"]).
    """

    def __init__(self, models_dir: str | os.PathLike, extra: tuple[str, ...] = ()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [sys.executable, "-m", "tfstyle.app", "--port", str(self.port), "--models_dir",
                        os.fspath(models_dir), *extra]
        self.process: subprocess.Popen | None = None
        self.log: list[str] = []

    def __enter__(self) -> AppServer:
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))
        self.process = subprocess.Popen(self.command, cwd=REPO, text=True, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT,
                                        env={**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2"})
        started = threading.Event()

        def read():
            for line in self.process.stdout:
                self.log.append(line.rstrip())
                if line.startswith("tfstyle app: "):
                    started.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not started.wait(0.5):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("the app did not start:\n" + "\n".join(self.log[-30:]))
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def make_driver(width: int = 1280, height: int = 1600, block_network: bool = True):
    """Headless Chromium through /usr/bin/chromedriver, its performance log on (for `requested_urls`)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM if os.path.isfile(CHROMIUM) else shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={width},{height}", *(BLOCK_NETWORK if block_network else ())):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = Service(CHROMEDRIVER if os.path.isfile(CHROMEDRIVER) else shutil.which("chromedriver"))
    return webdriver.Chrome(service=service, options=options)


def requested_urls(driver) -> list[str]:
    """Every URL the page requested since the last call (HTTP(S), WebSocket, EventSource; not data:/blob:)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            urls.append(message["params"]["url"])
    return [url for url in urls if urllib.parse.urlsplit(url).scheme not in ("data", "blob")]


def open_tab(driver, name: str) -> None:
    """Clicks the panel tab called `name` ("Optimise", "Fast", "Translate", "Video")."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.XPATH, f"//button[@role='tab' and normalize-space()='{name}']").click()


def set_number(driver, elem_id: str, value) -> None:
    """Types `value` into the number box of the slider or number field `#elem_id` (and leaves it)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input[type=number]")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(value), Keys.TAB)


def upload(driver, elem_id: str, path: str | os.PathLike) -> None:
    """Sets the file of the upload component `#elem_id`."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input[type=file]").send_keys(os.fspath(path))


def wait_for(condition, timeout: float, what: str, every: float = 0.2):
    """Polls `condition()` until it returns something true; TimeoutError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"{what}: not within {timeout:g} s")
