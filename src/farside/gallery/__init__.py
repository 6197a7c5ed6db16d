"""A static web gallery of farside outputs: ``farside gallery SOURCES... -o SITE``.

:func:`build` reads the outputs and their sidecars (:mod:`.scan`), makes thumbnails and deep-zoom tiles
(:mod:`.thumbnails`, :mod:`.deepzoom`, reading large images a strip at a time with :mod:`.pixels`) and
writes the site (:mod:`.site`): one page that browses the items by mission, instrument, camera, mode, date
and kind, and shows each one large with its metadata. The site works from ``file://`` and from any static
web server, and loads nothing from outside itself; :func:`serve` serves it on 127.0.0.1 for browsers that
will not run scripts from local files.
"""

from __future__ import annotations

from farside.gallery.serve import serve
from farside.gallery.site import Report, build

__all__ = ["Report", "build", "serve"]
