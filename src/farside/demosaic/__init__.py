"""Bayer demosaicing: one method per module, all with the signature ``method(cfa, pattern) -> rgb``.

>>> import numpy as np
>>> rgb = demosaic(np.full((8, 8), 512, np.uint16), "RGGB", method="bilinear")
>>> rgb.shape, rgb.dtype
((8, 8, 3), dtype('float32'))
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from farside.cfa import PATTERNS
from farside.demosaic.bilinear import bilinear
from farside.demosaic.fast import fast
from farside.demosaic.lmmse import lmmse
from farside.demosaic.lmmse_ri import lmmse_ri
from farside.demosaic.malvar2004 import malvar2004
from farside.demosaic.menon2007 import menon2007


@dataclass(frozen=True)
class Method:
    name: str
    function: Callable[[np.ndarray, str], np.ndarray]
    summary: str


METHODS: dict[str, Method] = {}


def register(name: str, function: Callable[[np.ndarray, str], np.ndarray], summary: str) -> None:
    """Make a method available to :func:`demosaic` and the command line under ``name``."""
    METHODS[name] = Method(name, function, summary)


register(
    "lmmse_ri",
    lmmse_ri,
    "LMMSE green refined and completed by residual interpolation (Zhang-Wu 2005; Kiku et al. RI 2013, MLRI "
    "2014): best classical quality on plain and saturated colour (the default).",
)
register("lmmse", lmmse, "Zhang-Wu 2005 directional LMMSE on colour differences: the previous default.")
register("menon2007", menon2007, "Menon-Andriani-Calvagno 2007 DDFAPD with its refining step.")
register("malvar2004", malvar2004, "Malvar-He-Cutler 2004 gradient-corrected linear filters.")
register("fast", fast, "Malvar-He-Cutler filters on the integer mosaic, restructured for speed.")
register("bilinear", bilinear, "Bilinear interpolation: the baseline, softest.")

if importlib.util.find_spec("demosaicnet") is not None:  # the optional extra farside[neural]
    from farside.demosaic.neural import neural

    register("neural", neural, "Gharbi et al. 2016 pretrained network (demosaicnet), tiled; CPU or CUDA.")

DEFAULT_METHOD = "lmmse_ri"


def demosaic_methods() -> dict[str, str]:
    """Available methods, each with a one-line summary."""
    return {name: method.summary for name, method in METHODS.items()}


def demosaic(cfa: np.ndarray, pattern: str = "RGGB", method: str | None = None) -> np.ndarray:
    """Reconstruct full colour from a Bayer mosaic.

    Parameters
    ----------
    cfa : (H, W) array, uint8, uint16 or float
        The raw mosaic, any size (odd sizes included).
    pattern : {"RGGB", "BGGR", "GRBG", "GBRG"}
        Colours of the top-left 2x2 cell as stored.
    method : str, optional
        A name from :func:`demosaic_methods`; the default method when None.

    Returns
    -------
    (H, W, 3) float32 array in the scale of the input.
    """
    name = method or DEFAULT_METHOD
    if name not in METHODS:
        raise ValueError(f"unknown demosaic method {name!r}; available: {', '.join(METHODS)}")
    return METHODS[name].function(cfa, pattern)


__all__ = ["DEFAULT_METHOD", "METHODS", "PATTERNS", "demosaic", "demosaic_methods", "register"]
