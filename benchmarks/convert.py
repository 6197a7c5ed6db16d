"""Convert one full 2352 x 1728 PCAM -C product: farside versus the common notebook recipe, same run.

The recipe is what people use today: pds4_tools to read, colour-demosaicing's Malvar2004, a 2-98 %
percentile stretch, Pillow to write the PNG.

Usage: python benchmarks/convert.py [--repeat N]
Writes benchmarks/results/convert.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
KODAK = HERE.parents[1] / "shared" / "data" / "kodak"


def notebook_recipe(label: Path, out: Path) -> None:
    import colour_demosaicing
    import pds4_tools
    from PIL import Image

    data = pds4_tools.read(str(label), quiet=True)[0].data.astype(np.float64)
    rgb = colour_demosaicing.demosaicing_CFA_Bayer_Malvar2004(data, "RGGB")
    lo, hi = np.percentile(rgb, [2, 98])
    display = np.clip((rgb - lo) / (hi - lo), 0, 1)
    Image.fromarray((display * 255).astype(np.uint8)).save(out)


def timed(function, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    import farside
    from farside.synthetic import simulate_raw, write_product

    work = Path(tempfile.mkdtemp(prefix="farside-bench-"))
    scene = cv2.imread(str(KODAK / "kodim05.png"))[:, :, ::-1]
    label = write_product("ce4-pcam-c", None, work / "in", pixels=simulate_raw(scene, (1728, 2352)))
    out = work / "out"
    out.mkdir()

    farside.convert(label, out)  # compile and cache the kernels once
    cli = [sys.executable, "-m", "farside", "convert", str(label), "-o", str(out)]
    subprocess.run(cli, check=True, capture_output=True)

    results = {
        "farside_cli_s": timed(lambda: subprocess.run(cli, check=True, capture_output=True), args.repeat),
        "farside_library_s": timed(lambda: farside.convert(label, out), args.repeat),
        "recipe_s": timed(lambda: notebook_recipe(label, out / "recipe.png"), max(2, args.repeat // 2)),
    }
    medians = {k: statistics.median(v) for k, v in results.items()}
    report = {
        "command": f"python benchmarks/convert.py --repeat {args.repeat}",
        "frame": "CE-4 PCAM -C 2B, 2352 x 1728 UnsignedLSB2 (synthetic, Kodak 05 scene)",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "median_s": {k: round(v, 3) for k, v in medians.items()},
        "speedup_library_vs_recipe": round(medians["recipe_s"] / medians["farside_library_s"], 1),
        "speedup_cli_vs_recipe": round(medians["recipe_s"] / medians["farside_cli_s"], 1),
        "runs_s": {k: [round(t, 3) for t in v] for k, v in results.items()},
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "convert.json").write_text(json.dumps(report, indent=2) + "\n")
    print("| what | median time per frame |\n|---|---|")
    print(f"| `farside convert` (whole command, process start included) | {medians['farside_cli_s']:.2f} s |")
    print(f"| `farside.convert()` in a running process | {medians['farside_library_s']:.2f} s |")
    recipe = "notebook recipe (pds4_tools + colour-demosaicing Malvar2004 + Pillow)"
    print(f"| {recipe} | {medians['recipe_s']:.2f} s |")
    print(
        f"\nfarside is {report['speedup_cli_vs_recipe']}x faster as a command, "
        f"{report['speedup_library_vs_recipe']}x in a running process."
    )


if __name__ == "__main__":
    main()
