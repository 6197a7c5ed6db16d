"""The benchmark summary reads each results file and puts every ratio the right way up."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "summary.py"


@pytest.fixture(scope="module")
def summary():
    spec = importlib.util.spec_from_file_location("bench_summary", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while they are made
    spec.loader.exec_module(module)
    return module


def test_ratios_are_peer_over_farside_and_goals_are_judged(summary, tmp_path):
    (tmp_path / "convert.json").write_text(json.dumps(
        {"median_s": {"farside_cli_s": 0.5, "farside_library_s": 0.25, "recipe_s": 2.0,
                      "recipe_process_s": 2.25}}))  # fmt: skip
    release = {"release": {"products": 10}, "farside": {"seconds": 4.0}, "recipe": {"seconds": 100.0}}
    (tmp_path / "release.json").write_text(json.dumps(release))
    (tmp_path / "movie.json").write_text(json.dumps(
        {"runs": {"500": {"routes": {"farside": {"seconds": 10.0}, "png": {"seconds": 25.0}}}}}))  # fmt: skip
    rows = {(row.benchmark, row.what): row for row in summary.rows(tmp_path)}
    cli = rows[("convert", "one frame, whole processes: command vs recipe script")]
    assert cli.ratio == pytest.approx(4.5) and cli.met == "no"  # the goal is 5x
    running = rows[("convert", "one frame, command vs recipe in a running process")]
    assert running.ratio == pytest.approx(4.0)
    library = rows[("convert", "one frame, in a running process, vs notebook recipe")]
    assert library.ratio == pytest.approx(8.0)
    release = rows[("release", "10 products vs notebook recipe")]
    assert release.ratio == pytest.approx(25.0) and release.met == "yes"
    movie = rows[("movie", "500 frames vs PNGs + ffmpeg")]
    assert movie.ratio == pytest.approx(2.5) and movie.met == "no"  # the goal is 3x
    assert len(rows) == 5  # benchmarks not run are left out


def test_the_results_in_the_repository_all_read(summary):
    names = {row.benchmark for row in summary.rows()}
    assert {"convert", "release", "demosaic", "panorama", "movie"} <= names


def test_the_default_demosaic_is_judged_against_the_best_classical_peer_and_its_floors(summary, tmp_path):
    rows = [
        {
            "method": "farside lmmse_ri (default)",
            "kodak_cpsnr_db": 40.6,
            "saturated_cpsnr_db": 37.2,
            "mp_per_s": 55,
        },
        {
            "method": "colour-demosaicing Menon2007",
            "kodak_cpsnr_db": 39.3,
            "saturated_cpsnr_db": 37.4,
            "mp_per_s": 5,
        },
        {
            "method": "farside neural (demosaicnet)",
            "kodak_cpsnr_db": 42.1,
            "saturated_cpsnr_db": 40.0,
            "mp_per_s": 1,
        },
        {"method": "farside fast", "kodak_cpsnr_db": 35.8, "saturated_cpsnr_db": 35.5, "mp_per_s": 420},
    ]
    (tmp_path / "demosaic.json").write_text(json.dumps({"rows": rows}))
    found = {row.what: row for row in summary.rows(tmp_path) if row.floor is not None}
    kodak = found["default, Kodak CPSNR vs best classical (colour-demosaicing Menon2007)"]
    assert kodak.met == "yes"  # above 40.5 and above every classical method; the network is not classical
    saturated = found["default, saturated CPSNR vs best classical (colour-demosaicing Menon2007)"]
    assert saturated.met == "no" and saturated.target == "≥ 37.41 dB"  # above the floor, below a peer
    assert found["default, 16-bit 2352 x 1728 frame"].met == "yes"
    assert found["fast, Kodak CPSNR"].met == "yes"
    assert found["fast, 16-bit 2352 x 1728 frame"].met == "no"  # 500 MP/s wanted
