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


@pytest.fixture(scope="module")
def chromium():
    """One Chromium for the tests of a module (a launch took seconds of each test's setup);
    each test still gets contexts of its own (``new_page``): no cookie, storage or page is
    shared. Module-scoped, so the browser, and the environment variable below, end before
    pytest moves on to another module's tests on the same worker."""
    reason = browser_missing()
    if reason:
        if os.environ.get("REALIGN_REQUIRE_SERVICES") == "1":
            pytest.fail(f"REALIGN_REQUIRE_SERVICES=1 and the browser test {reason}")
        pytest.skip(reason)
    # The sync API runs an event loop in this thread; Django's ORM calls from the test body are
    # still synchronous and safe. Set for these tests only (the MonkeyPatch restores it): left
    # in the environment it would leak into later tests' subprocesses (check --deploy flags it).
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as monkeypatch, sync_playwright() as p:
        monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
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
    # Each Playwright call leaves its event loop set as this thread's running loop, and Django's
    # connections are then looked up per async context (asgiref's Local), not per thread: the
    # test body's ORM calls after the first page action open a connection of their own, which
    # pytest-django neither sees nor closes. It stayed idle to the end of the session ("SELECT
    # accounts_user..." of ``alert.resolved_by``) and held up the drop of the test database.
    # Here the loop is still set, so this closes that connection and only that one.
    from django.db import connections

    connections.close_all()


def sign_in(page, email: str, password: str) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("#login-form input[type=submit]")
    page.wait_for_url("**/admin/")
