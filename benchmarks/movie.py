"""The landing movie: ``farside movie`` against the way it was made before, on synthetic LCAM frames.

The frames are the first N of a synthetic descent of 5,419 frames of 1024 x 1024 (the real descent's count
and size; :func:`farside.synthetic.write_descent_frame`): a zoom into a cratered ground, recorded through the
landing camera's sensor model with its exposure flickering by up to +-15 % and block-transform compression
noise, each frame carrying its index in a code of bright and dark blocks. They are written once into the
work folder (``--work``) and reused.

Routes, each in a process of its own so that its peak memory is its own:

- ``farside``: ``farside.scenes.movie.make_movie`` with its defaults (deflicker on; H.264 by x264 at preset
  "superfast", CRF 24).
- ``farside-medium``: the same with x264's "medium" preset at CRF 23, the encoder settings of the PNG route,
  so that the difference of the routes is told apart from that of the encoder settings.
- ``png``: what was done before: every frame converted to PNG with one shared look (``farside convert
  --shared-stretch``, through the library), then the PNGs encoded by an ffmpeg binary (imageio-ffmpeg's)
  with its defaults for H.264 (preset "medium", CRF 23), yuv420p, ``+faststart``. Its peak memory is the
  larger of the converting process's and ffmpeg's.

For each movie: the time, the peak memory, the file size, whether every frame decodes with its own index in
order, and the frame-to-frame brightness flicker (the standard deviation of the log of the ratio of
consecutive frames' mean brightness below the marker; the stored frames' is given for comparison).
``encoder`` compares encoder settings alone (farside's default, "veryfast" at CRF 22, and the PNG route's) on
120 frames rendered once: PSNR against the frames, bytes a frame and encoding time.

Usage: python benchmarks/movie.py [--frames N] [--work DIR] [--routes farside,farside-medium,png]
(writes benchmarks/results/movie.json, keeping the results of other frame counts)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "movie.json"
DESCENT = 5419
SIZE = 1024
ROUTES = ("farside", "farside-medium", "png")
_GROUND = None


def _peak_mb() -> float:
    """The larger of this process's peak resident memory and that of its children (ffmpeg)."""
    own = next(
        int(line.split()[1]) / 1024
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return max(own, children)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _init_writer() -> None:
    global _GROUND
    from farside.synthetic import descent_ground

    _GROUND = descent_ground(4096, 0)


def _write(indices: list[int], directory: str) -> int:
    from farside.synthetic import descent_gains, write_descent_frame

    gains = descent_gains(DESCENT)
    for index in indices:
        write_descent_frame(_GROUND, index, DESCENT, directory, size=SIZE, gain=float(gains[index]))
    return len(indices)


def frames(work: Path, count: int) -> list[Path]:
    """The labels of the first ``count`` frames of the descent, written into ``work/frames`` unless they
    are there already."""
    from farside.synthetic import descent_kind, descent_start, product_name

    folder = work / "frames"
    folder.mkdir(parents=True, exist_ok=True)
    labels = [folder / product_name(descent_kind(i), descent_start(i), label=True) for i in range(count)]
    missing = [i for i, label in enumerate(labels)
               if not (label.is_file() and label.with_name(label.name[:-1]).is_file())]  # fmt: skip
    if missing:
        started = time.perf_counter()
        workers = os.cpu_count() or 1
        chunks = [missing[k::workers] for k in range(workers)]
        with ProcessPoolExecutor(workers, initializer=_init_writer) as pool:
            done = sum(pool.map(_write, chunks, [str(folder)] * len(chunks)))
        print(f"wrote {done} frames in {time.perf_counter() - started:.0f} s", flush=True)
    return labels


def run_route(route: str, work: Path, count: int) -> dict:
    """One route, in this process: its movie, time and peak memory."""
    labels = frames(work, count)
    out = work / "out"
    out.mkdir(exist_ok=True)
    movie = out / f"{route}-{count}.mp4"
    started = time.perf_counter()
    phases = {}
    if route.startswith("farside"):
        from farside.scenes.movie import DEFAULT_PRESET, FORMATS, MovieOptions, make_movie

        options = MovieOptions(preset="medium", crf=23) if route == "farside-medium" else MovieOptions()
        outcome = make_movie(labels, movie, options=options)
        encoder = {"preset": options.preset or DEFAULT_PRESET, "crf": options.crf or FORMATS["mp4"].crf}
        problems = outcome.problems
    else:
        from imageio_ffmpeg import get_ffmpeg_exe

        from farside.cli.convert import convert_paths
        from farside.conversion import Request

        pngs = out / f"png-{count}"
        shutil.rmtree(pngs, ignore_errors=True)
        pngs.mkdir()
        failures = convert_paths(labels, pngs, Request(), shared=True)
        phases["convert_s"] = round(time.perf_counter() - started, 2)
        command = [get_ffmpeg_exe(), "-y", "-loglevel", "error", "-framerate", "10", "-pattern_type", "glob",
                   "-i", str(pngs / "*.png"), "-c:v", "libx264", "-pix_fmt", "yuv420p",
                   "-movflags", "+faststart", str(movie)]  # fmt: skip
        encoding = time.perf_counter()
        subprocess.run(command, check=True)
        phases["ffmpeg_s"] = round(time.perf_counter() - encoding, 2)
        encoder = {"preset": "medium (ffmpeg's default)", "crf": "23 (ffmpeg's default)"}
        problems = [f"{failures} products failed"] if failures else []
        shutil.rmtree(pngs)
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "frames_per_s": round(count / seconds, 1),
        **phases,
        "peak_mb": round(_peak_mb(), 1),
        "file_mb": round(movie.stat().st_size / 1e6, 2),
        "encoder": encoder,
        "problems": problems,
        "movie": str(movie),
    }


