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


@pytest.fixture(scope="session")
def kodak_image():
    return kodak


def pytest_configure(config):
    warnings.filterwarnings("ignore", message=".*Matplotlib.*")
