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


@pytest.fixture(scope="session")
def gallery_outputs(tmp_path_factory):
    """Outputs of a small synthetic release to build galleries from: five frames converted from products
    (Chang'e-4 PCAM left and right, TCAM, LCAM; Chang'e-5 PCAM on a later day), a panorama of a
    three-frame sweep, an anaglyph of the PCAM pair and a landing movie (H.264 MP4)."""
    from dataclasses import replace
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from farside.gallery import synthetic as outputs
    from farside.synthetic import KINDS, lunar_scene, sequence_start, write_product

    root = tmp_path_factory.mktemp("gallery-outputs")
    release, converted, pano = root / "release", root / "converted", root / "pano"
    right = replace(KINDS["ce4-pcam-c"], instrument_field="PCAMR-C-006", instrument_id="PCAMR")
    labels = [
        write_product("ce4-pcam-c", kodak(1), release, shape=(192, 256), start=sequence_start(0)),
        write_product(right, kodak(1), release, shape=(192, 256), start=sequence_start(1)),
        write_product("ce4-tcam", kodak(5), release, shape=(192, 256, 3), start=sequence_start(2)),
        write_product("ce4-lcam", lunar_scene(192, 256), release, shape=(192, 256), start=sequence_start(3)),
        write_product(
            "ce5-pcam", kodak(8), release, shape=(192, 256), start=datetime(2020, 12, 3, 9, 30, 0, tzinfo=UTC)
        ),
    ]
    frames = outputs.convert_products(labels, converted)
    anaglyph = outputs.write_anaglyph(converted, frames[0], frames[1], labels[0], labels[1])
    movie = outputs.write_movie(converted / "landing.mp4", outputs.descent_frames(12, 128),
                                outputs.landing_names(12))  # fmt: skip
    panorama = outputs.write_sweep_panorama(root / "sweep", pano)
    return SimpleNamespace(root=root, release=release, labels=labels, converted=converted, frames=frames,
                           anaglyph=anaglyph, movie=movie, pano=pano, panorama=panorama)  # fmt: skip
