"""The CIL 2018 cosmology data layout: the one place that knows it.

A data folder holds::

    labeled/<Id>.png   scored/<Id>.png   query/<Id>.png
    labeled.csv        scored.csv                         (header ``Id,Actual``)

Images are 1000x1000 8-bit grayscale PNGs. ``labeled.csv`` gives label 1.0
(cosmology image) or 0.0 (corrupted or irrelevant); ``scored.csv`` gives a
similarity score in [0, 8]; the query images have no targets. The Kaggle zip
unpacks to ``cosmology_aux_data_170429/cosmology_aux_data_170429/``; pointing
at the outer folder works too.

Every reader here fails with :class:`DataError`, whose message is one line
naming the file (and row) and what was expected.

Images that are not 8-bit grayscale (RGB, palette, 16-bit, 1-bit) are
converted to 8-bit grayscale and images of another size are accepted; each
kind of conversion is logged once with the first file it happened to, and a
summary is logged at the end of a pass (see :class:`ConversionLog`).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from cosmojax.files import atomic_write_text  # noqa: F401  (layout's writers use it)

SPLITS = ("labeled", "scored", "query")
TARGET_SPLITS = ("labeled", "scored")
CSV_HEADER = ("Id", "Actual")
SUBMISSION_HEADER = ("Id", "Predicted")
IMAGE_SIZE = 1000
MAX_PIXELS = 25_000_000  # refuse anything larger than 5000x5000 before decoding it
SCORE_MIN, SCORE_MAX = 0.0, 8.0
NESTED_LAYOUT = ("cosmology_aux_data_170429", "cosmology_aux_data_170429")
_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")

log = logging.getLogger(__name__)


class DataError(ValueError):
    """Bad input data; the message names the file and what was expected."""


def csv_path(root: Path, split: str) -> Path:
    return Path(root) / f"{split}.csv"


def split_dir(root: Path, split: str) -> Path:
    return Path(root) / split


def find_root(path: str | os.PathLike) -> Path:
    """Returns the folder that holds ``labeled/ scored/ query/`` and the CSVs.

    Accepts that folder itself or the folder the Kaggle zip was unpacked into
    (``cosmology_aux_data_170429/cosmology_aux_data_170429/`` below it).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: data folder does not exist")
    if not path.is_dir():
        raise DataError(f"{path}: expected a folder with labeled/ scored/ query/, got a file")
    candidates = [path, path.joinpath(*NESTED_LAYOUT), path / NESTED_LAYOUT[0]]
    for candidate in candidates:
        if all((candidate / s).is_dir() for s in SPLITS):
            return candidate
    missing = [s + "/" for s in SPLITS if not (path / s).is_dir()]
    raise DataError(
        f"{path}: expected folders labeled/ scored/ query/ (or the Kaggle layout "
        f"{'/'.join(NESTED_LAYOUT)}/), missing {' '.join(missing)}"
    )


def check_id(value: str, where: str) -> str:
    if not _ID_RE.match(value):
        raise DataError(f"{where}: Id {value!r} is not a file stem (letters, digits, _ . -)")
    return value


def read_csv(path: Path, *, split: str | None = None) -> tuple[list[str], np.ndarray]:
    """Reads an ``Id,Actual`` CSV; returns ids and float32 targets.

    Labels must be 0 or 1 (``split='labeled'``); scores must lie in [0, 8].
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: CSV file is missing (expected header Id,Actual)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a UTF-8 text CSV ({e.reason})") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(c.strip() for c in rows[0]) != CSV_HEADER:
        got = ",".join(rows[0]) if rows else "an empty file"
        raise DataError(f"{path}: expected header Id,Actual, got {got!r}")
    ids, values, seen = [], [], {}
    for line_no, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        where = f"{path}:{line_no}"
        if len(row) != 2:
            raise DataError(f"{where}: expected 2 fields Id,Actual, got {len(row)}")
        rid = check_id(row[0].strip(), where)
        try:
            value = float(row[1])
        except ValueError:
            raise DataError(f"{where}: Actual {row[1]!r} is not a number") from None
        if not math.isfinite(value):
            raise DataError(f"{where}: Actual {row[1]!r} is not a finite number")
        if split == "labeled" and value not in (0.0, 1.0):
            raise DataError(f"{where}: label {row[1]!r} must be 0 or 1")
        if split == "scored" and not SCORE_MIN <= value <= SCORE_MAX:
            raise DataError(f"{where}: score {value} outside [{SCORE_MIN:g}, {SCORE_MAX:g}]")
        if rid in seen:
            raise DataError(f"{where}: duplicate Id {rid} (first on line {seen[rid]})")
        seen[rid] = line_no
        ids.append(rid)
        values.append(value)
    if not ids:
        raise DataError(f"{path}: no data rows (empty split)")
    return ids, np.asarray(values, np.float32)


def list_split(root: Path, split: str) -> tuple[list[str], list[Path], np.ndarray | None]:
    """Ids, PNG paths and targets (None for ``query``) of one split, checked.

    Every CSV id must have its PNG; for ``query`` the ids are the PNG stems.
    Ids are returned in CSV order (sorted for ``query``).
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    folder = split_dir(root, split)
    if not folder.is_dir():
        raise DataError(f"{folder}: folder is missing")
    if split in TARGET_SPLITS:
        ids, targets = read_csv(csv_path(root, split), split=split)
        paths = [folder / f"{i}.png" for i in ids]
        for i, p in zip(ids, paths, strict=True):
            if not p.is_file():
                raise DataError(f"{p}: PNG for Id {i} listed in {split}.csv is missing")
        return ids, paths, targets
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    if not paths:
        raise DataError(f"{folder}: no .png images (empty split)")
    ids = [check_id(p.stem, str(p)) for p in paths]
    return ids, paths, None


