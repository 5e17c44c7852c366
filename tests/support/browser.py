"""Debian's Chromium driven by Playwright (never a browser that Playwright downloads), and what the browser tests do
on a page."""
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@contextmanager
def browser_page(width: int = 1280, height: int = 900):
    """A page of a fresh headless Chromium; the test is skipped where Playwright is not installed."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser.new_page(viewport={"width": width, "height": height}, accept_downloads=True)
        finally:
            browser.close()


@contextmanager
def screenshot_on_failure(page, path: Path):
    try:
        yield
    except BaseException as e:
        page.screenshot(path=str(path), full_page=True)
        raise AssertionError(f"{e}\n(screenshot of the page: {path})") from e


def open_app(page, url: str) -> None:
    page.goto(url, timeout=90_000)
    page.locator("#examples").get_by_role("button").first.wait_for(timeout=90_000)


def top_label(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} h2, #{elem_id} .output-class").first.inner_text(timeout=60_000).strip()


def download(page, locator, dest: Path) -> Path:
    locator.wait_for(timeout=60_000)
    with page.expect_download() as download:
        locator.click()
    download.value.save_as(dest)
    return dest


def loaded_width(page, image) -> int:
    """The natural width of an <img> once the browser has loaded it (an image still loading reads 0)."""
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    return image.evaluate("img => img.naturalWidth")


def file_link(page, elem_id: str, name: str):
    return page.locator(f"#{elem_id} tr:has(td[aria-label='{name}']) a").first


def type_model(page, elem_id: str, name: str) -> None:
    """Type a model into a model box (a dropdown that takes typed values): its input, the name, Enter."""
    box = page.locator(f"#{elem_id} input").first
    box.click()
    box.fill(name)
    box.press("Enter")
    page.wait_for_function("([box, name]) => box.value === name", arg=[box.element_handle(), name])


def no_bare_error(page) -> None:
    """Gradio's "Error" badges on outputs stay hidden, and every error toast carries a message."""
    badges = [e for e in page.locator('[data-testid="status-tracker"] .error').all() if e.is_visible()]
    assert not badges, f"{len(badges)} bare 'Error' badges shown"
    for toast in page.locator('[data-testid="toast-body"]').all():
        texts = toast.locator('[data-testid="toast-text"]').all_inner_texts()
        assert texts and all(len(t.strip()) > 10 for t in texts), toast.inner_text()
