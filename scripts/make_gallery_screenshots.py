"""Make the README's gallery pictures: a gallery of synthetic outputs, opened in headless Chromium.

The outputs are conversions of synthetic products (Kodak scenes seen by both PCAM eyes, TCAM and Chang'e-5
frames; lunar scenes seen by the landing and terrain cameras), a panorama of a two-tier sweep of the lunar
world of the tests, an anaglyph of a PCAM pair and a landing movie. The pictures are the index and the
panorama's item view, with the pointer on it (its azimuth/elevation readout and degree grid).

Usage: python scripts/make_gallery_screenshots.py
(needs playwright and Debian's chromium; writes docs/images/gallery-index.png and gallery-item.png)
"""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import cv2
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"
IMAGES = ROOT / "docs" / "images"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LIMIT = 300_000  # bytes per picture


def kodak(number: int):
    return cv2.imread(str(KODAK / f"kodim{number:02d}.png"))[:, :, ::-1]


def outputs(work: Path) -> list[Path]:
    from farside.gallery import synthetic
    from farside.synthetic import KINDS, lunar_scene, sequence_start, write_product

    release, converted = work / "release", work / "converted"
    right = replace(KINDS["ce4-pcam-c"], instrument_field="PCAMR-C-006", instrument_id="PCAMR")
    half = (864, 1176)
    labels, pairs = [], []
    for n, scene in enumerate([1, 3, 23]):  # both eyes, seconds apart; the right one 270 mm to the right
        picture = kodak(scene)
        left = write_product("ce4-pcam-c", picture[:, 16:], release, shape=half, start=sequence_start(4 * n))
        second = write_product(right, picture[:, :-16], release, shape=half, start=sequence_start(4 * n + 1))
        labels += [left, second]
        pairs.append((left, second))
    for n, scene in enumerate([5, 7]):
        labels.append(write_product("ce4-tcam", kodak(scene), release, shape=(*half, 3),
                                    start=sequence_start(40 + n)))  # fmt: skip
    labels.append(write_product("ce4-tcam", lunar_scene(*half, seed=3), release, shape=(*half, 3),
                                start=sequence_start(42)))  # fmt: skip
    labels.append(write_product("ce4-lcam", lunar_scene(512, 512, seed=1), release, shape=(512, 512),
                                start=datetime(2019, 1, 3, 2, 26, 40, tzinfo=UTC)))  # fmt: skip
    for n, scene in enumerate([13, 21]):
        labels.append(write_product("ce5-pcam", kodak(scene), release, shape=half,
                                    start=datetime(2020, 12, 2, 23, 10, 7 * n, tzinfo=UTC)))  # fmt: skip
    synthetic.convert_products(labels, converted)
    left, second = pairs[0]
    eyes = synthetic.convert_products([left, second], work / "pair", shared_look=True)  # the eyes alike
    synthetic.write_anaglyph(converted, *eyes, left, second)
    synthetic.write_movie(converted / "landing.mp4", synthetic.descent_frames(40, 320),
                          synthetic.landing_names(40))  # fmt: skip
    panorama = synthetic.write_sweep_panorama(work / "sweep", work / "pano", columns=6, tiers=2)
    return [converted, panorama.parent]


def compressed(png: bytes) -> bytes:
    """A screenshot as a palette PNG small enough for the README."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    for colours in (256, 192, 128, 96, 64):
        palette = image.quantize(colours, method=Image.Quantize.MEDIANCUT)
        stream = io.BytesIO()  # dithered, so skies and gradients do not band
        image.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).save(stream, "PNG", optimize=True)
        if stream.tell() <= LIMIT:
            return stream.getvalue()
    raise SystemExit(f"a screenshot stays above {LIMIT} bytes")


def main() -> None:
    from playwright.sync_api import sync_playwright

    from farside.gallery import build

    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        report = build(
            outputs(work), work / "site", title="Chang'e-4 and -5, synthetic sample", tile_above=2048
        )
        if report.problems:
            raise SystemExit("\n".join(report.problems))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((work / "site" / "index.html").as_uri())
            page.wait_for_function("document.documentElement.dataset.ready === 'true'")
            page.wait_for_function("[...document.querySelectorAll('#groups img')].every(i => i.complete)")
            index = page.screenshot()
            pano = page.eval_on_selector(".card.kind-panorama", "c => c.dataset.id")
            page.evaluate(f"location.hash = 'item=' + encodeURIComponent('{pano}')")
            page.wait_for_function("document.getElementById('grid').dataset.step")
            page.wait_for_timeout(800)
            box = page.locator("#stage").bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.62, box["y"] + box["height"] * 0.55)
            page.wait_for_timeout(200)
            item = page.screenshot()
            browser.close()
        if errors:
            raise SystemExit("\n".join(errors))
    for name, shot in (("gallery-index.png", index), ("gallery-item.png", item)):
        payload = compressed(shot)
        (IMAGES / name).write_bytes(payload)
        print(IMAGES / name, len(payload), "bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
