"""Browser tests: the system's Chromium driven by Playwright (sync API) against pytest-django's live server.

Chromium missing: the tests are skipped with the reason, except under CI (CI set), where a missing
browser is a failure, so CI can never pass by skipping them.
"""

import os
import shutil

import pytest

# Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from a thread
# with a running loop unless told that this is deliberate (the test thread is not serving requests).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING = "Chromium not found: install Debian's chromium package to run browser tests"


def chromium_path() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_executable():
    path = chromium_path()
    if path is None:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    return path


@pytest.fixture(scope="session")
def browser(chromium_executable):
    from django.db import connections
    from playwright.sync_api import sync_playwright

    # While Playwright's event loop runs, Django keeps this thread's connections in a separate
    # (context-local) store: close them on both sides of it, or one is left open when the
    # test database is dropped at the end of the session.
    connections.close_all()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        connections.close_all()


@pytest.fixture
def new_page(browser, live_server):
    """`new_page()` → a page in a fresh browser context (its own cookies): one per person in a journey."""
    contexts = []

    def make():
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(autouse=True)
def _reference_data(transactional_db):
    """The live server needs committed data; a transactional test before us may have flushed the seeds."""
    from tests.factories_membership import ensure_reference_data

    ensure_reference_data()


@pytest.fixture(scope="module", autouse=True)
def _reference_data_after_flush(django_db_setup, django_db_blocker):
    """Each test here ends with a flush; put the seeded rows back for whatever test runs next."""
    yield
    from tests.factories_membership import ensure_reference_data

    with django_db_blocker.unblock():
        ensure_reference_data()
