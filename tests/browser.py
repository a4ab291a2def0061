"""A real headless Chromium (Debian's `chromium` + `chromium-driver`) driven by Selenium, for the
tests of web pages and HTML reports.

Why these flags: the branch LAN (and this machine) has no internet; without the background
networking switches Chromium keeps opening connections that are refused. The driver path is given
explicitly so Selenium never tries to download a driver of its own.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parent.parent / "var" / "test-artifacts"


class BrowserUnavailable(RuntimeError):
    """Chromium or its driver is missing (./run.sh test installs chromium and chromium-driver)."""


def open_chromium(width: int = 1920, height: int = 1080, *, mobile: bool = False) -> webdriver.Chrome:
    """Start headless Chromium with a fresh profile; the caller quits it (`driver.quit()`)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(path) is None:
            raise BrowserUnavailable(f"{path} not found: ./run.sh test installs chromium and chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-default-apps",
                 "--lang=zh-CN", f"--window-size={width},{height}",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='qcall-chromium-')}"):
        opts.add_argument(flag)
    if mobile:
        opts.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0}})
    return webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))


def save_screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """Keep a screenshot as a test artifact (var/test-artifacts/NAME.png) for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
