"""Demosaic methods side by side: CPSNR on three image sets, speed on a 16-bit 2352 x 1728 frame, memory.

farside's methods are measured in the same run as colour-demosaicing, OpenCV and (when installed)
demosaicnet. CPSNR: RGGB mosaics, 8-bit RGB, 10-pixel border excluded, on

- Kodak: the 24 Kodak PhotoCD images;
- held-out photos: five whole photographs bundled with scikit-image (astronaut, chelsea, coffee, motorcycle
  left and right);
- held-out saturated: scenes of the McMaster (IMAX) kind, where colours are saturated and change sharply. No
  such set may be redistributed here, so it is assembled by a fixed rule from the colour photographs bundled
  with scikit-image (astronaut, chelsea, coffee, immunohistochemistry, motorcycle, rocket, retina): from each,
  the 256 x 256 window with the most colour-difference Laplacian energy (|lap(R - G)| + |lap(B - G)|), with
  the 10-pixel border around it.

No method was tuned on the held-out sets. Speed and memory are measured in a fresh process per method (one
method's leftovers, such as fragmented memory or spinning worker threads, otherwise slow the next), after a
warm-up on a small frame, with the C allocator set as in farside's batch workers (freed memory reused, not
returned to the system), so that page faults on fresh output arrays do not dominate the fastest methods.
Speed: median of repeated runs on one 2352 x 1728 uint16 frame (10-bit values). Peak memory: the growth of
the process's peak resident size during the first full-frame run (so it includes the output array, 48.8 MB).

Usage: python benchmarks/demosaic.py [--quick]
Writes benchmarks/results/demosaic.json and benchmarks/results/demosaic.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
KODAK = HERE.parents[1] / "shared" / "data" / "kodak"
FRAME = (1728, 2352)


def _farside(name):
    def run(cfa):
        from farside import demosaic

        return demosaic(cfa, "RGGB", name)

    return run


def _colour(name):
    def run(cfa):
        import colour_demosaicing

        function = getattr(colour_demosaicing, f"demosaicing_CFA_Bayer_{name}")
        return function(cfa.astype(np.float64), "RGGB")

    return run


def _opencv(code, eight_bit=False):
    def run(cfa):
        source = cfa
        scale = 1.0
        if eight_bit and cfa.dtype != np.uint8:
            scale = max(float(cfa.max()), 1.0) / 255.0
            source = np.clip(np.round(cfa / scale), 0, 255).astype(np.uint8)
        elif cfa.dtype not in (np.uint8, np.uint16):
            source = np.clip(np.round(cfa), 0, 65535).astype(np.uint16)
        # OpenCV names Bayer codes after the second row's first two colours: RGGB is its "BG" code.
        return cv2.cvtColor(source, code)[:, :, ::-1].astype(np.float32) * scale

    return run


def _demosaicnet():
    from farside.demosaic import METHODS

    if "neural" not in METHODS:
        raise ImportError("farside[neural] not installed")
    neural = _farside("neural")

    def run(cfa):
        # torch is imported only here: its OpenMP threads would otherwise slow every method timed after it.
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        return neural(cfa)

    return run


def methods() -> dict[str, tuple[str, object]]:
    table = {
        "farside lmmse_ri (default)": ("farside", _farside("lmmse_ri")),
        "farside lmmse (previous default)": ("farside", _farside("lmmse")),
        "farside menon2007": ("farside", _farside("menon2007")),
        "farside malvar2004": ("farside", _farside("malvar2004")),
        "farside fast": ("farside", _farside("fast")),
        "farside bilinear": ("farside", _farside("bilinear")),
        "colour-demosaicing Menon2007": ("peer", _colour("Menon2007")),
        "colour-demosaicing Malvar2004": ("peer", _colour("Malvar2004")),
        "colour-demosaicing bilinear": ("peer", _colour("bilinear")),
        "OpenCV bilinear": ("peer", _opencv(cv2.COLOR_BayerBG2BGR)),
        "OpenCV edge-aware": ("peer", _opencv(cv2.COLOR_BayerBG2BGR_EA)),
        "OpenCV VNG (8-bit)": ("peer", _opencv(cv2.COLOR_BayerBG2BGR_VNG, eight_bit=True)),
    }
    with contextlib.suppress(ImportError):
        table["farside neural (demosaicnet)"] = ("farside", _demosaicnet())
    return table


def mosaic(rgb):
    from farside.cfa import mosaic as cfa_of

    return cfa_of(rgb, "RGGB")


def cpsnr(estimate, truth, border=10):
    e = np.clip(np.round(estimate), 0, 255)[border:-border, border:-border]
    t = truth[border:-border, border:-border].astype(np.float64)
    return float(10 * np.log10(255.0**2 / np.mean((e - t) ** 2)))


def kodak_images(count):
    for n in range(1, count + 1):
        yield cv2.imread(str(KODAK / f"kodim{n:02d}.png"))[:, :, ::-1].copy()


HELD_OUT = ("astronaut", "chelsea", "coffee", "motorcycle_left", "motorcycle_right")


def held_out_images():
    """scikit-image's bundled photographs: natural images no method here was tuned on."""
    from importlib import resources

    for name in HELD_OUT:
        image = cv2.imread(str(resources.files("skimage") / "data" / f"{name}.png"))[:, :, ::-1]
        yield np.ascontiguousarray(image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2])


