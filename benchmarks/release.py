"""A whole release end to end: farside process versus the notebook recipe, on the same products, same run.

Generates a release of at least 2 GB in the proportions of the first-year Chang'e-4 release (PCAM `-C` and
`-Q` 2B, TCAM 2C, LCAM 2A; full-size frames made from Kodak scenes), with a few corrupt products, then:

- indexes it with `farside index` (and a separate tree of 10,000 small labels, to time indexing alone);
- converts it with `farside process` on all cores;
- converts the same products with the recipe people use today, one after another as a notebook loop does
  (pds4_tools to read, colour-demosaicing Menon2007 for Bayer frames, a 2-98 % percentile stretch, Pillow
  to write PNG), skipping the products it cannot read.

Usage: python benchmarks/release.py [--scale 1.0] [--workdir DIR] [--keep]
Writes benchmarks/results/release.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
KODAK = HERE.parents[1] / "shared" / "data" / "kodak"
CLI = [sys.executable, "-m", "farside"]
# Products per kind for scale 1.0: the first-year proportions (PCAM C : Q = 396 : 2168, TCAM 240) with
# descent frames from the landing camera.
COUNTS = {"ce4-pcam-c": 60, "ce4-pcam-q": 330, "ce4-tcam": 40, "ce4-lcam": 600}


def generate(folder: Path, scale: float) -> tuple[int, int]:
    from farside.synthetic import KINDS, scene_pixels, sequence_start, simulate_raw, write_product

    scenes = [cv2.imread(str(KODAK / f"kodim{n:02d}.png"))[:, :, ::-1] for n in range(1, 25)]
    index = 0
    for kind, count in COUNTS.items():
        spec = KINDS[kind]
        # A handful of distinct frames per kind, reused under different names and times.
        frames = []
        for scene in scenes[:6]:
            if spec.cfa:
                frames.append(simulate_raw(scene, spec.shape[:2], bit_depth=spec.bit_depth))
            else:
                frames.append(scene_pixels(spec, scene))
        for i in range(max(1, round(count * scale))):
            write_product(
                kind, None, folder / kind, pixels=frames[i % len(frames)], start=sequence_start(index)
            )
            index += 1
    # Corrupt products, as real releases have: truncated data, a label without data, malformed XML.
    broken = folder / "broken"
    label = write_product("ce4-pcam-c", scenes[7], broken, start=sequence_start(index))
    data = label.with_name(label.name[:-1])
    data.write_bytes(data.read_bytes()[:5_000_000])
    label = write_product("ce4-pcam-q", scenes[8], broken, start=sequence_start(index + 1))
    label.with_name(label.name[:-1]).unlink()
    label = write_product("ce4-lcam", scenes[9], broken, start=sequence_start(index + 2))
    label.write_text(label.read_text()[:-300])
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len([p for p in files if p.name.endswith("L")]), sum(p.stat().st_size for p in files)


def many_labels(folder: Path, count: int) -> None:
    from farside.synthetic import sequence_start, write_product

    base = write_product("ce4-lcam", None, folder, pixels=np.zeros((8, 8), np.uint8), start=sequence_start(0))
    text, data = base.read_text(), base.with_name(base.name[:-1]).read_bytes()
    stamp = "20190104084559"
    for i in range(1, count):
        new = sequence_start(i).strftime("%Y%m%d%H%M%S")
        name = base.name.replace(stamp, new)
        (folder / name).write_text(text.replace(stamp, new))
        (folder / name[:-1]).write_bytes(data)


def recipe(labels: list[Path], out: Path) -> tuple[int, int]:
    """The notebook loop: returns (converted, failed)."""
    import colour_demosaicing
    import pds4_tools
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    done = failed = 0
    for label in labels:
        try:
            data = np.asarray(pds4_tools.read(str(label), quiet=True)[0].data, dtype=np.float64)
            if data.ndim == 2 and "-C-" in label.name:
                data = colour_demosaicing.demosaicing_CFA_Bayer_Menon2007(data, "RGGB")
            lo, hi = np.percentile(data, [2, 98])
            display = np.clip((data - lo) / max(hi - lo, 1e-9), 0, 1)
            Image.fromarray((display * 255).astype(np.uint8)).save(out / (label.name[:-1] + ".png"))
            done += 1
        except Exception:  # the notebook skips what it cannot read
            failed += 1
    return done, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the default release size")
    parser.add_argument("--workdir", type=Path, help="where to build the release (default: a temp folder)")
    parser.add_argument("--labels", type=int, default=10_000, help="small labels for the indexing test")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="farside-release-"))
    release, many = work / "release", work / "labels"
    release.mkdir(parents=True, exist_ok=True)
    many.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    products, size = generate(release, args.scale)
    print(
        f"generated {products} products, {size / 1e9:.2f} GB in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    many_labels(many, args.labels)

    def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        return time.perf_counter() - start, result

    index_many_s, _ = timed(CLI + ["index", str(many), "--db", str(work / "labels.db")])
    reindex_many_s, _ = timed(CLI + ["index", str(many), "--db", str(work / "labels.db")])
    index_s, _ = timed(CLI + ["index", str(release), "--db", str(work / "release.db")])
    print(f"indexed {args.labels} labels in {index_many_s:.1f} s (again: {reindex_many_s:.1f} s)", flush=True)

    farside_s, result = timed(CLI + ["process", str(release), "-o", str(work / "farside-out")])
    report = json.loads((work / "farside-out" / "farside-report.json").read_text())
    print(f"farside process: {farside_s:.1f} s, {result.stdout.strip()}", flush=True)

    labels = sorted(release.rglob("*L"))
    start = time.perf_counter()
    recipe_done, recipe_failed = recipe(labels, work / "recipe-out")
    recipe_s = time.perf_counter() - start
    print(f"recipe: {recipe_s:.1f} s, {recipe_done} converted, {recipe_failed} failed", flush=True)

    results = {
        "command": f"python benchmarks/release.py --scale {args.scale}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "release": {"products": products, "bytes": size, "composition": COUNTS, "scale": args.scale},
        "index": {
            "labels": args.labels,
            "first_s": round(index_many_s, 2),
            "unchanged_again_s": round(reindex_many_s, 2),
            "release_s": round(index_s, 2),
        },
        "farside": {
            "seconds": round(farside_s, 1),
            "converted": report["converted"],
            "failed": report["failed"],
            "products_per_s": round(report["converted"] / farside_s, 2),
            "mb_per_s": round(size / 1e6 / farside_s, 1),
            "worker_peak_rss_mb": report["worker_peak_rss_mb"],
        },
        "recipe": {
            "seconds": round(recipe_s, 1),
            "converted": recipe_done,
            "failed": recipe_failed,
            "products_per_s": round(recipe_done / recipe_s, 2),
            "mb_per_s": round(size / 1e6 / recipe_s, 1),
        },
    }
    results["throughput_ratio"] = round(
        results["farside"]["products_per_s"] / results["recipe"]["products_per_s"], 1
    )
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "release.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    if not args.keep and args.workdir is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
