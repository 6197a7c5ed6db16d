"""What a command loads: only what it needs (start-up is most of a one-frame conversion's time), with the
same arguments and the same output as the library call."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import kodak

import farside
from farside import _jit
from farside.cli import COMMANDS, Parser, build_parser
from farside.synthetic import write_product

# Libraries and modules that `convert` has no use for: other commands', optional extras' and the tests'.
NOT_FOR_CONVERT = (
    "av",
    "colour",
    "dask",
    "distributed",
    "farside.batch",
    "farside.catalog",
    "farside.fetch",
    "farside.gallery",
    "farside.scenes",
    "farside.synthetic",
    "rich",
    "sqlite3",
    "torch",
)


@pytest.fixture(scope="module")
def bayer_product(tmp_path_factory) -> Path:
    return write_product("ce4-pcam-c", kodak(5), tmp_path_factory.mktemp("bayer"), shape=(96, 128))


def _modules_after(argv: list[str]) -> tuple[int, set[str]]:
    """The exit status of the command and every module loaded once it is done, from a fresh interpreter."""
    code = (
        "import json, sys\n"
        "from farside.cli import main\n"
        f"status = main({argv!r})\n"
        "print(json.dumps([status, sorted(sys.modules)]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    status, modules = json.loads(result.stdout.splitlines()[-1])
    return status, set(modules)


def _loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(f"{name}.") for m in modules)


def test_convert_loads_neither_other_commands_nor_their_libraries(bayer_product, tmp_path):
    status, modules = _modules_after(["convert", str(bayer_product), "-o", str(tmp_path)])
    assert status == 0 and len(list(tmp_path.glob("*.png"))) == 1
    assert [name for name in NOT_FOR_CONVERT if _loaded(modules, name)] == []
    other_commands = {f"farside.cli.{module}" for module in COMMANDS.values()} - {"farside.cli.convert"}
    assert sorted(other_commands & modules) == []


@pytest.mark.skipif(not _jit.uses_compiled_kernels(), reason="the package has no compiled kernels")
def test_convert_runs_the_compiled_kernels_without_numba(bayer_product, tmp_path):
    status, modules = _modules_after(["convert", str(bayer_product), "-o", str(tmp_path)])
    assert status == 0 and len(list(tmp_path.glob("*.png"))) == 1
    assert not _loaded(modules, "numba") and "farside._kernels_aot" in modules


def test_info_reads_without_the_pipeline(bayer_product):
    status, modules = _modules_after(["info", str(bayer_product), "--json"])
    assert status == 0
    assert [name for name in ("numba", "cv2", "farside.pipeline") if _loaded(modules, name)] == []


def _run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_package_imports_what_is_used_when_it_is_used(bayer_product):
    code = (
        "import sys, farside\n"
        "print('numba' in sys.modules, 'cv2' in sys.modules)\n"
        f"product = farside.read({str(bayer_product)!r})\n"
        "print(type(product).__name__, 'numba' in sys.modules, 'cv2' in sys.modules)\n"
    )
    assert _run_python(code).split() == ["False", "False", "Product", "False", "False"]


@pytest.mark.parametrize(
    "before",
    ["import farside.pipeline", "farside.demosaic; import farside.pipeline"],
    ids=["subpackage", "function"],
)
def test_farside_demosaic_is_the_function_whichever_is_imported_first(before):
    """The subpackage of the same name, imported by the pipeline at any time, does not take the name."""
    code = (
        f"import numpy as np, farside; {before}\n"
        "rgb = farside.demosaic(np.full((8, 8), 100, np.uint16), 'RGGB')\n"
        "from farside import demosaic\n"
        "print(callable(demosaic), rgb.shape, float(rgb.mean()))\n"
    )
    assert _run_python(code).split() == ["True", "(8,", "8,", "3)", "100.0"]


def test_farside_gallery_is_the_function_after_the_subpackage_is_imported():
    code = (
        "import farside, inspect\n"
        "import farside.gallery.site\n"
        "from farside.gallery import build\n"
        "print(inspect.isfunction(farside.gallery), farside.gallery.__name__, callable(build))\n"
    )
    assert _run_python(code).split() == ["True", "gallery", "True"]


def test_every_public_name_resolves():
    missing = [name for name in farside.__all__ if getattr(farside, name, None) is None]
    assert missing == [] and set(farside.__all__) <= set(dir(farside))


def test_each_command_is_registered_by_the_module_named_for_it():
    registered: dict[str, str] = {}
    for module in dict.fromkeys(COMMANDS.values()):
        commands = Parser(prog="farside").add_subparsers(dest="command")
        importlib.import_module(f"farside.cli.{module}").register(commands)
        registered.update(dict.fromkeys(commands.choices, module))
    assert registered == COMMANDS and list(registered) == list(COMMANDS)


def _help(parser: argparse.ArgumentParser, argv: list[str]) -> str:
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown), pytest.raises(SystemExit) as exit_:
        parser.parse_args(argv)
    assert exit_.value.code == 0
    return shown.getvalue()


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_command_parses_alone_as_among_all(command):
    assert _help(build_parser(command), [command, "--help"]) == _help(build_parser(), [command, "--help"])


def test_the_full_help_lists_every_command():
    shown = _help(build_parser(), ["--help"])
    assert all(f"\n    {command}" in shown for command in COMMANDS)


def test_command_writes_what_the_library_writes(bayer_product, tmp_path):
    """Byte for byte: the image with its provenance, and the sidecar."""
    command_out, library_out = tmp_path / "command", tmp_path / "library"
    result = subprocess.run(
        [sys.executable, "-m", "farside", "convert", str(bayer_product), "-o", str(command_out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written, _ = farside.convert(bayer_product, library_out)
    from_command = Path(result.stdout.strip())
    assert from_command.name == written.name
    assert from_command.read_bytes() == written.read_bytes()
    sidecar = written.name + ".json"
    assert (command_out / sidecar).read_bytes() == (library_out / sidecar).read_bytes()


def test_a_broken_catalog_is_one_line_and_status_1(tmp_path):
    """sqlite3 is imported by the catalog commands alone, and its errors are still told as the catalog's."""
    broken = tmp_path / "broken.db"
    broken.write_text("not a database, only text long enough to hold a header\n" * 4)
    result = subprocess.run([sys.executable, "-m", "farside", "ls", "--db", str(broken)],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["farside: error: catalog: file is not a database"]


@pytest.mark.parametrize(
    "argv, preset, threads",
    [(["convert", "x"], None, "1"), (["info", "x"], None, "1"), (["convert", "x"], "3", "3"),
     (["panorama", "x"], None, None), ([], None, None)],
)  # fmt: skip
def test_frame_commands_start_blas_with_one_thread_before_numpy_loads(argv, preset, threads):
    """Set where it still takes effect (numpy not yet loaded), and never over the user's own value."""
    code = (
        "import os, sys\n"
        "import farside.cli as cli\n"
        "cli.main = lambda: print(os.environ.get('OPENBLAS_NUM_THREADS'), 'numpy' in sys.modules) or 0\n"
        f"sys.argv = ['farside', *{argv!r}]\n"
        "cli.run()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if preset is not None:
        env["OPENBLAS_NUM_THREADS"] = preset
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(threads), "False"]
