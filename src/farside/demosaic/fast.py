"""The fastest method that still corrects colour edges, for previews and quick looks.

Today it is the Malvar-He-Cutler gradient-corrected filters (H. S. Malvar, L.-W. He, R. Cutler, ICASSP
2004) of :mod:`farside.demosaic.malvar2004`, run on the mosaic in its own integer type; the name stays
stable if a faster method of at least that quality replaces them.
"""

from __future__ import annotations

import numpy as np

from farside.cfa import native_cfa
from farside.demosaic.malvar2004 import run_pairs


def fast(cfa: np.ndarray, pattern: str = "RGGB") -> np.ndarray:
    """Demosaic quickly with Malvar-He-Cutler filters (same output as ``malvar2004``).

    Parameters
    ----------
    cfa : (H, W) array, uint8, uint16 or float
        The raw mosaic.
    pattern : {"RGGB", "BGGR", "GRBG", "GBRG"}
        Colours of the top-left 2x2 cell.

    Returns
    -------
    (H, W, 3) float32 array in the scale of the input.

    Examples
    --------
    >>> fast(np.full((5, 7), 3, np.uint16))[2, 6].tolist()
    [3.0, 3.0, 3.0]
    """
    return run_pairs(native_cfa(cfa), pattern)
