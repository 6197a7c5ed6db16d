"""Synthetic outputs to build galleries from, for the tests, the benchmark and the README's pictures.

Frames are real conversions of synthetic products (:func:`farside.synthetic.write_product`) and the
panorama a real ``farside panorama`` of a synthetic sweep. Anaglyphs and movies are written here the way
their commands describe them: the picture or an H.264 MP4 (PyAV, the ``av`` package, needed only for
movies) with a sidecar whose ``kind`` is ``anaglyph`` or ``movie`` and which lists its products.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from farside.output import encode_png, farside_version, write_atomic


def write_sidecar(output: Path, description: dict[str, Any]) -> Path:
    """``output``'s sidecar, ``NAME.ext.json``."""
    path = output.with_name(output.name + ".json")
    write_atomic(path, (json.dumps(description, indent=2) + "\n").encode("utf-8"))
    return path


def convert_products(labels: Sequence[Path], out_dir: Path, shared_look: bool = False) -> list[Path]:
    """Convert each product with farside's default settings into ``out_dir``; returns the outputs. With
    ``shared_look``, one white balance and stretch for them all (as ``--shared-stretch``): a stereo pair's
    eyes then match."""
    import farside

    if not shared_look:
        return [farside.convert(label, out_dir)[0] for label in labels]
    from farside.conversion import Request, plan, write_planned
    from farside.conversion import shared_look as look_of

    planned = [plan(label, out_dir, Request()) for label in labels]
    look, _ = look_of(planned)
    return [write_planned(item, look)[0] for item in planned]


def anaglyph(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """A red–cyan colour anaglyph: red from the left eye's picture, green and blue from the right's."""
    out = right[:, :, :3].copy()
    out[:, :, 0] = left[:, :, 0]
    return out


def write_anaglyph(out_dir: Path, left: Path, right: Path, left_product: Path, right_product: Path) -> Path:
    """An anaglyph of two converted frames (RGB outputs of the same size) with its sidecar."""
    pair = [cv2.imread(os.fspath(p), cv2.IMREAD_COLOR)[:, :, ::-1] for p in (left, right)]
    image = anaglyph(*pair)
    name = f"{left_product.name.removesuffix('L')}_anaglyph.png"
    target = out_dir / name
    write_atomic(
        target, encode_png(np.ascontiguousarray(image), {"Software": f"farside {farside_version()}"})
    )
    write_sidecar(target, {
        "kind": "anaglyph",
        "method": "colour: red from the left eye, green and blue from the right",
        "left": str(left_product.resolve()),
        "right": str(right_product.resolve()),
        "software": f"farside {farside_version()}",
    })  # fmt: skip
    return target


def write_movie(target: Path, frames: Sequence[np.ndarray], products: Sequence[str], fps: int = 10) -> Path:
    """An H.264 (yuv420p) MP4 of RGB ``frames`` (even sizes) and its sidecar listing ``products``."""
    import av

    height, width = frames[0].shape[:2]
    temporary = target.with_name(f".{target.name}.part")
    with av.open(os.fspath(temporary), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "28", "preset": "veryfast"}
        for frame in frames:
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(temporary, target)
    write_sidecar(target, {
        "kind": "movie",
        "fps": fps,
        "frame_count": len(frames),
        "frames": list(products),
        "software": f"farside {farside_version()}",
    })  # fmt: skip
    return target


def descent_frames(count: int, size: int = 256, seed: int = 0) -> list[np.ndarray]:
    """A landing camera's view closing in on a lunar scene: each frame a smaller part of it, enlarged."""
    from farside.synthetic import lunar_scene

    ground = lunar_scene(size * 4, size * 4, seed)[size:, :]  # no sky: the camera looks down
    frames = []
    for index in range(count):
        half = int(ground.shape[0] / 2 * (1 - 0.6 * index / max(1, count - 1)))
        cy, cx = ground.shape[0] // 2, ground.shape[1] // 2
        view = ground[cy - half : cy + half, cx - half : cx + half]
        frames.append(cv2.resize(view, (size, size), interpolation=cv2.INTER_AREA))
    return frames


def landing_names(count: int, start: datetime | None = None) -> list[str]:
    """LCAM product names for a descent's frames, about ten a second."""
    start = start or datetime(2019, 1, 3, 2, 20, 9, tzinfo=UTC)
    names = []
    for index in range(count):
        stamp = (start + timedelta(seconds=index // 10)).strftime("%Y%m%d%H%M%S")
        names.append(f"CE4_GRAS_LCAM-1-{index:04d}_SCI_N_{stamp}_{stamp}_0001_A.2AL")
    return names


def write_sweep_panorama(products: Path, out_dir: Path, columns: int = 3, tiers: int = 1, scale: float = 1.0,
                         seed: int = 0, sequence_id: str = "0067") -> Path:  # fmt: skip
    """A panorama of a sweep of a lunar world by a quarter-resolution PCAM (``columns`` yaws 12.9° apart in
    ``tiers`` tiers of pitch), through ``farside.panorama`` without refinement (the labels are exact)."""
    import farside
    from farside.scenes.geometry import Camera, Equirectangular
    from farside.synthetic import lunar_world, write_sweep

    camera = Camera(width=588, height=432, focal_px=50 / 7.4e-3 / 4)
    degrees = float(np.degrees(1 / camera.focal_px))
    grid = Equirectangular(degrees, -60.0, 5.0, int(120 / degrees), int(55 / degrees))
    world = lunar_world(grid, seed)
    yaws = [12.9 * (i - (columns - 1) / 2) for i in range(columns)]
    sweep = [(yaw, -12.0 - 12.0 * tier) for tier in range(tiers) for yaw in yaws]
    write_sweep(world, grid, camera, sweep, products, pixel_size_um=7.4 * 4, sequence_id=sequence_id)
    outcome = farside.panorama(products, out_dir, scale=scale, refine=False)
    made = [o.output for o in outcome if o.output]
    if not made:
        raise RuntimeError(f"no panorama made: {[o.problems for o in outcome]}")
    return Path(made[0])
