"""A writable place for numba's compiled-kernel cache, decided before numba is imported.

farside's kernels are compiled with ``cache=True``. numba stores the cache beside the sources (their
``__pycache__``) or in the user's cache folder; where neither can be written (a package installed read-only
for a user whose home is not writable, a locked-down container), numba refuses to load the module at all.
Then the cache goes to a per-user folder under the system's temporary folder instead.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

_KERNEL_FOLDERS = ("", "demosaic", "gallery")


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _user_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "numba"


def ensure_numba_cache() -> str | None:
    """Point ``NUMBA_CACHE_DIR`` at a temporary folder when numba would find no writable cache location;
    returns the folder chosen, or None when numba's own choice works (or the user set one)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    package = Path(__file__).resolve().parent
    if all(_writable(package / sub / "__pycache__") for sub in _KERNEL_FOLDERS) or _writable(_user_cache()):
        return None
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    folder = Path(tempfile.gettempdir()) / f"farside-numba-cache-{uid}"
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    if "numba" in sys.modules:  # imported before farside: make it read the variable again
        sys.modules["numba"].config.reload_config()
    return str(folder)
