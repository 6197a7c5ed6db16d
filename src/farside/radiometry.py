"""Radiance: data numbers in physical units, where the label gives absolute calibration coefficients.

GRAS labels give per-channel absolute radiometric calibration coefficients for some cameras (the TCAM
``acali`` string, "absolute radiometric calibration parameters of (R G B)"; MSCam's
``absolute_radiation_calibration_parameter``). farside applies them in the usual linear form

    radiance = coefficient x (DN - black level) [/ exposure time in s, where it and its unit are known]

after the flat field and hot-pixel repair, and before any colour or tone step. The units are those of the
coefficients, which the labels do not state; the output records the formula used.
"""

from __future__ import annotations

import numpy as np

from farside.cfa import cell_values
from farside.demosaic import demosaic
from farside.errors import RadianceError
from farside.pipeline import Settings, linearize
from farside.products.reader import Product


def radiance(product: Product, settings: Settings) -> tuple[np.ndarray, dict[str, object]]:
    """Radiance image (float32; (H, W, 3) for colour, (H, W) for one band) and a description of it.

    Raises
    ------
    RadianceError
        When the label gives no coefficients, or not one per channel of the frame.
    """
    coefficients = product.meta.radiometric_coefficients
    if not coefficients:
        raise RadianceError(
            product.label_path,
            "the label gives no absolute radiometric calibration coefficients: no radiance",
        )
    linear = linearize(product, settings, dn=True)
    frame = linear.frame
    channels = 3 if frame.ndim == 3 or linear.mosaic else 1
    if len(coefficients) != channels:
        raise RadianceError(
            product.label_path,
            f"the label gives {len(coefficients)} calibration coefficients for a {channels}-channel frame",
        )
    k = np.asarray(coefficients, np.float32) * np.float32(linear.exposure_factor)
    if linear.mosaic:
        frame *= np.tile(cell_values(linear.mosaic, k), (frame.shape[0] // 2 + 1, frame.shape[1] // 2 + 1))[
            : frame.shape[0], : frame.shape[1]
        ]
        frame = demosaic(frame, linear.mosaic, settings.demosaic)
    else:
        frame = frame * (k if frame.ndim == 3 else k[0])
    formula = "coefficient x (DN - black level)"
    if linear.exposure_s:
        formula += f" / exposure time ({linear.exposure_s} s)"
    description = {
        "quantity": "radiance",
        "formula": formula,
        "coefficients": list(coefficients),
        "units": "those of the label's calibration coefficients (not stated by the label)",
        **linear.applied,
    }
    return frame.astype(np.float32, copy=False), description
