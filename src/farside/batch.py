"""Convert many products: in parallel on all cores or on a Dask cluster, resumably, never stopping on a bad
product.

An output is up to date when its image and JSON sidecar exist and the sidecar records the same input files
(full paths, sizes, modification times) and the same settings; such products are skipped. Outputs are
written atomically, so an interrupted run leaves no partial file under a final name; temporary files it
leaves are removed by the next run, which carries on where the last stopped.

Before any work, the jobs are checked against each other: two jobs for one product (a label and its data
file) run once, and two products whose outputs would share a name are reported, the later one (in path
order, so every run decides alike) left out.

Ctrl-C cancels pending jobs and stops running ones at once (their temporary files are removed); a worker
whose parent dies (killed, say) exits by itself within a second.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farside.conversion import Claims, Outcome, Request, collision_message, convert_one, output_key
from farside.errors import FarsideError

REPORT_NAME = "farside-report.json"
# A pool whose worker died (killed, out of memory) is replaced this many times before the rest fail.
_POOL_RESTARTS = 3


@dataclass(frozen=True)
class Job:
    """One product to convert and how."""

    path: str
    out_dir: str
    request: Request = field(default_factory=Request)


def run_job(job: Job) -> Outcome:
    """Convert one product unless its output is up to date. Never raises for a bad product."""
    return convert_one(job.path, job.out_dir, job.request, skip_up_to_date=True)


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(threads: int, parent: int) -> None:
    # Workers share the cores: each runs its compiled kernels on its share of them.
    import cv2

    from farside import _jit

    _jit.set_threads(threads)
    cv2.setNumThreads(max(1, threads))
    _keep_freed_memory()
    # Ctrl-C reaches the whole process group: the parent alone decides, and stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A parent killed outright cannot stop its workers; they notice it is gone and leave.
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4


def _keep_freed_memory() -> None:
    """Have the C allocator keep what a product freed for the next product, already mapped.

    glibc gives each large array (a frame, its planes, the output) fresh pages from the system and returns
    them when the array is freed, so every product pays a page fault on the first touch of each page of
    each array: about an eighth of the time of a PCAM colour frame. On the heap and never trimmed, freed
    memory is reused as it is; a worker then stays the size of its largest product, which it reached
    anyway."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, TypeError):  # not glibc (macOS, Windows): its own allocator decides
        return
    mallopt(_M_MMAP_MAX, 0)
    mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)


# Libraries that start a thread per core of their own unless told otherwise, read when they load.
_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def _worker_environment(threads: int) -> Iterator[None]:
    """Workers started inside this block run numpy's linear algebra on their share of the cores.

    OpenBLAS otherwise starts a thread per core in every worker, and its threads spin for a while after
    each call: a 3x3 colour-matrix product of a frame's samples took 20-30 ms instead of under one, and
    the spinning slowed whatever ran next. The library reads the setting once, when numpy is imported,
    before a worker's initializer runs, so it is passed in the environment. A user's own setting wins."""
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    for name in _THREAD_VARIABLES:
        os.environ.setdefault(name, str(threads))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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


def plan_jobs(jobs: Sequence[Job]) -> tuple[list[Job], list[Outcome]]:
    """The jobs to run, and failures for those whose output another job already owns.

    Jobs are taken in path order; a job for a product already listed (same label/data pair) is dropped,
    and one whose output name another product holds is failed with both named.
    """
    claims = Claims()
    keep: list[Job] = []
    refused: list[Outcome] = []
    seen: set[tuple[str, str]] = set()
    for job in sorted(jobs, key=lambda j: j.path):
        pair = (job.out_dir, _product_key(job.path))
        if pair in seen:
            continue
        seen.add(pair)
        target = Path(job.out_dir) / output_key(job.path)
        owner = claims.claim(target, job.path)
        if owner is None:
            keep.append(job)
        else:
            refused.append(Outcome(job.path, "failed", error=collision_message(job.path, owner, target)))
    return keep, refused


def _product_key(path: str) -> str:
    """A label and its data file as one key: the path without a GRAS label's trailing ``L``."""
    resolved = str(Path(path).resolve())
    return os.path.join(os.path.dirname(resolved), output_key(resolved))


