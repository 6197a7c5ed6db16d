"""Demosaic methods side by side: Kodak CPSNR, speed on a 16-bit 2352 x 1728 frame, extra peak memory.

farside's methods are measured in the same run as colour-demosaicing, OpenCV and (when installed)
demosaicnet. CPSNR: RGGB mosaics of the 24 Kodak images, 8-bit RGB, 10-pixel border excluded;
"held-out" is the same over five photographs bundled with scikit-image that no method was tuned on. Speed:
median of repeated runs on one 2352 x 1728 uint16 frame (10-bit values). Peak memory: the growth of the
process's peak resident size while demosaicing that frame once, measured in a fresh process per method
after a warm-up on a small frame (so it includes the output array, 48.8 MB).

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
    import torch

    from farside.demosaic import METHODS

    if "neural" not in METHODS:
        raise ImportError("farside[neural] not installed")
    torch.set_num_threads(os.cpu_count() or 1)
    return _farside("neural")


def methods() -> dict[str, tuple[str, object]]:
    table = {
        "farside lmmse (default)": ("farside", _farside("lmmse")),
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


def frame():
    scene = cv2.imread(str(KODAK / "kodim05.png"))[:, :, ::-1]
    from farside.synthetic import simulate_raw

    return simulate_raw(scene, FRAME, bit_depth=10)


def peak_rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise OSError("no VmHWM in /proc/self/status")


def peak_memory_mb(name: str, frame_file: Path) -> float:
    """Extra peak RSS (MB) of one full-frame run, in a fresh process."""
    # VmHWM (not ru_maxrss, which Linux carries over from the parent across exec) is this process's peak.
    code = (
        f"import sys, numpy as np; sys.path.insert(0, {str(HERE)!r}); import demosaic as b; "
        f"m = b.methods()[{name!r}][1]; f = np.load({str(frame_file)!r}); m(f[:64, :64]); "
        "before = b.peak_rss_kb(); out = m(f); print((b.peak_rss_kb() - before) / 1024)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 Kodak images, fewer timing runs")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    images = list(kodak_images(4 if args.quick else 24))
    cfas = [mosaic(im) for im in images]
    others = list(held_out_images())
    other_cfas = [mosaic(im) for im in others]
    big = frame()
    frame_file = HERE / "results" / "frame.npy"
    frame_file.parent.mkdir(exist_ok=True)
    np.save(frame_file, big)
    rows = []
    for name, (kind, run) in methods().items():
        run(big[:64, :64])  # compile / warm up
        quality = statistics.mean(cpsnr(run(c), im) for c, im in zip(cfas, images, strict=True))
        held = statistics.mean(cpsnr(run(c), im) for c, im in zip(other_cfas, others, strict=True))
        slow = "neural" in name or ("Menon2007" in name and "colour" in name)
        repeat = 3 if slow or args.quick else 7
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            run(big)
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        rows.append(
            {
                "method": name,
                "implementation": kind,
                "kodak_cpsnr_db": round(quality, 2),
                "held_out_cpsnr_db": round(held, 2),
                "seconds_per_frame": round(seconds, 4),
                "mp_per_s": round(FRAME[0] * FRAME[1] / seconds / 1e6, 1),
                "extra_peak_mb": round(peak_memory_mb(name, frame_file), 0),
            }
        )
        print(rows[-1], flush=True)
    report = {
        "command": "python benchmarks/demosaic.py" + (" --quick" if args.quick else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "kodak_images": len(images),
        "held_out_images": list(HELD_OUT),
        "frame": f"{FRAME[1]} x {FRAME[0]} uint16 (10-bit values)",
        "rows": rows,
    }
    frame_file.unlink()
    (HERE / "results" / "demosaic.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "| method | Kodak CPSNR (dB) | held-out CPSNR (dB) | MP/s (2352 x 1728, 16-bit) "
        "| extra peak memory (MB) |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['method']} | {r['kodak_cpsnr_db']:.2f} | {r['held_out_cpsnr_db']:.2f} | {r['mp_per_s']:.1f} "
        f"| {r['extra_peak_mb']:.0f} |"
        for r in rows
    ]
    (HERE / "results" / "demosaic.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