SATURATED_SOURCES = ("astronaut", "chelsea", "coffee", "ihc", "motorcycle_left", "rocket.jpg", "retina.jpg")
WINDOW = 256
BORDER = 10


def sharpest_colour_window(image: np.ndarray, size: int = WINDOW, border: int = BORDER) -> np.ndarray:
    """The size x size window (plus its border) with the most colour-difference Laplacian energy."""
    rgb = image.astype(np.float32)
    energy = np.abs(cv2.Laplacian(rgb[..., 0] - rgb[..., 1], cv2.CV_32F))
    energy += np.abs(cv2.Laplacian(rgb[..., 2] - rgb[..., 1], cv2.CV_32F))
    energy[:border], energy[-border:], energy[:, :border], energy[:, -border:] = 0, 0, 0, 0
    sums = cv2.integral(energy)
    window = sums[size:, size:] - sums[:-size, size:] - sums[size:, :-size] + sums[:-size, :-size]
    limit = (image.shape[0] - size - border, image.shape[1] - size - border)
    window = window[border : limit[0] + 1, border : limit[1] + 1]
    y, x = np.unravel_index(int(np.argmax(window)), window.shape)
    y, x = y + border, x + border
    return np.ascontiguousarray(image[y - border : y + size + border, x - border : x + size + border])


def saturated_images():
    from importlib import resources

    for name in SATURATED_SOURCES:
        file = name if "." in name else f"{name}.png"
        image = cv2.imread(str(resources.files("skimage") / "data" / file))[:, :, ::-1]
        yield name.split(".")[0], sharpest_colour_window(image)


def frame():
    scene = cv2.imread(str(KODAK / "kodim05.png"))[:, :, ::-1]
    from farside.synthetic import simulate_raw

    return simulate_raw(scene, FRAME, bit_depth=10)


def peak_rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise OSError("no VmHWM in /proc/self/status")


