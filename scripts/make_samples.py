"""Regenerate the sample products bundled in src/farside/samples from the Kodak test images.

Every sample is recorded through farside.synthetic's sensor model, as a real camera delivers its frames:
resized onto the sensor, blurred by the optics, with shot and read noise, at the bit depth, black level and
CFA of the kind's bundled profile. No defects are planted: converting them should repair (nearly) nothing.

Usage: python scripts/make_samples.py [KODAK_DIR]   (default ../shared/data/kodak)
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from farside.synthetic import KINDS, lunar_scene, scene_pixels, simulate_raw, write_product

OUT = Path(__file__).resolve().parents[1] / "src" / "farside" / "samples"


def kodak(folder: Path, number: int) -> np.ndarray:
    return cv2.imread(str(folder / f"kodim{number:02d}.png"), cv2.IMREAD_COLOR)[:, :, ::-1]


def main() -> None:
    folder = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared/data/kodak"
    )
    for old in OUT.glob("CE*"):
        old.unlink()
    day = datetime(2019, 1, 4, 8, 45, 59, tzinfo=UTC)
    # Yutu-2 PCAM colour: a lunar scene (neutral regolith, gold foil) and a Kodak scene, both raw RGGB.
    write_product(
        "ce4-pcam-c", None, OUT, pixels=simulate_raw(lunar_scene(512, 768, seed=4), (512, 768)), start=day
    )
    write_product("ce4-pcam-c", None, OUT, pixels=simulate_raw(kodak(folder, 5), (512, 768)),
                  start=day.replace(minute=50))  # fmt: skip
    # PCAM panchromatic, TCAM colour 2C (with the false-colour last row and column), LCAM descent frame.
    write_product("ce4-pcam-q", kodak(folder, 8), OUT, shape=(384, 576), start=day.replace(minute=52))
    tcam = scene_pixels(KINDS["ce4-tcam"], kodak(folder, 23), (512, 768, 3))
    tcam[-1, :] = (255, 0, 255)
    tcam[:, -1] = (0, 255, 0)
    write_product("ce4-tcam", None, OUT, pixels=tcam, start=datetime(2019, 1, 11, 19, 57, 9, tzinfo=UTC))
    write_product(
        "ce4-lcam", kodak(folder, 13), OUT, shape=(512, 512), start=datetime(2019, 1, 3, 2, 20, 9, tzinfo=UTC)
    )
    # Chang'e-3 PCAM 2B with its PDS3 label attached.
    ce3 = simulate_raw(kodak(folder, 19), (768, 512))
    write_product("ce3-pcam-2b", None, OUT, pixels=ce3, start=datetime(2014, 1, 13, 20, 0, 2, tzinfo=UTC))
    for path in sorted(OUT.glob("CE*")):
        print(f"{path.stat().st_size:>10,}  {path.name}")


if __name__ == "__main__":
    main()
