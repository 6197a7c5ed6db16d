"""Neural demosaicing with the pretrained Bayer network of the ``demosaicnet`` package.

M. Gharbi, G. Chaurasia, S. Paris, F. Durand, "Deep joint demosaicking and denoising", ACM Transactions
on Graphics 35(6), 2016 (SIGGRAPH Asia). The network is applied tile by tile, so a full frame needs bounded
memory, on the CPU or on a CUDA device. Install with ``pip install farside[neural]``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from farside.cfa import as_float_cfa, pad_reflect, red_phase

# The unpadded network trims 31 samples on each side (15 valid 3x3 convolutions at quarter resolution,
# then one at full resolution); tiles overlap by that much so the seams are invisible.
_TRIM = 31
_TILE = 512


@cache
def _model(device: str) -> Any:
    import demosaicnet
    import torch

    model = demosaicnet.BayerDemosaick(pretrained=True).eval().to(device)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model, torch


def _device(device: str | None) -> str:
    import torch

    if device is not None:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def neural(
    cfa: np.ndarray, pattern: str = "RGGB", device: str | None = None, tile: int = _TILE
) -> np.ndarray:
    """Demosaic a Bayer mosaic with the pretrained demosaicnet Bayer network (Gharbi et al. 2016).

    Parameters
    ----------
    cfa : (H, W) array of any real dtype
        The raw mosaic.
    pattern : {"RGGB", "BGGR", "GRBG", "GBRG"}
        Colours of the top-left 2x2 cell.
    device : str, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; CUDA when available, else the CPU.
    tile : int
        Output tile size in samples (even); memory grows with its square.

    Returns
    -------
    (H, W, 3) float32 array in the scale of the input. The network works on [0, 1]: the mosaic is divided
    by its maximum on the way in and multiplied back on the way out.
    """
    if tile <= 0 or tile % 2:
        raise ValueError(f"tile must be a positive even number, not {tile}")
    ry, rx = red_phase(pattern)
    values = as_float_cfa(cfa)
    height, width = values.shape
    scale = float(values.max()) if values.size and values.max() > 0 else 1.0
    # The network was trained on G R / B G cells. Each window starts one sample early where needed so it
    # opens on that phase; the mirror padding keeps the mosaic's phase across the frame edges.
    shift_y, shift_x = (1 + ry) % 2, rx % 2
    margin = _TRIM + 2 + tile
    padded = pad_reflect(values / np.float32(scale), margin)
    span = tile + 2 * _TRIM + 2
    mask = np.zeros((3, span, span), np.float32)
    mask[1, 0::2, 0::2] = mask[1, 1::2, 1::2] = 1  # green
    mask[0, 0::2, 1::2] = 1  # red
    mask[2, 1::2, 0::2] = 1  # blue
    model, torch = _model(_device(device))
    device_of_model = next(model.parameters()).device
    out = np.empty((height, width, 3), np.float32)
    with torch.inference_mode():
        for y in range(0, height, tile):
            for x in range(0, width, tile):
                y0, x0 = y + margin - _TRIM - shift_y, x + margin - _TRIM - shift_x
                window = padded[y0 : y0 + span, x0 : x0 + span]
                planes = torch.from_numpy(window[None] * mask).unsqueeze(0).to(device_of_model)
                result = model(planes)[0].permute(1, 2, 0).cpu().numpy()
                h, w = min(tile, height - y), min(tile, width - x)
                out[y : y + h, x : x + w] = result[shift_y : shift_y + h, shift_x : shift_x + w]
    out *= np.float32(scale)
    return out
