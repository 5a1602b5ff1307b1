"""Headless Chromium driven with Playwright's sync API, as a person uses the pages."""

import shutil
from pathlib import Path

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_executable() -> Path:
    return Path(shutil.which("chromium") or "/usr/bin/chromium")


def new_page(browser, problems: list, viewport: dict = DESKTOP):
    """A page that records the console's errors in `problems`."""
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(TIMEOUT_MS)
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    return page


def signed_in_page(browser, server, problems: list, viewport: dict = DESKTOP, username: str = "demo"):
    """A page signed in as `username` (password: the same as the demo's), on the list of submissions."""
    page = new_page(browser, problems, viewport)
    page.goto(f"http://127.0.0.1:{server.port}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"http://127.0.0.1:{server.port}/")
    return page
