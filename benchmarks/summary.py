"""Every benchmark's headline ratio in one table, read from ``benchmarks/results/*.json``.

Each row is farside against the peer it was measured beside in the same run (the notebook recipe, the
colour-demosaicing package, OpenCV's stitcher, PNGs encoded by ffmpeg), the ratio, and the goal the project
set for it. Benchmarks that have not been run are left out; ``make bench`` runs them all, then this.

Usage: python benchmarks/summary.py [--results DIR]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Row:
    benchmark: str
    what: str
    farside: str
    peer: str
    ratio: float | None  # how many times better farside is (peer / farside for times); None: not a ratio
    goal: float | None  # the ratio the project aims at, where it set one
    floor: tuple[float, float, str] | None = None  # (farside's value, the least it should be, unit)

    @property
    def met(self) -> str:
        checks = []
        if self.goal is not None and self.ratio is not None:
            checks.append(self.ratio >= self.goal)
        if self.floor is not None:
            checks.append(self.floor[0] >= self.floor[1])
        return "" if not checks else ("yes" if all(checks) else "no")

    @property
    def target(self) -> str:
        parts = [] if self.goal is None else [f"≥ {self.goal:g}×"]
        if self.floor is not None:
            parts.append(f"≥ {self.floor[1]:g} {self.floor[2]}")
        return ", ".join(parts)


def _load(folder: Path, name: str) -> dict | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _times(farside: float, peer: float) -> tuple[str, str, float]:
    return f"{farside:.3g} s", f"{peer:.3g} s", peer / farside


def _demosaic_goals(by_name: dict[str, dict]) -> list[Row]:
    """The default method's quality on each set against the best classical peer there (it should be above
    them all, and above a floor), its speed, and the fast method's quality and speed."""
    out: list[Row] = []
    default = next((row for name, row in by_name.items() if name.endswith("(default)")), None)
    classical = [row for name, row in by_name.items() if "neural" not in name and row is not default]
    if default is not None and classical:
        for key, label, least in (
            ("kodak_cpsnr_db", "Kodak", 40.5),
            ("saturated_cpsnr_db", "saturated", 37.0),
        ):
            if key in default:
                best = max(classical, key=lambda row: row.get(key, 0.0))
                mine, theirs = default[key], best[key]
                out.append(Row("demosaic", f"default, {label} CPSNR vs best classical ({best['method']})",
                               f"{mine:.2f} dB", f"{theirs:.2f} dB", None, None,
                               (mine, max(least, theirs + 0.01), "dB")))  # fmt: skip
        speed = default["mp_per_s"]
        out.append(Row("demosaic", "default, 16-bit 2352 x 1728 frame", f"{speed:g} MP/s", "", None, None,
                       (speed, 50.0, "MP/s")))  # fmt: skip
    if fast := by_name.get("farside fast"):
        quality, speed = fast["kodak_cpsnr_db"], fast["mp_per_s"]
        out.append(
            Row("demosaic", "fast, Kodak CPSNR", f"{quality:.2f} dB", "", None, None, (quality, 35.0, "dB"))
        )
        out.append(Row("demosaic", "fast, 16-bit 2352 x 1728 frame", f"{speed:g} MP/s", "", None, None,
                       (speed, 500.0, "MP/s")))  # fmt: skip
    return out


def rows(folder: Path = RESULTS) -> list[Row]:
    """The headline ratios of the results in ``folder``."""
    out: list[Row] = []
    if convert := _load(folder, "convert"):
        median = convert["median_s"]
        if "recipe_process_s" in median:
            out.append(Row("convert", "one frame, whole processes: command vs recipe script",
                           *_times(median["farside_cli_s"], median["recipe_process_s"]), 5.0))  # fmt: skip
        out.append(Row("convert", "one frame, command vs recipe in a running process",
                       *_times(median["farside_cli_s"], median["recipe_s"]), None))  # fmt: skip
        out.append(Row("convert", "one frame, in a running process, vs notebook recipe",
                       *_times(median["farside_library_s"], median["recipe_s"]), None))  # fmt: skip
    if release := _load(folder, "release"):
        mine, theirs = release["farside"], release["recipe"]
        out.append(Row("release", f"{release['release']['products']:,} products vs notebook recipe",
                       *_times(mine["seconds"], theirs["seconds"]), 20.0))  # fmt: skip
    if demosaic := _load(folder, "demosaic"):
        by_name = {row["method"]: row for row in demosaic["rows"]}
        out += _demosaic_goals(by_name)
        for ours, peer in (("farside menon2007", "colour-demosaicing Menon2007"),
                           ("farside malvar2004", "colour-demosaicing Malvar2004"),
                           ("farside bilinear", "colour-demosaicing bilinear")):  # fmt: skip
            if ours in by_name and peer in by_name:
                mine, theirs = by_name[ours]["mp_per_s"], by_name[peer]["mp_per_s"]
                out.append(Row("demosaic", f"{ours.split()[-1]}, MP/s vs {peer}", f"{mine:g} MP/s",
                               f"{theirs:g} MP/s", mine / theirs, None))  # fmt: skip
    if panorama := _load(folder, "panorama"):
        for world, methods in panorama["results"].items():
            mine, theirs = methods["farside"], methods["opencv-stitcher"]
            frames = f" (stitcher kept {theirs['frames_used']} frames)" if "frames_used" in theirs else ""
            out.append(Row("panorama", f"{world} vs cv2.Stitcher{frames}",
                           *_times(mine["seconds"], theirs["seconds"]), 1.0))  # fmt: skip
    if movie := _load(folder, "movie"):
        for frames, run in sorted(movie["runs"].items(), key=lambda item: int(item[0])):
            routes = run["routes"]
            if "farside" in routes and "png" in routes:
                times = _times(routes["farside"]["seconds"], routes["png"]["seconds"])
                out.append(Row("movie", f"{int(frames):,} frames vs PNGs + ffmpeg", *times, 3.0))
    return out


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="results folder [default: %(default)s]")
    args = parser.parse_args()
    table = Table(title="farside against its peers, same runs (benchmarks/results)")
    numbers = ("farside", "peer", "ratio", "goal")
    for column in ("benchmark", "what", "farside", "peer", "ratio", "goal", "met"):
        table.add_column(column, justify="right" if column in numbers else "left")
    for row in rows(args.results):
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}×"
        table.add_row(row.benchmark, row.what, row.farside, row.peer, ratio, row.target, row.met)
    Console().print(table)


if __name__ == "__main__":
    main()
