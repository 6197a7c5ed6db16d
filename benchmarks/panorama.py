"""Panoramas against a known world: farside and OpenCV's own stitcher on the same rendered sweeps.

Two worlds are Kodak images laid over azimuth -45..45 and elevation -45..0 degrees, seen by ten frames of a
PCAM at a quarter of its resolution (588 x 432, the real 19.7 x 14.5 degree field); the third is the lunar
world of the tests (:func:`farside.synthetic.lunar_world`), seen by six full-size frames (2352 x 1728).
The frames are rendered at a two-tier sweep's pointing, with exposures that differ by up to 20 %. farside
gets the frames with their label pointing, off by up to 1.5 degrees per frame (zero mean over the set);
OpenCV's stitcher (``cv2.Stitcher``, panorama mode) gets the frames alone.

Failures: how many of the frames each panorama holds (the stitcher leaves out frames it cannot place,
and still reports success), and coverage, the share of what the frames saw that the panorama shows.
Seams: the spread of the panorama's brightness against the world's over 32-pixel tiles
(:func:`brightness_steps`). Alignment: the panorama is compared with the world tile by tile (64 x 64 px,
phase correlation). farside's panorama is compared at the directions its sidecar's projection gives each
pixel; the stitcher states no projection, so its panorama is first registered to the world's view by a
homography fitted to matched features (which can only flatter it), and what remains is measured the same
way. Each method runs in a process of its own, so its peak memory is its own.

Times are the median of ``--repeat`` runs of each method on each world, the methods taking turns.

Usage: python benchmarks/panorama.py [--repeat 5]   (writes benchmarks/results/panorama.json)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"
RESULTS = ROOT / "benchmarks" / "results" / "panorama.json"
WORLDS = {
    "kodim13 (texture everywhere)": "13",
    "kodim23 (a featureless middle)": "23",
    "lunar world, six full-size frames": "lunar",
}
SWEEP = [(yaw, pitch) for pitch in (-12.0, -24.0) for yaw in (-25.8, -12.9, 0.0, 12.9, 25.8)]
FULL_SIZE_SWEEP = [(yaw, pitch) for pitch in (-12.0, -24.0) for yaw in (-12.9, 0.0, 12.9)]
PCAM_FOCAL_PX = 50 / 7.4e-3


def _world(key: str):
    """A world and its grid: a Kodak image over azimuth -45..45 and elevation -45..0, or the lunar world of
    the tests at a full-size PCAM's resolution."""
    from farside.scenes.geometry import Equirectangular
    from farside.synthetic import lunar_world

    if key == "lunar":
        degrees = float(np.degrees(1 / PCAM_FOCAL_PX))
        grid = Equirectangular(degrees, -30.0, 1.0, int(60 / degrees), int(38 / degrees))
        return lunar_world(grid, 4), grid
    grid = Equirectangular(90.0 / 1536, -45.0, 0.0, 1536, 768)
    image = cv2.imread(str(KODAK / f"kodim{int(key):02d}.png"))[:, :, ::-1]
    return cv2.resize(image, (grid.width, grid.height), interpolation=cv2.INTER_CUBIC), grid


def _frames(world, grid, key: str):
    from farside.scenes.geometry import Camera, orientation
    from farside.scenes.panorama import PlacedFrame
    from farside.synthetic import render_view

    if key == "lunar":
        camera, sweep = Camera(width=2352, height=1728, focal_px=PCAM_FOCAL_PX), FULL_SIZE_SWEEP
    else:  # a PCAM at a quarter of its resolution
        camera, sweep = Camera(width=588, height=432, focal_px=PCAM_FOCAL_PX / 4), SWEEP
    rng = np.random.default_rng(7)
    errors = rng.uniform(-1.5, 1.5, (len(sweep), 2))
    errors -= errors.mean(axis=0)
    gains = rng.uniform(0.8, 1.2, len(sweep))
    frames = []
    for index, ((yaw, pitch), error) in enumerate(zip(sweep, errors, strict=True)):
        view = render_view(world, grid, camera, orientation(yaw, pitch))
        view = np.clip(view * gains[index], 0, 255).astype(np.uint8)
        frames.append(PlacedFrame(f"frame{index}", view, camera, (yaw + error[0], pitch + error[1], 0.0)))
    return frames


def _register(made: np.ndarray, truth: np.ndarray) -> np.ndarray | None:
    """The stitcher's panorama warped onto the world's view by a homography fitted to SIFT matches."""
    sift = cv2.SIFT_create(4000)
    ka, da = sift.detectAndCompute(cv2.cvtColor(made, cv2.COLOR_RGB2GRAY), None)
    kb, db = sift.detectAndCompute(cv2.cvtColor(truth, cv2.COLOR_RGB2GRAY), None)
    if da is None or db is None:
        return None
    good = [m for m, n in cv2.BFMatcher().knnMatch(da, db, k=2) if m.distance < 0.75 * n.distance]
    if len(good) < 8:
        return None
    source = np.float32([ka[m.queryIdx].pt for m in good])
    target = np.float32([kb[m.trainIdx].pt for m in good])
    homography, _ = cv2.findHomography(source, target, cv2.RANSAC, 3.0)
    if homography is None:
        return None
    return cv2.warpPerspective(made, homography, (truth.shape[1], truth.shape[0]))


def _seen(grid, camera, sweep) -> np.ndarray:
    """Which pixels of ``grid`` the frames saw, at their true pointing."""
    from farside.scenes.geometry import orientation, project

    azimuth, elevation = grid.angles_of(*np.meshgrid(np.arange(grid.width), np.arange(grid.height)))
    seen = np.zeros((grid.height, grid.width), bool)
    for yaw, pitch in sweep:
        u, v, ahead = project(camera, orientation(yaw, pitch), azimuth, elevation)
        seen |= ahead & (u >= 0) & (u < camera.width) & (v >= 0) & (v < camera.height)
    return seen


