"""The gallery in a real browser: headless Chromium (Debian's, driven by Playwright) opens a site built from
converted synthetic products, from file:// (where pages may not fetch, and images taint canvases) and over
HTTP from ``farside gallery --serve``. Every page must load with no console error and no request leaving the
site."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(), reason="needs Debian's chromium (apt-get install chromium; .ci/run does)"
)
playwright_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (the [test] extra)")


@pytest.fixture(scope="module")
def site(gallery_outputs, tmp_path_factory):
    from farside.gallery import build

    folder = tmp_path_factory.mktemp("gallery-site") / "site"
    report = build(
        [gallery_outputs.converted, gallery_outputs.pano], folder, title="Test release", tile_above=512
    )
    assert report.problems == [] and report.items == 8
    return folder


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        # No sandbox: CI runs as root in a container, where Chromium's sandbox cannot start.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Watched:
    """A page with everything it logs and requests recorded."""

    def __init__(self, browser, root: str) -> None:
        self.root = root
        self.context = browser.new_context(viewport={"width": 1280, "height": 860})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on(
            "console",
            lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url} {r.failure}"))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def open(self, fragment: str = "") -> None:
        self.page.goto(self.root + "index.html" + fragment)
        self.page.wait_for_function("document.documentElement.dataset.ready === 'true'")

    def check(self) -> None:
        """No error, and every request inside the site."""
        assert self.errors == []
        outside = [
            url for url in self.requests if not url.startswith(self.root) and not url.startswith("data:")
        ]
        assert outside == []
        self.context.close()


def thumbnails_load(page) -> int:
    """Scroll every thumbnail into view (they load lazily) and wait until each has pixels; their count."""
    images = page.locator("#groups img")
    for index in range(images.count()):
        images.nth(index).scroll_into_view_if_needed()
    page.wait_for_function("[...document.querySelectorAll('#groups img')].every(i => i.complete)")
    widths = page.eval_on_selector_all("#groups img", "images => images.map(i => i.naturalWidth)")
    assert widths and all(w > 0 for w in widths), widths
    return len(widths)


def stage_shows_a_picture(page) -> bool:
    """Whether the viewer's stage has a picture on it (not one flat colour): read from a screenshot, since
    a page from file:// may not read back the pixels it draws."""
    import io

    import numpy as np
    from PIL import Image

    shot = np.asarray(Image.open(io.BytesIO(page.locator("#stage").screenshot())).convert("L"), float)
    return float(shot.std()) > 10


def shown_ids(page) -> list[str]:
    return page.eval_on_selector_all("#groups .card", "cards => cards.map(c => c.dataset.id)")


def test_the_index_loads_counts_filters_and_searches(site, browser, gallery_outputs):
    watched = Watched(browser, site.as_uri() + "/")
    page = watched.page
    watched.open()
    assert thumbnails_load(page) == 8
    assert page.locator("#summary").get_attribute("data-count") == "8"
    assert page.locator("#summary").inner_text() == "Showing 1–8 of 8 items"
    assert page.locator("#f-kind option").all_inner_texts() == [
        "All (8)", "Anaglyphs (1)", "Frames (5)", "Movies (1)", "Panoramas (1)",
    ]  # fmt: skip
    groups = page.locator(".group h2").all_inner_texts()
    # The landing comes first: the movie of 3 January and a landing-camera frame, one sequence.
    assert groups[0].startswith("CE4 · LCAM · sequence 0001 · 2019-01-03") and groups[0].endswith("2")
    assert any(g.startswith("CE4 · PCAM · sequence 0001 · 2019-01-04") and g.endswith("3") for g in groups)
    # A filter narrows the items and the other menus' counts follow it.
    page.select_option("#f-instrument", "PCAM")
    assert (
        page.locator("#summary").get_attribute("data-count") == "5"
    )  # two eyes, an anaglyph, CE-5, a panorama
    assert "Panoramas (1)" in page.locator("#f-kind option").all_inner_texts()
    assert page.locator("#f-mission option").all_inner_texts() == ["All (5)", "CE4 (4)", "CE5-L (1)"]
    page.select_option("#f-camera", "R")
    assert shown_ids(page) == [gallery_outputs.frames[1].name]
    assert "instrument=PCAM" in page.url and "camera=R" in page.url
    # Dates (UTC), inclusive: the Chang'e-5 frame is the only one of December 2020.
    page.click("#reset")
    assert page.locator("#summary").get_attribute("data-count") == "8"
    page.fill("#f-from", "2020-12-01")
    page.dispatch_event("#f-from", "change")
    assert shown_ids(page) == [gallery_outputs.frames[4].name]
    page.fill("#f-to", "2020-12-02")
    page.dispatch_event("#f-to", "change")
    assert page.locator("#summary").get_attribute("data-count") == "0"
    # Search: words of product names, in any case; a panorama is found by the names of its frames.
    page.click("#reset")
    assert page.locator("#summary").get_attribute("data-count") == "8" and page.url.endswith("index.html")
    page.fill("#q", "tcam-i-143")
    page.wait_for_function("document.getElementById('summary').dataset.count === '1'")
    assert shown_ids(page) == [gallery_outputs.frames[2].name]
    frame = json.loads(
        gallery_outputs.panorama.with_name(gallery_outputs.panorama.name + ".json").read_text()
    )
    third = Path(frame["source_products"][2]).name[:-1]
    page.fill("#q", third)
    page.wait_for_function(
        f"document.getElementById('summary').dataset.count === '1' && "
        f"document.querySelector('#groups .card').dataset.id === {json.dumps(gallery_outputs.panorama.name)}"
    )
    page.screenshot(path=str(site.parent / "index.png"))
    watched.check()


