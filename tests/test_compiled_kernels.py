"""The frame kernels compiled ahead of time: built and current, the same numbers as numba's JIT, the same
image whether a frame goes in one block of rows or several, numba loaded only when a call needs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from conftest import kodak

from farside import _jit
from farside._build_kernels import EXPORTS
from farside.synthetic import simulate_raw

# One script, run under both kinds of kernel: every kernel that the compiled module holds, through the
# functions a conversion calls, on a Kodak scene recorded as a 12-bit mosaic with hot and dead pixels.
PIPELINE = """
import json, sys
import numpy as np
from farside import _jit
from farside.colour import apply_cfa_gains
from farside.defects import repair_defects
from farside.demosaic.lmmse_ri import lmmse_ri
from farside.tone import to_display

threads = int(sys.argv[3])
_jit.set_threads(threads)
cfa = np.load(sys.argv[1])
balanced = apply_cfa_gains(cfa.copy(), "RGGB", np.array([1.9, 1.0, 1.4]), ceiling=1.0)
repaired, flags = repair_defects(balanced, "RGGB", threshold=0.05)
rgb = lmmse_ri(repaired, "RGGB")
matrix = np.array([[1.6, -0.4, -0.2], [-0.3, 1.5, -0.2], [0.0, -0.5, 1.5]])
lo, hi = np.array([0.02, 0.03, 0.01]), np.array([0.8, 0.9, 0.85])
outputs = {
    "balanced": balanced, "repaired": repaired, "flags": flags, "rgb": rgb,
    "display8": to_display(rgb, matrix, lo, hi, "srgb", 8),
    "display16": to_display(np.sqrt(np.maximum(rgb, 0)), matrix, lo, hi, "linear", 16, squared=True),
    "grey8": to_display(rgb[:, :, 1], None, lo[:1], hi[:1], "srgb", 8),
    "grey16": to_display(rgb[:, :, 1], None, lo[:1], hi[:1], "srgb", 16),
}
np.savez(sys.argv[2], **outputs)
print(json.dumps({"numba": "numba" in sys.modules, "blocks": len(_jit.row_blocks(cfa.shape[0]))}))
"""


def _have_compiler() -> bool:
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(compiler) is not None


def _run_pipeline(cfa_path: Path, out: Path, threads: int, kernels: str) -> dict:
    env = {**os.environ, "FARSIDE_KERNELS": kernels}
    result = subprocess.run(
        [sys.executable, "-c", PIPELINE, str(cfa_path), str(out), str(threads)],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def mosaic(tmp_path_factory) -> Path:
    """A 12-bit mosaic in [0, 1] with an odd number of rows (blocks do not divide it evenly)."""
    raw = simulate_raw(kodak(23), (301, 448), bit_depth=12, seed=3).astype(np.float32) / 4095
    rng = np.random.default_rng(7)
    rows, cols = rng.integers(8, 290, 40), rng.integers(8, 440, 40)
    raw[rows[:20], cols[:20]] = 1.0  # hot
    raw[rows[20:], cols[20:]] = 0.0  # dead
    path = tmp_path_factory.mktemp("kernels") / "mosaic.npy"
    np.save(path, raw)
    return path


needs_build = pytest.mark.skipif(
    not _jit.uses_compiled_kernels(), reason="the package has no compiled kernels"
)


@pytest.mark.skipif(not _have_compiler(), reason="no C compiler: the package installs with numba's JIT alone")
def test_the_installed_package_has_current_compiled_kernels():
    exported = {_jit.aot_name(module, name) for module, name, _ in EXPORTS}
    assert _jit.uses_compiled_kernels()
    assert set(_jit.compiled_kernels()) == exported


@needs_build
def test_compiled_kernels_give_numbas_numbers_without_loading_numba(mosaic, tmp_path):
    compiled = _run_pipeline(mosaic, tmp_path / "compiled.npz", 2, "")
    jit = _run_pipeline(mosaic, tmp_path / "jit.npz", 2, "jit")
    assert compiled == {"numba": False, "blocks": 2} and jit == {"numba": True, "blocks": 1}
    a, b = np.load(tmp_path / "compiled.npz"), np.load(tmp_path / "jit.npz")
    assert sorted(a.files) == sorted(b.files)
    for name in a.files:
        assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]), name
    assert 30 <= int(np.count_nonzero(a["flags"])) <= 60  # the planted defects were found (and repaired)


@needs_build
def test_blocks_of_rows_on_threads_give_the_whole_frame(mosaic, tmp_path):
    whole = _run_pipeline(mosaic, tmp_path / "one.npz", 1, "")
    blocks = _run_pipeline(mosaic, tmp_path / "three.npz", 3, "")
    assert (whole["blocks"], blocks["blocks"]) == (1, 3)
    a, b = np.load(tmp_path / "one.npz"), np.load(tmp_path / "three.npz")
    for name in a.files:
        assert np.array_equal(a[name], b[name]), name


def test_row_blocks_cover_the_rows_in_whole_bayer_cells(monkeypatch):
    monkeypatch.setattr(_jit, "compiled_kernels", lambda: {"k": [print]})
    monkeypatch.setattr(_jit, "_numba", None)
    monkeypatch.setattr(_jit, "_threads", 3)
    blocks = _jit.row_blocks(301)
    assert blocks == [(0, 102), (102, 204), (204, 301)]
    assert _jit.row_blocks(100) == [(0, 100)]  # under 64 rows a block: not worth a thread
    monkeypatch.setattr(_jit, "_threads", 1)
    assert _jit.row_blocks(301) == [(0, 301)]


@needs_build
def test_a_call_no_build_fits_is_compiled_by_numba_and_gives_the_same_result(tmp_path):
    """float64 mosaics have no compiled build: numba compiles the kernel then, once, for all the rows."""
    code = (
        "import sys, numpy as np\n"
        "from farside import _jit\n"
        "from farside.colour import apply_cfa_gains\n"
        "_jit.set_threads(2)\n"
        "cfa = np.linspace(0, 1, 200 * 64).reshape(200, 64)\n"
        "print('numba' in sys.modules, len(_jit.row_blocks(200)))\n"
        "out = apply_cfa_gains(cfa.copy(), 'RGGB', np.array([2.0, 1.0, 4.0]), ceiling=1.5)\n"
        "np.save(sys.argv[1], out)\n"
        "print('numba' in sys.modules, len(_jit.row_blocks(200)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "out.npy")], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "2", "True", "2"]  # the other kernels still run compiled
    cfa = np.linspace(0, 1, 200 * 64).reshape(200, 64)
    gains = np.ones_like(cfa)
    gains[0::2, 0::2], gains[1::2, 1::2] = 2.0, 4.0
    assert np.allclose(np.load(tmp_path / "out.npy"), np.minimum(cfa * gains, 1.5), rtol=1e-6, atol=0)


@needs_build
@pytest.mark.parametrize("change", ["sources", "processor", "environment"])
def test_a_build_of_other_sources_or_for_another_processor_or_jit_asked_for_is_not_used(change, monkeypatch):
    if change == "sources":
        monkeypatch.setattr(_jit, "AOT_SOURCES", (*_jit.AOT_SOURCES, "cfa.py"))
    elif change == "processor":
        monkeypatch.setattr(_jit, "cpu_fingerprint", lambda: b"sse2")
    else:
        monkeypatch.setenv("FARSIDE_KERNELS", "jit")
    _jit.compiled_kernels.cache_clear()
    try:
        assert _jit.compiled_kernels() == {}
    finally:
        monkeypatch.undo()
        _jit.compiled_kernels.cache_clear()
    assert _jit.compiled_kernels() != {}


@pytest.mark.parametrize("kernels", ["", "jit"])
def test_the_version_says_how_the_kernels_run(kernels):
    from farside import __version__

    env = {**os.environ, "FARSIDE_KERNELS": kernels}
    result = subprocess.run([sys.executable, "-m", "farside", "--version"], capture_output=True, text=True,
                            env=env, timeout=120)  # fmt: skip
    compiled = _jit.uses_compiled_kernels() and not kernels
    how = "compiled at install" if compiled else "numba's JIT"
    assert result.returncode == 0 and result.stdout == f"farside {__version__} (frame kernels: {how})\n"
