"""The gallery of a large release: 20,000 items, built, rebuilt and opened in Chromium.

The release is made in the proportions of the first-year Chang'e-4 release plus what scenes add: PCAM
frames of both eyes in colour and panchromatic modes over many sequences, TCAM frames, a whole landing's
LCAM frames, anaglyphs of PCAM pairs, panoramas (most at a quick look's size, a few quick looks of a whole
site, 10,613 x 786, which are tiled) and landing movies. Each kind's outputs are real farside conversions
of a few synthetic products (frames at ``--frame-scale`` of their native size), each reused under many
names with its sidecar rewritten to match the name, so the disk holds a few distinct images hard-linked
many times (thumbnails are still made from each file; the files are in the page cache, so the times are
of decoding and encoding, not of a disk).

Measured, each ``farside gallery`` run in a process of its own (time and peak memory):
- the first build; the same again (nothing new); after 100 new outputs;
- the site's size: files and bytes, apart from the full-size outputs (hard links to the sources);
- one whole-site panorama at full resolution (42,454 x 3,142, made by enlarging a quick look) tiled alone;
- in headless Chromium (Debian's, from file://): time from navigation to the first page of thumbnails
  rendered (the page's own mark), until those in view have loaded, to apply a filter, and to open an item
  (its detail shard and the zoom viewer); medians of ``--repeat`` page loads.

Usage: python benchmarks/gallery.py [--items 20000] [--frame-scale 0.25] [--repeat 5] [--workdir DIR]
Writes benchmarks/results/gallery.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
KODAK = HERE.parents[1] / "shared" / "data" / "kodak"
RESULTS = HERE / "results" / "gallery.json"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Shares of the items per kind (the rest are PCAM frames).
SHARES = {"lcam": 0.27, "tcam": 0.09, "anaglyph": 0.02, "panorama": 0.0098, "movie": 0.0002}
QUICK_LOOKS = 6  # panoramas at a whole site's quick-look size (tiled); the others are one sweep's
FULL_PANORAMA = (42454, 3142)

# Measured in a process of its own: argv after "farside", then the peak memory of that process.
# (VmHWM: getrusage's maximum would include the benchmark's own memory, inherited through fork.)
_RUN = """
import json, sys, time
from farside.cli import main
from farside.conversion import peak_rss_mb
started = time.perf_counter()
code = main(sys.argv[1:])
print(json.dumps({"code": code, "seconds": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}))
"""


def farside(*args: str) -> dict:
    """Run ``farside ARGS`` in a process of its own; its exit code, time and peak memory."""
    result = subprocess.run([sys.executable, "-c", _RUN, *args], capture_output=True, text=True)
    lines = result.stdout.strip().splitlines()
    if not lines or not lines[-1].startswith("{"):
        raise RuntimeError(result.stderr[-2000:])
    measured = json.loads(lines[-1])
    measured["summary"] = next((line for line in lines if line.startswith("gallery:")), "")
    return measured


def kodak(number: int) -> np.ndarray:
    return cv2.imread(str(KODAK / f"kodim{number:02d}.png"))[:, :, ::-1]


def name(field: str, start: datetime, sequence: str, version: str, level: str, mission: str = "CE4") -> str:
    stamp = start.strftime("%Y%m%d%H%M%S")
    return f"{mission}_GRAS_{field}_SCI_N_{stamp}_{stamp}_{sequence}_{version}.{level}"


def templates(work: Path, scale: float) -> dict[str, list[tuple[Path, dict]]]:
    """A few real outputs per kind, with their sidecars: converted frames, anaglyphs of PCAM pairs,
    panoramas and movies."""
    from dataclasses import replace

    import farside
    from farside.gallery import synthetic
    from farside.synthetic import KINDS, lunar_scene, sequence_start, write_product

    def shape(kind: str) -> tuple[int, ...]:
        native = KINDS[kind].shape
        return (round(native[0] * scale) // 2 * 2, round(native[1] * scale) // 2 * 2, *native[2:])

    out: dict[str, list[tuple[Path, dict]]] = {}
    converted = work / "templates"
    specs = {
        "pcam-c": ("ce4-pcam-c", [1, 3, 13, 23]),
        "pcam-q": ("ce4-pcam-q", [5, 8, 19]),
        "tcam": ("ce4-tcam", [2, 7, 21]),
        "lcam": ("ce4-lcam", [None, None, None]),
    }
    index = 0
    for key, (kind, scenes) in specs.items():
        for n, scene in enumerate(scenes):
            picture = kodak(scene) if scene else lunar_scene(*shape(kind)[:2], seed=n)
            label = write_product(
                kind, picture, work / "products", shape=shape(kind), start=sequence_start(index)
            )
            index += 1
            path, _ = farside.convert(label, converted)
            out.setdefault(key, []).append(
                (path, json.loads(path.with_name(path.name + ".json").read_text()))
            )
    # Anaglyphs: each Kodak scene seen by both eyes.
    right = replace(KINDS["ce4-pcam-c"], instrument_field="PCAMR-C-006", instrument_id="PCAMR")
    for n, scene in enumerate([1, 13]):
        left_label = write_product("ce4-pcam-c", kodak(scene), work / "pairs", shape=shape("ce4-pcam-c"),
                                   start=sequence_start(100 + 2 * n))  # fmt: skip
        right_label = write_product(right, kodak(scene), work / "pairs", shape=shape("ce4-pcam-c"),
                                    start=sequence_start(101 + 2 * n))  # fmt: skip
        left, right_out = synthetic.convert_products([left_label, right_label], work / "pair-outputs")
        path = synthetic.write_anaglyph(converted, left, right_out, left_label, right_label)
        out.setdefault("anaglyph", []).append(
            (path, json.loads(path.with_name(path.name + ".json").read_text()))
        )
    sweep = synthetic.write_sweep_panorama(work / "sweep", work / "pano", columns=5, tiers=2)
    side = json.loads(sweep.with_name(sweep.name + ".json").read_text())
    out["panorama"] = [(sweep, side)]
    out["quick-look"] = [quick_look(work / "quick-look.png", sweep, side, 10613, 786)]
    movie = synthetic.write_movie(
        work / "landing.mp4", synthetic.descent_frames(60, 256), synthetic.landing_names(60)
    )
    out["movie"] = [(movie, json.loads(movie.with_name(movie.name + ".json").read_text()))]
    return out


def quick_look(target: Path, source: Path, side: dict, width: int, height: int) -> tuple[Path, dict]:
    """A panorama of ``width`` x ``height`` made by stretching ``source`` (written strip by strip), with
    its sidecar's projection made to match."""
    from farside.output import write_png_strips

    image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
    with open(target, "wb") as stream:

        def strips():
            for top in range(0, height, 256):
                rows = min(256, height - top)
                y0 = int(top * image.shape[0] / height)
                y1 = max(y0 + 1, int(np.ceil((top + rows) * image.shape[0] / height)))
                band = cv2.resize(image[y0:y1], (width, y1 - y0), interpolation=cv2.INTER_LINEAR)
                band = cv2.resize(band, (width, rows), interpolation=cv2.INTER_LINEAR)
                yield cv2.cvtColor(band, cv2.COLOR_BGRA2RGBA)

        write_png_strips(stream, width, height, strips(), {})
    side = copy.deepcopy(side)
    projection = side["projection"]
    projection["degrees_per_pixel"] = 360.0 / width
    projection.update(azimuth_left_deg=-180.0, width=width, height=height)
    return target, side


