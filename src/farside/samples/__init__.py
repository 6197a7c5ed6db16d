"""Sample products bundled for ``farside demo``: Kodak scenes written in real GRAS formats.

They are made by ``scripts/make_samples.py`` with :mod:`farside.synthetic`; they are not real mission data.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def sample_products() -> list[Path]:
    """Paths of the bundled sample products (PDS4 labels and Chang'e-3 attached-label files)."""
    folder = Path(str(resources.files(__package__)))
    labels = sorted(p for p in folder.iterdir() if p.name.endswith("L") and p.name.startswith(("CE", "HX")))
    attached = sorted(p for p in folder.iterdir() if p.name.startswith("CE3_") and not p.name.endswith("L"))
    return labels + attached
