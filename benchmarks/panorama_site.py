"""A whole PCAM site at native resolution: 56 full-size frames (2352 x 1728), a full circle in two tiers,
through ``farside panorama`` at full scale and at ``--scale 0.25``: wall time, peak memory, alignment.

The frames are rendered from a ground-truth lunar world (:func:`farside.synthetic.lunar_world`) with the
real camera (50 mm, 7.4 um pixels) at a real sweep's pointing (yaw steps of 360/28 degrees, pitch -12 and
-24), recorded through the sensor model and written as products whose labels are off by up to 1.5 degrees
per frame, with exposures that differ by up to 20 %. Each build runs in a process of its own; its peak
resident memory is the kernel's high-water mark for that process (``ru_maxrss``). Alignment is measured
tile by tile (128 x 128 px, phase correlation) against the world at the directions the sidecar's projection
gives each pixel.

Usage: python benchmarks/panorama_site.py [--work DIR]   (writes benchmarks/results/panorama_site.json)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "panorama_site.json"
YAWS = [index * 360.0 / 28 for index in range(28)]
PITCHES = (-12.0, -24.0)


def _world():
    from farside.scenes.geometry import Equirectangular
    from farside.synthetic import lunar_world

    # As fine as OpenCV's remap can sample from (32,000 pixels round; the frames have 42,450).
    width = 32000
    grid = Equirectangular(360.0 / width, -180.0, 0.0, width, round(45.0 * width / 360.0))
    return lunar_world(grid, seed=0), grid


def make_site(folder: Path) -> None:
    from farside.scenes.geometry import Camera
    from farside.synthetic import write_sweep

    world, grid = _world()
    camera = Camera(width=2352, height=1728, focal_px=50 / 7.4e-3)
    pointings = [(yaw, pitch) for pitch in PITCHES for yaw in YAWS]
    rng = np.random.default_rng(11)
    errors = rng.uniform(-1.5, 1.5, (len(pointings), 2))
    errors -= errors.mean(axis=0)
    gains = rng.uniform(0.8, 1.2, len(pointings))
    write_sweep(world, grid, camera, pointings, folder, errors, gains=gains)


def build(folder: Path, out: Path, *options: str) -> dict:
    """``farside panorama`` in a child process: seconds, its peak memory, its output."""
    command = [sys.executable, "-m", "farside", "panorama", str(folder), "-o", str(out), *options]
    started = time.perf_counter()
    child = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"farside panorama failed: {child.stderr.strip()}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child so far
    return {"seconds": round(seconds, 1), "peak_mb": round(peak), "output": child.stdout.strip()}


def alignment(output: str, tile: int = 128) -> dict:
    """Tile-by-tile offsets of a panorama against the world (remade from its seed)."""
    from PIL import Image

    from farside.scenes.geometry import grid_from_dict
    from farside.synthetic import tile_offsets

    Image.MAX_IMAGE_PIXELS = None  # a native site is larger than Pillow's guard against decompression bombs
    grid = grid_from_dict(json.loads(Path(f"{output}.json").read_text())["projection"])
    with Image.open(output) as im:
        rgba = np.asarray(im)
    shifts = tile_offsets(rgba[:, :, :3], _world_seen_by(grid), rgba[:, :, 3] > 0, tile)
    return {
        "size": [grid.width, grid.height],
        "tiles": len(shifts),
        "median_px": round(float(np.median(shifts)), 3),
        "p99_px": round(float(np.percentile(shifts, 99)), 3),
        "worst_px": round(float(max(shifts)), 3),
    }


def _world_seen_by(grid) -> np.ndarray:
    from farside.synthetic import world_seen_by

    world, world_grid = _world()
    return world_seen_by(world, world_grid, grid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--work", type=Path, help="folder for the products and panoramas [default: a temporary one]"
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="farside-site-"))
    folder = work / "site"
    if not folder.exists():
        started = time.perf_counter()
        make_site(folder)
        print(f"made 56 products in {time.perf_counter() - started:.0f} s under {folder}", flush=True)
    runs = {}
    for label, options in (("scale 0.25", ["--scale", "0.25"]), ("scale 1", [])):
        run = build(folder, work / label.replace(" ", "_"), *options)
        run["alignment"] = alignment(run.pop("output"))
        runs[label] = run
        print(label, run, flush=True)
    report = {
        "command": "python benchmarks/panorama_site.py",
        "site": "56 frames of 2352 x 1728 (PCAM, 50 mm, 7.4 um), 28 yaws x 2 tiers (-12, -24 deg); label "
        "errors up to 1.5 deg, exposures within 20 %",
        "machine": f"{__import__('os').cpu_count()} cores",
        "runs": runs,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
