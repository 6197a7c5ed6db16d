"""Shared fixtures: Kodak scenes (ground truth) and synthetic GRAS products built from them."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
KODAK = SHARED / "data" / "kodak"
DOCS = SHARED / "docs"


def kodak(number: int) -> np.ndarray:
    """Kodak image ``number`` as (H, W, 3) uint8 RGB."""
    image = cv2.imread(str(KODAK / f"kodim{number:02d}.png"), cv2.IMREAD_COLOR)
    assert image is not None, f"missing Kodak image {number} under {KODAK}"
    return np.ascontiguousarray(image[:, :, ::-1])


HELD_OUT = ("astronaut", "chelsea", "coffee", "motorcycle_left", "motorcycle_right")


def held_out(name: str) -> np.ndarray:
    """A natural photograph bundled with scikit-image (never used to tune anything), even-sized RGB."""
    from importlib import resources

    path = resources.files("skimage") / "data" / f"{name}.png"
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1]
    return np.ascontiguousarray(image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2])


@pytest.fixture(scope="session")
def kodak_image():
    return kodak


def pytest_configure(config):
    warnings.filterwarnings("ignore", message=".*Matplotlib.*")