def _coverage(covered: np.ndarray, seen: np.ndarray) -> float:
    """The share of what the frames saw that a panorama shows."""
    return float((covered & seen).sum() / max(seen.sum(), 1))


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    return _status_mb("VmHWM")


def _start_measuring() -> float:
    """Reset the process's memory high-water mark (Linux: ``clear_refs``), so the peak measured afterwards
    is the method's and not that of making the world; returns what the process holds now (world, frames)."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


def run_one(method: str, key: str) -> dict:
    """One method on one world, in this process: time, peak memory, alignment (on 128-pixel tiles at full
    size, where phase correlation on 64 pixels of regolith strays by most of a pixel on its own)."""
    from farside.scenes.panorama import grid_for, panorama
    from farside.synthetic import tile_offsets, world_seen_by

    world, world_grid = _world(key)
    frames = _frames(world, world_grid, key)
    sweep = FULL_SIZE_SWEEP if key == "lunar" else SWEEP
    tile = 128 if key == "lunar" else 64
    held = _start_measuring()
    if method == "farside":
        started = time.perf_counter()
        result = panorama(frames)
        seconds, peak = time.perf_counter() - started, _peak_mb()
        covered = result.image[:, :, 3] > 0
        used, coverage = len(frames), _coverage(covered, _seen(result.grid, frames[0].camera, sweep))
        truth = world_seen_by(world, world_grid, result.grid)
        shifts = tile_offsets(result.image[:, :, :3], truth, covered, tile)
        steps = brightness_steps(result.image[:, :, :3], truth, covered)
        failed = None
    else:
        images = [np.ascontiguousarray(f.image[:, :, ::-1]) for f in frames]
        held = _start_measuring()
        stitcher = cv2.Stitcher_create(cv2.Stitcher_PANORAMA)
        started = time.perf_counter()
        status, stitched = stitcher.stitch(images)
        seconds, peak = time.perf_counter() - started, _peak_mb()
        shifts, steps, failed, used, coverage = [], None, None, 0, 0.0
        if status != cv2.Stitcher_OK:
            failed = f"stitcher status {status}"
        else:
            used = len(stitcher.component())  # the frames it kept: it leaves out those it cannot place
            grid = grid_for(frames)
            truth = world_seen_by(world, world_grid, grid)
            registered = _register(np.ascontiguousarray(stitched[:, :, ::-1]), truth)
            if registered is None:
                failed = "panorama could not be registered to the world"
            else:
                covered = cv2.cvtColor(registered, cv2.COLOR_RGB2GRAY) > 0
                coverage = _coverage(covered, _seen(grid, frames[0].camera, sweep))
                covered = cv2.erode(covered.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
                shifts = tile_offsets(registered, truth, covered, tile)
                steps = brightness_steps(registered, truth, covered)
    return {
        "seconds": round(seconds, 3),
        "peak_mb": round(peak, 1),  # while the method ran, with what the process held before it
        "held_before_mb": round(held, 1),  # the world and the frames
        "failed": failed,
        "frames_used": f"{used} of {len(frames)}",
        "coverage": round(coverage, 3),
        "tiles": len(shifts),
        "median_px": round(float(np.median(shifts)), 3) if shifts else None,
        "p90_px": round(float(np.percentile(shifts, 90)), 3) if shifts else None,
        "worst_px": round(float(max(shifts)), 3) if shifts else None,
        "brightness_steps": round(steps, 4) if steps is not None else None,
    }


def brightness_steps(made: np.ndarray, truth: np.ndarray, covered: np.ndarray, tile: int = 32) -> float:
    """Seam visibility: the spread (standard deviation) over 32-pixel tiles of the log of the panorama's
    brightness against the world's. Exposure steps between frames widen it; a seamless panorama of
    frames whose exposures differ keeps it as small as one of frames that do not."""
    grey_made = cv2.cvtColor(made, cv2.COLOR_RGB2GRAY).astype(float)
    grey_truth = cv2.cvtColor(truth, cv2.COLOR_RGB2GRAY).astype(float)
    ratios = []
    for y in range(0, made.shape[0] - tile, tile):
        for x in range(0, made.shape[1] - tile, tile):
            cell = (slice(y, y + tile), slice(x, x + tile))
            if covered[cell].all() and 30 < grey_truth[cell].mean() < 200:
                ratios.append(np.log(grey_made[cell].mean() / grey_truth[cell].mean()))
    return float(np.std(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "WORLD"), help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each method and world [default: 5]")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], args.one[1])))
        return
    results = {}
    for world, key in WORLDS.items():
        runs: dict[str, list[dict]] = {"farside": [], "opencv-stitcher": []}
        for _ in range(args.repeat):  # the methods take turns, so a busy spell of the machine hits both
            for method, done in runs.items():
                child = subprocess.run([sys.executable, __file__, "--one", method, key],
                                       capture_output=True, text=True, check=True)  # fmt: skip
                done.append(json.loads(child.stdout.strip().splitlines()[-1]))
        for method, done in runs.items():
            # Everything but the time is the same run to run; the time is the median of the runs.
            result = dict(done[0], seconds=float(np.median([r["seconds"] for r in done])))
            result["runs_seconds"] = [r["seconds"] for r in done]
            results.setdefault(world, {})[method] = result
            print(world, method, result, flush=True)
    report = {
        "command": f"python benchmarks/panorama.py --repeat {args.repeat}",
        "sweep": "Kodak worlds: 10 frames, 588 x 432 (a PCAM at quarter resolution); lunar world: 6 frames, "
        "2352 x 1728; two tiers; label errors up to 1.5 deg, exposures within 20 %",
        "results": results,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