def test_the_item_view_shows_metadata_moves_with_the_keyboard_and_has_a_permalink(
    site, browser, gallery_outputs
):
    watched = Watched(browser, site.as_uri() + "/")
    page = watched.page
    watched.open()
    order = shown_ids(page)
    first = gallery_outputs.frames[0].name
    page.click(f'.card[data-id="{first}"]')
    page.wait_for_selector("#meta dt")
    assert page.locator("#viewer").is_visible() and page.locator("#v-title").inner_text() == first
    labels, values = page.locator("#meta dt").all_inner_texts(), page.locator("#meta dd").all_inner_texts()
    meta = dict(zip(labels, values, strict=True))
    side = json.loads(gallery_outputs.frames[0].with_name(first + ".json").read_text())
    assert meta["Product"] == side["product"]["product_id"]
    assert meta["Start"] == "2019-01-04 08:45:59 UTC" and meta["Mast yaw"] == "-12.8987°"
    assert meta["Demosaic"] == side["provenance"]["settings"]["demosaic"]
    # Zoom and pan: OpenSeadragon draws the image on its canvas.
    page.wait_for_function(
        "document.querySelector('#osd canvas') && document.querySelector('#osd canvas').width > 0"
    )
    page.wait_for_selector(f'#stage[data-loaded="{first}"]')
    assert stage_shows_a_picture(page)
    assert page.locator("#v-full").get_attribute("href") == f"media/{first}"
    product = page.locator("#v-product").get_attribute("href")
    assert (site / product).resolve() == gallery_outputs.labels[0].resolve()
    position = order.index(first)
    assert page.locator("#v-position").inner_text() == f"{position + 1} / 8"
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        f"document.getElementById('v-title').textContent === {json.dumps(order[position + 1])}"
    )
    assert page.url.endswith("#item=" + order[position + 1])
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(f"document.getElementById('v-title').textContent === {json.dumps(first)}")
    page.screenshot(path=str(site.parent / "item.png"))
    permalink = page.locator("#v-permalink").get_attribute("href")
    page.keyboard.press("Escape")
    page.wait_for_function("document.getElementById('viewer').hidden")
    assert page.locator("#groups .card").count() == 8
    watched.check()
    # The permalink opens the same item in a fresh page.
    fresh = Watched(browser, site.as_uri() + "/")
    fresh.open(permalink)
    fresh.page.wait_for_selector("#meta dt")
    assert fresh.page.locator("#v-title").inner_text() == first
    assert fresh.page.locator("#v-position").inner_text() == f"{position + 1} / 8"
    fresh.check()


