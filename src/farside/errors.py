"""Exceptions for bad input.

Every problem with a product is a :class:`ProductError` whose ``str()`` is one line naming the file and
the problem. Only the command line and the batch runner turn these into printed lines and exit codes;
library code raises them.
"""

from __future__ import annotations

import os


class FarsideError(Exception):
    """Base class of every error farside raises on purpose."""


class ProductError(FarsideError):
    """A product (label, data file or both) that cannot be read as it is."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{printable(self.path)}: {self.problem}")


def printable(text: str | bytes) -> str:
    """``text`` with control and other unprintable characters escaped, so it stays on one line.

    >>> printable("odd\\nname.2BL")
    'odd\\\\nname.2BL'
    """
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class MissingFileError(ProductError):
    """The path, or the partner file of a label/data pair, does not exist."""


class UnreadableFileError(ProductError):
    """The operating system refused to read the file (permissions, a directory, a link loop...)."""


class EmptyFileError(ProductError):
    """The file has no bytes at all."""


class LabelError(ProductError):
    """The label is not well-formed XML / ODL, or lacks an element the reader needs."""


class DataTypeError(ProductError):
    """The label names a data type farside does not know."""


class AxesError(ProductError):
    """The label's axes are impossible (zero, negative, absurd) or do not fit the data file."""


class TruncatedDataError(ProductError):
    """The data file is shorter than the label's axes and data type need."""


class FlatFieldError(ProductError):
    """A flat-field file named by a profile that is missing, unreadable, lossy or of the wrong size."""


class RadianceError(ProductError):
    """Radiance was asked for a product whose label gives no absolute calibration."""


class ProductNameError(FarsideError, ValueError):
    """A file name that does not follow the GRAS product-name grammar."""


class ProfileError(FarsideError):
    """A calibration profile that is missing, malformed or has an unknown key."""


class SettingsError(FarsideError, ValueError):
    """A setting (from the command line or the API) with an impossible value."""
