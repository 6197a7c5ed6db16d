"""Build hook: farside's frame kernels compiled ahead of time (see src/farside/_build_kernels.py).

Everything else about the package is in pyproject.toml. Where the kernels cannot be compiled (no C
compiler), the package installs without them and numba compiles the kernels when they are first used.
"""

import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildKernels(build_ext):
    def build_extension(self, ext: Extension) -> None:
        target = Path(self.get_ext_fullpath(ext.name))
        sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))
        try:
            from farside._build_kernels import build

            built = build(target.parent)
            if built != target:
                built.replace(target)
        except Exception as exc:  # noqa: BLE001 - any failure leaves numba's JIT in charge
            print(f"farside: kernels not compiled ahead of time ({exc}); numba will compile them", file=sys.stderr)
        finally:
            sys.path.pop(0)


setup(
    ext_modules=[Extension("farside._kernels_aot", sources=[], optional=True)],
    cmdclass={"build_ext": BuildKernels},
)