class ConversionLog:
    """Counts image conversions; logs the first file of each kind and a summary.

    With ``quiet`` it only records ``events`` (kind, file), for a worker
    process to hand back to the parent's log.
    """

    def __init__(self, quiet: bool = False):
        self.counts: dict[str, int] = {}
        self.quiet = quiet
        self.events: list[tuple[str, str]] = []

    def note(self, kind: str, path: Path | str):
        if self.quiet:
            self.events.append((kind, str(path)))
            return
        if kind not in self.counts:
            log.warning("%s: %s (further files like it are counted, not logged)", path, kind)
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def summary(self) -> str:
        return "; ".join(f"{n} image(s): {k}" for k, n in sorted(self.counts.items()))

    def log_summary(self):
        if self.counts:
            log.warning("image conversions: %s", self.summary())


def decode_png(data: bytes, where: str | Path, conversions: ConversionLog | None = None):
    """Decodes PNG bytes to a uint8 ``[H, W]`` array (see module doc for conversions)."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise DataError(f"{where}: not a PNG file")
    try:
        with Image.open(io.BytesIO(data)) as im:
            mode, size = im.mode, im.size
            if size[0] * size[1] > MAX_PIXELS or min(size) < 1:
                raise DataError(
                    f"{where}: image of {size[0]}x{size[1]} pixels; expected at "
                    f"most {MAX_PIXELS} pixels (the data are 1000x1000)"
                )
            im.load()
            if mode == "L":
                arr = np.asarray(im, np.uint8)
            elif mode in ("I;16", "I;16B", "I;16L", "I"):
                wide = np.asarray(im).astype(np.int64)
                arr = np.clip(wide >> 8 if mode != "I" or wide.max() > 255 else wide, 0, 255)
                arr = arr.astype(np.uint8)
            else:
                arr = np.asarray(im.convert("L"), np.uint8)
    except DataError:
        raise
    except Exception as e:  # PIL raises many types for damaged files
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"{where}: unreadable or truncated PNG ({msg})") from None
    if conversions is not None:
        if mode != "L":
            conversions.note(f"mode {mode} converted to 8-bit grayscale", where)
        if size != (IMAGE_SIZE, IMAGE_SIZE):
            conversions.note(f"size {size[0]}x{size[1]}, not {IMAGE_SIZE}x{IMAGE_SIZE}", where)
    if arr.ndim != 2 or arr.size == 0:
        raise DataError(f"{where}: expected a 2-D image, got shape {arr.shape}")
    return arr


def read_png(path: Path | str, conversions: ConversionLog | None = None) -> np.ndarray:
    """Reads a PNG file as uint8 ``[H, W]``; raises DataError naming the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    return decode_png(data, path, conversions)


def write_png(path: Path | str, image: np.ndarray, compress_level: int = 1):
    """Writes a uint8 ``[H, W]`` array as an 8-bit grayscale PNG."""
    if image.dtype != np.uint8 or image.ndim != 2:
        raise ValueError(f"write_png expects uint8 [H, W], got {image.dtype} {image.shape}")
    Image.fromarray(image, mode="L").save(path, format="PNG", compress_level=compress_level)


def format_csv(ids: Sequence[str], values: Iterable[float], header=CSV_HEADER, digits=10) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for i, v in zip(ids, values, strict=True):
        w.writerow([i, f"{float(v):.{digits}f}"])
    return buf.getvalue()


def write_csv(path, ids, values, header=CSV_HEADER, digits=10):
    """Writes ``Id,<value>`` rows atomically (10 decimals, like the real CSVs)."""
    atomic_write_text(path, format_csv(ids, values, header, digits))
