"""farside's compiled kernels: ahead-of-time compiled where the package was built with them, numba's JIT
otherwise.

Kernel modules import this module in place of numba (``from farside import _jit as nb``) and write their
kernels exactly as for numba: ``@nb.njit(...)``, ``nb.prange``. Each decorated function becomes a
:class:`Kernel`. Called from Python, a kernel runs its ahead-of-time compiled build when one matches the
argument types (``farside._kernels_aot``, built from these same sources when the package is installed, see
:mod:`farside._build_kernels`); otherwise numba is imported and the kernel is compiled (or loaded from
numba's cache) as before. The compiled builds give the same numbers as numba's JIT, since they are the same
functions compiled by the same numba with the same options. They have no threads of their own but release
the GIL: :func:`in_row_blocks` runs a kernel over blocks of rows on several threads, where numba's JIT would
have run its parallel loops.

Why: importing numba and preparing its first kernel take about 0.4 s, longer than converting a whole frame,
and a command that converts one frame pays it every time.

``FARSIDE_KERNELS=jit`` in the environment skips the compiled builds.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: The modules whose kernels are compiled ahead of time, relative to the package; their sources (and this
#: module and the list of exports) are fingerprinted with the processor, so a build made from other sources
#: or on another machine is never used.
AOT_SOURCES = (
    "_jit.py",
    "_build_kernels.py",
    "colour.py",
    "defects.py",
    "tone.py",
    "demosaic/lmmse.py",
    "demosaic/lmmse_ri.py",
)
AOT_MODULE = "farside._kernels_aot"


# ``nb.prange``: numba's once it is loaded (kernels are only compiled then), a plain range before.
prange: Any = range
_kernels: list[Kernel] = []
_modules: dict[str, None] = {}
_numba: Any = None
_threads: int | None = None
_loading = threading.Lock()
_parallel_calls = threading.Lock()
_block = threading.local()  # set on the threads of in_row_blocks


class _NotCompiled(Exception):
    """A kernel called inside :func:`in_row_blocks` has no compiled build for its arguments: numba's
    parallel kernels must not run on several threads at once, so the work is redone whole instead."""


def njit(*args: Any, **options: Any) -> Any:
    """numba's ``njit`` decorator, deferred: returns a :class:`Kernel` (or a decorator making one)."""
    if args and callable(args[0]) and not options:
        return njit()(args[0])
    return lambda function: _kernel(function, options)


def _kernel(function: Callable[..., Any], options: dict[str, Any]) -> Any:
    kernel = Kernel(function, options)
    if _numba is None:
        return kernel
    # A module imported once numba is loaded: as load_numba leaves the others.
    kernel._dispatcher = _numba.njit(**options)(function)
    return kernel._dispatcher if options.get("inline") == "always" else kernel


class Kernel:
    """A numba kernel that loads numba only when no ahead-of-time build fits its arguments."""

    def __init__(self, function: Callable[..., Any], options: dict[str, Any]) -> None:
        functools.update_wrapper(self, function)
        self.py_func = function
        self.options = options
        self.aot_name = aot_name(function.__module__, function.__name__)
        self._dispatcher: Any = None
        _kernels.append(self)
        _modules[function.__module__] = None

    @property
    def dispatcher(self) -> Any:
        """numba's dispatcher for this kernel (numba is imported, and every kernel module made ready)."""
        if self._dispatcher is None:
            load_numba()
        return self._dispatcher

    def compiled(self) -> list[tuple[list[Callable[[Any], bool]], Callable[..., Any]]]:
        """The ahead-of-time builds of this kernel, each with the checks its arguments must pass (none
        without a current build)."""
        return compiled_kernels().get(self.aot_name, [])

    def __call__(self, *args: Any) -> Any:
        # The builds do not check their arguments: one given an array of another layout reads out of
        # bounds. And numba's JIT types a Python float as float64 where a build takes float32, so a build
        # runs only for exactly the types numba would compile it for.
        for checks, build in self.compiled():
            if len(checks) == len(args) and all(check(arg) for check, arg in zip(checks, args, strict=True)):
                return build(*args)
        if getattr(_block, "active", False):
            raise _NotCompiled(self.aot_name)
        if self.options.get("parallel"):
            # numba's default ("workqueue") threading layer aborts the process when parallel kernels run
            # on two threads at once; the compiled builds above may, these take turns.
            with _parallel_calls:
                return self.dispatcher(*args)
        return self.dispatcher(*args)

    def __repr__(self) -> str:
        return f"<farside kernel {self.py_func.__module__}.{self.py_func.__name__}>"


