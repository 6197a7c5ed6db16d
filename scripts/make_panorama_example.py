"""Make the README's panorama picture: a two-tier PCAM sweep of a Kodak scene laid over azimuth and
elevation, written as products whose labels' pointing is off by up to 1.5 degrees, then `farside panorama`.

Usage: python scripts/make_panorama_example.py [KODAK_DIR]   (writes docs/images/panorama.jpg)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from farside.scenes.geometry import Camera, Equirectangular
from farside.synthetic import write_sweep

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    kodak = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "kodak"
    grid = Equirectangular(90.0 / 1536, -45.0, 0.0, 1536, 768)
    world = cv2.resize(cv2.imread(str(kodak / "kodim13.png"))[:, :, ::-1], (grid.width, grid.height),
                       interpolation=cv2.INTER_CUBIC)  # fmt: skip
    camera = Camera(width=588, height=432, focal_px=50 / 7.4e-3 / 4)  # a PCAM at a quarter of its resolution
    sweep = [(yaw, pitch) for pitch in (-12.0, -24.0) for yaw in (-25.8, -12.9, 0.0, 12.9, 25.8)]
    errors = np.random.default_rng(5).uniform(-1.5, 1.5, (len(sweep), 2))
    errors -= errors.mean(axis=0)
    with tempfile.TemporaryDirectory() as work:
        write_sweep(world, grid, camera, sweep, Path(work) / "sweep", errors, pixel_size_um=7.4 * 4)
        subprocess.run([sys.executable, "-m", "farside", "panorama", str(Path(work) / "sweep"), "-o",
                        str(Path(work) / "pano")], check=True)  # fmt: skip
        rgba = cv2.imread(str(next((Path(work) / "pano").glob("*.png"))), cv2.IMREAD_UNCHANGED)
    alpha = rgba[:, :, 3:4] / 255.0
    flat = (rgba[:, :, :3] * alpha + 24 * (1 - alpha)).astype(np.uint8)  # uncovered area as dark grey
    width = 960
    small = cv2.resize(
        flat, (width, round(flat.shape[0] * width / flat.shape[1])), interpolation=cv2.INTER_AREA
    )
    out = ROOT / "docs" / "images" / "panorama.jpg"
    cv2.imwrite(str(out), small, [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(out)


if __name__ == "__main__":
    main()