def test_a_panorama_shows_its_angles_an_anaglyph_its_note_and_a_movie_plays(site, browser, gallery_outputs):
    watched = Watched(browser, site.as_uri() + "/")
    page = watched.page
    watched.open("#item=" + gallery_outputs.panorama.name)
    page.wait_for_function("document.getElementById('grid').dataset.step")
    projection = json.loads(
        gallery_outputs.panorama.with_name(gallery_outputs.panorama.name + ".json").read_text()
    )["projection"]
    # Its tiles came from the site's tile folder, not the full image.
    assert any("/tiles/" in url and url.endswith(".webp") for url in watched.requests)
    page.wait_for_selector(f'#stage[data-loaded="{gallery_outputs.panorama.name}"]')
    assert stage_shows_a_picture(page)
    box = page.locator("#stage").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    readout = page.locator("#readout")
    page.wait_for_function("document.getElementById('readout').dataset.x !== undefined")
    x, y = float(readout.get_attribute("data-x")), float(readout.get_attribute("data-y"))
    d = projection["degrees_per_pixel"]
    azimuth = projection["azimuth_left_deg"] + x * d  # x, y from the image's corner: pixel centres at +0.5
    elevation = projection["elevation_top_deg"] - y * d
    shown = re.findall(r"-?\d+\.\d+", readout.inner_text())
    assert [float(v) for v in shown] == [round(azimuth, 2), round(elevation, 2)]
    # Home view: the middle of the screen is the middle of the panorama.
    assert abs(x - projection["width"] / 2) < 2 and abs(y - projection["height"] / 2) < 2
    step = float(page.locator("#grid").get_attribute("data-step"))
    assert step in (1, 2, 5, 10)
    # Zoomed in (+ three times: 3.4 times as many pixels a degree), the grid's lines come closer in degrees.
    for _ in range(3):
        page.keyboard.press("+")
    page.wait_for_function(f"Number(document.getElementById('grid').dataset.step) < {step}")
    # The anaglyph says how to look at it.
    watched.open("#item=" + gallery_outputs.anaglyph.name)
    page.wait_for_selector("#note:not([hidden])")
    assert "red–cyan" in page.locator("#note").inner_text()
    # The movie plays in a <video>.
    watched.open("#item=" + gallery_outputs.movie.name)
    page.wait_for_function("document.getElementById('movie').readyState >= 1")
    video = page.eval_on_selector(
        "#movie", "v => ({src: v.currentSrc, duration: v.duration, hidden: v.hidden})"
    )
    assert video["src"].endswith(f"media/{gallery_outputs.movie.name}") and not video["hidden"]
    assert video["duration"] == pytest.approx(1.2, abs=0.15)
    page.eval_on_selector("#movie", "v => v.play()")
    page.wait_for_function("document.getElementById('movie').currentTime > 0.2")
    watched.check()


def test_a_cylindrical_panorama_reads_its_elevations_from_its_own_formula(gallery_outputs, browser, tmp_path):
    import math

    from farside.gallery import build

    folder = tmp_path / "cylindrical"
    folder.mkdir()
    shutil.copy(gallery_outputs.panorama, folder / gallery_outputs.panorama.name)
    side = json.loads(gallery_outputs.panorama.with_name(gallery_outputs.panorama.name + ".json").read_text())
    projection = side["projection"]
    projection["type"] = "cylindrical"  # the same pixels read as a cylindrical grid: only the angles change
    (folder / f"{gallery_outputs.panorama.name}.json").write_text(json.dumps(side))
    assert build([folder], tmp_path / "site").items == 1
    watched = Watched(browser, (tmp_path / "site").as_uri() + "/")
    page = watched.page
    watched.open("#item=" + gallery_outputs.panorama.name)
    page.wait_for_function("document.getElementById('grid').dataset.step")
    box = page.locator("#stage").bounding_box()
    d, e0 = projection["degrees_per_pixel"], projection["elevation_top_deg"]
    readout = page.locator("#readout")
    for fx, fy in ((0.3, 0.45), (0.6, 0.55)):
        before = readout.get_attribute("data-x")
        page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
        page.wait_for_function(
            f"(document.getElementById('readout').dataset.x || '') !== {json.dumps(before or '')}"
        )
        y = float(readout.get_attribute("data-y"))
        elevation = math.degrees(math.atan(math.tan(math.radians(e0)) - y * math.radians(d)))
        assert float(re.findall(r"-?\d+\.\d+", readout.inner_text())[1]) == round(elevation, 2)
        assert abs(elevation - (e0 - y * d)) > 0.01  # not the equirectangular answer
    watched.check()


def test_farside_gallery_serve_serves_the_site_on_localhost(site, browser):
    command = [sys.executable, "-m", "farside", "gallery", "--serve", "-o", str(site), "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, (line, server.stderr.read() if server.poll() is not None else "")
        watched = Watched(browser, match.group(0))
        page = watched.page
        watched.open()
        assert thumbnails_load(page) == 8
        page.click("#groups .card >> nth=1")
        page.wait_for_selector("#meta dt")
        page.keyboard.press("ArrowRight")
        page.wait_for_function("document.getElementById('v-position').textContent.startsWith('3 /')")
        assert all(url.startswith(match.group(0)) for url in watched.requests)
        watched.check()
    finally:
        server.terminate()
        server.wait(timeout=10)
