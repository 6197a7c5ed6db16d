"""A release at once: catalog, listing, parallel and resumable processing, Dask scale-out."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import kodak
from PIL import Image

from farside.batch import Job, process, run_job
from farside.catalog import Filters, index, query
from farside.conversion import Request
from farside.synthetic import sequence_start, write_product

CLI = [sys.executable, "-m", "farside"]


def farside(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True)


def _release(folder: Path, count: int = 6, shape=(192, 256)) -> dict[str, Path]:
    """A small release: PCAM colour and pan, TCAM, LCAM, plus one truncated and one unpaired product."""
    made = {}
    kinds = ["ce4-pcam-c", "ce4-pcam-q", "ce4-tcam", "ce4-lcam"]
    for i in range(count):
        kind = kinds[i % len(kinds)]
        kind_shape = (*shape, 3) if kind == "ce4-tcam" else shape
        made[f"{kind}-{i}"] = write_product(kind, kodak(1 + i), folder / "sol1", shape=kind_shape,
                                            start=sequence_start(i))  # fmt: skip
    truncated = write_product("ce4-pcam-c", kodak(20), folder / "sol2", shape=shape, start=sequence_start(50))
    data = truncated.with_name(truncated.name[:-1])
    data.write_bytes(data.read_bytes()[:1000])
    made["truncated"] = truncated
    lonely = write_product("ce4-lcam", kodak(21), folder / "sol2", shape=shape, start=sequence_start(60))
    lonely.with_name(lonely.name[:-1]).unlink()
    made["no-data"] = lonely
    return made


def test_index_catalogs_every_product_with_a_verdict(tmp_path):
    made = _release(tmp_path / "release")
    db = tmp_path / "cat.db"
    report = index([tmp_path / "release"], db)
    assert (report.added, report.invalid) == (len(made), 2)
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = {
            r[0]: r[1:]
            for r in connection.execute("SELECT product_id, valid, reason, instrument FROM products")
        }
    truncated_id = made["truncated"].name[:-1]
    assert rows[truncated_id][0] == 0 and "truncated" in rows[truncated_id][1]
    assert rows[made["no-data"].name[:-1]][0] == 0 and "not found" in rows[made["no-data"].name[:-1]][1]
    tcam = rows[made["ce4-tcam-2"].name[:-1]]
    assert tcam == (1, "", "TCAM")
    # The metadata column holds what farside.read gives.
    row = next(query(db, Filters(instrument="TCAM")))
    assert json.loads(row["meta"])["radiometric_coefficients"] == [0.101194, 0.144425, 0.311526]


def test_reindex_reads_only_what_changed(tmp_path, monkeypatch):
    made = _release(tmp_path / "release")
    db = tmp_path / "cat.db"
    index([tmp_path / "release"], db)
    import farside.catalog as catalog

    reads = []
    original = catalog.read
    monkeypatch.setattr(catalog, "read", lambda path: reads.append(Path(path).name) or original(path))
    again = index([tmp_path / "release"], db)
    assert (again.added, again.updated, again.unchanged) == (0, 0, len(made)) and reads == []
    label = made["ce4-pcam-c-0"]
    label.write_text(
        label.read_text().replace("<sequence_id>0001</sequence_id>", "<sequence_id>0077</sequence_id>")
    )
    os.utime(label, ns=(time.time_ns(), time.time_ns() + 10**9))
    made["ce4-lcam-3"].unlink()
    made["ce4-lcam-3"].with_name(made["ce4-lcam-3"].name[:-1]).unlink()
    third = index([tmp_path / "release"], db)
    assert (third.updated, third.removed) == (1, 1) and reads == [label.name]
    assert next(query(db, Filters(sequence_id="0077")))["product_id"] == label.name[:-1]


def test_ten_thousand_labels_index_quickly(tmp_path):
    # Correctness at scale (the speed itself is measured in benchmarks/release.py): many small products.
    folder = tmp_path / "many"
    base = write_product("ce4-lcam", kodak(2), folder, shape=(8, 8), start=sequence_start(0))
    label_text, data = base.read_text(), base.with_name(base.name[:-1]).read_bytes()
    for i in range(1, 400):
        name = base.name.replace("20190104084559", sequence_start(i).strftime("%Y%m%d%H%M%S"))
        (folder / name).write_text(label_text.replace(base.name[:-1], name[:-1]))
        (folder / name[:-1]).write_bytes(data)
    report = index([folder], tmp_path / "many.db")
    assert report.added == 400 and report.invalid == 0


def test_ls_filters_sorts_and_formats(tmp_path):
    made = _release(tmp_path / "release")
    db = tmp_path / "cat.db"
    index([tmp_path / "release"], db)
    result = farside("ls", "--db", db, "--format", "csv", "--instrument", "PCAM", "--status", "valid")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    pcam = [k for k in made if k.startswith("ce4-pcam")]  # keys end in their index, which orders time
    expected = [made[k].name[:-1] for k in sorted(pcam, key=lambda k: int(k.rsplit("-", 1)[1]))]
    assert [r["product_id"] for r in rows] == expected
    since = sequence_start(2).isoformat()
    until = sequence_start(4).isoformat()
    result = farside("ls", "--db", db, "--format", "json", "--since", since, "--until", until)
    listed = json.loads(result.stdout)
    assert [r["product_id"] for r in listed] == [
        made[f"{k}"].name[:-1] for k in ("ce4-tcam-2", "ce4-lcam-3", "ce4-pcam-c-4")
    ]
    assert listed[0]["meta"]["instrument"] == "TCAM"
    table = subprocess.run(
        CLI + ["ls", "--db", str(db), "--status", "invalid"], capture_output=True, text=True
    )
    assert "2 products" in table.stdout and "truncated" in table.stdout


def _outputs(folder: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.startswith("farside-report")
    }


def test_process_folder_in_parallel_reports_failures_and_resumes(tmp_path):
    made = _release(tmp_path / "release")
    out = tmp_path / "out"
    result = farside("process", tmp_path / "release", "-o", out, "--workers", 2)
    assert result.returncode == 1  # two bad products
    assert "Traceback" not in result.stderr
    assert "6 converted, 0 up to date, 2 failed" in result.stdout
    report = json.loads((out / "farside-report.json").read_text())
    assert {Path(f["path"]).name for f in report["failures"]} == {
        made["truncated"].name,
        made["no-data"].name,
    }
    assert report["worker_peak_rss_mb"] < 1024
    first = _outputs(out)
    assert len(first) == 12  # an image and a sidecar for each good product
    # A second run finds everything up to date and changes nothing.
    again = subprocess.run(
        CLI + ["process", str(tmp_path / "release"), "-o", str(out)], capture_output=True, text=True
    )
    assert "0 converted, 6 up to date, 2 failed" in again.stdout
    assert _outputs(out) == first
    # Changed settings make outputs stale.
    third = farside("process", tmp_path / "release", "-o", out, "--demosaic", "bilinear")
    assert "6 converted" in third.stdout


def test_process_from_catalog_with_filters(tmp_path):
    _release(tmp_path / "release")
    db = tmp_path / "cat.db"
    index([tmp_path / "release"], db)
    out = tmp_path / "out"
    result = farside("process", "--db", db, "--instrument", "PCAM", "-o", out, "--workers", 1)
    assert result.returncode == 0, result.stderr  # invalid products are left out by default
    names = [p.name for p in out.glob("*.png")]
    assert len(names) == 4 and all("PCAM" in n for n in names)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_interrupted_run_leaves_nothing_partial_and_resumes(tmp_path, how):
    folder = tmp_path / "release"
    for i in range(16):  # full-size frames: the run lasts long enough to be stopped midway
        write_product("ce4-pcam-c", kodak(1 + i % 24), folder, start=sequence_start(i))
    out = tmp_path / "out"
    command = CLI + ["process", str(folder), "-o", str(out), "--workers", "2"]
    runner = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("*.png.json"))) < 3:
        time.sleep(0.05)
    os.killpg(runner.pid, how)
    runner.wait(timeout=60)
    done_before = {p.name for p in out.glob("*.png.json")}
    assert len(done_before) >= 3  # how many more finished depends on the machine; the resume is what counts
    # Nothing partial under a final name: every image there decodes completely.
    for image in out.glob("*.png"):
        with Image.open(image) as im:
            im.load()
    if how == signal.SIGINT:
        assert not list(out.glob(".*.part"))  # cleaned up on the way out
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"{16 - len(done_before)} converted, {len(done_before)} up to date" in result.stdout
    assert len(list(out.glob("*.png"))) == 16 and not list(out.glob(".*.part"))


def test_dask_cluster_gives_the_same_outputs(tmp_path):
    distributed = pytest.importorskip("distributed")
    _release(tmp_path / "release")
    local_out, dask_out = tmp_path / "local", tmp_path / "dask"
    local = farside("process", tmp_path / "release", "-o", local_out, "--workers", 2)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
    )
    with cluster:
        address = cluster.scheduler_address
        remote = farside("process", tmp_path / "release", "-o", dask_out, "--scheduler", address)
        assert remote.returncode == local.returncode == 1, remote.stderr
        assert _outputs(dask_out) == _outputs(local_out)  # byte for byte
        local_report = json.loads((local_out / "farside-report.json").read_text())
        dask_report = json.loads((dask_out / "farside-report.json").read_text())
        assert sorted(f["path"] for f in dask_report["failures"]) == sorted(
            f["path"] for f in local_report["failures"]
        )
        again = farside("process", tmp_path / "release", "-o", dask_out, "--scheduler", address)
        assert "0 converted, 6 up to date" in again.stdout


def test_run_job_library_api(tmp_path):
    label = write_product("ce4-pcam-q", kodak(5), tmp_path / "in", shape=(64, 96))
    outcome = run_job(Job(str(label), str(tmp_path / "out")))
    assert outcome.status == "converted" and Path(outcome.output).is_file()
    assert run_job(Job(str(label), str(tmp_path / "out"))).status == "skipped"
    summary = process(
        [Job(str(label), str(tmp_path / "out2"), Request(overrides=(("output.format", "tiff"),)))], workers=1
    )
    assert summary.count("converted") == 1 and next((tmp_path / "out2").glob("*.tif"))
    assert np.isfinite(summary.seconds) and datetime.now(UTC)


def test_an_unexpected_error_in_one_product_stops_neither_index_nor_process(tmp_path, monkeypatch):
    made = _release(tmp_path / "release")
    import farside.catalog as catalog
    import farside.products.reader as reader

    victim = made["ce4-pcam-q-1"]
    original = reader.read

    def flaky(path):
        if Path(path).name == victim.name:
            raise RecursionError("maximum recursion depth exceeded")
        return original(path)

    monkeypatch.setattr(catalog, "read", flaky)
    report = index([tmp_path / "release"], tmp_path / "cat.db")
    assert report.added == len(made) and report.invalid == 3
    row = next(query(tmp_path / "cat.db", Filters(sequence_id=None, mode="Q")))
    assert row["valid"] == 0 and "RecursionError" in row["reason"]

    monkeypatch.setattr(reader, "read", flaky)
    jobs = [Job(str(made[k]), str(tmp_path / "out")) for k in ("ce4-pcam-q-1", "ce4-tcam-2")]
    summary = process(jobs, workers=1)
    assert (summary.count("converted"), summary.count("failed")) == (1, 1)
    assert victim.name in summary.failures[0].error and "RecursionError" in summary.failures[0].error


def test_out_of_memory_in_one_product_is_one_failure(tmp_path, monkeypatch):
    label = write_product("ce4-pcam-q", kodak(5), tmp_path / "in", shape=(64, 96))
    import farside.pipeline as pipeline

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(pipeline, "render", no_memory)
    outcome = run_job(Job(str(label), str(tmp_path / "out")))
    assert outcome.status == "failed" and "not enough memory" in outcome.error and label.name in outcome.error
