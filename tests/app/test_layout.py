"""The page at a glance on a laptop (1400x1000) and on a phone (390x844): every tab after use, a screenshot of each,
and measured in the page: no table header cell narrower than its text, nothing wider than the viewport, and the two
models' maps at one size, side by side on the laptop and stacked on the phone."""
import os
from pathlib import Path

import pytest
from support.browser import browser_page, open_app, screenshot_on_failure

from vitspace.bench.variants import BENCH_VARIANTS

VIEWPORTS = {"laptop": (1400, 1000), "phone": (390, 844)}
BENCHED = ("eager-fp32", "int8.pt")  # a couple of variants: int8.pt from the Compress tab's build
TABS = ("Classify", "Compress", "Benchmark", "Model card")

# The visible header cells whose text needs more room than they give it: the text overflows the cell or an element
# inside it (scrollWidth > clientWidth), or a word of it is broken over two lines
CLIPPED_HEADERS = """() => {
    const brokenWord = th => {
        const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (const m of node.textContent.matchAll(/\\S+/g)) {
                const range = document.createRange();
                range.setStart(node, m.index);
                range.setEnd(node, m.index + m[0].length);
                if (new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1) return true;
            }
        }
        return false;
    };
    return [...document.querySelectorAll('th')]
        .filter(th => th.offsetParent !== null && th.innerText.trim())
        .filter(th => brokenWord(th) || [th, ...th.querySelectorAll('*')].some(
            e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1))
        .map(th => th.innerText.trim().replace(/\\s+/g, ' '));
}"""
PAGE_OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"  # px the page is wider than the view
PANEL = 256  # px: a map panel in both figures (vitspace.explain.figures; the figure before it too, for 32-px inputs)
# each map's figure on the page: where it is, and its map panels' rendered width (the figure drawn at its scale)
MAPS = """() => ['map-a', 'map-b'].map(id => {
    const img = document.querySelector(`#${id} img`);
    const r = img.getBoundingClientRect();
    return {width: r.width * PANEL / (img.naturalWidth || 1), top: r.top, bottom: r.bottom,
            loaded: img.complete && img.naturalWidth > 0};
})""".replace("PANEL", str(PANEL))


def walk(page, url: str, shots: Path) -> list[str]:
    """Every tab at each viewport, after a click on an example, a build of the default files, a benchmark of
    BENCHED and the card; a full-page screenshot of each in SHOTS. Returns what is wrong, in words."""
    problems = []
    for name, (width, height) in VIEWPORTS.items():
        page.set_viewport_size({"width": width, "height": height})
        open_app(page, url)
        for tab in TABS:
            _open_tab(page, tab)
            _use(page, tab)
            problems += [f"{name}, {tab}: {p}" for p in _measure(page, tab, name)]
            page.screenshot(path=str(shots / f"{name}-{tab.lower().replace(' ', '-')}.png"), full_page=True)
    return problems


def _open_tab(page, name: str) -> None:
    tab = page.get_by_role("tab", name=name, exact=True)
    if tab.count():
        tab.click()
    else:  # on a phone the tabs that do not fit are under "More tabs"
        page.get_by_role("button", name="More tabs").click()
        page.locator(".overflow-dropdown button", has_text=name).click()


def _use(page, tab: str) -> None:
    if tab == "Classify":
        page.locator("#examples").get_by_role("button").first.click()
        page.locator("#summary").get_by_text("The models").wait_for(timeout=120_000)
        page.wait_for_function(f"() => ({MAPS})().every(m => m.loaded)", timeout=60_000)
    elif tab == "Compress":
        page.get_by_role("button", name="Build").click()
        page.locator("#compress-about").get_by_text("int8 engine").wait_for(timeout=900_000)
    elif tab == "Benchmark":
        for variant in BENCH_VARIANTS:
            box = page.get_by_label(variant, exact=True).nth(-1)
            box.check() if variant in BENCHED else box.uncheck()
        page.get_by_role("button", name="Run benchmark").click()
        page.locator("#bench-about").get_by_text("warm-up calls").wait_for(timeout=600_000)
    else:
        page.get_by_role("button", name="Render the card of the last build").click()
        page.locator("#card-preview").get_by_text("int8.pt").first.wait_for(timeout=120_000)
    for details in page.get_by_role("button", name="Details").all():  # the long fields, where a tab has them
        if details.is_visible():
            details.click()
    page.wait_for_timeout(1_000)  # tables and images laid out


def _measure(page, tab: str, viewport: str) -> list[str]:
    problems = []
    if clipped := page.evaluate(CLIPPED_HEADERS):
        problems.append(f"header cells narrower than their text: {clipped}")
    if (over := page.evaluate(PAGE_OVERFLOW)) > 0:
        problems.append(f"the page is {over} px wider than the viewport")
    if tab == "Classify":
        a, b = page.evaluate(MAPS)
        if viewport == "laptop":
            if abs(a["width"] - b["width"]) > 0.1 * max(a["width"], b["width"]):
                problems.append(f"the maps are drawn {a['width']:.0f} and {b['width']:.0f} px wide")
            if a["bottom"] <= b["top"]:
                problems.append("the maps are stacked, not side by side")
        elif b["top"] < a["bottom"]:
            problems.append("the maps are side by side, not stacked")
    return problems


@pytest.fixture
def shots(tmp_path, capsys) -> Path:
    """The screenshots' folder: $VITSPACE_SCREENSHOTS if set, else the test's temporary folder; printed."""
    folder = Path(os.environ.get("VITSPACE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    with capsys.disabled():
        print(f"\nscreenshots of every tab at {', '.join(f'{w}x{h}' for w, h in VIEWPORTS.values())}: {folder}")
    return folder


@pytest.mark.slow
def test_every_tab_reads_at_a_glance_on_a_laptop_and_on_a_phone(app_url, shots):
    with browser_page() as page, screenshot_on_failure(page, shots / "failure.png"):
        problems = walk(page, app_url, shots)
    assert not problems, "\n".join(problems) + f"\n(screenshots: {shots})"
