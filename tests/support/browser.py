"""The Airflow UI in a real headless browser: Debian's chromium driven by Playwright's sync API.

Playwright downloads no browser here: it drives ``/usr/bin/chromium`` (installed with apt-get on demand by
:func:`tests.support.debian.require_command`) through ``executable_path``. Screenshots and page HTML go to
:func:`artifacts_dir` (``$RESTSYNC_TEST_ARTIFACTS``, default ``<repo>/test-artifacts/``, git-ignored).

Selectors follow what Airflow 3.3's React UI renders: Chakra UI fields (``role="group"`` around a
``<label>`` and its input), react-select comboboxes, zag toasts (``role="status"``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.debian import in_ci, require_command
from tests.support.processes import descendants, process_table

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

REPO = Path(__file__).resolve().parent.parent.parent
VIEWPORT = {"width": 1400, "height": 1800}  # tall enough for a whole connection form in one screenshot


def artifacts_dir() -> Path:
    """Where browser tests leave their screenshots and page HTML (created on first use)."""
    folder = Path(os.environ.get("RESTSYNC_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _missing(message: str) -> None:
    if in_ci():
        pytest.fail(message + " (CI=true: this test must not skip)")
    pytest.skip(message)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's chromium, headless, under Playwright; closed (and Playwright's driver stopped) on exit.

    Raises if a chromium process the browser started outlives it.
    """
    executable = require_command("chromium", "chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:  # the dev extra brings it
        _missing(f"playwright is not installed ({error}): pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        started = set()
        try:
            yield browser
        finally:
            started = descendants(os.getpid(), name="chrom")  # while the process tree is still intact
            browser.close()
    leftovers = started & set(process_table())
    assert not leftovers, f"chromium processes outlived the browser: {sorted(leftovers)}"


def save_page(page: Page, name: str) -> tuple[Path, Path]:
    """A full-page screenshot and the page's HTML, as ``<artifacts>/<name>.png`` and ``.html``."""
    folder = artifacts_dir()
    png, html = folder / f"{name}.png", folder / f"{name}.html"
    page.screenshot(path=str(png), full_page=True)
    html.write_text(page.content())
    return png, html


def login(page: Page, base_url: str, username: str, password: str) -> None:
    """Sign in through the simple auth manager's login form, as a person would."""
    page.goto(f"{base_url}/")
    page.wait_for_url(re.compile(r"/auth/login"))  # the UI sends an anonymous visitor to the login page
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)
    # The app shell with its navigation: the token is in place and the UI renders for the user.
    page.get_by_role("button", name="Admin").wait_for()


def field(scope: Page | Locator, label: str) -> Locator:
    """The Chakra field (``role="group"``) whose label reads ``label`` (a required field's ``*`` aside).

    Needed because Airflow's flexible form (Trigger form params, connection extras) gives the input an id
    (``element_<name>``) other than the one its label points at, so ``get_by_label`` misses those inputs.
    """
    text = re.compile(rf"^\s*{re.escape(label)}\s*\*?\s*$")
    page = scope if not hasattr(scope, "page") else scope.page  # a filter's inner locator starts at the page
    return scope.get_by_role("group").filter(has=page.locator("label").filter(has_text=text))


def field_label(scope: Page | Locator, label: str) -> Locator:
    return field(scope, label).locator("label[data-part='label']").first


def required_marker(label: Locator) -> dict[str, Any]:
    """What marks a Chakra field label required: ``data-required`` and the red ``*`` indicator span.

    Empty when the label carries no sign of being required.
    """
    signs: dict[str, Any] = {}
    if label.get_attribute("data-required") is not None:
        signs["data-required"] = True
    indicators = label.locator(".chakra-field__requiredIndicator, [data-part='required-indicator']")
    if indicators.count():
        signs["indicator"] = indicators.all_inner_texts()
    if "*" in label.inner_text():
        signs["text"] = label.inner_text()
    return signs
