"""Make the README's anaglyph picture: a stereo pair of the synthetic rock field the anaglyph tests use (flat
regolith strewn with rocks, lit from one side), both PCAM eyes at half their resolution 270 mm apart on a
mast 1.5 m up, the right eye mounted 4 px low and rolled by half a degree, written as products (the right
frame first, the left 15 s later), then ``farside anaglyph`` with its defaults (Dubois' matrices, the near
ground at the screen).

Usage: python scripts/make_anaglyph_example.py
(writes docs/images/anaglyph.jpg; view it with red-cyan glasses, red over the left eye)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

from farside.scenes.geometry import Camera
from farside.synthetic import stereo_scene, write_stereo_pair

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 300_000  # bytes: small enough for the README


def main() -> None:
    camera = Camera(width=1176, height=864, focal_px=50 / 7.4e-3 / 2)  # a PCAM at half its resolution
    scene = stereo_scene(seed=3)
    with tempfile.TemporaryDirectory() as work:
        pair = write_stereo_pair(scene, camera, Path(work) / "pair", right_shift_px=4.0, right_roll_deg=0.5,
                                 pixel_size_um=7.4 * 2)  # fmt: skip
        subprocess.run([sys.executable, "-m", "farside", "anaglyph", str(pair.left_label.parent), "-o",
                        str(Path(work) / "out")], check=True)  # fmt: skip
        image = cv2.imread(str(next((Path(work) / "out").glob("*_anaglyph.png"))), cv2.IMREAD_COLOR)
    width = 900
    image = cv2.resize(
        image, (width, round(image.shape[0] * width / image.shape[1])), interpolation=cv2.INTER_AREA
    )
    target = ROOT / "docs" / "images" / "anaglyph.jpg"
    # Red and cyan edges suffer most from chroma subsampling: full chroma, the best quality that fits.
    full_chroma = [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    for quality in range(92, 50, -4):
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality, *full_chroma])
        if ok and len(data) <= LIMIT:
            break
    target.write_bytes(data.tobytes())
    print(target, f"{len(data):,} bytes, quality {quality}")


if __name__ == "__main__":
    main()
