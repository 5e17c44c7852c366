"""The demo in a real browser: Debian's Chromium driven by Playwright, against `python app.py` as users run it."""
import pytest
from support import EXAMPLES
from support.browser import (
    browser_page,
    download,
    file_link,
    loaded_width,
    no_bare_error,
    open_app,
    screenshot_on_failure,
    top_label,
    type_model,
)
from support.hubcache import PETS

from vitspace.bench.variants import BENCH_VARIANTS
from vitspace.data.folders import CIFAR10_CLASSES
from vitspace.export import VARIANTS, default_files, missing_packages
from vitspace.train.record import CURVES, CURVES_FILE


@pytest.fixture(scope="module")
def page():
    with browser_page() as page:
        yield page


@pytest.mark.slow
def test_a_user_walks_every_tab(page, app_url, tmp_path):
    """Classify an example, build the default files, load the downloaded .ptl, benchmark, then the card."""
    import torch
    from huggingface_hub import ModelCard
    from torch.jit.mobile import _load_for_lite_interpreter

    import vitspace as vs
    with screenshot_on_failure(page, tmp_path / "walk.png"):
        open_app(page, app_url)
        page.locator("#examples").get_by_role("button").first.click()
        page.locator("#summary").get_by_text("The models").wait_for(timeout=60_000)
        assert top_label(page, "label-a") == top_label(page, "label-b") == "airplane"
        teacher = vs.get_spec("deit-tiny-cifar10").teacher
        assert f"distilled on CIFAR-10 from {teacher}" in page.locator("#summary").inner_text()
        for elem_id in ("map-a", "map-b"):  # both overlays, drawn at display size, once the browser has them
            assert loaded_width(page, page.locator(f"#{elem_id} img").first) >= 256
        heads = page.locator("#heads").inner_text()
        assert "class head" in heads and "distillation head" in heads and f"teacher {teacher}" in heads
        assert "heads agree" in heads or "heads disagree" in heads
        page.screenshot(path=str(tmp_path / "classify-attention.png"), full_page=True)

        page.get_by_role("tab", name="Compress").click()
        page.get_by_role("button", name="Build").click()
        file_link(page, "compress-files", "int8-mobile.ptl").wait_for(timeout=900_000)
        table = page.locator("#compress-table").inner_text()
        for name in default_files():  # token merging's files are built when ticked
            assert name in table
        ptl = download(page, file_link(page, "compress-files", "int8-mobile.ptl"), tmp_path / "int8-mobile.ptl")
        if not missing_packages(VARIANTS["model-int8.xml"]):  # an IR is downloadable with its weights beside it
            file_link(page, "compress-files", "model-int8.bin").wait_for(timeout=30_000)
        clf = vs.get_classifier("deit-tiny-cifar10")
        x = clf.preprocess([vs.load_image(EXAMPLES / "ship.jpg")])
        with torch.inference_mode():
            eager = clf.module(x).argmax(1)
        assert _load_for_lite_interpreter(str(ptl))(x).argmax(1).item() == eager.item() == clf.labels.index("ship")

        page.get_by_role("tab", name="Benchmark").click()
        for name in BENCH_VARIANTS:
            box = page.get_by_label(name, exact=True).nth(-1)
            box.check() if name in ("eager-fp32", "int8-mobile.ptl") else box.uncheck()
        page.get_by_role("button", name="Run benchmark").click()
        page.locator("#bench-about").get_by_text("Measured in").wait_for(timeout=300_000)
        table = page.locator("#bench-table").inner_text()
        assert "eager-fp32" in table and "int8-mobile.ptl" in table and "ok" in table
        page.locator("#bench-latency canvas, #bench-latency svg").first.wait_for(timeout=30_000)

        page.get_by_role("tab", name="Model card").click()
        page.get_by_role("button", name="Render the card of the last build").click()
        page.locator("#card-preview").get_by_text("int8-mobile.ptl").first.wait_for(timeout=60_000)
        curves = page.locator("#card-preview img[alt*='top-1 by epoch']").first  # served from the build folder
        curves.wait_for(timeout=30_000)
        assert loaded_width(page, curves) > 400
        readme = download(page, file_link(page, "card-file", "README.md"), tmp_path / "README.md")
        png = download(page, file_link(page, "card-file", CURVES_FILE), tmp_path / CURVES_FILE)
        assert png.read_bytes() == CURVES.read_bytes(), "the figure the card links travels with it"
        card = ModelCard.load(readme)
        assert "deit-tiny-cifar10" in card.text and "{{" not in card.text and card.data.license
        # run locally without a token: the page says how to publish, and asks for no token
        access = page.locator("#publish-access").inner_text()
        assert "HF_TOKEN" in access and "python -m vitspace.card.publish" in access
        assert page.locator("#publish").count() == 0 and page.locator("input[type=password]").count() == 0
        no_bare_error(page)


def test_bad_upload_shows_a_clear_message_and_the_app_keeps_working(page, app_url, tmp_path):
    bad = tmp_path / "photo.jpg"
    bad.write_text("this is not an image")
    with screenshot_on_failure(page, tmp_path / "bad-upload.png"):
        open_app(page, app_url)
        page.locator("input[type=file]").first.set_input_files(str(bad))
        page.locator("#summary").get_by_text("not an image, or an image format that cannot be read").wait_for(
            timeout=60_000)
        assert "Could not classify this image." in page.locator("#summary").inner_text()
        assert "Traceback" not in page.content()
        no_bare_error(page)
        page.locator("#examples").get_by_role("button").nth(3).click()
        page.locator("#summary").get_by_text("The models").wait_for(timeout=60_000)
        assert top_label(page, "label-a") in CIFAR10_CLASSES

        page.get_by_role("tab", name="Compress").click()
        for name in VARIANTS:
            page.get_by_label(name, exact=True).uncheck()
        page.get_by_role("button", name="Build").click()
        page.get_by_text("Choose at least one format.").wait_for(timeout=30_000)
        no_bare_error(page)


