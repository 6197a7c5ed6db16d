"""The ``fast`` demosaic against a plain NumPy statement of the Malvar-He-Cutler filters, bit for bit.

``fast`` is written for speed (integer samples, float32 arithmetic on filters scaled by 16, vectorised
loops), so it is checked here against the filters as the paper states them, computed the obvious way.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import kodak

from farside import demosaic
from farside.cfa import mosaic

PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")
IMAGES = (1, 13, 23)
# Full images and odd crops, down to sizes where the mirrored border wraps around more than once.
SHAPES = (None, (101, 77), (100, 77), (77, 100), (5, 3), (2, 7), (1, 1))


def reference(cfa: np.ndarray, pattern: str) -> np.ndarray:
    """Malvar, He, Cutler (ICASSP 2004) in float64 on a mirror-padded copy: one filter per site, channel."""
    height, width = cfa.shape
    p = np.pad(cfa.astype(np.float64), 2, mode="reflect")

    def at(dy: int, dx: int) -> np.ndarray:
        return p[2 + dy : 2 + dy + height, 2 + dx : 2 + dx + width]

    c = at(0, 0)
    near_row, near_column = at(0, -1) + at(0, 1), at(-1, 0) + at(1, 0)
    far_row, far_column = at(0, -2) + at(0, 2), at(-2, 0) + at(2, 0)
    corners = at(-1, -1) + at(-1, 1) + at(1, -1) + at(1, 1)
    cross = (4 * c + 2 * (near_row + near_column) - (far_row + far_column)) / 8
    diagonal = (6 * c + 2 * corners - 1.5 * (far_row + far_column)) / 8
    along_row = (5 * c + 4 * near_row - far_row - corners + 0.5 * far_column) / 8
    along_column = (5 * c + 4 * near_column - far_column - corners + 0.5 * far_row) / 8

    colour = np.array(list(pattern)).reshape(2, 2)[np.arange(height)[:, None] % 2, np.arange(width) % 2]
    red_row = np.repeat(np.any(colour == "R", axis=1, keepdims=True), width, axis=1)
    green = colour == "G"
    red = np.where(colour == "R", c, np.where(colour == "B", diagonal, 0))
    red = np.where(green, np.where(red_row, along_row, along_column), red)
    blue = np.where(colour == "B", c, np.where(colour == "R", diagonal, 0))
    blue = np.where(green, np.where(red_row, along_column, along_row), blue)
    return np.stack([red, np.where(green, c, cross), blue], axis=-1).astype(np.float32)


def crop(cfa: np.ndarray, shape: tuple[int, int] | None) -> np.ndarray:
    return cfa if shape is None else cfa[: shape[0], : shape[1]]


def assert_same_bits(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype == np.float32
    # Bits, not values: a -0.0 where the reference has 0.0 is a difference too.
    np.testing.assert_array_equal(ours.view(np.uint32), theirs.view(np.uint32))


@pytest.mark.parametrize("number", IMAGES)
@pytest.mark.parametrize("pattern", PATTERNS)
def test_integer_mosaics_match_the_filters_bit_for_bit(number, pattern):
    # On integer samples each filter is an exact multiple of 1/16 that float32 holds exactly: no tolerance.
    cfa = mosaic(kodak(number), pattern)
    for shape in SHAPES:
        for samples in (cfa, cfa.astype(np.uint16) * 257, cfa.astype(np.uint16) * 4 + 3):
            part = np.ascontiguousarray(crop(samples, shape))
            assert_same_bits(demosaic(part, pattern, "fast"), reference(part, pattern))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("pattern", PATTERNS)
def test_extreme_samples_match_the_filters(dtype, pattern):
    # Full-range noise and saturated or black fields drive every filter to its extremes (and through zero).
    top = np.iinfo(dtype).max
    noise = np.random.default_rng(7).integers(0, top + 1, (203, 157)).astype(dtype)
    fields = [noise, np.zeros((9, 11), dtype), np.full((9, 11), top, dtype)]
    checker = np.zeros((12, 13), dtype)
    checker[::2, ::2] = checker[1::2, 1::2] = top
    for cfa in [*fields, checker, noise[::3, ::2]]:
        assert_same_bits(demosaic(cfa, pattern, "fast"), reference(np.ascontiguousarray(cfa), pattern))


@pytest.mark.parametrize("number", IMAGES)
@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.dtype(">u2"), np.int32])
def test_other_types_match_malvar2004(number, pattern, dtype):
    cfa = mosaic(kodak(number), pattern).astype(dtype)
    if np.dtype(dtype).kind == "f":
        cfa = cfa / dtype(255.0)  # fractional samples, where the order of additions shows in the rounding
    for shape in SHAPES:
        part = crop(cfa, shape)
        ours = demosaic(part, pattern, "fast")
        assert_same_bits(ours, demosaic(part, pattern, "malvar2004"))
        assert np.allclose(ours, reference(part.astype(np.float64), pattern), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_fast_is_malvar2004_on_integer_mosaics(pattern):
    cfa = mosaic(kodak(5), pattern)
    for samples in (cfa, cfa.astype(np.uint16) * 257):
        for shape in ((None), (511, 767), (3, 4)):
            part = crop(samples, shape)
            assert_same_bits(demosaic(part, pattern, "fast"), demosaic(part, pattern, "malvar2004"))


def test_views_and_non_contiguous_input():
    cfa = mosaic(kodak(8), "RGGB").astype(np.uint16) * 64
    view = cfa[1:-1:1, ::-1][:, 1:]  # negative stride, offset start: the pattern is then GBRG
    assert_same_bits(demosaic(view, "GBRG", "fast"), reference(np.ascontiguousarray(view), "GBRG"))
