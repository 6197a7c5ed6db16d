"""A catalog of a release in SQLite: one row per product with its name fields, label metadata, file sizes
and a validity verdict. Re-indexing reads only what changed (size and modification time).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from farside.errors import FarsideError, ProductError, ProductNameError
from farside.products.names import parse_name
from farside.products.pds3 import looks_like_pds3
from farside.products.reader import read, read_regular

DEFAULT_DB = "farside.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    key TEXT PRIMARY KEY,            -- the product's path without the label's trailing L
    label_path TEXT,
    data_path TEXT,
    product_id TEXT,
    mission TEXT, centre TEXT, instrument TEXT, camera TEXT, mode TEXT, level TEXT, version TEXT,
    sequence_id TEXT, data_flag TEXT,
    start_time TEXT, stop_time TEXT,
    label_size INTEGER, label_mtime REAL, data_size INTEGER, data_mtime REAL,
    expected_size INTEGER,
    valid INTEGER NOT NULL,
    reason TEXT NOT NULL,
    meta TEXT,
    indexed_at REAL
);
CREATE INDEX IF NOT EXISTS products_time ON products (start_time);
CREATE INDEX IF NOT EXISTS products_kind ON products (mission, instrument, mode, level);
"""

COLUMNS = ("mission", "instrument", "camera", "mode", "level", "sequence_id", "data_flag")


@dataclass(frozen=True)
class Candidate:
    """A product found on disk: its label and/or data file (either may be missing)."""

    key: str
    label_path: Path | None
    data_path: Path | None

    @property
    def path(self) -> Path:
        """The path to hand to :func:`farside.read` (the label where there is one)."""
        return self.label_path or self.data_path  # type: ignore[return-value]


def discover(roots: Iterable[str | os.PathLike[str]]) -> list[Candidate]:
    """Every GRAS product under ``roots`` (files or folders, searched recursively), paired label with data.

    Files whose names are not GRAS product names are ignored, except data files with an attached PDS3
    label (Chang'e-3).
    """
    groups: dict[str, dict[str, Path]] = {}
    for root in roots:
        root = Path(root).resolve()
        files = [root] if root.is_file() else (p for p in root.rglob("*") if p.is_file())
        for path in files:
            name = path.name
            if name.startswith(".") or name.endswith(".part"):
                continue
            try:
                parsed = parse_name(name)
            except ProductNameError:
                continue
            stem = str(path.with_name(parsed.product_id))
            groups.setdefault(stem, {})["label" if parsed.is_label else "data"] = path
    out = []
    for stem, pair in sorted(groups.items()):
        out.append(Candidate(key=stem, label_path=pair.get("label"), data_path=pair.get("data")))
    return out