def test_benchmark_can_be_stopped(page, app_url, tmp_path):
    with screenshot_on_failure(page, tmp_path / "bench-stop.png"):
        open_app(page, app_url)
        page.get_by_role("tab", name="Benchmark").click()
        page.get_by_label("Architecture only", exact=True).nth(-1).check()
        page.get_by_label("32", exact=True).check()
        for name in BENCH_VARIANTS:
            box = page.get_by_label(name, exact=True).nth(-1)
            box.check() if name in ("eager-fp32", "eager-bf16", "mobile-tutorial-qnnpack") else box.uncheck()
        page.get_by_role("button", name="Run benchmark").click()
        page.get_by_text("[1/").first.wait_for(timeout=60_000)
        page.get_by_role("button", name="Stop").click()
        page.get_by_text("Benchmark stopped: nothing was saved.").first.wait_for(timeout=120_000)


def test_a_build_can_be_stopped_and_keeps_the_files_it_checked(page, app, tmp_path):
    """Stop in Compress: the build stops before its next file; what it built is listed, checked and downloadable,
    the rest marked left out, in the table and in the build's manifest."""
    import json
    chosen = ("fp32.pt", "int8.pt", "int8-mobile.ptl", "model.onnx")  # a build no other test makes
    with screenshot_on_failure(page, tmp_path / "compress-stop.png"):
        open_app(page, app.url)
        page.get_by_role("tab", name="Compress").click()
        page.locator("#compress-cache").get_by_text("Build cache:").wait_for(timeout=30_000)
        for name in VARIANTS:  # the Compress tab's boxes come before the Benchmark tab's
            box = page.get_by_label(name, exact=True).first
            box.check() if name in chosen else box.uncheck()
        page.get_by_role("button", name="Build", exact=True).click()
        page.get_by_text("[1/4] fp32.pt").first.wait_for(timeout=120_000)
        page.locator("#compress-stop").click()
        page.locator("#compress-about").get_by_text("Stopped").wait_for(timeout=300_000)
        about = page.locator("#compress-about").inner_text()
        table = page.locator("#compress-table").inner_text()
        assert "model.onnx" in about and "left out" in table
        file_link(page, "compress-files", "fp32.pt").wait_for(timeout=30_000)
        assert "Build cache:" in page.locator("#compress-cache").inner_text()
        no_bare_error(page)
    builds = app.home / ".cache" / "vitspace" / "builds"
    stopped = [m for m in (json.loads(p.read_text()) for p in builds.glob("*/manifest.json")) if m.get("left_out")]
    assert len(stopped) == 1 and "model.onnx" in stopped[0]["left_out"]
    built = [f["file"] for f in stopped[0]["files"]]
    assert built and set(built) | set(stopped[0]["left_out"]) == set(chosen)
    assert all(f["status"] == "ok" and (builds / stopped[0]["build_key"] / f["file"]).exists()
               for f in stopped[0]["files"])


@pytest.mark.slow
def test_a_user_classifies_and_compresses_their_own_hub_model(page, hub_app, tmp_path):
    """A Hub id typed into Classify's Model A, then into Compress's Model: fp32.pt and int8.pt, the int8 file
    downloaded and run at the model's 384 px with its 3 labels."""
    import torch
    pets = "someone/vit-pets-384"  # in hub_app's Hugging Face cache
    with screenshot_on_failure(page, tmp_path / "own-model.png"):
        open_app(page, hub_app)
        type_model(page, "model-a", pets)
        page.locator("#examples").get_by_role("button").first.click()
        page.locator("#summary").get_by_text(f"{pets} from the local Hugging Face cache").wait_for(timeout=60_000)
        assert top_label(page, "label-a") in PETS.values()
        assert top_label(page, "label-b") in CIFAR10_CLASSES  # Model B is still the embedded DeiT
        no_bare_error(page)

        page.get_by_role("tab", name="Compress").click()
        type_model(page, "compress-model", pets)
        for name in VARIANTS:  # the Compress tab's boxes come before the Benchmark tab's
            box = page.get_by_label(name, exact=True).first
            box.check() if name in ("fp32.pt", "int8.pt") else box.uncheck()
        page.get_by_role("button", name="Build").click()
        link = file_link(page, "compress-files", "int8.pt")
        link.wait_for(timeout=300_000)
        about = page.locator("#compress-about").inner_text()
        assert about.startswith(f"{pets} (pretrained)") and "from the local Hugging Face cache" in about
        table = page.locator("#compress-table").inner_text()
        built = [cell.strip() for cell in table.splitlines() if cell.strip() in VARIANTS]  # the file column
        assert built == ["fp32.pt", "int8.pt"], table
        int8 = download(page, link, tmp_path / "int8.pt")
        with torch.inference_mode():
            logits = torch.jit.load(str(int8))(torch.rand(1, 3, 384, 384))
        assert logits.shape == (1, len(PETS))
        no_bare_error(page)