def release(work: Path, items: int, scale: float) -> tuple[Path, dict[str, int]]:
    """``items`` outputs under ``work/outputs``, hard links of the templates with rewritten sidecars."""
    made = templates(work, scale)
    folder = work / "outputs"
    folder.mkdir()
    counts = {kind: max(1, round(items * share)) for kind, share in SHARES.items()}
    counts["pcam"] = items - sum(counts.values())
    start = datetime(2019, 1, 4, 8, 0, 0, tzinfo=UTC)

    def emit(template: tuple[Path, dict], output_name: str, side: dict) -> None:
        target = folder / output_name
        os.link(template[0], target)
        (folder / (output_name + ".json")).write_text(json.dumps(side, indent=2))

    def frame(template: tuple[Path, dict], product: str, when: datetime, **fields: str) -> None:
        side = copy.deepcopy(template[1])
        side["product"].update(
            product_id=product, start_time=when.isoformat(), stop_time=when.isoformat(), **fields
        )
        side["provenance"]["source_label"] = f"/release/{product}L"
        side["provenance"]["source_data"] = f"/release/{product}"
        emit(template, product + template[0].suffix, side)

    for i in range(counts["lcam"]):  # one landing, about ten frames a second
        when = datetime(2019, 1, 3, 2, 20, 9, tzinfo=UTC) + timedelta(seconds=i // 10)
        product = name(f"LCAM-1-{i:04d}", when, "0001", "A", "2A")
        frame(made["lcam"][i % len(made["lcam"])], product, when, sequence_id="0001")
    for i in range(counts["tcam"]):
        when = start + timedelta(days=i // 60, seconds=20 * (i % 60))
        product = name("TCAM-I-143", when, f"{1 + i // 60:04d}", "A", "2C")
        frame(made["tcam"][i % len(made["tcam"])], product, when, sequence_id=f"{1 + i // 60:04d}")
    for i in range(counts["pcam"]):  # sequences of 56 frames: 28 pointings, both eyes
        sequence = f"{1 + i // 56:04d}"
        colour = (i // 56) % 5 == 0
        eye = "LR"[i % 2]
        when = start + timedelta(hours=6 * (i // 56), seconds=7 * (i % 56))
        field = f"PCAM{eye}-{'C-006' if colour else 'Q-013'}"
        product = name(field, when, sequence, "B", "2B")
        template = made["pcam-c" if colour else "pcam-q"]
        frame(template[i % len(template)], product, when, camera=eye, mode="C" if colour else "Q",
              sequence_id=sequence)  # fmt: skip
    for i in range(counts["anaglyph"]):
        template = made["anaglyph"][i % len(made["anaglyph"])]
        when = start + timedelta(hours=6 * i)
        left, right = (name(f"PCAM{e}-C-006", when, f"{1 + 5 * i:04d}", "B", "2B") for e in "LR")
        side = dict(template[1], left=f"/release/{left}L", right=f"/release/{right}L")
        emit(template, f"{left}_anaglyph.png", side)
    for i in range(counts["panorama"]):
        template = made["quick-look"][0] if i < QUICK_LOOKS else made["panorama"][0]
        when = start + timedelta(hours=6 * i)
        first = name("PCAML-C-006", when, f"{1 + i:04d}", "B", "2B")
        side = dict(template[1], source_products=[f"/release/{first}L"])
        emit(template, f"{first}_pano.png", side)
    for i in range(counts["movie"]):
        template = made["movie"][0]
        names = [f"/release/{n}" for n in json.loads(json.dumps(template[1]["frames"]))]
        emit(template, f"landing-{i + 1}.mp4", dict(template[1], frames=names))
    return folder, counts


def site_size(site: Path) -> dict:
    sizes = {"files": 0, "bytes": 0, "media_bytes": 0}
    for path in site.rglob("*"):
        if path.is_file():
            if path.relative_to(site).parts[0] == "media":
                sizes["media_bytes"] += path.stat().st_size
            else:
                sizes["files"] += 1
                sizes["bytes"] += path.stat().st_size
    sizes["items_js_bytes"] = (site / "data" / "items.js").stat().st_size
    shards = list((site / "data" / "detail").glob("*.js"))
    sizes["detail_shards"] = len(shards)
    sizes["largest_shard_bytes"] = max(p.stat().st_size for p in shards)
    sizes["thumbs_bytes"] = sum(p.stat().st_size for p in (site / "thumbs").iterdir())
    sizes["manifest_bytes"] = (site / ".farside-gallery.json").stat().st_size
    return sizes


def browser_times(site: Path, repeat: int) -> dict:
    from playwright.sync_api import sync_playwright

    runs: dict[str, list[float]] = {"first_render_ms": [], "thumbnails_in_view_ms": [], "filter_ms": [],
                                    "open_item_ms": []}  # fmt: skip
    url = (site / "index.html").as_uri()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for _ in range(repeat):
            context = browser.new_context(viewport={"width": 1280, "height": 860})
            page = context.new_page()
            page.goto(url)
            page.wait_for_function("document.documentElement.dataset.ready === 'true'")
            mark = page.evaluate("performance.getEntriesByName('farside-index-rendered')[0].startTime")
            page.wait_for_function(
                "[...document.querySelectorAll('#groups img')].filter(i => i.getBoundingClientRect().top < "
                "innerHeight).every(i => i.complete && i.naturalWidth > 0)"
            )
            loaded = page.evaluate("performance.now()")
            filtering = page.evaluate(
                """() => { const s = document.getElementById('f-kind'); const t = performance.now();
                s.value = 'panorama'; s.dispatchEvent(new Event('change')); return performance.now() - t; }"""
            )
            first = page.eval_on_selector("#groups .card", "c => c.dataset.id")
            started = page.evaluate("performance.now()")
            page.evaluate(f"location.hash = 'item=' + encodeURIComponent({json.dumps(first)})")
            page.wait_for_function(
                "document.querySelector('#osd canvas') && document.getElementById('grid').dataset.step"
            )
            opened = page.evaluate("performance.now()")
            runs["first_render_ms"].append(mark)
            runs["thumbnails_in_view_ms"].append(loaded)
            runs["filter_ms"].append(filtering)
            runs["open_item_ms"].append(opened - started)
            context.close()
        browser.close()
    return {key: round(statistics.median(values), 1) for key, values in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--frame-scale", type=float, default=0.25)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="farside-gallery-bench-", dir=args.workdir))
    try:
        started = time.perf_counter()
        outputs, counts = release(work, args.items, args.frame_scale)
        made_in = time.perf_counter() - started
        print(f"release of {sum(counts.values())} outputs made in {made_in:.0f} s: {counts}")
        site = work / "site"
        first = farside("gallery", str(outputs), "-o", str(site), "--title", "Benchmark release")
        print("first build:", first)
        again = farside("gallery", str(outputs), "-o", str(site))
        print("nothing new:", again)
        sizes = site_size(site)
        # 100 new outputs: PCAM frames of a new sequence.
        newest = sorted(outputs.glob("CE4_GRAS_PCAML-C*_B.2B.png"))[:100]
        for path in newest:
            new = path.name.replace("_B.2B", "_C.2B")
            os.link(path, outputs / new)
            side = json.loads(path.with_name(path.name + ".json").read_text())
            side["product"]["product_id"] = new.removesuffix(".png")
            side["product"]["version"] = "C"
            (outputs / f"{new}.json").write_text(json.dumps(side))
        added = farside("gallery", str(outputs), "-o", str(site))
        print("100 new:", added)
        browser = browser_times(site, args.repeat)
        print("browser:", browser)
        # One whole site at full resolution, alone.
        big = work / "big"
        big.mkdir()
        template = next(outputs.glob("*_pano.png"))
        side = json.loads(template.with_name(template.name + ".json").read_text())
        path, side = quick_look(big / template.name, template, side, *FULL_PANORAMA)
        (big / f"{template.name}.json").write_text(json.dumps(side))
        tiled = farside("gallery", str(big), "-o", str(work / "big-site"))
        tiles = sum(1 for p in (work / "big-site" / "tiles").rglob("*.webp"))
        print("full-size panorama:", tiled, tiles, "tiles")
        result = {
            "command": f"python benchmarks/gallery.py --items {args.items} --frame-scale {args.frame_scale} "
            f"--repeat {args.repeat}",
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "items": counts,
            "frame_scale": args.frame_scale,
            "build": {
                "first_s": round(first["seconds"], 1),
                "first_peak_rss_mb": round(first["peak_rss_mb"]),
                "unchanged_s": round(again["seconds"], 1),
                "after_100_new_s": round(added["seconds"], 1),
                "summaries": [first["summary"], again["summary"], added["summary"]],
            },
            "site": sizes,
            "chromium_file_url_median_ms": browser,
            "full_size_panorama": {
                "size": list(FULL_PANORAMA),
                "seconds": round(tiled["seconds"], 1),
                "peak_rss_mb": round(tiled["peak_rss_mb"]),
                "tiles": tiles,
                "image_mb": round(FULL_PANORAMA[0] * FULL_PANORAMA[1] * 4 / 1e6),
            },
        }
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
