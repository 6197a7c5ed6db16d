"""Make the README's before/after pictures from a bundled sample product.

Usage: python scripts/make_readme_images.py   (writes docs/images/)
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

import farside
from farside.samples import sample_products

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"


def save(path: Path, rgb: np.ndarray, width: int = 480) -> None:
    height = round(rgb.shape[0] * width / rgb.shape[1])
    small = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    bgr = small[:, :, ::-1] if small.ndim == 3 else small
    cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(path)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for product_path in sample_products():
        product = farside.read(product_path)
        if product.meta.mode != "C" or product.meta.mission != "CE4":
            continue
        stem = "lunar" if product.meta.start_time.minute == 45 else "kodak"
        raw = np.asarray(product.image, np.float32)
        # "Before": the stored mosaic as a PDS viewer shows it, scaled linearly to its range.
        before = np.clip(raw / max(float(raw.max()), 1.0) * 255, 0, 255).astype(np.uint8)
        save(OUT / f"{stem}-as-stored.jpg", before)
        save(OUT / f"{stem}-farside.jpg", farside.render(product).image)


if __name__ == "__main__":
    main()
