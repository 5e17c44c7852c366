"""The demo in a real browser: Debian's Chromium driven by Playwright."""
import shutil

import pytest

from vitspace import bench as vb
from vitspace import compress as vc
from vitspace.data import CIFAR10_CLASSES

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser.new_page(viewport={"width": 1280, "height": 900})
        browser.close()


def _open(page, url: str) -> None:
    page.goto(url, timeout=90_000)
    page.locator("#examples").get_by_role("button").first.wait_for(timeout=90_000)


def _top_label(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} h2, #{elem_id} .output-class").first.inner_text(timeout=60_000).strip()


def test_example_click_shows_both_models_labels(page, app_url, tmp_path):
    _open(page, app_url)
    page.locator("#examples").get_by_role("button").first.click()
    page.locator("#summary").get_by_text("The models").wait_for(timeout=60_000)
    for elem_id in ("label-a", "label-b"):
        assert _top_label(page, elem_id) in CIFAR10_CLASSES
    summary = page.locator("#summary").inner_text()
    assert "vit-tiny-cifar10" in summary and "deit-tiny-cifar10" in summary and " ms" in summary
    page.screenshot(path=str(tmp_path / "classify.png"))


def test_bad_upload_shows_a_clear_message_and_the_app_keeps_working(page, app_url, tmp_path):
    bad = tmp_path / "photo.jpg"
    bad.write_text("this is not an image")
    _open(page, app_url)
    page.locator("input[type=file]").first.set_input_files(str(bad))
    toast = page.get_by_text("not an image, or an image format that cannot be read")
    toast.wait_for(timeout=60_000)
    assert "Traceback" not in page.content()
    page.locator("#examples").get_by_role("button").nth(3).click()
    page.locator("#summary").get_by_text("The models").wait_for(timeout=60_000)
    assert _top_label(page, "label-a") in CIFAR10_CLASSES


def test_compress_tab_builds_a_lite_file_that_loads(page, app_url, tmp_path):
    import torch
    from torch.jit.mobile import _load_for_lite_interpreter
    _open(page, app_url)
    page.get_by_role("tab", name="Compress").click()
    page.get_by_label("Architecture only (random weights)", exact=True).check()
    for name in vc.VARIANTS:
        if name != "int8-mobile.ptl":
            page.get_by_label(name, exact=True).uncheck()
    page.get_by_role("button", name="Build").click()
    link = page.locator("#compress-files tr:has(td[aria-label='int8-mobile.ptl']) a").first
    link.wait_for(timeout=120_000)
    with page.expect_download() as download:
        link.click()
    path = tmp_path / "int8-mobile.ptl"
    download.value.save_as(path)
    module = _load_for_lite_interpreter(str(path))
    assert module(torch.rand(1, 3, 32, 32)).shape == (1, 10)
    table = page.locator("#compress-table").inner_text()
    assert "int8-mobile.ptl" in table and "ok" in table

    page.get_by_role("tab", name="Model card").click()
    page.get_by_role("button", name="Render the card of the last build").click()
    preview = page.locator("#card-preview")
    preview.get_by_text("int8-mobile.ptl").first.wait_for(timeout=60_000)
    assert "deit-tiny-cifar10" in preview.inner_text() and "{{" not in preview.inner_text()


def test_benchmark_tab_measures_plots_and_stops(page, app_url):
    _open(page, app_url)
    page.get_by_role("tab", name="Benchmark").click()
    page.get_by_label("Architecture only (random weights)", exact=True).nth(-1).check()
    for name in vb.BENCH_VARIANTS:
        box = page.get_by_label(name, exact=True).nth(-1)
        box.check() if name in ("eager-fp32", "seed-qnnpack-int8") else box.uncheck()
    page.get_by_role("button", name="Run benchmark").click()
    page.locator("#bench-about").get_by_text("Measured in").wait_for(timeout=120_000)
    table = page.locator("#bench-table").inner_text()
    assert "eager-fp32" in table and "seed-qnnpack-int8" in table and "ok" in table
    page.locator("#bench-latency canvas, #bench-latency svg").first.wait_for(timeout=30_000)

    page.get_by_label("32", exact=True).check()  # a new configuration: measured again, and stopped
    for name in ("eager-bf16", "int8.pt", "model.onnx"):
        page.get_by_label(name, exact=True).nth(-1).check()
    page.get_by_role("button", name="Run benchmark").click()
    page.get_by_text("[1/").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Benchmark stopped: nothing was saved.").first.wait_for(timeout=120_000)