def process(
    jobs: Sequence[Job],
    workers: int | None = None,
    scheduler: str | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    runner: Callable[[Job], Outcome] = run_job,
) -> Summary:
    """Run ``jobs`` on ``workers`` local processes (all cores by default) or on the Dask cluster at
    ``scheduler`` (``tcp://host:port``). ``on_outcome`` is called as each finishes (progress display);
    ``runner`` converts one job (:func:`run_job`; it must be importable by the workers).

    A KeyboardInterrupt stops the run: pending jobs are cancelled, running ones are stopped and their
    temporary files removed, and the summary says ``interrupted``.
    """
    started = time.perf_counter()
    summary = Summary()
    out_dirs = {job.out_dir for job in jobs}
    for out_dir in out_dirs:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        remove_partial_files(out_dir)

    def collect(outcome: Outcome) -> None:
        summary.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    runnable, refused = plan_jobs(jobs)
    for outcome in refused:
        collect(outcome)
    try:
        if scheduler:
            _run_dask(runnable, scheduler, collect, runner)
        else:
            _run_local(runnable, workers or os.cpu_count() or 1, collect, runner)
    except KeyboardInterrupt:
        summary.interrupted = True
        for out_dir in out_dirs:
            remove_partial_files(out_dir)
    summary.seconds = time.perf_counter() - started
    return summary


def _run_local(
    jobs: Sequence[Job], workers: int, collect: Callable[[Outcome], None], runner: Callable[[Job], Outcome]
) -> None:
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            collect(runner(job))
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")  # no fork: compiled-kernel thread pools do not survive it
    pending = largest_first(jobs)
    with _worker_environment(threads):
        for _attempt in range(_POOL_RESTARTS + 1):
            if not pending:
                return
            pending = _run_pool(pending, workers, threads, context, collect, runner)
    for job in pending:
        collect(Outcome(job.path, "failed", error=f"{job.path}: a worker process died while converting"))


def largest_first(jobs: Sequence[Job]) -> list[Job]:
    """Jobs by the size of their data, largest first (ties in path order): the last jobs of a run are then
    short ones, and no core waits at the end while another finishes a large frame."""

    def size(job: Job) -> int:
        try:
            return os.stat(_product_key(job.path)).st_size
        except OSError:  # no data file (a bad product, or a data file given directly)
            try:
                return os.stat(job.path).st_size
            except OSError:
                return 0

    return sorted(jobs, key=lambda job: -size(job))


def _run_pool(
    jobs: list[Job],
    workers: int,
    threads: int,
    context: Any,
    collect: Callable[[Outcome], None],
    runner: Callable[[Job], Outcome],
) -> list[Job]:
    """Run jobs on one pool; returns those left undone when a worker died (the pool is then broken)."""
    executor = ProcessPoolExecutor(
        min(workers, len(jobs)), mp_context=context, initializer=_init_worker, initargs=(threads, os.getpid())
    )
    futures: dict[Future[Outcome], Job] = {}
    collected: set[Future[Outcome]] = set()
    try:
        futures = {executor.submit(runner, job): job for job in jobs}
        # as_completed watches each future once; waiting again on all that remain after each one finishes
        # costs the parent time in proportion to the square of the number of jobs.
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except BrokenProcessPool:
                executor.shutdown(wait=True, cancel_futures=True)
                return [
                    job for f, job in futures.items() if f not in collected and not _collect_done(f, collect)
                ]
            except Exception as exc:  # the job could not even be sent or returned: report, go on
                job = futures[future]
                outcome = Outcome(job.path, "failed", error=f"{job.path}: worker failed: {exc}")
            collected.add(future)
            collect(outcome)
    except BaseException:
        _stop_now(executor)
        raise
    executor.shutdown(wait=True)
    return []


def _collect_done(future: Future[Outcome], collect: Callable[[Outcome], None]) -> bool:
    """Collect a future that finished before its pool broke; False if it has no outcome."""
    if not future.done() or future.cancelled() or future.exception() is not None:
        return False
    collect(future.result())
    return True


def _stop_now(executor: ProcessPoolExecutor) -> None:
    """Cancel pending jobs and end running ones at once, rather than waiting for them to finish.

    The executor offers no public way to stop busy workers, so they are terminated through its process
    table; outputs are written atomically, so what they leave is only temporary files.
    """
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for worker in processes:
        if worker.is_alive():
            worker.terminate()
    for worker in processes:
        worker.join(timeout=5)


def _run_dask(
    jobs: Sequence[Job], scheduler: str, collect: Callable[[Outcome], None], runner: Callable[[Job], Outcome]
) -> None:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise FarsideError("--scheduler needs dask.distributed: pip install 'farside[dask]'") from None
    try:
        client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise FarsideError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    futures = []
    try:
        futures = client.map(runner, list(jobs), pure=False)
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


__all__ = [
    "Job",
    "Outcome",
    "Summary",
    "plan_jobs",
    "process",
    "remove_partial_files",
    "run_job",
    "write_report",
]