def speed_and_memory(name: str, frame_file: Path, repeat: int) -> tuple[float, float]:
    """Median seconds per full frame and extra peak RSS (MB) of the first full-frame run, in a fresh
    process (this script with ``--measure``)."""
    command = [sys.executable, __file__, "--measure", name, str(frame_file), str(repeat)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    seconds, grown = result.stdout.strip().splitlines()[-1].split()
    return float(seconds), float(grown)


def measure(name: str, frame_file: str, repeat: int) -> None:
    from farside.batch import _keep_freed_memory

    # Allocate as farside's batch workers do, for every method alike: freed memory is reused rather than
    # returned to the system and faulted in afresh by each call (whose cost varied 2x between runs).
    _keep_freed_memory()
    run = methods()[name][1]
    big = np.load(frame_file)
    run(big[:64, :64])  # compile / warm up
    # VmHWM (not ru_maxrss, which Linux carries over from the parent across exec) is this process's peak.
    before = peak_rss_kb()
    run(big)
    grown = (peak_rss_kb() - before) / 1024
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run(big)
        times.append(time.perf_counter() - start)
    print(statistics.median(times), grown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 Kodak images, fewer timing runs")
    parser.add_argument("--measure", nargs=3, metavar=("METHOD", "FRAME", "REPEAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.measure:
        measure(args.measure[0], args.measure[1], int(args.measure[2]))
        return
    images = list(kodak_images(4 if args.quick else 24))
    cfas = [mosaic(im) for im in images]
    others = list(held_out_images())
    other_cfas = [mosaic(im) for im in others]
    saturated_names, saturated = zip(*saturated_images(), strict=True)
    saturated_cfas = [mosaic(im) for im in saturated]
    big = frame()
    frame_file = HERE / "results" / "frame.npy"
    frame_file.parent.mkdir(exist_ok=True)
    np.save(frame_file, big)
    rows = []
    for name, (kind, run) in methods().items():
        run(big[:64, :64])  # compile / warm up
        per_kodak = [cpsnr(run(c), im) for c, im in zip(cfas, images, strict=True)]
        per_held = [cpsnr(run(c), im) for c, im in zip(other_cfas, others, strict=True)]
        per_saturated = [cpsnr(run(c), im) for c, im in zip(saturated_cfas, saturated, strict=True)]
        slow = "neural" in name or ("Menon2007" in name and "colour" in name)
        seconds, grown = speed_and_memory(name, frame_file, 3 if slow or args.quick else 15)
        rows.append(
            {
                "method": name,
                "implementation": kind,
                "kodak_cpsnr_db": round(statistics.mean(per_kodak), 2),
                "held_out_cpsnr_db": round(statistics.mean(per_held), 2),
                "saturated_cpsnr_db": round(statistics.mean(per_saturated), 2),
                "per_image_db": {
                    "kodak": [round(v, 2) for v in per_kodak],
                    "held_out": [round(v, 2) for v in per_held],
                    "saturated": [round(v, 2) for v in per_saturated],
                },
                "seconds_per_frame": round(seconds, 4),
                "mp_per_s": round(FRAME[0] * FRAME[1] / seconds / 1e6, 1),
                "extra_peak_mb": round(grown, 0),
            }
        )
        print(rows[-1], flush=True)
    report = {
        "command": "python benchmarks/demosaic.py" + (" --quick" if args.quick else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "kodak_images": len(images),
        "held_out_images": list(HELD_OUT),
        "saturated_images": [f"{name}: sharpest-colour {WINDOW}-pixel window" for name in saturated_names],
        "frame": f"{FRAME[1]} x {FRAME[0]} uint16 (10-bit values)",
        "rows": rows,
    }
    frame_file.unlink()
    (HERE / "results" / "demosaic.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "| method | Kodak CPSNR (dB) | held-out photos (dB) | held-out saturated (dB) "
        "| MP/s (2352 x 1728, 16-bit) | extra peak memory (MB) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['method']} | {r['kodak_cpsnr_db']:.2f} | {r['held_out_cpsnr_db']:.2f} "
        f"| {r['saturated_cpsnr_db']:.2f} | {r['mp_per_s']:.1f} | {r['extra_peak_mb']:.0f} |"
        for r in rows
    ]
    image_names = {
        "kodak": [f"kodim{n:02d}" for n in range(1, len(images) + 1)],
        "held_out": list(HELD_OUT),
        "saturated": list(saturated_names),
    }
    titles = {"saturated": "Held-out saturated", "held_out": "Held-out photos", "kodak": "Kodak"}
    for key, title in titles.items():
        lines += ["", f"### {title}: CPSNR (dB) per image", ""]
        lines += ["| image | " + " | ".join(r["method"] for r in rows) + " |"]
        lines += ["|---" * (len(rows) + 1) + "|"]
        for index, image in enumerate(image_names[key]):
            scores = " | ".join(f"{r['per_image_db'][key][index]:.2f}" for r in rows)
            lines += [f"| {image} | {scores} |"]
    (HERE / "results" / "demosaic.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
