"""Compile farside's frame kernels ahead of time into ``farside._kernels_aot`` (an extension module).

Run when the package is built (``setup.py``) or by hand, after changing a kernel in a source checkout::

    python -m farside._build_kernels [--if-stale] [FOLDER]

(``--if-stale``: only when the package's build is missing, of other sources or for another processor.)

The kernels are the ones a conversion runs (see :mod:`farside._jit`), compiled by numba's ``pycc`` from the
same Python functions and with the options their decorators give numba's JIT (fast-math where they ask for
it), so they compute the same numbers. They release the GIL, so that blocks of rows run on threads
(:func:`farside._jit.in_row_blocks`) in place of numba's parallel loops.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

_A2 = "float32[:, ::1]"
_A3 = "float32[:, :, ::1]"
_V = "float32[::1]"

#: (module, kernel, signatures): the signatures the pipeline calls them with.
EXPORTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("farside.colour", "_balance", (f"void({_A2}, {_A2}, float32)",)),
    (
        "farside.defects",
        "_repair",
        (
            f"void({_A2}, boolean, int64, float32, float32, float32, float32, UniTuple(float32, 2), {_A2}, "
            "uint8[:, ::1])",
        ),
    ),
    (
        "farside.tone",
        "_render_rgb",
        tuple(
            f"void({_A3}, boolean, {_A2}, {_V}, {_V}, {kind}[::1], {kind}[:, :, ::1])"
            for kind in ("uint8", "uint16")
        ),
    ),
    (
        "farside.tone",
        "_render_grey",
        tuple(f"void({_A2}, float32, float32, {kind}[::1], {kind}[:, ::1])" for kind in ("uint8", "uint16")),
    ),
    (
        "farside.demosaic.lmmse_ri",
        "_directional_green",
        (f"void({_A2}, int64, {_V}, {_A2})",),
    ),
    (
        "farside.demosaic.lmmse_ri",
        "_lattice_fit",
        (f"void({_A2}, {_A2}, int64, int64, int64, int64, float32, {_A3})",),
    ),
    ("farside.demosaic.lmmse_ri", "_colour_plane", (f"void({_A2}, int64, int64, {_A3}, {_A2})",)),
    (
        "farside.demosaic.lmmse_ri",
        "_refine_green",
        (f"void({_A2}, {_A2}, {_A2}, int64, int64, int64, float32, float32)",),
    ),
    ("farside.demosaic.lmmse_ri", "_assemble", (f"void({_A2}, int64, int64, {_A3}, {_A3}, {_A3})",)),
)


def _compile_with_kernel_options(options_of: dict[object, dict]) -> None:
    """Make pycc compile each function with the fast-math and error-model options its decorator gives
    numba's JIT (pycc itself compiles every export with the same default flags), releasing the GIL."""
    import numba.pycc.compiler as pycc_compiler
    from numba.core import cpu

    compile_extra = pycc_compiler.compile_extra

    def compile_as_decorated(typingctx, targetctx, func, args, return_type, flags, locals, library):
        options = options_of.get(func, {})
        flags = flags.copy()
        flags.release_gil = True
        if options.get("fastmath"):
            flags.fastmath = cpu.FastMathOptions(options["fastmath"])
        if "error_model" in options:
            flags.error_model = options["error_model"]
        return compile_extra(typingctx, targetctx, func, args, return_type, flags, locals, library)

    pycc_compiler.compile_extra = compile_as_decorated


def build(folder: str | Path) -> Path:
    """Compile the kernels into ``folder``; returns the extension module's path."""
    import importlib

    from farside import _jit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pycc's pending deprecation
        from numba.pycc import CC

    for module_name in dict.fromkeys(module for module, _, _ in EXPORTS):
        importlib.import_module(module_name)
    _jit.load_numba()
    cc = CC(_jit.AOT_MODULE.rpartition(".")[2])
    cc.output_dir = str(folder)
    cc.verbose = False
    cc.target_cpu = "host"  # built where it runs, as numba's JIT compiles for the CPU it runs on
    options_of = {}
    for module_name, name, signatures in EXPORTS:
        kernel = vars(importlib.import_module(module_name))[name]
        options_of[kernel.py_func] = kernel.options
        for index, signature in enumerate(signatures):
            cc.export(f"{_jit.aot_name(module_name, name)}__v{index}", signature)(kernel.py_func)
    cc.export("build_digest", "int64()")(_constant(_jit.build_digest()))
    _compile_with_kernel_options(options_of)
    Path(folder).mkdir(parents=True, exist_ok=True)
    cc.compile()
    return Path(folder) / Path(cc.output_file).name


def _constant(value: int):
    def build_digest():
        return value

    return build_digest


def main(argv: list[str]) -> None:
    from farside import _jit

    if_stale = "--if-stale" in argv
    folders = [arg for arg in argv if arg != "--if-stale"]
    if if_stale and _jit.uses_compiled_kernels():
        return
    print(build(folders[0] if folders else Path(__file__).resolve().parent))


if __name__ == "__main__":
    main(sys.argv[1:])
