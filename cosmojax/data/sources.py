"""Where data lives: the CIL root to read, the default synthetic set, the prepared copies.

``data.dir`` empty means the default synthetic data set, generated once (full
size: 1200 labeled, 9600 scored, 1200 query, seed 0) under
``$COSMOJAX_HOME/synthetic/`` (default ``~/.cache/cosmojax``), its query truth
beside it. Prepared TFDS copies go to ``$COSMOJAX_HOME/tfds/``.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from cosmojax import locks
from cosmojax.data import layout

DEFAULT_SYNTHETIC = dict(labeled=1200, scored=9600, query=1200, seed=0)


def home() -> Path:
    """Root for generated and prepared data: ``$COSMOJAX_HOME`` or ``~/.cache/cosmojax``."""
    return Path(os.environ.get("COSMOJAX_HOME", "~/.cache/cosmojax")).expanduser()


def default_synthetic_dir() -> Path:
    return home() / "synthetic" / f"v1-seed{DEFAULT_SYNTHETIC['seed']}"


def default_query_truth() -> Path:
    d = default_synthetic_dir()
    return d.with_name(d.name + "-query_truth.csv")


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """The CIL root for ``data_dir``; empty means the default synthetic set (made on first use)."""
    if data_dir:
        return layout.find_root(data_dir)
    from cosmojax.data import synthetic

    out = default_synthetic_dir()
    with locks.blocking_lock(
        out.parent / ".generate.lock", message=f"waiting for another process generating {out}"
    ):
        if not out.exists():
            print(
                f"Generating the default synthetic data set in {out} (once).",
                file=sys.stderr,
                flush=True,
            )
            synthetic.generate(out, query_truth=default_query_truth(), **DEFAULT_SYNTHETIC)
    return layout.find_root(out)


def fingerprint(root: Path) -> str:
    """Short hash of the CSVs and of the names and sizes of every PNG."""
    h = hashlib.sha256()
    for split in layout.SPLITS:
        csv = layout.csv_path(root, split)
        if csv.is_file():
            h.update(csv.read_bytes())
        folder = layout.split_dir(root, split)
        if folder.is_dir():
            entries = sorted((e.name, e.stat().st_size) for e in os.scandir(folder) if e.is_file())
            h.update(repr((split, entries)).encode())
    return h.hexdigest()[:12]