def check_movie(path: Path, count: int) -> dict:
    """Whether every frame decodes in order (its marker), and the movie's brightness flicker."""
    import av

    from farside.synthetic import marker_rows, read_marker

    markers, levels = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            grey = frame.to_ndarray(format="gray")
            markers.append(read_marker(grey))
            levels.append(float(grey[marker_rows(grey.shape[1]) :].mean()))
    return {"frames": len(markers), "in_order": markers == list(range(count)), "flicker": flicker(levels)}


def flicker(levels: list[float]) -> float:
    """Standard deviation of log(b[t+1] / b[t])."""
    return round(float(np.std(np.diff(np.log(levels)))), 4)


def stored_flicker(labels: list[Path]) -> float:
    from farside.synthetic import marker_rows

    levels = []
    for label in labels:
        raw = np.fromfile(label.with_name(label.name[:-1]), np.uint8).reshape(SIZE, SIZE)
        levels.append(float(raw[marker_rows(SIZE) :].mean()))
    return flicker(levels)


def encoder_quality(work: Path, count: int) -> dict:
    """Encoder settings on the same 120 rendered frames from the middle of the ``count`` (the shared
    look, no deflicker): PSNR against the frames (luma), bytes a frame and encoding time."""
    import av

    from farside.conversion import Request, plan, shared_look
    from farside.pipeline import render
    from farside.scenes.movie import VideoWriter

    first = max(0, count // 2 - 60)
    labels = frames(work, count)[first : first + 120]
    planned = [plan(label, work, Request()) for label in labels]
    look = shared_look(planned)[0]
    images = [render(p.product, p.settings, look).image for p in planned]
    results = {}
    for preset, crf in (("superfast", 24), ("veryfast", 22), ("medium", 23)):
        path = work / "out" / f"encoder-{preset}-{crf}.mp4"
        started, cpu = time.perf_counter(), _cpu_seconds()
        writer = VideoWriter(path, "mp4", SIZE, SIZE, 10.0, crf, preset)
        for image in images:
            writer.write(image)
        writer.close()
        seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
        errors = []
        with av.open(str(path)) as container:
            for image, frame in zip(images, container.decode(video=0), strict=True):
                luma = frame.to_ndarray(format="yuv420p")[:SIZE].astype(np.float64)
                expected = 16 + image.astype(np.float64) * (219 / 255)
                errors.append(float(np.mean((luma - expected) ** 2)))
        psnr = 10 * math.log10(219**2 / float(np.mean(errors)))
        results[f"{preset} crf {crf}"] = {
            "psnr_db": round(psnr, 2),
            "kb_per_frame": round(path.stat().st_size / len(images) / 1e3, 1),
            "encode_ms_per_frame": round(1e3 * seconds / len(images), 1),
            "encode_cpu_ms_per_frame": round(1e3 * cpu / len(images), 1),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=DESCENT, help=f"frames [default: {DESCENT}]")
    parser.add_argument("--work", type=Path, default=Path("/tmp/farside-movie-bench"),
                        help="folder for the frames (kept and reused) and the movies")  # fmt: skip
    parser.add_argument("--routes", default=",".join(ROUTES), help=f"[default: {','.join(ROUTES)}]")
    parser.add_argument("--one", nargs=2, metavar=("ROUTE", "FRAMES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_route(args.one[0], args.work, int(args.one[1]))))
        return
    count = min(args.frames, DESCENT)
    labels = frames(args.work, count)
    run: dict = {"stored_flicker": stored_flicker(labels), "routes": {}}
    for route in args.routes.split(","):
        command = [sys.executable, __file__, "--work", str(args.work), "--one", route, str(count)]
        child = subprocess.run(command, capture_output=True, text=True, check=True)
        result = json.loads(child.stdout.strip().splitlines()[-1])
        result.update(check_movie(Path(result.pop("movie")), count))
        run["routes"][route] = result
        print(route, result, flush=True)
    routes = run["routes"]
    if "png" in routes:
        for route in ("farside", "farside-medium"):
            if route in routes:
                routes[route]["speed_up_over_png"] = round(
                    routes["png"]["seconds"] / routes[route]["seconds"], 2
                )
    run["encoder"] = encoder_quality(args.work, count)
    print("encoder", run["encoder"], flush=True)
    report = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    report.update({
        "command": "python benchmarks/movie.py [--frames N]",
        "frames": f"synthetic CE-4 LCAM descent, {SIZE} x {SIZE} grey 8-bit, exposure flicker +-15 %, "
        "JPEG-like compression noise (quality 80)",
        "machine": f"{os.cpu_count()} cores",
    })  # fmt: skip
    report.setdefault("runs", {})[str(count)] = run
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