def connect(db: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open (creating if need be) a catalog database in WAL mode."""
    connection = sqlite3.connect(os.fspath(db), timeout=30)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(_SCHEMA)
    return connection


def _stat(path: Path | None) -> tuple[int | None, float | None]:
    if path is None:
        return None, None
    try:
        info = path.stat()
    except OSError:
        return None, None
    return info.st_size, info.st_mtime


def _row(candidate: Candidate) -> dict[str, Any]:
    label_size, label_mtime = _stat(candidate.label_path)
    data_size, data_mtime = _stat(candidate.data_path)
    row: dict[str, Any] = {
        "key": candidate.key,
        "label_path": str(candidate.label_path) if candidate.label_path else None,
        "data_path": str(candidate.data_path) if candidate.data_path else None,
        "label_size": label_size,
        "label_mtime": label_mtime,
        "data_size": data_size,
        "data_mtime": data_mtime,
        "expected_size": None,
        "valid": 0,
        "reason": "",
        "meta": None,
        "indexed_at": time.time(),
    }
    name = parse_name(candidate.key)
    row.update(
        product_id=name.product_id,
        start_time=name.start_time.isoformat(),
        stop_time=name.stop_time.isoformat(),
        centre=name.centre,
        version=name.version,
        **{c: getattr(name, c) for c in COLUMNS},
    )
    path = candidate.path
    if candidate.label_path is None and not _attached(candidate.data_path):
        row["reason"] = f"no label found (expected {Path(candidate.key).name}L)"
        return row
    try:
        return _verdict(row, read(path))
    except ProductError as exc:
        row["reason"] = exc.problem
    except Exception as exc:  # whatever is wrong with one product is its verdict; the index goes on
        from farside.conversion import failure_line

        row["reason"] = failure_line(str(path), exc)
    row["valid"] = 0
    return row


def _verdict(row: dict[str, Any], product: Any) -> dict[str, Any]:
    meta = product.meta
    expected = product.array.offset + product.array.nbytes
    row.update(
        data_path=str(product.data_path),
        expected_size=expected,
        valid=1,
        meta=json.dumps(meta.to_dict()),
        product_id=meta.product_id or row["product_id"],
        start_time=meta.start_time.isoformat() if meta.start_time else row["start_time"],
        stop_time=meta.stop_time.isoformat() if meta.stop_time else row["stop_time"],
    )
    for column in ("instrument", "camera", "mode", "level", "sequence_id"):
        row[column] = getattr(meta, column) or row[column]
    data_size = product.data_path.stat().st_size
    if data_size > expected:
        row["reason"] = f"data file holds {data_size - expected:,} bytes more than the axes need"
    return row


def _attached(path: Path | None) -> bool:
    if path is None:
        return False
    try:
        head, _ = read_regular(path, 64)
    except FarsideError:  # not a regular file, or unreadable: not an attached label
        return False
    return looks_like_pds3(head)


@dataclass
class IndexReport:
    """What an indexing run did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    invalid: int = 0
    seconds: float = 0.0


def index(
    roots: Sequence[str | os.PathLike[str]],
    db: str | os.PathLike[str],
    progress: Any = None,
) -> IndexReport:
    """Catalog every product under ``roots`` into ``db``; only new or changed files are read.

    Rows for products that disappeared from under ``roots`` are removed.
    """
    started = time.perf_counter()
    report = IndexReport()
    candidates = discover(roots)
    connection = connect(db)
    try:
        known = {
            row["key"]: row
            for row in connection.execute(
                "SELECT key, label_size, label_mtime, data_size, data_mtime, valid FROM products"
            )
        }
        rows = []
        for candidate in candidates:
            previous = known.get(candidate.key)
            stats = (*_stat(candidate.label_path), *_stat(candidate.data_path))
            if previous is not None and tuple(previous)[1:5] == stats:
                report.unchanged += 1
                report.invalid += int(not previous["valid"])
            else:
                row = _row(candidate)
                rows.append(row)
                report.invalid += int(not row["valid"])
                if previous is None:
                    report.added += 1
                else:
                    report.updated += 1
            if progress is not None:
                progress()
        if rows:
            columns = list(rows[0])
            connection.executemany(
                f"INSERT OR REPLACE INTO products ({', '.join(columns)}) "
                f"VALUES ({', '.join(':' + c for c in columns)})",
                rows,
            )
        present = {c.key for c in candidates}
        folders = tuple(str(Path(r).resolve()) + os.sep for r in roots if Path(r).is_dir())
        gone = [key for key in known if key not in present and key.startswith(folders)]
        connection.executemany("DELETE FROM products WHERE key = ?", [(k,) for k in gone])
        report.removed = len(gone)
        connection.commit()
    finally:
        connection.close()
    report.seconds = time.perf_counter() - started
    return report


@dataclass(frozen=True)
class Filters:
    """Catalog query filters; None means any."""

    mission: str | None = None
    instrument: str | None = None
    camera: str | None = None
    mode: str | None = None
    level: str | None = None
    sequence_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    valid: bool | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses, values = [], []
        for column in ("mission", "instrument", "camera", "mode", "level", "sequence_id"):
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"{column} = ?")
                values.append(value)
        if self.since is not None:
            clauses.append("start_time >= ?")
            values.append(self.since.isoformat())
        if self.until is not None:
            clauses.append("start_time <= ?")
            values.append(self.until.isoformat())
        if self.valid is not None:
            clauses.append("valid = ?")
            values.append(int(self.valid))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", values


def query(db: str | os.PathLike[str], filters: Filters | None = None) -> Iterator[dict[str, Any]]:
    """Catalog rows matching ``filters``, sorted by start time."""
    if not Path(db).exists():
        raise FarsideError(f"{db}: no catalog here (run `farside index` first)")
    where, values = (filters or Filters()).where()
    connection = connect(db)
    try:
        for row in connection.execute(f"SELECT * FROM products{where} ORDER BY start_time, key", values):
            yield dict(row)
    finally:
        connection.close()