def aot_name(module: str, name: str) -> str:
    """The name a kernel is exported under in the compiled module: ``demosaic_lmmse_ri___assemble``."""
    return f"{module.removeprefix('farside.').replace('.', '_')}__{name}"


def load_numba() -> Any:
    """Import numba and give every kernel its dispatcher, and the kernel modules numba's ``prange``.
    Returns numba."""
    with _loading:
        return _load_numba()


def _load_numba() -> Any:
    global _numba, prange
    if _numba is not None:
        return _numba
    from farside._numba_cache import ensure_numba_cache

    ensure_numba_cache()
    import numba
    from numba.core import types
    from numba.extending import typeof_impl

    if _threads is not None:
        _numba_threads(numba)
    for kernel in _kernels:
        kernel._dispatcher = numba.njit(**kernel.options)(kernel.py_func)
    # A kernel calling a kernel: numba sees the callee's dispatcher.
    typeof_impl.register(Kernel)(lambda kernel, context: types.Dispatcher(kernel._dispatcher))
    prange = numba.prange
    # numba inlines only what it finds as its own dispatchers: the helpers are handed over as those (Python
    # code never calls them); the kernels stay Kernels, so that Python calls still go through __call__.
    for name in _modules:
        module = sys.modules[name]
        for attribute, value in list(vars(module).items()):
            if isinstance(value, Kernel) and value.options.get("inline") == "always":
                setattr(module, attribute, value._dispatcher)
    _numba = numba
    return numba


def build_digest() -> int:
    """A fingerprint of what the ahead-of-time kernels are compiled from and for (a positive 62-bit int):
    the sources, and the processor, since they are compiled for the instructions of the one they are built
    on (a build made elsewhere, say in a container image, may use instructions this one lacks)."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256(cpu_fingerprint())
    for name in AOT_SOURCES:
        digest.update(name.encode())
        digest.update((package / name).read_bytes())
    return int.from_bytes(digest.digest()[:8], "little") >> 2


def cpu_fingerprint() -> bytes:
    """The processor's instruction-set features as the system lists them (Linux), else its name."""
    try:
        with open("/proc/cpuinfo", "rb") as info:
            for line in info:
                if line.startswith((b"flags", b"Features")):  # x86, ARM
                    return b" ".join(sorted(line.partition(b":")[2].split()))
    except OSError:
        pass
    import platform

    return f"{platform.machine()} {platform.processor()}".encode()


@functools.cache
def compiled_kernels() -> dict[str, list[tuple[list[Callable[[Any], bool]], Callable[..., Any]]]]:
    """The ahead-of-time kernels by name, each a list of builds (one per signature, with the checks of its
    arguments, see :func:`argument_checks`): empty when the package has no build, the build is of other
    sources or for another processor, or ``FARSIDE_KERNELS=jit``."""
    if os.environ.get("FARSIDE_KERNELS", "").lower() == "jit":
        return {}
    try:
        module = importlib.import_module(AOT_MODULE)
        if module.build_digest() != build_digest():
            return {}
    except (ImportError, OSError, AttributeError):
        return {}
    from farside._build_kernels import EXPORTS

    builds: dict[str, list[tuple[list[Callable[[Any], bool]], Callable[..., Any]]]] = {}
    for module_name, name, signatures in EXPORTS:
        kernel = aot_name(module_name, name)
        for index, signature in enumerate(signatures):
            build = getattr(module, f"{kernel}__v{index}", None)
            if build is None:
                return {}
            builds.setdefault(kernel, []).append((argument_checks(signature), build))
    return builds


