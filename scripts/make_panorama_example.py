"""Make the README's panorama pictures: a whole site of a lunar world (the ground truth of the panorama
tests), 56 PCAM frames at a quarter of their resolution in two tiers all the way round, written as products
whose labels' pointing is off by up to 1.5 degrees and whose exposures differ by up to 20 %, then
``farside panorama``.

Usage: python scripts/make_panorama_example.py
(writes docs/images/panorama.jpg, the whole circle, and docs/images/panorama-detail.jpg, a part of it at
the panorama's own resolution)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from farside.scenes.geometry import Camera, Equirectangular
from farside.synthetic import lunar_world, write_sweep

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    camera = Camera(width=588, height=432, focal_px=50 / 7.4e-3 / 4)  # a PCAM at a quarter of its resolution
    width = round(2 * np.pi * camera.focal_px)  # the world as sharp as the frames
    grid = Equirectangular(360.0 / width, -180.0, 0.0, width, round(45.0 * width / 360.0))
    world = lunar_world(grid, seed=0)
    sweep = [(index * 360.0 / 28, pitch) for pitch in (-12.0, -24.0) for index in range(28)]
    rng = np.random.default_rng(5)
    errors = rng.uniform(-1.5, 1.5, (len(sweep), 2))
    errors -= errors.mean(axis=0)
    gains = rng.uniform(0.8, 1.2, len(sweep))
    with tempfile.TemporaryDirectory() as work:
        write_sweep(
            world, grid, camera, sweep, Path(work) / "site", errors, pixel_size_um=7.4 * 4, gains=gains
        )
        subprocess.run([sys.executable, "-m", "farside", "panorama", str(Path(work) / "site"), "-o",
                        str(Path(work) / "pano")], check=True)  # fmt: skip
        rgba = cv2.imread(str(next((Path(work) / "pano").glob("*.png"))), cv2.IMREAD_UNCHANGED)
    alpha = rgba[:, :, 3:4] / 255.0
    flat = (rgba[:, :, :3] * alpha + 24 * (1 - alpha)).astype(np.uint8)  # uncovered area as dark grey
    images = ROOT / "docs" / "images"
    whole = cv2.resize(
        flat, (1600, round(flat.shape[0] * 1600 / flat.shape[1])), interpolation=cv2.INTER_AREA
    )
    cv2.imwrite(str(images / "panorama.jpg"), whole, [cv2.IMWRITE_JPEG_QUALITY, 88])
    # The part with the most colour in it, at the panorama's own resolution.
    saturation = cv2.cvtColor(flat, cv2.COLOR_BGR2HSV)[:, :, 1].astype(np.float32)
    columns = np.convolve(saturation.sum(axis=0), np.ones(1200), mode="valid")
    left = int(np.argmax(columns))
    cv2.imwrite(
        str(images / "panorama-detail.jpg"), flat[:, left : left + 1200], [cv2.IMWRITE_JPEG_QUALITY, 88]
    )
    print(images / "panorama.jpg", images / "panorama-detail.jpg")


if __name__ == "__main__":
    main()
