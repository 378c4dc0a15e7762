"""Debian's Chromium, driven by Playwright (which never downloads a browser of its own).

On a developer's machine without Chromium the browser tests are skipped; in CI they must run.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def skip_without_chromium():
    """A module's `pytestmark`: skip where there is no browser, except in CI."""
    if os.environ.get("CI"):
        return pytest.mark.skipif(False, reason="CI always runs the browser tests")
    pytest.importorskip("playwright.sync_api")
    return pytest.mark.skipif(not Path(CHROMIUM).exists(),
                              reason="Debian's chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="session")
def browser():
    from playwright import sync_api as playwright_api

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe() -> Path:
    """axe-core from package.json; fetched with `npm ci` when the checkout has not got it yet."""
    if not AXE.exists() and shutil.which("npm"):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=ROOT,
                       timeout=300, check=False)
    if not AXE.exists():
        message = ("axe-core is missing for the accessibility checks: run `npm ci` in the "
                   "portal's folder (needs Node.js and npm)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return AXE