_SCALARS: dict[str, tuple[type, ...]] = {
    "float32": (np.float32,),
    "float64": (float, np.float64),
    "int64": (int, np.int64),
    "boolean": (bool, np.bool_),
}


def argument_checks(signature: str) -> list[Callable[[Any], bool]]:
    """For a numba signature of the forms the builds use (``void(float32[:, ::1], int64, boolean,
    UniTuple(float32, 2))``), one check per argument: true for a value numba would type exactly so."""
    inner = signature[signature.index("(") + 1 : signature.rindex(")")]
    arguments, depth, start = [], 0, 0
    for position, char in enumerate(inner):
        depth += (char in "([") - (char in ")]")
        if char == "," and depth == 0:
            arguments.append(inner[start:position].strip())
            start = position + 1
    arguments.append(inner[start:].strip())
    return [_check(argument) for argument in arguments]


def _check(kind: str) -> Callable[[Any], bool]:
    if kind.startswith("UniTuple("):
        element, count = kind[len("UniTuple(") : -1].rsplit(",", 1)
        each, length = _check(element.strip()), int(count)
        return lambda value: type(value) is tuple and len(value) == length and all(map(each, value))
    if "[" in kind:
        dtype, dims = np.dtype(kind[: kind.index("[")]), kind.count(",") + 1
        return lambda value: (
            type(value) is np.ndarray
            and value.dtype == dtype
            and value.ndim == dims
            and value.flags.c_contiguous
            and value.flags.aligned
            and value.flags.writeable
        )
    types = _SCALARS[kind]
    return lambda value: type(value) in types


def uses_compiled_kernels() -> bool:
    """Whether this installation runs its kernels ahead-of-time compiled."""
    return bool(compiled_kernels())


def threads() -> int:
    """How many threads the kernels of one frame may use (all the process's cores unless set)."""
    if _threads is not None:
        return _threads
    configured = os.environ.get("NUMBA_NUM_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def set_threads(count: int) -> None:
    """Let the kernels of one frame use ``count`` threads (batch workers share the cores this way)."""
    global _threads
    _threads = max(1, int(count))
    if _numba is not None:
        _numba_threads(_numba)


def _numba_threads(numba: Any) -> None:
    numba.set_num_threads(max(1, min(_threads or 1, numba.config.NUMBA_NUM_THREADS)))


def row_blocks(height: int, align: int = 2, smallest: int = 64) -> list[tuple[int, int]]:
    """Blocks of rows ``[(start, stop), ...]`` covering ``range(height)`` for :func:`in_row_blocks`: one
    per thread where there are compiled kernels (numba's JIT kernels are threaded inside), each start a
    multiple of ``align`` (a Bayer cell's rows stay together) and no block under ``smallest`` rows."""
    parts = threads() if compiled_kernels() else 1
    parts = max(1, min(parts, height // max(smallest, 1)))
    if parts == 1:
        return [(0, height)]
    step = -(-height // parts)
    step += -step % align
    return [(start, min(start + step, height)) for start in range(0, height, step)]


def in_row_blocks(height: int, work: Callable[[int, int], None], align: int = 2) -> None:
    """Call ``work(start, stop)`` for each of :func:`row_blocks`, on as many threads; re-raises the first
    error. ``work`` must give each row the same result whichever block it is in, and may be called again
    for all the rows (when one of its kernels turns out to need numba)."""
    blocks = row_blocks(height, align)
    if len(blocks) == 1:
        work(0, height)
        return
    errors: list[BaseException] = []

    def run(start: int, stop: int) -> None:
        outer, _block.active = getattr(_block, "active", False), True
        try:
            work(start, stop)
        except BaseException as exc:  # handed to the calling thread
            errors.append(exc)
        finally:
            _block.active = outer

    helpers = [threading.Thread(target=run, args=block) for block in blocks[1:]]
    for helper in helpers:
        helper.start()
    run(*blocks[0])
    for helper in helpers:
        helper.join()
    if any(isinstance(error, _NotCompiled) for error in errors):
        work(0, height)
    elif errors:
        raise errors[0]
