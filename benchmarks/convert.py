"""Convert one full 2352 x 1728 PCAM -C product: farside versus the common notebook recipe, same run.

The recipe is what people use today: pds4_tools to read, colour-demosaicing's Malvar2004, a 2-98 %
percentile stretch, Pillow to write the PNG. Both are timed as whole processes (a command, a script) and
in a running process; the command also with ``FARSIDE_KERNELS=jit`` (numba's JIT and cache in place of the
kernels compiled at install).

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

HERE = Path(__file__).resolve().parent
KODAK = HERE.parents[1] / "shared" / "data" / "kodak"


RECIPE = """
import sys, warnings
warnings.filterwarnings("ignore")
import colour_demosaicing
import numpy as np
import pds4_tools
from PIL import Image

def notebook_recipe(label, out):
    data = pds4_tools.read(str(label), quiet=True)[0].data.astype(np.float64)
    rgb = colour_demosaicing.demosaicing_CFA_Bayer_Malvar2004(data, "RGGB")
    lo, hi = np.percentile(rgb, [2, 98])
    display = np.clip((rgb - lo) / (hi - lo), 0, 1)
    Image.fromarray((display * 255).astype(np.uint8)).save(out)

if __name__ == "__main__":
    notebook_recipe(*sys.argv[1:3])
"""


def notebook_recipe(label: Path, out: Path) -> None:
    namespace: dict = {}
    exec(compile(RECIPE, "recipe", "exec"), namespace)
    namespace["notebook_recipe"](label, out)


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
    from farside import _jit
    from farside.synthetic import simulate_raw, write_product

    work = Path(tempfile.mkdtemp(prefix="farside-bench-"))
    scene = cv2.imread(str(KODAK / "kodim05.png"))[:, :, ::-1]
    label = write_product("ce4-pcam-c", None, work / "in", pixels=simulate_raw(scene, (1728, 2352)))
    out = work / "out"
    out.mkdir()

    farside.convert(label, out)  # compile and cache the kernels once
    cli = [sys.executable, "-m", "farside", "convert", str(label), "-o", str(out)]
    jit = {**os.environ, "FARSIDE_KERNELS": "jit"}
    subprocess.run(cli, check=True, capture_output=True)
    subprocess.run(cli, check=True, capture_output=True, env=jit)
    recipe_script = work / "recipe.py"
    recipe_script.write_text(RECIPE)
    recipe = [sys.executable, str(recipe_script), str(label), str(out / "recipe.png")]

    def run(command: list[str], env: dict | None = None):
        return lambda: subprocess.run(command, check=True, capture_output=True, env=env)

    few = max(2, args.repeat // 2)
    results = {
        "farside_cli_s": timed(run(cli), args.repeat),
        "farside_cli_jit_s": timed(run(cli, jit), args.repeat),
        "farside_library_s": timed(lambda: farside.convert(label, out), args.repeat),
        "recipe_process_s": timed(run(recipe), few),
        "recipe_s": timed(lambda: notebook_recipe(label, out / "recipe.png"), few),
    }
    medians = {k: statistics.median(v) for k, v in results.items()}
    report = {
        "command": f"python benchmarks/convert.py --repeat {args.repeat}",
        "frame": "CE-4 PCAM -C 2B, 2352 x 1728 UnsignedLSB2 (synthetic, Kodak 05 scene)",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "median_s": {k: round(v, 3) for k, v in medians.items()},
        "compiled_kernels": _jit.uses_compiled_kernels(),
        "speedup_cli_vs_recipe_process": round(medians["recipe_process_s"] / medians["farside_cli_s"], 1),
        "speedup_cli_vs_recipe": round(medians["recipe_s"] / medians["farside_cli_s"], 1),
        "speedup_library_vs_recipe": round(medians["recipe_s"] / medians["farside_library_s"], 1),
        "runs_s": {k: [round(t, 3) for t in v] for k, v in results.items()},
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "convert.json").write_text(json.dumps(report, indent=2) + "\n")
    recipe = "notebook recipe (pds4_tools + colour-demosaicing Malvar2004 + Pillow)"
    print("| what | median time per frame |\n|---|---|")
    print(f"| `farside convert` (whole command, process start included) | {medians['farside_cli_s']:.2f} s |")
    print(f"| the same with `FARSIDE_KERNELS=jit` (numba loaded) | {medians['farside_cli_jit_s']:.2f} s |")
    print(f"| {recipe} as a script (whole process) | {medians['recipe_process_s']:.2f} s |")
    print(f"| `farside.convert()` in a running process | {medians['farside_library_s']:.2f} s |")
    print(f"| {recipe} in a running process | {medians['recipe_s']:.2f} s |")
    print(
        f"\nAs whole processes farside is {report['speedup_cli_vs_recipe_process']}x faster; the command is "
        f"{report['speedup_cli_vs_recipe']}x the recipe already running, and in a running process "
        f"farside is {report['speedup_library_vs_recipe']}x faster."
    )


if __name__ == "__main__":
    main()
