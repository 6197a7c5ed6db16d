"""Batch workers: the memory one product leaves to the next, the environment they start in, the order jobs
are taken in."""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path

from conftest import kodak

from farside.batch import Job, largest_first, process
from farside.conversion import Outcome, convert_one, peak_rss_mb
from farside.synthetic import sequence_start, write_product

FRAME_PAGES = 1728 * 2352 * 3 * 4 // 4096  # one full-size PCAM colour frame as float32 RGB


def convert_in_turn(job: Job) -> Outcome:
    """Convert the products of ``job.path`` (joined by os.pathsep) one after another in this worker; the
    outcome's one warning is JSON: the page faults and the peak size after each, and the BLAS threads."""
    steps = []
    for number, path in enumerate(job.path.split(os.pathsep)):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        outcome = convert_one(path, Path(job.out_dir) / str(number), job.request)
        assert outcome.status == "converted", outcome.error
        steps.append([resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, peak_rss_mb()])
    report = {"steps": steps, "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}
    return Outcome(job.path, "converted", warnings=[json.dumps(report)])


def test_a_worker_reuses_the_memory_of_one_product_for_the_next(tmp_path):
    """A frame converted again in the same worker finds its memory already mapped (few page faults, where
    fresh arrays would fault in every page of several frame-sized arrays), and converting more products,
    large and small in turn, does not grow the worker beyond its largest."""
    colour = write_product("ce4-pcam-c", kodak(1), tmp_path / "in", start=sequence_start(0))
    grey = write_product("ce4-pcam-q", kodak(2), tmp_path / "in", start=sequence_start(1))
    turns = [colour, grey, colour, grey, colour]
    jobs = [Job(os.pathsep.join(map(str, turns)), str(tmp_path / f"out{i}")) for i in range(2)]
    before = os.environ.get("OPENBLAS_NUM_THREADS")
    summary = process(jobs, workers=2, runner=convert_in_turn)
    assert os.environ.get("OPENBLAS_NUM_THREADS") == before  # the parent's own setting is left as it was
    assert [o.status for o in summary.outcomes] == ["converted", "converted"]
    for outcome in summary.outcomes:
        report = json.loads(outcome.warnings[0])
        faults, peaks = zip(*report["steps"], strict=True)
        # Measured: about 13 faults; some 11,000 with fresh arrays (huge pages, else 4 times as many).
        assert max(faults[2], faults[4]) < FRAME_PAGES // 10, faults
        assert peaks[-1] <= peaks[0] * 1.05 + 16, peaks
        assert peaks[-1] < 1024
        assert report["blas_threads"] == (before or str(max(1, (os.cpu_count() or 1) // 2)))


def test_largest_products_are_taken_first(tmp_path):
    small = write_product("ce4-lcam", kodak(3), tmp_path, shape=(64, 64), start=sequence_start(0))
    large = write_product("ce4-pcam-c", kodak(3), tmp_path, shape=(128, 128), start=sequence_start(1))
    middle = write_product("ce4-pcam-q", kodak(3), tmp_path, shape=(96, 96), start=sequence_start(2))
    missing = tmp_path / "gone.2BL"
    jobs = [Job(str(p), str(tmp_path / "out")) for p in (small, missing, middle, large)]
    assert [Path(j.path) for j in largest_first(jobs)] == [large, middle, small, missing]
