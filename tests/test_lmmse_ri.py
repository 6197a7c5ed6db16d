"""The default demosaic's own parts: its LMMSE green against lmmse's, its colour against a peer."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import kodak

from farside.cfa import as_float_cfa, mosaic, pad_reflect
from farside.demosaic import demosaic
from farside.demosaic.lmmse import padded_green
from farside.demosaic.lmmse_ri import _MARGIN, _fuse_directions

cdm = pytest.importorskip("colour_demosaicing")


@pytest.mark.parametrize("pattern", ["RGGB", "GBRG"])
def test_its_green_fusion_is_lmmses_to_rounding(pattern):
    # The vectorised fusion sums the same window statistics in another order: the same estimate, to float32
    # rounding (where the signal variance nearly cancels, a few samples move by a little more).
    from farside.cfa import red_phase

    truth = kodak(5)[:200, :240]
    p = pad_reflect(as_float_cfa(mosaic(truth, pattern)), _MARGIN)
    ry, rx = red_phase(pattern)
    theirs, _ = padded_green(p, ry, rx)
    ours, _ = padded_green(p, ry, rx, _fuse_directions)
    inner = (slice(12, -12), slice(12, -12))
    difference = np.abs(ours[inner] - theirs[inner])
    assert np.median(difference) == 0.0
    assert np.percentile(difference, 99.9) < 1e-3 and difference.max() < 0.5


def test_saturated_edges_beat_colour_demosaicings_best():
    # Three windows of saturated colour (see test_demosaic.SATURATED_WINDOWS). Measured: lmmse_ri 33.34,
    # colour-demosaicing Menon2007 32.62 dB.
    from test_demosaic import cpsnr, saturated_windows

    ours, theirs = [], []
    for window in saturated_windows():
        cfa = mosaic(window, "RGGB")
        ours.append(cpsnr(demosaic(cfa, "RGGB", "lmmse_ri"), window))
        theirs.append(cpsnr(cdm.demosaicing_CFA_Bayer_Menon2007(cfa.astype(np.float64), "RGGB"), window))
    assert np.mean(ours) > np.mean(theirs) + 0.5
