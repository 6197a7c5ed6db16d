"""Convert many products: in parallel on all cores or on a Dask cluster, resumably, never stopping on a bad
product.

An output is up to date when its image and JSON sidecar exist and the sidecar records the same input files
(sizes and modification times) and the same settings; such products are skipped. Outputs are written
atomically, so an interrupted run leaves no partial file under a final name; temporary files it leaves are
removed by the next run, which carries on where the last stopped.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farside.errors import FarsideError, ProductError

REPORT_NAME = "farside-report.json"


@dataclass(frozen=True)
class Job:
    """One product to convert and how."""

    path: str
    out_dir: str
    profile: str | None = None
    profile_file: str | None = None
    overrides: tuple[tuple[str, Any], ...] = ()


@dataclass
class Outcome:
    """What became of a job: ``converted``, ``skipped`` (up to date) or ``failed`` (with the reason)."""

    path: str
    status: str
    output: str | None = None
    error: str | None = None
    seconds: float = 0.0
    peak_rss_mb: float | None = None


def input_stamp(paths: Iterable[Path]) -> list[list[Any]]:
    """Name, size and modification time of each input file: what makes an output stale when it changes."""
    stamp = []
    for path in sorted(set(paths)):
        info = path.stat()
        stamp.append([path.name, info.st_size, info.st_mtime_ns])
    return stamp


def settings_digest(settings_dict: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings_dict, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _peak_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _up_to_date(target: Path, stamp: dict[str, Any]) -> bool:
    from farside.output import sidecar_path

    side = sidecar_path(target)
    if not (target.is_file() and side.is_file()):
        return False
    try:
        return json.loads(side.read_text(encoding="utf-8")).get("job") == stamp
    except (OSError, ValueError):
        return False


def run_job(job: Job) -> Outcome:
    """Convert one product unless its output is up to date. Never raises for a bad product."""
    from farside.output import output_path, write_rendered
    from farside.pipeline import render, settings_for
    from farside.products.reader import read

    started = time.perf_counter()
    try:
        product = read(job.path)
        settings = settings_for(product, job.profile, job.profile_file, dict(job.overrides))
        target = output_path(product, job.out_dir, settings.output_format)
        stamp = {
            "input": input_stamp({product.label_path, product.data_path}),
            "settings": settings_digest(settings.to_dict()),
        }
        if _up_to_date(target, stamp):
            return Outcome(job.path, "skipped", str(target), seconds=time.perf_counter() - started)
        rendered = render(product, settings)
        written = write_rendered(product, rendered, job.out_dir, job_stamp=stamp)
    except (FarsideError, OSError, ValueError) as exc:
        message = str(exc)
        if not isinstance(exc, ProductError) and job.path not in message:
            message = f"{job.path}: {message}"
        return Outcome(job.path, "failed", error=message, seconds=time.perf_counter() - started)
    return Outcome(job.path, "converted", str(written), seconds=time.perf_counter() - started,
                   peak_rss_mb=_peak_rss_mb())  # fmt: skip


def _init_worker(threads: int) -> None:
    # Workers share the cores: each runs its compiled kernels on its share of them.
    import cv2
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    cv2.setNumThreads(max(1, threads))


def remove_partial_files(out_dir: str | os.PathLike[str]) -> int:
    """Delete temporary files an interrupted run left in ``out_dir``; returns how many."""
    folder = Path(out_dir)
    if not folder.is_dir():
        return 0
    count = 0
    for leftover in folder.glob(".*.part"):
        leftover.unlink(missing_ok=True)
        count += 1
    return count


@dataclass
class Summary:
    """The outcome of a batch run."""

    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        peaks = [o.peak_rss_mb for o in self.outcomes if o.peak_rss_mb is not None]
        return {
            "converted": self.count("converted"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "interrupted": self.interrupted,
            "seconds": round(self.seconds, 3),
            "worker_peak_rss_mb": round(max(peaks), 1) if peaks else None,
            "failures": [{"path": o.path, "error": o.error} for o in self.failures],
        }


def process(
    jobs: Sequence[Job],
    workers: int | None = None,
    scheduler: str | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Summary:
    """Run ``jobs`` on ``workers`` local processes (all cores by default) or on the Dask cluster at
    ``scheduler`` (``tcp://host:port``). ``on_outcome`` is called as each finishes (progress display).

    A KeyboardInterrupt stops the run: pending jobs are cancelled, running ones finish or clean up, and the
    summary says ``interrupted``.
    """
    started = time.perf_counter()
    summary = Summary()
    for out_dir in {job.out_dir for job in jobs}:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        remove_partial_files(out_dir)

    def collect(outcome: Outcome) -> None:
        summary.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    try:
        if scheduler:
            _run_dask(jobs, scheduler, collect)
        else:
            _run_local(jobs, workers or os.cpu_count() or 1, collect)
    except KeyboardInterrupt:
        summary.interrupted = True
    summary.seconds = time.perf_counter() - started
    return summary


def _run_local(jobs: Sequence[Job], workers: int, collect: Callable[[Outcome], None]) -> None:
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            collect(run_job(job))
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")  # no fork: compiled-kernel thread pools do not survive it
    executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(threads,))
    try:
        futures = {executor.submit(run_job, job): job for job in jobs}
        for future in as_completed(futures):
            try:
                collect(future.result())
            except Exception as exc:  # a worker died (killed, out of memory): report and carry on
                job = futures[future]
                collect(Outcome(job.path, "failed", error=f"{job.path}: worker failed: {exc}"))
    except KeyboardInterrupt:
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True)


def _run_dask(jobs: Sequence[Job], scheduler: str, collect: Callable[[Outcome], None]) -> None:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise FarsideError("--scheduler needs dask.distributed: pip install 'farside[dask]'") from None
    try:
        client = Client(scheduler, timeout="20s")
    except OSError as exc:
        raise FarsideError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        futures = client.map(run_job, list(jobs), pure=False)
        index = {future.key: job for future, job in zip(futures, jobs, strict=True)}
        for future in dask_completed(futures):
            try:
                collect(future.result())
            except Exception as exc:
                job = index[future.key]
                collect(Outcome(job.path, "failed", error=f"{job.path}: worker failed: {exc}"))
    except KeyboardInterrupt:
        client.cancel(futures)
        raise
    finally:
        client.close()


def write_report(summary: Summary, out_dir: str | os.PathLike[str]) -> Path:
    """Write the run's JSON report (counts and every failure with its reason) atomically."""
    from farside.output import write_atomic

    path = Path(out_dir) / REPORT_NAME
    write_atomic(path, (json.dumps(summary.to_dict(), indent=2) + "\n").encode("utf-8"))
    return path


__all__ = ["Job", "Outcome", "Summary", "process", "remove_partial_files", "run_job", "write_report"]
