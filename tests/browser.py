"""Headless Debian Chromium (Playwright) for the console tests: a fresh page, and signing in."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

import pytest

try:
    from playwright.async_api import Page, async_playwright
except ImportError as exc:  # CI installs it; a missing browser stack is a failure, not a skip
    PLAYWRIGHT_MISSING: ImportError | None = exc
else:
    PLAYWRIGHT_MISSING = None

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


class ConsoleServer(Protocol):
    """What the `console_server` fixture (tests/conftest.py) gives."""

    url: str
    admin_username: str
    admin_password: str
    viewer_username: str
    viewer_password: str


@asynccontextmanager
async def chromium_page() -> AsyncIterator[Page]:
    """A fresh 1366x768 page (empty storage); fails on script errors and CSP violations."""
    if PLAYWRIGHT_MISSING is not None:
        pytest.fail(f"Playwright is not installed ({PLAYWRIGHT_MISSING}); "
                    "install it with `pip install playwright`", pytrace=False)
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package "
                    "(apt-get install chromium)", pytrace=False)
    problems: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1366, "height": 768})
            tab = await context.new_page()
            tab.on("pageerror", lambda err: problems.append(f"script error: {err}"))
            tab.on("console", lambda msg: problems.append(f"console: {msg.text}")
                   if "Content Security Policy" in msg.text else None)
            yield tab
        finally:
            await browser.close()
    assert not problems, problems


async def sign_in(page: Page, username: str, password: str) -> None:
    """Fill in the console's login form and submit it."""
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
