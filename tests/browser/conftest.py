"""Browser tests: Playwright for Python driving Debian's Chromium (never Playwright's own
download, which this network refuses). Without /usr/bin/chromium or the playwright package they
skip with the reason, unless REALIGN_REQUIRE_SERVICES=1, where they fail instead."""

import importlib.util
import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("REALIGN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def browser_missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "needs the playwright package: pip install -e '.[dev]'"
    if not CHROMIUM.exists():
        return f"needs Chromium at {CHROMIUM}: apt-get install -y chromium"
    return None


@pytest.fixture
def chromium(monkeypatch):
    reason = browser_missing()
    if reason:
        if os.environ.get("REALIGN_REQUIRE_SERVICES") == "1":
            pytest.fail(f"REALIGN_REQUIRE_SERVICES=1 and the browser test {reason}")
        pytest.skip(reason)
    # The sync API runs an event loop in this thread; Django's ORM calls from the test body are
    # still synchronous and safe. Set for these tests only (monkeypatch restores it): left in
    # the environment it would leak into later tests' subprocesses (check --deploy flags it).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium, live_server):
    contexts = []

    def make(width: int = 1280, height: int = 1000):
        context = chromium.new_context(
            base_url=live_server.url, viewport={"width": width, "height": height}
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in(page, email: str, password: str) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("#login-form input[type=submit]")
    page.wait_for_url("**/admin/")
