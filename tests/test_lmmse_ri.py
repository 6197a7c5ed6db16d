"""The default demosaic's own parts: its LMMSE green against lmmse's, its colour against a peer."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from conftest import kodak

from farside.cfa import as_float_cfa, mosaic, new_array, pad_reflect, red_phase
from farside.demosaic import demosaic
from farside.demosaic.lmmse_ri import _MARGIN, _directional_green

cdm = pytest.importorskip("colour_demosaicing")
# The module, not the function of the same name that farside.demosaic exports.
lmmse_kernels = importlib.import_module("farside.demosaic.lmmse")


@pytest.mark.parametrize("pattern", ["RGGB", "GBRG"])
def test_its_green_is_lmmses_to_rounding(pattern):
    # The banded, vectorised green works in float32 and sums in another order: lmmse's estimate, to rounding
    # (where the signal variance nearly cancels, a few samples move by a little more).
    ry, rx = red_phase(pattern)
    truth = kodak(5)[:200, :240]
    p = pad_reflect(as_float_cfa(mosaic(truth, pattern)), _MARGIN)
    dh, dv, sh, sv, theirs = (new_array(p.shape) for _ in range(5))
    lmmse_kernels._observations(p, ry, rx, dh, dv)
    lmmse_kernels._smooth(dh, dv, lmmse_kernels._GAUSS, sh, sv)
    lmmse_kernels._green(p, ry, rx, dh, dv, sh, sv, theirs)
    ours = new_array(p.shape)
    _directional_green(p, 1 - ((ry + rx) & 1), lmmse_kernels._GAUSS, ours)
    inner = (slice(12, -12), slice(12, -12))
    difference = np.abs(ours[inner] - theirs[inner])
    assert np.median(difference) < 1e-5
    assert np.percentile(difference, 99.9) < 1e-2 and difference.max() < 0.5


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


def test_compiled_and_cached_kernels_give_the_same_image(tmp_path):
    # A frame converted by one process must equal the same frame converted by another (a batch worker, the
    # command line), whether numba compiled the kernels there or loaded them from its cache. With fast-math
    # flags the two differed by up to 0.01 of a level.
    import subprocess
    import sys

    script = (
        "import sys, numpy as np; from farside.demosaic import demosaic; "
        "rng = np.random.default_rng(5); cfa = (rng.random((96, 128)) * 1023).astype(np.uint16); "
        "np.save(sys.argv[1], demosaic(cfa, 'GRBG', 'lmmse_ri'))"
    )
    env = {**__import__("os").environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    for name in ("compiled.npy", "cached.npy"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / name)], check=True, env=env)
    assert np.array_equal(np.load(tmp_path / "compiled.npy"), np.load(tmp_path / "cached.npy"))
