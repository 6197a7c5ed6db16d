"""Copy the gallery's browser libraries from the npm registry into the package.

The versions are pinned in ``src/farside/gallery/vendor/package.json`` and ``package-lock.json``. This
installs exactly those (``npm ci``) in a temporary folder and copies only the files a gallery site loads,
with each package's licence, into ``src/farside/gallery/static/vendor/<package>/``. The copies are
committed, so installing farside needs no npm; run this again only to change a version.

Usage: python scripts/vendor_gallery_assets.py   (needs npm)
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "src" / "farside" / "gallery"
PINNED = GALLERY / "vendor"
TARGET = GALLERY / "static" / "vendor"

# Per package: the files a site needs (relative to the package's folder) and its licence file.
FILES = {
    "openseadragon": {
        "files": ["build/openseadragon/openseadragon.min.js"],
        "licence": "LICENSE.txt",
    },
}

# The minified file names a source map the site does not ship: a browser's developer tools would ask for it.
_SOURCE_MAP = re.compile(rb"\n//# sourceMappingURL=\S+\s*$")


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(PINNED / name, Path(work) / name)
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=work, check=True)
        for package, wanted in FILES.items():
            source = Path(work) / "node_modules" / package
            version = json.loads((source / "package.json").read_text())["version"]
            out = TARGET / package
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            for relative in wanted["files"]:
                payload = _SOURCE_MAP.sub(b"\n", (source / relative).read_bytes())
                (out / Path(relative).name).write_bytes(payload)
            shutil.copy(source / wanted["licence"], out / "LICENSE.txt")
            (out / "VERSION").write_text(f"{package} {version} (npm)\n")
            print(f"{package} {version} -> {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
